#pragma once
// The codec policy: how the hub's wire envelope becomes bytes and back.
//
// A codec is chosen per WebSocket connection by subprotocol ("rtmsg.json", "rtmsg.binary",
// or your own).  The hub encodes each published message once per codec in use and sends the
// same bytes to every subscriber of that codec.
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rtmsg::codec {

/// Operations of the wire protocol (docs/protocol.md).  Append only.
enum class op : std::uint8_t {
    // client -> server
    subscribe = 1,   ///< topic (or pattern), optional since/epoch, history, presence
    unsubscribe = 2, ///< topic
    publish = 3,     ///< topic, data, optional ack, echo
    presence = 4,    ///< topic: ask for the members
    // server -> client
    message = 16, ///< topic, offset, epoch, data
    ack = 17,     ///< id; for publish: offset; for subscribe: offset of the latest message, epoch
    error = 18,   ///< id (0 if none), code, text
    join = 19,    ///< presence event: topic, who
    leave = 20,   ///< presence event: topic, who
    gap = 21,     ///< topic, epoch, offset (first missing), to (last missing): history lost
    members = 22, ///< presence reply: id, topic, members
};

/// What the bytes of `data` are.  JSON codecs embed `json` data as a JSON value.
enum class data_kind : std::uint8_t { json = 0, text = 1, binary = 2 };

/// Who published a message, as the server attests it (`from` in docs/protocol.md).
enum class origin : std::uint8_t {
    unknown = 0, ///< not said: not a message, or a server that does not attest senders
    server = 1,  ///< the server itself published it (an in-process publish)
    peer = 2,    ///< a connection published it: `from_id` (and `from_info`) say who
};

/** The wire envelope: one protocol message in either direction.

    Views (`topic`, `data`, `text`, `who`, `members`) point into the decoded input or into
    the codec's own scratch storage; they stay valid until the next decode() on the same
    codec object, or as long as the buffers given to encode()'s caller live.
*/
struct envelope {
    /// The operation (docs/protocol.md, "Operations").
    codec::op op = codec::op::message;
    std::uint64_t id = 0;        ///< request id chosen by the client, echoed in ack/error (0: none)
    std::string_view topic = {}; ///< topic name, or a pattern in subscribe/unsubscribe
    std::string_view data = {};  ///< message payload
    /** What `data` holds: JSON text, UTF-8 text or bytes. */
    data_kind kind = data_kind::json;
    std::uint64_t offset = 0;                    ///< message offset; ack offset; gap: first missing offset
    std::uint64_t to = 0;                        ///< gap: last missing offset
    std::uint64_t epoch = 0;                     ///< the topic's epoch (changes when the topic's history restarts)
    bool has_since = false;                      ///< subscribe: resume after `offset` (with `epoch` if nonzero)
    std::uint32_t history = 0;                   ///< subscribe: first deliver up to this many retained messages
    bool presence = false;                       ///< subscribe: also send join/leave events
    bool ack = false;                            ///< publish: answer with an ack carrying the offset
    bool echo = true;                            ///< publish: false sends to every subscriber but the sender
    std::uint16_t code = 0;                      ///< error code (docs/protocol.md lists them)
    std::string_view text = {};                  ///< error message
    std::string_view who = {};                   ///< join/leave: the member's identity
    std::vector<std::string_view> members = {};  ///< members reply
    codec::origin from = codec::origin::unknown; ///< message: who published it (set by the server only)
    std::string_view from_id = {};               ///< message from a peer: its identity (empty: anonymous)
    std::string_view from_info = {}; ///< message from a peer: the client information, one JSON value; empty: none
};

/** A codec for the wire envelope.  If your type fails this check, it needs:
    `static constexpr std::string_view name` (the WebSocket subprotocol, e.g. "rtmsg.json"),
    `static constexpr bool is_text` (text or binary frames), `static constexpr std::size_t
    padding` (bytes the decoder may read past the end of its input: the transport leaves that
    much slack), `using value_type = rtmsg::codec::envelope`, and
    `std::error_code encode(value_type const&, std::string& out)` (appends) and
    `std::error_code decode(std::string_view, value_type&)` (non-const: decoders keep state).
    Codecs that do not know `from` may leave it out: subscribers then see origin::unknown. */
template <class C>
concept codec = std::default_initializable<C> &&
    requires(C& c, typename C::value_type const& in, typename C::value_type& out, std::string& bytes,
             std::string_view payload)
{
    {
        C::name
        } -> std::convertible_to<std::string_view>;
    {
        C::is_text
        } -> std::convertible_to<bool>;
    {
        C::padding
        } -> std::convertible_to<std::size_t>;
    {
        c.encode(in, bytes)
        } -> std::same_as<std::error_code>;
    {
        c.decode(payload, out)
        } -> std::same_as<std::error_code>;
};

/// Decoding errors (category "rtmsg.codec").  Append only.
enum class error {
    malformed = 1, ///< not parseable in this codec's syntax
    bad_op,        ///< unknown or missing operation
    missing_field, ///< a field the operation needs is absent
    bad_field,     ///< a field has the wrong type or an impossible value
    too_deep,      ///< nesting beyond the codec's limit
};

namespace detail {
class codec_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.codec"; }
    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::malformed: return "the message is malformed";
        case error::bad_op: return "the message has a missing or unknown operation";
        case error::missing_field: return "the message lacks a field its operation needs";
        case error::bad_field: return "a field of the message has a wrong type or value";
        case error::too_deep: return "the message is nested too deeply";
        }
        return "unknown rtmsg.codec error";
    }
};
} // namespace detail

/// The "rtmsg.codec" category; one instance per program even in a header-only build.
inline std::error_category const& error_category() noexcept
{
    static detail::codec_category const cat;
    return cat;
}
/// The earlier name: every module's category is now `error_category()`.
[[deprecated("use rtmsg::codec::error_category()")]] inline std::error_category const& codec_category() noexcept
{
    return error_category();
}
inline std::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/// Operation names as they appear in text codecs.
constexpr std::string_view op_name(op o) noexcept
{
    switch (o) {
    case op::subscribe: return "sub";
    case op::unsubscribe: return "unsub";
    case op::publish: return "pub";
    case op::presence: return "presence";
    case op::message: return "msg";
    case op::ack: return "ack";
    case op::error: return "error";
    case op::join: return "join";
    case op::leave: return "leave";
    case op::gap: return "gap";
    case op::members: return "members";
    }
    return "";
}

} // namespace rtmsg::codec

template <>
struct std::is_error_code_enum<rtmsg::codec::error> : std::true_type {
};
