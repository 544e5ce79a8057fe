#pragma once
// Options of the hub: history, slow-consumer policies, limits, authorization.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
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
    std::string_view identity;       ///< from the authentication hook; empty if anonymous
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
    /// Subscriptions one connection may hold (error 431 beyond).
    std::size_t max_subscriptions_per_connection = 256;
    /// Client publishes per connection: messages per second and bytes per second (error 429).
    rate_limit publish_messages{100, 200};
    /// Client publishes per connection: bytes per second (error 429).
    rate_limit publish_bytes{1 << 20, 2 << 20};
    /// Largest payload a client may publish (error 413).
    std::size_t max_payload = 1 << 20;
    /// Errors within `abuse_window` after which a connection is closed with 1008.
    std::size_t abuse_errors = 50;
    /// The window abuse_errors counts in.
    std::chrono::milliseconds abuse_window{10'000};
};

} // namespace rtmsg
