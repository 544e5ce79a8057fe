#pragma once
// The JSON codec ("rtmsg.json"): one JSON object per WebSocket text message, decoded with
// simdjson On-Demand and encoded by hand.  docs/protocol.md is the client-side view.
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/detail/base64.hpp>

#if !__has_include(<simdjson.h>)
#error                                                                                                                 \
    "rtmsg/codec/json.hpp needs simdjson 3 (Debian: apt-get install libsimdjson-dev) and must link it (the rtmsg::rtmsg target does)"
#endif
#include <simdjson.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

static_assert(simdjson::SIMDJSON_VERSION_MAJOR >= 3,
              "rtmsg/codec/json.hpp uses the simdjson 3 On-Demand API; install simdjson 3.0 or newer");

namespace rtmsg::codec {

namespace detail {

/** A field's key, unescaped: `field.unescaped_key()` in simdjson 3.0 to 3.1.2,
    `unescaped_key(bool allow_replacement)` from 3.1.3 (defaulted to false from 3.10).  Picked by
    what the installed simdjson declares; false keeps 3.0's behavior (an invalid escape is an error). */
template <class Field>
auto unescaped_key(Field& field) noexcept
{
    if constexpr (requires { field.unescaped_key(false); })
        return field.unescaped_key(false);
    else
        return field.unescaped_key();
}

} // namespace detail

/** The JSON codec: `rtmsg::codec::envelope` <-> `{"op":"pub","topic":"chat","data":{...}}`.

    Keys, in the fixed order encode() writes them (docs/protocol.md has the table of which
    operation carries which key):

    | key        | JSON type                 | envelope member                                 |
    |------------|---------------------------|-------------------------------------------------|
    | `op`       | string, see op_name()     | `op`                                            |
    | `id`       | number                    | `id` (omitted when 0)                           |
    | `topic`    | string                    | `topic`                                         |
    | `kind`     | "json", "text", "binary"  | `kind` (omitted when json)                      |
    | `data`     | any / string / base64     | `data`: raw JSON text, text, or decoded bytes   |
    | `offset`   | number                    | `offset`                                        |
    | `to`       | number                    | `to`                                            |
    | `epoch`    | string of decimal digits  | `epoch` (a string: JavaScript numbers lose precision above 2^53) |
    | `since`    | number                    | subscribe: `has_since = true`, `offset = since` |
    | `history`  | number (< 2^32)           | `history`                                       |
    | `presence` | bool                      | `presence`                                      |
    | `ack`      | bool                      | `ack`                                           |
    | `echo`     | bool (default true)       | `echo`                                          |
    | `code`     | number (< 2^16)           | `code`                                          |
    | `message`  | string                    | `text`                                          |
    | `who`      | string                    | `who`                                           |
    | `members`  | array of strings          | `members`                                       |
    | `from`     | object: `{"id":string, "info":any}` or `{"server":true}` | `from`, `from_id`, `from_info` (msg; omitted when unknown) |

    @par Decoding rules
    - The whole message must be valid JSON (RFC 8259) in valid UTF-8, one object and nothing
      after it but whitespace (else error::malformed), nested at most `max_depth` levels
      counting the envelope itself (else error::too_deep).
    - `data` is checked completely before it is accepted, because the hub forwards it to
      other clients as is: every nested string is unescaped (bad escapes and lone surrogates
      fail), every number matches the RFC 8259 grammar, every literal is exact and every
      container is walked to its end.  simdjson's stage 1 has already checked the UTF-8 and
      rejected unescaped control characters in strings.  Numbers in `data` may be any size.
    - `data` with kind json is kept **as sent**: `envelope.data` is the slice of the input from
      the first to the last byte of the value, inner whitespace included.
    - Unknown keys are ignored (so servers can add keys), but their values must be valid JSON
      too.  Keys the operation does not use are type-checked and then ignored.
    - A known key that appears twice is error::bad_field: parsers disagree on which duplicate
      wins, and a proxy and the hub must not see different messages.  Duplicate keys inside
      `data` are forwarded as sent (RFC 8259 §4 only says names SHOULD be unique).
    - An unknown or missing `op`, or one that is not a string, is error::bad_op; a missing
      key the operation needs is error::missing_field; a key with the wrong JSON type or an
      out-of-range value (a negative or fractional `id`, `history` >= 2^32, an `epoch` that
      is not 1-20 digits below 2^64, invalid base64) is error::bad_field.

    @par Encoding rules
    encode() writes `op`, the keys the operation always carries, and the optional ones that
    differ from their defaults, in the order of the table.  Strings are escaped (double
    quote, backslash and bytes below 0x20 as `\u00XX`; other bytes, DEL and UTF-8 included,
    are copied), and a string that is not valid UTF-8 is error::bad_field: it could not
    become valid JSON.
    With kind json, `data` is checked by validate() (unless options::validate_data is off)
    so that the server never sends invalid JSON, whichever codec the publisher used.  On
    error nothing is appended.

    ### IMPORTANT: Buffer lifetime
    After a successful decode(), the views in the envelope point into
    - the input (`data` with kind json): keep the input alive and unchanged;
    - this codec's simdjson string buffer (`topic`, `text`, `who`, `members`, text `data`)
      and its scratch buffer (binary `data`, and everything after decode_unpadded()).
    They are valid until the next decode() or decode_unpadded() on the same codec object, or
    until the codec or the input is destroyed, whichever comes first; encode() and
    validate() leave them alone, so a decoded envelope can be re-encoded.  Copy what you
    keep longer.

    ### IMPORTANT: Padding
    decode() parses in place and reads up to `padding` (SIMDJSON_PADDING, 64) bytes past
    the end of its input; the bytes may hold anything but must be readable.  rtmsg's
    transports leave that slack after every message they hand out.  If you cannot promise
    it, call decode_unpadded(), which first copies the input into a padded buffer that the
    codec keeps and reuses (no allocation once it has grown to the largest message).

    @par Thread safety
    Distinct objects: Safe.  Shared objects: Unsafe (use one codec per session).

    @par Example
    @code
    rtmsg::codec::json codec;
    rtmsg::codec::envelope e;
    std::string in = R"({"op":"pub","topic":"chat","data":{"text":"hi"},"id":7,"ack":true})";
    if (auto ec = codec.decode_unpadded(in, e)) return ec;  // e.data == R"({"text":"hi"})"
    e.op = rtmsg::codec::op::message;
    e.offset = 42;
    std::string out;
    codec.encode(e, out);  // {"op":"msg","topic":"chat","data":{"text":"hi"},"offset":42}
    @endcode
*/
class json {
public:
    /// The codec's value type, as the codec concept requires.
    using value_type = envelope;
    /// The WebSocket subprotocol this codec answers to.
    static constexpr std::string_view name = "rtmsg.json";
    /// True: messages travel in text frames.
    static constexpr bool is_text = true;
    /// Bytes decode() may read past its input's end (see "Padding" above).
    static constexpr std::size_t padding = simdjson::SIMDJSON_PADDING;
    /// Deepest nesting of objects and arrays accepted, counting the envelope object as 1.
    static constexpr std::size_t max_depth = 64;

    /// Settings of a json codec.
    struct options {
        /** Check `data` of kind json in encode().  Turn it off only if every envelope you
            encode was decoded by a JSON codec or checked with validate(): the check is
            most of encode()'s cost. */
        bool validate_data = true;
    };

    json() = default;
    /// A codec with the settings `opts`.
    explicit json(options opts) noexcept : opts_(opts) {}

    /** Appends the JSON form of `in` to `out`.
        @return error::bad_op for an `op` that is not an enumerator, error::bad_field for a
        string that is not UTF-8, `data` of kind json that is not one JSON value (see
        validate()) or a `kind` that is not an enumerator.  On error `out` is unchanged. */
    std::error_code encode(envelope const& in, std::string& out)
    {
        std::size_t const old_size = out.size();
        std::error_code ec = encode_impl(in, out);
        if (ec) out.resize(old_size);
        return ec;
    }

    /** Decodes one message.  Reads up to `padding` bytes past the end of `in` (see
        "Padding").  On error `out` is reset to a default envelope.
        @return error::malformed, bad_op, missing_field, bad_field or too_deep. */
    std::error_code decode(std::string_view in, envelope& out)
    {
        std::error_code ec = decode_impl(in, out);
        if (ec) reset(out);
        return ec;
    }

    /// Like decode(), for input without padding: copies it into a buffer the codec reuses.
    std::error_code decode_unpadded(std::string_view in, envelope& out)
    {
        padded_.assign(in.data(), in.size());
        padded_.resize(in.size() + padding);
        return decode(std::string_view(padded_.data(), in.size()), out);
    }

    /** Checks that `data` is exactly one JSON value (whitespace around it allowed) that
        decode() would accept as `data` (nested at most `max_depth - 1` levels).  For hubs
        that take kind-json data from a codec that does not understand JSON.
        @return error::bad_field (invalid JSON), or error::too_deep. */
    std::error_code validate(std::string_view data)
    {
        // Wrapped as "[data]": the element is then a value inside a container, like `data`
        // inside the envelope, and "1,2" shows up as a second element.
        // Own parser and buffer: the envelope being encoded may point into decode()'s.
        check_input_.clear();
        check_input_ += '[';
        check_input_.append(data);
        check_input_ += ']';
        std::size_t const n = check_input_.size();
        check_input_.resize(n + padding);
        simdjson::ondemand::document doc;
        simdjson::ondemand::array arr;
        if (check_parser_.iterate(simdjson::padded_string_view(check_input_.data(), n, check_input_.size())).get(doc) ||
            doc.get_array().get(arr))
            return error::bad_field;
        std::size_t count = 0;
        for (auto element : arr) {
            simdjson::ondemand::value v;
            if (element.get(v) || ++count > 1) return error::bad_field;
            if (std::error_code ec = check_value(v, 2))
                return ec == error::too_deep ? ec : make_error_code(error::bad_field);
        }
        if (count != 1 || !doc.current_location().error()) return error::bad_field;
        return {};
    }

    /// The codec's settings.
    options const& opts() const noexcept { return opts_; }

private:
    // Keys, in encoding order; also bit positions in the per-operation masks.
    enum key : std::uint8_t {
        k_op,
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
        k_from,
        k_unknown
    };
    static constexpr std::uint32_t bit(key k) noexcept { return std::uint32_t{1} << k; }

    // Which keys an operation uses, and which of them it always carries.  Encode writes the
    // `always` keys whatever their value and the other `uses` keys when not default; decode
    // requires the `always` keys.  (`kind` travels with `data`.)
    struct op_keys {
        std::uint32_t uses = 0;
        std::uint32_t always = 0;
    };
    static constexpr op_keys keys_of(op o) noexcept
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
            return {bit(k_topic) | bit(k_kind) | bit(k_data) | bit(k_offset) | bit(k_epoch) | bit(k_from),
                    bit(k_topic) | bit(k_data) | bit(k_offset)};
        case op::ack: return {bit(k_id) | bit(k_topic) | bit(k_offset) | bit(k_epoch), bit(k_offset)};
        case op::error: return {bit(k_id) | bit(k_topic) | bit(k_code) | bit(k_message), bit(k_code)};
        case op::join:
        case op::leave: return {bit(k_topic) | bit(k_who), bit(k_topic) | bit(k_who)};
        case op::gap:
            return {bit(k_topic) | bit(k_offset) | bit(k_to) | bit(k_epoch), bit(k_topic) | bit(k_offset) | bit(k_to)};
        case op::members: return {bit(k_id) | bit(k_topic) | bit(k_members), bit(k_topic) | bit(k_members)};
        }
        return {};
    }

    static constexpr std::string_view key_names[] = {"op",   "id",    "topic",   "kind",    "data",     "offset",
                                                     "to",   "epoch", "since",   "history", "presence", "ack",
                                                     "echo", "code",  "message", "who",     "members",  "from"};

    // One comparison per key: the first letter (and the length) picks the only candidate.
    static key key_of(std::string_view k) noexcept
    {
        if (k.size() < 2) return k_unknown;
        key candidate;
        switch (k[0]) {
        case 'o': candidate = k.size() == 2 ? k_op : k_offset; break;
        case 'i': candidate = k_id; break;
        case 't': candidate = k.size() == 2 ? k_to : k_topic; break;
        case 'k': candidate = k_kind; break;
        case 'd': candidate = k_data; break;
        case 'e': candidate = k.size() == 4 ? k_echo : k_epoch; break;
        case 's': candidate = k_since; break;
        case 'h': candidate = k_history; break;
        case 'p': candidate = k_presence; break;
        case 'a': candidate = k_ack; break;
        case 'c': candidate = k_code; break;
        case 'm': candidate = k.size() > 2 && k[2] == 's' ? k_message : k_members; break;
        case 'w': candidate = k_who; break;
        case 'f': candidate = k_from; break;
        default: return k_unknown;
        }
        return key_names[candidate] == k ? candidate : k_unknown;
    }

    static bool op_of(std::string_view s, op& o) noexcept
    {
        if (s.empty()) return false;
        switch (s[0]) {
        case 's': o = op::subscribe; break;
        case 'u': o = op::unsubscribe; break;
        case 'p': o = s.size() == 3 ? op::publish : op::presence; break;
        case 'm': o = s.size() == 3 ? op::message : op::members; break;
        case 'a': o = op::ack; break;
        case 'e': o = op::error; break;
        case 'j': o = op::join; break;
        case 'l': o = op::leave; break;
        case 'g': o = op::gap; break;
        default: return false;
        }
        return op_name(o) == s;
    }

    static constexpr std::string_view kind_names[] = {"json", "text", "binary"};

    // ---------------------------------------------------------------- encoding

    std::error_code encode_impl(envelope const& e, std::string& out)
    {
        op_keys const k = keys_of(e.op);
        if (k.uses == 0) return error::bad_op;
        auto uses = [&](key x) { return (k.uses & bit(x)) != 0; };
        auto always = [&](key x) { return (k.always & bit(x)) != 0; };

        out += R"({"op":")";
        out += op_name(e.op);
        out += '"';
        if (uses(k_id) && e.id != 0) put_number(out, k_id, e.id);
        if (uses(k_topic) && (always(k_topic) || !e.topic.empty()))
            if (!put_string(out, k_topic, e.topic)) return error::bad_field;
        if (uses(k_data))
            if (std::error_code ec = put_data(out, e)) return ec;
        if (uses(k_offset)) put_number(out, k_offset, e.offset);
        if (uses(k_to)) put_number(out, k_to, e.to);
        if (uses(k_epoch) && e.epoch != 0) {
            put_key(out, k_epoch);
            out += '"';
            append_number(out, e.epoch);
            out += '"';
        }
        if (uses(k_since) && e.has_since) put_number(out, k_since, e.offset);
        if (uses(k_history) && e.history != 0) put_number(out, k_history, e.history);
        if (uses(k_presence) && e.presence) put_bool(out, k_presence, true);
        if (uses(k_ack) && e.ack) put_bool(out, k_ack, true);
        if (uses(k_echo) && !e.echo) put_bool(out, k_echo, false);
        if (uses(k_code)) put_number(out, k_code, e.code);
        if (uses(k_message) && !e.text.empty())
            if (!put_string(out, k_message, e.text)) return error::bad_field;
        if (uses(k_who))
            if (!put_string(out, k_who, e.who)) return error::bad_field;
        if (uses(k_members)) {
            put_key(out, k_members);
            out += '[';
            for (std::size_t i = 0; i < e.members.size(); ++i) {
                if (i != 0) out += ',';
                if (!append_string(out, e.members[i])) return error::bad_field;
            }
            out += ']';
        }
        if (uses(k_from) && e.from != origin::unknown)
            if (std::error_code ec = put_from(out, e)) return ec;
        out += '}';
        return {};
    }

    // `"from":{"server":true}` or `"from":{"id":"alice","info":{...}}`.
    std::error_code put_from(std::string& out, envelope const& e)
    {
        if (e.from == origin::server) {
            out += R"(,"from":{"server":true})";
            return {};
        }
        if (e.from != origin::peer) return error::bad_field;
        out += R"(,"from":{"id":)";
        if (!append_string(out, e.from_id)) return error::bad_field;
        if (!e.from_info.empty()) {
            if (opts_.validate_data)
                if (validate(e.from_info)) return error::bad_field;
            out += R"(,"info":)";
            out += e.from_info;
        }
        out += '}';
        return {};
    }

    std::error_code put_data(std::string& out, envelope const& e)
    {
        switch (e.kind) {
        case data_kind::json:
            if (e.data.empty()) return error::bad_field; // not a JSON value
            if (opts_.validate_data)
                if (std::error_code ec = validate(e.data)) return ec;
            put_key(out, k_data);
            out += e.data;
            return {};
        case data_kind::text:
            out += R"(,"kind":"text")";
            return put_string(out, k_data, e.data) ? std::error_code{} : error::bad_field;
        case data_kind::binary:
            out += R"(,"kind":"binary")";
            put_key(out, k_data);
            out += '"';
            rtmsg::detail::base64_append(out, e.data);
            out += '"';
            return {};
        }
        return error::bad_field;
    }

    static void put_key(std::string& out, key k)
    {
        out += ",\"";
        out += key_names[k];
        out += "\":";
    }
    static void put_number(std::string& out, key k, std::uint64_t v)
    {
        put_key(out, k);
        append_number(out, v);
    }
    static void put_bool(std::string& out, key k, bool v)
    {
        put_key(out, k);
        out += v ? "true" : "false";
    }
    [[nodiscard]] static bool put_string(std::string& out, key k, std::string_view s)
    {
        put_key(out, k);
        return append_string(out, s);
    }
    static void append_number(std::string& out, std::uint64_t v)
    {
        char buf[20]; // 2^64 - 1 has 20 digits
        auto const r = std::to_chars(buf, buf + sizeof buf, v);
        out.append(buf, static_cast<std::size_t>(r.ptr - buf));
    }

    // RFC 8259 §7.  Returns false, having appended part of the string, if `s` is not UTF-8.
    [[nodiscard]] static bool append_string(std::string& out, std::string_view s)
    {
        if (!simdjson::validate_utf8(s.data(), s.size())) return false;
        static constexpr char hex[] = "0123456789abcdef";
        out += '"';
        std::size_t run = 0; // start of the bytes not yet copied
        for (std::size_t i = 0; i < s.size(); ++i) {
            auto const c = static_cast<unsigned char>(s[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            out.append(s.data() + run, i - run);
            run = i + 1;
            if (c == '"' || c == '\\') {
                char const esc[2] = {'\\', static_cast<char>(c)};
                out.append(esc, 2);
            }
            else {
                char const esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                out.append(esc, 6);
            }
        }
        out.append(s.data() + run, s.size() - run);
        out += '"';
        return true;
    }

    // ---------------------------------------------------------------- decoding

    // What decode_impl() has read so far, before it knows the operation.
    struct fields {
        std::uint32_t seen = 0;
        bool op_ok = false;
        op o = op::message;
        std::uint64_t id = 0, offset = 0, to = 0, epoch = 0, since = 0, history = 0, code = 0;
        std::string_view topic, data_raw, data_string, message, who, from_id, from_info;
        origin from = origin::unknown;
        bool data_is_string = false;
        data_kind kind = data_kind::json;
        bool presence = false, ack = false, echo = true;
    };

    static void reset(envelope& e)
    {
        auto members = std::move(e.members); // keep the capacity
        members.clear();
        e = envelope{};
        e.members = std::move(members);
    }

    std::error_code decode_impl(std::string_view in, envelope& out)
    {
        namespace od = simdjson::ondemand;
        reset(out);
        od::document doc;
        if (auto err =
                parser_.iterate(simdjson::padded_string_view(in.data(), in.size(), in.size() + padding)).get(doc))
            return from_simdjson(err);
        od::object obj;
        // Also fails unless the last token closes the object (simdjson checks this up front).
        if (doc.get_object().get(obj)) return error::malformed;

        fields f;
        for (auto result : obj) {
            od::field field;
            std::string_view name;
            if (std::move(result).get(field) || detail::unescaped_key(field).get(name)) return error::malformed;
            key const k = key_of(name);
            if (k != k_unknown) {
                if (f.seen & bit(k)) return error::bad_field; // duplicate key
                f.seen |= bit(k);
            }
            if (std::error_code ec = read_field(k, field.value(), doc, f, out)) return ec;
        }
        // Anything after the object ("{...}}" passes simdjson's up-front check).
        if (!doc.current_location().error()) return error::malformed;

        if (!f.op_ok) return error::bad_op;
        op_keys const k = keys_of(f.o);
        if ((f.seen & k.always) != k.always) return error::missing_field;
        auto uses = [&](key x) { return (k.uses & bit(x)) != 0; };

        out.op = f.o;
        if (uses(k_id)) out.id = f.id;
        if (uses(k_topic)) out.topic = f.topic;
        if (uses(k_data) && (f.seen & bit(k_data))) {
            out.kind = f.kind;
            if (f.kind == data_kind::json) {
                out.data = f.data_raw;
            }
            else if (!f.data_is_string) {
                return error::bad_field;
            }
            else if (f.kind == data_kind::text) {
                out.data = f.data_string;
            }
            else {
                scratch_.clear();
                if (!rtmsg::detail::base64_decode_append(f.data_string, scratch_)) return error::bad_field;
                out.data = scratch_;
            }
        }
        if (uses(k_offset)) out.offset = f.offset;
        if (uses(k_to)) out.to = f.to;
        if (uses(k_epoch)) out.epoch = f.epoch;
        if (uses(k_since) && (f.seen & bit(k_since))) {
            out.has_since = true;
            out.offset = f.since;
        }
        if (uses(k_history)) out.history = static_cast<std::uint32_t>(f.history);
        if (uses(k_presence)) out.presence = f.presence;
        if (uses(k_ack)) out.ack = f.ack;
        if (uses(k_echo)) out.echo = f.echo;
        if (uses(k_code)) out.code = static_cast<std::uint16_t>(f.code);
        if (uses(k_message)) out.text = f.message;
        if (uses(k_who)) out.who = f.who;
        if (!uses(k_members)) out.members.clear();
        if (uses(k_from)) {
            out.from = f.from;
            out.from_id = f.from_id;
            out.from_info = f.from_info;
        }
        return {};
    }

    std::error_code read_field(key k, simdjson::ondemand::value& v, simdjson::ondemand::document& doc, fields& f,
                               envelope& out)
    {
        switch (k) {
        case k_op: {
            std::string_view s;
            if (std::error_code ec = read_string(v, s)) return ec == error::bad_field ? error::bad_op : ec;
            f.op_ok = op_of(s, f.o);
            return {}; // an unknown name is reported once the whole message has been checked
        }
        case k_id: return read_number(v, f.id, std::numeric_limits<std::uint64_t>::max());
        case k_topic: return read_string(v, f.topic);
        case k_kind: {
            std::string_view s;
            if (std::error_code ec = read_string(v, s)) return ec;
            for (std::size_t i = 0; i < std::size(kind_names); ++i)
                if (kind_names[i] == s) {
                    f.kind = static_cast<data_kind>(i);
                    return {};
                }
            return error::bad_field;
        }
        case k_data: return read_data(v, doc, f);
        case k_offset: return read_number(v, f.offset, std::numeric_limits<std::uint64_t>::max());
        case k_to: return read_number(v, f.to, std::numeric_limits<std::uint64_t>::max());
        case k_epoch: return read_epoch(v, f.epoch);
        case k_since: return read_number(v, f.since, std::numeric_limits<std::uint64_t>::max());
        case k_history: return read_number(v, f.history, std::numeric_limits<std::uint32_t>::max());
        case k_presence: return read_bool(v, f.presence);
        case k_ack: return read_bool(v, f.ack);
        case k_echo: return read_bool(v, f.echo);
        case k_code: return read_number(v, f.code, std::numeric_limits<std::uint16_t>::max());
        case k_message: return read_string(v, f.message);
        case k_who: return read_string(v, f.who);
        case k_members: {
            simdjson::ondemand::json_type t;
            if (v.type().get(t)) return error::malformed;
            if (t != simdjson::ondemand::json_type::array) return wrong_type(v);
            simdjson::ondemand::array arr;
            if (v.get_array().get(arr)) return error::malformed;
            for (auto element : arr) {
                simdjson::ondemand::value m;
                std::string_view s;
                if (element.get(m)) return error::malformed;
                if (std::error_code ec = read_string(m, s)) return ec;
                out.members.push_back(s);
            }
            return {};
        }
        case k_from: return read_from(v, doc, f);
        case k_unknown: return check_value(v, 2);
        }
        return error::malformed;
    }

    // {"server":true}, or {"id":string} with an optional "info" (any JSON value, kept as sent).
    // Other keys are checked and ignored, as in the envelope.
    static std::error_code read_from(simdjson::ondemand::value& v, simdjson::ondemand::document& doc, fields& f)
    {
        namespace od = simdjson::ondemand;
        od::json_type t;
        if (v.type().get(t)) return error::malformed;
        if (t != od::json_type::object) return wrong_type(v);
        od::object obj;
        if (v.get_object().get(obj)) return error::malformed;
        bool server = false, has_id = false, has_info = false, has_server = false;
        for (auto result : obj) {
            od::field field;
            std::string_view name;
            if (std::move(result).get(field) || detail::unescaped_key(field).get(name)) return error::malformed;
            if (name == "id") {
                if (has_id) return error::bad_field;
                has_id = true;
                if (std::error_code ec = read_string(field.value(), f.from_id)) return ec;
            }
            else if (name == "info") {
                if (has_info) return error::bad_field;
                has_info = true;
                if (std::error_code ec = read_raw(field.value(), doc, 3, f.from_info)) return ec;
            }
            else if (name == "server") {
                if (has_server) return error::bad_field;
                has_server = true;
                if (std::error_code ec = read_bool(field.value(), server)) return ec;
            }
            else if (std::error_code ec = check_value(field.value(), 3)) {
                return ec;
            }
        }
        if (server && !has_id && !has_info)
            f.from = origin::server;
        else if (has_id && !server)
            f.from = origin::peer;
        else
            return error::bad_field;
        return {};
    }

    // Any JSON value, checked completely, as the slice of the input from its first to its last byte.
    static std::error_code read_raw(simdjson::ondemand::value& v, simdjson::ondemand::document& doc, std::size_t depth,
                                    std::string_view& raw)
    {
        namespace od = simdjson::ondemand;
        std::string_view const token = v.raw_json_token();
        od::json_type t;
        if (v.type().get(t)) return error::malformed;
        if (std::error_code ec = check_value(v, depth)) return ec;
        if (t != od::json_type::object && t != od::json_type::array) {
            raw = trim(token);
            return {};
        }
        char const* const begin = token.data();
        char const* end = nullptr;
        if (doc.current_location().get(end) || end <= begin) return error::malformed;
        raw = trim(std::string_view(begin, static_cast<std::size_t>(end - begin)));
        return {};
    }

    static std::error_code read_data(simdjson::ondemand::value& v, simdjson::ondemand::document& doc, fields& f)
    {
        namespace od = simdjson::ondemand;
        // A scalar is one token: raw_json_token() is the value plus the whitespace after it.
        std::string_view const token = v.raw_json_token();
        od::json_type t;
        if (v.type().get(t)) return error::malformed;
        if (t == od::json_type::string) {
            if (v.get_string().get(f.data_string)) return error::malformed;
            f.data_is_string = true;
        }
        else if (std::error_code ec = check_value(v, 2)) {
            return ec;
        }
        if (t != od::json_type::object && t != od::json_type::array) {
            f.data_raw = trim(token);
            return {};
        }
        // A container: `data` is inside the envelope, so a ',' or '}' follows it, and the
        // walk in check_value() has left the iterator there.
        char const* const begin = token.data();
        char const* end = nullptr;
        if (doc.current_location().get(end) || end <= begin) return error::malformed;
        f.data_raw = trim(std::string_view(begin, static_cast<std::size_t>(end - begin)));
        return {};
    }

    // Validates a value completely; `depth` is its nesting level (the envelope is level 1).
    static std::error_code check_value(simdjson::ondemand::value& v, std::size_t depth)
    {
        namespace od = simdjson::ondemand;
        od::json_type t;
        if (v.type().get(t)) return error::malformed;
        switch (t) {
        case od::json_type::object: {
            if (depth > max_depth) return error::too_deep;
            od::object obj;
            if (v.get_object().get(obj)) return error::malformed;
            for (auto result : obj) {
                od::field field;
                std::string_view name;
                if (std::move(result).get(field) || detail::unescaped_key(field).get(name)) return error::malformed;
                if (std::error_code ec = check_value(field.value(), depth + 1)) return ec;
            }
            return {};
        }
        case od::json_type::array: {
            if (depth > max_depth) return error::too_deep;
            od::array arr;
            if (v.get_array().get(arr)) return error::malformed;
            for (auto element : arr) {
                od::value e;
                if (element.get(e)) return error::malformed;
                if (std::error_code ec = check_value(e, depth + 1)) return ec;
            }
            return {};
        }
        case od::json_type::string: {
            std::string_view s; // unescaping checks the escapes and surrogate pairs
            return v.get_string().get(s) ? error::malformed : std::error_code{};
        }
        case od::json_type::number:
            // Checked, not converted: any size is valid JSON and is forwarded as sent.
            return is_json_number(trim(v.raw_json_token())) ? std::error_code{} : error::malformed;
        case od::json_type::boolean: {
            bool b;
            return v.get_bool().get(b) ? error::malformed : std::error_code{};
        }
        case od::json_type::null: {
            bool is_null = false;
            return v.is_null().get(is_null) || !is_null ? error::malformed : std::error_code{};
        }
        default: // json_type::unknown (simdjson 4) and any type added later
            return error::malformed;
        }
    }

    // A value of the wrong JSON type: bad_field if it is at least valid JSON.
    static std::error_code wrong_type(simdjson::ondemand::value& v)
    {
        std::error_code ec = check_value(v, 2);
        return ec ? ec : make_error_code(error::bad_field);
    }

    static std::error_code read_string(simdjson::ondemand::value& v, std::string_view& s)
    {
        simdjson::ondemand::json_type t;
        if (v.type().get(t)) return error::malformed;
        if (t != simdjson::ondemand::json_type::string) return wrong_type(v);
        return v.get_string().get(s) ? error::malformed : std::error_code{};
    }

    static std::error_code read_bool(simdjson::ondemand::value& v, bool& b)
    {
        simdjson::ondemand::json_type t;
        if (v.type().get(t)) return error::malformed;
        if (t != simdjson::ondemand::json_type::boolean) return wrong_type(v);
        return v.get_bool().get(b) ? error::malformed : std::error_code{};
    }

    static std::error_code read_number(simdjson::ondemand::value& v, std::uint64_t& x, std::uint64_t max)
    {
        simdjson::ondemand::json_type t;
        if (v.type().get(t)) return error::malformed;
        if (t != simdjson::ondemand::json_type::number) return wrong_type(v);
        std::string_view const token = trim(v.raw_json_token());
        if (v.get_uint64().get(x)) // negative, fractional, >= 2^64, or not a number at all
            return is_json_number(token) ? error::bad_field : error::malformed;
        return x <= max ? std::error_code{} : error::bad_field;
    }

    static std::error_code read_epoch(simdjson::ondemand::value& v, std::uint64_t& x)
    {
        std::string_view s;
        if (std::error_code ec = read_string(v, s)) return ec;
        if (s.empty() || s.size() > 20 || s.front() == '+') return error::bad_field;
        auto const r = std::from_chars(s.data(), s.data() + s.size(), x);
        return r.ec == std::errc{} && r.ptr == s.data() + s.size() ? std::error_code{} : error::bad_field;
    }

    static constexpr bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

    static std::string_view trim(std::string_view s) noexcept
    {
        while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
        return s;
    }

    // RFC 8259 §6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    static constexpr bool is_json_number(std::string_view s) noexcept
    {
        std::size_t i = 0;
        auto digits = [&] {
            std::size_t const start = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
            return i > start;
        };
        if (i < s.size() && s[i] == '-') ++i;
        if (i < s.size() && s[i] == '0')
            ++i;
        else if (!digits())
            return false;
        if (i < s.size() && s[i] == '.') {
            ++i;
            if (!digits()) return false;
        }
        if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
            ++i;
            if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
            if (!digits()) return false;
        }
        return i == s.size();
    }

    static std::error_code from_simdjson(simdjson::error_code err) noexcept
    {
        return err == simdjson::DEPTH_ERROR ? error::too_deep : error::malformed;
    }

    simdjson::ondemand::parser parser_;       // decode(): reused, keeps its buffers between messages
    simdjson::ondemand::parser check_parser_; // validate(): apart, so decoded views survive encode()
    std::string padded_;                      // decode_unpadded() input
    std::string scratch_;                     // decoded base64 data
    std::string check_input_;                 // validate() input, "[data]" plus padding
    options opts_{};
};

} // namespace rtmsg::codec
