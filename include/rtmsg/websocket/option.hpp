#pragma once
// Settings of a WebSocket connection.
#include <chrono>
#include <cstddef>

namespace rtmsg::websocket {

/** Limits and timers of one WebSocket connection.

    @code
    rtmsg::websocket::options opt;
    opt.max_message_size = 1 << 20;               // 1 MiB, larger messages close with 1009
    opt.ping_interval = std::chrono::seconds(20); // keepalive
    @endcode
*/
struct options {
    /// Largest message accepted, summed over its fragments; larger ones close with 1009.
    std::size_t max_message_size = 16u << 20;
    /// How long a client has to send a complete upgrade request (used by http::server).
    std::chrono::milliseconds handshake_timeout{10'000};
    /// Send a ping after this long without input from the peer; zero disables keepalive.
    std::chrono::milliseconds ping_interval{30'000};
    /// Drop the connection after this long without any input (pongs count); zero: never.
    /// Must exceed ping_interval to give a live peer time to answer the ping.
    std::chrono::milliseconds idle_timeout{75'000};
    /// How long to wait for the peer's close frame / FIN after we sent ours.
    std::chrono::milliseconds close_timeout{5'000};
    /// Queued outbound bytes above which send() reports backpressure and the server's
    /// read loop pauses until the queue drains (so an echo peer that never reads is bounded).
    std::size_t send_queue_soft_limit = 4u << 20;
    /// Queued outbound bytes above which send() refuses the message with error::queue_full.
    std::size_t send_queue_hard_limit = 64u << 20;
};

} // namespace rtmsg::websocket
