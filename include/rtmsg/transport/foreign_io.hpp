#pragma once
// The I/O of a connection that lives in another I/O library, described without Asio, so that a
// translation unit that cannot include standalone Asio can still implement it.  That is the
// case of a Boost.Asio (Boost.Beast) host with Boost 1.74 and Asio 1.22: both define the same
// global names (asio_execution_*_fn) and cannot share a translation unit.  rtmsg runs over it
// through rtmsg::foreign_stream (<rtmsg/transport/foreign_stream.hpp>).
#include <cstddef>
#include <functional>
#include <string>
#include <system_error>

namespace rtmsg {

/// End of stream and cancellation as a foreign_io reports them (foreign_stream turns them into
/// Asio's error::eof and error::operation_aborted).  System errors are reported as
/// `std::error_code(errno_value, std::system_category())`; anything else fails the connection.
enum class foreign_error { eof = 1, aborted };

namespace detail {
class foreign_category_impl final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.foreign"; }
    std::string message(int ev) const override
    {
        switch (static_cast<foreign_error>(ev)) {
        case foreign_error::eof: return "end of stream";
        case foreign_error::aborted: return "operation aborted";
        }
        return "unknown error";
    }
};
} // namespace detail

/// The category of foreign_error.
inline std::error_category const& foreign_category() noexcept
{
    static detail::foreign_category_impl const c;
    return c;
}

/// Makes an error_code of foreign_error (found by ADL).
inline std::error_code make_error_code(foreign_error e) noexcept
{
    return {static_cast<int>(e), foreign_category()};
}

/** One connection of the host's I/O library, as rtmsg reads and writes it.

    rtmsg calls at most one read_some and one write_some at a time, from its own threads; the
    implementation starts them on its own (for TLS: on the strand that serializes the TLS
    stream) and may call `done` on any thread, once per call.  The buffers stay valid until
    then.

    @par Thread safety  Called concurrently from rtmsg's threads (one read and one write, and close).
*/
class foreign_io {
public:
    /// Completion of a read or a write: an error (see foreign_error) and the bytes transferred.
    using io_handler = std::function<void(std::error_code, std::size_t)>;

    virtual ~foreign_io() = default;
    /// Reads at least one byte into `[data, data + size)` (size > 0).
    virtual void read_some(void* data, std::size_t size, io_handler done) = 0;
    /// Writes at least one byte of `[data, data + size)` (size > 0).
    virtual void write_some(void const* data, std::size_t size, io_handler done) = 0;
    /// Ends the connection gracefully (TLS close_notify, then FIN) and closes it; `done` once finished.
    virtual void shutdown(std::function<void()> done) = 0;
    /// Closes the connection at once; pending operations complete with an error.
    virtual void close() noexcept = 0;
};

} // namespace rtmsg

namespace std {
template <>
struct is_error_code_enum<rtmsg::foreign_error> : true_type {
};
} // namespace std
