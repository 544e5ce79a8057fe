#pragma once
// rtmsg::hub: topics, subscriptions, fan-out, history and resume, presence, metrics.
#include <rtmsg/config.hpp>
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/hub/error.hpp>
#include <rtmsg/hub/message.hpp>
#include <rtmsg/hub/metrics.hpp>
#include <rtmsg/hub/policy.hpp>
#include <rtmsg/hub/topic.hpp>
#include <rtmsg/transport/batch.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rtmsg {

/// What publish() did.
struct publish_result {
    std::error_code ec;       ///< hub_error if refused
    std::uint64_t offset = 0; ///< the message's offset in its topic
    /** The topic's epoch. */
    std::uint64_t epoch = 0;
    std::size_t subscribers = 0; ///< subscribers it was queued to (callbacks included)
    bool pending = false;        ///< in a cluster: forwarded to the broker, which numbers it later
};

/// Options of one subscription made by a transport.
struct subscribe_options {
    bool has_since = false;    ///< resume: deliver retained messages after `since`
    std::uint64_t since = 0;   ///< an offset (exact topics) or, with by_seq, a hub sequence number
    std::uint64_t epoch = 0;   ///< the epoch `since` belongs to (0: the current one)
    bool by_seq = false;       ///< `since` is a hub sequence number (SSE pattern streams)
    std::uint32_t history = 0; ///< without since: deliver the last N retained messages first
    bool presence = false;     ///< also receive join / leave events
};

/// Where a new subscription starts, reported before any replayed message is queued.
struct subscribe_head {
    std::uint64_t epoch = 0;       ///< the topic's epoch (exact topics)
    std::uint64_t last_offset = 0; ///< the topic's latest offset (exact topics)
    std::uint64_t gap_from = 0;    ///< nonzero: offsets gap_from..gap_to are no longer retained
    /** The last offset no longer retained (see gap_from). */
    std::uint64_t gap_to = 0;
};

namespace detail {
class hub_core;
struct callback_sub;
struct hub_access;
} // namespace detail

/** An in-process subscription; unsubscribes when destroyed (or on unsubscribe()). */
class subscription {
public:
    subscription() = default;
    /// Made by hub::subscribe().
    subscription(std::weak_ptr<detail::hub_core> core, std::shared_ptr<detail::callback_sub> cb);
    /// Moves the subscription; the moved-from object holds none.
    subscription(subscription&&) noexcept = default;
    /// Ends this subscription, then takes over `o`'s.
    subscription& operator=(subscription&& o) noexcept;
    ~subscription();
    /// True while this object holds a subscription.
    explicit operator bool() const noexcept { return cb_ != nullptr; }

    /// Ends the subscription now; safe from any thread, and to call twice.
    void unsubscribe();

private:
    std::weak_ptr<detail::hub_core> core_;
    std::shared_ptr<detail::callback_sub> cb_;
};

/** The pub/sub hub: named topics that WebSocket and SSE clients and C++ code subscribe and
    publish to.

    @code
    rtmsg::hub hub;
    auto sub = hub.subscribe("prices.*", [](rtmsg::message const& m) { log(m.topic, m.payload); });
    hub.publish("prices.AAPL", R"({"bid":189.2})", rtmsg::codec::data_kind::json);
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));   // <rtmsg/server/hub_protocol.hpp>
    @endcode

    - **Fan-out**: a message is stored once, encoded and framed once per wire format in
      use, and every subscriber's queue holds a reference to the same bytes.
    - **Slow consumers**: each transport subscriber has a bounded queue (hub_options::queue);
      the topic's slow_consumer_policy decides what happens when it is full.  Fast
      subscribers never wait for slow ones.
    - **History**: each topic keeps its last messages (topic_options); offsets increase by
      one per message, and an epoch tells one lifetime of a topic from another.
    - **Threads**: every member function is safe from any thread; one mutex guards the
      topic table and each topic has a lock of its own.  A publish to a topic that no
      pattern matches holds only its topic's lock while it appends to the queues, so
      publishers to different topics do not wait for each other.  Run the io_context on as
      many threads as you like.  In-process callbacks run on the publisher's thread after
      the locks are released, so they may publish.
*/
class hub {
public:
    /// A hub with the settings `opt` (history, queue bounds, policies, authorization, limits).
    explicit hub(hub_options opt = {});
    hub(hub const&) = delete;
    hub& operator=(hub const&) = delete;

    /** Publishes `payload` to `topic` (an exact name).  Safe from any thread.
        `kind` says what the bytes are: JSON codecs embed json data as a value.  In a cluster
        the result is `pending` (the broker numbers the message): use the overload with a
        completion to learn its offset. */
    publish_result publish(std::string_view topic, std::string_view payload, codec::data_kind kind);

    /** As above, from a WebSocket on_message handler with the message's read batch
        (`connection->batch()`, which may be null): the subscribers' wake-ups wait for the
        batch to end, so a client's burst of messages reaches each subscriber in one gathered
        write.  What is queued, and in which order, does not change. */
    publish_result publish(std::string_view topic, std::string_view payload, codec::data_kind kind,
                           transport::read_batch* batch);

    /** Publishes, and calls `done` with the message's offset and epoch.  Alone, `done` runs
        before this returns.  In a cluster (<rtmsg/cluster/redis.hpp>) the broker numbers the
        message: `done` runs later on the bridge's executor, with the offset or with
        hub_error::unavailable if the broker did not take it. */
    void publish(std::string_view topic, std::string_view payload, codec::data_kind kind,
                 std::function<void(publish_result const&)> done);

    /** Calls `fn` for every message published to `pattern` (a topic or a wildcard pattern),
        on the publisher's thread.  Keep the returned subscription alive. */
    subscription subscribe(std::string_view pattern, std::function<void(message const&)> fn, std::error_code& ec);
    /// As above, but throws std::system_error (an invalid pattern: hub_error::invalid_topic).
    subscription subscribe(std::string_view pattern, std::function<void(message const&)> fn);

    /// Identities subscribed to `topic` (presence), sorted.
    std::vector<std::string> members(std::string_view topic) const;

    /// The topic's epoch and latest offset ({0, 0} if it does not exist yet).
    std::pair<std::uint64_t, std::uint64_t> position(std::string_view topic) const;

    /// A snapshot of the counters (messages, deliveries, drops, queue bytes, connections).
    hub_metrics metrics() const noexcept;

    /// The metrics in the Prometheus text exposition format (serve it at /metrics).
    std::string prometheus() const;

private:
    friend struct detail::hub_access;
    /// The shared state that the library's endpoints attach to (detail::hub_access).
    std::shared_ptr<detail::hub_core> const& core() const noexcept { return core_; }

    std::shared_ptr<detail::hub_core> core_;
};

namespace detail {
/// How the library's own endpoints (server/, cluster/) reach a hub's core; nothing for users.
struct hub_access {
    static std::shared_ptr<hub_core> const& core(hub const& h) noexcept { return h.core(); }
};
} // namespace detail

} // namespace rtmsg

#if !defined(RTMSG_SEPARATE_COMPILATION)
#include <rtmsg/hub/impl/hub.ipp>
#endif
