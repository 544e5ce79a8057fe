#pragma once
// rtmsg::test::stream: an in-memory, connected pair of Asio streams for tests (ours and
// yours).  It satisfies rtmsg::async_stream, can cap the bytes each read delivers
// (read_size) so that every split of the input is exercised, and can fail the Nth
// operation (fail_count) so that every error path is exercised.
#include <rtmsg/config.hpp>
#include <rtmsg/transport/stream.hpp>
#include <rtmsg/transport/teardown.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace rtmsg::test {

/// The error an injected failure reports.
inline std::error_code injected_error()
{
    return std::make_error_code(std::errc::io_error);
}

/// Counts operations and fails the Nth one (0-based) with injected_error().  Share one
/// between both ends of a pair to fail "the Nth operation on the connection".
class fail_count {
public:
    /// Fails operation `n` (0-based); the operations before it succeed.
    explicit fail_count(std::size_t n) noexcept : n_(n) {}
    /// Returns true (and sets ec) if this operation is the one that fails.
    bool fail(std::error_code& ec) noexcept
    {
        if (i_ < n_) {
            ++i_;
            return false;
        }
        ec = injected_error();
        return true;
    }

private:
    std::size_t n_;
    std::size_t i_ = 0;
};

namespace detail {
/// A move-only, type-erased completion handler for a single pending read.
class pending_read {
public:
    pending_read() = default;
    /// `io_ex`: the stream's executor, where a handler without an executor of its own runs.
    template <class Handler>
    pending_read(Handler&& h, asio::any_io_executor const& io_ex)
        : p_(std::make_unique<model<std::decay_t<Handler>>>(std::forward<Handler>(h), io_ex))
    {
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    void operator()(std::error_code ec, std::size_t n)
    {
        auto p = std::move(p_);
        p->invoke(ec, n);
    }
    asio::mutable_buffer buffer;

private:
    struct base {
        virtual ~base() = default;
        virtual void invoke(std::error_code, std::size_t) = 0;
    };
    template <class Handler>
    struct model final : base {
        model(Handler h, asio::any_io_executor const& io_ex)
            : handler(std::move(h)), work(asio::make_work_guard(asio::get_associated_executor(handler, io_ex)))
        {
        }
        void invoke(std::error_code ec, std::size_t n) override
        {
            auto ex = work.get_executor();
            asio::post(ex, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
        }
        Handler handler;
        asio::executor_work_guard<asio::associated_executor_t<Handler, asio::any_io_executor>> work;
    };
    std::unique_ptr<base> p_;
};

struct endpoint_state {
    std::string inbox; ///< bytes written by the peer, not yet read
    pending_read reader;
    bool closed = false;      ///< this end was closed
    bool peer_closed = false; ///< the peer closed: reads drain the inbox, then see eof
    std::size_t read_size = std::numeric_limits<std::size_t>::max();
    std::size_t write_size = std::numeric_limits<std::size_t>::max();
    fail_count* fc = nullptr;
};

struct pair_state {
    endpoint_state end[2];
};
} // namespace detail

/** One end of an in-memory connection.

    @par Example
    @code
    asio::io_context ioc;
    auto [client, server] = rtmsg::test::make_pair(ioc.get_executor());
    server.read_size(1);  // every read delivers one byte
    @endcode

    @par Thread safety  Distinct objects: Safe. Shared objects: Unsafe.  Both ends of a pair
    must be used from one thread (or one strand), as in a single-threaded test.
*/
class stream {
public:
    /// The executor the stream's completions run on.
    using executor_type = asio::any_io_executor;

    /// One end (`side` 0 or 1) of the pair state `s`; use make_pair() instead.
    stream(executor_type ex, std::shared_ptr<detail::pair_state> s, int side)
        : ex_(std::move(ex)), state_(std::move(s)), side_(side)
    {
    }
    /// Moves the end; the moved-from object must not be used again.
    stream(stream&&) noexcept = default;
    /// Moves the end; the moved-from object must not be used again.
    stream& operator=(stream&&) noexcept = default;
    ~stream()
    {
        if (state_) close();
    }

    /// The stream's executor.
    executor_type get_executor() const noexcept { return ex_; }

    /// Each read delivers at most n bytes.
    void read_size(std::size_t n) noexcept { self().read_size = n; }
    /// Each write accepts at most n bytes.
    void write_size(std::size_t n) noexcept { self().write_size = n; }
    /// Operations on this end count against fc (which must outlive the stream).
    void set_fail_count(fail_count& fc) noexcept { self().fc = &fc; }

    /// Bytes written by this end that the peer has not read yet.
    std::string_view pending_output() const noexcept { return state_->end[1 - side_].inbox; }
    /// Bytes written by the peer that this end has not read yet.
    std::string_view pending_input() const noexcept { return state_->end[side_].inbox; }
    /// Removes and returns the bytes written by the peer that this end has not read yet.
    std::string take_input()
    {
        std::string s = std::move(self().inbox);
        self().inbox.clear();
        return s;
    }

    /// Appends bytes as if the peer had written them.
    void append(std::string_view bytes)
    {
        self().inbox.append(bytes);
        deliver(self());
    }

    /// True until this end is closed.
    bool is_open() const noexcept { return state_ && !state_->end[side_].closed; }

    /// Closes this end: the peer's reads see eof after the bytes already written.
    void close(std::error_code& ec) noexcept
    {
        ec = {};
        close();
    }
    /// Closes this end: the peer's reads see eof after the bytes already written.
    void close() noexcept
    {
        auto& me = self();
        if (me.closed) return;
        me.closed = true;
        if (me.reader) me.reader(asio::error::operation_aborted, 0);
        auto& peer = state_->end[1 - side_];
        peer.peer_closed = true;
        deliver(peer);
    }

    template <class MutableBufferSequence, class ReadToken>
    /// Reads what the peer wrote (at most read_size() bytes per read); AsyncReadStream's requirement.
    auto async_read_some(MutableBufferSequence const& buffers, ReadToken&& token)
    {
        return asio::async_initiate<ReadToken, void(std::error_code, std::size_t)>(
            [this](auto handler, asio::mutable_buffer b) {
                auto& me = self();
                std::error_code ec;
                if (me.closed)
                    ec = asio::error::bad_descriptor;
                else if (me.fc && me.fc->fail(ec)) {
                }
                if (ec) {
                    auto ex = asio::get_associated_executor(handler, ex_);
                    asio::post(ex, [h = std::move(handler), ec]() mutable { h(ec, 0); });
                    return;
                }
                RTMSG_ASSERT(!me.reader && "rtmsg::test::stream: only one read may be pending");
                me.reader = detail::pending_read(std::move(handler), ex_);
                me.reader.buffer = b;
                deliver(me);
            },
            token, first_buffer(buffers));
    }

    template <class ConstBufferSequence, class WriteToken>
    /// Writes to the peer (fails as fail_count says); AsyncWriteStream's requirement.
    auto async_write_some(ConstBufferSequence const& buffers, WriteToken&& token)
    {
        return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
            [this](auto handler, ConstBufferSequence const& bufs) {
                auto& me = self();
                auto& peer = state_->end[1 - side_];
                std::error_code ec;
                std::size_t n = 0;
                if (me.closed)
                    ec = asio::error::bad_descriptor;
                else if (me.fc && me.fc->fail(ec)) {
                }
                else if (peer.closed)
                    ec = asio::error::broken_pipe;
                else {
                    for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it) {
                        asio::const_buffer b(*it);
                        auto take = std::min(b.size(), me.write_size - n);
                        peer.inbox.append(static_cast<char const*>(b.data()), take);
                        n += take;
                        if (n == me.write_size) break;
                    }
                    deliver(peer);
                }
                auto ex = asio::get_associated_executor(handler, ex_);
                asio::post(ex, [h = std::move(handler), ec, n]() mutable { h(ec, n); });
            },
            token, buffers);
    }

private:
    template <class Buffers>
    static asio::mutable_buffer first_buffer(Buffers const& bufs)
    {
        for (auto it = asio::buffer_sequence_begin(bufs); it != asio::buffer_sequence_end(bufs); ++it)
            if (asio::mutable_buffer(*it).size() != 0) return asio::mutable_buffer(*it);
        return {};
    }

    static void deliver(detail::endpoint_state& e)
    {
        if (!e.reader) return;
        if (!e.inbox.empty()) {
            auto n = std::min({e.inbox.size(), e.reader.buffer.size(), e.read_size});
            std::copy_n(e.inbox.data(), n, static_cast<char*>(e.reader.buffer.data()));
            e.inbox.erase(0, n);
            e.reader({}, n);
        }
        else if (e.peer_closed) {
            e.reader(asio::error::eof, 0);
        }
    }

    detail::endpoint_state& self() const noexcept { return state_->end[side_]; }

    executor_type ex_;
    std::shared_ptr<detail::pair_state> state_;
    int side_ = 0;
};

/// Creates a connected pair of test streams: what one writes, the other reads.
inline std::pair<stream, stream> make_pair(asio::any_io_executor ex)
{
    auto s = std::make_shared<detail::pair_state>();
    return {stream(ex, s, 0), stream(ex, s, 1)};
}

namespace detail {
struct test_teardown_op {
    stream& s;
    bool posted = false;
    template <class Self>
    void operator()(Self& self)
    {
        if (!posted) {
            // Complete through the executor, never inside the initiating call.
            posted = true;
            s.close();
            asio::post(s.get_executor(), std::move(self));
            return;
        }
        self.complete(std::error_code{});
    }
};
} // namespace detail

/// Teardown for the test stream: close at once.
template <class CompletionToken>
auto async_teardown(role_type, stream& s, CompletionToken&& token)
{
    return asio::async_compose<CompletionToken, void(std::error_code)>(detail::test_teardown_op{s}, token,
                                                                       s.get_executor());
}

static_assert(async_stream<stream>, "rtmsg::test::stream must model rtmsg::async_stream");

} // namespace rtmsg::test
