#pragma once
// Errors of the SSE client and of its event parser, category "rtmsg.sse.client".
#include <string>
#include <system_error>

namespace rtmsg::sse {

/// Errors of the SSE client (category "rtmsg.sse.client").  Append only.
enum class error {
    bad_status = 1,   ///< the server answered with a status other than 200 (WHATWG: fail, no reconnect)
    bad_content_type, ///< the response is not text/event-stream (WHATWG: fail, no reconnect)
    bad_response,     ///< the response head or its chunked framing is malformed
    event_too_big,    ///< an event or a line exceeded client_options::max_event_size
    closed,           ///< close() was called
};

namespace detail {
class client_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.sse.client"; }
    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::bad_status: return "the event stream's response status is not 200";
        case error::bad_content_type: return "the response is not text/event-stream";
        case error::bad_response: return "the event stream's response is malformed";
        case error::event_too_big: return "an event exceeds the maximum event size";
        case error::closed: return "the event stream was closed";
        }
        return "unknown rtmsg.sse.client error";
    }
};
} // namespace detail

/// The "rtmsg.sse.client" category; one instance per program even in a header-only build.
inline std::error_category const& error_category() noexcept
{
    static detail::client_category const cat;
    return cat;
}
inline std::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/// The earlier name of error: every module's errors are now `error`, their category `error_category()`.
using client_error = error; // not marked deprecated: GCC 12 then warns on uses of `error` itself
/// The earlier name of error_category().
[[deprecated("use rtmsg::sse::error_category()")]] inline std::error_category const& client_category() noexcept
{
    return error_category();
}

} // namespace rtmsg::sse

template <>
struct std::is_error_code_enum<rtmsg::sse::error> : std::true_type {
};
