// Abrupt resets (mid-handshake, mid-frame, mid-SSE-event) and half-closed
// sockets: the connection is released, callbacks report it, and everyone else
// is still served.
#include <rtmsg/server/server.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "support.hpp"

using namespace fault_test;

TEST_CASE("faults: resets mid-handshake release the connection", "[faults][reset]")
{
    running_server s;
    std::atomic<int> opened{0};
    auto b = echo_behavior();
    b.on_open = [&](auto const&) { ++opened; };
    s.server.routes().websocket("/echo", b);
    s.start();
    auto const req = upgrade_bytes("/echo");
    for (std::size_t cut : {std::size_t(0), std::size_t(1), std::size_t(16), req.size() / 2, req.size() - 2}) {
        client c(s.port);
        c.send(std::string_view(req).substr(0, cut));
        std::this_thread::sleep_for(10ms);
        reset(c.socket);
    }
    {
        // The whole request, reset before reading the 101.
        client c(s.port);
        c.send(req);
        reset(c.socket);
    }
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
    CHECK(still_serves(s.port));
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
}

TEST_CASE("faults: resets mid-frame and mid-message report 1006 and release "
          "the connection",
          "[faults][reset]")
{
    running_server s;
    std::atomic<int> abnormal{0};
    auto b = echo_behavior();
    b.on_close = [&](auto const&, std::uint16_t code, std::string_view) {
        if (code == rtmsg::websocket::close_code::abnormal) ++abnormal;
    };
    s.server.routes().websocket("/echo", b);
    s.start();
    auto const frame = ws_test::client_frame(ws_test::op_text, std::string(70'000, 'x'));
    auto const first = ws_test::client_frame(ws_test::op_text, "part one", false);
    std::vector<std::string> cuts = {
        frame.substr(0, 1),      // inside the header
        frame.substr(0, 9),      // inside the 64-bit length
        frame.substr(0, 40'000), // inside the payload
        first,                   // between fragments of a message
    };
    for (auto const& bytes : cuts) {
        client c(s.port);
        REQUIRE(upgrade(c, "/echo"));
        c.send(bytes);
        std::this_thread::sleep_for(10ms);
        reset(c.socket);
    }
    CHECK(eventually([&] { return abnormal.load() == 4; }));
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
    CHECK(still_serves(s.port));
}

TEST_CASE("faults: a reset while the server writes large messages releases it", "[faults][reset]")
{
    running_server s;
    std::promise<void> closed;
    auto b = echo_behavior();
    b.on_message = [](auto const& c, rtmsg::websocket::message_view) {
        for (int i = 0; i < 32; ++i) c->send_binary(std::string(1 << 20, 'q'));
    };
    b.on_close = [&](auto const&, std::uint16_t, std::string_view) { closed.set_value(); };
    s.server.routes().websocket("/big", b);
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    client c(s.port);
    REQUIRE(upgrade(c, "/big"));
    c.send(ws_test::client_frame(ws_test::op_text, "go"));
    char tmp[1000];
    asio::read(c.socket, asio::buffer(tmp)); // the first bytes, mid-frame
    reset(c.socket);
    CHECK(closed.get_future().wait_for(5s) == std::future_status::ready);
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
    CHECK(still_serves(s.port));
}

TEST_CASE("faults: a reset mid-SSE-event ends the stream and calls on_close", "[faults][reset][sse]")
{
    running_server s;
    std::atomic<int> closes{0};
    rtmsg::sse::behavior b;
    b.on_open = [](auto const& c) {
        for (int i = 0; i < 16; ++i) c->send({std::string(1 << 20, 'd'), std::to_string(i), {}, 0});
    };
    b.on_close = [&](auto const&) { ++closes; };
    s.server.routes().sse("/events", b);
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    for (int i = 0; i < 3; ++i) {
        client c(s.port);
        c.send(get("/events", "Accept: text/event-stream\r\n"));
        REQUIRE(sse_head(c).starts_with("HTTP/1.1 200 "));
        read_until_or_eof(c, "data: ddd"); // inside the first event
        if (i == 2) {
            std::error_code ignored;
            c.socket.close(ignored); // FIN with unread data: the kernel sends RST
        }
        else
            reset(c.socket);
    }
    CHECK(eventually([&] { return closes.load() == 3; }));
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
    CHECK(still_serves(s.port));
}

TEST_CASE("faults: a client that half-closes after its request still gets the "
          "response",
          "[faults][halfclose]")
{
    running_server s;
    s.server.routes().get("/x", [](auto const&, auto& res) { res.body = "answer"; });
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    client c(s.port);
    c.send(get("/x") + get("/x"));
    c.socket.shutdown(tcp::socket::shutdown_send);
    auto const body = read_to_eof(c);
    auto const first = body.find("answer");
    REQUIRE(first != std::string::npos);
    CHECK(body.find("answer", first + 1) != std::string::npos);
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
}

TEST_CASE("faults: half-closed WebSocket and SSE peers are released", "[faults][halfclose]")
{
    running_server s;
    std::atomic<int> ws_closed{0}, sse_closed{0};
    auto b = echo_behavior();
    b.on_close = [&](auto const&, std::uint16_t, std::string_view) { ++ws_closed; };
    s.server.routes().websocket("/echo", b);
    rtmsg::sse::behavior sb;
    sb.on_close = [&](auto const&) { ++sse_closed; };
    s.server.routes().sse("/events", sb);
    s.start();
    client w(s.port), e(s.port);
    REQUIRE(upgrade(w, "/echo"));
    w.send(ws_test::client_frame(ws_test::op_text, "then FIN"));
    w.socket.shutdown(tcp::socket::shutdown_send);
    e.send(get("/events", "Accept: text/event-stream\r\n"));
    REQUIRE(sse_head(e).starts_with("HTTP/1.1 200 "));
    e.socket.shutdown(tcp::socket::shutdown_send);
    // Both ends are released by the server: it closes its side.
    read_to_eof(w);
    read_to_eof(e);
    CHECK(eventually([&] { return ws_closed.load() == 1 && sse_closed.load() == 1; }));
    CHECK(eventually([&] { return s.server.connection_count() == 0; }));
    CHECK(still_serves(s.port));
}
