// rtmsg-testbed: the server that outside clients, load tools and conformance suites drive
// (see the testbed contract).  /echo echoes, /broadcast relays to every /broadcast client.
#include <rtmsg/http/server.hpp>
#if defined(RTMSG_EXAMPLES_WITH_SSL)
#include <rtmsg/transport/ssl.hpp>
#endif

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 9001;
    unsigned threads = 1;
    std::size_t max_message = 16u << 20;
    std::string tls_cert, tls_key;
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-testbed [--host 127.0.0.1] [--port 9001] [--threads 1] [--max-message 16777216]"
#if defined(RTMSG_EXAMPLES_WITH_SSL)
           " [--tls CERT KEY]"
#endif
           "\n";
    std::exit(code);
}

args parse(int argc, char** argv)
{
    args a;
    for (int i = 1; i < argc; ++i) {
        std::string const k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        try {
            if (k == "--host") a.host = value();
            else if (k == "--port") a.port = static_cast<unsigned short>(std::stoul(value()));
            else if (k == "--threads") a.threads = static_cast<unsigned>(std::stoul(value()));
            else if (k == "--max-message") a.max_message = std::stoull(value());
#if defined(RTMSG_EXAMPLES_WITH_SSL)
            else if (k == "--tls") {
                a.tls_cert = value();
                a.tls_key = value();
            }
#endif
            else if (k == "--help" || k == "-h") usage(0);
            else usage(2);
        }
        catch (std::exception const&) {
            usage(2);
        }
    }
    if (a.threads == 0) a.threads = 1;
    return a;
}

/// The /broadcast room: every message goes to every member, the sender included.
class room {
public:
    void join(rtmsg::websocket::connection_ptr const& c)
    {
        std::lock_guard<std::mutex> lock(m_);
        members_.insert(c);
    }
    void leave(rtmsg::websocket::connection_ptr const& c)
    {
        std::lock_guard<std::mutex> lock(m_);
        members_.erase(c);
    }
    void publish(rtmsg::websocket::message_view m)
    {
        std::lock_guard<std::mutex> lock(m_);
        for (auto const& c : members_) c->send(m.type, m.data);
    }

private:
    std::mutex m_;
    std::set<rtmsg::websocket::connection_ptr> members_;
};

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);
    asio::io_context ioc(static_cast<int>(a.threads));
    rtmsg::http::server server(ioc.get_executor());

    rtmsg::websocket::behavior echo;
    echo.options.max_message_size = a.max_message;
    echo.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    server.routes().websocket("/echo", echo);

    room broadcast;
    rtmsg::websocket::behavior bc;
    bc.options.max_message_size = a.max_message;
    bc.on_open = [&](auto const& c) { broadcast.join(c); };
    bc.on_close = [&](auto const& c, std::uint16_t, std::string_view) { broadcast.leave(c); };
    bc.on_message = [&](auto const&, rtmsg::websocket::message_view m) { broadcast.publish(m); };
    server.routes().websocket("/broadcast", bc);

    std::error_code ec;
    asio::ip::tcp::endpoint const ep(asio::ip::make_address(a.host, ec), a.port);
    if (ec) {
        std::cerr << "rtmsg-testbed: bad --host '" << a.host << "': " << ec.message() << "\n";
        return 2;
    }
#if defined(RTMSG_EXAMPLES_WITH_SSL)
    std::optional<asio::ssl::context> tls;
    if (!a.tls_cert.empty()) {
        tls.emplace(asio::ssl::context::tls_server);
        tls->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
        tls->use_certificate_chain_file(a.tls_cert, ec);
        if (!ec) tls->use_private_key_file(a.tls_key, asio::ssl::context::pem, ec);
        if (ec) {
            std::cerr << "rtmsg-testbed: cannot load TLS certificate/key: " << ec.message() << "\n";
            return 2;
        }
        server.listen(ep, rtmsg::tls_layer{*tls}, ec);
    }
    else
#endif
        server.listen(ep, ec);
    if (ec) {
        std::cerr << "rtmsg-testbed: cannot listen on " << a.host << ":" << a.port << ": " << ec.message() << "\n";
        return 1;
    }

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { server.stop(); });

    auto const local = server.local_endpoint();
    std::cout << "listening on " << local.address().to_string() << ":" << local.port() << std::endl;

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < a.threads; ++i) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    return 0;
}
