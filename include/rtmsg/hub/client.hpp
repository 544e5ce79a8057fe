#pragma once
// rtmsg::hub_client: the wire protocol (docs/protocol.md) from C++, over the WebSocket
// client, with reconnection, resubscription and resume.  The model is js/rtmsg.js.
#include <rtmsg/codec/binary.hpp>
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/codec/json.hpp>
#include <rtmsg/hub/error.hpp>
#include <rtmsg/hub/topic.hpp>
#include <rtmsg/websocket/client.hpp>

#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace rtmsg {

/// Reconnection settings of hub_client (the defaults of js/rtmsg.js).
struct backoff_options {
    bool enabled = true;                          ///< false: a lost connection closes the client
    std::chrono::milliseconds initial_delay{250}; ///< the delay before the first retry
    std::chrono::milliseconds max_delay{10'000};  ///< the delay never exceeds this
    double factor = 2;                            ///< growth per failed attempt
    double jitter = 0.5;                          ///< each delay is reduced by a random fraction up to this
};

/** The delay before reconnection attempt `attempt` (0 for the first retry):
    `initial_delay * factor^attempt`, capped at `max_delay`, then reduced by
    `jitter * random01` (random01 in [0, 1)).  Always within [0, max_delay]. */
inline std::chrono::milliseconds backoff_delay(unsigned attempt, backoff_options const& o, double random01)
{
    double const jitter = std::clamp(o.jitter, 0.0, 1.0);
    double base = static_cast<double>(o.initial_delay.count());
    for (unsigned i = 0; i < attempt && base < static_cast<double>(o.max_delay.count()); ++i) base *= o.factor;
    base = std::min(base, static_cast<double>(o.max_delay.count()));
    double const d = std::clamp(base * (1 - jitter * random01), 0.0, static_cast<double>(o.max_delay.count()));
    return std::chrono::milliseconds(static_cast<std::int64_t>(d));
}

/// The connection state of a hub_client.
enum class hub_client_state { idle, connecting, open, reconnecting, closed };

/// A message delivered to a subscription.  The views are valid during the callback only.
struct hub_client_message {
    std::string_view topic; ///< the concrete topic (also for pattern subscriptions)
    std::string_view data;  ///< JSON text, UTF-8 text or raw bytes, see kind
    /** What `data` holds: JSON text, UTF-8 text or bytes. */
    codec::data_kind kind = codec::data_kind::json;
    /// The message's offset in its topic.
    std::uint64_t offset = 0;
    /// The topic's epoch: offsets are comparable only within one epoch.
    std::uint64_t epoch = 0;
    /// Who published it, as the server attests: origin::server (an in-process publish),
    /// origin::peer (`from_id`, `from_info`), or origin::unknown (a server that does not say).
    codec::origin from = codec::origin::unknown;
    std::string_view from_id;   ///< origin::peer: the publisher's identity (empty: anonymous)
    std::string_view from_info; ///< origin::peer: the client information its server attached (JSON), or empty
};

/// The server could not resume `topic`: offsets `from` through `to` of `epoch` are lost.
struct hub_gap {
    /// The topic that could not be resumed.
    std::string topic;
    /// The first lost offset.
    std::uint64_t from = 0;
    /// The last lost offset.
    std::uint64_t to = 0;
    /// The topic's current epoch.
    std::uint64_t epoch = 0;
};

/// What a subscription's acknowledgement said: the topic's latest offset and epoch.
struct hub_subscribed {
    /// The topic's latest offset when the subscription was made (0: nothing published yet).
    std::uint64_t offset = 0;
    /// The topic's epoch.
    std::uint64_t epoch = 0;
};

/// Options of one subscription.
struct hub_subscription_options {
    std::uint32_t history = 0; ///< exact topics: first deliver up to this many retained messages
    bool presence = false;     ///< also report join/leave events for the topic

    /// join (true) / leave (false) events of `who` on `topic`, if `presence`.
    std::function<void(std::string_view topic, std::string_view who, bool joined)> on_presence;
};

/// Options of one publish.
struct hub_publish_options {
    codec::data_kind kind = codec::data_kind::json; ///< json (the data must be JSON), text or binary
    bool echo = true;                               ///< false: not delivered back to this client
};

/// Settings of a hub_client.
struct hub_client_options {
    /// WebSocket settings: headers (authentication), keepalive (ws.ping_interval and
    /// ws.idle_timeout decide how soon a silent server is noticed), TLS.  The subprotocol
    /// list is replaced by the codec's name.
    websocket::client_options ws;
    /// Reconnection: backoff and jitter, as js/rtmsg.js does.
    backoff_options reconnect;
    /// Publishes and presence queries fail with rtmsg::error::timeout without a reply in
    /// this time; zero: no limit.  Subscriptions never time out: they are resent on every
    /// connection until answered.
    std::chrono::milliseconds request_timeout{10'000};
    /// Every state change (on the client's executor).
    std::function<void(hub_client_state)> on_state;
    /// A gap notice: messages the server no longer has.  Reload state from your source of truth.
    std::function<void(hub_gap const&)> on_gap;
    /// A topic's epoch changed (its history restarted): offsets start over.
    std::function<void(std::string_view topic, std::uint64_t epoch, std::uint64_t previous)> on_reset;
    /// Errors not tied to a request: a refused subscription, a lost connection, an unreadable message.
    std::function<void(std::error_code, std::string_view what)> on_error;
};

namespace detail {

/// A move-only `void(Args...)` callable (completion handlers need not be copyable).
template <class... Args>
class once_function {
public:
    once_function() = default;
    template <class F>
    explicit once_function(F f) : p_(std::make_unique<impl<F>>(std::move(f)))
    {
    }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    void operator()(Args... args)
    {
        auto p = std::move(p_);
        if (p) p->call(std::forward<Args>(args)...);
    }

private:
    struct base {
        virtual ~base() = default;
        virtual void call(Args... args) = 0;
    };
    template <class F>
    struct impl final : base {
        explicit impl(F&& fn) : f(std::move(fn)) {}
        void call(Args... args) override { f(std::forward<Args>(args)...); }
        F f;
    };
    std::unique_ptr<base> p_;
};

/// Wraps a completion handler: keeps its executor busy, and completes through a post to it.
template <class... Results, class Handler, class Executor>
once_function<std::error_code, Results...> make_completion(Handler&& h, Executor const& ex)
{
    auto work = asio::make_work_guard(asio::get_associated_executor(h, ex));
    return once_function<std::error_code, Results...>(
        [h = std::forward<Handler>(h), work = std::move(work)](std::error_code ec, Results... r) mutable {
            auto e = work.get_executor();
            asio::post(e, [h = std::move(h), ec, r...]() mutable { std::move(h)(ec, std::move(r)...); });
            work.reset();
        });
}

/// The error a protocol `error` reply stands for (docs/protocol.md, Errors).
inline std::error_code hub_error_from_code(std::uint16_t code)
{
    for (int e = 1; e <= static_cast<int>(hub_error::unavailable); ++e)
        if (protocol_code(static_cast<hub_error>(e)) == code) return static_cast<hub_error>(e);
    return make_error_code(hub_error::bad_request);
}

template <codec::codec Codec>
class hub_client_impl : public std::enable_shared_from_this<hub_client_impl<Codec>> {
public:
    using executor_type = asio::any_io_executor;
    using reply_fn = once_function<std::error_code, codec::envelope const*>;

    hub_client_impl(executor_type e, std::string u, hub_client_options o)
        : ex(std::move(e)), url(std::move(u)), opt(std::move(o)), retry_timer(ex)
    {
        opt.ws.subprotocols = {std::string(Codec::name)};
    }

    executor_type ex;
    std::string url;
    hub_client_options opt;
    std::optional<websocket::client_stream> ws;
    client::response_head res;
    asio::steady_timer retry_timer;
    Codec codec;
    std::string rbuf;
    std::string scratch;
    std::atomic<hub_client_state> state{hub_client_state::idle};
    unsigned attempt = 0;
    std::uint64_t next_id = 1;
    std::uint64_t generation = 0; ///< counts connections; stale callbacks compare it
    std::size_t connections = 0;
    std::minstd_rand jitter_rng{std::random_device{}()};

    struct subscription {
        std::string topic;
        hub_subscription_options o;
        std::function<void(hub_client_message const&)> on_message;
        bool acked = false;
        std::uint64_t request = 0;
        once_function<std::error_code, hub_subscribed> done;
    };
    std::map<std::string, subscription> subs;
    struct position {
        std::uint64_t epoch = 0;
        std::uint64_t offset = 0;
    };
    std::unordered_map<std::string, position> positions;

    struct request {
        reply_fn done;
        std::string bytes; ///< the encoded request
        bool sent = false;
        bool internal = false; ///< subscriptions and resume helpers: dropped silently on connection loss
        std::shared_ptr<asio::steady_timer> timer;
    };
    std::map<std::uint64_t, request> pending;
    std::vector<std::uint64_t> outbox; ///< requests waiting for the connection

    // ---- connection ---------------------------------------------------------------------

    void set_state(hub_client_state s)
    {
        if (state.exchange(s) == s) return;
        if (opt.on_state) opt.on_state(s);
    }

    void report(std::error_code ec, std::string_view what)
    {
        if (opt.on_error) opt.on_error(ec, what);
    }

    void connect()
    {
        if (state == hub_client_state::closed) return;
        set_state(connections == 0 ? hub_client_state::connecting : hub_client_state::reconnecting);
        auto const gen = ++generation;
        ws.emplace(ex);
        websocket::async_connect(*ws, url, opt.ws, res, [self = this->shared_from_this(), gen](std::error_code ec) {
            if (gen != self->generation || self->state == hub_client_state::closed) return;
            if (!ec) {
                auto const p = self->res.headers.find("Sec-WebSocket-Protocol");
                if (!p || *p != Codec::name) ec = websocket::error::bad_subprotocol;
            }
            if (ec) return self->lost(ec, "connect");
            self->on_open();
        });
    }

    void on_open()
    {
        attempt = 0;
        ++connections;
        set_state(hub_client_state::open);
        // Resume pattern subscriptions: an exact `sub` with `since` for every concrete topic
        // seen through a pattern replays what was missed; it goes before the pattern's own
        // `sub` and is removed after it, so that the server's in-order processing leaves no
        // gap, and the duplicates in between are dropped by offset.
        std::vector<std::string> helpers;
        for (auto const& [pattern, sub] : subs) {
            if (!is_wildcard(pattern)) continue;
            for (auto const& [topic, pos] : positions) {
                if (subs.count(topic) || !topic_matches(pattern, topic)) continue;
                if (std::find(helpers.begin(), helpers.end(), topic) != helpers.end()) continue;
                helpers.push_back(topic);
                codec::envelope e{.op = codec::op::subscribe,
                                  .topic = topic,
                                  .offset = pos.offset,
                                  .epoch = pos.epoch,
                                  .has_since = true};
                send_request(e, true,
                             [w = this->weak_from_this(), t = topic](std::error_code ec, codec::envelope const* r) {
                                 auto self = w.lock();
                                 if (!self || ec || !r) return;
                                 self->on_position_ack(t, r->epoch, r->offset, false);
                             });
            }
        }
        for (auto& [topic, sub] : subs) send_subscribe(sub);
        for (auto const& t : helpers) {
            codec::envelope e;
            e.op = codec::op::unsubscribe;
            e.topic = t;
            send_request(e, true, [](std::error_code, codec::envelope const*) {});
        }
        auto queued = std::move(outbox);
        outbox.clear();
        for (auto id : queued) transmit(id);
        read();
    }

    void read()
    {
        rbuf.clear();
        auto b = asio::dynamic_buffer(rbuf);
        ws->async_read(b, [self = this->shared_from_this(), gen = generation](std::error_code ec, std::size_t) {
            if (gen != self->generation || self->state == hub_client_state::closed) return;
            if (ec) return self->lost(ec, "read");
            self->on_message();
            if (gen == self->generation && self->state == hub_client_state::open) self->read();
        });
    }

    /// The connection is gone: requests already sent are lost (at most once), subscriptions
    /// will be sent again; reconnect after a backoff delay.
    void lost(std::error_code ec, std::string_view what)
    {
        ++generation;
        if (ws) ws->close(websocket::close_code::going_away);
        report(ec, what);
        for (auto it = pending.begin(); it != pending.end();) {
            if (it->second.sent || it->second.internal) {
                auto r = std::move(it->second);
                it = pending.erase(it);
                if (r.timer) r.timer->cancel();
                if (!r.internal) r.done(asio::error::connection_reset, nullptr);
            }
            else
                ++it;
        }
        for (auto& [t, sub] : subs) sub.request = 0;
        if (state == hub_client_state::closed) return;
        if (!opt.reconnect.enabled) return shut(ec);
        set_state(hub_client_state::reconnecting);
        std::uniform_real_distribution<double> unit(0.0, 1.0);
        auto const delay = backoff_delay(attempt++, opt.reconnect, unit(jitter_rng));
        retry_timer.expires_after(delay);
        retry_timer.async_wait([w = this->weak_from_this(), gen = generation](std::error_code e) {
            auto self = w.lock();
            if (e || !self || gen != self->generation) return;
            self->connect();
        });
    }

    /// Closes for good: every request and unacknowledged subscription fails with `ec`.
    void shut(std::error_code ec)
    {
        ++generation;
        set_state(hub_client_state::closed);
        retry_timer.cancel();
        if (ws && ws->is_open()) ws->close(websocket::close_code::normal);
        auto p = std::move(pending);
        pending.clear();
        outbox.clear();
        for (auto& [id, r] : p) {
            if (r.timer) r.timer->cancel();
            r.done(ec, nullptr);
        }
        auto s = std::move(subs);
        subs.clear();
        for (auto& [t, sub] : s)
            if (sub.done) sub.done(ec, hub_subscribed{});
    }

    // ---- requests -----------------------------------------------------------------------

    /// Encodes `e` with a fresh id, registers `done` for the reply and sends it (or queues it
    /// until the connection is open).  Returns the id, 0 if `e` could not be encoded.
    template <class F>
    std::uint64_t send_request(codec::envelope& e, bool internal, F&& done,
                               std::chrono::milliseconds timeout = std::chrono::milliseconds(0))
    {
        auto const id = next_id++;
        e.id = id;
        request r;
        if (auto ec = codec.encode(e, r.bytes)) {
            done(ec, nullptr);
            return 0;
        }
        r.done = reply_fn(std::forward<F>(done));
        r.internal = internal;
        if (timeout.count() != 0) {
            r.timer = std::make_shared<asio::steady_timer>(ex, timeout);
            r.timer->async_wait([w = this->weak_from_this(), id](std::error_code ec) {
                auto self = w.lock();
                if (ec || !self) return;
                self->complete(id, rtmsg::error::timeout, nullptr);
            });
        }
        pending.emplace(id, std::move(r));
        if (state == hub_client_state::open)
            transmit(id);
        else if (!internal)
            outbox.push_back(id);
        else
            pending.erase(id);
        return id;
    }

    void transmit(std::uint64_t id)
    {
        auto it = pending.find(id);
        if (it == pending.end() || !ws) return; // timed out while queued
        it->second.sent = true;
        ws->send(Codec::is_text ? websocket::message_type::text : websocket::message_type::binary, it->second.bytes);
    }

    void complete(std::uint64_t id, std::error_code ec, codec::envelope const* reply)
    {
        auto it = pending.find(id);
        if (it == pending.end()) return;
        auto r = std::move(it->second);
        pending.erase(it);
        if (r.timer) r.timer->cancel();
        r.done(ec, reply);
    }

    void send_subscribe(subscription& sub)
    {
        codec::envelope e;
        e.op = codec::op::subscribe;
        e.topic = sub.topic;
        bool history = false;
        auto const pos = positions.find(sub.topic);
        if (pos != positions.end() && !is_wildcard(sub.topic)) {
            e.has_since = true;
            e.offset = pos->second.offset;
            e.epoch = pos->second.epoch;
        }
        else if (sub.o.history > 0 && !sub.acked && !is_wildcard(sub.topic)) {
            e.history = sub.o.history;
            history = true;
        }
        e.presence = sub.o.presence;
        std::string const topic = sub.topic;
        sub.request = send_request(
            e, true, [w = this->weak_from_this(), topic, history](std::error_code ec, codec::envelope const* r) {
                auto self = w.lock();
                if (!self || !r) return; // connection lost: sent again on the next one
                auto it = self->subs.find(topic);
                if (it == self->subs.end()) return;
                auto& sub = it->second;
                sub.request = 0;
                if (ec) {
                    // Refused: the subscription is gone.
                    auto done = std::move(sub.done);
                    self->subs.erase(it);
                    self->report(ec, "subscribe " + topic);
                    if (done) done(ec, hub_subscribed{});
                    return;
                }
                if (!is_wildcard(topic)) self->on_position_ack(topic, r->epoch, r->offset, history);
                sub.acked = true;
                if (sub.done) sub.done({}, hub_subscribed{r->offset, r->epoch});
            });
    }

    /// A subscription of an exact topic was acknowledged with the topic's epoch and latest offset.
    void on_position_ack(std::string const& topic, std::uint64_t epoch, std::uint64_t offset, bool history)
    {
        auto pos = positions.find(topic);
        if (pos != positions.end() && pos->second.epoch != epoch) {
            // A new lifetime of the topic: offsets start over and the server replays from its start.
            auto const previous = pos->second.epoch;
            pos->second = {epoch, 0};
            if (opt.on_reset) opt.on_reset(topic, epoch, previous);
        }
        else if (pos == positions.end())
            // Nothing seen yet: live messages follow the acknowledged offset; a history replay precedes it.
            positions[topic] = {epoch, history ? 0 : offset};
    }

    // ---- incoming -----------------------------------------------------------------------

    void on_message()
    {
        codec::envelope m;
        std::error_code ec;
        if constexpr (Codec::padding != 0) {
            scratch.assign(rbuf);
            scratch.resize(rbuf.size() + Codec::padding);
            ec = codec.decode(std::string_view(scratch.data(), rbuf.size()), m);
        }
        else
            ec = codec.decode(rbuf, m);
        if (ec) return report(ec, "unreadable server message");
        switch (m.op) {
        case codec::op::message: return deliver(m);
        case codec::op::ack:
        case codec::op::members: return complete(m.id, {}, &m);
        case codec::op::error: {
            auto const e = hub_error_from_code(m.code);
            if (m.id != 0 && pending.count(m.id)) return complete(m.id, e, &m);
            return report(e, m.text);
        }
        case codec::op::gap:
            if (opt.on_gap) opt.on_gap(hub_gap{std::string(m.topic), m.offset, m.to, m.epoch});
            return;
        case codec::op::join:
        case codec::op::leave:
            for (auto& [t, sub] : subs)
                if ((t == m.topic || topic_matches(t, m.topic)) && sub.o.on_presence)
                    sub.o.on_presence(m.topic, m.who, m.op == codec::op::join);
            return;
        default: return; // newer servers may add operations
        }
    }

    void deliver(codec::envelope const& m)
    {
        auto const topic = std::string(m.topic);
        auto pos = positions.find(topic);
        if (pos != positions.end() && pos->second.epoch == m.epoch && m.offset <= pos->second.offset)
            return; // already delivered
        std::vector<std::function<void(hub_client_message const&)>> targets;
        for (auto const& [t, sub] : subs)
            if ((t == topic || topic_matches(t, topic)) && sub.on_message) targets.push_back(sub.on_message);
        if (targets.empty()) return; // unsubscribed meanwhile
        positions[topic] = {m.epoch, m.offset};
        hub_client_message const msg{m.topic, m.data, m.kind, m.offset, m.epoch, m.from, m.from_id, m.from_info};
        for (auto& f : targets) f(msg);
    }
};

} // namespace detail

/** A client of the rtmsg wire protocol (docs/protocol.md) with codec `Codec`
    (rtmsg::codec::json, rtmsg::codec::binary, or any type satisfying rtmsg::codec::codec).

    @code
    rtmsg::hub_client<> client(ioc.get_executor(), "ws://127.0.0.1:9001/ws");
    client.async_subscribe("prices.*", [](rtmsg::hub_client_message const& m) {
        std::cout << m.topic << " " << m.data << "\n";
    }, {}, [](std::error_code ec, rtmsg::hub_subscribed) { ... });
    client.async_publish("chat.lobby", R"({"text":"hi"})", {}, [](std::error_code ec, std::uint64_t offset) { ... });
    client.start();
    @endcode

    **What it guarantees.**  After a lost connection (network error, server restart, a
    silent server noticed by the WebSocket keepalive) it reconnects with exponential backoff
    and jitter (backoff_options), resubscribes, and resumes every exact topic with `since` =
    the offset of the last message it delivered and that offset's epoch: handlers see every
    message once and in order.  Pattern subscriptions resume too: each concrete topic seen
    through the pattern is resubscribed exactly with `since` just before the pattern, then
    unsubscribed.  If the server no longer retains the resume point it says so (on_gap); if
    the topic's epoch changed (on_reset) offsets start over.  Requests (publish, presence)
    made while disconnected are queued and sent on the next connection; a request already
    sent when the connection drops fails with asio::error::connection_reset (at most once).

    @par Thread safety
    Distinct objects: Safe.  Shared objects: Safe: every member function hands its work to
    the client's executor; callbacks and completions run there (use a strand if the
    io_context runs on several threads).
*/
template <codec::codec Codec = codec::json>
class hub_client {
public:
    /// The executor the client runs on.
    using executor_type = asio::any_io_executor;

    /// A client of the protocol endpoint at `url` (`ws://` or `wss://`); it connects on start().
    hub_client(executor_type ex, std::string url, hub_client_options opt = {})
        : impl_(std::make_shared<detail::hub_client_impl<Codec>>(std::move(ex), std::move(url), std::move(opt)))
    {
    }
    /// Closes the connection (see close()).  No callback of the options or of a
    /// subscription runs after the destructor: they may refer to objects gone with it.
    ~hub_client()
    {
        if (!impl_) return;
        asio::dispatch(impl_->ex, [impl = impl_] {
            impl->opt.on_state = nullptr;
            impl->opt.on_gap = nullptr;
            impl->opt.on_reset = nullptr;
            impl->opt.on_error = nullptr;
            for (auto& [topic, sub] : impl->subs) {
                sub.on_message = nullptr;
                sub.o.on_presence = nullptr;
            }
            if (impl->state != hub_client_state::closed) impl->shut(asio::error::operation_aborted);
        });
    }
    /// Moves the client; the moved-from object must not be used again.
    hub_client(hub_client&&) noexcept = default;
    /// Moves the client; the moved-from object must not be used again.
    hub_client& operator=(hub_client&&) noexcept = default;

    /// The client's executor: callbacks and completions run there.
    executor_type get_executor() const noexcept { return impl_->ex; }

    /// Connects, and keeps reconnecting until close().
    void start()
    {
        asio::dispatch(impl_->ex, [impl = impl_] {
            if (impl->state == hub_client_state::idle) impl->connect();
        });
    }

    /// Closes for good: pending requests fail with asio::error::operation_aborted.
    void close()
    {
        asio::dispatch(impl_->ex, [impl = impl_] {
            if (impl->state != hub_client_state::closed) impl->shut(asio::error::operation_aborted);
        });
    }

    /** Where the next connection goes: another node of a cluster (<rtmsg/cluster/redis.hpp>)
        resumes every exact topic where this one left off, since offsets are the cluster's.
        Takes effect at the next (re)connection.  Safe from any thread. */
    void set_url(std::string url)
    {
        asio::dispatch(impl_->ex, [impl = impl_, url = std::move(url)]() mutable { impl->url = std::move(url); });
    }

    /// The connection state (idle, connecting, open, reconnecting, closed).
    hub_client_state state() const noexcept { return impl_->state.load(); }
    /// How many connections were established so far (1 + reconnections).
    std::size_t connections() const noexcept { return impl_->connections; }

    /** Subscribes to a topic or pattern; `on_message` gets each message (on the executor).
        Completes with the first acknowledgement (the topic's latest offset and epoch), or
        the server's refusal (rtmsg::hub_error: invalid_topic, not_allowed, ...).

        @par Completion signature  `void(std::error_code ec, rtmsg::hub_subscribed ack)` */
    template <asio::completion_token_for<void(std::error_code, hub_subscribed)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_subscribe(std::string topic, std::function<void(hub_client_message const&)> on_message,
                         hub_subscription_options o = {}, CompletionToken&& token = CompletionToken{})
    {
        return asio::async_initiate<CompletionToken, void(std::error_code, hub_subscribed)>(
            [](auto handler, std::shared_ptr<detail::hub_client_impl<Codec>> impl, std::string topic,
               std::function<void(hub_client_message const&)> fn, hub_subscription_options o) {
                auto done = detail::make_completion<hub_subscribed>(std::move(handler), impl->ex);
                asio::dispatch(impl->ex, [impl, topic = std::move(topic), fn = std::move(fn), o = std::move(o),
                                          done = std::move(done)]() mutable {
                    if (impl->state == hub_client_state::closed)
                        return done(asio::error::operation_aborted, hub_subscribed{});
                    if (impl->subs.count(topic)) return done(hub_error::bad_request, hub_subscribed{});
                    auto& sub = impl->subs[topic];
                    sub.topic = topic;
                    sub.o = std::move(o);
                    sub.on_message = std::move(fn);
                    sub.done = std::move(done);
                    if (impl->state == hub_client_state::open) impl->send_subscribe(sub);
                });
            },
            token, impl_, std::move(topic), std::move(on_message), std::move(o));
    }

    /** Ends a subscription (its handler is not called afterwards).
        @par Completion signature  `void(std::error_code ec)` */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_unsubscribe(std::string topic, CompletionToken&& token = CompletionToken{})
    {
        return asio::async_initiate<CompletionToken, void(std::error_code)>(
            [](auto handler, std::shared_ptr<detail::hub_client_impl<Codec>> impl, std::string topic) {
                auto done = detail::make_completion<>(std::move(handler), impl->ex);
                asio::dispatch(impl->ex, [impl, topic = std::move(topic), done = std::move(done)]() mutable {
                    auto it = impl->subs.find(topic);
                    if (it == impl->subs.end()) return done(hub_error::not_subscribed);
                    if (it->second.done) it->second.done(asio::error::operation_aborted, hub_subscribed{});
                    impl->subs.erase(it);
                    if (!is_wildcard(topic)) impl->positions.erase(topic);
                    if (impl->state != hub_client_state::open) return done({});
                    codec::envelope e;
                    e.op = codec::op::unsubscribe;
                    e.topic = topic;
                    impl->send_request(
                        e, false,
                        [done = std::move(done)](std::error_code ec, codec::envelope const*) mutable { done(ec); },
                        impl->opt.request_timeout);
                });
            },
            token, impl_, std::move(topic));
    }

    /** Publishes `data` to `topic` and waits for the server's acknowledgement.
        @par Completion signature  `void(std::error_code ec, std::uint64_t offset)` */
    template <asio::completion_token_for<void(std::error_code, std::uint64_t)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_publish(std::string topic, std::string data, hub_publish_options o = {},
                       CompletionToken&& token = CompletionToken{})
    {
        return asio::async_initiate<CompletionToken, void(std::error_code, std::uint64_t)>(
            [](auto handler, std::shared_ptr<detail::hub_client_impl<Codec>> impl, std::string topic, std::string data,
               hub_publish_options o) {
                auto done = detail::make_completion<std::uint64_t>(std::move(handler), impl->ex);
                asio::dispatch(impl->ex, [impl, topic = std::move(topic), data = std::move(data), o,
                                          done = std::move(done)]() mutable {
                    if (impl->state == hub_client_state::closed) return done(asio::error::operation_aborted, 0);
                    codec::envelope e{.op = codec::op::publish,
                                      .topic = topic,
                                      .data = data,
                                      .kind = o.kind,
                                      .ack = true,
                                      .echo = o.echo};
                    impl->send_request(
                        e, false,
                        [done = std::move(done)](std::error_code ec, codec::envelope const* r) mutable {
                            done(ec, r && !ec ? r->offset : 0);
                        },
                        impl->opt.request_timeout);
                });
            },
            token, impl_, std::move(topic), std::move(data), o);
    }

    /** Asks who is present on `topic`.
        @par Completion signature  `void(std::error_code ec, std::vector<std::string> members)` */
    template <asio::completion_token_for<void(std::error_code, std::vector<std::string>)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_presence(std::string topic, CompletionToken&& token = CompletionToken{})
    {
        return asio::async_initiate<CompletionToken, void(std::error_code, std::vector<std::string>)>(
            [](auto handler, std::shared_ptr<detail::hub_client_impl<Codec>> impl, std::string topic) {
                auto done = detail::make_completion<std::vector<std::string>>(std::move(handler), impl->ex);
                asio::dispatch(impl->ex, [impl, topic = std::move(topic), done = std::move(done)]() mutable {
                    if (impl->state == hub_client_state::closed)
                        return done(asio::error::operation_aborted, std::vector<std::string>{});
                    codec::envelope e;
                    e.op = codec::op::presence;
                    e.topic = topic;
                    impl->send_request(
                        e, false,
                        [done = std::move(done)](std::error_code ec, codec::envelope const* r) mutable {
                            std::vector<std::string> members;
                            if (r && !ec)
                                for (auto m : r->members) members.emplace_back(m);
                            done(ec, std::move(members));
                        },
                        impl->opt.request_timeout);
                });
            },
            token, impl_, std::move(topic));
    }

private:
    std::shared_ptr<detail::hub_client_impl<Codec>> impl_;
};

} // namespace rtmsg
