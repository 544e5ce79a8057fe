#pragma once
// rtmsg::foreign_stream: an rtmsg::async_stream over a foreign_io, a connection that another
// I/O library owns (see <rtmsg/transport/foreign_io.hpp>).
#include <rtmsg/transport/foreign_io.hpp>
#include <rtmsg/transport/stream.hpp>
#include <rtmsg/transport/teardown.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>

#include <memory>
#include <utility>

namespace rtmsg {

/** Runs rtmsg (http::server::serve, websocket::stream, ...) over a connection of another I/O
    library: each read and write goes to the foreign_io, and its completion is posted to this
    stream's executor, on which rtmsg's handlers run.

    The executor must not run two of its handlers at once: a strand, or an io_context run by
    one thread.  Reads and writes take the first non-empty buffer of a sequence (as
    `read_some`/`write_some` may), so a gathered write costs one call per buffer.

    @par Thread safety  Distinct objects: Safe.  Shared objects: Unsafe.
*/
class foreign_stream {
public:
    /// Where the completions run.
    using executor_type = asio::any_io_executor;

    /// Runs over `io`; completions run on `ex`.
    foreign_stream(std::shared_ptr<foreign_io> io, asio::any_io_executor ex) : io_(std::move(io)), ex_(std::move(ex)) {}

    /// The executor completions run on.
    executor_type get_executor() const noexcept { return ex_; }
    /// The foreign connection.
    foreign_io& io() const noexcept { return *io_; }

    /// AsyncReadStream: reads some bytes.  Completion: `void(std::error_code, std::size_t)`.
    template <class MutableBufferSequence, class ReadHandler>
    auto async_read_some(MutableBufferSequence const& buffers, ReadHandler&& handler)
    {
        auto const b = first(buffers, asio::mutable_buffer{});
        return start(b.data(), b.size(), true, std::forward<ReadHandler>(handler));
    }

    /// AsyncWriteStream: writes some bytes.  Completion: `void(std::error_code, std::size_t)`.
    template <class ConstBufferSequence, class WriteHandler>
    auto async_write_some(ConstBufferSequence const& buffers, WriteHandler&& handler)
    {
        auto const b = first(buffers, asio::const_buffer{});
        return start(const_cast<void*>(b.data()), b.size(), false, std::forward<WriteHandler>(handler));
    }

    /// Closes the connection at once (rtmsg::close_now).
    void close(std::error_code& ec) noexcept
    {
        ec = {};
        open_ = false;
        io_->close();
    }
    /// False once close() was called.
    bool is_open() const noexcept { return open_; }

    /// Asio's error for a foreign_io's: end of stream and cancellation become error::eof and
    /// error::operation_aborted; system errors stay; anything else is a reset connection.
    static std::error_code to_asio(std::error_code ec) noexcept
    {
        if (!ec || ec.category() == std::system_category()) return ec;
        if (ec == foreign_error::eof) return asio::error::eof;
        if (ec == foreign_error::aborted) return asio::error::operation_aborted;
        return asio::error::connection_reset;
    }

private:
    template <class Buffers, class Buffer>
    static Buffer first(Buffers const& buffers, Buffer none)
    {
        for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it)
            if (it->size() != 0) return Buffer(*it);
        return none;
    }

    template <class Handler>
    auto start(void* data, std::size_t size, bool read, Handler&& handler)
    {
        return asio::async_initiate<Handler, void(std::error_code, std::size_t)>(
            [](auto h, std::shared_ptr<foreign_io> io, asio::any_io_executor ex, void* data, std::size_t size,
               bool read) {
                auto work = asio::make_work_guard(asio::get_associated_executor(h, ex));
                if (size == 0) {
                    // Nothing to transfer: complete at once, as Asio does.
                    return asio::post(work.get_executor(), [h = std::move(h)]() mutable { h(std::error_code{}, 0); });
                }
                // foreign_io takes a copyable std::function: the handler moves into shared state.
                auto state = std::make_shared<std::pair<decltype(h), decltype(work)>>(std::move(h), std::move(work));
                foreign_io::io_handler done = [state](std::error_code ec, std::size_t n) {
                    auto ex = state->second.get_executor();
                    asio::post(ex, [state, ec = to_asio(ec), n] { std::move(state->first)(ec, n); });
                };
                if (read)
                    io->read_some(data, size, std::move(done));
                else
                    io->write_some(data, size, std::move(done));
            },
            handler, io_, ex_, data, size, read);
    }

    std::shared_ptr<foreign_io> io_;
    asio::any_io_executor ex_;
    bool open_ = true;
};

/// rtmsg's teardown for a foreign_stream: foreign_io::shutdown.
template <class CompletionToken>
auto async_teardown(role_type, foreign_stream& stream, CompletionToken&& token)
{
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [](auto h, foreign_stream* s) {
            auto work = asio::make_work_guard(asio::get_associated_executor(h, s->get_executor()));
            auto state = std::make_shared<std::pair<decltype(h), decltype(work)>>(std::move(h), std::move(work));
            s->io().shutdown([state] {
                auto ex = state->second.get_executor();
                asio::post(ex, [state] { std::move(state->first)(std::error_code{}); });
            });
        },
        token, &stream);
}

} // namespace rtmsg
