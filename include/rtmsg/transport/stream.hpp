#pragma once
// The stream policy: Asio's AsyncReadStream / AsyncWriteStream requirements as concepts.
// Anything that satisfies rtmsg::async_stream can carry WebSocket and SSE:
// asio::ip::tcp::socket, asio::ssl::stream<tcp::socket>, rtmsg::test::stream.
#include <rtmsg/config.hpp>

#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/socket_base.hpp>

#include <concepts>
#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

namespace rtmsg {

namespace detail {
/// A handler of the signature every stream operation completes with; used only in concepts.
struct io_handler_archetype {
    void operator()(std::error_code, std::size_t) {}
};

/// An I/O object's executor: an `executor_type` and a `get_executor()` that returns one.
template <class S>
concept io_object = requires(S& s)
{
    typename S::executor_type;
    {
        s.get_executor()
        } -> std::convertible_to<typename S::executor_type>;
};
} // namespace detail

/// An Asio AsyncReadStream.  If your type fails this check, give it an `executor_type`, a
/// `get_executor()` and an `async_read_some(mutable_buffer, handler)`, as asio::ip::tcp::socket has.
template <class S>
concept async_read_stream = detail::io_object<S> && requires(S& s, asio::mutable_buffer b)
{
    s.async_read_some(b, detail::io_handler_archetype{});
};

/// An Asio AsyncWriteStream: `executor_type`, `get_executor()`, `async_write_some(const_buffer, handler)`.
template <class S>
concept async_write_stream = detail::io_object<S> && requires(S& s, asio::const_buffer b)
{
    s.async_write_some(b, detail::io_handler_archetype{});
};

/// A stream rtmsg can run a protocol over: both an AsyncReadStream and an AsyncWriteStream.
template <class S>
concept async_stream = async_read_stream<S> && async_write_stream<S>;

/// The layer at the bottom of a stack of streams (ssl::stream<tcp::socket> -> tcp::socket).
template <class S>
decltype(auto) lowest_layer(S& s) noexcept
{
    if constexpr (requires { s.next_layer(); })
        return rtmsg::lowest_layer(s.next_layer());
    else
        return (s);
}

/// Closes the bottom layer at once, without any closing handshake (used for dead peers and
/// time-outs).  Errors are ignored: the goal is only to release the connection.
template <class S>
void close_now(S& s) noexcept
{
    std::error_code ignored;
    auto& low = rtmsg::lowest_layer(s);
    if constexpr (requires { low.shutdown(asio::socket_base::shutdown_both, ignored); })
        low.shutdown(asio::socket_base::shutdown_both, ignored);
    low.close(ignored);
}

namespace detail {
/// Plain sockets can wait for readability and then read into a buffer owned by the I/O
/// thread, so an idle connection holds no read buffer (see websocket::stream).
template <class S>
concept waitable_socket = requires(S& s, std::error_code& ec, asio::mutable_buffer b)
{
    s.async_wait(asio::socket_base::wait_read, [](std::error_code) {});
    {
        s.read_some(b, ec)
        } -> std::convertible_to<std::size_t>;
    {
        s.write_some(asio::const_buffer(b), ec)
        } -> std::convertible_to<std::size_t>;
    s.non_blocking(true, ec);
    {
        s.non_blocking()
        } -> std::convertible_to<bool>;
};

/** An allocator that asks the heap (std::allocator) for exactly the bytes requested.
    Asio's default recycles operation blocks per thread and hands out any cached block that
    is large enough; the readiness wait that an idle connection keeps pending then sits, for
    as long as the connection is idle, in whatever block was cached last (on a server that
    accepts, usually a 272-byte accept operation).  Bound to that one wait
    (asio::bind_allocator), it takes only its own size, and the cached block stays for the
    next accept. */
template <class T>
struct exact_allocator {
    using value_type = T;
    exact_allocator() noexcept = default;
    template <class U>
    exact_allocator(exact_allocator<U> const&) noexcept
    {
    }
    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
    template <class U>
    bool operator==(exact_allocator<U> const&) const noexcept
    {
        return true;
    }
};

/** A `std::function<void()>` that costs one pointer while no callback was ever set: most
    streams never get a drained or idle callback, and each would otherwise carry 32 bytes
    for it.  Once set, the function stays allocated (take() leaves it empty), so a producer
    that sets it again and again does not allocate each time. */
class callback_box {
public:
    explicit operator bool() const noexcept { return f_ && *f_; }
    template <class F>
    requires std::is_constructible_v<std::function<void()>, F &&> callback_box& operator=(F&& f)
    {
        if (f_)
            *f_ = std::forward<F>(f);
        else
            f_ = std::make_unique<std::function<void()>>(std::forward<F>(f));
        return *this;
    }
    /// Moves the callback out, leaving this empty.
    std::function<void()> take() noexcept
    {
        if (!f_) return {};
        auto f = std::move(*f_);
        *f_ = nullptr;
        return f;
    }

private:
    std::unique_ptr<std::function<void()>> f_;
};

/// One default-constructed `Options` per program, shared by every stream that was given no
/// options of its own (streams hold their options by `shared_ptr`, see set_options).
template <class Options>
std::shared_ptr<Options const> const& shared_default_options()
{
    static std::shared_ptr<Options const> const d = std::make_shared<Options const>();
    return d;
}

/** Reads what the socket holds now, never waiting for more: the socket is put in
    non-blocking mode first (once).  After a readiness wait a plain read_some would block
    when the report is stale or the input was exactly one buffer long, stalling every
    connection of the thread; this one reports would_block instead. */
template <waitable_socket S>
std::size_t read_now(S& s, asio::mutable_buffer b, std::error_code& ec)
{
    if (!s.non_blocking()) {
        s.non_blocking(true, ec);
        if (ec) return 0;
    }
    return s.read_some(b, ec);
}

/** Writes `bufs` with one non-blocking send, never waiting (the socket is put in non-blocking
    mode first, once).  Returns true when all of it went out; otherwise `bufs` keeps what is
    left, for an asynchronous write.  would_block, or an error, writes nothing: the
    asynchronous write then waits, or reports the error. */
template <waitable_socket S>
bool write_now(S& s, std::vector<asio::const_buffer>& bufs)
{
    std::error_code ec;
    if (!s.non_blocking()) {
        s.non_blocking(true, ec);
        if (ec) return false;
    }
    auto n = s.write_some(bufs, ec);
    if (ec) return false;
    std::size_t i = 0;
    while (i < bufs.size() && n >= bufs[i].size()) n -= bufs[i++].size();
    if (i == bufs.size()) return true;
    bufs.erase(bufs.begin(), bufs.begin() + static_cast<std::ptrdiff_t>(i));
    bufs.front() += n;
    return false;
}
} // namespace detail

} // namespace rtmsg
