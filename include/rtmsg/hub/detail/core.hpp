#pragma once
// The hub's internals (2 of 2): the topic table, history, presence, cluster link and the
// publish and subscribe paths.  Not a public header: <rtmsg/hub/hub.hpp> includes it after
// the types it uses, and the library's own endpoints reach it through hub::core().
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/hub/detail/outbox.hpp>
#include <rtmsg/hub/error.hpp>
#include <rtmsg/hub/topic.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rtmsg::detail {

struct callback_sub {
    std::uint64_t id = 0;
    std::string pattern;
    std::function<void(message const&)> fn;
};

struct sub_ref {
    std::shared_ptr<outbox> box;
    std::shared_ptr<callback_sub> cb;
    bool presence = false;
};

struct pattern_state {
    std::string pattern;
    std::vector<sub_ref> subs;
};

/// A subscription that waits for its topic's cluster state (see cluster_link).
struct pending_sub {
    std::shared_ptr<outbox> box;
    subscribe_options so;
    std::function<void(subscribe_head const&)> head;
};

/// One topic.  `name` and `opt` never change.  What a publish reads or changes (last,
/// history, subs, patterns, epoch) changes only under both the hub's mutex and the topic's
/// own `mutex`; a publish to a topic that no pattern matches, without a cluster, holds only
/// the topic's (see hub_core::publish).  The rest is guarded by the hub's mutex.
struct topic_state {
    std::mutex mutex;
    std::string name;
    std::uint64_t epoch = 0;
    std::uint64_t last = 0;
    topic_options opt;
    std::deque<std::shared_ptr<message>> history;
    std::vector<sub_ref> subs;
    std::vector<pattern_state*> patterns; ///< wildcard patterns that match this topic
    std::map<std::string, int, std::less<>> members;
    // In a cluster (all false / empty without one):
    bool synced = false;      ///< subscriptions attach at once (the cluster state is here, or out of reach)
    bool synced_once = false; ///< the cluster state was here at least once: cluster_last is meaningful
    bool local_epoch = false; ///< the cluster was out of reach when a local publish came: a local epoch
    std::uint64_t cluster_epoch = 0, cluster_last = 0; ///< the last cluster message delivered here
    std::vector<pending_sub> pending;
    std::map<std::string, std::vector<std::string>, std::less<>> remote; ///< member -> other nodes
};

/// A message as the cluster broker ordered it: its epoch and offset are the cluster's.
struct cluster_message {
    std::string topic;
    std::string payload;
    codec::data_kind kind = codec::data_kind::text;
    std::uint64_t epoch = 0;
    std::uint64_t offset = 0;
    std::uint64_t publisher = 0;                  ///< the publishing connection if it is on this node, else 0
    codec::origin origin = codec::origin::server; ///< who published it (see message)
    peer_identity_ptr from;                       ///< origin::peer: who
    bool echo = true;
};

/// A topic's state in the cluster, read in one atomic step.
struct cluster_snapshot {
    std::uint64_t epoch = 0;
    std::uint64_t last = 0;
    std::vector<cluster_message> history;                     ///< oldest first
    std::vector<std::pair<std::string, std::string>> members; ///< (node, identity) on other nodes
};

/** What a hub needs from a cluster bridge (rtmsg/cluster/redis.hpp implements it).

    The hub calls interest() and presence() under its lock: they must only record or post,
    never call back into the hub.  The bridge answers through hub_core's cluster_* members. */
class cluster_link {
public:
    virtual ~cluster_link() = default;
    /// Is the broker reachable now?  When not, the hub delivers local publishes locally.
    virtual bool connected() const noexcept = 0;
    /// Sends a local publish to the broker, which orders it for every node; `done` runs with
    /// its offset and epoch, or hub_error::unavailable.  False: refused now (too many in flight).
    virtual bool forward(std::shared_ptr<message const> m, bool echo,
                         std::function<void(publish_result const&)> done) = 0;
    /// A topic or pattern got its first local subscriber (true) or lost its last (false).
    /// For a topic, the bridge answers with cluster_sync() (or cluster_release() if the
    /// broker is out of reach).
    virtual void interest(std::string const& topic_or_pattern, bool on) = 0;
    /// `who` is now present on `topic` on this node (true) or no longer (false).
    virtual void presence(std::string const& topic, std::string const& who, bool join) = 0;
};

/// A token bucket (see rate_limit).
class token_bucket {
public:
    bool take(double n, rate_limit const& limit, std::chrono::steady_clock::time_point now)
    {
        if (limit.rate <= 0) return true;
        if (!started_) {
            tokens_ = limit.burst;
            last_ = now;
            started_ = true;
        }
        tokens_ = std::min(limit.burst, tokens_ + std::chrono::duration<double>(now - last_).count() * limit.rate);
        last_ = now;
        if (tokens_ < n) return false;
        tokens_ -= n;
        return true;
    }

    /// Would the bucket be full at `now` (nothing taken for at least burst/rate seconds)?
    bool full(rate_limit const& limit, std::chrono::steady_clock::time_point now) const noexcept
    {
        return !started_ || tokens_ + std::chrono::duration<double>(now - last_).count() * limit.rate >= limit.burst;
    }

private:
    double tokens_ = 0;
    std::chrono::steady_clock::time_point last_;
    bool started_ = false;
};

/// Encodes a message into one wire format; false if the format cannot carry it.
using format_encoder = std::function<bool(message const&, std::string& out)>;

class hub_core {
public:
    // formats_ never reallocates: fast paths read its entries while format() appends.
    explicit hub_core(hub_options o) : opt(std::move(o)) { formats_.reserve(max_formats); }

    /// The options the hub was made with (read-only: they never change).
    hub_options const& options() const noexcept { return opt; }
    /// A snapshot of the counters.
    hub_metrics metrics() const noexcept { return counters.snapshot(); }
    /// A transport subscriber (WebSocket or SSE connection) attached to / left the hub.
    void connection_opened() noexcept { ++counters.connections; }
    /// See connection_opened().
    void connection_closed() noexcept { --counters.connections; }
    /// An error reply went to a client.
    void error_replied() noexcept { ++counters.errors; }
    /// A transport handed `n` wire bytes of the hub's to its socket.
    void bytes_written(std::size_t n) noexcept { counters.bytes_out += n; }

    /** Registers a wire format once (by key); returns its index, always below max_formats.
        @throws std::system_error with hub_error::too_many_formats when the hub already serves
        max_formats others: endpoints register theirs when they are made, so a host finds out
        when it builds its routes. */
    int format(std::string_view key, format_encoder enc)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::size_t i = 0; i < formats_.size(); ++i)
            if (formats_[i].key == key) return static_cast<int>(i);
        if (formats_.size() == max_formats)
            throw std::system_error(hub_error::too_many_formats,
                                    "cannot add the wire format " + std::string(key) + ": every one of the hub's " +
                                        std::to_string(max_formats) + " wire formats is in use");
        formats_.push_back({std::string(key), std::move(enc)});
        return static_cast<int>(formats_.size() - 1);
    }

    /** The hub's checks of a client publication, in order: can_publish (hub_error::not_allowed),
        the per-identity rate limit (hub_error::rate_limited), then the publish hook.  Every
        endpoint a client can publish on calls it once per message, after its own
        per-connection limits. */
    publish_verdict admit_publish(peer_info const& peer, publish_request const& p,
                                  std::chrono::steady_clock::time_point now)
    {
        if (opt.can_publish && !opt.can_publish(peer, p.topic))
            return publish_verdict::reject(hub_error::not_allowed, "not allowed to publish to this topic");
        if (opt.publish_messages_per_identity.rate > 0 && !peer.identity.empty() &&
            !take_identity_token(peer.identity, now))
            return publish_verdict::reject(hub_error::rate_limited, "rate limit exceeded for this user; slow down");
        return opt.on_publish ? opt.on_publish(peer, p) : publish_verdict::accept();
    }

    /** Publishes.  Alone, the hub orders the message and queues it before returning.  In a
        cluster whose broker is reachable, the broker orders it: the result is `pending` and
        `done` (if any) runs later with the offset, or with hub_error::unavailable. */
    publish_result publish(std::string_view topic, std::string_view payload, codec::data_kind kind,
                           std::uint64_t publisher, peer_identity_ptr from, bool echo,
                           std::function<void(publish_result const&)> done = {}, transport::read_batch* batch = nullptr)
    {
        publish_result res;
        if (!is_valid_topic(topic)) {
            res.ec = is_valid_pattern(topic) ? hub_error::wildcard_publish : hub_error::invalid_topic;
            return res;
        }
        auto msg = std::make_shared<message>();
        msg->topic.assign(topic);
        msg->payload.assign(payload);
        msg->kind = kind;
        msg->publisher = publisher;
        msg->origin = publisher != 0 ? codec::origin::peer : codec::origin::server;
        msg->from = std::move(from);
        msg->time = std::chrono::steady_clock::now();
        fanout f;
        f.batch = batch;
        for (bool retry = true; retry;) {
            std::unique_lock<std::mutex> lock(mutex_);
            if (link_ && link_->connected()) {
                // The broker numbers it: forward outside the lock (one lock per publish either way).
                auto link = link_;
                lock.unlock();
                if (!link->forward(msg, echo, std::move(done))) {
                    res.ec = hub_error::unavailable;
                    return res;
                }
                ++counters.messages_in;
                counters.bytes_in += payload.size();
                res.pending = true;
                return res;
            }
            std::unique_lock<std::mutex> topic_lock;
            auto* t = enter_topic(topic, lock, topic_lock, retry);
            if (retry) continue;
            if (!t) {
                res.ec = hub_error::too_many_topics;
                return res;
            }
            if (lock.owns_lock() && link_ && !t->local_epoch) {
                // The broker is out of reach: local subscribers still get local publishes, in
                // an epoch of this node's own, so that no offset clashes with the cluster's.
                t->local_epoch = true;
                t->epoch = new_epoch();
                t->last = 0;
                t->history.clear();
            }
            msg->offset = ++t->last;
            msg->epoch = t->epoch;
            msg->seq = ++seq_;
            res.offset = msg->offset;
            res.epoch = msg->epoch;
            if (t->opt.history_count != 0) {
                t->history.push_back(msg);
                trim(*t);
            }
            deliver_locked(*t, msg, echo, f, lock.owns_lock());
        }
        drop_gone(f);
        res.subscribers = f.subscribers + f.callbacks.size();
        ++counters.messages_in;
        counters.bytes_in += payload.size();
        f.finish(*msg);
        return res;
    }

    /** Publishes messages of one topic, in order, as publish() would one by one (each gets
        its offset and is retained), but under one lock, and each subscriber queues them all
        at once: one queue lock and at most one wake-up per subscriber instead of one per
        message (raw_endpoint: the messages that came in one read).  Each message must have
        its payload, kind, publisher, origin, from and time set; the topic is set here.  With a cluster
        link each one goes through publish().  Errors (an invalid topic, too many topics) are
        reported by the return value, as by publish(). */
    std::error_code publish_many(std::string_view topic, std::span<std::shared_ptr<message> const> msgs, bool echo,
                                 transport::read_batch* batch = nullptr)
    {
        if (msgs.empty()) return {};
        if (!is_valid_topic(topic))
            return is_valid_pattern(topic) ? hub_error::wildcard_publish : hub_error::invalid_topic;
        fanout f;
        f.batch = batch;
        std::size_t bytes = 0;
        for (bool retry = true; retry;) {
            std::unique_lock<std::mutex> lock(mutex_);
            if (link_) {
                lock.unlock();
                std::error_code ec;
                for (auto const& m : msgs)
                    if (auto r = publish(topic, m->payload, m->kind, m->publisher, m->from, echo, {}, batch); r.ec)
                        ec = r.ec;
                return ec;
            }
            std::unique_lock<std::mutex> topic_lock;
            auto* t = enter_topic(topic, lock, topic_lock, retry);
            if (retry) continue;
            if (!t) return hub_error::too_many_topics;
            for (auto const& m : msgs) {
                m->topic.assign(topic);
                m->offset = ++t->last;
                m->epoch = t->epoch;
                m->seq = ++seq_;
                bytes += m->payload.size();
                if (t->opt.history_count != 0) {
                    t->history.push_back(m);
                    trim(*t);
                }
            }
            deliver_many_locked(*t, msgs, echo, f, lock.owns_lock());
        }
        drop_gone(f);
        counters.messages_in += msgs.size();
        counters.bytes_in += bytes;
        for (auto const& m : msgs)
            for (auto const& cb : f.callbacks) cb->fn(*m);
        f.finish_kicks();
        return {};
    }

    /// Subscribes a transport.  `head` runs under the lock before any replayed message is
    /// queued: the place to queue the acknowledgement and a gap notice, so that the client
    /// sees them first and replay and live messages meet with no gap and no duplicate.  In a
    /// cluster, the first subscription of a topic waits for the topic's cluster state: `head`
    /// then runs later, on the bridge's thread, and must own what it uses.
    std::error_code subscribe(std::shared_ptr<outbox> const& box, std::string_view pattern, subscribe_options const& so,
                              std::function<void(subscribe_head const&)> const& head)
    {
        if (!is_valid_pattern(pattern)) return hub_error::invalid_topic;
        std::lock_guard<std::mutex> lock(mutex_);
        auto& subs = box->patterns_;
        if (std::find(subs.begin(), subs.end(), pattern) != subs.end()) return hub_error::bad_request;
        if (subs.size() >= opt.max_subscriptions_per_connection) return hub_error::too_many_subscriptions;
        if (!is_wildcard(pattern)) {
            auto* t = find_or_create(pattern);
            if (!t) return hub_error::too_many_topics;
            std::lock_guard<std::mutex> topic_lock(t->mutex);
            subs.emplace_back(pattern);
            ++counters.subscriptions;
            if (link_ && !t->synced) {
                t->pending.push_back({box, so, head});
                note_added(*t);
                return {};
            }
            attach_locked(*t, box, so, head);
            note_added(*t);
            return {};
        }
        auto& p = pattern_for(pattern);
        std::vector<std::shared_ptr<message>> replay;
        if (so.has_since && so.by_seq) {
            // A sequence number this hub has not reached comes from an earlier run of the
            // server (numbers restart with the process): everything retained is new.
            auto const since = so.since > seq_.load(std::memory_order_relaxed) ? 0 : so.since;
            for (auto const& [name, t] : topics_) {
                if (!topic_matches(pattern, name)) continue;
                std::lock_guard<std::mutex> topic_lock(t->mutex);
                trim(*t);
                for (auto const& m : t->history)
                    if (m->seq > since) replay.push_back(m);
            }
            std::sort(replay.begin(), replay.end(), [](auto const& a, auto const& b) { return a->seq < b->seq; });
        }
        p.subs.push_back({box, nullptr, so.presence});
        subs.emplace_back(pattern);
        ++counters.subscriptions;
        if (head) head(subscribe_head{});
        queue_replay(*box, replay);
        return {};
    }

    std::error_code unsubscribe(outbox& box, std::string_view pattern)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return unsubscribe_locked(box, pattern);
    }

    /// Removes every subscription of a transport (it closed).
    void remove(outbox& box)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto const subs = box.patterns_;
        for (auto const& p : subs) unsubscribe_locked(box, p);
    }

    std::shared_ptr<callback_sub> subscribe_callback(std::string_view pattern, std::function<void(message const&)> fn,
                                                     std::error_code& ec)
    {
        ec = {};
        if (!is_valid_pattern(pattern)) {
            ec = hub_error::invalid_topic;
            return nullptr;
        }
        auto cb = std::make_shared<callback_sub>();
        cb->pattern.assign(pattern);
        cb->fn = std::move(fn);
        std::lock_guard<std::mutex> lock(mutex_);
        cb->id = ++callback_ids_;
        if (is_wildcard(pattern))
            pattern_for(pattern).subs.push_back({nullptr, cb, false});
        else {
            auto* t = find_or_create(pattern);
            if (!t) {
                ec = hub_error::too_many_topics;
                return nullptr;
            }
            std::lock_guard<std::mutex> topic_lock(t->mutex);
            t->subs.push_back({nullptr, cb, false});
            note_added(*t);
        }
        ++counters.subscriptions;
        return cb;
    }

    void unsubscribe_callback(callback_sub const& cb)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto drop = [&](std::vector<sub_ref>& v) {
            auto it = std::find_if(v.begin(), v.end(), [&](sub_ref const& s) { return s.cb.get() == &cb; });
            if (it == v.end()) return false;
            v.erase(it);
            --counters.subscriptions;
            return true;
        };
        if (is_wildcard(cb.pattern)) {
            if (auto it = patterns_.find(cb.pattern); it != patterns_.end() && drop(it->second->subs))
                drop_pattern_if_unused(it);
        }
        else if (auto it = topics_.find(cb.pattern); it != topics_.end()) {
            std::lock_guard<std::mutex> topic_lock(it->second->mutex);
            if (drop(it->second->subs)) note_removed(*it->second);
        }
    }

    /// Identities subscribed to `topic` on this node or, in a cluster, on any node; sorted.
    std::vector<std::string> members(std::string_view topic) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> out;
        if (auto it = topics_.find(topic); it != topics_.end()) {
            for (auto const& [who, n] : it->second->members) out.push_back(who);
            for (auto const& [who, nodes] : it->second->remote)
                if (!it->second->members.contains(who)) out.push_back(who);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    /// The epoch and latest offset of a topic (0, 0 if it does not exist).
    std::pair<std::uint64_t, std::uint64_t> position(std::string_view topic) const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (auto it = topics_.find(topic); it != topics_.end()) {
            std::lock_guard<std::mutex> topic_lock(it->second->mutex);
            return {it->second->epoch, it->second->last};
        }
        return {0, 0};
    }

    // ---- Cluster (called by a bridge; see cluster_link) ----

    /// Connects a cluster bridge (or disconnects it: nullptr).  The bridge hears of every
    /// topic, pattern and member that exists already.
    void attach(std::shared_ptr<cluster_link> link)
    {
        std::vector<pending_sub> release;
        std::lock_guard<std::mutex> lock(mutex_);
        link_ = std::move(link);
        // Before any topic's lock is taken below: a fast path that takes one after sees it.
        linked_.store(link_ != nullptr, std::memory_order_release);
        for (auto& [name, t] : topics_) {
            std::lock_guard<std::mutex> topic_lock(t->mutex); // a fast path may still run on it
            t->synced = false;
            if (!link_) {
                // Alone again: waiting subscriptions attach to what this node has.
                t->synced = true;
                auto pend = std::move(t->pending);
                t->pending.clear();
                for (auto& p : pend) attach_locked(*t, p.box, p.so, p.head);
                t->remote.clear();
                continue;
            }
            if (!t->subs.empty()) link_->interest(name, true);
            for (auto const& [who, n] : t->members) link_->presence(name, who, true);
        }
        if (link_)
            for (auto const& [pat, p] : patterns_) link_->interest(pat, true);
    }

    /// Topics and patterns with local subscribers (a bridge resubscribes them after reconnecting).
    std::vector<std::string> cluster_interests() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        std::vector<std::string> out;
        for (auto const& [name, t] : topics_)
            if (!t->subs.empty() || !t->pending.empty()) out.push_back(name);
        for (auto const& [pat, p] : patterns_) out.push_back(pat);
        return out;
    }

    /// A message the broker ordered (from any node, this one included).  Duplicates (an offset
    /// already delivered) are ignored; a jump in offsets is announced to subscribers as a gap.
    void cluster_deliver(cluster_message const& cm)
    {
        fanout f;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = topics_.find(cm.topic);
            topic_state* t = it == topics_.end() ? nullptr : it->second.get();
            if (!t) {
                // A pattern's broker subscription is wider than the pattern: keep only topics
                // that some local pattern matches.
                bool wanted = false;
                for (auto const& [pat, p] : patterns_)
                    if (topic_matches(pat, cm.topic)) wanted = true;
                if (!wanted || !(t = find_or_create(cm.topic))) return;
            }
            std::lock_guard<std::mutex> topic_lock(t->mutex);
            accept_locked(*t, cm, f);
        }
        drop_gone(f);
        if (f.msg) f.finish(*f.msg);
    }

    /** The topic's state in the cluster arrived.  The first time, the node adopts it; after
        the broker was out of reach, the node delivers what it missed (the retained messages
        after the last one it delivered), preceded by a gap notice for any it can no longer
        get.  Subscriptions waiting for the topic then attach, and presence is reconciled. */
    void cluster_sync(std::string_view topic, cluster_snapshot const& s)
    {
        std::vector<fanout> delivered;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            auto it = topics_.find(topic);
            if (it == topics_.end()) return;
            auto& t = *it->second;
            std::lock_guard<std::mutex> topic_lock(t.mutex);
            if (t.subs.empty() && t.pending.empty()) return;
            if (t.synced_once && t.cluster_epoch == s.epoch) {
                if (t.local_epoch || t.epoch != s.epoch) {
                    t.local_epoch = false;
                    t.epoch = s.epoch;
                    t.history.clear();
                    t.last = t.cluster_last;
                }
                auto const first = s.history.empty() ? s.last + 1 : s.history.front().offset;
                if (s.last > t.last && first > t.last + 1) {
                    gap_event(t, t.last + 1, first - 1);
                    t.last = first - 1;
                }
                for (auto const& cm : s.history) {
                    fanout one;
                    accept_locked(t, cm, one);
                    if (one.msg) delivered.push_back(std::move(one));
                }
            }
            else {
                t.local_epoch = false;
                t.epoch = s.epoch;
                t.last = s.last;
                t.history.clear();
                for (auto const& cm : s.history) t.history.push_back(make_message(cm));
                trim(t);
            }
            t.last = std::max(t.last, s.last);
            t.cluster_epoch = s.epoch;
            t.cluster_last = t.last;
            t.synced = t.synced_once = true;
            auto pend = std::move(t.pending);
            t.pending.clear();
            for (auto& p : pend) {
                if (!p.box->alive()) continue; // gone: its remove() found it pending
                attach_locked(t, p.box, p.so, p.head);
            }
            // Presence: who is on the other nodes now.
            std::map<std::string, std::vector<std::string>, std::less<>> remote;
            for (auto const& [node, who] : s.members) remote[who].push_back(node);
            for (auto const& [who, nodes] : t.remote)
                if (!remote.contains(who) && !t.members.contains(who)) presence_event(t, codec::op::leave, who);
            for (auto const& [who, nodes] : remote)
                if (!t.remote.contains(who) && !t.members.contains(who)) presence_event(t, codec::op::join, who);
            t.remote = std::move(remote);
        }
        for (auto& d : delivered) {
            drop_gone(d);
            d.finish(*d.msg);
        }
    }

    /// The broker is out of reach: subscriptions waiting for `topic` attach to this node's state.
    void cluster_release(std::string_view topic)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = topics_.find(topic);
        if (it == topics_.end()) return;
        auto& t = *it->second;
        std::lock_guard<std::mutex> topic_lock(t.mutex);
        t.synced = true;
        auto pend = std::move(t.pending);
        t.pending.clear();
        for (auto& p : pend)
            if (p.box->alive()) attach_locked(t, p.box, p.so, p.head);
    }

    /// Another node's member `who` joined (or left) `topic`.
    void cluster_presence(std::string_view topic, std::string const& node, std::string const& who, bool join)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = topics_.find(topic);
        if (it == topics_.end() || who.empty()) return;
        auto& t = *it->second;
        std::lock_guard<std::mutex> topic_lock(t.mutex);
        if (join) {
            auto& nodes = t.remote[who];
            if (std::find(nodes.begin(), nodes.end(), node) != nodes.end()) return;
            nodes.push_back(node);
            if (nodes.size() == 1 && !t.members.contains(who)) presence_event(t, codec::op::join, who);
            return;
        }
        auto r = t.remote.find(who);
        if (r == t.remote.end()) return;
        std::erase(r->second, node);
        if (!r->second.empty()) return;
        t.remote.erase(r);
        if (!t.members.contains(who)) presence_event(t, codec::op::leave, who);
    }

private:
    hub_options opt;
    hub_counters counters;
    struct format_entry {
        std::string key;
        format_encoder encode;
    };

    /// What a delivery leaves to do once the lock is released.
    struct fanout {
        std::shared_ptr<message> msg;
        std::vector<std::shared_ptr<callback_sub>> callbacks;
        std::vector<std::shared_ptr<outbox>> kicks;
        std::vector<std::shared_ptr<outbox>> gone; ///< found dead on a fast path: drop_gone()
        std::size_t subscribers = 0;
        transport::read_batch* batch = nullptr; ///< the publisher's, to put wake-ups off to its end

        void finish(message const& m)
        {
            for (auto const& cb : callbacks) cb->fn(m);
            finish_kicks();
        }
        void finish_kicks()
        {
            for (auto const& k : kicks) k->kick();
            kicks.clear();
        }
    };

    /// One token of `identity`'s bucket (publish_messages_per_identity), under a lock of its own.
    bool take_identity_token(std::string_view identity, std::chrono::steady_clock::time_point now)
    {
        auto const& limit = opt.publish_messages_per_identity;
        std::lock_guard<std::mutex> lock(identity_mutex_);
        auto it = identity_buckets_.find(identity);
        if (it == identity_buckets_.end()) {
            // Forget the identities whose bucket has filled up again (idle ones) before the map
            // grows: it holds only identities that published within the last burst/rate seconds.
            if (identity_buckets_.size() >= identity_sweep_at_) {
                std::erase_if(identity_buckets_, [&](auto const& kv) { return kv.second.full(limit, now); });
                identity_sweep_at_ = std::max<std::size_t>(1024, 2 * identity_buckets_.size());
            }
            it = identity_buckets_.emplace(std::string(identity), token_bucket{}).first;
        }
        return it->second.take(1, limit, now);
    }

    /** Whether a publish to `t` may go on under the topic's lock alone, so that publishers
        to other topics (on other threads) do not wait for it.  Only a topic that no pattern
        matches, without a cluster link: then every subscriber appears once in `subs`, so the
        delivery needs no deduplication by sequence number (whose order across topics only
        the hub's mutex keeps), and no outbox's last_seq_ or subscription list is touched.
        Held: the hub's mutex or the topic's (both change `patterns` and the link). */
    bool fast_path(topic_state const& t) const noexcept
    {
        return t.patterns.empty() && !linked_.load(std::memory_order_acquire);
    }

    /** Finds or creates the topic of a publish and takes its lock (`topic_lock`).  `lock`
        holds the hub's mutex on entry; on a fast path it is released before the topic's lock
        is taken, so no publisher waits for one topic while holding the hub.  Otherwise both
        are held on return.  `retry` is set (and no lock is held) if a pattern or a cluster
        link came in between: the caller starts over.  Null: too many topics. */
    topic_state* enter_topic(std::string_view name, std::unique_lock<std::mutex>& lock,
                             std::unique_lock<std::mutex>& topic_lock, bool& retry)
    {
        retry = false;
        auto* t = find_or_create(name);
        if (!t) return nullptr;
        topic_lock = std::unique_lock<std::mutex>(t->mutex, std::defer_lock);
        if (!fast_path(*t)) {
            topic_lock.lock();
            return t;
        }
        lock.unlock();
        topic_lock.lock();
        if (fast_path(*t)) return t;
        topic_lock.unlock();
        retry = true;
        return t;
    }

    /// Drops the subscribers that a delivery found dead.  Called without any lock held:
    /// dropping takes the hub's lock and the topic's.  One matched twice is dropped once.
    void drop_gone(fanout& f)
    {
        for (auto const& box : f.gone) remove(*box);
        f.gone.clear();
    }

    /// Queues `msg` (already numbered and retained) to the topic's subscribers.
    void deliver_locked(topic_state& t, std::shared_ptr<message> const& msg, bool echo, fanout& f,
                        bool exclusive = true)
    {
        f.msg = msg;
        deliver_many_locked(t, std::span<std::shared_ptr<message> const>(&msg, 1), echo, f, exclusive);
    }

    /// Queues messages of one topic and one publisher (already numbered and retained), in
    /// order, subscriber by subscriber: each takes all of them in one push_many().  Held: the
    /// topic's lock and, if `exclusive`, the hub's (else fast_path(t) was true).  Under the
    /// hub's lock sequence numbers only grow, so a subscriber matched twice (topic and
    /// pattern) skips what it already has.
    void deliver_many_locked(topic_state& t, std::span<std::shared_ptr<message> const> msgs, bool echo, fanout& f,
                             bool exclusive = true)
    {
        auto& gone = f.gone;
        std::uint64_t queued = 0;
        auto const publisher = msgs.front()->publisher;
        auto deliver = [&](sub_ref const& s) {
            if (s.cb) {
                f.callbacks.push_back(s.cb);
                return;
            }
            auto& box = *s.box;
            if (!box.alive()) {
                gone.push_back(s.box);
                return;
            }
            if (!echo && publisher != 0 && box.connection_id() == publisher) return;
            auto first = msgs.begin();
            if (exclusive) {
                while (first != msgs.end() && (*first)->seq <= box.last_seq_) ++first; // matched twice
                if (first == msgs.end()) return;
                box.last_seq_ = msgs.back()->seq;
            }
            bool all = true;
            for (auto it = first; it != msgs.end(); ++it) all &= ensure_encoded(**it, box.format());
            bool ok = true, tried = all;
            if (all)
                ok = box.push_many(std::span<std::shared_ptr<message> const>(first, msgs.end()), t.opt.policy, counters,
                                   queued, f.batch);
            else
                for (auto it = first; it != msgs.end() && ok; ++it)
                    if (!(*it)->frames[static_cast<std::size_t>(box.format())].empty()) {
                        tried = true;
                        ok = box.push_many(std::span<std::shared_ptr<message> const>(&*it, 1), t.opt.policy, counters,
                                           queued, f.batch);
                    }
            if (!ok) f.kicks.push_back(s.box);
            if (tried) ++f.subscribers;
        };
        for (auto const& s : t.subs) deliver(s);
        for (auto* p : t.patterns)
            for (auto const& s : p->subs) deliver(s);
        if (queued != 0) counters.messages_out += queued;
        // `gone` (f.gone) is dropped by drop_gone() once the topic's lock is released.
    }

    std::shared_ptr<message> make_message(cluster_message const& cm)
    {
        auto m = std::make_shared<message>();
        m->topic = cm.topic;
        m->payload = cm.payload;
        m->kind = cm.kind;
        m->offset = cm.offset;
        m->epoch = cm.epoch;
        m->publisher = cm.publisher;
        m->origin = cm.origin;
        m->from = cm.from;
        m->seq = ++seq_;
        m->time = std::chrono::steady_clock::now();
        return m;
    }

    /// Takes one cluster message into a topic: dedup, epoch change, gap, retain, deliver.
    void accept_locked(topic_state& t, cluster_message const& cm, fanout& f)
    {
        if (t.local_epoch) {
            // The broker is back: the node's local epoch ends.
            t.local_epoch = false;
            t.epoch = 0;
        }
        if (cm.epoch == t.epoch && cm.offset <= t.last) return; // delivered already
        if (cm.epoch != t.epoch) {
            // First sight of this topic's cluster lifetime (or the broker lost its state).
            t.epoch = cm.epoch;
            t.history.clear();
            t.last = cm.offset - 1;
        }
        else if (cm.offset > t.last + 1 && t.synced)
            gap_event(t, t.last + 1, cm.offset - 1);
        auto msg = make_message(cm);
        t.last = cm.offset;
        t.cluster_epoch = cm.epoch;
        t.cluster_last = cm.offset;
        if (t.opt.history_count != 0) {
            t.history.push_back(msg);
            trim(t);
        }
        deliver_locked(t, msg, cm.echo, f);
    }

    /// Adds a transport subscriber to an exact topic, with its head, resume and history.
    void attach_locked(topic_state& t, std::shared_ptr<outbox> const& box, subscribe_options const& so,
                       std::function<void(subscribe_head const&)> const& head)
    {
        std::vector<std::shared_ptr<message>> replay;
        subscribe_head h;
        trim(t);
        h.epoch = t.epoch;
        h.last_offset = t.last;
        std::uint64_t const first = t.history.empty() ? t.last + 1 : t.history.front()->offset;
        if (so.has_since) {
            std::uint64_t since = so.since;
            if (so.epoch != 0 && so.epoch != t.epoch) since = 0; // another lifetime: offsets restart
            // No epoch given (an SSE Last-Event-ID) and an offset this topic has not reached:
            // it comes from an earlier lifetime of the topic (the server restarted, or the
            // topic was dropped and made again), so everything retained is new to the client.
            // (With its epoch stated, a client ahead of this node is trusted: in a cluster a
            // node may lag the broker by a few messages, which then arrive live.)
            else if (so.epoch == 0 && since > t.last)
                since = 0;
            if (since < t.last) {
                if (first > since + 1) {
                    h.gap_from = since + 1;
                    h.gap_to = first - 1;
                }
                for (auto const& m : t.history)
                    if (m->offset > since) replay.push_back(m);
            }
        }
        else if (so.history != 0) {
            auto const n = std::min<std::size_t>(so.history, t.history.size());
            replay.assign(t.history.end() - static_cast<std::ptrdiff_t>(n), t.history.end());
        }
        // The subscriber sees its acknowledgement, then what it missed, then its own join
        // (if it asked for presence) with everyone else's.
        if (head) head(h);
        queue_replay(*box, replay);
        t.subs.push_back({box, nullptr, so.presence});
        join(t, box->identity());
    }

    void queue_replay(outbox& box, std::vector<std::shared_ptr<message>> const& replay)
    {
        for (auto const& m : replay) {
            if (!ensure_encoded(*m, box.format())) continue;
            box.last_seq_ = std::max(box.last_seq_, m->seq);
            box.push_replay(m);
        }
    }

    /// A topic gained a subscriber: the cluster hears of its first.
    void note_added(topic_state& t)
    {
        if (link_ && t.subs.size() + t.pending.size() == 1) link_->interest(t.name, true);
    }

    /// A topic lost a subscriber: the cluster hears when it had its last.
    void note_removed(topic_state& t)
    {
        if (!link_ || !t.subs.empty() || !t.pending.empty()) return;
        t.synced = false;
        link_->interest(t.name, false);
    }

    using pattern_map = std::map<std::string, std::unique_ptr<pattern_state>, std::less<>>;

    void drop_pattern_if_unused(pattern_map::iterator it)
    {
        if (!it->second->subs.empty()) return;
        for (auto& [name, t] : topics_) {
            std::lock_guard<std::mutex> topic_lock(t->mutex);
            std::erase(t->patterns, it->second.get());
        }
        if (link_) link_->interest(it->first, false);
        patterns_.erase(it);
    }

    topic_state* find_or_create(std::string_view name)
    {
        if (auto it = topics_.find(name); it != topics_.end()) return it->second.get();
        if (topics_.size() >= opt.max_topics) return nullptr;
        auto t = std::make_unique<topic_state>();
        t->name.assign(name);
        t->epoch = new_epoch();
        t->opt = opt.topic_config ? opt.topic_config(name) : opt.default_topic;
        for (auto& [pat, p] : patterns_)
            if (topic_matches(pat, name)) t->patterns.push_back(p.get());
        auto* raw = t.get();
        topics_.emplace(std::string(name), std::move(t));
        ++counters.topics;
        return raw;
    }

    pattern_state& pattern_for(std::string_view pattern)
    {
        auto it = patterns_.find(pattern);
        if (it != patterns_.end()) return *it->second;
        auto p = std::make_unique<pattern_state>();
        p->pattern.assign(pattern);
        for (auto& [name, t] : topics_)
            if (topic_matches(pattern, name)) {
                std::lock_guard<std::mutex> topic_lock(t->mutex); // waits for a fast path on it
                t->patterns.push_back(p.get());
            }
        auto& ref = *p;
        patterns_.emplace(std::string(pattern), std::move(p));
        if (link_) link_->interest(std::string(pattern), true);
        return ref;
    }

    std::error_code unsubscribe_locked(outbox& box, std::string_view pattern)
    {
        auto& subs = box.patterns_;
        auto pos = std::find(subs.begin(), subs.end(), pattern);
        if (pos == subs.end()) return hub_error::not_subscribed;
        subs.erase(pos);
        --counters.subscriptions;
        auto drop = [&](std::vector<sub_ref>& v) {
            auto it = std::find_if(v.begin(), v.end(), [&](sub_ref const& s) { return s.box.get() == &box; });
            if (it == v.end()) return false;
            v.erase(it);
            return true;
        };
        if (is_wildcard(pattern)) {
            auto it = patterns_.find(pattern);
            if (it == patterns_.end()) return {};
            drop(it->second->subs);
            drop_pattern_if_unused(it);
        }
        else if (auto it = topics_.find(pattern); it != topics_.end()) {
            auto& t = *it->second;
            std::lock_guard<std::mutex> topic_lock(t.mutex);
            if (drop(t.subs))
                leave(t, box.identity());
            else
                std::erase_if(t.pending, [&](pending_sub const& p) { return p.box.get() == &box; });
            note_removed(t);
        }
        return {};
    }

    void join(topic_state& t, std::string const& who)
    {
        if (who.empty()) return;
        if (++t.members[who] != 1) return;
        if (link_) link_->presence(t.name, who, true);
        if (!t.remote.contains(who)) presence_event(t, codec::op::join, who);
    }

    void leave(topic_state& t, std::string const& who)
    {
        if (who.empty()) return;
        auto it = t.members.find(who);
        if (it == t.members.end()) return;
        if (--it->second != 0) return;
        t.members.erase(it);
        if (link_) link_->presence(t.name, who, false);
        if (!t.remote.contains(who)) presence_event(t, codec::op::leave, who);
    }

    /// Join / leave events go to the topic's subscribers that asked for presence.
    void presence_event(topic_state& t, codec::op op, std::string const& who)
    {
        std::shared_ptr<message> m;
        for (auto const& s : t.subs) {
            if (!s.presence || !s.box) continue;
            if (!m) {
                m = std::make_shared<message>();
                m->op = op;
                m->topic = t.name;
                m->epoch = t.epoch;
                m->who = who;
                m->time = std::chrono::steady_clock::now();
            }
            if (!ensure_encoded(*m, s.box->format())) continue;
            s.box->push_replay(m); // presence events are never dropped
        }
    }

    /// A gap notice (offsets from..to of the topic's epoch are lost) to every subscriber.
    void gap_event(topic_state& t, std::uint64_t from, std::uint64_t to)
    {
        auto m = std::make_shared<message>();
        m->op = codec::op::gap;
        m->topic = t.name;
        m->epoch = t.epoch;
        m->offset = from;
        m->to = to;
        m->time = std::chrono::steady_clock::now();
        for (auto const& s : t.subs) {
            if (!s.box || !ensure_encoded(*m, s.box->format())) continue;
            s.box->push_replay(m);
        }
    }

    /// Fills in the frame of one format (once per message and format).
    bool ensure_encoded(message& m, int format)
    {
        auto const f = static_cast<std::size_t>(format);
        if (!(m.encoded_ & (1u << f))) {
            m.encoded_ |= 1u << f;
            if (!formats_[f].encode(m, m.frames[f])) m.frames[f].clear();
        }
        return !m.frames[f].empty();
    }

    void trim(topic_state& t)
    {
        while (t.history.size() > t.opt.history_count) t.history.pop_front();
        if (t.opt.history_age.count() != 0) {
            auto const oldest = std::chrono::steady_clock::now() - t.opt.history_age;
            while (!t.history.empty() && t.history.front()->time < oldest) t.history.pop_front();
        }
    }

    static std::uint64_t new_epoch()
    {
        // Random, so that a restarted server never reuses an epoch a client remembers.
        std::random_device rd;
        std::uint64_t e = (std::uint64_t(rd()) << 32) ^ rd();
        return e ? e : 1;
    }

    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<topic_state>, std::less<>> topics_;
    pattern_map patterns_;
    std::vector<format_entry> formats_;
    std::mutex identity_mutex_; ///< guards the per-identity buckets (publish_messages_per_identity)
    std::map<std::string, token_bucket, std::less<>> identity_buckets_;
    std::size_t identity_sweep_at_ = 1024;
    std::atomic<std::uint64_t> seq_{0}; ///< taken on fast paths too (under a topic's lock only)
    std::uint64_t callback_ids_ = 0;
    std::shared_ptr<cluster_link> link_;
    std::atomic<bool> linked_{false}; ///< link_ != nullptr, for fast_path() under a topic's lock alone
};

} // namespace rtmsg::detail
