#pragma once
// The definitions of server/hub_protocol.hpp: one protocol session per connection, and
// protocol_endpoint.
#include <rtmsg/server/hub_protocol.hpp>

#include <rtmsg/codec/binary.hpp>
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/codec/json.hpp>
#include <rtmsg/server/impl/hub_endpoint.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <tuple>
#include <variant>

namespace rtmsg {

namespace detail {

/// Encodes a hub message (or presence event) as a framed WebSocket message of codec C.
template <codec::codec C>
bool encode_ws_codec(message const& m, std::string& out)
{
    codec::envelope e;
    e.op = m.op;
    e.topic = m.topic;
    e.epoch = m.epoch;
    if (m.op == codec::op::message) {
        e.data = m.payload;
        e.kind = m.kind;
        e.offset = m.offset;
        set_sender(e, m);
    }
    else if (m.op == codec::op::gap) {
        e.offset = m.offset;
        e.to = m.to;
    }
    else
        e.who = m.who;
    thread_local C c;
    thread_local std::string body;
    body.clear();
    if (c.encode(e, body)) return false;
    append_ws_frame(out, C::is_text ? websocket::opcode::text : websocket::opcode::binary, body);
    return true;
}

/// The state of one protocol connection.
template <class... Codecs>
class protocol_session {
public:
    protocol_session(std::shared_ptr<hub_core> core, websocket::connection_ptr const& c, std::size_t codec_index,
                     int format)
        : core_(std::move(core)), conn_(c), box_(std::make_shared<connection_outbox>(core_, c, format, c->peer()))
    {
        select(codec_index, std::index_sequence_for<Codecs...>{});
    }

    std::shared_ptr<outbox> const& box() const noexcept { return box_; }

    /// Handles one client message; `batch` is its read batch (websocket::connection::batch()).
    void on_message(websocket::message_view m, transport::read_batch* batch = nullptr)
    {
        batch_ = batch;
        std::visit([&](auto& codec) { handle(codec, m); }, codec_);
        batch_ = nullptr;
    }

private:
    using codec_variant = std::variant<Codecs...>;

    template <std::size_t... I>
    void select(std::size_t index, std::index_sequence<I...>)
    {
        ((index == I ? (codec_.template emplace<I>(), 0) : 0), ...);
    }

    template <class C>
    void handle(C& codec, websocket::message_view m)
    {
        codec::envelope in;
        std::error_code ec;
        if constexpr (C::padding != 0) {
            // The codec may read `padding` bytes past the end: give it a padded copy.
            scratch_.assign(m.data);
            scratch_.resize(m.data.size() + C::padding);
            ec = codec.decode(std::string_view(scratch_.data(), m.data.size()), in);
        }
        else
            ec = codec.decode(m.data, in);
        if (ec) return error(codec, 0, hub_error::bad_request, ec.message());
        auto const now = std::chrono::steady_clock::now();
        auto const& who = box_->peer();
        peer_info const peer{box_->connection_id(), who ? std::string_view(who->id) : std::string_view{},
                             who ? std::string_view(who->info) : std::string_view{}};
        auto& opt = core_->options();
        switch (in.op) {
        case codec::op::subscribe: {
            if (opt.can_subscribe && !opt.can_subscribe(peer, in.topic))
                return error(codec, in.id, hub_error::not_allowed, "not allowed to subscribe to this topic");
            if ((in.has_since || in.history != 0) && is_wildcard(in.topic))
                return error(codec, in.id, hub_error::bad_request,
                             "since and history need an exact topic: a pattern delivers live messages only");
            subscribe_options so;
            so.has_since = in.has_since;
            so.since = in.offset;
            so.epoch = in.epoch;
            so.history = in.history;
            so.presence = in.presence;
            auto const topic = std::string(in.topic);
            auto const id = in.id;
            // In a cluster the head may run later, on the bridge's thread: it owns what it uses.
            ec = core_->subscribe(box_, topic, so, [box = box_, id, topic](subscribe_head const& h) {
                send_to<C>(
                    *box,
                    codec::envelope{
                        .op = codec::op::ack, .id = id, .topic = topic, .offset = h.last_offset, .epoch = h.epoch});
                if (h.gap_from != 0)
                    send_to<C>(*box, codec::envelope{.op = codec::op::gap,
                                                     .topic = topic,
                                                     .offset = h.gap_from,
                                                     .to = h.gap_to,
                                                     .epoch = h.epoch});
            });
            if (ec) return error(codec, id, static_cast<hub_error>(ec.value()), ec.message());
            return;
        }
        case codec::op::unsubscribe: {
            auto const topic = std::string(in.topic);
            if ((ec = core_->unsubscribe(*box_, topic)))
                return error(codec, in.id, static_cast<hub_error>(ec.value()), ec.message());
            return ack(codec, in.id, topic, 0, 0);
        }
        case codec::op::publish: {
            if (in.data.size() > opt.max_payload)
                return error(codec, in.id, hub_error::payload_too_large, "payload too large");
            if (!messages_.take(1, opt.publish_messages, now) ||
                !bytes_.take(static_cast<double>(in.data.size()), opt.publish_bytes, now))
                return error(codec, in.id, hub_error::rate_limited, "rate limit exceeded; slow down");
            if (in.kind == codec::data_kind::json) {
                // Other clients get this as JSON: it must be JSON, whatever codec it came in.
                thread_local codec::json check;
                if (check.validate(in.data))
                    return error(codec, in.id, hub_error::bad_request, "data is not valid JSON");
            }
            auto verdict = core_->admit_publish(peer, {in.topic, in.data, in.kind}, now);
            if (verdict.error) {
                // A hub_error travels as its protocol code; any other error as 403.
                auto const e = verdict.error.category() == rtmsg::hub_category()
                                   ? static_cast<hub_error>(verdict.error.value())
                                   : hub_error::not_allowed;
                return error(codec, in.id, e, verdict.reason.empty() ? verdict.error.message() : verdict.reason);
            }
            if (verdict.data) {
                // The hook's payload: checked as a client's would be (its mistake is the server's: 500).
                thread_local codec::json check;
                if (verdict.kind == codec::data_kind::json && check.validate(*verdict.data))
                    return error(codec, in.id, hub_error::bad_hook_payload,
                                 "the server's publish hook produced invalid JSON");
                in.data = *verdict.data;
                in.kind = verdict.kind;
            }
            // In a cluster the broker numbers the message: the reply comes later, from the bridge.
            auto later = [box = box_, id = in.id, topic = std::string(in.topic),
                          want_ack = in.ack](publish_result const& r) {
                codec::envelope e;
                e.id = id;
                if (r.ec) {
                    e.op = codec::op::error;
                    e.code = protocol_code(static_cast<hub_error>(r.ec.value()));
                    e.text = r.ec.message();
                }
                else if (want_ack) {
                    e.op = codec::op::ack;
                    e.topic = topic;
                    e.offset = r.offset;
                    e.epoch = r.epoch;
                }
                else
                    return;
                send_to<C>(*box, e);
            };
            auto const r = core_->publish(in.topic, in.data, in.kind, box_->connection_id(), box_->peer(), in.echo,
                                          std::move(later), batch_);
            if (r.ec) return error(codec, in.id, static_cast<hub_error>(r.ec.value()), r.ec.message());
            if (in.ack && !r.pending) ack(codec, in.id, std::string(in.topic), r.offset, r.epoch);
            return;
        }
        case codec::op::presence: {
            if (!is_valid_topic(in.topic)) return error(codec, in.id, hub_error::invalid_topic, "invalid topic");
            if (opt.can_subscribe && !opt.can_subscribe(peer, in.topic))
                return error(codec, in.id, hub_error::not_allowed, "not allowed");
            auto const who = core_->members(in.topic);
            codec::envelope e;
            e.op = codec::op::members;
            e.id = in.id;
            e.topic = in.topic;
            for (auto const& w : who) e.members.push_back(w);
            return send(codec, e);
        }
        default: return error(codec, in.id, hub_error::bad_request, "not an operation a client may send");
        }
    }

    template <class C>
    void ack(C& codec, std::uint64_t id, std::string const& topic, std::uint64_t offset, std::uint64_t epoch)
    {
        codec::envelope e;
        e.op = codec::op::ack;
        e.id = id;
        e.topic = topic;
        e.offset = offset;
        e.epoch = epoch;
        send(codec, e);
    }

    template <class C>
    void error(C& codec, std::uint64_t id, hub_error e, std::string const& text)
    {
        core_->error_replied();
        codec::envelope env;
        env.op = codec::op::error;
        env.id = id;
        env.code = protocol_code(e);
        env.text = text;
        send(codec, env);
        // Sustained abuse ends the connection: too many errors within the window.
        auto const now = std::chrono::steady_clock::now();
        errors_.push_back(now);
        while (!errors_.empty() && now - errors_.front() > core_->options().abuse_window) errors_.pop_front();
        if (errors_.size() >= core_->options().abuse_errors)
            if (auto c = conn_.lock()) c->close(websocket::close_code::policy_violation, "too many invalid requests");
    }

    /// Replies go through the outbox, in order with the topic messages.
    template <class C>
    static void send_to(outbox& box, codec::envelope const& e)
    {
        C codec;
        std::string body;
        if (codec.encode(e, body)) return;
        auto frame = std::make_shared<std::string>();
        append_ws_frame(*frame, C::is_text ? websocket::opcode::text : websocket::opcode::binary, body);
        box.push_private(std::move(frame));
    }

    template <class C>
    void send(C& codec, codec::envelope const& e)
    {
        std::string body;
        if (codec.encode(e, body)) return;
        auto frame = std::make_shared<std::string>();
        append_ws_frame(*frame, C::is_text ? websocket::opcode::text : websocket::opcode::binary, body);
        box_->push_private(std::move(frame));
    }

    std::shared_ptr<hub_core> core_;
    std::weak_ptr<websocket::connection> conn_;
    std::shared_ptr<outbox> box_;
    codec_variant codec_;
    transport::read_batch* batch_ = nullptr; ///< the read batch of the message being handled
    std::string scratch_;
    token_bucket messages_, bytes_;
    std::deque<std::chrono::steady_clock::time_point> errors_;
};

} // namespace detail

template <codec::codec... Codecs>
websocket::behavior protocol_endpoint(hub& h, websocket::behavior base)
{
    static_assert(sizeof...(Codecs) > 0, "protocol_endpoint needs at least one codec");
    using session = detail::protocol_session<Codecs...>;
    auto core = rtmsg::detail::hub_access::core(h);
    auto formats = std::make_shared<std::array<detail::ws_format, sizeof...(Codecs)>>();
    {
        std::size_t i = 0;
        ((void)((*formats)[i++] = detail::register_ws_format(*core, "ws." + std::string(Codecs::name),
                                                             detail::encode_ws_codec<Codecs>, base)),
         ...);
    }
    static constexpr std::array<std::string_view, sizeof...(Codecs)> names{Codecs::name...};

    base.select_subprotocol = [](std::vector<std::string_view> const& offered) -> std::string {
        for (auto o : offered)
            for (auto n : names)
                if (o == n) return std::string(n);
        return {};
    };
    // Each connection's session lives in its behavior_state(): no map, no lock per message.
    base.on_open = [core, formats](websocket::connection_ptr const& c) {
        std::size_t index = 0;
        for (std::size_t i = 0; i < names.size(); ++i)
            if (c->subprotocol() == names[i]) index = i;
        c->behavior_state() = std::make_shared<session>(core, c, index, (*formats)[index].for_connection(*c));
        core->connection_opened();
    };
    base.on_message = [](websocket::connection_ptr const& c, websocket::message_view m) {
        // (on_close, which releases the session, never runs inside on_message.)
        if (auto* s = static_cast<session*>(c->behavior_state().get())) s->on_message(m, c->batch());
    };
    base.on_close = [core](websocket::connection_ptr const& c, std::uint16_t, std::string_view) {
        auto const s = std::static_pointer_cast<session>(std::exchange(c->behavior_state(), nullptr));
        if (!s) return;
        core->remove(*s->box());
        core->connection_closed();
    };
    return base;
}

} // namespace rtmsg
