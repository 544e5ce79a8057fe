// Test that the header is self-contained.
#include <rtmsg/codec/binary.hpp>

#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>

using rtmsg::codec::data_kind;
using rtmsg::codec::envelope;
using rtmsg::codec::error;
using rtmsg::codec::op;
using namespace rtmsg_test::codec;
using namespace std::literals;

static_assert(rtmsg::codec::codec<rtmsg::codec::binary>);
static_assert(rtmsg::codec::binary::name == "rtmsg.binary" && !rtmsg::codec::binary::is_text);
static_assert(rtmsg::codec::binary::padding == 0);

namespace {

// Decodes from an exact-size heap copy: with padding 0, ASan flags any read past the end.
std::error_code decode(std::string_view in, envelope& out)
{
    return rtmsg::codec::binary{}.decode(keep(exact_buffer(in)).view(), out);
}

std::error_code decode_error(std::string_view in)
{
    envelope e;
    return decode(in, e);
}

std::string encode(envelope const& e)
{
    std::string out;
    REQUIRE_FALSE(rtmsg::codec::binary{}.encode(e, out));
    return out;
}

// Message builders: version 1, an op byte, then raw field bytes.
std::string msg(op o, std::string_view fields = {})
{
    return "\x01"s + static_cast<char>(o) + std::string(fields);
}
constexpr char tag(rtmsg::codec::binary::tag t)
{
    return static_cast<char>(t);
}
using t = rtmsg::codec::binary::tag;
std::string const topic_t = std::string{tag(t::topic)} + "\x01t";

} // namespace

TEST_CASE("binary: every operation round-trips with all its fields", "[codec][binary]")
{
    auto const o = GENERATE(from_range(std::begin(all_ops), std::end(all_ops)));
    auto const kind = GENERATE(data_kind::json, data_kind::text, data_kind::binary);
    CAPTURE(rtmsg::codec::op_name(o), int(kind));
    envelope const in = full_envelope(o, kind);
    std::string const bytes = encode(in);
    CAPTURE(printable(bytes));
    envelope out;
    REQUIRE_FALSE(decode(bytes, out));
    CHECK(same(out, project(in)));
    CHECK(encode(out) == bytes); // canonical
}

TEST_CASE("binary: the bytes of a message are as documented", "[codec][binary]")
{
    envelope e;
    e.op = op::message;
    e.topic = "chat";
    e.data = R"({"a":1})";
    e.offset = 300;
    e.epoch = 1;
    // version, op 16, topic "chat", data, offset 300 = AC 02, epoch 1 (docs/protocol.md)
    CHECK(encode(e) == "\x01\x10"
                       "\x02\x04"
                       "chat"
                       "\x04\x07"
                       R"({"a":1})"
                       "\x05\xAC\x02"
                       "\x07\x01"s);

    envelope s;
    s.op = op::subscribe;
    s.id = 1;
    s.topic = "a.*";
    s.has_since = true;
    s.offset = 0;
    s.presence = true;
    CHECK(encode(s) == "\x01\x01"
                       "\x01\x01"
                       "\x02\x03"
                       "a.*"
                       "\x08\x00"
                       "\x0A\x01"s);

    envelope p;
    p.op = op::publish;
    p.topic = "t";
    p.kind = data_kind::binary;
    p.data = "\x00\xFF"sv;
    p.echo = false;
    p.ack = true;
    CHECK(encode(p) == "\x01\x03"
                       "\x02\x01t"
                       "\x03\x02"
                       "\x04\x02\x00\xFF"
                       "\x0B\x01"
                       "\x0C\x00"s);

    envelope m;
    m.op = op::members;
    m.topic = "r";
    m.members = {"ab", ""};
    CHECK(encode(m) == "\x01\x16"
                       "\x02\x01r"
                       "\x10\x02"
                       "\x02"
                       "ab"
                       "\x00"s);

    // The attested sender: `from` (17) and `info` (18), or `server` (19).
    e.from = rtmsg::codec::origin::peer;
    e.from_id = "al";
    e.from_info = "{}";
    CHECK(encode(e) == "\x01\x10"
                       "\x02\x04"
                       "chat"
                       "\x04\x07"
                       R"({"a":1})"
                       "\x05\xAC\x02"
                       "\x07\x01"
                       "\x11\x02"
                       "al"
                       "\x12\x02"
                       "{}"s);
    e.from = rtmsg::codec::origin::server;
    CHECK(encode(e) == "\x01\x10"
                       "\x02\x04"
                       "chat"
                       "\x04\x07"
                       R"({"a":1})"
                       "\x05\xAC\x02"
                       "\x07\x01"
                       "\x13\x01"s);
}

TEST_CASE("binary: the attested sender decodes, and only in one consistent form", "[codec][binary]")
{
    std::string const head = "\x01\x10"
                             "\x02\x01t"
                             "\x04\x01"
                             "1"
                             "\x05\x01"s;
    rtmsg::codec::binary c;
    envelope e;
    REQUIRE_FALSE(c.decode(head + "\x13\x01"s, e));
    CHECK(e.from == rtmsg::codec::origin::server);
    std::string const peer = head + "\x12\x01"
                                    "1"
                                    "\x11\x01"
                                    "b"s; // any order; the views point into it
    REQUIRE_FALSE(c.decode(peer, e));
    CHECK(e.from == rtmsg::codec::origin::peer);
    CHECK(e.from_id == "b");
    CHECK(e.from_info == "1");
    REQUIRE_FALSE(c.decode(head, e));
    CHECK(e.from == rtmsg::codec::origin::unknown);
    CHECK(c.decode(head + "\x13\x00"s, e) == error::bad_field); // server: 1 only
    CHECK(c.decode(head + "\x13\x01"
                          "\x11\x01"
                          "b"s,
                   e) == error::bad_field); // server and a peer
    CHECK(c.decode(head + "\x12\x01"
                          "1"s,
                   e) == error::bad_field); // info without from
    CHECK(c.decode(head + "\x11\x01"
                          "\xFF"s,
                   e) == error::bad_field); // not UTF-8
    CHECK(c.decode(head + "\x11\x05"
                          "b"s,
                   e) == error::malformed); // truncated
    // A client's publication cannot carry a sender: checked, then ignored.
    REQUIRE_FALSE(c.decode("\x01\x03"
                           "\x02\x01t"
                           "\x04\x01"
                           "1"
                           "\x11\x03"
                           "bob"s,
                           e));
    CHECK(e.op == op::publish);
    CHECK(e.from == rtmsg::codec::origin::unknown);
}

TEST_CASE("binary: every truncation of a valid message is safe", "[codec][binary]")
{
    auto const o = GENERATE(from_range(std::begin(all_ops), std::end(all_ops)));
    auto const kind = GENERATE(data_kind::json, data_kind::binary);
    std::string const bytes = encode(full_envelope(o, kind));
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        std::string_view const prefix = std::string_view(bytes).substr(0, n);
        CAPTURE(n, printable(prefix));
        envelope e;
        std::error_code const ec = decode(prefix, e);
        if (ec) {
            CHECK(is_codec_error(ec));
            CHECK(same(e, envelope{}));
        }
        else {
            // The message length comes from the WebSocket frame: a cut between two optional
            // fields is a shorter valid message, and then it is exactly that message.
            CHECK(encode(e) == prefix);
        }
    }
    CHECK(decode_error(std::string_view(bytes).substr(0, 0)) == error::malformed);
    CHECK(decode_error(std::string_view(bytes).substr(0, 1)) == error::malformed);
}

TEST_CASE("binary: varints are LEB128, at most 10 bytes, minimal", "[codec][binary]")
{
    auto with_id = [](std::string_view varint) {
        return msg(op::unsubscribe, topic_t + tag(t::id) + std::string(varint));
    };
    envelope e;
    REQUIRE_FALSE(decode(with_id("\x00"sv), e));
    CHECK(e.id == 0);
    REQUIRE_FALSE(decode(with_id("\x7F"), e));
    CHECK(e.id == 127);
    REQUIRE_FALSE(decode(with_id("\x80\x01"), e));
    CHECK(e.id == 128);
    REQUIRE_FALSE(decode(with_id("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01"), e));
    CHECK(e.id == ~std::uint64_t{0});
    REQUIRE_FALSE(decode(with_id("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"), e));
    CHECK(e.id == std::uint64_t{1} << 63);

    CHECK(decode_error(with_id("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x02")) == error::malformed);     // 2^64
    CHECK(decode_error(with_id("\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x7F")) == error::malformed);     // far above
    CHECK(decode_error(with_id("\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01")) == error::malformed); // 11 bytes
    CHECK(decode_error(with_id(std::string(100, '\x80') + '\x01')) == error::malformed);
    CHECK(decode_error(with_id("\x80\x00"sv)) == error::malformed);     // 0 in two bytes
    CHECK(decode_error(with_id("\xFF\x80\x00"sv)) == error::malformed); // 127 in three
    CHECK(decode_error(with_id("\x80")) == error::malformed);           // truncated
    CHECK(decode_error(with_id("")) == error::malformed);

    // Encoding: boundaries of each length.
    for (std::uint64_t v : {std::uint64_t{0}, std::uint64_t{127}, std::uint64_t{128}, std::uint64_t{16383},
                            std::uint64_t{16384}, std::uint64_t{1} << 63, ~std::uint64_t{0}}) {
        envelope a;
        a.op = op::ack;
        a.offset = v;
        std::string const bytes = encode(a);
        REQUIRE_FALSE(decode(bytes, e));
        CHECK(e.offset == v);
    }
}

TEST_CASE("binary: lengths and counts that point past the end are malformed", "[codec][binary]")
{
    CHECK(decode_error(msg(op::subscribe, "\x02\x02t")) == error::malformed);
    CHECK(decode_error(msg(op::subscribe, "\x02\xFF\xFF\xFF\xFF\x0Ft")) == error::malformed);
    CHECK(decode_error(msg(op::subscribe, "\x02\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01t")) == error::malformed);
    CHECK(decode_error(msg(op::publish, topic_t + "\x04\x05"
                                                  "abcd")) == error::malformed);
    CHECK(decode_error(msg(op::members, topic_t + "\x10\x03\x01"
                                                  "a\x01"
                                                  "b")) == error::malformed);
    CHECK(decode_error(msg(op::members, topic_t + "\x10\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01")) == error::malformed);
    CHECK(decode_error(msg(op::members, topic_t + "\x10\x01\x05"
                                                  "ab")) == error::malformed);
    CHECK(decode_error(msg(op::subscribe, topic_t + "\x0A")) == error::malformed); // bool without a byte
    CHECK(decode_error(msg(op::publish, topic_t + "\x03")) == error::malformed);   // kind without a byte
}

TEST_CASE("binary: unknown tags, duplicate tags, bad bools and kinds are bad_field", "[codec][binary]")
{
    for (char unknown : {'\x00', '\x14', '\x7F', '\xFF'})
        CHECK(decode_error(msg(op::subscribe, topic_t + unknown + "\x00"s)) == error::bad_field);
    CHECK(decode_error(msg(op::subscribe, topic_t + topic_t)) == error::bad_field);
    CHECK(decode_error(msg(op::subscribe, topic_t + "\x01\x01\x01\x02")) == error::bad_field);
    for (char b : {'\x02', '\x80', '\xFF'}) {
        CHECK(decode_error(msg(op::subscribe, topic_t + "\x0A" + b)) == error::bad_field);
        CHECK(decode_error(msg(op::publish, topic_t +
                                                "\x04\x01x"
                                                "\x0B" +
                                                b)) == error::bad_field);
        CHECK(decode_error(msg(op::publish, topic_t +
                                                "\x04\x01x"
                                                "\x0C" +
                                                b)) == error::bad_field);
    }
    CHECK(decode_error(msg(op::publish, topic_t + "\x03\x03"
                                                  "\x04\x01x")) == error::bad_field);
    CHECK(decode_error(msg(op::subscribe, topic_t + "\x09\x80\x80\x80\x80\x10")) == error::bad_field); // history 2^32
    CHECK(decode_error(msg(op::error, "\x0D\x80\x80\x04")) == error::bad_field);                       // code 65536
    // Fields in any order are fine; fields the op does not use are checked, then dropped.
    envelope e;
    REQUIRE_FALSE(decode(msg(op::subscribe, "\x0A\x01" + topic_t + "\x0F\x01w"), e));
    CHECK(e.presence);
    CHECK(e.topic == "t");
    CHECK(e.who.empty());
}

TEST_CASE("binary: version, operation and required fields", "[codec][binary]")
{
    CHECK(decode_error("") == error::malformed);
    CHECK(decode_error("\x01") == error::malformed);
    CHECK(decode_error("\x02\x01" + topic_t) == error::malformed);
    CHECK(decode_error("\x00\x01"s + topic_t) == error::malformed);
    for (char o : {'\x00', '\x05', '\x0F', '\x17', '\xFF'}) CHECK(decode_error("\x01"s + o + topic_t) == error::bad_op);
    CHECK(decode_error(msg(op::subscribe)) == error::missing_field);
    CHECK(decode_error(msg(op::publish, topic_t)) == error::missing_field);
    CHECK(decode_error(msg(op::message, topic_t + "\x04\x01x")) == error::missing_field);
    CHECK(decode_error(msg(op::join, topic_t)) == error::missing_field);
    CHECK(decode_error(msg(op::gap, topic_t + "\x05\x01")) == error::missing_field);
    CHECK(decode_error(msg(op::members, topic_t)) == error::missing_field);
    CHECK(decode_error(msg(op::error)) == error::missing_field);
    CHECK_FALSE(decode_error(msg(op::error, "\x0D\x00"s)));
    CHECK_FALSE(decode_error(msg(op::ack, "\x05\x00"s)));
}

TEST_CASE("binary: strings must be UTF-8, binary data need not be", "[codec][binary]")
{
    for (std::string_view bad : {"\xFF"sv, "\xC0\xAF"sv, "\xED\xA0\x80"sv, "\xE2\x82"sv}) {
        std::string const s = static_cast<char>(bad.size()) + std::string(bad);
        CAPTURE(printable(bad));
        CHECK(decode_error(msg(op::subscribe, "\x02" + s)) == error::bad_field);
        CHECK(decode_error(msg(op::error, "\x0D\x01\x0E" + s)) == error::bad_field);
        CHECK(decode_error(msg(op::join, topic_t + "\x0F" + s)) == error::bad_field);
        CHECK(decode_error(msg(op::members, topic_t + "\x10\x01" + s)) == error::bad_field);
        CHECK(decode_error(msg(op::publish, topic_t + "\x04" + s)) == error::bad_field);         // json
        CHECK(decode_error(msg(op::publish, topic_t + "\x03\x01\x04" + s)) == error::bad_field); // text
        CHECK_FALSE(decode_error(msg(op::publish, topic_t + "\x03\x02\x04" + s)));               // binary
        envelope e = full_envelope(op::publish, data_kind::text);
        e.data = bad;
        std::string out = "kept";
        CHECK(rtmsg::codec::binary{}.encode(e, out) == error::bad_field);
        CHECK(out == "kept");
        e.kind = data_kind::binary;
        CHECK_FALSE(rtmsg::codec::binary{}.encode(e, out));
    }
    envelope e = full_envelope(op::publish);
    e.kind = static_cast<data_kind>(3);
    std::string out;
    CHECK(rtmsg::codec::binary{}.encode(e, out) == error::bad_field);
    e.op = static_cast<op>(0);
    CHECK(rtmsg::codec::binary{}.encode(e, out) == error::bad_op);
    CHECK(out.empty());
}

TEST_CASE("binary: random bytes and mutated messages never crash, and what is accepted round-trips", "[codec][binary]")
{
    std::vector<std::string> corpus;
    for (op o : all_ops)
        for (data_kind k : {data_kind::json, data_kind::text, data_kind::binary})
            corpus.push_back(encode(full_envelope(o, k)));
    std::mt19937 rng(20240601);
    std::uniform_int_distribution<std::size_t> pick(0, corpus.size() - 1);
    std::uniform_int_distribution<int> op_index(0, std::size(all_ops) - 1);
    std::size_t accepted = 0;
    for (int i = 0; i < 6000; ++i) {
        std::string in;
        if (i < 1000) {
            in = random_bytes(rng, 48);
        }
        else if (i < 2000) {                     // a valid header, random fields: reaches the field parser
            op const o = all_ops[op_index(rng)]; // sequenced: same inputs with every compiler
            in = msg(o, random_bytes(rng, 32));
        }
        else {
            in = mutate(rng, corpus[pick(rng)], "\x00\x01\x02\x03\x04\x05\x7F\x80\xFF"sv);
        }
        CAPTURE(printable(in));
        envelope e;
        std::error_code const ec = decode(in, e);
        if (ec) {
            REQUIRE(is_codec_error(ec));
            continue;
        }
        ++accepted;
        std::string const bytes = encode(e);
        envelope again;
        REQUIRE_FALSE(decode(bytes, again));
        REQUIRE(same(again, e));
    }
    CHECK(accepted > 100);
}
