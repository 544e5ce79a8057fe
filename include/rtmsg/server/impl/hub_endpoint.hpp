#pragma once
// The definitions of server/hub_endpoint.hpp: the per-connection outbox that queues a hub's
// messages on a WebSocket or SSE connection, and the raw and SSE endpoints.
#include <rtmsg/server/hub_endpoint.hpp>

#include <rtmsg/codec/json.hpp>
#include <rtmsg/detail/byte_lock.hpp>
#include <rtmsg/detail/executor.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/server/router.hpp>
#include <rtmsg/http/status.hpp>
#include <rtmsg/hub/detail/core.hpp>
#include <rtmsg/hub/hub.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/sse/event.hpp>
#include <rtmsg/transport/connection.hpp>
#include <rtmsg/websocket/connection.hpp>
#include <rtmsg/websocket/frame.hpp>
#include <rtmsg/websocket/frame_compressor.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <any>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace rtmsg {

namespace detail {

/// Frames a WebSocket message: header + payload.
inline void append_ws_frame(std::string& out, websocket::opcode op, std::string_view payload)
{
    char hdr[websocket::max_header_size];
    auto const n = websocket::write_frame_header(hdr, op, true, payload.size());
    out.reserve(n + payload.size());
    out.append(hdr, n);
    out.append(payload);
}

/// Raw WebSocket format: the payload itself, text or binary as published.
inline bool encode_ws_raw(message const& m, std::string& out)
{
    if (m.op != codec::op::message) return false;
    append_ws_frame(out, m.kind == codec::data_kind::binary ? websocket::opcode::binary : websocket::opcode::text,
                    m.payload);
    return true;
}

/// The attested sender of a message, for an envelope that `m` outlives.
inline void set_sender(codec::envelope& e, message const& m) noexcept
{
    e.from = m.origin;
    if (m.origin == codec::origin::peer && m.from) {
        e.from_id = m.from->id;
        e.from_info = m.from->info;
    }
}

/// SSE format of a single-topic stream: `id:` is the topic offset, `data:` the payload.
inline bool encode_sse_offset(message const& m, std::string& out)
{
    if (m.op != codec::op::message) return false;
    auto const id = std::to_string(m.offset);
    sse::format_event(out, {m.payload, id, {}, 0});
    return true;
}

/// SSE format of a pattern stream: `id:` is the hub sequence number (one id orders every
/// topic the pattern matches), `data:` the JSON message envelope (topic, offset, epoch, data).
inline bool encode_sse_envelope(message const& m, std::string& out)
{
    if (m.op != codec::op::message) return false;
    codec::envelope e;
    e.op = codec::op::message;
    e.topic = m.topic;
    e.data = m.payload;
    e.kind = m.kind;
    e.offset = m.offset;
    e.epoch = m.epoch;
    set_sender(e, m);
    thread_local codec::json c;
    thread_local std::string body;
    body.clear();
    if (c.encode(e, body)) return false;
    auto const id = std::to_string(m.seq);
    sse::format_event(out, {body, id, {}, 0});
    return true;
}

/// A WebSocket wire format of the hub and, when its endpoint compresses once, its
/// permessage-deflate twin.
struct ws_format {
    int plain = -1;
    int deflated = -1; ///< -1: no twin (no compression, or compressed per connection)
    std::shared_ptr<websocket::frame_compressor> z;

    /// The format for `c`: the compressed twin when `c` can inflate its frames.
    int for_connection(websocket::connection const& c) const
    {
        if (deflated >= 0)
            if (auto const p = c.compression(); p && z->fits(*p)) return deflated;
        return plain;
    }
};

/** Registers the wire format `key` and, when `base` enables permessage-deflate and the hub
    compresses once (hub_options::compress_per_connection false), its compressed twin, each
    message compressed once for every subscriber; then every peer is answered
    `server_no_context_takeover` (base's options are changed so), which is what lets them
    share compressed frames. */
inline ws_format register_ws_format(hub_core& core, std::string const& key, format_encoder enc,
                                    websocket::behavior& base)
{
    ws_format f;
    f.plain = core.format(key, enc);
    auto& d = base.options.deflate;
    if (core.options().compress_per_connection || !websocket::frame_compressor::available(d)) return f;
    d.no_context_takeover = true;
    f.z = std::make_shared<websocket::frame_compressor>(d);
    auto const& zo = f.z->options();
    auto const zkey = key + "+deflate/" + std::to_string(zo.window_bits) + "/" + std::to_string(zo.mem_level) + "/" +
                      std::to_string(zo.threshold);
    f.deflated = core.format(zkey, [enc = std::move(enc), z = f.z](message const& m, std::string& out) {
        thread_local std::string frame;
        frame.clear();
        if (!enc(m, frame)) return false;
        if (!z->compress(frame, out)) out.assign(frame); // small or incompressible: as it is
        return true;
    });
    return f;
}

using upgrade_hook = std::function<websocket::upgrade_decision(websocket::upgrade_request const&)>;

/// The decision of the host's hook (accept when it has none), turned into a refusal with 403
/// when the hub's can_subscribe says no to that identity for `topic`.
inline websocket::upgrade_decision admit_subscriber(hub_core& core, upgrade_hook const& auth,
                                                    websocket::upgrade_request const& u, std::string_view topic)
{
    auto d = auth ? auth(u) : websocket::upgrade_decision::accept();
    if (d.accepted && core.options().can_subscribe &&
        !core.options().can_subscribe(peer_info{0, d.identity, d.info}, topic))
        return websocket::upgrade_decision::refuse(http::status::forbidden, "not allowed");
    return d;
}

/// Who a connection is, for the hub's authorization hooks.
inline peer_info peer_of(transport::connection const& c) noexcept
{
    auto const& p = c.peer();
    return p ? peer_info{c.id(), p->id, p->info} : peer_info{c.id(), {}, {}};
}

inline std::optional<std::uint64_t> parse_u64(std::string_view s)
{
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
    return v;
}

/// The outbox of one connection, WebSocket or SSE: drains into it while its socket keeps up.
class connection_outbox final : public outbox {
public:
    connection_outbox(std::shared_ptr<hub_core> core, std::shared_ptr<transport::connection> const& c, int format,
                      peer_identity_ptr peer)
        : outbox(format, core->options().queue, c->id(), std::move(peer)), core_(std::move(core)), conn_(c)
    {
    }

private:
    void wake() override { post_wake(); }

    /// Its connection object is gone (destroyed without a close callback, for example with
    /// its io_context): the hub drops this outbox at its next delivery.
    bool alive() const noexcept override { return !conn_.expired(); }

    void post_wake()
    {
        // The executor comes from the live connection, never from a copy kept here: an outbox
        // may outlive its io_context, and then neither a post nor an executor's destructor is safe.
        auto const conn = conn_.lock();
        if (!conn) return;
        auto ex = conn->get_executor();
        // Connections on a plain io_context (a single-threaded server) share one posted
        // handler per fan-out: a post per subscriber costs two allocations (Asio recycles
        // only a couple of blocks per thread, and a fan-out posts a thousand before the first
        // runs) and a pass through the scheduler.  A strand's connections are posted one by one.
        if (auto const* io = rtmsg::detail::executor_target<asio::io_context::executor_type>(ex)) {
            auto& open = open_wakes();
            auto* const ctx = &io->context();
            if (open.ctx == ctx)
                if (auto g = open.group.lock()) {
                    std::lock_guard<rtmsg::detail::byte_lock> lock(g->m);
                    if (!g->running) {
                        g->boxes.push_back(shared_self());
                        return;
                    }
                }
            auto g = std::make_shared<wake_group>();
            g->boxes.push_back(shared_self());
            open = {ctx, g};
            asio::post(ex, [g = std::move(g)] {
                std::vector<std::shared_ptr<connection_outbox>> boxes;
                {
                    std::lock_guard<rtmsg::detail::byte_lock> lock(g->m);
                    g->running = true; // wake-ups from now on start a group of their own
                    boxes.swap(g->boxes);
                }
                for (auto const& b : boxes) b->woken();
            });
            return;
        }
        asio::post(ex, [self = shared_self()] { self->woken(); });
    }

    /// On the connection's executor, after a wake-up.
    void woken()
    {
        auto c = conn_.lock();
        if (!c) return;
        // Nothing queued or in flight: drain now rather than post once more.
        if (c->queued_bytes() == 0)
            drain();
        else
            c->on_idle([self = shared_self()] { self->drain(); });
    }

    /// Wake-ups posted as one handler; subscribers join it until it starts to run.
    struct wake_group {
        rtmsg::detail::byte_lock m;
        bool running = false;
        std::vector<std::shared_ptr<connection_outbox>> boxes;
    };
    /// The group this thread last posted, and to which io_context.  Weak: the posted handler
    /// owns the group, and a context destroyed with it pending destroys the group too.
    struct open_wake_group {
        asio::io_context const* ctx = nullptr;
        std::weak_ptr<wake_group> group;
    };
    static open_wake_group& open_wakes()
    {
        thread_local open_wake_group g;
        return g;
    }

    void kick() override
    {
        auto const conn = conn_.lock();
        if (!conn) return;
        asio::post(conn->get_executor(), [self = shared_self()] {
            // A WebSocket gets 1008 with the reason; an SSE stream just ends.
            if (auto c = self->conn_.lock()) c->end(websocket::close_code::policy_violation, "slow consumer");
        });
    }

    /// Runs on the connection's executor when its write queue is empty: hands over the
    /// next batch (one gathered write), then waits for the socket again.
    void drain()
    {
        auto c = conn_.lock();
        if (!c) return;
        // The server is stopping and closes after this drain: hand over what was queued when
        // that was first seen, batch by batch, but not what keeps arriving.
        if (!stopping_ && c->server_stopping()) {
            stopping_ = true;
            stop_left_ = backlog().first;
        }
        // The batch travels in the thread's scratch vectors, not in members: an idle
        // subscriber then holds neither 48 bytes of empty vectors nor the arrays its last
        // burst grew them to.  They are moved out while in use, so a drain nested in this
        // one (none is known) would only allocate its own.
        auto& scratch = drain_scratch();
        auto batch = std::move(scratch.batch);
        auto frames = std::move(scratch.frames);
        batch.clear();
        take(batch, 256 * 1024, stop_left_);
        std::size_t bytes = 0;
        frames.clear();
        for (auto const& it : batch) {
            frames.push_back(frame_of(it));
            bytes += frames.back()->size();
        }
        c->send_frames(frames); // the whole batch in one gathered write
        frames.clear();
        if (auto core = core_.lock()) core->bytes_written(bytes);
        if (stopping_) stop_left_ -= batch.size();
        batch.clear();
        scratch.batch = std::move(batch);
        scratch.frames = std::move(frames);
        if (stop_left_ != 0 && !empty_now()) c->on_idle([self = shared_self()] { self->drain(); });
    }

    bool empty_now() { return backlog().first == 0; }

    struct scratch_vectors {
        std::vector<item> batch;
        std::vector<std::shared_ptr<std::string const>> frames;
    };
    static scratch_vectors& drain_scratch()
    {
        thread_local scratch_vectors s;
        return s;
    }

    std::shared_ptr<connection_outbox> shared_self()
    {
        return std::static_pointer_cast<connection_outbox>(shared_from_this());
    }

    std::weak_ptr<hub_core> core_; // weak: the hub holds its subscribers' outboxes
    std::weak_ptr<transport::connection> conn_;
    bool stopping_ = false;
    std::size_t stop_left_ = SIZE_MAX; ///< once stopping: items still to hand over
};

/** Messages a raw_endpoint connection sent in one read batch (transport::read_batch): they
    reach the hub together, with its last message or when the batch ends
    (hub_core::publish_many), so that each subscriber takes the lock of its queue and is woken
    once per batch, not once per message.  Carried by the batch, and flushed by work deferred
    in it, which runs when the batch ends, when the connection fails, or when it is destroyed:
    nothing published is held back or lost. */
struct raw_batch {
    std::shared_ptr<hub_core> core;
    std::shared_ptr<std::string const> topic;
    std::vector<std::shared_ptr<message>> msgs;

    /// Publishes what was gathered; the subscribers' wake-ups wait for the end of `batch`, if any.
    void flush(transport::read_batch* batch = nullptr)
    {
        if (msgs.empty()) return;
        auto v = std::move(msgs);
        msgs.clear();
        core->publish_many(*topic, v, true, batch);
    }
};

/// An endpoint's connection closed: its outbox, kept in the connection's behavior_state()
/// since on_open, leaves the hub.
inline void release_outbox(hub_core& core, transport::connection& c)
{
    auto const box = std::static_pointer_cast<connection_outbox>(std::exchange(c.behavior_state(), nullptr));
    if (!box) return;
    core.remove(*box);
    core.connection_closed();
}

} // namespace detail

} // namespace rtmsg
