#pragma once
// The compact binary codec ("rtmsg.binary"): one envelope per WebSocket binary message, as
// a version byte, an operation byte and tag-value fields.  docs/protocol.md has the format
// for client implementers; this header is the reference.
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/detail/utf8.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace rtmsg::codec {

/** The binary codec: `rtmsg::codec::envelope` <-> a compact tag-value format.

    @code
    message  = version:u8(1)  op:u8  field*          ; fields run to the end of the message
    field    = tag:u8 value
    varint   = LEB128, unsigned, 1-10 bytes, minimal  ; 300 = AC 02
    string   = length:varint  bytes                   ; UTF-8
    bytes    = length:varint  bytes
    bool     = u8 0 or 1
    @endcode

    | tag | name     | value                 | envelope member                               |
    |-----|----------|-----------------------|-----------------------------------------------|
    |  1  | id       | varint                | `id`                                          |
    |  2  | topic    | string                | `topic`                                       |
    |  3  | kind     | u8: 0 json, 1 text, 2 binary | `kind`                                 |
    |  4  | data     | bytes                 | `data`                                        |
    |  5  | offset   | varint                | `offset`                                      |
    |  6  | to       | varint                | `to`                                          |
    |  7  | epoch    | varint                | `epoch`                                       |
    |  8  | since    | varint                | subscribe: `has_since = true`, `offset = since` |
    |  9  | history  | varint (< 2^32)       | `history`                                     |
    | 10  | presence | bool                  | `presence`                                    |
    | 11  | ack      | bool                  | `ack`                                         |
    | 12  | echo     | bool (default 1)      | `echo`                                        |
    | 13  | code     | varint (< 2^16)       | `code`                                        |
    | 14  | message  | string                | `text`                                        |
    | 15  | who      | string                | `who`                                         |
    | 16  | members  | count:varint, then count strings | `members`                          |
    | 17  | from     | string                | message: `from = origin::peer`, `from_id`     |
    | 18  | info     | string (one JSON value) | message: `from_info` (only with `from`)     |
    | 19  | server   | bool (1)              | message: `from = origin::server`              |

    The operation byte is the value of `rtmsg::codec::op` (subscribe 1 ... members 22).
    Each operation uses the same fields, and requires the same ones, as in the JSON codec
    (docs/protocol.md).

    @par Decoding rules
    - Fewer than 2 bytes, a version other than 1, a truncated field, a varint longer than
      10 bytes, above 2^64 - 1 or not minimal (ending in a 0x00 continuation byte), or a
      length or member count beyond the end of the message: error::malformed.
    - An op byte that is not an operation: error::bad_op.
    - An unknown tag, a tag that appears twice (a message has one reading only), a bool
      other than 0 or 1, a kind above 2, `history` or `code` out of range, or a string
      (topic, message, who, members, and data of kind text or json) that is not UTF-8:
      error::bad_field.  Fields may come in any order.
    - A field the operation needs is missing: error::missing_field.  Fields the operation
      does not use are checked, then ignored.
    - The codec reads only inside its input (`padding` is 0) and does not look inside
      kind-json data beyond its UTF-8: a hub that forwards it to JSON clients relies on
      `json::encode()` validating it (or calls `json::validate()` itself).

    @par Encoding rules
    Fields in tag order; a field the operation always carries is written whatever its
    value, the others only when they differ from their defaults.  error::bad_op for an `op`
    that is not an enumerator, error::bad_field for a string that is not UTF-8 or a `kind`
    that is not an enumerator.  On error nothing is appended.

    ### IMPORTANT: Buffer lifetime
    After a successful decode(), `topic`, `data`, `text`, `who`, `members`, `from_id` and
    `from_info` point into the input: they are valid while the input is alive and unchanged.

    @par Thread safety
    Distinct objects: Safe.  Shared objects: Safe (the codec has no state).
*/
class binary {
public:
    /// The codec's value type, as the codec concept requires.
    using value_type = envelope;
    /// The WebSocket subprotocol this codec answers to.
    static constexpr std::string_view name = "rtmsg.binary";
    /// False: messages travel in binary frames.
    static constexpr bool is_text = false;
    /// Bytes decode() may read past its input's end: none.
    static constexpr std::size_t padding = 0;
    /// The format version, the first byte of every message.
    static constexpr std::uint8_t version = 1;

    /// Field tags (append only; 0 is never a tag).
    enum class tag : std::uint8_t {
        id = 1,
        topic,
        kind,
        data,
        offset,
        to,
        epoch,
        since,
        history,
        presence,
        ack,
        echo,
        code,
        message,
        who,
        members,
        from,
        info,
        server
    };

    /// Appends the binary form of `in` to `out`.  On error `out` is unchanged.
    std::error_code encode(envelope const& in, std::string& out) const
    {
        std::size_t const old_size = out.size();
        std::error_code ec = encode_impl(in, out);
        if (ec) out.resize(old_size);
        return ec;
    }

    /// Decodes one message, reading only inside `in`.  On error `out` is reset.
    std::error_code decode(std::string_view in, envelope& out) const
    {
        std::error_code ec = decode_impl(in, out);
        if (ec) {
            auto members = std::move(out.members); // keep the capacity
            members.clear();
            out = envelope{};
            out.members = std::move(members);
        }
        return ec;
    }

private:
    static constexpr std::uint32_t bit(tag t) noexcept { return std::uint32_t{1} << static_cast<unsigned>(t); }

    // Which fields an operation uses, and which it always carries (as in json.hpp).
    struct op_fields {
        std::uint32_t uses = 0;
        std::uint32_t always = 0;
    };
    static constexpr op_fields fields_of(op o) noexcept
    {
        using t = tag;
        switch (o) {
        case op::subscribe:
            return {bit(t::id) | bit(t::topic) | bit(t::epoch) | bit(t::since) | bit(t::history) | bit(t::presence),
                    bit(t::topic)};
        case op::unsubscribe:
        case op::presence: return {bit(t::id) | bit(t::topic), bit(t::topic)};
        case op::publish:
            return {bit(t::id) | bit(t::topic) | bit(t::kind) | bit(t::data) | bit(t::ack) | bit(t::echo),
                    bit(t::topic) | bit(t::data)};
        case op::message:
            return {bit(t::topic) | bit(t::kind) | bit(t::data) | bit(t::offset) | bit(t::epoch) | bit(t::from) |
                        bit(t::info) | bit(t::server),
                    bit(t::topic) | bit(t::data) | bit(t::offset)};
        case op::ack: return {bit(t::id) | bit(t::topic) | bit(t::offset) | bit(t::epoch), bit(t::offset)};
        case op::error: return {bit(t::id) | bit(t::topic) | bit(t::code) | bit(t::message), bit(t::code)};
        case op::join:
        case op::leave: return {bit(t::topic) | bit(t::who), bit(t::topic) | bit(t::who)};
        case op::gap:
            return {bit(t::topic) | bit(t::offset) | bit(t::to) | bit(t::epoch),
                    bit(t::topic) | bit(t::offset) | bit(t::to)};
        case op::members: return {bit(t::id) | bit(t::topic) | bit(t::members), bit(t::topic) | bit(t::members)};
        }
        return {};
    }

    // ---------------------------------------------------------------- encoding

    static std::error_code encode_impl(envelope const& e, std::string& out)
    {
        op_fields const f = fields_of(e.op);
        if (f.uses == 0) return error::bad_op;
        auto uses = [&](tag x) { return (f.uses & bit(x)) != 0; };
        auto always = [&](tag x) { return (f.always & bit(x)) != 0; };
        auto put_varint = [&](tag x, std::uint64_t v) {
            out += static_cast<char>(x);
            append_varint(out, v);
        };
        auto put_bool = [&](tag x, bool v) {
            char const b[2] = {static_cast<char>(x), static_cast<char>(v)};
            out.append(b, 2);
        };
        auto put_string = [&](tag x, std::string_view s) {
            out += static_cast<char>(x);
            append_string(out, s);
        };

        out += static_cast<char>(version);
        out += static_cast<char>(e.op);
        if (uses(tag::id) && e.id != 0) put_varint(tag::id, e.id);
        if (uses(tag::topic) && (always(tag::topic) || !e.topic.empty())) {
            if (!utf8(e.topic)) return error::bad_field;
            put_string(tag::topic, e.topic);
        }
        if (uses(tag::data)) {
            if (static_cast<std::uint8_t>(e.kind) > 2) return error::bad_field;
            if (e.kind != data_kind::binary && !utf8(e.data)) return error::bad_field;
            if (e.kind != data_kind::json) {
                char const b[2] = {static_cast<char>(tag::kind), static_cast<char>(e.kind)};
                out.append(b, 2);
            }
            put_string(tag::data, e.data);
        }
        if (uses(tag::offset)) put_varint(tag::offset, e.offset);
        if (uses(tag::to)) put_varint(tag::to, e.to);
        if (uses(tag::epoch) && e.epoch != 0) put_varint(tag::epoch, e.epoch);
        if (uses(tag::since) && e.has_since) put_varint(tag::since, e.offset);
        if (uses(tag::history) && e.history != 0) put_varint(tag::history, e.history);
        if (uses(tag::presence) && e.presence) put_bool(tag::presence, true);
        if (uses(tag::ack) && e.ack) put_bool(tag::ack, true);
        if (uses(tag::echo) && !e.echo) put_bool(tag::echo, false);
        if (uses(tag::code)) put_varint(tag::code, e.code);
        if (uses(tag::message) && !e.text.empty()) {
            if (!utf8(e.text)) return error::bad_field;
            put_string(tag::message, e.text);
        }
        if (uses(tag::who)) {
            if (!utf8(e.who)) return error::bad_field;
            put_string(tag::who, e.who);
        }
        if (uses(tag::members)) {
            put_varint(tag::members, e.members.size());
            for (std::string_view m : e.members) {
                if (!utf8(m)) return error::bad_field;
                append_string(out, m);
            }
        }
        if (uses(tag::from)) {
            if (e.from == origin::peer) {
                if (!utf8(e.from_id) || !utf8(e.from_info)) return error::bad_field;
                put_string(tag::from, e.from_id);
                if (!e.from_info.empty()) put_string(tag::info, e.from_info);
            }
            else if (e.from == origin::server)
                put_bool(tag::server, true);
            else if (e.from != origin::unknown)
                return error::bad_field;
        }
        return {};
    }

    static void append_varint(std::string& out, std::uint64_t v)
    {
        char buf[10]; // ceil(64 / 7)
        std::size_t n = 0;
        while (v >= 0x80) {
            buf[n++] = static_cast<char>((v & 0x7F) | 0x80);
            v >>= 7;
        }
        buf[n++] = static_cast<char>(v);
        out.append(buf, n);
    }

    static void append_string(std::string& out, std::string_view s)
    {
        append_varint(out, s.size());
        out.append(s);
    }

    static bool utf8(std::string_view s) noexcept { return rtmsg::detail::utf8_validator::validate(s); }

    // ---------------------------------------------------------------- decoding

    // A cursor that never moves past `end`.
    struct reader {
        unsigned char const* p;
        unsigned char const* end;

        std::size_t left() const noexcept { return static_cast<std::size_t>(end - p); }

        bool byte(std::uint8_t& b) noexcept
        {
            if (p == end) return false;
            b = *p++;
            return true;
        }

        // LEB128: 7 bits a byte, low first; byte 10 may only hold bit 63.
        bool varint(std::uint64_t& v) noexcept
        {
            v = 0;
            for (unsigned i = 0; i < 10; ++i) {
                if (p == end) return false;
                std::uint8_t const b = *p++;
                if (i == 9 && b > 1) return false; // beyond 64 bits, or an 11th byte
                v |= std::uint64_t{b & 0x7Fu} << (7 * i);
                if ((b & 0x80) == 0) return b != 0 || i == 0; // a 0x00 last byte is not minimal
            }
            return false; // unreachable: byte 10 either ends the varint or fails above
        }

        bool bytes(std::string_view& s) noexcept
        {
            std::uint64_t n = 0;
            if (!varint(n) || n > left()) return false;
            s = std::string_view(reinterpret_cast<char const*>(p), static_cast<std::size_t>(n));
            p += n;
            return true;
        }
    };

    static std::error_code decode_impl(std::string_view in, envelope& out)
    {
        out.members.clear();
        reader r{reinterpret_cast<unsigned char const*>(in.data()),
                 reinterpret_cast<unsigned char const*>(in.data()) + in.size()};
        std::uint8_t ver = 0, op_byte = 0;
        if (!r.byte(ver) || !r.byte(op_byte) || ver != version) return error::malformed;
        auto const o = static_cast<op>(op_byte);
        op_fields const f = fields_of(o);
        if (f.uses == 0) return error::bad_op;

        envelope e;
        e.op = o;
        std::uint64_t since = 0, history = 0, code = 0;
        std::uint32_t seen = 0;
        bool server = false;
        while (r.left() != 0) {
            std::uint8_t t = 0;
            r.byte(t);
            if (t == 0 || t > static_cast<std::uint8_t>(tag::server)) return error::bad_field;
            auto const x = static_cast<tag>(t);
            if (seen & bit(x)) return error::bad_field;
            seen |= bit(x);
            bool ok = true;
            switch (x) {
            case tag::id: ok = r.varint(e.id); break;
            case tag::topic: ok = r.bytes(e.topic); break;
            case tag::kind: {
                std::uint8_t k = 0;
                if (!r.byte(k)) return error::malformed;
                if (k > 2) return error::bad_field;
                e.kind = static_cast<data_kind>(k);
                break;
            }
            case tag::data: ok = r.bytes(e.data); break;
            case tag::offset: ok = r.varint(e.offset); break;
            case tag::to: ok = r.varint(e.to); break;
            case tag::epoch: ok = r.varint(e.epoch); break;
            case tag::since: ok = r.varint(since); break;
            case tag::history: ok = r.varint(history); break;
            case tag::presence:
            case tag::ack:
            case tag::echo:
            case tag::server: {
                std::uint8_t b = 0;
                if (!r.byte(b)) return error::malformed;
                if (b > 1) return error::bad_field;
                if (x == tag::server)
                    server = b == 1;
                else
                    (x == tag::presence ? e.presence : x == tag::ack ? e.ack : e.echo) = b == 1;
                break;
            }
            case tag::from: ok = r.bytes(e.from_id); break;
            case tag::info: ok = r.bytes(e.from_info); break;
            case tag::code: ok = r.varint(code); break;
            case tag::message: ok = r.bytes(e.text); break;
            case tag::who: ok = r.bytes(e.who); break;
            case tag::members: {
                std::uint64_t n = 0;
                // Each member takes at least its length byte: bounds the count before reserving.
                if (!r.varint(n) || n > r.left()) return error::malformed;
                out.members.reserve(static_cast<std::size_t>(n));
                for (std::uint64_t i = 0; i < n; ++i) {
                    std::string_view m;
                    if (!r.bytes(m)) return error::malformed;
                    if (!utf8(m)) return error::bad_field;
                    out.members.push_back(m);
                }
                break;
            }
            }
            if (!ok) return error::malformed;
        }
        if (history > std::numeric_limits<std::uint32_t>::max() || code > std::numeric_limits<std::uint16_t>::max())
            return error::bad_field;
        if (!utf8(e.topic) || !utf8(e.text) || !utf8(e.who) || (e.kind != data_kind::binary && !utf8(e.data)) ||
            !utf8(e.from_id) || !utf8(e.from_info))
            return error::bad_field;
        // The sender: `server` alone, or `from` with an optional `info`.
        bool const has_from = (seen & bit(tag::from)) != 0;
        if ((server && (seen & (bit(tag::from) | bit(tag::info)))) || ((seen & bit(tag::info)) && !has_from) ||
            ((seen & bit(tag::server)) && !server))
            return error::bad_field;
        if ((seen & f.always) != f.always) return error::missing_field;

        // Keep what the operation uses.
        auto uses = [&](tag x) { return (f.uses & bit(x)) != 0; };
        out.op = o;
        out.id = uses(tag::id) ? e.id : 0;
        out.topic = uses(tag::topic) ? e.topic : std::string_view{};
        out.data = uses(tag::data) ? e.data : std::string_view{};
        out.kind = uses(tag::data) ? e.kind : data_kind::json;
        out.offset = uses(tag::offset) ? e.offset : 0;
        out.to = uses(tag::to) ? e.to : 0;
        out.epoch = uses(tag::epoch) ? e.epoch : 0;
        out.has_since = uses(tag::since) && (seen & bit(tag::since));
        if (out.has_since) out.offset = since;
        out.history = uses(tag::history) ? static_cast<std::uint32_t>(history) : 0;
        out.presence = uses(tag::presence) && e.presence;
        out.ack = uses(tag::ack) && e.ack;
        out.echo = !uses(tag::echo) || e.echo;
        out.code = uses(tag::code) ? static_cast<std::uint16_t>(code) : 0;
        out.text = uses(tag::message) ? e.text : std::string_view{};
        out.who = uses(tag::who) ? e.who : std::string_view{};
        if (!uses(tag::members)) out.members.clear();
        out.from = !uses(tag::from) ? origin::unknown
                   : server         ? origin::server
                   : has_from       ? origin::peer
                                    : origin::unknown;
        out.from_id = out.from == origin::peer ? e.from_id : std::string_view{};
        out.from_info = out.from == origin::peer ? e.from_info : std::string_view{};
        return {};
    }
};

} // namespace rtmsg::codec
