#pragma once
// A published message: immutable once delivered, shared by every subscriber.
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/identity.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace rtmsg {

namespace detail {
class hub_core;
}

/// How many wire formats (transport x codec, and the compressed twins of WebSocket ones) one
/// hub can serve at once.
inline constexpr std::size_t max_formats = 8;

/** One message of a topic, as every subscriber sees it.

    The hub encodes and frames it once per wire format in use (WebSocket raw, SSE, each
    codec) into `frames`; every subscriber's queue then holds a reference to this one object,
    and the transport writes the shared bytes.  Nothing here changes after delivery starts. */
struct message {
    codec::op op = codec::op::message; ///< message, a presence event (join / leave), or gap
    /** The concrete topic name. */
    std::string topic;
    /// The bytes published.
    std::string payload;
    /// What the payload is: JSON text, UTF-8 text or binary.
    codec::data_kind kind = codec::data_kind::text;
    std::uint64_t offset = 0;    ///< per-topic, from 1, increasing by 1; gap: first missing offset
    std::uint64_t to = 0;        ///< gap: last missing offset
    std::uint64_t epoch = 0;     ///< the topic's epoch: offsets are comparable only within one epoch
    std::uint64_t seq = 0;       ///< hub-wide order of publication (SSE pattern streams resume by it)
    std::uint64_t publisher = 0; ///< connection id of the publisher on this node; 0 for C++ publishers and other nodes
    codec::origin origin = codec::origin::server; ///< who published it: the server, or a peer (`from`)
    peer_identity_ptr from; ///< origin::peer: who, as its upgrade hook established it (null: anonymous)
    std::string who;        ///< join / leave: the member
    /** When the hub took the message (history_age counts from it). */
    std::chrono::steady_clock::time_point time;
    std::array<std::string, max_formats> frames; ///< wire bytes per format (see hub)

private:
    friend class detail::hub_core;
    std::uint32_t encoded_ = 0; ///< formats already encoded (guarded by the locks that deliveries of its topic hold)
};

using message_ptr = std::shared_ptr<message const>;

} // namespace rtmsg
