#pragma once
// A type-checked any_io_executor::target().
#include <asio/any_io_executor.hpp>

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

} // namespace rtmsg::detail
