#pragma once
// Shared helpers for the codec tests: sample envelopes, what survives a round trip, and
// input buffers that let AddressSanitizer see every byte read past the end.
#include <rtmsg/codec/codec.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rtmsg_test::codec {

using rtmsg::codec::data_kind;
using rtmsg::codec::envelope;
using rtmsg::codec::op;

inline constexpr op all_ops[] = {op::subscribe, op::unsubscribe, op::publish, op::presence, op::message, op::ack,
                                 op::error,     op::join,        op::leave,   op::gap,      op::members};

/// The input of a decoder that reads nothing past `size()`: an exact-size heap block, so
/// that ASan reports a read of even one byte beyond it.
class exact_buffer {
public:
    explicit exact_buffer(std::string_view s) : size_(s.size()), data_(new char[s.size()])
    {
        if (!s.empty()) std::memcpy(data_.get(), s.data(), s.size());
    }
    std::string_view view() const noexcept { return {data_.get(), size_}; }

private:
    std::size_t size_;
    std::unique_ptr<char[]> data_;
};

/// The input of a decoder with `Padding` readable bytes after it, as the transport gives.
class padded_buffer {
public:
    padded_buffer(std::string_view s, std::size_t padding) : size_(s.size()), data_(s)
    {
        data_.append(padding, '\xAA'); // junk, not zeros: the decoder must not rely on them
    }
    std::string_view view() const noexcept { return {data_.data(), size_}; }

private:
    std::size_t size_;
    std::string data_;
};

/// Keeps test inputs alive: decoded envelopes point into them.  Freed at exit.
template <class Buffer>
Buffer const& keep(Buffer b)
{
    static std::deque<Buffer> kept;
    return kept.emplace_back(std::move(b));
}

/// An envelope of operation `o` with every member set to a value that is not its default.
inline envelope full_envelope(op o, data_kind kind = data_kind::json)
{
    envelope e;
    e.op = o;
    e.id = (std::uint64_t{1} << 60) + 7;
    e.topic = "chat.room-1";
    e.kind = kind;
    e.data = kind == data_kind::json   ? std::string_view(R"({"text":"hi","n":[1,2.5,null,true]})")
             : kind == data_kind::text ? std::string_view("h\xC3\xA9llo \"w\"\n\\")
                                       : std::string_view("\x00\xFF\x80 bytes\x01", 10);
    e.offset = 42;
    e.to = 50;
    e.epoch = (std::uint64_t{1} << 53) + 1; // a JavaScript number would round it
    e.has_since = true;
    e.history = 10;
    e.presence = true;
    e.ack = true;
    e.echo = false;
    e.code = 429;
    e.text = "rate limited";
    e.who = "alice";
    e.members = {"alice", "bob", "\xC3\xA7"};
    e.from = rtmsg::codec::origin::peer;
    e.from_id = "al\"ice\xC3\xA9";
    e.from_info = R"({"name":"Alice","colors":[1,2]})";
    return e;
}

/// What survives encode then decode: the members operation `e.op` uses (docs/protocol.md),
/// written out here independently of the codecs' own tables.
inline envelope project(envelope const& e)
{
    envelope p;
    p.op = e.op;
    switch (e.op) {
    case op::subscribe:
        p.id = e.id;
        p.topic = e.topic;
        p.epoch = e.epoch;
        p.has_since = e.has_since;
        p.offset = e.has_since ? e.offset : 0;
        p.history = e.history;
        p.presence = e.presence;
        break;
    case op::unsubscribe:
    case op::presence:
        p.id = e.id;
        p.topic = e.topic;
        break;
    case op::publish:
        p.id = e.id;
        p.topic = e.topic;
        p.kind = e.kind;
        p.data = e.data;
        p.ack = e.ack;
        p.echo = e.echo;
        break;
    case op::message:
        p.topic = e.topic;
        p.kind = e.kind;
        p.data = e.data;
        p.offset = e.offset;
        p.epoch = e.epoch;
        p.from = e.from;
        p.from_id = e.from_id;
        p.from_info = e.from_info;
        break;
    case op::ack:
        p.id = e.id;
        p.topic = e.topic;
        p.offset = e.offset;
        p.epoch = e.epoch;
        break;
    case op::error:
        p.id = e.id;
        p.topic = e.topic;
        p.code = e.code;
        p.text = e.text;
        break;
    case op::join:
    case op::leave:
        p.topic = e.topic;
        p.who = e.who;
        break;
    case op::gap:
        p.topic = e.topic;
        p.offset = e.offset;
        p.to = e.to;
        p.epoch = e.epoch;
        break;
    case op::members:
        p.id = e.id;
        p.topic = e.topic;
        p.members = e.members;
        break;
    }
    return p;
}

inline bool same(envelope const& a, envelope const& b)
{
    return a.op == b.op && a.id == b.id && a.topic == b.topic && a.data == b.data && a.kind == b.kind &&
           a.offset == b.offset && a.to == b.to && a.epoch == b.epoch && a.has_since == b.has_since &&
           a.history == b.history && a.presence == b.presence && a.ack == b.ack && a.echo == b.echo &&
           a.code == b.code && a.text == b.text && a.who == b.who && a.members == b.members && a.from == b.from &&
           a.from_id == b.from_id && a.from_info == b.from_info;
}

/// Printable bytes for failure messages.
inline std::string printable(std::string_view s)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char ch : s) {
        auto const c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7F && c != '\\') {
            out += ch;
        }
        else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

/// True if `ec` is one of the codec errors (category "rtmsg.codec").
inline bool is_codec_error(std::error_code ec)
{
    return ec && &ec.category() == &rtmsg::codec::error_category();
}

/// Random bytes with a fixed seed; lengths 0..max_len.
inline std::string random_bytes(std::mt19937& rng, std::size_t max_len)
{
    std::uniform_int_distribution<std::size_t> len(0, max_len);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string s(len(rng), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    return s;
}

/// `s` with 1-3 random edits: a byte replaced (by one of `alphabet` or any byte), inserted
/// or deleted, or the tail cut off.
inline std::string mutate(std::mt19937& rng, std::string s, std::string_view alphabet)
{
    std::uniform_int_distribution<int> edits(1, 3), kind(0, 4), byte(0, 255);
    for (int n = edits(rng); n > 0; --n) {
        std::uniform_int_distribution<std::size_t> pos(0, s.size());
        std::size_t const at = pos(rng);
        char const c = alphabet.empty() || kind(rng) == 0
                           ? static_cast<char>(byte(rng))
                           : alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
        switch (kind(rng)) {
        case 0:
        case 1:
            if (at < s.size()) s[at] = c;
            break;
        case 2: s.insert(at, 1, c); break;
        case 3:
            if (at < s.size()) s.erase(at, 1);
            break;
        default: s.resize(at); break;
        }
    }
    return s;
}

} // namespace rtmsg_test::codec

template <>
struct Catch::StringMaker<rtmsg::codec::envelope> {
    static std::string convert(rtmsg::codec::envelope const& e)
    {
        using rtmsg_test::codec::printable;
        std::ostringstream os;
        os << "{op=" << rtmsg::codec::op_name(e.op) << " id=" << e.id << " topic=\"" << printable(e.topic)
           << "\" kind=" << int(e.kind) << " data=\"" << printable(e.data) << "\" offset=" << e.offset << " to=" << e.to
           << " epoch=" << e.epoch << " has_since=" << e.has_since << " history=" << e.history
           << " presence=" << e.presence << " ack=" << e.ack << " echo=" << e.echo << " code=" << e.code << " text=\""
           << printable(e.text) << "\" who=\"" << printable(e.who) << "\" members=[";
        for (auto m : e.members) os << '"' << printable(m) << "\",";
        os << "]}";
        return os.str();
    }
};

template <>
struct Catch::StringMaker<std::error_code> {
    static std::string convert(std::error_code const& ec)
    {
        return ec ? ec.category().name() + (": " + ec.message()) : "success";
    }
};
