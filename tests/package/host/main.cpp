// The "existing server" of the package test: a host application that already has its own
// io_context, its own signal handling, its own periodic work and its own plain HTTP routes, and
// adds rtmsg's WebSocket and Server-Sent Events endpoints to the HTTP server it runs.
//
// Usage: host [--port N]      0 (the default) picks a free port.
// Prints "listening on 127.0.0.1:PORT" and serves until SIGINT or SIGTERM, then exits 0.
//   GET /health    "ok"                                       the host's own route
//   GET /stats     {"requests":N,"connections":M,"ticks":K}   the host's own route
//   ws  /ws/echo   echoes every message                       rtmsg WebSocket
//   GET /events    "greeting" event, then a "tick" event      rtmsg SSE, fed by the host's timer
//                  on every tick of the host's timer
#include <rtmsg/server/server.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/version.hpp>
#if defined(HOST_WITH_TLS)
#include <rtmsg/transport/ssl.hpp>
#endif

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string>

namespace host {

/// What the host application already had before it took rtmsg in, plus the SSE streams it feeds.
struct application {
    std::atomic<unsigned long> requests{0};
    std::atomic<unsigned long> ticks{0};
    std::mutex mutex;
    std::set<rtmsg::sse::connection_ptr> streams;
};

/// The host's periodic housekeeping, on the host's own io_context; it also tells the SSE clients.
void schedule_tick(asio::steady_timer& timer, application& app)
{
    timer.expires_after(std::chrono::milliseconds(50));
    timer.async_wait([&timer, &app](std::error_code ec) {
        if (ec) return;
        std::string const data = "tick " + std::to_string(++app.ticks);
        {
            std::lock_guard<std::mutex> lock(app.mutex);
            for (auto const& s : app.streams) s->send(rtmsg::sse::event{data, {}, "tick", 0});
        }
        schedule_tick(timer, app);
    });
}

bool legacy_asio_still_works(); // legacy.cpp: the host's older code, on deprecated Asio

} // namespace host

int main(int argc, char** argv)
{
    unsigned short port = 0;
    for (int i = 1; i < argc; ++i) {
        std::string const arg = argv[i];
        if (arg == "--port" && i + 1 < argc)
            port = static_cast<unsigned short>(std::atoi(argv[++i]));
        else {
            std::cerr << "usage: host [--port N]\n";
            return 2;
        }
    }

    if (!host::legacy_asio_still_works()) {
        std::cerr << "host: the legacy io_service handler did not run\n";
        return 1;
    }
    asio::io_context ioc; // the host's
    host::application app;
    rtmsg::http::server server(ioc.get_executor());

    // The host's own plain routes.
    server.routes().get("/health", [&app](rtmsg::http::request const&, rtmsg::http::response& res) {
        ++app.requests;
        res.body = "ok";
    });
    server.routes().get("/stats", [&app, &server](rtmsg::http::request const&, rtmsg::http::response& res) {
        ++app.requests;
        res.body = "{\"requests\":" + std::to_string(app.requests.load()) +
                   ",\"connections\":" + std::to_string(server.connection_count()) +
                   ",\"ticks\":" + std::to_string(app.ticks.load()) + "}";
    });

    // rtmsg's WebSocket endpoint, added next to them.
    rtmsg::websocket::behavior echo;
    echo.on_message = [](rtmsg::websocket::connection_ptr const& c, rtmsg::websocket::message_view m) {
        c->send(m.type, m.data);
    };
    server.routes().websocket("/ws/echo", echo);

    // rtmsg's SSE endpoint: a greeting, then the host's ticks.
    rtmsg::sse::behavior events;
    events.on_open = [&app](rtmsg::sse::connection_ptr const& c) {
        c->send(rtmsg::sse::event{"hello", "1", "greeting", 0});
        std::lock_guard<std::mutex> lock(app.mutex);
        app.streams.insert(c);
    };
    events.on_close = [&app](rtmsg::sse::connection_ptr const& c) {
        std::lock_guard<std::mutex> lock(app.mutex);
        app.streams.erase(c);
    };
    server.routes().sse("/events", events);

#if defined(HOST_WITH_TLS)
    // Linked with rtmsg::ssl: a context a TLS listener would use (links OpenSSL).
    asio::ssl::context tls(asio::ssl::context::tls_server);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2);
#endif

    asio::steady_timer timer(ioc);
    host::schedule_tick(timer, app);

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
        timer.cancel();
        server.stop();
        std::lock_guard<std::mutex> lock(app.mutex);
        app.streams.clear();
    });

    server.listen({asio::ip::make_address("127.0.0.1"), port});
    std::cout << "rtmsg " << rtmsg::version_string << "\n"
              << "listening on 127.0.0.1:" << server.local_endpoint().port() << std::endl;
    ioc.run();
    return 0;
}
