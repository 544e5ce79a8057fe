#pragma once
// rtmsg::sse::stream: a Server-Sent Events response over any Asio stream.
#include <rtmsg/config.hpp>
#include <rtmsg/error.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/sse/event.hpp>
#include <rtmsg/sse/option.hpp>
#include <rtmsg/transport/stream.hpp>
#include <rtmsg/transport/teardown.hpp>
#include <rtmsg/transport/ticker.hpp>
#include <rtmsg/transport/send_status.hpp>
#include <rtmsg/transport/write_queue.hpp>
#include <rtmsg/detail/executor.hpp>

#include <asio/async_result.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/compose.hpp>
#include <asio/dispatch.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace rtmsg::sse {

using rtmsg::send_status;

/// The id a reconnecting client asks to resume after: the `Last-Event-ID` header, or the
/// `lastEventId` query parameter for clients that cannot set headers.
inline std::optional<std::string> last_event_id(http::request const& req)
{
    if (auto h = req.headers.find("Last-Event-ID")) return std::string(*h);
    return req.query_param("lastEventId");
}

namespace detail {

template <class NextLayer>
class stream_impl final : public std::enable_shared_from_this<stream_impl<NextLayer>>,
                          public rtmsg::detail::tick_entry,
                          public transport::write_queue<stream_impl<NextLayer>, std::shared_ptr<std::string const>> {
public:
    using clock = std::chrono::steady_clock;
    using executor_type = typename NextLayer::executor_type;
    using frame = std::shared_ptr<std::string const>;
    using write_queue = transport::write_queue<stream_impl<NextLayer>, frame>;
    using typename write_queue::batches_type;
    using write_queue::closed;

    template <class... Args>
    explicit stream_impl(Args&&... args)
        : next(std::forward<Args>(args)...), opt(rtmsg::detail::shared_default_options<options>())
    {
    }
    ~stream_impl() { rtmsg::detail::tick_service::leave(*this); }
    stream_impl(stream_impl const&) = delete;
    stream_impl& operator=(stream_impl const&) = delete;

    NextLayer next;
    std::shared_ptr<options const> opt; ///< shared, not copied (a server's streams share their route's)
    /// Heartbeats tick in the execution context's shared tick_service (no timer of its own
    /// while open); this timer exists only once end() needs it.
    using timer_type = asio::basic_waitable_timer<clock, asio::wait_traits<clock>, executor_type>;
    std::unique_ptr<timer_type> close_timer;
    /// The write queue's frames: made by the first write, given back by a heartbeat tick that
    /// finds nothing queued or in flight, so an idle stream holds one pointer instead of them.
    std::unique_ptr<batches_type> wq;
    bool started = false; ///< headers written
    bool ending = false;
    clock::time_point last_write = clock::now();
    std::function<void(std::error_code)> on_close;
    std::unique_ptr<std::array<char, 64>> discard; ///< read target of streams that cannot wait for readability

    // ---- the write queue's hooks (transport::write_queue) ------------------------------

    batches_type* batches() const noexcept { return wq.get(); }
    batches_type& make_batches()
    {
        if (!wq) wq = std::make_unique<batches_type>();
        return *wq;
    }
    static void gather(frame const& f, std::vector<asio::const_buffer>& bufs) { bufs.push_back(asio::buffer(*f)); }
    static std::size_t bytes_of(frame const& f) noexcept { return f->size(); }
    bool may_write() const noexcept { return started; } ///< the response head goes first
    bool ending_after_write() const noexcept { return ending; }
    bool may_run_idle() const noexcept { return !closed && !ending; }
    void written(std::span<frame>, std::error_code ec)
    {
        last_write = clock::now();
        if (ec) fail(ec);
    }
    void queue_empty()
    {
        if (ending) return teardown();
        this->run_idle();
    }
    void end_after_idle() { end(); }

    /// Queues one frame (its bytes already counted) and writes.
    void push(frame bytes)
    {
        make_batches().queued.push_back(std::move(bytes));
        this->pump();
    }

    void end_when_idle()
    {
        if (ending || closed) return;
        if (!this->defer_end_until_idle()) end();
    }

    /// Notices a client that went away: it sends nothing after its request, so any
    /// readable event is EOF, a reset, or bytes we ignore.
    /// Travels with the pending read.  If that read is destroyed without completing (the
    /// io_context is destroyed while the stream is open), it drops the close and idle
    /// handlers, which may own the stream's owner: nothing is left in a reference cycle.
    /// Held by value in the pending operation's handler (no allocation of its own); a move
    /// empties the source, so only the last holder acts.
    struct watch_guard {
        std::weak_ptr<stream_impl> w;
        explicit watch_guard(std::weak_ptr<stream_impl> p) noexcept : w(std::move(p)) {}
        watch_guard(watch_guard&&) noexcept = default;
        watch_guard(watch_guard const&) = delete;
        watch_guard& operator=(watch_guard const&) = delete;
        watch_guard& operator=(watch_guard&&) = delete;
        ~watch_guard()
        {
            auto self = w.lock();
            if (!self || self->closed) return;
            auto close_handler = std::move(self->on_close);
            auto idle_handler = self->idle.take();
            self->on_close = nullptr;
        }
    };

    void watch() { watch(watch_guard(this->weak_from_this())); }

    void watch(watch_guard guard)
    {
        if (closed) return;
        if constexpr (rtmsg::detail::waitable_socket<NextLayer>) {
            // Pending for as long as the stream lives: sized exactly (see exact_allocator).
            next.async_wait(
                asio::socket_base::wait_read,
                asio::bind_allocator(
                    rtmsg::detail::exact_allocator<void>{},
                    [self = this->shared_from_this(), guard = std::move(guard)](std::error_code ec) mutable {
                        if (ec) return self->fail(ec);
                        std::error_code rec;
                        char scratch[256]; // what a client sends on an event stream is read and dropped
                        auto n = rtmsg::detail::read_now(self->next, asio::buffer(scratch), rec);
                        if (rec == asio::error::would_block || rec == asio::error::try_again || (!rec && n > 0))
                            return self->watch(std::move(guard));
                        self->fail(rec ? rec : make_error_code(asio::error::eof));
                    }));
        }
        else {
            if (!discard) discard = std::make_unique<std::array<char, 64>>();
            next.async_read_some(asio::buffer(*discard), [self = this->shared_from_this(), guard = std::move(guard)](
                                                             std::error_code ec, std::size_t) mutable {
                if (ec) return self->fail(ec);
                self->watch(std::move(guard));
            });
        }
    }

    void arm_heartbeat()
    {
        if (opt->heartbeat.count() == 0 || closed || ending) return;
        rtmsg::detail::tick_service::join(next.get_executor(), *this, opt->heartbeat);
    }

    /// The shared ticker's thread, under its lock: only hands the check to our executor.
    std::shared_ptr<void> on_tick() override
    {
        auto self = this->weak_from_this().lock();
        if (self) asio::post(next.get_executor(), [self] { self->on_heartbeat(); });
        return self;
    }

    void on_heartbeat()
    {
        if (closed || ending) return;
        // Only when nothing else went out for a while: events keep the stream alive too.
        if (clock::now() - last_write >= opt->heartbeat / 2 && this->quiet()) {
            auto s = std::make_shared<std::string>();
            format_comment(*s);
            this->queued_bytes += s->size();
            push(std::move(s));
        }
        if (this->quiet()) wq.reset(); // the next write makes them again
    }

    /// Flushes what is queued, then ends the response (FIN, or TLS close_notify first).
    void end()
    {
        this->closing = true;
        if (ending || closed) return;
        ending = true;
        rtmsg::detail::tick_service::leave(*this);
        if (!close_timer) close_timer = std::make_unique<timer_type>(next.get_executor());
        close_timer->expires_after(opt->close_timeout);
        close_timer->async_wait([w = this->weak_from_this()](std::error_code ec) {
            if (ec) return;
            if (auto self = w.lock()) self->fail(make_error_code(rtmsg::error::timeout));
        });
        // Before the head is written (close() in on_open), accept_op ends it after the head.
        if (started && this->quiet()) teardown();
    }

    void teardown()
    {
        async_teardown(role_type::server, next, [self = this->shared_from_this()](std::error_code) { self->fail({}); });
    }

    void fail(std::error_code ec)
    {
        this->closing = true;
        if (closed) return;
        closed = true;
        rtmsg::close_now(next);
        rtmsg::detail::tick_service::leave(*this);
        if (close_timer) close_timer->cancel();
        this->drop_queued();
        if (on_close) {
            auto f = std::move(on_close);
            on_close = nullptr;
            f(ec);
        }
    }
};

template <class NextLayer>
struct accept_op {
    std::shared_ptr<stream_impl<NextLayer>> impl;
    std::shared_ptr<std::string> head;
    /// Breaks the close handler's cycle if this operation is destroyed before the head is
    /// written (its io_context destroyed meanwhile); handed on to the read that watches the
    /// client once it is.
    typename stream_impl<NextLayer>::watch_guard guard{impl};
    bool started = false;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, std::size_t = 0)
    {
        auto& s = *impl;
        if (!started) {
            started = true;
            asio::async_write(s.next, asio::buffer(*head), std::move(self));
            return;
        }
        if (ec) {
            s.fail(ec);
            return self.complete(ec);
        }
        s.started = true;
        s.last_write = stream_impl<NextLayer>::clock::now();
        s.watch(std::move(guard));
        s.arm_heartbeat();
        bool const end_now = s.ending && s.nothing_queued(); // close() came before the head left
        s.pump();
        if (end_now) s.teardown();
        self.complete({});
    }
};

} // namespace detail

/** A Server-Sent Events stream (WHATWG HTML §9.2) over `NextLayer`: plain TCP, TLS
    (include <rtmsg/transport/ssl.hpp>) or rtmsg::test::stream.

    async_accept() answers the request with `200`, `Content-Type: text/event-stream`,
    `Cache-Control: no-cache` and `X-Accel-Buffering: no` (so nginx does not buffer); the
    body then runs until the connection closes.  Events are queued with send() (formatted
    with format_event: multi-line data cannot inject fields or events) or send_frame()
    (preformatted bytes shared between streams).  Comment heartbeats keep idle streams
    alive.  A client that disconnects is noticed at once: the stream keeps a read pending
    (clients send nothing after their request) and calls the close handler.

    @par Thread safety  send(), send_frame() and close() may be called from any thread;
    everything else on the stream's executor (use a strand on multi-threaded io_contexts).
*/
template <async_stream NextLayer>
class stream {
public:
    /// The stream this one writes to (a TCP socket, a TLS stream, a test stream).
    using next_layer_type = NextLayer;
    /// The executor of the next layer.
    using executor_type = typename NextLayer::executor_type;

    template <class... Args>
    /// Constructs the next layer from `args`.
    explicit stream(Args&&... args)
        : impl_(std::make_shared<detail::stream_impl<NextLayer>>(std::forward<Args>(args)...))
    {
    }
    /// Moves the stream; the moved-from object must not be used again.
    stream(stream&&) noexcept = default;
    /// Moves the stream; the moved-from object must not be used again.
    stream& operator=(stream&&) noexcept = default;
    ~stream()
    {
        if (impl_ && !impl_->closed) {
            auto impl = impl_;
            asio::dispatch(impl->next.get_executor(), [impl] { impl->fail({}); });
        }
    }

    /// The executor of the next layer.
    executor_type get_executor() const noexcept { return impl_->next.get_executor(); }
    /// The stream underneath.
    next_layer_type& next_layer() noexcept { return impl_->next; }
    /// Replaces the settings (heartbeat, retry, queue bounds) of this stream.
    void set_options(options const& o) { impl_->opt = std::make_shared<options const>(o); }
    /// The same, sharing `o` with other streams instead of copying it (null: the defaults).
    void set_options(std::shared_ptr<options const> o)
    {
        impl_->opt = o ? std::move(o) : rtmsg::detail::shared_default_options<options>();
    }
    /// The current settings.
    options const& get_options() const noexcept { return *impl_->opt; }
    /// True until the stream is closed or fails.
    bool is_open() const noexcept { return impl_ && !impl_->closed; }

    /// Called once, on the stream's executor, when the stream ends (client gone, error, or
    /// after close()).  Set before async_accept.
    void set_close_handler(std::function<void(std::error_code)> f) { impl_->on_close = std::move(f); }

    /** Writes the response head and starts heartbeats.
        @par Completion signature  `void(std::error_code ec)` */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_accept(CompletionToken&& token = CompletionToken{})
    {
        auto head = std::make_shared<std::string>("HTTP/1.1 200 OK\r\n"
                                                  "Content-Type: text/event-stream\r\n"
                                                  "Cache-Control: no-cache\r\n"
                                                  "X-Accel-Buffering: no\r\n"
                                                  "Connection: close\r\n\r\n");
        if (impl_->opt->retry != 0) {
            event ev;
            ev.retry = impl_->opt->retry;
            head->append("retry: ").append(std::to_string(ev.retry)).append("\n\n");
        }
        return asio::async_compose<CompletionToken, void(std::error_code)>(
            detail::accept_op<NextLayer>{impl_, std::move(head)}, token, impl_->next);
    }

    /// Queues an event (formatted and copied).  Safe from any thread.
    send_status send(event const& ev)
    {
        auto s = std::make_shared<std::string>();
        format_event(*s, ev);
        return send_frame(std::move(s));
    }

    /// Queues preformatted event-stream bytes, shared and not copied.  Safe from any thread.
    /// An SSE stream has no soft limit: it reports `queued` or, at the hard limit, `dropped`.
    send_status send_frame(std::shared_ptr<std::string const> bytes)
    {
        auto const size = bytes->size();
        return impl_->submit(size, limits(), [bytes = std::move(bytes)](auto& s) mutable { s.push(std::move(bytes)); });
    }

    /// Queues several preformatted events (moved from `frames`), in order, to leave in one
    /// gathered write.  At the hard limit the rest is dropped.  Safe from any thread.
    send_status send_frames(std::span<std::shared_ptr<std::string const>> frames)
    {
        return impl_->submit_all(frames, limits(), [](auto& s, std::shared_ptr<std::string const> b, std::size_t) {
            s.make_batches().queued.push_back(std::move(b));
        });
    }

    /// Calls `f()` on the executor once nothing is queued or in flight.  Call on the executor.
    template <class F>
    void on_idle(F&& f)
    {
        impl_->wait_idle(std::forward<F>(f));
    }

    /** Like close(), but lets a producer that waits in on_idle() hand over the rest of its
        own queue first: the stream ends once the idle callback runs without registering
        itself again.  Posted, so work already posted to the executor comes first.
        http::server::stop() ends streams this way.  Safe from any thread. */
    void close_after_idle()
    {
        asio::post(impl_->next.get_executor(), [impl = impl_] { impl->end_when_idle(); });
    }

    /// Flushes the queue and ends the stream.  Safe from any thread.
    void close()
    {
        asio::dispatch(impl_->next.get_executor(), [impl = impl_] { impl->end(); });
    }

    /// Bytes queued and not yet written.
    std::size_t queued_bytes() const noexcept { return impl_->queued_bytes.load(std::memory_order_relaxed); }

private:
    transport::queue_limits limits() const noexcept
    {
        transport::queue_limits l;
        l.hard = impl_->opt->send_queue_hard_limit;
        return l;
    }

    std::shared_ptr<detail::stream_impl<NextLayer>> impl_;
};

} // namespace rtmsg::sse
