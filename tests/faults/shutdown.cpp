// Graceful shutdown and draining: stop() flushes queued WebSocket messages and
// SSE events, then 1001 / end of stream; a deadline bounds peers that never
// read; destroying the server while traffic flows is safe.
#include <rtmsg/server/server.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "support.hpp"

namespace {

using namespace fault_test;

/// A server whose io_context runs without a work guard: run() returns when all
/// is gone.
struct bare_server {
    explicit bare_server(rtmsg::http::server_options opt = {})
        : server(std::make_unique<rtmsg::http::server>(ioc.get_executor(), opt))
    {
    }
    void start()
    {
        server->listen({asio::ip::make_address("127.0.0.1"), 0});
        port = server->local_endpoint().port();
        thread = std::thread([this] {
            ioc.run();
            returned = true;
        });
    }
    /// Waits for run() to return.
    bool joined_within(std::chrono::milliseconds limit)
    {
        if (!eventually([&] { return returned.load(); }, limit)) return false;
        thread.join();
        return true;
    }
    ~bare_server()
    {
        if (thread.joinable()) {
            ioc.stop();
            thread.join();
        }
    }
    asio::io_context ioc;
    std::unique_ptr<rtmsg::http::server> server;
    unsigned short port = 0;
    std::thread thread;
    std::atomic<bool> returned{false};
};

std::uint16_t close_code_of(std::string const& payload)
{
    return payload.size() >= 2 ? static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                                            static_cast<unsigned char>(payload[1]))
                               : 0;
}

} // namespace

TEST_CASE("shutdown: stop() flushes queued WebSocket messages, then 1001, and "
          "run() returns",
          "[faults][shutdown]")
{
    bare_server s;
    auto* server = s.server.get();
    auto b = echo_behavior();
    b.on_message = [server](auto const& c, rtmsg::websocket::message_view) {
        // Queue much more than the socket buffers hold, then stop in the same
        // handler.
        for (int i = 0; i < 200; ++i) c->send_text(std::to_string(i) + ':' + std::string(20'000, 'x'));
        server->stop();
    };
    s.server->routes().websocket("/ws", b);
    s.start();
    client c(s.port);
    c.send(upgrade_bytes("/ws"));
    REQUIRE(c.response().starts_with("HTTP/1.1 101 "));
    c.send(ws_test::client_frame(ws_test::op_text, "go"));
    std::this_thread::sleep_for(200ms); // let the queue back up while we do not read
    for (int i = 0; i < 200; ++i) {
        auto f = read_frame(c.socket, c.buf);
        REQUIRE(f.first == ws_test::op_text);
        REQUIRE(f.second.starts_with(std::to_string(i) + ':'));
    }
    auto f = read_frame(c.socket, c.buf);
    CHECK(f.first == ws_test::op_close);
    CHECK(close_code_of(f.second) == rtmsg::websocket::close_code::going_away);
    c.send(ws_test::client_frame(ws_test::op_close, std::string("\x03\xe9", 2)));
    CHECK(c.closed_by_server());
    c.socket.close(); // our FIN ends the server's teardown at once (else it waits
                      // close_timeout)
    CHECK(s.joined_within(2s));
    CHECK(s.server->connection_count() == 0);
}

TEST_CASE("shutdown: stop() flushes queued SSE events, then ends the stream", "[faults][shutdown]")
{
    bare_server s;
    auto* server = s.server.get();
    rtmsg::sse::behavior b;
    b.options.heartbeat = {};
    b.on_open = [server](auto const& c) {
        for (int i = 0; i < 100; ++i) {
            auto const id = std::to_string(i);
            auto const data = std::string(20'000, 'e');
            c->send({data, id, {}, 0});
        }
        server->stop();
    };
    s.server->routes().sse("/events", b);
    s.start();
    client c(s.port);
    c.send(get("/events", "Accept: text/event-stream\r\n"));
    auto head = sse_head(c);
    REQUIRE(head.starts_with("HTTP/1.1 200 "));
    std::this_thread::sleep_for(200ms);
    auto const body = read_to_eof(c);
    CHECK(body.find("id: 0\n") != std::string::npos);
    CHECK(body.find("id: 99\n") != std::string::npos);
    CHECK(body.ends_with("\n\n"));
    c.socket.close();
    CHECK(s.joined_within(2s));
}

TEST_CASE("shutdown: peers that never read or never answer the close are "
          "dropped at the deadline",
          "[faults][shutdown]")
{
    rtmsg::http::server_options opt;
    opt.shutdown_timeout = 300ms;
    bare_server s(opt);
    std::promise<void> queued;
    auto b = echo_behavior();
    b.options.close_timeout = 60s; // only the server's deadline can end this
    b.options.idle_timeout = {};
    b.on_message = [&](auto const& c, rtmsg::websocket::message_view) {
        for (int i = 0; i < 64; ++i) c->send_binary(std::string(256 * 1024, 'z'));
        queued.set_value();
    };
    s.server->routes().websocket("/ws", b);
    rtmsg::sse::behavior sb;
    sb.options.close_timeout = 60s;
    sb.on_open = [](auto const& c) {
        for (int i = 0; i < 64; ++i) c->send({std::string(256 * 1024, 's'), {}, {}, 0});
    };
    s.server->routes().sse("/events", sb);
    s.start();
    client ws(s.port), sse(s.port), idle_http(s.port);
    ws.socket.set_option(asio::socket_base::receive_buffer_size(4096));
    sse.socket.set_option(asio::socket_base::receive_buffer_size(4096));
    ws.send(upgrade_bytes("/ws"));
    REQUIRE(ws.response().starts_with("HTTP/1.1 101 "));
    ws.send(ws_test::client_frame(ws_test::op_text, "go"));
    REQUIRE(queued.get_future().wait_for(5s) == std::future_status::ready);
    sse.send(get("/events", "Accept: text/event-stream\r\n"));
    REQUIRE(sse_head(sse).starts_with("HTTP/1.1 200 "));
    REQUIRE(eventually([&] { return s.server->connection_count() == 3; }));
    auto const t0 = std::chrono::steady_clock::now();
    s.server->stop();
    CHECK(s.joined_within(5s));
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(s.server->connection_count() == 0);
    CHECK(idle_http.closed_by_server());
}

TEST_CASE("shutdown: stop() with no connections lets run() return at once", "[faults][shutdown]")
{
    bare_server s;
    s.server->routes().get("/x", [](auto const&, auto& res) { res.body = "x"; });
    s.start();
    {
        client c(s.port);
        c.send(get("/x", "Connection: close\r\n"));
        CHECK(c.response().ends_with("x"));
    }
    REQUIRE(eventually([&] { return s.server->connection_count() == 0; }));
    s.server->stop();
    CHECK(s.joined_within(2s));
}

TEST_CASE("shutdown: destroying the server while traffic flows neither crashes "
          "nor leaks",
          "[faults][shutdown]")
{
    for (int round = 0; round < 3; ++round) {
        rtmsg::http::server_options opt;
        opt.shutdown_timeout = 500ms; // the echo clients never answer the 1001
        bare_server s(opt);
        asio::executor_work_guard<asio::io_context::executor_type> guard(s.ioc.get_executor());
        s.server->routes().websocket("/echo", echo_behavior());
        rtmsg::sse::behavior sb;
        sb.options.heartbeat = 1ms;
        s.server->routes().sse("/events", sb);
        s.server->routes().post("/p", [](auto const& req, auto& res) { res.body = req.body; });
        s.start();
        std::atomic<bool> stop{false};
        std::vector<std::thread> clients;
        for (int i = 0; i < 4; ++i)
            clients.emplace_back([&, i] {
                try {
                    client c(s.port);
                    if (i == 0) {
                        c.send(get("/events", "Accept: text/event-stream\r\n"));
                        read_to_eof(c);
                        return;
                    }
                    if (i == 1) {
                        while (!stop) {
                            c.send("POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: "
                                   "3\r\n\r\nabc");
                            if (c.response().empty()) return;
                        }
                        return;
                    }
                    c.send(upgrade_bytes("/echo"));
                    c.response();
                    while (!stop) {
                        c.send(ws_test::client_frame(ws_test::op_text, std::string(1000, 'a')));
                        read_frame(c.socket, c.buf);
                    }
                }
                catch (std::exception const&) {
                    // The server went away under the client: expected.
                }
            });
        std::this_thread::sleep_for(100ms);
        if (round == 1)
            asio::post(s.ioc, [&] { s.server.reset(); }); // from the io thread, inside a handler
        else
            s.server.reset(); // from another thread
        guard.reset();
        CHECK(s.joined_within(10s));
        stop = true;
        for (auto& t : clients) t.join();
    }
}
