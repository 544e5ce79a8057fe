#pragma once
// raw_endpoint, sse_endpoint and metrics_handler (server/hub_endpoint.hpp): inline in
// header-only builds, compiled once by <rtmsg/src.hpp> with RTMSG_SEPARATE_COMPILATION.
#include <rtmsg/server/impl/hub_endpoint.hpp>

namespace rtmsg {

RTMSG_DECL websocket::behavior raw_endpoint(hub& h, std::string topic, websocket::behavior base, raw_endpoint_options o)
{
    auto core = rtmsg::detail::hub_access::core(h);
    auto const format = detail::register_ws_format(*core, "ws.raw", detail::encode_ws_raw, base);
    base.on_upgrade = [core, topic, auth = std::move(base.on_upgrade)](websocket::upgrade_request const& u) {
        return detail::admit_subscriber(*core, auth, u, topic);
    };
    // Each connection's outbox lives in its behavior_state(): no map, no lock.
    base.on_open = [core, topic, format](websocket::connection_ptr const& c) {
        auto box = std::make_shared<detail::connection_outbox>(core, c, format.for_connection(*c), c->peer());
        c->behavior_state() = box;
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
    base.on_close = [core](websocket::connection_ptr const& c, std::uint16_t, std::string_view) {
        detail::release_outbox(*core, *c);
    };
    return base;
}

RTMSG_DECL sse::behavior sse_endpoint(hub& h, sse_endpoint_options o)
{
    auto core = rtmsg::detail::hub_access::core(h);
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
    b.on_open = [core, topic_of, by_offset, by_seq](sse::connection_ptr const& c) {
        auto const topic = topic_of(c->request());
        bool const pattern = is_wildcard(topic);
        auto box = std::make_shared<detail::connection_outbox>(core, c, pattern ? by_seq : by_offset, c->peer());
        c->behavior_state() = box;
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
    b.on_close = [core](sse::connection_ptr const& c) { detail::release_outbox(*core, *c); };
    return b;
}

RTMSG_DECL http::handler metrics_handler(hub& h)
{
    return [core = rtmsg::detail::hub_access::core(h)](http::request const&, http::response& res) {
        res.headers.add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
        res.body = prometheus_text(core->metrics());
    };
}

} // namespace rtmsg
