#include <rtmsg/http/server.hpp>
#include <rtmsg/transport/ssl.hpp>
#include <rtmsg/version.hpp>

#include <asio/io_context.hpp>

#include <iostream>

int main()
{
    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());
    server.routes().websocket("/ws", {});
    server.listen({asio::ip::make_address("127.0.0.1"), 0});
    std::cout << "rtmsg " << rtmsg::version_string << " listening on " << server.local_endpoint().port() << "\n";
    return 0;
}
