#pragma once
// Options of the hub: history, slow-consumer policies, limits, authorization.
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/hub/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <string_view>

namespace rtmsg {

/// What happens to a subscriber whose outbound queue is full.
enum class slow_consumer_policy {
    drop_oldest, ///< the oldest queued message goes (counted); the new one is queued
    drop_newest, ///< the new message is not queued (counted)
    keep_latest, ///< coalesce: a queued message of the same topic is replaced by the new one
                 ///< (a ticker shows the newest price, never a backlog); if none, drop the oldest
    disconnect,  ///< the subscriber is disconnected (WebSocket close 1008 "slow consumer")
};

/// Per-topic settings.
struct topic_options {
    /// Retained messages for history and resume; 0 keeps none.
    std::size_t history_count = 1000;
    /// Retained messages older than this are forgotten; zero: no age limit.
    std::chrono::milliseconds history_age{0};
    /// How subscribers that fall behind are treated on this topic.
    slow_consumer_policy policy = slow_consumer_policy::drop_oldest;
};

/// Bounds of every subscriber's outbound queue.
struct queue_limits {
    /// Messages a queue may hold.
    std::size_t max_messages = 4096;
    /// Bytes a queue may hold.
    std::size_t max_bytes = 8u << 20;
};

/// A token bucket: `rate` tokens per second, at most `burst` saved up; rate 0 = unlimited.
struct rate_limit {
    /// Tokens per second; 0: unlimited.
    double rate = 0;
    /// Tokens that may be saved up.
    double burst = 0;
};

/// Who a subscriber is, for authorization and presence.
struct peer_info {
    std::uint64_t connection_id = 0; ///< 0 for in-process subscribers and publishers
    std::string_view identity;       ///< from the upgrade hook (upgrade_decision::accept_as); empty if anonymous
    std::string_view info;           ///< the client information the upgrade hook attached (JSON); empty if none
};

/// A client's publication, as the publish hook sees it (before the hub numbers it).
struct publish_request {
    std::string_view topic; ///< the topic it is published to (an exact name)
    std::string_view data;  ///< the payload as the client sent it
    codec::data_kind kind;  ///< what `data` is
};

/** What a publish hook decides: accept, refuse with a hub_error (the client receives it
    encoded by its own codec, or a close 1008 on a raw endpoint), or accept with another payload.

    @code
    opt.on_publish = [](rtmsg::peer_info const& peer, rtmsg::publish_request const& p) {
        if (p.topic.starts_with("admin.") && peer.identity != "root")
            return rtmsg::publish_verdict::reject(rtmsg::hub_error::not_allowed, "admins only");
        if (p.kind == rtmsg::codec::data_kind::text)
            return rtmsg::publish_verdict::replace(censor(p.data), rtmsg::codec::data_kind::text);
        return rtmsg::publish_verdict::accept();
    };
    @endcode */
struct publish_verdict {
    /// Refuse with this error (a hub_error); empty: accept.
    std::error_code error;
    /// The text the client gets with the error; empty: the error's own message.
    std::string reason;
    /// Accept with this payload (of `kind`) instead of the client's.  With kind json it must be
    /// one JSON value: the client gets error 500 otherwise, and nothing is published.
    std::optional<std::string> data;
    /// What `data` is, when set.
    codec::data_kind kind = codec::data_kind::json;

    /// Accepts the publication as it is.
    static publish_verdict accept() { return {}; }
    /// Refuses it with `e` (e.g. hub_error::not_allowed, hub_error::rate_limited) and `reason`.
    static publish_verdict reject(hub_error e, std::string reason = {})
    {
        publish_verdict v;
        v.error = e;
        v.reason = std::move(reason);
        return v;
    }
    /// Accepts it with `payload` (of kind `k`) in place of what the client sent.
    static publish_verdict replace(std::string payload, codec::data_kind k = codec::data_kind::json)
    {
        publish_verdict v;
        v.data = std::move(payload);
        v.kind = k;
        return v;
    }
};

/// Settings of a hub.
struct hub_options {
    /// Settings of every topic that topic_config does not override (history, slow-consumer policy).
    topic_options default_topic;
    /// Per-topic overrides, asked once when a topic is created.
    std::function<topic_options(std::string_view topic)> topic_config;
    /// Bounds of every transport subscriber's queue.
    queue_limits queue;
    /// May this peer subscribe to this topic or pattern?  Null: everyone may.
    std::function<bool(peer_info const&, std::string_view pattern)> can_subscribe;
    /// May this peer publish to this topic?  Null: everyone may.
    std::function<bool(peer_info const&, std::string_view topic)> can_publish;
    /** Sees every client publication that can_publish and the rate limits let through, on
        every endpoint a client can publish on, and accepts, refuses or replaces it (see
        publish_verdict).  Runs on the publishing connection's thread; keep it quick.  Null:
        accept.  In-process publishes (hub::publish) do not pass through it. */
    std::function<publish_verdict(peer_info const&, publish_request const&)> on_publish;
    /// Topics the hub holds at most: a publish or subscription that would create one more
    /// fails with hub_error::too_many_topics (error 507 to a client).
    std::size_t max_topics = 100'000;
    /// Subscriptions one connection may hold (error 431 beyond).
    std::size_t max_subscriptions_per_connection = 256;
    /// Client publishes per connection: messages per second and bytes per second (error 429).
    rate_limit publish_messages{100, 200};
    /// Client publishes per connection: bytes per second (error 429).
    rate_limit publish_bytes{1 << 20, 2 << 20};
    /** Client publishes per identity, summed over all the connections (tabs, devices) of one
        identity and every topic: messages per second (error 429).  Rate 0 (the default): no
        such limit.  Anonymous connections have only the per-connection limits above. */
    rate_limit publish_messages_per_identity{};
    /// Largest payload a client may publish (error 413).
    std::size_t max_payload = 1 << 20;
    /// Errors within `abuse_window` after which a connection is closed with 1008.
    std::size_t abuse_errors = 50;
    /// The window abuse_errors counts in.
    std::chrono::milliseconds abuse_window{10'000};
    /** permessage-deflate on the hub's WebSocket endpoints (when their behavior enables it):
        false (the default): the endpoints agree on `server_no_context_takeover` with every
        peer and compress each message once per wire format, the same compressed frame going
        to every subscriber.  true: the behavior's own deflate options apply, and a
        connection with context takeover compresses every message for itself (better ratio
        on small repetitive messages, one deflate per subscriber per message and a zlib
        window per connection).  See docs/compression.md. */
    bool compress_per_connection = false;
};

} // namespace rtmsg
