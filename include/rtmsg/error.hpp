#pragma once
// Errors that belong to no single protocol: time-outs, limits, shutdown.
#include <string>
#include <system_error>

namespace rtmsg {

/// Library-wide error codes, category "rtmsg".  Append only.
enum class error {
    timeout = 1,           ///< a deadline passed (handshake, idle peer, close handshake)
    too_many_connections,  ///< the server's connection limit was reached
    shutting_down,         ///< the server is stopping
    queue_full,            ///< an outbound queue reached its limit
};

namespace detail {
class rtmsg_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg"; }
    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::timeout: return "the operation timed out";
        case error::too_many_connections: return "the server's connection limit was reached";
        case error::shutting_down: return "the server is shutting down";
        case error::queue_full: return "the outbound queue is full";
        }
        return "unknown rtmsg error";
    }
};
} // namespace detail

/// The "rtmsg" category; one instance per program even in a header-only build.
inline std::error_category const& rtmsg_category() noexcept
{
    static detail::rtmsg_category const cat;
    return cat;
}

inline std::error_code make_error_code(error e) noexcept { return {static_cast<int>(e), rtmsg_category()}; }

} // namespace rtmsg

template <>
struct std::is_error_code_enum<rtmsg::error> : std::true_type {};
