#pragma once
// Endpoints that attach WebSocket and SSE clients to a hub.
#include <rtmsg/codec/json.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/server/router.hpp>
#include <rtmsg/http/status.hpp>
#include <rtmsg/hub/hub.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/sse/event.hpp>
#include <rtmsg/websocket/connection.hpp>
#include <rtmsg/websocket/frame.hpp>
#include <rtmsg/websocket/frame_compressor.hpp>

#include <asio/post.hpp>

#include <any>
#include <charconv>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
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
template <class Connection>
peer_info peer_of(Connection const& c) noexcept
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

/// The outbox of one transport connection: drains into it while its socket keeps up.
template <class Connection>
class connection_outbox final : public outbox {
public:
    connection_outbox(std::shared_ptr<hub_core> core, std::shared_ptr<Connection> const& c, int format,
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
        asio::post(conn->get_executor(), [self = shared_self()] {
            auto c = self->conn_.lock();
            if (!c) return;
            // Nothing queued or in flight: drain now rather than post once more.
            if (c->queued_bytes() == 0)
                self->drain();
            else
                c->on_idle([self] { self->drain(); });
        });
    }

    void kick() override
    {
        auto const conn = conn_.lock();
        if (!conn) return;
        asio::post(conn->get_executor(), [self = shared_self()] {
            if (auto c = self->conn_.lock()) {
                if constexpr (std::is_same_v<Connection, websocket::connection>)
                    c->close(websocket::close_code::policy_violation, "slow consumer");
                else
                    c->close();
            }
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
    std::weak_ptr<Connection> conn_;
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

/// Outboxes of an endpoint's open connections.
struct endpoint_registry {
    std::mutex m;
    std::unordered_map<std::uint64_t, std::shared_ptr<outbox>> boxes;

    void add(std::uint64_t id, std::shared_ptr<outbox> b)
    {
        std::lock_guard<std::mutex> lock(m);
        boxes[id] = std::move(b);
    }
    std::shared_ptr<outbox> find(std::uint64_t id)
    {
        std::lock_guard<std::mutex> lock(m);
        auto it = boxes.find(id);
        return it == boxes.end() ? nullptr : it->second;
    }
    std::shared_ptr<outbox> take(std::uint64_t id)
    {
        std::lock_guard<std::mutex> lock(m);
        auto it = boxes.find(id);
        if (it == boxes.end()) return nullptr;
        auto b = std::move(it->second);
        boxes.erase(it);
        return b;
    }
};

} // namespace detail

/// Options of a raw_endpoint.
struct raw_endpoint_options {
    /** May clients publish by sending messages?  false (the default): the endpoint is
        push-only, and a message from a client closes its connection with 1008 (policy
        violation).  true: each message is published to the topic, when the hub's checks let
        it through (hub_core::admit_publish: can_publish, the per-identity rate limit, the
        on_publish hook, which may also replace it); a refused message closes the connection
        with 1008 and the refusal's reason, since a raw endpoint has no error message. */
    bool client_publish = false;
};

/** A WebSocket endpoint bound to one topic, without any protocol: every message of `topic`
    is sent to every client as is (text or binary).  With `o.client_publish`, every message a
    client sends is published to `topic` as is, the sender receiving it too (`/broadcast` of
    rtmsg-testbed); by default the endpoint is push-only.

    Authorization: a client is refused with 403 at the upgrade when hub_options::can_subscribe
    says no for the topic, and its connection is closed with 1008 when it sends a message that
    it may not publish (a push-only endpoint, hub_options::can_publish, the per-identity rate
    limit or hub_options::on_publish).  Subscribers of a raw endpoint get payloads only: the
    attested sender (`from`) reaches protocol_endpoint and SSE pattern-stream subscribers.

    `base` supplies options and hooks (on_upgrade for authentication: the identity it accepts
    a client as, upgrade_decision::accept_as, is used for authorization and attached to what
    the client publishes); its on_open / on_message /
    on_close are replaced, and its on_upgrade is called first.

    @throws std::system_error (hub_error::too_many_formats) when the hub has no room for the
    raw format (see rtmsg::max_formats). */
inline websocket::behavior raw_endpoint(hub& h, std::string topic, websocket::behavior base = {},
                                        raw_endpoint_options o = {})
{
    auto core = rtmsg::detail::hub_access::core(h);
    auto reg = std::make_shared<detail::endpoint_registry>();
    auto const format = detail::register_ws_format(*core, "ws.raw", detail::encode_ws_raw, base);
    base.on_upgrade = [core, topic, auth = std::move(base.on_upgrade)](websocket::upgrade_request const& u) {
        return detail::admit_subscriber(*core, auth, u, topic);
    };
    base.on_open = [core, reg, topic, format](websocket::connection_ptr const& c) {
        auto box = std::make_shared<detail::connection_outbox<websocket::connection>>(
            core, c, format.for_connection(*c), c->peer());
        reg->add(c->id(), box);
        core->connection_opened();
        if (auto ec = core->subscribe(box, topic, {}, nullptr))
            c->close(websocket::close_code::policy_violation, ec.message());
    };
    auto const topic_ptr = std::make_shared<std::string const>(topic);
    if (!o.client_publish) {
        base.on_message = [](websocket::connection_ptr const& c, websocket::message_view) {
            c->close(websocket::close_code::policy_violation, "this endpoint is push-only");
        };
    }
    else
        base.on_message = [core, topic_ptr](websocket::connection_ptr const& c, websocket::message_view m) {
            auto kind = m.is_text() ? codec::data_kind::text : codec::data_kind::binary;
            std::string_view data = m.data;
            auto const& opt = core->options();
            std::optional<publish_verdict> verdict; // holds a replaced payload while it is published
            if (opt.can_publish || opt.on_publish || opt.publish_messages_per_identity.rate > 0) {
                verdict = core->admit_publish(detail::peer_of(*c), {*topic_ptr, data, kind},
                                              std::chrono::steady_clock::now());
                if (verdict->error) {
                    // No error channel here: the refusal is a close frame, with the reason.
                    c->close(websocket::close_code::policy_violation,
                             verdict->reason.empty() ? verdict->error.message() : verdict->reason);
                    return;
                }
                if (verdict->data) {
                    data = *verdict->data;
                    kind = verdict->kind;
                }
            }
            auto* const batch = c->batch(); // this message's read batch, if others came with it
            auto b = batch ? std::static_pointer_cast<detail::raw_batch>(batch->carry()) : nullptr;
            if (!b && (!batch || !batch->more())) {
                core->publish(*topic_ptr, data, kind, c->id(), c->peer(), true);
                return;
            }
            if (!b) {
                b = std::make_shared<detail::raw_batch>();
                b->core = core;
                b->topic = topic_ptr;
                batch->carry() = b; // only this endpoint handles this connection's messages
                batch->defer([b] { b->flush(); });
            }
            auto msg = std::make_shared<message>();
            msg->payload.assign(data);
            msg->kind = kind;
            msg->publisher = c->id();
            msg->origin = codec::origin::peer;
            msg->from = c->peer();
            msg->time = std::chrono::steady_clock::now();
            b->msgs.push_back(std::move(msg));
            // The last message of the batch: publish them all now; the wake-ups run as the batch ends.
            if (!batch->more()) b->flush(batch);
        };
    base.on_close = [core, reg](websocket::connection_ptr const& c, std::uint16_t, std::string_view) {
        if (auto box = reg->take(c->id())) {
            core->remove(*box);
            core->connection_closed();
        }
    };
    return base;
}

/// Options of an SSE endpoint.
struct sse_endpoint_options {
    /// The topic or pattern streamed; empty: the `topic` query parameter names it.
    std::string topic;
    /// Settings of the streams (heartbeat, retry, queue).
    sse::options stream;
    /// Authentication before the stream starts (upgrade_decision::accept_as sets the identity).
    std::function<websocket::upgrade_decision(websocket::upgrade_request const&)> authenticate;
};

/** An SSE endpoint streaming one topic or a wildcard pattern.

    - One topic: each event carries `id:` (the topic offset) and the payload itself as
      `data:` lines, whatever its kind (binary payloads too, as their bytes).
    - A pattern (`prices.*`, `prices.>`): `id:` is the hub's sequence number, which orders
      messages across topics, and `data:` is the JSON envelope
      `{"op":"msg","topic":...,"data":...,"offset":...,"epoch":...,"from":...}` so that the
      client knows the topic and the attested sender.

    A client that reconnects with `Last-Event-ID` (or `?lastEventId=`) first receives the
    retained messages after that id, then live ones, with no gap and no duplicate.  Ids
    carry no epoch: one beyond what the topic (or the hub) has numbered comes from an earlier
    run of the server, and the client then gets everything retained. */
inline sse::behavior sse_endpoint(hub& h, sse_endpoint_options o = {})
{
    auto core = rtmsg::detail::hub_access::core(h);
    auto reg = std::make_shared<detail::endpoint_registry>();
    int const by_offset = core->format("sse.offset", detail::encode_sse_offset);
    int const by_seq = core->format("sse.envelope", detail::encode_sse_envelope);
    auto topic_of = [fixed = o.topic](http::request const& req) {
        return fixed.empty() ? req.query_param("topic").value_or("") : fixed;
    };
    sse::behavior b;
    b.options = o.stream;
    b.keep_request = false; // on_open reads the topic from it; a stream lives long
    b.on_upgrade = [core, topic_of, auth = o.authenticate](websocket::upgrade_request const& u) {
        auto const topic = topic_of(u.request);
        if (!is_valid_pattern(topic))
            return websocket::upgrade_decision::refuse(http::status::bad_request, "invalid or missing topic");
        return detail::admit_subscriber(*core, auth, u, topic);
    };
    b.on_open = [core, reg, topic_of, by_offset, by_seq](sse::connection_ptr const& c) {
        auto const topic = topic_of(c->request());
        bool const pattern = is_wildcard(topic);
        auto box = std::make_shared<detail::connection_outbox<sse::connection>>(core, c, pattern ? by_seq : by_offset,
                                                                                c->peer());
        reg->add(c->id(), box);
        core->connection_opened();
        subscribe_options so;
        if (auto const& id = c->last_event_id())
            if (auto v = detail::parse_u64(*id)) {
                so.has_since = true;
                so.since = *v;
                so.by_seq = pattern;
            }
        if (core->subscribe(box, topic, so, nullptr)) c->close();
    };
    b.on_close = [core, reg](sse::connection_ptr const& c) {
        if (auto box = reg->take(c->id())) {
            core->remove(*box);
            core->connection_closed();
        }
    };
    return b;
}

/// A plain handler serving the hub's metrics in the Prometheus text format:
/// `server.routes().get("/metrics", rtmsg::metrics_handler(hub));`
inline http::handler metrics_handler(hub& h)
{
    return [core = rtmsg::detail::hub_access::core(h)](http::request const&, http::response& res) {
        res.headers.add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        res.body = prometheus_text(core->metrics());
    };
}

} // namespace rtmsg
