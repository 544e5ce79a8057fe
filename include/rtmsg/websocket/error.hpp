#pragma once
// WebSocket errors (category "rtmsg.websocket") and the one table that maps them to
// close codes (RFC 6455 §7.4.1) and handshake errors to HTTP statuses.
#include <cstdint>
#include <string>
#include <system_error>

namespace rtmsg::websocket {

/// Errors the WebSocket layer reports.  Append only.
enum class error {
    closed = 1,            ///< the closing handshake completed (not a failure; reads end here)
    bad_opcode,            ///< reserved opcode (RFC 6455 §5.2)
    bad_reserved_bits,     ///< RSV1-3 set with no extension negotiated (§5.2)
    bad_length,            ///< 64-bit length with the most significant bit set (§5.2)
    non_minimal_length,    ///< length not in its shortest form (§5.2 "the minimal number of bytes MUST be used")
    unmasked_frame,        ///< a client frame without a mask (§5.1)
    masked_frame,          ///< a server frame with a mask (§5.1)
    fragmented_control,    ///< a control frame with FIN clear (§5.5)
    control_too_big,       ///< a control frame payload over 125 bytes (§5.5)
    bad_continuation,      ///< a continuation frame with no message in progress (§5.4)
    expected_continuation, ///< a new data frame while a fragmented message is in progress (§5.4)
    bad_utf8,              ///< a text message or close reason that is not UTF-8 (§8.1)
    bad_close_code,        ///< a close code that must not be sent (§7.4)
    bad_close_size,        ///< a close payload of one byte (§5.5.1)
    message_too_big,       ///< the message exceeds the configured maximum
    // handshake (§4.2.1)
    bad_method,            ///< the upgrade request is not GET
    bad_http_version,      ///< the upgrade request is not HTTP/1.1 or later
    no_upgrade,            ///< no "Upgrade: websocket"
    no_connection_upgrade, ///< no "upgrade" token in Connection
    no_host,               ///< no Host header
    bad_key,               ///< Sec-WebSocket-Key is not 16 bytes in base64
    bad_version,           ///< Sec-WebSocket-Version is not 13
    origin_refused,        ///< the Origin check refused the request
    // 24 was refused: a refusal by the upgrade hook is the HTTP response the hook chose
    bad_accept = 25, ///< (client) Sec-WebSocket-Accept does not match
    closing,         ///< the connection is closing; nothing more can be sent
    // 27 was queue_full: a full queue is send_status::dropped
    // client handshake (§4.1)
    bad_status = 28, ///< (client) the server did not answer 101 Switching Protocols
    bad_response,    ///< (client) the server's handshake response is not valid HTTP/1.1
    bad_subprotocol, ///< (client) the server selected a subprotocol the client did not offer
    // 31 was bad_url: URL errors are http::error::bad_url
    bad_extension = 32, ///< (client) the server's Sec-WebSocket-Extensions is not one we can accept (RFC 7692 §5)
    bad_deflate,        ///< a compressed message is not valid raw DEFLATE data (RFC 7692 §7.2.2)
};

/// Groups of errors, for `ec == condition::protocol_violation`.
enum class condition {
    protocol_violation = 1, ///< the peer broke RFC 6455 framing rules
    handshake_failed,       ///< the opening handshake was refused
};

namespace detail {
class error_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.websocket"; }
    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::closed: return "the WebSocket connection was closed";
        case error::bad_opcode: return "the peer sent a frame with a reserved opcode";
        case error::bad_reserved_bits: return "the peer set RSV bits with no extension negotiated";
        case error::bad_length: return "the peer sent a 64-bit frame length with the top bit set";
        case error::non_minimal_length: return "the peer sent a frame length not in its shortest form";
        case error::unmasked_frame: return "the client sent an unmasked frame";
        case error::masked_frame: return "the server sent a masked frame";
        case error::fragmented_control: return "the peer fragmented a control frame";
        case error::control_too_big: return "the peer sent a control frame longer than 125 bytes";
        case error::bad_continuation: return "the peer sent a continuation frame with no message in progress";
        case error::expected_continuation: return "the peer started a new message inside a fragmented one";
        case error::bad_utf8: return "the peer sent text that is not valid UTF-8";
        case error::bad_close_code: return "the peer sent an invalid close code";
        case error::bad_close_size: return "the peer sent a one-byte close payload";
        case error::message_too_big: return "the message exceeds the maximum message size";
        case error::bad_method: return "a WebSocket upgrade must use GET";
        case error::bad_http_version: return "a WebSocket upgrade needs HTTP/1.1";
        case error::no_upgrade: return "the request has no 'Upgrade: websocket' header";
        case error::no_connection_upgrade: return "the request's Connection header has no 'upgrade' token";
        case error::no_host: return "the request has no Host header";
        case error::bad_key: return "Sec-WebSocket-Key is missing or not 16 base64-encoded bytes";
        case error::bad_version: return "Sec-WebSocket-Version must be 13";
        case error::origin_refused: return "the request's Origin is not allowed";
        case error::bad_accept: return "the server's Sec-WebSocket-Accept does not match the key";
        case error::closing: return "the WebSocket connection is closing";
        case error::bad_status: return "the server did not answer the upgrade with 101 Switching Protocols";
        case error::bad_response: return "the server's handshake response is not valid HTTP/1.1";
        case error::bad_subprotocol: return "the server selected a subprotocol the client did not offer";
        case error::bad_extension:
            return "the server answered with an extension the client did not offer, or with bad parameters";
        case error::bad_deflate: return "the peer sent a compressed message that does not inflate";
        }
        return "unknown rtmsg.websocket error";
    }
    bool equivalent(int code, std::error_condition const& cond) const noexcept override;
};

class condition_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.websocket.condition"; }
    std::string message(int ev) const override
    {
        switch (static_cast<condition>(ev)) {
        case condition::protocol_violation: return "the peer violated the WebSocket protocol";
        case condition::handshake_failed: return "the WebSocket opening handshake failed";
        }
        return "unknown condition";
    }
};
} // namespace detail

inline std::error_category const& error_category() noexcept
{
    static detail::error_category const cat;
    return cat;
}
inline std::error_category const& condition_category() noexcept
{
    static detail::condition_category const cat;
    return cat;
}
inline std::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}
inline std::error_condition make_error_condition(condition c) noexcept
{
    return {static_cast<int>(c), condition_category()};
}

/// Close status codes (RFC 6455 §7.4.1).
namespace close_code {
/// 1000: normal closure.
inline constexpr std::uint16_t normal = 1000;
/// 1001: going away (server shutting down, page navigated away).
inline constexpr std::uint16_t going_away = 1001;
/// 1002: protocol error.
inline constexpr std::uint16_t protocol_error = 1002;
/// 1003: a data type the endpoint cannot accept.
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t no_status = 1005; ///< never sent: "the close frame had no code"
inline constexpr std::uint16_t abnormal = 1006;  ///< never sent: "no close frame at all"
/** 1007: a text message that is not UTF-8. */
inline constexpr std::uint16_t invalid_payload = 1007;
/// 1008: policy violation (abuse, a slow consumer, a push-only endpoint).
inline constexpr std::uint16_t policy_violation = 1008;
/// 1009: message too big.
inline constexpr std::uint16_t message_too_big = 1009;
/// 1010: the client needed an extension the server did not offer.
inline constexpr std::uint16_t mandatory_extension = 1010;
/// 1011: the server hit an unexpected condition.
inline constexpr std::uint16_t internal_error = 1011;
} // namespace close_code

/// The close code sent when a read fails with `e`; 0 if `e` does not close with a code.
constexpr std::uint16_t close_code_for(error e) noexcept
{
    switch (e) {
    case error::bad_utf8:
    case error::bad_deflate: return close_code::invalid_payload;
    case error::message_too_big: return close_code::message_too_big;
    case error::bad_opcode:
    case error::bad_reserved_bits:
    case error::bad_length:
    case error::non_minimal_length:
    case error::unmasked_frame:
    case error::masked_frame:
    case error::fragmented_control:
    case error::control_too_big:
    case error::bad_continuation:
    case error::expected_continuation:
    case error::bad_close_code:
    case error::bad_close_size: return close_code::protocol_error;
    default: return 0;
    }
}

/// The HTTP status a refused handshake answers with (426 adds Sec-WebSocket-Version: 13).
constexpr unsigned http_status_for(error e) noexcept
{
    switch (e) {
    case error::bad_method: return 405;
    case error::bad_version: return 426;
    case error::origin_refused: return 403;
    default: return 400;
    }
}

/// RFC 6455 §7.4: may a peer send this code in a close frame?  1000-1003, 1007-1011 and
/// 3000-4999 are allowed; 1004-1006, 1012-2999 (unassigned here or reserved for the
/// protocol), below 1000 and from 5000 up are not.
constexpr bool is_valid_close_code(std::uint16_t code) noexcept
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

namespace detail {
inline bool error_category::equivalent(int code, std::error_condition const& cond) const noexcept
{
    if (&cond.category() != &rtmsg::websocket::condition_category()) return false;
    auto const e = static_cast<error>(code);
    switch (static_cast<condition>(cond.value())) {
    case condition::protocol_violation: return close_code_for(e) != 0;
    case condition::handshake_failed:
        return (e >= error::bad_method && e <= error::bad_accept) ||
               (e >= error::bad_status && e <= error::bad_extension);
    }
    return false;
}
} // namespace detail

} // namespace rtmsg::websocket

template <>
struct std::is_error_code_enum<rtmsg::websocket::error> : std::true_type {
};
template <>
struct std::is_error_condition_enum<rtmsg::websocket::condition> : std::true_type {
};
