// The MessagePack codec of msgpack_codec.hpp, written outside the library, against the
// concept, the library's codecs and hostile input.
#include "msgpack_codec.hpp"

#include <rtmsg/codec/binary.hpp>
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/codec/json.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

using rtmsg::codec::data_kind;
using rtmsg::codec::envelope;
using rtmsg::codec::error;
using rtmsg::codec::op;
using namespace rtmsg_test::codec;
using namespace std::literals;

static_assert(rtmsg::codec::codec<example::msgpack_codec>, "a codec written outside rtmsg satisfies the concept");

namespace {

// What a hub does with any codec: the concept is all it knows.
template <rtmsg::codec::codec Codec>
std::error_code transcode(Codec& codec, envelope const& in, std::string& bytes, envelope& out)
{
    bytes.clear();
    if (std::error_code ec = codec.encode(in, bytes)) return ec;
    padded_buffer const& input = keep(padded_buffer(bytes, Codec::padding));
    return codec.decode(input.view(), out);
}

std::string pack(envelope const& e)
{
    example::msgpack_codec c;
    std::string out;
    REQUIRE_FALSE(c.encode(e, out));
    return out;
}

std::error_code decode_error(std::string_view in)
{
    example::msgpack_codec c;
    envelope e;
    return c.decode(keep(exact_buffer(in)).view(), e);
}

// A map from (key, packed value) pairs, for hand-made inputs.
template <class... Kv>
std::string map_of(Kv... kv)
{
    std::string out;
    std::string body;
    std::size_t n = 0;
    auto add = [&](std::pair<std::string_view, std::string> const& p) {
        body += static_cast<char>(0xA0 | p.first.size()); // fixstr
        body += p.first;
        body += p.second;
        ++n;
    };
    (add(kv), ...);
    out += static_cast<char>(0x80 | n); // fixmap
    return out + body;
}
std::pair<std::string_view, std::string> kv(std::string_view k, std::string packed)
{
    return {k, std::move(packed)};
}
std::string str(std::string_view s)
{
    return static_cast<char>(0xA0 | s.size()) + std::string(s);
}

// The codec concept lets a host's codec leave out the attested sender (`from`): this one
// does, so its round trips are compared without it.
envelope without_sender(envelope e)
{
    e.from = rtmsg::codec::origin::unknown;
    e.from_id = {};
    e.from_info = {};
    return e;
}

} // namespace

TEST_CASE("msgpack: a codec from outside the library round-trips every operation", "[codec][msgpack]")
{
    auto const o = GENERATE(from_range(std::begin(all_ops), std::end(all_ops)));
    auto const kind = GENERATE(data_kind::json, data_kind::text, data_kind::binary);
    CAPTURE(rtmsg::codec::op_name(o), int(kind));
    example::msgpack_codec c;
    envelope const in = without_sender(full_envelope(o, kind));
    std::string bytes;
    envelope out;
    REQUIRE_FALSE(transcode(c, in, bytes, out));
    CHECK(same(out, project(in)));
    CHECK(pack(out) == bytes);
}

TEST_CASE("msgpack: an envelope survives json -> msgpack -> binary -> json", "[codec][msgpack][json][binary]")
{
    auto const o = GENERATE(from_range(std::begin(all_ops), std::end(all_ops)));
    auto const kind = GENERATE(data_kind::json, data_kind::text, data_kind::binary);
    rtmsg::codec::json j;
    example::msgpack_codec m;
    rtmsg::codec::binary b;
    std::string b1, b2, b3, b4;
    envelope e1, e2, e3, e4;
    REQUIRE_FALSE(transcode(j, without_sender(full_envelope(o, kind)), b1, e1));
    REQUIRE_FALSE(transcode(m, e1, b2, e2));
    REQUIRE_FALSE(transcode(b, e2, b3, e3));
    REQUIRE_FALSE(transcode(j, e3, b4, e4));
    CHECK(same(e4, project(without_sender(full_envelope(o, kind)))));
    CHECK(b4 == b1);
}

TEST_CASE("msgpack: invalid JSON data from a non-JSON codec never reaches a JSON client", "[codec][msgpack][json]")
{
    envelope e;
    e.op = op::publish;
    e.topic = "t";
    e.data = "[1,2,"; // msgpack cannot tell: to it this is a string
    std::string bytes;
    envelope decoded;
    example::msgpack_codec m;
    REQUIRE_FALSE(transcode(m, e, bytes, decoded));
    decoded.op = op::message;
    rtmsg::codec::json j;
    std::string out;
    CHECK(j.encode(decoded, out) == error::bad_field);
    CHECK(j.validate(decoded.data) == error::bad_field);
    CHECK(out.empty());
}

TEST_CASE("msgpack: malformed input gets the right error, never a crash", "[codec][msgpack]")
{
    std::string const good = pack(full_envelope(op::publish, data_kind::binary));
    // Every strict prefix is incomplete: a map header carries its size.
    for (std::size_t n = 0; n < good.size(); ++n) {
        CAPTURE(n);
        CHECK(decode_error(std::string_view(good).substr(0, n)) == error::malformed);
    }
    CHECK_FALSE(decode_error(good));
    CHECK(decode_error(good + '\xC0') == error::malformed); // trailing nil

    CHECK(decode_error("") == error::malformed);
    CHECK(decode_error("\xC1") == error::malformed);                 // never used
    CHECK(decode_error("\x91\xA3sub") == error::malformed);          // an array, not a map
    CHECK(decode_error("\xDF\xFF\xFF\xFF\xFF") == error::malformed); // map32 of 2^32-1 pairs
    CHECK(decode_error("\xDD\xFF\xFF\xFF\xFF") == error::malformed); // array32 of 2^32-1
    CHECK(decode_error("\xDB\xFF\xFF\xFF\xFF"
                       "abc") == error::malformed); // str32 past the end
    CHECK(decode_error(map_of(kv("x", std::string(10000, '\x91') + '\xC0'))) == error::too_deep);

    CHECK(decode_error(map_of(kv("topic", str("t")))) == error::bad_op);
    CHECK(decode_error(map_of(kv("op", str("nope")), kv("topic", str("t")))) == error::bad_op);
    CHECK(decode_error(map_of(kv("op", "\x01"), kv("topic", str("t")))) == error::bad_op);
    CHECK(decode_error(map_of(kv("op", str("sub")))) == error::missing_field);
    CHECK(decode_error(map_of(kv("op", str("pub")), kv("topic", str("t")))) == error::missing_field);
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", "\x07"))) == error::bad_field);
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", str("t")), kv("id", "\xFF"))) ==
          error::bad_field); // -1
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", str("t")), kv("id", "\xCB\x3F\xF0\0\0\0\0\0\0"s))) ==
          error::bad_field); // 1.0
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", str("t")), kv("presence", "\x01"))) ==
          error::bad_field);
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", str("t")),
                              kv("history", "\xCF\x00\x00\x00\x01\x00\x00\x00\x00"s))) == error::bad_field); // 2^32
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", "\xA1\xFF"))) == error::bad_field); // not UTF-8
    CHECK(decode_error(map_of(kv("op", str("sub")), kv("topic", str("t")), kv("topic", str("u")))) == error::bad_field);
    CHECK(decode_error(map_of(kv("op", str("pub")), kv("topic", str("t")), kv("kind", str("binary")),
                              kv("data", str("x")))) == error::bad_field); // binary data must be a bin
    CHECK(decode_error(map_of(kv("op", str("members")), kv("topic", str("t")),
                              kv("members", "\x92\xA1"
                                            "a\x01"))) == error::bad_field);
    CHECK_FALSE(decode_error(map_of(kv("op", str("sub")), kv("topic", str("t")), kv("future", "\x93\x01\x02\x03"))));
}

TEST_CASE("msgpack: random bytes and mutated messages never crash", "[codec][msgpack]")
{
    std::vector<std::string> corpus;
    for (op o : all_ops)
        for (data_kind k : {data_kind::json, data_kind::text, data_kind::binary})
            corpus.push_back(pack(full_envelope(o, k)));
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<std::size_t> pick(0, corpus.size() - 1);
    example::msgpack_codec c;
    std::size_t accepted = 0;
    for (int i = 0; i < 4000; ++i) {
        std::string const in =
            i < 1000 ? random_bytes(rng, 48)
                     : mutate(rng, corpus[pick(rng)], "\x00\x01\x7F\x80\x90\xA1\xC0\xC2\xC3\xCF\xDD\xDF\xFF"sv);
        CAPTURE(printable(in));
        envelope e;
        std::error_code const ec = c.decode(keep(exact_buffer(in)).view(), e);
        if (ec) {
            REQUIRE(is_codec_error(ec));
            continue;
        }
        ++accepted;
        std::string bytes;
        envelope again;
        REQUIRE_FALSE(transcode(c, e, bytes, again));
        REQUIRE(same(again, e));
    }
    CHECK(accepted > 50);
}
