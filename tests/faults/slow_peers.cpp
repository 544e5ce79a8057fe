// Peers that never read: their queues hit the limit, the policy applies (send()
// refuses, the hub drops or disconnects), memory stays bounded, and everyone
// else is unaffected.
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>

#include "support.hpp"

using namespace fault_test;

TEST_CASE("faults: a WebSocket peer that never reads hits the hard queue "
          "limit, others are served",
          "[faults][slow]")
{
    running_server s;
    std::promise<std::pair<int, std::size_t>> result;
    auto b = echo_behavior();
    b.options.send_queue_soft_limit = 256 * 1024;
    b.options.send_queue_hard_limit = 1024 * 1024;
    b.on_message = [&](auto const& c, rtmsg::websocket::message_view) {
        // Far more than socket buffers and the hard limit hold.
        int dropped = 0;
        std::size_t peak = 0;
        for (int i = 0; i < 256; ++i) {
            if (c->send_binary(std::string(64 * 1024, 'm')) == rtmsg::websocket::send_status::dropped) ++dropped;
            peak = std::max(peak, c->queued_bytes());
        }
        result.set_value({dropped, peak});
    };
    s.server.routes().websocket("/flood", b);
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    client slow(s.port);
    slow.socket.set_option(asio::socket_base::receive_buffer_size(4096));
    REQUIRE(upgrade(slow, "/flood"));
    slow.send(ws_test::client_frame(ws_test::op_text, "go"));
    auto fut = result.get_future();
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    auto const [dropped, peak] = fut.get();
    CHECK(dropped > 0);
    CHECK(peak <= 1024 * 1024 + 64 * 1024);
    for (int i = 0; i < 5; ++i) CHECK(still_serves(s.port));
}

TEST_CASE("faults: a WebSocket echo peer that never reads stops being read "
          "(backpressure)",
          "[faults][slow]")
{
    running_server s;
    auto b = echo_behavior();
    b.options.send_queue_soft_limit = 128 * 1024;
    b.options.send_queue_hard_limit = 512 * 1024;
    std::atomic<std::size_t> peak{0};
    b.on_message = [&](auto const& c, rtmsg::websocket::message_view m) {
        c->send(m.type, m.data);
        peak = std::max(peak.load(), c->queued_bytes());
    };
    s.server.routes().websocket("/echo", b);
    s.start();
    client slow(s.port);
    slow.socket.set_option(asio::socket_base::receive_buffer_size(4096));
    slow.socket.set_option(asio::socket_base::send_buffer_size(4096));
    REQUIRE(upgrade(slow, "/echo"));
    slow.socket.non_blocking(true);
    auto const frame = ws_test::client_frame(ws_test::op_binary, std::string(16 * 1024, 'p'));
    // Write until the server stops reading us (our writes would block), for at
    // most 2 s.
    std::size_t sent = 0;
    auto const end = std::chrono::steady_clock::now() + 2s;
    std::size_t off = 0;
    while (std::chrono::steady_clock::now() < end && sent < 64u << 20) {
        std::error_code ec;
        auto n = slow.socket.write_some(asio::buffer(frame.data() + off, frame.size() - off), ec);
        if (ec == asio::error::would_block) {
            std::this_thread::sleep_for(1ms);
            continue;
        }
        REQUIRE(!ec);
        sent += n;
        off = (off + n) % frame.size();
    }
    CHECK(sent < 64u << 20); // the server stopped reading
    CHECK(peak.load() <= 512 * 1024 + 16 * 1024 + 64);
    CHECK(still_serves(s.port));
}

namespace {

/// Counts the "msg" frames a raw JSON-protocol WebSocket client receives.
struct subscriber {
    subscriber(unsigned short port, std::string_view topic, bool small_buffers) : c(port)
    {
        if (small_buffers) c.socket.set_option(asio::socket_base::receive_buffer_size(4096));
        c.send(upgrade_bytes("/ws", "Sec-WebSocket-Protocol: rtmsg.json\r\n"));
        ok = c.response().starts_with("HTTP/1.1 101 ");
        c.send(
            ws_test::client_frame(ws_test::op_text, R"({"op":"sub","id":1,"topic":")" + std::string(topic) + R"("})"));
        ok = ok && read_frame(c.socket, c.buf).second.find(R"("op":"ack")") != std::string::npos;
    }
    client c;
    bool ok = false;
};

} // namespace

TEST_CASE("faults: hub subscribers that never read are disconnected by policy, "
          "fast ones lose nothing",
          "[faults][slow][hub]")
{
    rtmsg::hub_options ho;
    ho.queue.max_messages = 64;
    ho.queue.max_bytes = 512 * 1024;
    ho.default_topic.policy = rtmsg::slow_consumer_policy::disconnect;
    ho.default_topic.history_count = 0;
    rtmsg::hub h(ho);
    running_server s;
    rtmsg::websocket::behavior base;
    base.options.close_timeout = 500ms;
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(h, base));
    s.start();
    subscriber slow(s.port, "t", true);
    subscriber fast(s.port, "t", false);
    REQUIRE(slow.ok);
    REQUIRE(fast.ok);
    constexpr int total = 3000;
    std::atomic<int> got{0};
    std::atomic<bool> in_order{true};
    std::thread reader([&] {
        for (int i = 0; i < total; ++i) {
            auto f = read_frame(fast.c.socket, fast.c.buf);
            if (f.second.find(R"("n":)" + std::to_string(i) + ",") == std::string::npos) in_order = false;
            ++got;
        }
    });
    std::string const pad(4000, 'x');
    for (int i = 0; i < total; ++i) {
        h.publish("t", R"({"n":)" + std::to_string(i) + R"(,"pad":")" + pad + R"("})", rtmsg::codec::data_kind::json);
        // Pace the publisher to the fast reader so that only the one that never
        // reads falls behind.
        while (i - got.load() > 32) std::this_thread::sleep_for(100us);
    }
    reader.join();
    CHECK(got.load() == total);
    CHECK(in_order.load());
    CHECK(h.metrics().slow_disconnects == 1);
    // The slow one is closed (1008 "slow consumer" is queued behind what it never
    // read, so close_timeout bounds it); the fast one stays.
    CHECK(eventually([&] { return s.server.connection_count() == 1; }, 5s));
    INFO("connections: " << s.server.connection_count());
    CHECK(s.server.connection_count() == 1);
}
