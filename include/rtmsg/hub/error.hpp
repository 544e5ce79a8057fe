#pragma once
// Errors of hub operations (category "rtmsg.hub") and their wire codes.
#include <cstdint>
#include <string>
#include <system_error>

namespace rtmsg {

/// Why the hub refused an operation.  Append only.
enum class hub_error {
    invalid_topic = 1,      ///< not a valid topic name or pattern
    not_allowed,            ///< the authorization callback said no
    too_many_subscriptions, ///< the connection's subscription limit
    not_subscribed,         ///< unsubscribe from something never subscribed
    payload_too_large,      ///< over hub_options::max_payload
    rate_limited,           ///< over the connection's publish rate
    bad_request,            ///< malformed or invalid protocol message
    too_many_topics,        ///< the hub's topic limit
    wildcard_publish,       ///< publish needs an exact topic, not a pattern
    unavailable,            ///< the cluster broker could not take the message (see rtmsg/cluster)
    too_many_formats,       ///< an endpoint needs a wire format beyond the hub's max_formats
    bad_hook_payload,       ///< the host's publish hook replaced a payload with one that is not valid
};

namespace detail {
class hub_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.hub"; }
    std::string message(int ev) const override
    {
        switch (static_cast<hub_error>(ev)) {
        case hub_error::invalid_topic: return "invalid topic name or pattern";
        case hub_error::not_allowed: return "not allowed";
        case hub_error::too_many_subscriptions: return "too many subscriptions on this connection";
        case hub_error::not_subscribed: return "not subscribed to that topic";
        case hub_error::payload_too_large: return "payload too large";
        case hub_error::rate_limited: return "rate limit exceeded; slow down";
        case hub_error::bad_request: return "malformed or invalid message";
        case hub_error::too_many_topics: return "the hub's topic limit is reached";
        case hub_error::wildcard_publish: return "publish needs an exact topic, not a pattern";
        case hub_error::unavailable: return "the cluster broker is unavailable; the message was not published";
        case hub_error::too_many_formats: return "the hub serves at most rtmsg::max_formats wire formats";
        case hub_error::bad_hook_payload: return "the server's publish hook produced an invalid payload";
        }
        return "unknown rtmsg.hub error";
    }
};
} // namespace detail

inline std::error_category const& hub_category() noexcept
{
    static detail::hub_category const cat;
    return cat;
}
inline std::error_code make_error_code(hub_error e) noexcept
{
    return {static_cast<int>(e), hub_category()};
}

/// The protocol error code for a hub error (docs/protocol.md): the only place they are written.
constexpr std::uint16_t protocol_code(hub_error e) noexcept
{
    switch (e) {
    case hub_error::invalid_topic: return 422;
    case hub_error::wildcard_publish: return 422;
    case hub_error::not_allowed: return 403;
    case hub_error::too_many_subscriptions: return 431;
    case hub_error::not_subscribed: return 404;
    case hub_error::payload_too_large: return 413;
    case hub_error::rate_limited: return 429;
    case hub_error::bad_request: return 400;
    case hub_error::too_many_topics: return 507;
    case hub_error::unavailable: return 503;
    case hub_error::too_many_formats: return 500;
    case hub_error::bad_hook_payload: return 500;
    }
    return 500;
}

} // namespace rtmsg

template <>
struct std::is_error_code_enum<rtmsg::hub_error> : std::true_type {
};
