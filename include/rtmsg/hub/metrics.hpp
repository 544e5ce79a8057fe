#pragma once
// rtmsg::hub_metrics: the hub's counters, and their Prometheus text exposition.

#include <cstdint>
#include <string>

namespace rtmsg {

/// Counters of a hub (hub::metrics()).
struct hub_metrics {
    std::uint64_t connections = 0;      ///< transport subscribers (WebSocket, SSE) attached now
    std::uint64_t subscriptions = 0;    ///< subscriptions held now
    std::uint64_t topics = 0;           ///< topics that exist
    std::uint64_t messages_in = 0;      ///< messages published
    std::uint64_t bytes_in = 0;         ///< payload bytes published
    std::uint64_t messages_out = 0;     ///< messages queued to transport subscribers
    std::uint64_t bytes_out = 0;        ///< wire bytes handed to transports
    std::uint64_t dropped = 0;          ///< messages dropped by slow-consumer policies
    std::uint64_t slow_disconnects = 0; ///< subscribers disconnected for being slow
    std::uint64_t errors = 0;           ///< error replies sent to clients
};

/// Formats hub metrics in the Prometheus text exposition format.
inline std::string prometheus_text(hub_metrics const& m)
{
    std::string out;
    auto add = [&](char const* name, char const* type, char const* help, std::uint64_t v) {
        out.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
        out.append(name).append(" ").append(std::to_string(v)).append("\n");
    };
    add("rtmsg_connections", "gauge", "Transport subscribers attached.", m.connections);
    add("rtmsg_subscriptions", "gauge", "Subscriptions held.", m.subscriptions);
    add("rtmsg_topics", "gauge", "Topics that exist.", m.topics);
    add("rtmsg_messages_in_total", "counter", "Messages published.", m.messages_in);
    add("rtmsg_bytes_in_total", "counter", "Payload bytes published.", m.bytes_in);
    add("rtmsg_messages_out_total", "counter", "Messages queued to subscribers.", m.messages_out);
    add("rtmsg_bytes_out_total", "counter", "Wire bytes handed to transports.", m.bytes_out);
    add("rtmsg_dropped_total", "counter", "Messages dropped by slow-consumer policies.", m.dropped);
    add("rtmsg_slow_disconnects_total", "counter", "Subscribers disconnected for being slow.", m.slow_disconnects);
    add("rtmsg_errors_total", "counter", "Error replies sent to clients.", m.errors);
    return out;
}

} // namespace rtmsg
