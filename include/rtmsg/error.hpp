#pragma once
// Errors that belong to no single protocol: time-outs.
#include <string>
#include <system_error>

namespace rtmsg {

/// Library-wide error codes, category "rtmsg".  Append only.
enum class error {
    timeout = 1, ///< a deadline passed (handshake, idle peer, close handshake)
    // 2-4 were too_many_connections, shutting_down and queue_full, which nothing reported: a
    // refused connection gets an HTTP status, a full queue send_status::dropped.
};

namespace detail {
class rtmsg_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg"; }
    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::timeout: return "the operation timed out";
        }
        return "unknown rtmsg error";
    }
};
} // namespace detail

/// The "rtmsg" category; one instance per program even in a header-only build.
inline std::error_category const& error_category() noexcept
{
    static detail::rtmsg_category const cat;
    return cat;
}
/// The earlier name: every module's category is now `error_category()`.
[[deprecated("use rtmsg::error_category()")]] inline std::error_category const& rtmsg_category() noexcept
{
    return error_category();
}

inline std::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

} // namespace rtmsg

template <>
struct std::is_error_code_enum<rtmsg::error> : std::true_type {
};
