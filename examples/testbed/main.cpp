// rtmsg-testbed: the server that outside clients, load tools and conformance suites drive
// (see the testbed contract).  /echo echoes; /broadcast, /sse and POST /publish share the
// hub topic "broadcast".
#include <rtmsg/http/server.hpp>
#include <rtmsg/hub/protocol.hpp>
#if defined(RTMSG_EXAMPLES_WITH_SSL)
#include <rtmsg/transport/ssl.hpp>
#endif

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
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
    std::string www;
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-testbed [--host 127.0.0.1] [--port 9001] [--threads 1] [--max-message 16777216]"
           " [--www DIR]"
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
            else if (k == "--www") a.www = value();
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

    rtmsg::hub hub;
    rtmsg::websocket::behavior bc;
    bc.options.max_message_size = a.max_message;
    server.routes().websocket("/broadcast", rtmsg::raw_endpoint(hub, "broadcast", bc));
    rtmsg::sse_endpoint_options events;
    events.topic = "broadcast";
    server.routes().sse("/sse", rtmsg::sse_endpoint(hub, events));
    server.routes().post("/publish", [&](rtmsg::http::request const& req, rtmsg::http::response& res) {
        auto r = hub.publish("broadcast", req.body);
        res.code = r.ec ? rtmsg::http::status::bad_request : rtmsg::http::status::no_content;
    });
    // Beyond the contract: the rtmsg wire protocol (docs/protocol.md) and, with --www, static files.
    // `/ws?user=NAME` names the connection in presence lists (the testbed trusts it; a real
    // server authenticates here, see examples/auth).
    rtmsg::websocket::behavior proto;
    proto.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        auto user = u.request.query_param("user");
        if (!user) return rtmsg::websocket::upgrade_decision::accept();
        if (user->empty() || user->size() > 64)
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::bad_request,
                                                              "user must be 1 to 64 bytes");
        return rtmsg::websocket::upgrade_decision::accept(std::move(*user));
    };
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, proto));
    if (!a.www.empty()) server.routes().static_files("/", a.www);
    server.routes().get("/metrics", rtmsg::metrics_handler(hub));

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
