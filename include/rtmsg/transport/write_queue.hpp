#pragma once
// rtmsg::transport::write_queue: the write side that websocket::stream and sse::stream share.
#include <rtmsg/config.hpp>
#include <rtmsg/detail/executor.hpp>
#include <rtmsg/transport/send_status.hpp>
#include <rtmsg/transport/stream.hpp>

#include <asio/buffer.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <cstddef>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace rtmsg::transport {

/// The frames of a write queue.  A stream makes them on its first write and may give them
/// back while it is quiet, so that an idle connection holds one pointer instead of them.
template <class Frame>
struct write_batches {
    std::vector<Frame> queued;            ///< frames waiting for the next write
    std::vector<Frame> writing;           ///< frames of the write in flight
    std::vector<Frame> spare;             ///< keeps a vector's capacity between writes
    std::vector<asio::const_buffer> bufs; ///< the gathered buffers of `writing`
};

/// The bounds a queue admits frames against: above `soft` a send reports backpressure, and a
/// frame that would pass `hard` is not queued (dropped).
struct queue_limits {
    std::size_t soft = std::numeric_limits<std::size_t>::max(); ///< above it, a send reports backpressure
    std::size_t hard = std::numeric_limits<std::size_t>::max(); ///< a frame that would pass it is dropped
};

/** The write side of a stream implementation: one queue of frames, written one gathered
    write at a time, whatever the protocol above it.  `Derived` (CRTP) is the stream's shared
    implementation object (`std::enable_shared_from_this`), with a member `next`: the stream
    written to.

    What it does, for both the WebSocket and the SSE stream:
    - **Admission.** submit() and submit_all() count a frame's bytes against queue_limits
      before it is queued, from any thread, and report a send_status.  A frame handed over
      from another thread reaches the executor with `asio::dispatch`; on the executor it is
      queued at once.
    - **One write at a time, gathered.**  Frames queued while a write is in flight leave
      together in the next one.
    - **The non-blocking fast path.**  On plain sockets a write is first tried at once, with
      one non-blocking send; only what the socket does not take waits in an asynchronous
      write (with large transfers, so a 16 MiB frame is not split into 64 KiB system calls).
    - **Callbacks.**  `drained` (a reader paused for backpressure) runs once the queue falls
      to Derived::resume_below(); `idle` (a producer waiting for an empty queue, on_idle())
      once nothing is queued or in flight.  Callbacks a write run at once would trigger are
      posted, never run from inside a send.
    - **Ending after idle.**  defer_end_until_idle() lets a producer in `idle` hand over the
      rest of its own queue before the stream ends (Derived::end_after_idle()).
    - **Failure.**  drop_queued() forgets what is queued and wakes whoever waits.

    Derived supplies:
    - `write_batches<Frame>* batches() const noexcept`: the frames, or null if not made yet;
      `write_batches<Frame>& make_batches()`;
    - `static void gather(Frame const&, std::vector<asio::const_buffer>&)`: its buffers;
    - `static std::size_t bytes_of(Frame const&) noexcept`: its bytes in `queued_bytes`;
    - `void written(std::span<Frame> frames, std::error_code ec)`: a write ended (`ec` set:
      it failed, and Derived fails the stream);
    - `void end_after_idle()`: ends the stream, after a deferred end's idle callback.

    and may hide these defaults:
    - `bool may_write()`: false holds the queue (SSE before its response head, WebSocket
      while replies are corked);
    - `static bool awaited(Frame const&)`: a caller waits for this frame's completion, so its
      write is never completed at once;
    - `bool ending_after_write() const`: the stream ends once its queue is written;
    - `void queue_empty()`: a write left nothing queued or in flight (default: run_idle());
    - `bool may_run_idle() const`: an idle callback registered on a quiet stream may run;
    - `std::size_t resume_below() const`: the level that wakes `drained`;
    - `void frame_dropped(Frame&)`: a queued frame is forgotten because the stream failed.

    Everything except submit() and submit_all() runs on the stream's executor. */
template <class Derived, class Frame>
class write_queue {
public:
    /// The frames Derived keeps (batches(), make_batches()).
    using batches_type = write_batches<Frame>;

    std::atomic<std::size_t> queued_bytes{0}; ///< counted at admission, until written or dropped
    std::atomic<bool> closing{false};         ///< no more frames are admitted: ending or failed
    bool closed = false;                      ///< the socket is closed or being torn down
    bool write_in_flight = false;             ///< one write at a time
    bool end_after_idle_requested = false;    ///< an end waits for the idle callback (defer_end_until_idle)
    rtmsg::detail::callback_box drained;      ///< a reader paused for backpressure
    rtmsg::detail::callback_box idle;         ///< a producer waiting for an empty queue

    /// No frame waits for a write (one may be in flight).
    bool nothing_queued() const noexcept
    {
        auto const* b = d().batches();
        return !b || b->queued.empty();
    }
    /// Nothing is queued and no write is in flight.
    bool quiet() const noexcept { return !write_in_flight && nothing_queued(); }

    // ---- admission (any thread) -------------------------------------------------------

    /** Counts a frame of `size` bytes against `lim`, then runs `push(derived)` on the
        executor: at once when called there, otherwise through `asio::dispatch` (and not at
        all if the stream is closing by then: its bytes are uncounted).  `push` queues the
        frame and pumps. */
    template <class Push>
    send_status submit(std::size_t size, queue_limits lim, Push&& push)
    {
        auto& s = d();
        if (closing.load(std::memory_order_relaxed)) return send_status::closed;
        if (queued_bytes.load(std::memory_order_relaxed) + size > lim.hard) return send_status::dropped;
        auto const now = queued_bytes.fetch_add(size) + size;
        if (rtmsg::detail::runs_inline(s.next.get_executor())) // skip the type-erased dispatch
            push(s);
        else
            asio::dispatch(s.next.get_executor(),
                           [self = s.shared_from_this(), size, push = std::forward<Push>(push)]() mutable {
                               if (self->closing) {
                                   self->queued_bytes -= size;
                                   return;
                               }
                               push(*self);
                           });
        return now > lim.soft ? send_status::backpressure : send_status::queued;
    }

    /** Queues shared frames (moved from `frames`), in order, to leave in one gathered write:
        `push(derived, frame, size)` queues one.  At the hard limit the rest is dropped.  Off
        the executor each frame is submitted on its own, and the first that is closed or
        dropped ends the batch. */
    template <class Push>
    send_status submit_all(std::span<std::shared_ptr<std::string const>> frames, queue_limits lim, Push push)
    {
        auto& s = d();
        if (!rtmsg::detail::runs_inline(s.next.get_executor())) {
            auto st = send_status::queued;
            for (auto& f : frames) {
                auto const size = f->size();
                auto const r = submit(size, lim, [f = std::move(f), size, push](Derived& self) mutable {
                    push(self, std::move(f), size);
                    self.pump();
                });
                if (r == send_status::closed || r == send_status::dropped) return r;
                if (r == send_status::backpressure) st = r;
            }
            return st;
        }
        if (closing.load(std::memory_order_relaxed)) return send_status::closed;
        auto st = send_status::queued;
        std::size_t now = queued_bytes.load(std::memory_order_relaxed);
        for (auto& f : frames) {
            auto const size = f->size();
            if (now + size > lim.hard) {
                st = send_status::dropped;
                break;
            }
            now = queued_bytes.fetch_add(size) + size;
            push(s, std::move(f), size);
        }
        pump(); // one write for the whole batch
        if (st == send_status::dropped) return st;
        return now > lim.soft ? send_status::backpressure : send_status::queued;
    }

    // ---- writing (the executor) -------------------------------------------------------

    /// Starts a write of everything queued, unless one is in flight or Derived holds it.
    void pump()
    {
        auto& s = d();
        if (write_in_flight || nothing_queued() || closed || !s.may_write()) return;
        auto& w = *s.batches();
        std::swap(w.queued, w.writing);
        w.bufs.clear();
        for (auto const& f : w.writing) Derived::gather(f, w.bufs);
        if constexpr (rtmsg::detail::waitable_socket<decltype(s.next)>) {
            if (write_now()) return;
        }
        write_in_flight = true;
        asio::async_write(
            s.next, w.bufs, rtmsg::detail::large_transfers,
            [self = s.shared_from_this(), guard = write_guard(this)](std::error_code ec, std::size_t) mutable {
                guard.release();
                self->on_written(ec);
            });
    }

    /// Runs the idle callback (it may register itself again, to hand over more), then an end
    /// that waited for it once it did not.
    void run_idle()
    {
        if (idle) {
            auto f = idle.take();
            f();
        }
        if (end_after_idle_requested && !idle && !closed) {
            end_after_idle_requested = false;
            d().end_after_idle();
        }
    }

    /// An end was asked for: true if it must wait for the idle callback (one is registered),
    /// false if the caller ends the stream now.
    bool defer_end_until_idle() noexcept
    {
        if (!idle) return false;
        end_after_idle_requested = true;
        return true;
    }

    /// Registers `f` to run once nothing is queued or in flight; on a stream that is already
    /// quiet it is posted.  On a closed stream `f` is posted at once.
    template <class F>
    void wait_idle(F&& f)
    {
        auto& s = d();
        if (closed) {
            asio::post(s.next.get_executor(), std::forward<F>(f));
            return;
        }
        idle = std::forward<F>(f);
        // Already idle: run it soon, from the executor (an end after idle meanwhile waits).
        if (quiet())
            asio::post(s.next.get_executor(), [self = s.shared_from_this()] {
                if (self->may_run_idle() && self->quiet()) self->run_idle();
            });
    }

    /// The stream failed: forgets what is queued (uncounting it) and posts the waiting
    /// callbacks, so that whoever waits sees the failure and lets go of what it holds.
    void drop_queued()
    {
        auto& s = d();
        for (auto* cb : {&drained, &idle})
            if (*cb) asio::post(s.next.get_executor(), cb->take());
        auto* b = s.batches();
        if (!b) return;
        auto q = std::move(b->queued);
        b->queued.clear();
        for (auto& f : q) {
            queued_bytes -= Derived::bytes_of(f);
            s.frame_dropped(f);
        }
    }

    /// A write completed: wakes a reader paused for backpressure, writes what was queued
    /// meanwhile, and reports an empty queue.
    void after_write()
    {
        auto& s = d();
        if (drained && queued_bytes.load() <= s.resume_below()) {
            auto f = drained.take();
            f();
        }
        pump();
        if (quiet()) s.queue_empty();
    }

    /// Bytes went out at once, with nothing queued or in flight (write_now(), or Derived
    /// writing a frame itself): what a write completion runs (drained, idle, the end) is
    /// posted, never run from a send.
    void wrote_now()
    {
        auto& s = d();
        if (drained || idle || end_after_idle_requested || s.ending_after_write())
            asio::post(s.next.get_executor(), [self = s.shared_from_this()] {
                if (!self->write_in_flight && !self->closed) self->after_write();
            });
    }

    // ---- defaults Derived may hide ----------------------------------------------------

    /// Default: the queue is never held.
    bool may_write() noexcept { return true; }
    /// Default: no caller waits for a frame's completion.
    static bool awaited(Frame const&) noexcept { return false; }
    /// Default: the stream does not end when its queue is written.
    bool ending_after_write() const noexcept { return false; }
    /// Default: an empty queue runs the idle callback.
    void queue_empty() { run_idle(); }
    /// Default: an idle callback may run until the stream is closed.
    bool may_run_idle() const noexcept { return !closed; }
    /// Default: `drained` wakes after any write.
    std::size_t resume_below() const noexcept { return std::numeric_limits<std::size_t>::max(); }
    /// Default: nothing to tell about a dropped frame.
    void frame_dropped(Frame&) noexcept {}

private:
    Derived& d() noexcept { return static_cast<Derived&>(*this); }
    Derived const& d() const noexcept { return static_cast<Derived const&>(*this); }

    /** Plain sockets: writes the batch at once, without an asynchronous operation, when the
        socket takes all of it and no caller waits for a frame's completion.  Returns true
        when the batch is out; otherwise `bufs` holds what is left, for async_write.  What a
        write completion runs (drained, idle, the end) is posted, never run from a send. */
    bool write_now()
    {
        auto& s = d();
        auto& w = *s.batches();
        for (auto const& f : w.writing)
            if (Derived::awaited(f)) return false;
        if (!rtmsg::detail::write_now(s.next, w.bufs)) return false;
        std::size_t total = 0;
        for (auto const& f : w.writing) total += Derived::bytes_of(f);
        queued_bytes -= total;
        s.written(std::span<Frame>(w.writing), {});
        w.writing.clear();
        wrote_now();
        return true;
    }

    void on_written(std::error_code ec)
    {
        auto& s = d();
        // What written() runs may queue and start the next write (which reuses `writing`),
        // so finish with this batch in a vector of its own.
        auto& w = *s.batches();
        std::vector<Frame> done = std::move(w.writing);
        w.writing = std::move(w.spare);
        w.writing.clear();
        write_in_flight = false;
        std::size_t total = 0;
        for (auto const& f : done) total += Derived::bytes_of(f);
        queued_bytes -= total;
        s.written(std::span<Frame>(done), ec);
        done.clear();
        s.make_batches().spare = std::move(done); // (not `w`: written() may have given the batches back)
        if (ec) return;
        after_write();
    }

    /// Travels with the pending write (declared after `self`, so destroyed first).  If that
    /// write is destroyed without completing (its io_context is destroyed while the peer does
    /// not read), it drops the drained and idle callbacks, which may own the stream's owner:
    /// nothing is left in a reference cycle.
    class write_guard {
    public:
        explicit write_guard(write_queue* q) noexcept : q_(q) {}
        write_guard(write_guard&& o) noexcept : q_(std::exchange(o.q_, nullptr)) {}
        write_guard(write_guard const&) = delete;
        write_guard& operator=(write_guard const&) = delete;
        write_guard& operator=(write_guard&&) = delete;
        ~write_guard()
        {
            if (!q_) return;
            auto drained_handler = q_->drained.take();
            auto idle_handler = q_->idle.take();
        }
        void release() noexcept { q_ = nullptr; }

    private:
        write_queue* q_;
    };
};

} // namespace rtmsg::transport
