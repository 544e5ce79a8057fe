#pragma once
// Settings of a WebSocket connection.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rtmsg::websocket {

/** permessage-deflate (RFC 7692) settings of a connection; see docs/compression.md.

    Off by default.  Turning it on needs zlib: include <rtmsg/websocket/deflate.hpp> and link
    rtmsg::deflate, or the extension is neither offered nor accepted.

    "Our" direction is what this end sends: a server's `window_bits` becomes
    server_max_window_bits, a client's client_max_window_bits.
    @code
    opt.deflate.enable = true;
    opt.deflate.no_context_takeover = true; // compress every message alone: no 256 KiB deflate state kept
    @endcode
*/
struct deflate_options {
    /// Offer (client) or accept (server) permessage-deflate.
    bool enable = false;
    /// LZ77 window of what we compress, 9..15 (512 B .. 32 KiB).  A peer may ask for less; a
    /// peer asking for 8 gets our messages uncompressed (zlib has no 256-byte raw window).
    std::uint8_t window_bits = 15;
    /// Largest window we ask the peer to compress with, 8..15; bounds our inflate window.
    std::uint8_t peer_window_bits = 15;
    /// zlib memLevel of our deflater, 1..9: deflate state is about 2^(window_bits+2) + 2^(mem_level+9) bytes.
    std::uint8_t mem_level = 8;
    /// Compress every message on its own (no sliding window kept between messages): less
    /// memory per connection and frames that can be shared, at some compression ratio.
    bool no_context_takeover = false;
    /// Ask the peer to compress every message on its own too (we then keep no inflate window).
    bool peer_no_context_takeover = false;
    /// Messages shorter than this are sent uncompressed (RFC 7692 §6 allows it per message).
    std::size_t threshold = 256;
    /// Process-wide bytes of zlib state that connections with context takeover may hold
    /// between messages; once over it, new connections negotiate no_context_takeover in both
    /// directions.  0: no budget.
    std::size_t memory_budget = 0;
};

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
    /// Queued outbound bytes above which send() refuses the message (send_status::dropped).
    std::size_t send_queue_hard_limit = 64u << 20;
    /// permessage-deflate (RFC 7692); off by default.  The maximum message size above applies
    /// to the inflated size.
    deflate_options deflate{};
};

} // namespace rtmsg::websocket
