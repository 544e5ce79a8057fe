#pragma once
// Helpers for the fault tests: raw loopback clients that misbehave on purpose.
#include "support/net.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace fault_test {

using namespace net_test;
using namespace std::chrono_literals;

/// Polls `pred` until it holds or `limit` passes.
inline bool eventually(std::function<bool()> const& pred, std::chrono::milliseconds limit = 5s)
{
    auto const end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > end) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

/// Closes with RST instead of FIN.
inline void reset(tcp::socket& s)
{
    std::error_code ignored;
    s.set_option(asio::socket_base::linger(true, 0), ignored);
    s.close(ignored);
}

/// Upgrades `c` on `target` and checks the 101.
inline bool upgrade(client& c, std::string_view target)
{
    c.send(upgrade_bytes(target));
    return c.response().starts_with("HTTP/1.1 101 ");
}

/// Reads the SSE response head (no Content-Length: ends at the blank line).
inline std::string sse_head(client& c)
{
    std::error_code ec;
    auto n = asio::read_until(c.socket, asio::dynamic_buffer(c.buf), "\r\n\r\n", ec);
    if (ec) return {};
    auto head = c.buf.substr(0, n);
    c.buf.erase(0, n);
    return head;
}

/// Reads until `needle` is in the buffer or the peer closes; returns everything
/// read.
inline std::string read_until_or_eof(client& c, std::string_view needle)
{
    std::error_code ec;
    while (c.buf.find(needle) == std::string::npos) {
        char tmp[4096];
        auto n = c.socket.read_some(asio::buffer(tmp), ec);
        if (ec) break;
        c.buf.append(tmp, n);
    }
    return c.buf;
}

/// Reads everything until the peer closes.
inline std::string read_to_eof(client& c)
{
    std::error_code ec;
    for (;;) {
        char tmp[4096];
        auto n = c.socket.read_some(asio::buffer(tmp), ec);
        if (ec) break;
        c.buf.append(tmp, n);
    }
    return c.buf;
}

inline rtmsg::websocket::behavior echo_behavior()
{
    rtmsg::websocket::behavior b;
    b.options.ping_interval = {};
    b.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    return b;
}

/// A WebSocket echo round trip on a fresh connection: the server still serves.
inline bool still_serves(unsigned short port)
{
    client c(port);
    c.send(upgrade_bytes("/echo") + ws_test::client_frame(ws_test::op_text, "ping?"));
    if (!c.response().starts_with("HTTP/1.1 101 ")) return false;
    return read_frame(c.socket, c.buf).second == "ping?";
}

} // namespace fault_test
