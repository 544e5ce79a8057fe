#pragma once
// Implementation of rtmsg::websocket::stream (included by <rtmsg/websocket/stream.hpp>).
#include <rtmsg/detail/byte_lock.hpp>
#include <rtmsg/detail/executor.hpp>
#include <rtmsg/detail/message_buffer.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/transport/batch.hpp>
#include <rtmsg/transport/ticker.hpp>
#include <rtmsg/transport/write_queue.hpp>
#include <rtmsg/detail/utf8.hpp>
#include <rtmsg/websocket/detail/deflate_engine.hpp>
#include <rtmsg/websocket/detail/random.hpp>
#include <rtmsg/websocket/permessage_deflate.hpp>

#include <asio/buffer.hpp>
#include <asio/associated_allocator.hpp>
#include <asio/associated_executor.hpp>
#include <asio/bind_allocator.hpp>
#include <asio/compose.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rtmsg::websocket::detail {

/// A one-shot, type-erased completion: the queue calls complete() once its frame is written.
class waiter {
public:
    virtual void complete(std::error_code ec, std::size_t n) = 0;

protected:
    ~waiter() = default;
};

/// Holds a handler (and work on its executor) until its frame is written.  Allocated with
/// the handler's associated allocator, so Asio's recycling allocator makes it free when warm.
template <class Handler, class IoExecutor>
class waiter_impl final : public waiter {
public:
    using allocator_type =
        typename std::allocator_traits<asio::associated_allocator_t<Handler>>::template rebind_alloc<waiter_impl>;

    waiter_impl(Handler&& h, IoExecutor const& io)
        : handler_(std::move(h)), work_(asio::make_work_guard(asio::get_associated_executor(handler_, io)))
    {
    }

    static waiter* create(Handler&& h, IoExecutor const& io)
    {
        allocator_type alloc(asio::get_associated_allocator(h));
        auto* p = std::allocator_traits<allocator_type>::allocate(alloc, 1);
        return ::new (static_cast<void*>(p)) waiter_impl(std::move(h), io);
    }

    void complete(std::error_code ec, std::size_t n) override
    {
        // Free our memory before running the handler, so that it can reuse it.
        auto h = std::move(handler_);
        auto work = std::move(work_);
        allocator_type alloc(asio::get_associated_allocator(h));
        this->~waiter_impl();
        std::allocator_traits<allocator_type>::deallocate(alloc, this, 1);
        auto ex = work.get_executor();
        asio::dispatch(ex, [h = std::move(h), ec, n]() mutable {
            if constexpr (std::is_invocable_v<Handler&, std::error_code, std::size_t>)
                h(ec, n);
            else
                h(ec);
        });
    }

private:
    Handler handler_;
    asio::executor_work_guard<asio::associated_executor_t<Handler, IoExecutor>> work_;
};

/// The frame storage pool's lock: its critical sections are a vector's push_back or pop_back.
using pool_lock = rtmsg::detail::byte_lock;

/// One frame waiting in the write queue.
struct out_frame {
    std::string storage;                        ///< owned bytes: header + payload (send(), control frames)
    std::array<char, max_header_size> header{}; ///< header of an external payload (async_write)
    std::uint8_t header_size = 0;
    asio::const_buffer payload;                ///< external payload, owned by the caller
    std::shared_ptr<std::string const> shared; ///< a complete frame shared with other connections
    waiter* done = nullptr;
    std::size_t bytes = 0; ///< bytes counted in queued_bytes
    std::size_t payload_size = 0;
    bool is_close = false;
};

/// The size of a thread's input buffer, and of the one a read takes while it is pinned.
inline constexpr std::size_t thread_read_buffer_size = 64 * 1024;

/// The input buffer of the current I/O thread: an idle connection on a plain socket holds
/// none of its own.  Its contents never outlive one completion handler.
inline char* thread_read_buffer(std::size_t& size)
{
    thread_local std::unique_ptr<char[]> buf;
    if (!buf) buf = std::make_unique<char[]>(thread_read_buffer_size);
    size = thread_read_buffer_size;
    return buf.get();
}

/// Input read ahead in the thread's buffer and not yet consumed: a read that finds several
/// messages completes with the first and leaves the rest where they were read, for
/// read_buffered() or the next async_read to take while the completion handler runs.
/// Whatever is left when the handler returns is copied into the stream's own `pending`
/// storage (see stream_impl::unlend).  One stream at a time borrows the buffer; a read on
/// another stream of the thread first makes the borrower copy its rest out.
struct lent_input {
    void const* owner = nullptr; ///< the stream_impl whose input this is
    char* data = nullptr;
    std::size_t size = 0;
    void (*copy_out)(void const* owner) noexcept = nullptr; ///< moves the rest into the owner's `pending`
};

inline lent_input& thread_lent_input() noexcept
{
    thread_local lent_input l;
    return l;
}

/// Messages in the thread's read buffer that handlers running now see where they lie
/// (read_buffered with a message_view_buffer): while there are any, a read reads elsewhere.
inline std::uint32_t& thread_read_pins() noexcept
{
    thread_local std::uint32_t pins = 0;
    return pins;
}

template <class NextLayer>
class stream_impl final : public std::enable_shared_from_this<stream_impl<NextLayer>>,
                          public rtmsg::detail::tick_entry,
                          public transport::write_queue<stream_impl<NextLayer>, out_frame> {
public:
    using executor_type = typename NextLayer::executor_type;
    using clock = std::chrono::steady_clock;
    using write_queue = transport::write_queue<stream_impl<NextLayer>, out_frame>;
    using typename write_queue::batches_type;
    using write_queue::closed;
    using write_queue::closing;
    using write_queue::drained;
    using write_queue::idle;
    using write_queue::nothing_queued;
    using write_queue::pump;
    using write_queue::queued_bytes;
    using write_queue::quiet;
    using write_queue::run_idle;
    using write_queue::write_in_flight;
    using write_queue::wrote_now;

    template <class... Args>
    explicit stream_impl(Args&&... args)
        : next(std::forward<Args>(args)...),
          opt(rtmsg::detail::shared_default_options<options>()),
          last_rx(clock::now())
    {
        reader.max_message_size(opt->max_message_size);
        // Streams without a readiness wait read into a buffer of their own (seldom().own_buf):
        // the state that holds it exists from the start, so that a read initiated on another
        // thread (use_future) never creates it while a write completes on the executor.
        if constexpr (!rtmsg::detail::waitable_socket<NextLayer>) seldom_ = std::make_unique<seldom_state>();
    }
    ~stream_impl() { rtmsg::detail::tick_service::leave(*this); }
    stream_impl(stream_impl const&) = delete;
    stream_impl& operator=(stream_impl const&) = delete;

    NextLayer next;
    /// permessage-deflate, when negotiated (RFC 7692): one pointer on connections without it.
    struct deflate_state {
        std::unique_ptr<deflate_engine> engine;
        rtmsg::detail::utf8_validator utf8; ///< of an inflated text message
        deflate_params params;              ///< as negotiated
        /// We compress each message alone (no context takeover in our direction).
        bool send_alone = false;
    };
    std::unique_ptr<deflate_state> pmd;
    /// Shared, not copied: a server's connections on one route hold its behavior's options
    /// (16 bytes each instead of 56).
    std::shared_ptr<options const> opt;
    role_type role = role_type::server;
    message_reader reader{role_type::server};
    static constexpr std::size_t own_buf_size = 16 * 1024;

    pool_lock pool_mutex;
    /// Spare frame storage, so warm sends do not allocate; made by the first recycle (under
    /// pool_mutex) and given back by a quiet tick.
    std::unique_ptr<std::vector<std::string>> pool;
    // write_queue::closing: a close frame is queued, or the connection failed.
    std::atomic<bool> busy_held{false}; ///< busy_ exists (for spare_storage() from any thread)
    bool close_written = false;
    bool timed_out = false;
    bool reading = false;
    // Write coalescing: while the reader hands out messages that were already read (more
    // are buffered), replies are queued, not written, and go out together in one gathered
    // write once the buffered input is consumed (or a posted flush finds no read pending).
    bool corked = false;
    bool read_posted = false; ///< a read completion is queued on the executor
    bool flush_posted = false;
    bool give_back_after_write = false; ///< the 101's write is in flight: see write_head()
    // Plain sockets: the next read is first tried from a posted handler, after what else is
    // ready has run, and waits for readability only if that finds nothing.  A busy peer's
    // next message is usually there by then, which saves the readiness wait's re-arming
    // system call (epoll_ctl) per read.  After a miss the stream waits directly, and tries
    // again after `retry_deferred_after` reads that came through a wait.
    bool defer_read = true;
    std::uint8_t waited_reads = 0;
    static constexpr std::uint8_t retry_deferred_after = 8;
    static constexpr std::size_t cork_limit = 64 * 1024;
    std::uint16_t peer_code = close_code::abnormal;
    message_type last_type = message_type::text;
    transport::read_batch deferred; ///< the batch being handed out; runs when it ends
    /// A close_after_idle() waiting for the idle callback to leave nothing more to write.
    struct close_request {
        std::uint16_t code;
        std::string reason;
    };

    /// Keepalive checks tick in the execution context's shared tick_service (no timer of
    /// its own while open); this timer exists only once the closing handshake needs it.
    using timer_type = asio::basic_waitable_timer<clock, asio::wait_traits<clock>, executor_type>;

    /// What only some streams ever need, mostly at their end: one pointer for all of it.
    struct seldom_state {
        std::unique_ptr<char[]> own_buf;          ///< read buffer of streams that cannot wait for readability
        std::unique_ptr<std::string> peer_reason; ///< of the peer's close frame, if it had one
        std::unique_ptr<close_request> close_after;
        std::unique_ptr<timer_type> close_timer;
    };
    std::unique_ptr<seldom_state> seldom_;
    seldom_state& seldom()
    {
        if (!seldom_) seldom_ = std::make_unique<seldom_state>();
        return *seldom_;
    }
    timer_type* close_timer() const noexcept { return seldom_ ? seldom_->close_timer.get() : nullptr; }
    enum class timer_mode { none, keepalive, closing } tmode = timer_mode::none;
    clock::time_point last_rx;

    // ---- write queue ------------------------------------------------------------------

    std::string take_storage()
    {
        std::lock_guard<pool_lock> lock(pool_mutex);
        if (!pool || pool->empty()) return {};
        auto s = std::move(pool->back());
        pool->pop_back();
        return s;
    }

    /// The largest frame storage the pool keeps: a 16 MiB echo must not pin 16 MiB per connection.
    static constexpr std::size_t pooled_max = 64 * 1024 + max_header_size;

    void recycle(std::string&& s)
    {
        if (s.capacity() > pooled_max) return;
        s.clear();
        std::lock_guard<pool_lock> lock(pool_mutex);
        if (!pool) pool = std::make_unique<std::vector<std::string>>();
        if (pool->size() < 4) pool->push_back(std::move(s));
    }

    /// Frames `payload` into owned storage (masking it in the client role).
    std::string make_frame(opcode op, std::string_view payload)
    {
        auto s = take_storage();
        append_frame(s, op, payload);
        return s;
    }

    /** Makes room for `need` bytes in `s`: doubling while that stays poolable, exact above.
        std::string's own growth doubles past pooled_max (a corked batch of replies grew to
        a few bytes over it), and storage the pool refuses is allocated and freed per write:
        freeing 64 KiB blocks next to the top of the heap makes glibc trim it and touch fresh
        pages again on the next write (measured: a 4 KiB echo at a tenth of its speed). */
    static void grow_storage(std::string& s, std::size_t need)
    {
        if (need <= s.capacity()) return;
        std::string t;
        t.reserve(std::max(need, std::min(2 * s.capacity(), pooled_max)));
        t.append(s);
        s.swap(t);
    }

    /// Turns permessage-deflate on with `params` (after the handshake agreed on them).
    void start_deflate(deflate_params const& params)
    {
        auto const make = deflate_factory().load(std::memory_order_acquire);
        if (!make) return;
        pmd = std::make_unique<deflate_state>();
        pmd->engine = make(params, role, opt->deflate);
        pmd->params = params;
        pmd->send_alone =
            role == role_type::server ? params.server_no_context_takeover : params.client_no_context_takeover;
        reader.set_compression(true);
    }

    /** Queues a complete frame shared with other connections; `size` (its size) is already
        counted in queued_bytes.  A connection whose compressor keeps its context compresses
        an uncompressed data frame of at least deflate_options::threshold bytes for itself, as
        send() does: compressed bytes shared with others would not match the window its peer
        keeps.  Without context takeover the frame goes as it is given (the hub hands such
        connections frames it compressed once for all of them, docs/compression.md). */
    void push_shared(std::shared_ptr<std::string const> frame, std::size_t size)
    {
        out_frame f;
        if (pmd && !pmd->send_alone) [[unlikely]] {
            if (auto own = compress_shared(*frame); !own.empty()) {
                queued_bytes += own.size();
                queued_bytes -= size;
                f.bytes = own.size();
                f.storage = std::move(own);
                f.payload_size = size;
                busy().queued.push_back(std::move(f));
                return;
            }
        }
        f.shared = std::move(frame);
        f.bytes = size;
        f.payload_size = size;
        busy().queued.push_back(std::move(f));
    }

    /// The compressed frame of a shared, unmasked, final, uncompressed data frame; empty if
    /// it goes out as it is (small, a control frame, already compressed, or not compressible).
    std::string compress_shared(std::string const& frame)
    {
        std::string out;
        whole_frame f;
        if (!parse_whole_frame(frame, f) || f.compressed || !compresses(f.op, f.payload.size())) return out;
        if (!append_compressed_frame(out, f.op, f.payload)) out.clear();
        return out;
    }

    /// Would a data message of `n` bytes go out compressed?
    bool compresses(opcode op, std::size_t n) const noexcept
    {
        return pmd && op != opcode::cont && !(static_cast<std::uint8_t>(op) & 0x8) && n >= opt->deflate.threshold;
    }

    /// Appends the frame of `payload` to `s`; returns its size on the wire.  Data messages of
    /// at least deflate_options::threshold bytes are compressed when permessage-deflate is on.
    std::size_t append_frame(std::string& s, opcode op, std::string_view payload)
    {
        if (compresses(op, payload.size())) [[unlikely]]
            if (auto const n = append_compressed_frame(s, op, payload)) return n;
        return append_plain_frame(s, op, payload, false);
    }

    /// The compressed frame of `payload`; 0 if it must go out uncompressed.  Kept out of
    /// append_frame so that the uncompressed path stays as small as it was.
    std::size_t append_compressed_frame(std::string& s, opcode op, std::string_view payload)
    {
        // The compressed bytes go through a thread buffer: frames are made on the stream's
        // executor, one at a time.
        thread_local std::string scratch;
        scratch.clear();
        if (!pmd->engine->compress(payload, scratch)) return 0;
        // Compressed alone, a message that does not get shorter goes as it is; with context
        // takeover it cannot (the peer's window must see what our compressor saw).
        if (pmd->send_alone && scratch.size() >= payload.size()) return 0;
        auto const n = append_plain_frame(s, op, scratch, true);
        if (scratch.capacity() > pooled_max) std::string().swap(scratch);
        return n;
    }

    std::size_t append_plain_frame(std::string& s, opcode op, std::string_view payload, bool rsv1)
    {
        char hdr[max_header_size];
        std::uint32_t key = 0;
        std::size_t hn;
        if (role == role_type::client) {
            key = next_mask_key();
            hn = write_frame_header(hdr, op, true, payload.size(), &key);
        }
        else
            hn = write_frame_header(hdr, op, true, payload.size());
        if (rsv1) hdr[0] = static_cast<char>(hdr[0] | 0x40); // RFC 7692 §6: a compressed message
        auto const at = s.size();
        grow_storage(s, at + hn + payload.size());
        s.append(hdr, hn);
        s.append(payload);
        if (role == role_type::client) {
            std::array<std::uint8_t, 4> k;
            std::memcpy(k.data(), &key, 4);
            mask_bytes(s.data() + at + hn, payload.size(), k, 0);
        }
        return hn + payload.size();
    }

    /** On the executor: frames a data message into the owned storage of the last queued
        frame when that is plain bytes nobody waits for (replies queued while corked), so a
        batch of small replies costs one buffer and one iovec instead of one each.  The
        payload is copied either way.  Returns the bytes added, or 0 when it cannot join. */
    std::size_t append_to_queued(opcode op, std::string_view payload)
    {
        if (nothing_queued()) return 0;
        auto& b = busy_->queued.back();
        if (b.header_size != 0 || b.shared || b.done || b.is_close) return 0;
        if (b.storage.size() + max_header_size + payload.size() > cork_limit) return 0;
        auto const n = append_frame(b.storage, op, payload);
        b.bytes += n;
        b.payload_size += payload.size();
        return n;
    }

    /** send() on a quiet plain socket (server role, no compression, not corked, nothing
        queued or in flight): the frame's header and the caller's payload go out in one
        non-blocking send, with no frame storage and no queue, as pump() would have sent
        them at once.  What a partial send leaves is queued (counted) for an asynchronous
        write.  False, with nothing sent, when it does not apply or the socket took nothing
        (would_block, an error): the caller queues the frame, and the write reports it. */
    bool send_direct(opcode op, std::string_view payload)
    {
        if constexpr (!rtmsg::detail::waitable_socket<NextLayer>)
            return false;
        else {
            if (role != role_type::server || pmd || corked || closed || write_in_flight || !nothing_queued())
                return false;
            char hdr[max_header_size];
            auto const hn = write_frame_header(hdr, op, true, payload.size());
            std::array<asio::const_buffer, 2> const bufs{asio::buffer(hdr, hn), asio::buffer(payload)};
            std::error_code ec;
            if (!next.non_blocking()) {
                next.non_blocking(true, ec);
                if (ec) return false;
            }
            auto const n = next.write_some(bufs, ec);
            if (ec || n == 0) return false;
            active_since_tick = true;
            if (n == hn + payload.size()) {
                wrote_now();
                return true;
            }
            std::string rest = take_storage();
            if (n < hn) rest.append(hdr + n, hn - n);
            rest.append(payload.substr(n < hn ? 0 : n - hn));
            queued_bytes += rest.size();
            push_owned(std::move(rest), nullptr, payload.size(), false);
            return true;
        }
    }

    /// Masking keys for the client role (RFC 6455 §5.3, §10.3: unpredictable, so a script
    /// cannot choose the bytes on the wire): from the OS CSPRNG.
    static std::uint32_t next_mask_key() { return random_mask_key(); }

    /// Queues owned bytes; runs on the executor.
    void push_owned(std::string&& bytes, waiter* w, std::size_t payload_size, bool is_close)
    {
        out_frame f;
        f.bytes = bytes.size();
        f.storage = std::move(bytes);
        f.done = w;
        f.payload_size = payload_size;
        f.is_close = is_close;
        busy().queued.push_back(std::move(f));
        pump();
    }

    void enqueue_control(opcode op, std::string_view payload, waiter* w)
    {
        auto frame = make_frame(op, payload);
        queued_bytes += frame.size();
        push_owned(std::move(frame), w, payload.size(), op == opcode::close);
    }

    /// Queues a close frame (once).  `code` 0 sends an empty close payload.
    bool enqueue_close(std::uint16_t code, std::string_view reason, waiter* w)
    {
        if (closing.exchange(true)) return false;
        char payload[125];
        std::size_t n = 0;
        if (code != 0) {
            payload[0] = static_cast<char>(code >> 8);
            payload[1] = static_cast<char>(code & 0xFF);
            reason = reason.substr(0, 123);
            if (!reason.empty()) std::memcpy(payload + 2, reason.data(), reason.size());
            n = 2 + reason.size();
        }
        enqueue_control(opcode::close, {payload, n}, w);
        // Bound the close from now, not only once the frame is written: behind a peer that
        // does not read, it may never be (a slow consumer kicked with 1008, a stop()).
        // written() restarts the timer when the frame is out.
        if (!closed && tmode != timer_mode::closing) arm_close_timer();
        return true;
    }

    // ---- the write queue's hooks (transport::write_queue) ------------------------------

    batches_type* batches() const noexcept { return busy_.get(); }
    batches_type& make_batches() { return busy(); }
    static void gather(out_frame const& f, std::vector<asio::const_buffer>& bufs)
    {
        if (f.shared)
            bufs.push_back(asio::buffer(*f.shared));
        else if (f.header_size == 0)
            bufs.push_back(asio::buffer(f.storage));
        else {
            bufs.push_back(asio::buffer(f.header.data(), f.header_size));
            if (f.payload.size() != 0) bufs.push_back(f.payload);
        }
    }
    static std::size_t bytes_of(out_frame const& f) noexcept { return f.bytes; }
    static bool awaited(out_frame const& f) noexcept { return f.done != nullptr; }
    std::size_t resume_below() const noexcept { return opt->send_queue_soft_limit / 2; }

    /// Replies wait while corked (up to cork_limit), for one write with the rest.
    bool may_write()
    {
        if (corked && queued_bytes.load(std::memory_order_relaxed) < cork_limit) {
            schedule_flush();
            return false;
        }
        active_since_tick = true;
        return true;
    }

    /// A write ended: a close frame written starts the closing handshake's timer; callers
    /// waiting for their frame (async_write) complete; frame storage goes back to the pool.
    void written(std::span<out_frame> frames, std::error_code ec)
    {
        bool wrote_close = false;
        for (auto const& f : frames) wrote_close |= f.is_close;
        if (ec)
            fail_now();
        else if (wrote_close) {
            close_written = true;
            arm_close_timer();
        }
        for (auto& f : frames) {
            if (f.done) f.done->complete(ec, f.payload_size);
            if (f.header_size == 0 && !f.shared) recycle(std::move(f.storage));
        }
    }

    void frame_dropped(out_frame& f)
    {
        if (f.done) f.done->complete(asio::error::operation_aborted, 0);
    }

    /// Nothing left to write: the idle callback; then a connection whose 101 was the first
    /// write gives its write state back, as a quiet keepalive tick would (see write_head()).
    void queue_empty()
    {
        run_idle();
        if (give_back_after_write && quiet() && !corked) {
            give_back_after_write = false;
            release_write_state();
        }
    }

    /// The close that close_after_idle() asked for, once the idle callback is done.
    void end_after_idle()
    {
        auto const c = std::move(seldom_->close_after);
        enqueue_close(c->code, c->reason, nullptr);
    }

    /// Writes what is corked once no buffered message is about to be delivered.
    void schedule_flush()
    {
        if (flush_posted) return;
        flush_posted = true;
        asio::post(next.get_executor(), [self = this->shared_from_this()] { self->on_flush(); });
    }

    void on_flush()
    {
        flush_posted = false;
        if (corked && read_posted) return schedule_flush(); // the next message comes first
        uncork();
    }

    /// Ends coalescing and writes what waits (the flag may have been cleared without a write).
    void uncork()
    {
        corked = false;
        pump();
        deferred.run();
    }

    void close_when_idle(std::uint16_t code, std::string_view reason)
    {
        if (closing || closed) return;
        if (!this->defer_end_until_idle()) {
            enqueue_close(code, reason, nullptr);
            return;
        }
        seldom().close_after = std::make_unique<close_request>(close_request{code, std::string(reason)});
    }

    /// The connection is unusable: close the socket; queued writes fail.
    void fail_now()
    {
        corked = false;
        deferred.run();
        closing = true;
        closed = true;
        tmode = timer_mode::none;
        rtmsg::close_now(next);
        rtmsg::detail::tick_service::leave(*this);
        if (auto* t = close_timer()) t->cancel();
        // Anyone waiting for the queue must wake up to see the failure (and release the
        // connection they hold); queued frames are dropped, their callers told.
        this->drop_queued();
    }

    // ---- timers -----------------------------------------------------------------------

    void arm_keepalive()
    {
        using namespace std::chrono;
        auto tick = opt->ping_interval;
        if (tick.count() == 0 || (opt->idle_timeout.count() != 0 && opt->idle_timeout < tick)) tick = opt->idle_timeout;
        if (tick.count() == 0 || closed) return;
        // Check four times per period so that the timeout fires within 25% of its value.
        tmode = timer_mode::keepalive;
        rtmsg::detail::tick_service::join(next.get_executor(), *this,
                                          std::max<clock::duration>(tick / 4, milliseconds(1)));
    }

    /// The shared ticker's thread, under its lock: only hands the check to our executor.
    std::shared_ptr<void> on_tick() override
    {
        auto self = this->weak_from_this().lock();
        if (self) asio::post(next.get_executor(), [self] { self->on_keepalive(); });
        return self;
    }

    void on_keepalive()
    {
        if (tmode != timer_mode::keepalive || closed) return;
        auto const idle = clock::now() - last_rx;
        if (opt->idle_timeout.count() != 0 && idle >= opt->idle_timeout) {
            timed_out = true;
            fail_now();
            return;
        }
        if (opt->ping_interval.count() != 0 && idle >= opt->ping_interval && !closing && !ping_outstanding) {
            ping_outstanding = true;
            enqueue_control(opcode::ping, {}, nullptr);
        }
        if (!active_since_tick && quiet()) release_spare_storage();
        active_since_tick = false;
    }
    bool ping_outstanding = false;
    bool active_since_tick = false; ///< input arrived or a write started since the last tick

    /// Quiet for a whole tick: hands the pooled frame storage and the busy state (write
    /// vectors, a drained read-ahead) back to the allocator; the next send or read makes
    /// them again.
    void release_spare_storage()
    {
        release_write_state();
        // zlib state that the next message does not need (no context takeover in that direction).
        if (pmd && !reader.in_message()) pmd->engine->release_idle();
    }

    /// The pooled frame storage, and the busy state when it holds nothing to write or read.
    void release_write_state()
    {
        std::unique_ptr<std::vector<std::string>> drop;
        {
            std::lock_guard<pool_lock> lock(pool_mutex);
            drop.swap(pool);
        }
        if (busy_ && busy_->queued.empty() && busy_->writing.empty() && !busy_->held_step &&
            busy_->pending_off == busy_->pending.size()) {
            busy_.reset();
            busy_held.store(false, std::memory_order_relaxed);
        }
    }

    /// After async_accept's completion handler: writes the 101 queued first (with what the
    /// handler queued behind it) unless a send already did.  A connection that is then quiet
    /// gives its write state back at once, as a quiet keepalive tick would.
    void write_head()
    {
        if (closed) return;
        pump();
        if (write_in_flight)
            give_back_after_write = true; // not a plain socket, or a partial write
        else if (nothing_queued() && !corked)
            release_write_state();
    }

    std::size_t spare_storage() noexcept
    {
        std::size_t n = busy_held.load(std::memory_order_relaxed) ? sizeof(busy_state) : 0;
        if (pmd) n += pmd->engine->memory();
        std::lock_guard<pool_lock> lock(pool_mutex);
        if (pool)
            for (auto const& s : *pool) n += s.capacity();
        return n;
    }

    void arm_close_timer()
    {
        tmode = timer_mode::closing;
        rtmsg::detail::tick_service::leave(*this);
        auto& timer = seldom().close_timer;
        if (!timer) timer = std::make_unique<timer_type>(next.get_executor());
        timer->expires_after(opt->close_timeout);
        timer->async_wait([w = this->weak_from_this()](std::error_code ec) {
            if (ec) return;
            if (auto self = w.lock(); self && self->tmode == timer_mode::closing) {
                self->timed_out = true;
                self->fail_now();
            }
        });
    }

    void on_input() noexcept
    {
        last_rx = clock::now();
        ping_outstanding = false;
        active_since_tick = true;
    }

    // ---- reading ----------------------------------------------------------------------

    enum class step_kind : std::uint8_t { need_more, message, close, error };
    struct step {
        step_kind kind;
        std::size_t consumed;
        std::error_code ec;
    };

    /** What a stream needs only while it is busy: input read ahead of the reader, a close
        or error found ahead for the next async_read, and the write queues.  Made on first
        use and given back by a quiet keepalive tick (release_spare_storage), so an idle
        connection holds one pointer here instead of about 170 bytes. */
    struct busy_state : batches_type {
        std::string pending; ///< input read ahead: bytes from pending_off on are not yet consumed
        std::size_t pending_off = 0;
        std::optional<step> held_step; ///< a close or error found by stream::read_buffered(), for the next async_read
    };
    std::unique_ptr<busy_state> busy_;

    busy_state& busy()
    {
        if (!busy_) {
            busy_ = std::make_unique<busy_state>();
            busy_held.store(true, std::memory_order_relaxed);
        }
        return *busy_;
    }
    bool has_held_step() const noexcept { return busy_ && busy_->held_step; }

    bool has_pending() const noexcept
    {
        return (busy_ && busy_->pending_off < busy_->pending.size()) || lent_rest() != 0;
    }

    /// Bytes of this stream's input still in the thread's read buffer (see lent_input).
    std::size_t lent_rest() const noexcept
    {
        auto const& l = thread_lent_input();
        return l.owner == this ? l.size : 0;
    }

    /// Leaves input read into the thread's buffer there (pending is empty: it was drained
    /// before the read).
    void lend(char* data, std::size_t n) noexcept
    {
        RTMSG_ASSERT(!busy_ || busy_->pending_off == busy_->pending.size());
        auto& l = thread_lent_input();
        RTMSG_ASSERT(!l.owner); // read_ready() moved any other stream's out before reading
        l = {this, data, n, [](void const* o) noexcept {
                 auto* self = const_cast<stream_impl*>(static_cast<stream_impl const*>(o));
                 self->unlend();
             }};
    }

    /// Copies what is left of the lent input into `pending`: the thread's buffer is about
    /// to be reused.  Allocation failure here ends the process, as a lost input would be
    /// worse than a stop.
    void unlend() noexcept
    {
        auto& l = thread_lent_input();
        if (l.owner != this) return;
        if (l.size != 0) {
            auto& b = busy();
            if (b.pending_off == b.pending.size()) {
                b.pending.clear();
                b.pending_off = 0;
            }
            b.pending.append(l.data, l.size);
        }
        l = {};
    }

    /// Marks `n` read-ahead bytes consumed; a buffer emptied of a large read-ahead is released.
    void consume_pending(std::size_t n) noexcept
    {
        auto& b = *busy_;
        b.pending_off += n;
        if (b.pending_off < b.pending.size()) return;
        b.pending_off = 0;
        if (b.pending.capacity() > 4096)
            std::string().swap(b.pending);
        else
            b.pending.clear();
    }

    /// Takes the read-ahead's next step: a message (its payload appended to `buffer`), or
    /// need_more when it ends inside a frame (the reader keeps that partial frame).
    template <class DynamicBuffer>
    step process_pending(DynamicBuffer& buffer, std::size_t& bytes)
    {
        if (auto& l = thread_lent_input(); l.owner == this) {
            auto r = process(l.data, l.size, buffer, bytes);
            auto const used = r.kind == step_kind::message ? r.consumed : l.size;
            l.data += used;
            l.size -= used;
            if (l.size == 0) l = {};
            return r;
        }
        if (!busy_) return {step_kind::need_more, 0, {}};
        auto& b = *busy_;
        auto const avail = b.pending.size() - b.pending_off;
        auto r = process(b.pending.data() + b.pending_off, avail, buffer, bytes);
        keep_input(buffer); // consume_pending may free the read-ahead
        consume_pending(r.kind == step_kind::message ? r.consumed : avail);
        return r;
    }

    /// A buffer that may point into the input (detail::message_view_buffer) copies what it
    /// points to: the input is going away.
    template <class DynamicBuffer>
    static void keep_input(DynamicBuffer& buffer)
    {
        if constexpr (requires { buffer.keep(); }) buffer.keep();
    }

    /// Feeds input to the reader, answering pings, until a message, close or error.
    template <class DynamicBuffer>
    step process(char* data, std::size_t n, DynamicBuffer& buffer, std::size_t& bytes)
    {
        std::size_t pos = 0;
        auto sink = [&](std::string_view chunk) {
            if constexpr (requires { buffer.append(chunk.data(), chunk.size()); })
                buffer.append(chunk.data(), chunk.size());
            else {
                auto const at = buffer.size();
                buffer.grow(chunk.size());
                asio::buffer_copy(buffer.data(at, chunk.size()), asio::buffer(chunk.data(), chunk.size()));
            }
            bytes += chunk.size();
        };
        if (pmd) [[unlikely]] {
            // Inflated chunks lie in the inflater's output, which the next chunk overwrites:
            // always copied, never remembered where they lie (message_view_buffer).
            auto copy = [&](std::string_view chunk) {
                if constexpr (requires { buffer.append_copy(chunk.data(), chunk.size()); }) {
                    buffer.append_copy(chunk.data(), chunk.size());
                    bytes += chunk.size();
                }
                else
                    sink(chunk);
            };
            return process_inflating(data, n, copy);
        }
        for (;;) {
            auto r = reader.read(data + pos, n - pos, sink);
            pos += r.consumed;
            if (r.ec) return {step_kind::error, pos, r.ec};
            if (r.event == read_event::message) [[likely]] { // on_event's answer, without the call
                last_type = reader.type();
                return step{step_kind::message, pos, {}};
            }
            if (auto const st = on_event(r.event, pos)) return *st;
        }
    }

    /// What an event of the reader means for the read in progress: the step to return (a
    /// message, a close frame, more input needed), or none after a control frame, and the
    /// reader goes on.
    std::optional<step> on_event(read_event e, std::size_t pos)
    {
        switch (e) {
        case read_event::need_more: return step{step_kind::need_more, pos, {}};
        case read_event::message: last_type = reader.type(); return step{step_kind::message, pos, {}};
        case read_event::ping:
            // RFC 6455 §5.5.2: answer with the same payload, unless we are closing.
            if (!closing) enqueue_control(opcode::pong, reader.control_payload(), nullptr);
            return std::nullopt;
        case read_event::pong:
            return std::nullopt; // unsolicited pongs are allowed (§5.5.3); liveness noted by on_input
        case read_event::close:
            peer_code = reader.close_code();
            if (!reader.close_reason().empty())
                seldom().peer_reason = std::make_unique<std::string>(reader.close_reason());
            return step{step_kind::close, pos, {}};
        }
        return std::nullopt;
    }

    /// process() on a connection with permessage-deflate: compressed messages are inflated
    /// into `append` as they arrive, against max_message_size, and text checked after.
    template <class Sink>
    step process_inflating(char* data, std::size_t n, Sink& append)
    {
        auto& d = *pmd;
        std::error_code bad;
        auto out = [&](std::string_view chunk) {
            if (bad) return;
            // RFC 7692 §8 leaves UTF-8 to the inflated text: fail fast here too.
            if (reader.type() == message_type::text && !d.utf8.write(chunk)) {
                bad = error::bad_utf8;
                return;
            }
            append(chunk);
        };
        deflate_engine::sink_fn const to_out = [](void* ctx, std::string_view chunk) {
            (*static_cast<decltype(out)*>(ctx))(chunk);
        };
        auto sink = [&](std::string_view chunk) {
            if (bad) return;
            if (!reader.compressed()) return append(chunk);
            // (`out` may have set `bad` itself: keep it unless inflating failed first.)
            if (auto ec = d.engine->inflate(chunk, false, opt->max_message_size, &out, to_out)) bad = ec;
        };
        std::size_t pos = 0;
        for (;;) {
            auto r = reader.read(data + pos, n - pos, sink);
            pos += r.consumed;
            if (!r.ec && !bad && r.event == read_event::message && reader.compressed()) {
                if (auto ec = d.engine->inflate({}, true, opt->max_message_size, &out, to_out)) bad = ec;
                if (!bad && reader.type() == message_type::text && !d.utf8.complete()) bad = error::bad_utf8;
                d.utf8.reset();
            }
            if (!r.ec) r.ec = bad;
            if (r.ec) return {step_kind::error, pos, r.ec};
            if (auto const st = on_event(r.event, pos)) return *st;
        }
    }
};

/// The read operation: see stream::async_read.
template <class NextLayer, class DynamicBuffer>
struct read_op {
    read_op(std::shared_ptr<stream_impl<NextLayer>> i, DynamicBuffer b) : impl(std::move(i)), buffer(std::move(b)) {}

    std::shared_ptr<stream_impl<NextLayer>> impl;
    DynamicBuffer buffer;
    std::size_t bytes = 0;
    /// What the operation completes with; in state::posted with `pending_kind` set, the
    /// error of the step it holds.  (An idle stream keeps this operation in its pending
    /// readiness wait, so it is kept small: the step is not stored whole.)
    std::error_code result;
    enum class state : std::uint8_t {
        start,
        posted,
        deferred,
        waiting,
        reading,
        close_written,
        torn_down
    } st = state::start;

    using impl_type = stream_impl<NextLayer>;
    using step = typename impl_type::step;
    using step_kind = typename impl_type::step_kind;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, std::size_t n = 0)
    {
        auto& s = *impl;
        switch (st) {
        case state::start:
            RTMSG_ASSERT(!s.reading && "rtmsg: only one async_read may be pending on a websocket::stream");
            s.reading = true;
            if (s.closed) {
                st = state::posted;
                result =
                    s.timed_out ? std::error_code(rtmsg::error::timeout) : std::error_code(asio::error::not_connected);
                asio::post(s.next.get_executor(), std::move(self));
                return;
            }
            if (s.has_held_step() || s.has_pending()) {
                auto r = s.has_held_step() ? *std::exchange(s.busy_->held_step, std::nullopt)
                                           : s.process_pending(buffer, bytes);
                if (r.kind != step_kind::need_more) {
                    // Never complete inside the initiating call.
                    s.corked = r.kind == step_kind::message && s.has_pending();
                    pending_kind = r.kind;
                    result = r.ec;
                    st = state::posted;
                    s.read_posted = true;
                    asio::post(s.next.get_executor(), std::move(self));
                    return;
                }
            }
            return read_more(self);
        case state::posted:
            s.read_posted = false;
            if (pending_kind == step_kind::need_more) return finish(self, result);
            return on_step(self, step{std::exchange(pending_kind, step_kind::need_more), 0, std::exchange(result, {})});
        case state::deferred:
            // Closed while the attempt was queued: as a pending wait would have been.
            if (!rtmsg::lowest_layer(s.next).is_open()) return on_io_error(self, asio::error::operation_aborted);
            return read_ready(self, true);
        case state::waiting:
            if (ec) return on_io_error(self, ec);
            return read_ready(self, false);
        case state::reading:
            if (ec) return on_io_error(self, ec);
            s.on_input();
            return on_data(self, s.seldom_->own_buf.get(), n, false);
        case state::close_written:
            // Our close frame is out; now end the connection.  If it could not be
            // written, the closing handshake did not happen: report the write error.
            if (ec) return finish(self, ec);
            if (s.closed) return finish(self, result);
            st = state::torn_down;
            s.closed = true;
            if (s.tmode != impl_type::timer_mode::closing) s.arm_close_timer();
            async_teardown(s.role, s.next, std::move(self));
            return;
        case state::torn_down:
            if (auto* t = s.close_timer()) t->cancel();
            return finish(self, result);
        }
    }

    /// The step held for state::posted (need_more: none; complete with `result`).
    step_kind pending_kind = step_kind::need_more;

    template <class Self>
    void read_more(Self& self)
    {
        auto& s = *impl;
        if constexpr (rtmsg::detail::waitable_socket<NextLayer>) {
            // Non-blocking from the first read on: reads after readiness and writes that
            // complete at once (see write_now) must never wait.
            if (!s.next.non_blocking()) {
                std::error_code ignored;
                s.next.non_blocking(true, ignored);
            }
        }
        s.uncork(); // no buffered message left: write the replies to the last ones
        if constexpr (rtmsg::detail::waitable_socket<NextLayer>) {
            if (s.defer_read) {
                st = state::deferred;
                asio::post(s.next.get_executor(), std::move(self));
                return;
            }
            st = state::waiting;
            // An idle connection keeps this wait pending: sized exactly (see exact_allocator).
            s.next.async_wait(asio::socket_base::wait_read,
                              asio::bind_allocator(rtmsg::detail::exact_allocator<void>{}, std::move(self)));
        }
        else {
            auto& own_buf = s.seldom().own_buf;
            if (!own_buf) own_buf = std::make_unique<char[]>(impl_type::own_buf_size);
            st = state::reading;
            s.next.async_read_some(asio::buffer(own_buf.get(), impl_type::own_buf_size), std::move(self));
        }
    }

    /// Readable (`deferred`: perhaps; see stream_impl::defer_read): drain the socket into
    /// the thread's buffer without blocking.
    template <class Self>
    void read_ready(Self& self, bool deferred)
    {
        if constexpr (rtmsg::detail::waitable_socket<NextLayer>) {
            auto& s = *impl;
            std::size_t cap;
            // A handler that ran the event loop itself may still be reading a message in the
            // thread's buffer: this read then takes a buffer of its own.
            std::unique_ptr<char[]> own;
            char* buf;
            if (thread_read_pins() == 0) [[likely]]
                buf = thread_read_buffer(cap);
            else {
                cap = thread_read_buffer_size;
                own = std::make_unique<char[]>(cap);
                buf = own.get();
            }
            // Another stream's input lent in this buffer moves out first (a handler that ran
            // the event loop itself); this stream's own cannot be there: it reads only once
            // its input is consumed.
            if (auto& l = thread_lent_input(); l.owner) {
                RTMSG_ASSERT(l.owner != &s);
                l.copy_out(l.owner);
            }
            if (!deferred && ++s.waited_reads >= impl_type::retry_deferred_after) {
                s.waited_reads = 0;
                s.defer_read = true;
            }
            for (bool first = true;; first = false) {
                std::error_code ec;
                auto const n = rtmsg::detail::read_now(s.next, asio::buffer(buf, cap), ec);
                if (ec == asio::error::would_block || ec == asio::error::try_again) {
                    if (deferred && first) s.defer_read = false; // nothing there yet: wait
                    return read_more(self);
                }
                if (ec) return on_io_error(self, ec);
                s.on_input();
                auto r = s.process(buf, n, buffer, bytes);
                if (r.kind == step_kind::message && r.consumed < n) {
                    // More messages in this read: the handler takes them from the thread's
                    // buffer (read_buffered, or the async_read it starts); what it leaves
                    // is copied out when it returns.
                    s.lend(buf + r.consumed, n - r.consumed);
                    s.corked = true;
                    // Also if the handler throws; `keep`: it may drop the last other reference.
                    struct unlend_at_exit {
                        std::shared_ptr<impl_type> keep;
                        ~unlend_at_exit() { keep->unlend(); }
                    } const guard{impl};
                    on_step(self, r);
                    return;
                }
                if (r.kind == step_kind::message) s.corked = false;
                if (r.kind != step_kind::need_more) return on_step(self, r);
                if (n < cap) return read_more(self);
            }
        }
    }

    template <class Self>
    void on_data(Self& self, char* data, std::size_t n, bool)
    {
        auto& s = *impl;
        auto r = s.process(data, n, buffer, bytes);
        if (r.kind == step_kind::message) {
            if (r.consumed < n) s.busy().pending.append(data + r.consumed, n - r.consumed);
            s.corked = s.has_pending();
        }
        if (r.kind == step_kind::need_more) return read_more(self);
        on_step(self, r);
    }

    template <class Self>
    void on_step(Self& self, step const& r)
    {
        auto& s = *impl;
        switch (r.kind) {
        case step_kind::need_more: return read_more(self);
        case step_kind::message: return finish(self, {});
        case step_kind::close:
            s.uncork();
            result = error::closed;
            if (!s.closing) {
                // Echo the peer's code (RFC 6455 §5.5.1); an empty close gets an empty close.
                auto const code = s.peer_code == close_code::no_status ? 0 : s.peer_code;
                return close_then_teardown(self, code);
            }
            // The peer answered our close: the handshake is complete.
            return teardown(self);
        case step_kind::error:
            s.uncork();
            result = r.ec;
            if (!s.closing) {
                auto code = close_code_for(static_cast<error>(r.ec.value()));
                return close_then_teardown(self, code ? code : close_code::protocol_error);
            }
            return teardown(self);
        }
    }

    template <class Self>
    void close_then_teardown(Self& self, std::uint16_t code)
    {
        auto& s = *impl;
        st = state::close_written;
        auto ex = s.next.get_executor();
        s.enqueue_close(code, {}, waiter_impl<Self, decltype(ex)>::create(std::move(self), ex));
    }

    template <class Self>
    void teardown(Self& self)
    {
        auto& s = *impl;
        st = state::close_written;
        (*this)(self, {}, 0);
        (void)s;
    }

    template <class Self>
    void on_io_error(Self& self, std::error_code ec)
    {
        auto& s = *impl;
        s.fail_now();
        if (s.timed_out) ec = rtmsg::error::timeout;
        finish(self, ec);
    }

    template <class Self>
    void finish(Self& self, std::error_code ec)
    {
        impl->reading = false;
        auto n = bytes;
        self.complete(ec, n);
    }
};

/** async_accept.  An acceptable request's 101 becomes the first entry of the write queue,
    written only after the completion handler has returned (or together with what the
    handler sends): a server's on_open runs before the client can see the connection open, so
    what it subscribes to is in place when the client acts on the 101.  A refusal is written
    here, and the operation completes with its error once it is out. */
template <class NextLayer>
struct accept_op {
    accept_op(std::shared_ptr<stream_impl<NextLayer>> i, std::error_code r, std::unique_ptr<std::string> o)
        : impl(std::move(i)), result(r), out(std::move(o))
    {
    }

    std::shared_ptr<stream_impl<NextLayer>> impl;
    std::error_code result;
    std::unique_ptr<std::string> out; ///< a refusal; by pointer, so the write's buffer stays put
    enum class state : std::uint8_t { start, queued, refused } st = state::start;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, std::size_t = 0)
    {
        auto& s = *impl;
        switch (st) {
        case state::start:
            if (result) {
                st = state::refused;
                auto const bytes = asio::buffer(*out);
                asio::async_write(s.next, bytes, std::move(self));
                return;
            }
            // Queued, not pumped: nothing else can be queued before it (sends start with the
            // completion handler), and the write happens after that handler.
            st = state::queued;
            s.queued_bytes += out->size();
            s.busy().queued.push_back(make_head(std::move(*out)));
            out.reset();
            s.last_rx = stream_impl<NextLayer>::clock::now();
            s.arm_keepalive();
            asio::post(s.next.get_executor(), std::move(self)); // never complete inside the initiation
            return;
        case state::queued: {
            if (s.closed) // failed or torn down meanwhile (the stream was destroyed, a deadline)
                return self.complete(s.timed_out ? std::error_code(rtmsg::error::timeout)
                                                 : std::error_code(asio::error::not_connected));
            auto keep = impl; // `self` may be gone after complete()
            self.complete({});
            keep->write_head();
            return;
        }
        case state::refused:
            out.reset();
            s.fail_now();
            return self.complete(ec ? ec : result);
        }
    }

    static out_frame make_head(std::string&& bytes)
    {
        out_frame f;
        f.bytes = bytes.size();
        f.storage = std::move(bytes);
        return f;
    }
};

} // namespace rtmsg::websocket::detail

namespace rtmsg::websocket {

template <async_stream NextLayer>
template <class... Args>
stream<NextLayer>::stream(Args&&... args)
    : impl_(std::make_shared<detail::stream_impl<NextLayer>>(std::forward<Args>(args)...))
{
}

template <async_stream NextLayer>
stream<NextLayer>::~stream()
{
    if (impl_ && !impl_->closed) {
        auto impl = impl_;
        asio::dispatch(impl->next.get_executor(), [impl] { impl->fail_now(); });
    }
}

template <async_stream NextLayer>
auto stream<NextLayer>::get_executor() const noexcept -> executor_type
{
    return impl_->next.get_executor();
}

template <async_stream NextLayer>
NextLayer& stream<NextLayer>::next_layer() noexcept
{
    return impl_->next;
}

template <async_stream NextLayer>
NextLayer const& stream<NextLayer>::next_layer() const noexcept
{
    return impl_->next;
}

template <async_stream NextLayer>
void stream<NextLayer>::set_options(options const& opt)
{
    set_options(std::make_shared<options const>(opt));
}

template <async_stream NextLayer>
void stream<NextLayer>::set_options(std::shared_ptr<options const> opt)
{
    if (!opt) opt = rtmsg::detail::shared_default_options<options>();
    impl_->reader.max_message_size(opt->max_message_size);
    impl_->opt = std::move(opt);
}

template <async_stream NextLayer>
options const& stream<NextLayer>::get_options() const noexcept
{
    return *impl_->opt;
}

template <async_stream NextLayer>
void stream<NextLayer>::set_role(role_type role) noexcept
{
    impl_->role = role;
    impl_->reader = message_reader(role, impl_->opt->max_message_size);
    impl_->reader.set_compression(impl_->pmd != nullptr);
}

template <async_stream NextLayer>
role_type stream<NextLayer>::role() const noexcept
{
    return impl_->role;
}

template <async_stream NextLayer>
bool stream<NextLayer>::is_open() const noexcept
{
    return impl_ && !impl_->closed;
}

template <async_stream NextLayer>
void stream<NextLayer>::set_initial_bytes(std::string_view bytes)
{
    if (!bytes.empty()) impl_->busy().pending.append(bytes);
}

template <async_stream NextLayer>
template <asio::completion_token_for<void(std::error_code)> CompletionToken>
auto stream<NextLayer>::async_accept(http::request const& req, std::string_view subprotocol, CompletionToken&& token)
{
    auto ec = check_request(req);
    auto res = ec ? refuse_response(ec) : accept_response(req, subprotocol);
    auto& s = *impl_;
    if (!ec && detail::deflate_available(s.opt->deflate)) {
        // RFC 7692 §5: the first acceptable offer wins; none acceptable, no compression.
        if (auto a = negotiate_deflate(req.headers.find_all("Sec-WebSocket-Extensions"), s.opt->deflate,
                                       detail::deflate_over_budget(s.opt->deflate))) {
            res.headers.add("Sec-WebSocket-Extensions", a->response);
            s.start_deflate(a->params);
        }
    }
    auto out = std::make_unique<std::string>();
    http::serialize(res, *out, 11, !ec);
    return asio::async_compose<CompletionToken, void(std::error_code)>(
        detail::accept_op<NextLayer>{impl_, ec, std::move(out)}, token, impl_->next);
}

template <async_stream NextLayer>
template <class DynamicBuffer, asio::completion_token_for<void(std::error_code, std::size_t)> CompletionToken>
auto stream<NextLayer>::async_read(DynamicBuffer& buffer, CompletionToken&& token)
{
    static_assert(asio::is_dynamic_buffer_v2<DynamicBuffer>::value,
                  "rtmsg: async_read needs a DynamicBuffer_v2, for example asio::dynamic_buffer(std::string&)");
    return asio::async_compose<CompletionToken, void(std::error_code, std::size_t)>(
        detail::read_op<NextLayer, DynamicBuffer>{impl_, buffer}, token, impl_->next);
}

template <async_stream NextLayer>
template <class DynamicBuffer, class F>
std::size_t stream<NextLayer>::read_buffered(DynamicBuffer& buffer, F&& f)
{
    static_assert(asio::is_dynamic_buffer_v2<DynamicBuffer>::value,
                  "rtmsg: read_buffered needs a DynamicBuffer_v2, for example asio::dynamic_buffer(std::string&)");
    auto& s = *impl_;
    RTMSG_ASSERT(!s.reading && "rtmsg: read_buffered while an async_read is pending");
    using impl_type = detail::stream_impl<NextLayer>;
    std::size_t count = 0;
    // The handler may drop the last other reference to the stream.
    auto keep = impl_;
    while (s.has_pending() && !s.has_held_step() && !s.closed) {
        std::size_t bytes = 0;
        auto const r = s.process_pending(buffer, bytes);
        if (r.kind == impl_type::step_kind::need_more) break;
        if (r.kind != impl_type::step_kind::message) {
            s.busy().held_step = r; // the next async_read answers it (echo the close, or fail)
            break;
        }
        ++count;
        s.corked = s.has_pending();
        // A message seen where it lies pins the thread's buffer while `f` runs.
        struct pin_guard {
            std::uint32_t* pins = nullptr;
            ~pin_guard()
            {
                if (pins) --*pins;
            }
        } pin;
        if constexpr (requires { buffer.viewing(); })
            if (buffer.viewing()) {
                pin.pins = &detail::thread_read_pins();
                ++*pin.pins;
            }
        if (!f(bytes)) break;
    }
    // A message cut short by the end of the input is left in `buffer`, which must own it.
    impl_type::keep_input(buffer);
    return count;
}

template <async_stream NextLayer>
message_type stream<NextLayer>::got_type() const noexcept
{
    return impl_->last_type;
}

template <async_stream NextLayer>
template <asio::completion_token_for<void(std::error_code, std::size_t)> CompletionToken>
auto stream<NextLayer>::async_write(message_type type, asio::const_buffer payload, CompletionToken&& token)
{
    return asio::async_initiate<CompletionToken, void(std::error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<detail::stream_impl<NextLayer>> impl, message_type type,
           asio::const_buffer payload) {
            auto ex = impl->next.get_executor();
            if (impl->closing) {
                auto hex = asio::get_associated_executor(handler, ex);
                asio::post(hex, [h = std::move(handler)]() mutable { h(make_error_code(error::closing), 0); });
                return;
            }
            using handler_type = decltype(handler);
            detail::out_frame f;
            if (impl->role == role_type::client || impl->compresses(static_cast<opcode>(type), payload.size())) {
                // A client must mask, and compression writes new bytes: both need a copy.
                f.storage = impl->make_frame(static_cast<opcode>(type),
                                             {static_cast<char const*>(payload.data()), payload.size()});
                f.bytes = f.storage.size();
            }
            else {
                f.header_size = static_cast<std::uint8_t>(
                    write_frame_header(f.header.data(), static_cast<opcode>(type), true, payload.size()));
                f.payload = payload;
                f.bytes = f.header_size + payload.size();
            }
            f.payload_size = payload.size();
            f.done = detail::waiter_impl<handler_type, decltype(ex)>::create(std::move(handler), ex);
            impl->queued_bytes += f.bytes;
            impl->busy().queued.push_back(std::move(f));
            impl->pump();
        },
        token, impl_, type, payload);
}

template <async_stream NextLayer>
template <asio::completion_token_for<void(std::error_code)> CompletionToken>
auto stream<NextLayer>::async_ping(std::string_view payload, CompletionToken&& token)
{
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [](auto handler, std::shared_ptr<detail::stream_impl<NextLayer>> impl, std::string_view payload) {
            auto ex = impl->next.get_executor();
            if (impl->closing || payload.size() > 125) {
                auto hex = asio::get_associated_executor(handler, ex);
                std::error_code ec =
                    impl->closing ? make_error_code(error::closing) : make_error_code(error::control_too_big);
                asio::post(hex, [h = std::move(handler), ec]() mutable { h(ec); });
                return;
            }
            using handler_type = decltype(handler);
            impl->enqueue_control(opcode::ping, payload,
                                  detail::waiter_impl<handler_type, decltype(ex)>::create(std::move(handler), ex));
        },
        token, impl_, payload);
}

template <async_stream NextLayer>
template <asio::completion_token_for<void(std::error_code)> CompletionToken>
auto stream<NextLayer>::async_close(std::uint16_t code, std::string_view reason, CompletionToken&& token)
{
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [](auto handler, std::shared_ptr<detail::stream_impl<NextLayer>> impl, std::uint16_t code,
           std::string_view reason) {
            auto ex = impl->next.get_executor();
            // On the stream's executor: the caller may be another thread (asio::use_future).
            asio::dispatch(ex, [impl, ex, code, why = std::string(reason), handler = std::move(handler)]() mutable {
                using handler_type = decltype(handler);
                if (impl->closing) {
                    auto hex = asio::get_associated_executor(handler, ex);
                    asio::post(hex, [h = std::move(handler)]() mutable { h(make_error_code(error::closing)); });
                    return;
                }
                impl->enqueue_close(code, why,
                                    detail::waiter_impl<handler_type, decltype(ex)>::create(std::move(handler), ex));
            });
        },
        token, impl_, code, reason);
}

template <async_stream NextLayer>
send_status stream<NextLayer>::send(message_type type, std::string_view payload)
{
    auto& s = *impl_;
    if (s.closing) return send_status::closed;
    auto const q = s.queued_bytes.load(std::memory_order_relaxed);
    if (q + payload.size() > s.opt->send_queue_hard_limit) return send_status::dropped;
    if (rtmsg::detail::runs_inline(s.next.get_executor())) {
        if (s.send_direct(static_cast<opcode>(type), payload))
            return s.queued_bytes.load(std::memory_order_relaxed) > s.opt->send_queue_soft_limit
                       ? send_status::backpressure
                       : send_status::queued;
        std::size_t now;
        if (auto const added = s.append_to_queued(static_cast<opcode>(type), payload)) {
            now = s.queued_bytes.fetch_add(added) + added;
            s.pump();
        }
        else {
            auto frame = s.make_frame(static_cast<opcode>(type), payload);
            auto const size = frame.size();
            now = s.queued_bytes.fetch_add(size) + size;
            s.push_owned(std::move(frame), nullptr, payload.size(), false); // not closing: checked above
        }
        return now > s.opt->send_queue_soft_limit ? send_status::backpressure : send_status::queued;
    }
    if (s.pmd) {
        // The compressor is the executor's: frame there.  Counted at the uncompressed size
        // until then.
        auto const estimate = payload.size() + max_header_size;
        auto const now = s.queued_bytes.fetch_add(estimate) + estimate;
        asio::dispatch(s.next.get_executor(), [impl = impl_, type, copy = std::string(payload), estimate]() mutable {
            if (impl->closing) {
                impl->queued_bytes -= estimate;
                return;
            }
            auto frame = impl->make_frame(static_cast<opcode>(type), copy);
            impl->queued_bytes += frame.size();
            impl->queued_bytes -= estimate;
            impl->push_owned(std::move(frame), nullptr, copy.size(), false);
        });
        return now > s.opt->send_queue_soft_limit ? send_status::backpressure : send_status::queued;
    }
    auto frame = s.make_frame(static_cast<opcode>(type), payload);
    auto const size = frame.size();
    auto const now = s.queued_bytes.fetch_add(size) + size;
    asio::dispatch(s.next.get_executor(),
                   [impl = impl_, frame = std::move(frame), size, payload_size = payload.size()]() mutable {
                       if (impl->closing) {
                           impl->queued_bytes -= size;
                           return;
                       }
                       impl->push_owned(std::move(frame), nullptr, payload_size, false);
                   });
    return now > s.opt->send_queue_soft_limit ? send_status::backpressure : send_status::queued;
}

template <async_stream NextLayer>
send_status stream<NextLayer>::send_frame(std::shared_ptr<std::string const> frame)
{
    auto& s = *impl_;
    RTMSG_ASSERT(s.role == role_type::server && "rtmsg: send_frame needs unmasked (server role) frames");
    auto const size = frame->size();
    return s.submit(size, limits(), [frame = std::move(frame), size](auto& impl) mutable {
        impl.push_shared(std::move(frame), size);
        impl.pump();
    });
}

template <async_stream NextLayer>
send_status stream<NextLayer>::send_frames(std::span<std::shared_ptr<std::string const>> frames)
{
    RTMSG_ASSERT(impl_->role == role_type::server && "rtmsg: send_frames needs unmasked (server role) frames");
    return impl_->submit_all(frames, limits(), [](auto& impl, std::shared_ptr<std::string const> f, std::size_t size) {
        impl.push_shared(std::move(f), size);
    });
}

template <async_stream NextLayer>
template <class F>
void stream<NextLayer>::on_idle(F&& f)
{
    impl_->wait_idle(std::forward<F>(f));
}

template <async_stream NextLayer>
transport::queue_limits stream<NextLayer>::limits() const noexcept
{
    transport::queue_limits l;
    l.soft = impl_->opt->send_queue_soft_limit;
    l.hard = impl_->opt->send_queue_hard_limit;
    return l;
}

template <async_stream NextLayer>
void stream<NextLayer>::close_after_idle(std::uint16_t code, std::string_view reason)
{
    std::string r(reason.substr(0, 123));
    asio::post(impl_->next.get_executor(), [impl = impl_, code, r = std::move(r)] { impl->close_when_idle(code, r); });
}

template <async_stream NextLayer>
void stream<NextLayer>::close(std::uint16_t code, std::string_view reason)
{
    std::string r(reason.substr(0, 123));
    asio::dispatch(impl_->next.get_executor(),
                   [impl = impl_, code, r = std::move(r)] { impl->enqueue_close(code, r, nullptr); });
}

template <async_stream NextLayer>
std::size_t stream<NextLayer>::queued_bytes() const noexcept
{
    return impl_->queued_bytes.load(std::memory_order_relaxed);
}

template <async_stream NextLayer>
std::optional<deflate_params> stream<NextLayer>::compression() const noexcept
{
    if (!impl_->pmd) return std::nullopt;
    return impl_->pmd->params;
}

template <async_stream NextLayer>
transport::read_batch* stream<NextLayer>::batch() noexcept
{
    auto& s = *impl_;
    if (!s.corked && !s.deferred.active()) return nullptr;
    s.deferred.set_more(s.corked);
    return &s.deferred;
}

template <async_stream NextLayer>
std::size_t stream<NextLayer>::spare_storage() const noexcept
{
    return impl_->spare_storage();
}

template <async_stream NextLayer>
std::uint16_t stream<NextLayer>::close_code() const noexcept
{
    return impl_->peer_code;
}

template <async_stream NextLayer>
std::string_view stream<NextLayer>::close_reason() const noexcept
{
    auto const& s = impl_->seldom_;
    return s && s->peer_reason ? std::string_view(*s->peer_reason) : std::string_view{};
}

template <async_stream NextLayer>
template <class F>
void stream<NextLayer>::on_drained(F&& f)
{
    auto& s = *impl_;
    if (s.queued_bytes.load() <= s.opt->send_queue_soft_limit / 2 || s.closed) {
        asio::post(s.next.get_executor(), std::forward<F>(f));
        return;
    }
    s.drained = std::forward<F>(f);
}

} // namespace rtmsg::websocket
