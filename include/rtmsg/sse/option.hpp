#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rtmsg::sse {

/// Settings of one Server-Sent Events stream.
struct options {
    /// A `:` comment is sent after this long without other output, so that proxies and the
    /// client's own timers keep the stream open and a vanished peer is noticed; zero disables.
    std::chrono::milliseconds heartbeat{15'000};
    /// Sent once as `retry:` at the start: the client's reconnection delay in ms; 0: not sent.
    std::uint32_t retry = 0;
    /// Queued bytes above which send() refuses with send_status::dropped.
    std::size_t send_queue_hard_limit = 16u << 20;
    /// How long to wait for a graceful end (flush, TLS close_notify, FIN) before closing hard.
    std::chrono::milliseconds close_timeout{5'000};
};

} // namespace rtmsg::sse
