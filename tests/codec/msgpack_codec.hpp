#pragma once
// A third codec, plugged in from outside the library: MessagePack through msgpack-c
// (Debian's libmsgpack-cxx-dev; header-only, CMake: find_package(msgpack 4 CONFIG),
// target msgpackc-cxx).  Nothing here touches an rtmsg header: a user who wants
// "rtmsg.msgpack" writes exactly this, and the hub takes it because it satisfies
// rtmsg::codec::codec.  Used by tests/codec/msgpack.cpp and bench/micro/codec.cpp.
#include <rtmsg/codec/codec.hpp>

#include <msgpack.hpp>
#include <simdjson.h> // validate_utf8

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace example {

using rtmsg::codec::data_kind;
using rtmsg::codec::envelope;
using rtmsg::codec::error;
using rtmsg::codec::op;

/** "rtmsg.msgpack": the envelope as one MessagePack map with the JSON codec's keys; `epoch`
    is a uint64 (MessagePack has them), `kind` is "text" or "binary" when not json, and
    binary data is a bin, other data a str.

    ### IMPORTANT: Buffer lifetime
    Decoded views point into the input (str and bin are referenced, not copied): valid while
    the input lives, and until the next decode() on this object. */
class msgpack_codec {
public:
    using value_type = rtmsg::codec::envelope;
    static constexpr std::string_view name = "rtmsg.msgpack";
    static constexpr bool is_text = false;
    static constexpr std::size_t padding = 0;

    std::error_code encode(envelope const& e, std::string& out)
    {
        // Everything is checked before the first byte is written.
        return encode_impl(e, out);
    }

    std::error_code decode(std::string_view in, envelope& out)
    {
        out.members.clear();
        std::error_code ec = decode_impl(in, out);
        if (ec) {
            out.members.clear();
            auto members = std::move(out.members);
            out = envelope{};
            out.members = std::move(members);
        }
        return ec;
    }

private:
    enum key : unsigned {
        k_id,
        k_topic,
        k_kind,
        k_data,
        k_offset,
        k_to,
        k_epoch,
        k_since,
        k_history,
        k_presence,
        k_ack,
        k_echo,
        k_code,
        k_message,
        k_who,
        k_members,
        k_op,
        k_unknown
    };
    static constexpr std::string_view key_names[] = {"id",    "topic",   "kind",    "data",     "offset", "to",
                                                     "epoch", "since",   "history", "presence", "ack",    "echo",
                                                     "code",  "message", "who",     "members",  "op"};
    static constexpr std::uint32_t bit(key k) { return std::uint32_t{1} << k; }

    // Which keys each operation uses and which it always carries (docs/protocol.md).
    struct op_keys {
        std::uint32_t uses, always;
    };
    static constexpr op_keys keys_of(op o)
    {
        switch (o) {
        case op::subscribe:
            return {bit(k_id) | bit(k_topic) | bit(k_epoch) | bit(k_since) | bit(k_history) | bit(k_presence),
                    bit(k_topic)};
        case op::unsubscribe:
        case op::presence: return {bit(k_id) | bit(k_topic), bit(k_topic)};
        case op::publish:
            return {bit(k_id) | bit(k_topic) | bit(k_kind) | bit(k_data) | bit(k_ack) | bit(k_echo),
                    bit(k_topic) | bit(k_data)};
        case op::message:
            return {bit(k_topic) | bit(k_kind) | bit(k_data) | bit(k_offset) | bit(k_epoch),
                    bit(k_topic) | bit(k_data) | bit(k_offset)};
        case op::ack: return {bit(k_id) | bit(k_topic) | bit(k_offset) | bit(k_epoch), bit(k_offset)};
        case op::error: return {bit(k_id) | bit(k_topic) | bit(k_code) | bit(k_message), bit(k_code)};
        case op::join:
        case op::leave: return {bit(k_topic) | bit(k_who), bit(k_topic) | bit(k_who)};
        case op::gap:
            return {bit(k_topic) | bit(k_offset) | bit(k_to) | bit(k_epoch), bit(k_topic) | bit(k_offset) | bit(k_to)};
        case op::members: return {bit(k_id) | bit(k_topic) | bit(k_members), bit(k_topic) | bit(k_members)};
        }
        return {0, 0};
    }

    struct sink { // msgpack::packer's Stream
        std::string* out;
        void write(char const* p, std::size_t n) { out->append(p, n); }
    };

    static bool utf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

    static std::error_code encode_impl(envelope const& e, std::string& out)
    {
        op_keys const k = keys_of(e.op);
        if (k.uses == 0) return error::bad_op;
        auto uses = [&](key x) { return (k.uses & bit(x)) != 0; };
        auto always = [&](key x) { return (k.always & bit(x)) != 0; };
        if (static_cast<unsigned>(e.kind) > 2) return error::bad_field;
        if (!utf8(e.topic) || !utf8(e.text) || !utf8(e.who) || (e.kind != data_kind::binary && !utf8(e.data)))
            return error::bad_field;
        for (auto m : e.members)
            if (!utf8(m)) return error::bad_field;

        // Which keys go out, decided once: a map header carries its size.
        bool const put[] = {
            uses(k_id) && e.id != 0,
            uses(k_topic) && (always(k_topic) || !e.topic.empty()),
            uses(k_data) && e.kind != data_kind::json,
            uses(k_data),
            uses(k_offset),
            uses(k_to),
            uses(k_epoch) && e.epoch != 0,
            uses(k_since) && e.has_since,
            uses(k_history) && e.history != 0,
            uses(k_presence) && e.presence,
            uses(k_ack) && e.ack,
            uses(k_echo) && !e.echo,
            uses(k_code),
            uses(k_message) && !e.text.empty(),
            uses(k_who),
            uses(k_members),
        };
        std::uint32_t n = 1; // op
        for (bool p : put) n += p;

        sink s{&out};
        msgpack::packer<sink> pk(s);
        auto str = [&](std::string_view v) {
            pk.pack_str(static_cast<std::uint32_t>(v.size()));
            pk.pack_str_body(v.data(), static_cast<std::uint32_t>(v.size()));
        };
        pk.pack_map(n);
        str("op");
        str(rtmsg::codec::op_name(e.op));
        for (unsigned i = 0; i < std::size(put); ++i) {
            if (!put[i]) continue;
            str(key_names[i]);
            switch (static_cast<key>(i)) {
            case k_id: pk.pack_uint64(e.id); break;
            case k_topic: str(e.topic); break;
            case k_kind: str(e.kind == data_kind::text ? "text" : "binary"); break;
            case k_data:
                if (e.kind == data_kind::binary) {
                    pk.pack_bin(static_cast<std::uint32_t>(e.data.size()));
                    pk.pack_bin_body(e.data.data(), static_cast<std::uint32_t>(e.data.size()));
                }
                else {
                    str(e.data);
                }
                break;
            case k_offset: pk.pack_uint64(e.offset); break;
            case k_to: pk.pack_uint64(e.to); break;
            case k_epoch: pk.pack_uint64(e.epoch); break;
            case k_since: pk.pack_uint64(e.offset); break;
            case k_history: pk.pack_uint32(e.history); break;
            case k_presence:
            case k_ack: pk.pack_true(); break;
            case k_echo: pk.pack_false(); break;
            case k_code: pk.pack_uint16(e.code); break;
            case k_message: str(e.text); break;
            case k_who: str(e.who); break;
            case k_members:
                pk.pack_array(static_cast<std::uint32_t>(e.members.size()));
                for (auto m : e.members) str(m);
                break;
            default: break;
            }
        }
        return {};
    }

    // str and bin stay in the input; everything else goes to the handle's zone.
    static bool reference(msgpack::type::object_type type, std::size_t, void*)
    {
        return type == msgpack::type::STR || type == msgpack::type::BIN;
    }

    std::error_code decode_impl(std::string_view in, envelope& out)
    {
        std::size_t off = 0;
        try {
            // Limits bound what a hostile header can make msgpack-c allocate: an envelope
            // is a map of at most 17 keys, with one array (members) one level down.
            msgpack::unpack_limit const limit(/*array*/ 1u << 16, /*map*/ 32, /*str*/ 1u << 24, /*bin*/ 1u << 24,
                                              /*ext*/ 0, /*depth*/ 3);
            handle_ = msgpack::unpack(in.data(), in.size(), off, &reference, nullptr, limit);
        }
        catch (msgpack::depth_size_overflow const&) {
            return error::too_deep;
        }
        catch (std::exception const&) { // parse_error, insufficient_bytes, size_overflow, bad_alloc, ...
            return error::malformed;
        }
        if (off != in.size()) return error::malformed; // trailing bytes
        msgpack::object const& root = handle_.get();
        if (root.type != msgpack::type::MAP) return error::malformed;

        envelope e;
        std::uint32_t seen = 0;
        bool op_ok = false;
        std::uint64_t since = 0, history = 0, code = 0;
        auto as_str = [](msgpack::object const& o, std::string_view& s) {
            if (o.type != msgpack::type::STR) return false;
            s = std::string_view(o.via.str.ptr, o.via.str.size);
            return utf8(s);
        };
        auto as_u64 = [](msgpack::object const& o, std::uint64_t& v) {
            if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
            v = o.via.u64;
            return true;
        };
        auto as_bool = [](msgpack::object const& o, bool& b) {
            if (o.type != msgpack::type::BOOLEAN) return false;
            b = o.via.boolean;
            return true;
        };
        std::string_view kind_name;
        msgpack::object const* data = nullptr;
        for (std::uint32_t i = 0; i < root.via.map.size; ++i) {
            msgpack::object_kv const& kv = root.via.map.ptr[i];
            std::string_view name;
            if (!as_str(kv.key, name)) return error::bad_field;
            key k = k_unknown;
            for (unsigned j = 0; j < std::size(key_names); ++j)
                if (key_names[j] == name) k = static_cast<key>(j);
            if (k == k_unknown) continue;
            if (seen & bit(k)) return error::bad_field;
            seen |= bit(k);
            bool ok = true;
            switch (k) {
            case k_op: {
                std::string_view s;
                if (!as_str(kv.val, s)) return error::bad_op;
                for (op o : {op::subscribe, op::unsubscribe, op::publish, op::presence, op::message, op::ack, op::error,
                             op::join, op::leave, op::gap, op::members})
                    if (rtmsg::codec::op_name(o) == s) {
                        e.op = o;
                        op_ok = true;
                    }
                break;
            }
            case k_id: ok = as_u64(kv.val, e.id); break;
            case k_topic: ok = as_str(kv.val, e.topic); break;
            case k_kind: ok = as_str(kv.val, kind_name) && (kind_name == "text" || kind_name == "binary"); break;
            case k_data: data = &kv.val; break;
            case k_offset: ok = as_u64(kv.val, e.offset); break;
            case k_to: ok = as_u64(kv.val, e.to); break;
            case k_epoch: ok = as_u64(kv.val, e.epoch); break;
            case k_since: ok = as_u64(kv.val, since); break;
            case k_history: ok = as_u64(kv.val, history) && history <= 0xFFFFFFFFu; break;
            case k_presence: ok = as_bool(kv.val, e.presence); break;
            case k_ack: ok = as_bool(kv.val, e.ack); break;
            case k_echo: ok = as_bool(kv.val, e.echo); break;
            case k_code: ok = as_u64(kv.val, code) && code <= 0xFFFFu; break;
            case k_message: ok = as_str(kv.val, e.text); break;
            case k_who: ok = as_str(kv.val, e.who); break;
            case k_members:
                ok = kv.val.type == msgpack::type::ARRAY;
                for (std::uint32_t j = 0; ok && j < kv.val.via.array.size; ++j) {
                    std::string_view m;
                    ok = as_str(kv.val.via.array.ptr[j], m);
                    out.members.push_back(m);
                }
                break;
            case k_unknown: break;
            }
            if (!ok) return error::bad_field;
        }
        if (!op_ok) return error::bad_op;
        op_keys const k = keys_of(e.op);
        if ((seen & k.always) != k.always) return error::missing_field;
        auto uses = [&](key x) { return (k.uses & bit(x)) != 0; };

        if (data != nullptr) {
            e.kind = kind_name == "text"     ? data_kind::text
                     : kind_name == "binary" ? data_kind::binary
                                             : data_kind::json;
            if (e.kind == data_kind::binary) {
                if (data->type != msgpack::type::BIN) return error::bad_field;
                e.data = std::string_view(data->via.bin.ptr, data->via.bin.size);
            }
            else if (!as_str(*data, e.data)) {
                return error::bad_field;
            }
        }
        out.op = e.op;
        out.id = uses(k_id) ? e.id : 0;
        out.topic = uses(k_topic) ? e.topic : std::string_view{};
        out.kind = uses(k_data) ? e.kind : data_kind::json;
        out.data = uses(k_data) ? e.data : std::string_view{};
        out.offset = uses(k_offset) ? e.offset : 0;
        out.to = uses(k_to) ? e.to : 0;
        out.epoch = uses(k_epoch) ? e.epoch : 0;
        out.has_since = uses(k_since) && (seen & bit(k_since));
        if (out.has_since) out.offset = since;
        out.history = uses(k_history) ? static_cast<std::uint32_t>(history) : 0;
        out.presence = uses(k_presence) && e.presence;
        out.ack = uses(k_ack) && e.ack;
        out.echo = !uses(k_echo) || e.echo;
        out.code = uses(k_code) ? static_cast<std::uint16_t>(code) : 0;
        out.text = uses(k_message) ? e.text : std::string_view{};
        out.who = uses(k_who) ? e.who : std::string_view{};
        if (!uses(k_members)) out.members.clear();
        return {};
    }

    msgpack::object_handle handle_; // owns the zone of the last decode
};

} // namespace example
