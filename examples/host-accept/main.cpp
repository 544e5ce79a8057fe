// host-accept: a host that keeps its own accept loop (plain Asio) and hands each connection to
// rtmsg's HTTP front door with server::serve.  The host peeks at the first bytes itself (here
// only to count what it read), and gives those bytes along, so nothing is lost.
//
//   rtmsg-host-accept [--port 9001]      then: curl localhost:PORT/hello, or a WebSocket on /echo
#include <rtmsg/server/server.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/strand.hpp>

#include <iostream>
#include <memory>
#include <string>

namespace {

using tcp = asio::ip::tcp;

/// The host's loop: accept on a strand of the io_context, read once, hand over.
void accept(tcp::acceptor& acc, rtmsg::http::server& server)
{
    acc.async_accept(asio::make_strand(acc.get_executor()), [&acc, &server](std::error_code ec, tcp::socket s) {
        if (ec == asio::error::operation_aborted) return;
        if (!ec) {
            auto sock = std::make_shared<tcp::socket>(std::move(s));
            auto buf = std::make_shared<std::string>(1024, '\0');
            sock->async_read_some(asio::buffer(*buf), [sock, buf, &server](std::error_code ec, std::size_t n) {
                if (ec) return;
                // The host could route on these bytes; it hands them over with the socket.
                server.serve(std::move(*sock), std::string_view(buf->data(), n));
            });
        }
        accept(acc, server);
    });
}

} // namespace

int main(int argc, char** argv)
{
    unsigned short port = 9001;
    if (argc == 3 && std::string(argv[1]) == "--port") port = static_cast<unsigned short>(std::stoul(argv[2]));

    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor()); // no listen(): the host accepts
    server.routes().get("/hello",
                        [](rtmsg::http::request const&, rtmsg::http::response& res) { res.body = "hello\n"; });
    rtmsg::websocket::behavior echo;
    echo.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    server.routes().websocket("/echo", echo);

    tcp::acceptor acc(ioc, {asio::ip::make_address("127.0.0.1"), port});
    accept(acc, server);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
        acc.close();
        server.stop();
    });
    std::cout << "listening on 127.0.0.1:" << acc.local_endpoint().port() << std::endl;
    ioc.run();
}
