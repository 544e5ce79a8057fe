#pragma once
// The hub's internals (1 of 2): a transport subscriber's bounded queue and the hub's counters.
// Not a public header: the library's own endpoints (<rtmsg/server/hub_endpoint.hpp>,
// <rtmsg/server/hub_protocol.hpp>) derive their outboxes from detail::outbox.
#include <rtmsg/detail/byte_lock.hpp>
#include <rtmsg/detail/ring.hpp>
#include <rtmsg/hub/message.hpp>
#include <rtmsg/hub/metrics.hpp>
#include <rtmsg/hub/policy.hpp>
#include <rtmsg/transport/batch.hpp>

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

struct hub_counters {
    std::atomic<std::uint64_t> connections{0}, subscriptions{0}, topics{0}, messages_in{0}, bytes_in{0},
        messages_out{0}, bytes_out{0}, dropped{0}, slow_disconnects{0}, errors{0};

    hub_metrics snapshot() const noexcept
    {
        return {connections.load(),  subscriptions.load(), topics.load(),  messages_in.load(),      bytes_in.load(),
                messages_out.load(), bytes_out.load(),     dropped.load(), slow_disconnects.load(), errors.load()};
    }
};

class hub_core;

/** A transport subscriber's bounded outbound queue (one per WebSocket or SSE connection).

    The hub pushes under its lock, on the publisher's thread: a push never blocks and never
    calls back into the hub.  The transport drains on its own executor, and only while its
    socket keeps up, so a backlog stays here, where the slow-consumer policy applies. */
class outbox : public std::enable_shared_from_this<outbox> {
public:
    struct item {
        message_ptr msg;                          ///< a topic message shared with others, or
        std::shared_ptr<std::string const> frame; ///< bytes for this connection only (acks, errors)
    };

    outbox(int format, queue_limits limits, std::uint64_t connection_id, peer_identity_ptr peer)
        : format_(format), limits_(limits), connection_id_(connection_id), peer_(std::move(peer))
    {
    }
    virtual ~outbox() = default;
    outbox(outbox const&) = delete;
    outbox& operator=(outbox const&) = delete;

    int format() const noexcept { return format_; }
    std::uint64_t connection_id() const noexcept { return connection_id_; }
    /// The connection's identity; empty if anonymous.
    std::string const& identity() const noexcept
    {
        static std::string const anonymous;
        return peer_ ? peer_->id : anonymous;
    }
    /// Who the connection is (null: anonymous), attached to what it publishes.
    peer_identity_ptr const& peer() const noexcept { return peer_; }
    std::uint64_t dropped() const noexcept { return dropped_.load(); }

    /// Queues bytes for this connection alone.  Never dropped: they answer the client's own
    /// requests, which its rate limit bounds.
    void push_private(std::shared_ptr<std::string const> frame)
    {
        {
            std::lock_guard<rtmsg::detail::byte_lock> lock(m_);
            bytes_ += frame->size();
            q_.push_back({nullptr, std::move(frame)});
        }
        schedule();
    }

    /// Queues a message without applying the policy (history replay, presence events): a
    /// client that asked for them must get them all.  Bounded by the topic's history.
    void push_replay(message_ptr const& m)
    {
        {
            std::lock_guard<rtmsg::detail::byte_lock> lock(m_);
            bytes_ += m->frames[static_cast<std::size_t>(format_)].size();
            q_.push_back({m, nullptr});
        }
        schedule();
    }

    /// Moves queued items to `out`, in order, up to about `max_bytes` (at least one) and at
    /// most `max_items`.
    void take(std::vector<item>& out, std::size_t max_bytes, std::size_t max_items = SIZE_MAX)
    {
        std::lock_guard<rtmsg::detail::byte_lock> lock(m_);
        std::size_t n = 0;
        for (std::size_t k = 0; k < max_items && !q_.empty() && (n == 0 || n < max_bytes); ++k) {
            auto const sz = size_of(q_.front());
            n += sz;
            bytes_ -= sz;
            out.push_back(std::move(q_.front()));
            q_.pop_front();
        }
        if (q_.empty()) scheduled_ = false;
    }

    /// The wire bytes of an item in this subscriber's format; they share the message's memory.
    std::shared_ptr<std::string const> frame_of(item const& it) const
    {
        if (it.frame) return it.frame;
        return {it.msg, &it.msg->frames[static_cast<std::size_t>(format_)]};
    }

    /// Queued bytes and messages (for tests and metrics).
    std::pair<std::size_t, std::size_t> backlog() const
    {
        std::lock_guard<rtmsg::detail::byte_lock> lock(m_);
        return {q_.size(), bytes_};
    }

protected:
    /// Makes the transport drain soon: post to its executor.  Called without any lock held.
    virtual void wake() = 0;
    /// Ends the transport because it is too slow (policy disconnect).  Called without locks.
    virtual void kick() = 0;
    /// False once the transport is gone without having been removed (for example destroyed
    /// with its io_context): the hub then drops the outbox.  Called under the topic's lock.
    virtual bool alive() const noexcept { return true; }

private:
    friend class hub_core;

    std::size_t size_of(item const& it) const noexcept
    {
        return it.frame ? it.frame->size() : it.msg->frames[static_cast<std::size_t>(format_)].size();
    }

    void schedule()
    {
        bool now = false;
        {
            std::lock_guard<rtmsg::detail::byte_lock> lock(m_);
            if (!scheduled_) scheduled_ = now = true;
        }
        if (now) wake();
    }

    /// Queues topic messages in order, under one lock and with at most one wake-up (put
    /// off to the end of the publisher's read batch, if it has one); applies `policy` when
    /// full; adds how many it queued to `queued_total` (the caller updates the shared counter
    /// once per delivery, not once per subscriber).  False: disconnect this subscriber (the
    /// rest are not queued).
    template <class Ptr>
    bool push_many(std::span<Ptr const> ms, slow_consumer_policy policy, hub_counters& counters,
                   std::uint64_t& queued_total, transport::read_batch* batch)
    {
        std::uint64_t queued = 0;
        bool ok = true;
        bool wake_now = false;
        {
            std::lock_guard<rtmsg::detail::byte_lock> lock(m_);
            if (kicked_) return true;
            for (auto const& m : ms) {
                auto const r = push_locked(m, policy, counters);
                if (r == pushed::kick) {
                    ok = false;
                    break;
                }
                queued += r == pushed::queued ? 1 : 0;
            }
            if (queued != 0 && !scheduled_) scheduled_ = wake_now = true;
        }
        queued_total += queued;
        if (wake_now) {
            if (batch)
                batch->defer([self = shared_from_this()] { self->wake(); });
            else
                wake();
        }
        return ok;
    }

    enum class pushed { queued, merged_or_dropped, kick };

    /// Under m_: one message of push_many().
    template <class Ptr>
    pushed push_locked(Ptr const& m, slow_consumer_policy policy, hub_counters& counters)
    {
        auto const size = m->frames[static_cast<std::size_t>(format_)].size();
        if (policy == slow_consumer_policy::keep_latest && !q_.empty()) {
            // Coalesce: replace the queued message of the same topic, keeping its place.
            for (std::size_t i = q_.size(); i-- > 0;) {
                auto& it = q_[i];
                if (it.msg && it.msg->op == codec::op::message && it.msg->topic == m->topic) {
                    bytes_ = bytes_ - size_of(it) + size;
                    it.msg = m;
                    ++dropped_;
                    ++counters.dropped;
                    return pushed::merged_or_dropped;
                }
            }
        }
        while (q_.size() + 1 > limits_.max_messages || bytes_ + size > limits_.max_bytes) {
            if (policy == slow_consumer_policy::disconnect) {
                kicked_ = true;
                ++counters.slow_disconnects;
                return pushed::kick;
            }
            if (policy == slow_consumer_policy::drop_newest || q_.empty()) {
                ++dropped_;
                ++counters.dropped;
                return pushed::merged_or_dropped;
            }
            // drop_oldest and keep_latest: make room, but never drop this connection's
            // own replies (acks, errors): skip over them.
            std::size_t victim = 0;
            while (victim < q_.size() && !q_[victim].msg) ++victim;
            if (victim == q_.size()) {
                ++dropped_;
                ++counters.dropped;
                return pushed::merged_or_dropped;
            }
            bytes_ -= size_of(q_[victim]);
            q_.erase(victim);
            ++dropped_;
            ++counters.dropped;
        }
        bytes_ += size;
        q_.push_back({m, nullptr});
        return pushed::queued;
    }
    int format_;
    queue_limits limits_;
    std::uint64_t connection_id_;
    peer_identity_ptr peer_;
    mutable rtmsg::detail::byte_lock m_; ///< one byte, not a 40-byte std::mutex per subscriber
    ring<item> q_;
    std::size_t bytes_ = 0;
    bool scheduled_ = false;
    bool kicked_ = false;
    std::atomic<std::uint64_t> dropped_{0};
    // Guarded by the hub's lock (last_seq_ is used only by deliveries that hold it):
    std::uint64_t last_seq_ =
        0; ///< deduplicates a message matched by two subscriptions (hub_core::deliver_many_locked)
    std::vector<std::string> patterns_; ///< what this outbox is subscribed to
};

/// An in-process subscriber: a callback run on the publisher's thread, outside the hub's lock.

} // namespace rtmsg::detail
