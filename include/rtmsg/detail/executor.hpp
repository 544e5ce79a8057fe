#pragma once
// Executor and write helpers shared by the streams (WebSocket, SSE): a type-checked
// any_io_executor::target(), runs_inline(), large_transfers().
#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>
#include <asio/strand.hpp>

#include <cstddef>
#include <system_error>
#include <type_traits>

#include <typeinfo>

namespace rtmsg::detail {

/** The executor of type `T` inside `ex`, or nullptr if `ex` holds another type.

    Asio 1.22 (Debian 12) does not compare the type in any_executor::target<T>(): it casts
    whatever `ex` holds to `T`, so asking an io_context executor whether it is a strand
    "succeeds" and reads past the object.  Newer Asio checks; this helper checks on both. */
template <class T>
T const* executor_target(asio::any_io_executor const& ex) noexcept
{
    if (ex.target_type() != typeid(T)) return nullptr;
    return ex.template target<T>();
}

/** Completion condition of our writes: all of it, as transfer_all, but up to 4 MiB per
    write_some rather than Asio's default 64 KiB, so that a 64 KiB message (or a gathered
    batch just over 64 KiB) is one sendmsg, not a 64 KiB one and a separate tiny tail. */
inline std::size_t large_transfers(std::error_code const& ec, std::size_t) noexcept
{
    return ec ? 0 : std::size_t(4) << 20;
}

/** True if asio::dispatch(ex, f) would run f inline here: the caller already runs on `ex`
    (its strand, or a thread of its io_context).  Lets send() skip wrapping every message in
    a type-erased function object in the common case, a handler sending on its own connection.
    False when unsure (other executor types): then the caller dispatches. */
template <class Executor>
bool runs_inline(Executor const& ex) noexcept
{
    if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
        using io_ex = asio::io_context::executor_type;
        if (auto const* s = executor_target<asio::strand<io_ex>>(ex)) return s->running_in_this_thread();
        if (auto const* s = executor_target<asio::strand<asio::any_io_executor>>(ex))
            return s->running_in_this_thread();
        if (auto const* e = executor_target<io_ex>(ex)) return e->running_in_this_thread();
        return false;
    }
    else if constexpr (std::is_same_v<Executor, asio::io_context::executor_type> ||
                       std::is_same_v<Executor, asio::strand<asio::io_context::executor_type>>)
        return ex.running_in_this_thread();
    else
        return false;
}

} // namespace rtmsg::detail
