#include <rtmsg/http/server.hpp>
#include <rtmsg/version.hpp>
#if defined(RTMSG_TEST_SSL)
#include <rtmsg/transport/ssl.hpp>
#endif

#include <asio/io_context.hpp>

#include <iostream>

int main()
{
    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());
    server.routes().get("/health", [](rtmsg::http::request const&, rtmsg::http::response& res) { res.body = "ok"; });
    server.routes().websocket("/ws", {});
    server.listen({asio::ip::make_address("127.0.0.1"), 0});
#if defined(RTMSG_TEST_SSL)
    asio::ssl::context tls(asio::ssl::context::tls_server);
#endif
    std::cout << "rtmsg " << rtmsg::version_string << ": listening on port " << server.local_endpoint().port()
              << "\n";
    server.stop();
    ioc.run();
    return 0;
}
