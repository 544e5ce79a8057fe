// rtmsg-testbed: the server that outside clients, load tools and conformance suites drive
// (see the testbed contract).  /echo echoes; /broadcast, /sse and POST /publish share the
// hub topic "broadcast".  With --redis HOST:PORT (built with rtmsg::redis) the hub is bridged:
// testbeds that share a Redis share the topic, so a message published on one node reaches
// /broadcast, /sse and /ws clients of every node (the cross-node benchmark of scripts/bench.sh).
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>
#if defined(RTMSG_EXAMPLES_WITH_SSL)
#include <rtmsg/transport/ssl.hpp>
#endif
#if defined(RTMSG_TESTBED_WITH_REDIS)
#include <rtmsg/cluster/redis.hpp>
#endif

#include "../common/cli.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>
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
    std::string redis;                   // --redis HOST:PORT: the hub is bridged through Redis
    bool deflate = false;                // --deflate: accept permessage-deflate (needs rtmsg::deflate)
    std::size_t deflate_threshold = 256; // --deflate-threshold N: smallest message compressed
    bool deflate_no_context = false;     // --deflate-no-context: /echo without context takeover, both ways
    bool deflate_per_connection = false; // --deflate-per-connection: the hub compresses per subscriber
    unsigned ping_ms = 0;                // --ping-ms MS: keepalive period (0: the default, 30 s)
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-testbed [--host 127.0.0.1] [--port 9001] [--threads 1] [--max-message 16777216]"
           " [--www DIR] [--redis HOST:PORT] [--deflate] [--deflate-threshold N] [--deflate-no-context]"
           " [--deflate-per-connection] [--ping-ms MS]"
#if defined(RTMSG_EXAMPLES_WITH_SSL)
           " [--tls CERT KEY]"
#endif
           "\n";
    std::exit(code);
}

args parse(int argc, char** argv)
{
    args a;
    rtmsg_example::parse_flags(argc, argv, usage, [&](std::string const& k, auto& value) {
        if (k == "--host")
            a.host = value();
        else if (k == "--port")
            a.port = static_cast<unsigned short>(std::stoul(value()));
        else if (k == "--threads")
            a.threads = static_cast<unsigned>(std::stoul(value()));
        else if (k == "--max-message")
            a.max_message = std::stoull(value());
        else if (k == "--www")
            a.www = value();
        else if (k == "--redis")
            a.redis = value();
        else if (k == "--deflate")
            a.deflate = true;
        else if (k == "--deflate-threshold")
            a.deflate_threshold = std::stoull(value());
        else if (k == "--deflate-no-context")
            a.deflate_no_context = true;
        else if (k == "--deflate-per-connection")
            a.deflate_per_connection = true;
        else if (k == "--ping-ms")
            a.ping_ms = static_cast<unsigned>(std::stoul(value()));
#if defined(RTMSG_EXAMPLES_WITH_SSL)
        else if (k == "--tls") {
            a.tls_cert = value();
            a.tls_key = value();
        }
#endif
        else
            return false;
        return true;
    });
    if (a.threads == 0) a.threads = 1;
    return a;
}

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);
#if defined(RTMSG_TESTBED_WITH_REDIS)
    rtmsg::cluster::redis_options ro;
    ro.prefix = "rtmsg-testbed"; // testbeds that share a Redis share the topic
    if (!a.redis.empty()) {
        if (!rtmsg::cluster::parse_redis_address(a.redis, ro)) {
            std::cerr << "rtmsg-testbed: bad --redis '" << a.redis
                      << "': expected HOST:PORT, [IPv6]:PORT, redis://HOST[:PORT] or rediss://HOST[:PORT]\n";
            return 2;
        }
#if defined(RTMSG_NO_TLS)
        if (ro.tls) {
            std::cerr << "rtmsg-testbed: rediss:// needs TLS, and this rtmsg-testbed was built without OpenSSL\n";
            return 2;
        }
#endif
    }
#else
    if (!a.redis.empty()) {
        std::cerr << "rtmsg-testbed: --redis: this rtmsg-testbed was built without Redis support "
                     "(configure rtmsg with -DRTMSG_WITH_HIREDIS=ON; needs libhiredis-dev)\n";
        return 2;
    }
#endif
    asio::io_context ioc(static_cast<int>(a.threads));
    rtmsg::http::server_options sopt;
    sopt.single_threaded = a.threads == 1; // one I/O thread: connections need no strand
    rtmsg::http::server server(ioc.get_executor(), sopt);

    // permessage-deflate on every WebSocket route with --deflate (ignored without zlib in the
    // program, rtmsg::deflate); the hub's routes compress each message once unless
    // --deflate-per-connection.
    auto ws_options = [&a] {
        rtmsg::websocket::options o;
        o.max_message_size = a.max_message;
        o.deflate.enable = a.deflate;
        o.deflate.threshold = a.deflate_threshold;
        if (a.ping_ms != 0) {
            o.ping_interval = std::chrono::milliseconds(a.ping_ms);
            o.idle_timeout = 3 * o.ping_interval;
        }
        return o;
    };
    rtmsg::websocket::behavior echo;
    echo.options = ws_options();
    echo.options.deflate.no_context_takeover = a.deflate_no_context;
    echo.options.deflate.peer_no_context_takeover = a.deflate_no_context;
    echo.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    server.routes().websocket("/echo", echo);

    rtmsg::hub_options hopt;
    hopt.compress_per_connection = a.deflate_per_connection;
    rtmsg::hub hub(hopt);
    rtmsg::websocket::behavior bc;
    bc.options = ws_options();
    // The contract (shared/testbed.md): every client's message on /broadcast goes to all.
    server.routes().websocket("/broadcast", rtmsg::raw_endpoint(hub, "broadcast", bc, {.client_publish = true}));
    rtmsg::sse_endpoint_options events;
    events.topic = "broadcast";
    server.routes().sse("/sse", rtmsg::sse_endpoint(hub, events));
    server.routes().post("/publish", [&](rtmsg::http::request const& req, rtmsg::http::response& res) {
        auto r = hub.publish("broadcast", req.body, rtmsg::codec::data_kind::text); // the contract: one text message
        res.code = r.ec ? rtmsg::http::status::bad_request : rtmsg::http::status::no_content;
    });
    // Beyond the contract: the rtmsg wire protocol (docs/protocol.md) and, with --www, static files.
    // `/ws?user=NAME` names the connection in presence lists (the testbed trusts it; a real
    // server authenticates here, see examples/auth).
    rtmsg::websocket::behavior proto;
    proto.options = ws_options();
    proto.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        auto user = u.request.query_param("user");
        if (!user) return rtmsg::websocket::upgrade_decision::accept();
        if (user->empty() || user->size() > 64)
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::bad_request,
                                                              "user must be 1 to 64 bytes");
        return rtmsg::websocket::upgrade_decision::accept_as(std::move(*user));
    };
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, proto));
    if (!a.www.empty()) server.routes().static_files("/", a.www);
    server.routes().get("/metrics", rtmsg::metrics_handler(hub));

    std::error_code ec;
    auto const ep = rtmsg_example::endpoint_of("rtmsg-testbed", a.host, a.port);
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
    if (ec) return rtmsg_example::cannot_listen("rtmsg-testbed", a.host, a.port, ec);

    // Before `listening on`: the signal set's descriptors are part of the baseline a test takes then.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    auto const local = server.local_endpoint();
    auto announce = [&] {
        std::cout << "listening on " << local.address().to_string() << ":" << local.port() << std::endl;
    };

#if defined(RTMSG_TESTBED_WITH_REDIS)
    // The bridge connects (and reconnects) by itself.  `listening on` is printed once it is
    // connected (or after 5 s, serving locally until Redis answers), so that a script that
    // waits for that line gets a node that already shares the topic.  Redis news go to stderr.
    std::optional<rtmsg::cluster::redis_bridge> bridge;
    asio::steady_timer redis_watch(ioc), redis_deadline(ioc);
    std::string const redis_where = (ro.tls ? "rediss://" : "") +
                                    (ro.host.find(':') != std::string::npos ? "[" + ro.host + "]" : ro.host) + ":" +
                                    std::to_string(ro.port);
    bool redis_up = false, announced = false, stopping = false;
    auto const announce_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::function<void()> watch_redis = [&] {
        redis_watch.expires_after(std::chrono::milliseconds(redis_up || announced ? 200 : 10));
        redis_watch.async_wait([&](std::error_code e) {
            if (e || stopping) return;
            if (bridge->connected() != redis_up) {
                redis_up = !redis_up;
                std::cerr << "rtmsg-testbed: " << (redis_up ? "connected to" : "lost; reconnecting to") << " Redis at "
                          << redis_where << std::endl;
            }
            if (!announced && (redis_up || std::chrono::steady_clock::now() >= announce_by)) {
                if (!redis_up)
                    std::cerr << "rtmsg-testbed: Redis at " << redis_where
                              << " not reachable yet; serving locally meanwhile" << std::endl;
                announced = true;
                announce();
            }
            watch_redis();
        });
    };
    if (!a.redis.empty()) {
        bridge.emplace(ioc.get_executor(), hub, ro);
        watch_redis();
    }
    else
        announce();
#else
    announce();
#endif

    // SIGINT/SIGTERM: WebSockets get a 1001 close, SSE streams end, the Redis bridge (if any)
    // closes (a Redis that does not answer gets 3 s), then run() returns.
    signals.async_wait([&](std::error_code, int) {
        server.stop();
#if defined(RTMSG_TESTBED_WITH_REDIS)
        if (bridge) {
            stopping = true;
            redis_watch.cancel();
            redis_deadline.expires_after(std::chrono::seconds(3));
            redis_deadline.async_wait([&](std::error_code e) {
                if (!e) ioc.stop();
            });
            bridge->stop([&] { asio::post(ioc, [&] { redis_deadline.cancel(); }); });
        }
#endif
    });

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < a.threads; ++i) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    return 0;
}
