// Test that the header is self-contained.
#include <rtmsg/codec/json.hpp>

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

namespace {

// The codec concept, both ways: a type that lacks decode() must not pass.
struct no_decode {
    using value_type = envelope;
    static constexpr std::string_view name = "x";
    static constexpr bool is_text = true;
    static constexpr std::size_t padding = 0;
    std::error_code encode(envelope const&, std::string&) { return {}; }
};
struct decode_returns_bool {
    using value_type = envelope;
    static constexpr std::string_view name = "x";
    static constexpr bool is_text = true;
    static constexpr std::size_t padding = 0;
    std::error_code encode(envelope const&, std::string&) { return {}; }
    bool decode(std::string_view, envelope&) { return true; }
};
static_assert(rtmsg::codec::codec<rtmsg::codec::json>);
static_assert(!rtmsg::codec::codec<no_decode>, "a codec without decode() must not satisfy the concept");
static_assert(!rtmsg::codec::codec<decode_returns_bool>, "decode() must return std::error_code");
static_assert(rtmsg::codec::json::name == "rtmsg.json" && rtmsg::codec::json::is_text);
static_assert(rtmsg::codec::json::padding == simdjson::SIMDJSON_PADDING);

// Decodes `in` the way the transport hands it over (with padding), and again from an
// exact-size copy through decode_unpadded(); both must agree.
std::error_code decode(rtmsg::codec::json& c, std::string_view in, envelope& out)
{
    std::error_code const ec = c.decode(keep(padded_buffer(in, rtmsg::codec::json::padding)).view(), out);
    envelope again;
    rtmsg::codec::json other;
    exact_buffer const exact(in);
    std::error_code const ec2 = other.decode_unpadded(exact.view(), again);
    CHECK(ec == ec2);
    if (!ec && !ec2) CHECK(same(project(out), project(again)));
    return ec;
}

std::error_code decode_error(std::string_view in)
{
    rtmsg::codec::json c;
    envelope e;
    return decode(c, in, e);
}

std::string encode(envelope const& e)
{
    rtmsg::codec::json c;
    std::string out;
    std::error_code const ec = c.encode(e, out);
    REQUIRE_FALSE(ec);
    return out;
}

// A `pub` whose data is `data`.
std::string pub_with(std::string_view data)
{
    return R"({"op":"pub","topic":"t","data":)" + std::string(data) + "}";
}

} // namespace

TEST_CASE("json: every operation round-trips with all its fields", "[codec][json]")
{
    auto const o = GENERATE(from_range(std::begin(all_ops), std::end(all_ops)));
    auto const kind = GENERATE(data_kind::json, data_kind::text, data_kind::binary);
    CAPTURE(rtmsg::codec::op_name(o), int(kind));
    rtmsg::codec::json c;
    envelope const in = full_envelope(o, kind);
    std::string bytes;
    REQUIRE_FALSE(c.encode(in, bytes));
    CAPTURE(bytes);
    REQUIRE(simdjson::validate_utf8(bytes.data(), bytes.size()));
    envelope out;
    REQUIRE_FALSE(decode(c, bytes, out));
    CHECK(same(out, project(in)));

    // Encoding the decoded envelope gives the same bytes: the encoding is canonical.
    std::string again;
    REQUIRE_FALSE(c.encode(out, again));
    CHECK(again == bytes);
}

TEST_CASE("json: encode writes only the fields the operation uses, in a fixed order", "[codec][json]")
{
    auto msg = [](op o) { return encode(full_envelope(o)); };
    std::string const id = R"("id":1152921504606846983)";
    std::string const data = R"("data":{"text":"hi","n":[1,2.5,null,true]})";
    CHECK(msg(op::subscribe) ==
          R"({"op":"sub",)" + id +
              R"(,"topic":"chat.room-1","epoch":"9007199254740993","since":42,"history":10,"presence":true})");
    CHECK(msg(op::unsubscribe) == R"({"op":"unsub",)" + id + R"(,"topic":"chat.room-1"})");
    CHECK(msg(op::publish) ==
          R"({"op":"pub",)" + id + R"(,"topic":"chat.room-1",)" + data + R"(,"ack":true,"echo":false})");
    CHECK(msg(op::presence) == R"({"op":"presence",)" + id + R"(,"topic":"chat.room-1"})");
    CHECK(
        msg(op::message) ==
        R"({"op":"msg","topic":"chat.room-1",)" + data +
            R"(,"offset":42,"epoch":"9007199254740993","from":{"id":"al\"iceé","info":{"name":"Alice","colors":[1,2]}}})");
    CHECK(msg(op::ack) == R"({"op":"ack",)" + id + R"(,"topic":"chat.room-1","offset":42,"epoch":"9007199254740993"})");
    CHECK(msg(op::error) ==
          R"({"op":"error",)" + id + R"(,"topic":"chat.room-1","code":429,"message":"rate limited"})");
    CHECK(msg(op::join) == R"({"op":"join","topic":"chat.room-1","who":"alice"})");
    CHECK(msg(op::leave) == R"({"op":"leave","topic":"chat.room-1","who":"alice"})");
    CHECK(msg(op::gap) == R"({"op":"gap","topic":"chat.room-1","offset":42,"to":50,"epoch":"9007199254740993"})");
    CHECK(msg(op::members) ==
          R"({"op":"members",)" + id + "," + R"("topic":"chat.room-1","members":["alice","bob","ç"]})");

    // Defaults are left out; the fields an operation always carries are not.
    auto bare = [](op o) {
        envelope e;
        e.op = o;
        e.topic = "t";
        e.data = "1";
        return encode(e);
    };
    CHECK(bare(op::subscribe) == R"({"op":"sub","topic":"t"})");
    CHECK(bare(op::publish) == R"({"op":"pub","topic":"t","data":1})");
    CHECK(bare(op::message) == R"({"op":"msg","topic":"t","data":1,"offset":0})");
    CHECK(bare(op::ack) == R"({"op":"ack","topic":"t","offset":0})");
    CHECK(bare(op::error) == R"({"op":"error","topic":"t","code":0})");
    CHECK(bare(op::join) == R"({"op":"join","topic":"t","who":""})");
    CHECK(bare(op::members) == R"({"op":"members","topic":"t","members":[]})");
    envelope sub;
    sub.op = op::subscribe;
    sub.topic = "t";
    sub.has_since = true; // since 0 is "everything retained", not the default
    CHECK(encode(sub) == R"({"op":"sub","topic":"t","since":0})");
}

TEST_CASE("json: strings are escaped and unescaped correctly", "[codec][json]")
{
    envelope e;
    e.op = op::subscribe;

    SECTION("quotes, backslash, control characters; DEL and UTF-8 pass through")
    {
        e.topic = "a\"b\\c/\x01\x1F\x7F\t\n\0 \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"sv;
        std::string const bytes = encode(e);
        CHECK(bytes == "{\"op\":\"sub\",\"topic\":\"a\\\"b\\\\c/\\u0001\\u001f\x7F\\u0009\\u000a\\u0000 "
                       "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"}");
        rtmsg::codec::json c;
        envelope out;
        REQUIRE_FALSE(decode(c, bytes, out));
        CHECK(out.topic == e.topic);
    }
    SECTION("every byte below 0x80 round-trips")
    {
        std::string all;
        for (int b = 0; b < 0x80; ++b) all += static_cast<char>(b);
        e.topic = all;
        rtmsg::codec::json c;
        std::string bytes;
        REQUIRE_FALSE(c.encode(e, bytes));
        envelope out;
        REQUIRE_FALSE(decode(c, bytes, out));
        CHECK(out.topic == all);
    }
    SECTION("escapes a client may send are unescaped")
    {
        rtmsg::codec::json c;
        envelope out;
        REQUIRE_FALSE(decode(c, R"({"op":"sub","topic":"\"\\\/\b\f\n\r\t\u0041\u00e9\u20AC\ud83d\ude00"})", out));
        CHECK(out.topic == "\"\\/\b\f\n\r\tA\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
        // Escaped keys are keys too.
        REQUIRE_FALSE(decode(c, R"({"\u006fp":"sub","top\u0069c":"t"})", out));
        CHECK(out.topic == "t");
    }
    SECTION("a string that is not UTF-8 cannot be encoded, and nothing is appended")
    {
        rtmsg::codec::json c;
        for (std::string_view bad : {"\xFF"sv, "\xC0\xAF"sv, "\xED\xA0\x80"sv, "ab\xE2\x82"sv, "\x80"sv}) {
            CAPTURE(printable(bad));
            std::string out = "kept";
            e.topic = bad;
            CHECK(c.encode(e, out) == error::bad_field);
            CHECK(out == "kept");
            envelope j;
            j.op = op::join;
            j.topic = "t";
            j.who = bad;
            CHECK(c.encode(j, out) == error::bad_field);
            envelope m;
            m.op = op::members;
            m.topic = "t";
            m.members = {"ok", bad};
            CHECK(c.encode(m, out) == error::bad_field);
            CHECK(out == "kept");
        }
    }
}

TEST_CASE("json: epochs above 2^53 travel as strings of digits", "[codec][json]")
{
    rtmsg::codec::json c;
    envelope e = full_envelope(op::message);
    for (std::uint64_t epoch : {std::uint64_t{1}, (std::uint64_t{1} << 53) + 1, ~std::uint64_t{0}}) {
        e.epoch = epoch;
        std::string bytes;
        REQUIRE_FALSE(c.encode(e, bytes));
        CHECK(bytes.find("\"epoch\":\"" + std::to_string(epoch) + "\"") != std::string::npos);
        envelope out;
        REQUIRE_FALSE(decode(c, bytes, out));
        CHECK(out.epoch == epoch);
    }
    auto sub = [](std::string_view epoch) {
        return R"({"op":"sub","topic":"t","since":5,"epoch":)" + std::string(epoch) + "}";
    };
    envelope out;
    REQUIRE_FALSE(decode(c, sub(R"("18446744073709551615")"), out));
    CHECK(out.epoch == 18446744073709551615u);
    CHECK(out.has_since);
    CHECK(out.offset == 5);
    for (std::string_view bad : {R"("18446744073709551616")", R"("")", R"("-1")", R"("+1")", R"("1e3")", R"(" 1")",
                                 R"("0x10")", R"("12a")", "12", "null", "true", "[\"1\"]"}) {
        CAPTURE(bad);
        CHECK(decode_error(sub(bad)) == error::bad_field);
    }
}

TEST_CASE("json: data kinds json, text and binary", "[codec][json]")
{
    rtmsg::codec::json c;
    envelope out;

    SECTION("json data is any JSON value, kept as sent")
    {
        for (std::string_view data :
             {R"({"text":"hi"})", "[]", "{}", "0", "-1.5e-7", "true", "false", "null", R"("a string")",
              R"([ 1 , { "a" : [ null ] } ])", "123456789012345678901234567890", "1e400", R"({"a":1,"a":2})",
              R"("\ud83d\ude00")"}) {
            CAPTURE(data);
            REQUIRE_FALSE(decode(c, pub_with(data), out));
            CHECK(out.kind == data_kind::json);
            CHECK(out.data == data);
            // Whitespace around the value is not part of it.
            REQUIRE_FALSE(decode(c, R"({"op":"pub","data": )" + std::string(data) + "\n\t\r ,\"topic\":\"t\"}", out));
            CHECK(out.data == data);
        }
    }
    SECTION("text data is a JSON string, unescaped")
    {
        REQUIRE_FALSE(decode(c, R"({"op":"pub","topic":"t","kind":"text","data":"line\nbreak \u00e9"})", out));
        CHECK(out.kind == data_kind::text);
        CHECK(out.data == "line\nbreak \xC3\xA9");
        // kind may come after data
        REQUIRE_FALSE(decode(c, R"({"op":"pub","topic":"t","data":"x","kind":"text"})", out));
        CHECK(out.data == "x");
        CHECK(encode(out) == R"({"op":"pub","topic":"t","kind":"text","data":"x"})");
    }
    SECTION("binary data is base64")
    {
        std::string all;
        for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
        for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 5u, 256u}) {
            envelope e = full_envelope(op::publish, data_kind::binary);
            e.data = std::string_view(all).substr(0, n);
            std::string const bytes = encode(e);
            REQUIRE_FALSE(decode(c, bytes, out));
            CHECK(out.kind == data_kind::binary);
            CHECK(out.data == e.data);
        }
        REQUIRE_FALSE(decode(c, R"({"op":"pub","topic":"t","kind":"binary","data":"aGk="})", out));
        CHECK(out.data == "hi");
        envelope e = out;
        CHECK(encode(e) == R"({"op":"pub","topic":"t","kind":"binary","data":"aGk="})");
    }
    SECTION("a kind that does not fit the data is bad_field")
    {
        for (std::string_view in : {R"({"op":"pub","topic":"t","kind":"text","data":1})",
                                    R"({"op":"pub","topic":"t","kind":"binary","data":{"a":1}})",
                                    R"({"op":"pub","topic":"t","kind":"binary","data":"aGk"})",
                                    R"({"op":"pub","topic":"t","kind":"binary","data":"aGl="})",
                                    R"({"op":"pub","topic":"t","kind":"binary","data":"aG k="})",
                                    R"({"op":"pub","topic":"t","kind":"binary","data":"a===")",
                                    R"({"op":"pub","topic":"t","kind":"binary","data":"=aGk"})",
                                    R"({"op":"pub","topic":"t","kind":"utf8","data":"x"})",
                                    R"({"op":"pub","topic":"t","kind":1,"data":"x"})"}) {
            CAPTURE(in);
            auto const ec = decode_error(in);
            CHECK((ec == error::bad_field || ec == error::malformed));
            CHECK(ec != rtmsg::codec::error{});
        }
        CHECK(decode_error(R"({"op":"pub","topic":"t","kind":"text","data":1})") == error::bad_field);
        CHECK(decode_error(R"({"op":"pub","topic":"t","kind":"binary","data":"aGl="})") == error::bad_field);
    }
}

TEST_CASE("json: hand-written client messages decode", "[codec][json]")
{
    rtmsg::codec::json c;
    envelope e;

    REQUIRE_FALSE(decode(c, R"({"op":"pub","topic":"chat","data":{"text":"hi"},"id":7,"ack":true})", e));
    CHECK(e.op == op::publish);
    CHECK(e.topic == "chat");
    CHECK(e.data == R"({"text":"hi"})");
    CHECK(e.id == 7);
    CHECK(e.ack);
    CHECK(e.echo);

    REQUIRE_FALSE(decode(
        c,
        "\n{ \"op\" : \"sub\" ,\n  \"topic\" : \"prices.*.usd\", \"history\": 20, \"presence\": true, \"id\": 1 }\r\n",
        e));
    CHECK(e.op == op::subscribe);
    CHECK(e.topic == "prices.*.usd");
    CHECK(e.history == 20);
    CHECK(e.presence);
    CHECK_FALSE(e.has_since);

    REQUIRE_FALSE(decode(c, R"({"topic":"orders.>","since":1200,"epoch":"1700000000123","op":"sub"})", e));
    CHECK(e.has_since);
    CHECK(e.offset == 1200);
    CHECK(e.epoch == 1700000000123u);

    REQUIRE_FALSE(decode(c, R"({"op":"pub","topic":"chat","data":"hello","kind":"text","echo":false})", e));
    CHECK(e.kind == data_kind::text);
    CHECK(e.data == "hello");
    CHECK_FALSE(e.echo);

    REQUIRE_FALSE(decode(c, R"({"op":"unsub","topic":"chat","id":3})", e));
    CHECK(e.op == op::unsubscribe);
    REQUIRE_FALSE(decode(c, R"({"op":"presence","topic":"room.1","id":4})", e));
    CHECK(e.op == op::presence);
    CHECK(e.id == 4);

    // Unknown keys are ignored, whatever valid JSON they hold; keys an op does not use too.
    REQUIRE_FALSE(decode(c, R"({"op":"unsub","topic":"t","v":2,"trace":{"id":[1,"x",null]},"data":[1],"who":"w"})", e));
    CHECK(e.data.empty());
    CHECK(e.who.empty());
    // `offset` is not how a subscribe resumes: `since` is.
    REQUIRE_FALSE(decode(c, R"({"op":"sub","topic":"t","offset":9})", e));
    CHECK_FALSE(e.has_since);
    CHECK(e.offset == 0);

    // And the server messages, as a client library decodes them.
    REQUIRE_FALSE(decode(c, R"({"op":"msg","topic":"chat","data":{"text":"hi"},"offset":8,"epoch":"3"})", e));
    CHECK(e.op == op::message);
    CHECK(e.offset == 8);
    REQUIRE_FALSE(decode(c, R"({"op":"error","id":7,"code":413,"message":"payload too large"})", e));
    CHECK(e.code == 413);
    CHECK(e.text == "payload too large");
    REQUIRE_FALSE(decode(c, R"({"op":"members","id":2,"topic":"room","members":["a","b"]})", e));
    CHECK(e.members == std::vector<std::string_view>{"a", "b"});
    REQUIRE_FALSE(decode(c, R"({"op":"gap","topic":"t","epoch":"2","offset":5,"to":9})", e));
    CHECK(e.to == 9);
}

TEST_CASE("json: malformed messages are rejected with the right error", "[codec][json]")
{
    struct vector {
        std::string in;
        error expected;
    };
    std::string const deep64 = std::string(63, '[') + std::string(63, ']'); // envelope + 63 = 64 levels
    std::string const deep65 = std::string(64, '[') + std::string(64, ']');
    vector const vectors[] = {
        // not JSON, or not one object
        {"", error::malformed},
        {"   \n", error::malformed},
        {"{", error::malformed},
        {"}", error::malformed},
        {R"({"op":"sub","topic":"t")", error::malformed},
        {R"({"op":"sub","topic":"t"}})", error::malformed},
        {R"({"op":"sub","topic":"t"} x)", error::malformed},
        {R"({"op":"sub","topic":"t"}{})", error::malformed},
        {R"({"op":"sub","topic":"t"}])", error::malformed},
        {R"([{"op":"sub","topic":"t"}])", error::malformed},
        {R"("sub")", error::malformed},
        {"null", error::malformed},
        {"42", error::malformed},
        {R"({"op":"sub","topic":"t",})", error::malformed},
        {R"({"op":"sub" "topic":"t"})", error::malformed},
        {R"({"op":"sub","topic":'t'})", error::malformed},
        {R"({op:"sub","topic":"t"})", error::malformed},
        {R"({"op":"sub","topic":"t"x})", error::malformed},
        {R"({"op":"sub","topic":"\x"})", error::malformed},
        {R"({"op":"sub","topic":"\ud800"})", error::malformed},
        {R"({"op":"sub","topic":"\udc00"})", error::malformed},
        {R"({"op":"sub","topic":"\u12"})", error::malformed},
        {"{\"op\":\"sub\",\"topic\":\"a\tb\"}", error::malformed}, // raw control character
        {R"({"op":"sub","topic":"t","id":01})", error::malformed},
        {R"({"op":"sub","topic":"t","id":1.5.3})", error::malformed},
        {R"({"op":"sub","topic":"t","id":-})", error::malformed},
        {R"({"op":"sub","topic":"t","presence":tru})", error::malformed},
        {R"({"op":"sub","topic":"t","presence":True})", error::malformed},
        {R"({"op":"sub","topic":"t","x":[1,}})", error::malformed}, // even in a key nobody reads
        {R"({"op":"sub","topic":[1,}})", error::malformed},         // even with the wrong type
        // invalid JSON inside data is never forwarded
        {R"({"op":"pub","topic":"t","data":[1,2,})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1,2,}})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1,2,]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[,1]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1,,2]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1 2]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[[1]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1]]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":{"a":1,}})", error::malformed},
        {R"({"op":"pub","topic":"t","data":{"a"}})", error::malformed},
        {R"({"op":"pub","topic":"t","data":{"a" 1}})", error::malformed},
        {R"({"op":"pub","topic":"t","data":{1:2}})", error::malformed},
        {R"({"op":"pub","topic":"t","data":{"a":1]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":["a" "b"]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":{"\x":1}})", error::malformed},
        {R"({"op":"pub","topic":"t","data":["\ud800"]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":"\udc00x"})", error::malformed},
        {R"({"op":"pub","topic":"t","data":01})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1.]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[.5]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[1e]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[+1]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[0x10]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[NaN]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[Infinity]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[-]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[nul]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[nulll]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[falsey]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":[undefined]})", error::malformed},
        {R"({"op":"pub","topic":"t","data":['x']})", error::malformed},
        {R"({"op":"pub","topic":"t","data":})", error::malformed},
        {R"({"op":"pub","topic":"t","data"})", error::malformed},
        {"{\"op\":\"pub\",\"topic\":\"t\",\"data\":[\"a\nb\"]}", error::malformed},
        // invalid UTF-8 anywhere
        {"{\"op\":\"sub\",\"topic\":\"\xFF\"}", error::malformed},
        {"{\"op\":\"sub\",\"topic\":\"\xC0\xAF\"}", error::malformed},
        {"{\"op\":\"sub\",\"topic\":\"\xED\xA0\x80\"}", error::malformed},
        {"{\"op\":\"sub\",\"topic\":\"\xE2\x82\"}", error::malformed},
        {"{\"op\":\"pub\",\"topic\":\"t\",\"data\":[\"\xF5\x80\x80\x80\"]}", error::malformed},
        {"{\"op\":\"sub\",\"topic\":\"t\",\"\xFF\":1}", error::malformed},
        // NUL bytes
        {"{\"op\":\"sub\",\"topic\":\"a\0b\"}"s, error::malformed},
        {"{\"op\":\"sub\",\"topic\":\"t\"}\0"s, error::malformed},
        {"\0{\"op\":\"sub\",\"topic\":\"t\"}"s, error::malformed},
        {"{\"op\":\"sub\",\0\"topic\":\"t\"}"s, error::malformed},
        {"\0"s, error::malformed},
        // operation
        {R"({"topic":"t"})", error::bad_op},
        {R"({})", error::bad_op},
        {R"({"op":"SUB","topic":"t"})", error::bad_op},
        {R"({"op":"subscribe","topic":"t"})", error::bad_op},
        {R"({"op":"","topic":"t"})", error::bad_op},
        {R"({"op":1,"topic":"t"})", error::bad_op},
        {R"({"op":null,"topic":"t"})", error::bad_op},
        {R"({"op":["sub"],"topic":"t"})", error::bad_op},
        // missing fields
        {R"({"op":"sub"})", error::missing_field},
        {R"({"op":"unsub","id":1})", error::missing_field},
        {R"({"op":"presence"})", error::missing_field},
        {R"({"op":"pub","topic":"t"})", error::missing_field},
        {R"({"op":"pub","data":1})", error::missing_field},
        {R"({"op":"msg","topic":"t","data":1})", error::missing_field},
        {R"({"op":"ack","id":1})", error::missing_field},
        {R"({"op":"error","id":1,"message":"m"})", error::missing_field},
        {R"({"op":"join","topic":"t"})", error::missing_field},
        {R"({"op":"leave","who":"w"})", error::missing_field},
        {R"({"op":"gap","topic":"t","offset":1})", error::missing_field},
        {R"({"op":"members","topic":"t"})", error::missing_field},
        // wrong types and values
        {R"({"op":"sub","topic":1})", error::bad_field},
        {R"({"op":"sub","topic":null})", error::bad_field},
        {R"({"op":"sub","topic":["t"]})", error::bad_field},
        {R"({"op":"sub","topic":{"a":"t"}})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":-1})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":-0})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":1.5})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":1e2})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":"7"})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":true})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":null})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":18446744073709551616})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":99999999999999999999999999999999999999})", error::bad_field},
        {R"({"op":"sub","topic":"t","id":1e400})", error::bad_field},
        {R"({"op":"sub","topic":"t","since":-1})", error::bad_field},
        {R"({"op":"sub","topic":"t","history":4294967296})", error::bad_field},
        {R"({"op":"sub","topic":"t","presence":1})", error::bad_field},
        {R"({"op":"sub","topic":"t","presence":"true"})", error::bad_field},
        {R"({"op":"pub","topic":"t","data":1,"ack":null})", error::bad_field},
        {R"({"op":"pub","topic":"t","data":1,"echo":0})", error::bad_field},
        {R"({"op":"error","code":65536})", error::bad_field},
        {R"({"op":"error","code":400,"message":4})", error::bad_field},
        {R"({"op":"join","topic":"t","who":["a"]})", error::bad_field},
        {R"({"op":"members","topic":"t","members":"a"})", error::bad_field},
        {R"({"op":"members","topic":"t","members":["a",1]})", error::bad_field},
        {R"({"op":"members","topic":"t","members":[["a"]]})", error::bad_field},
        {R"({"op":"ack","offset":1,"topic":5})", error::bad_field}, // checked even where unused
        // duplicate keys
        {R"({"op":"sub","op":"unsub","topic":"t"})", error::bad_field},
        {R"({"op":"sub","topic":"t","topic":"u"})", error::bad_field},
        {R"({"op":"pub","topic":"t","data":1,"data":2})", error::bad_field},
        {R"({"op":"sub","topic":"t","\u0074opic":"u"})", error::bad_field},
        // nesting
        {pub_with(deep65), error::too_deep},
        {R"({"op":"sub","topic":"t","x":)" + deep65 + "}", error::too_deep},
        {pub_with(std::string(10000, '[') + std::string(10000, ']')), error::too_deep},
        {pub_with(std::string(10000, '[')), error::too_deep}, // found before the missing ']'s
        {pub_with(std::string(60, '[')), error::malformed},
        {std::string(10000, '['), error::malformed},
        {std::string(10000, '[') + std::string(10000, ']'), error::malformed},
        {pub_with(std::string(5000, '{')), error::malformed},
    };
    for (auto const& v : vectors) {
        CAPTURE(printable(v.in));
        CHECK(decode_error(v.in) == v.expected);
    }
    // The limits themselves are accepted.
    CHECK_FALSE(decode_error(pub_with(deep64)));
    CHECK_FALSE(decode_error(R"({"op":"sub","topic":"t","history":4294967295,"id":18446744073709551615})"));
    CHECK_FALSE(decode_error(R"({"op":"error","code":65535})"));
    CHECK_FALSE(decode_error(pub_with(R"({"a":1,"a":[1,1]})"))); // duplicates inside data are data
}

TEST_CASE("json: a failed decode resets the envelope and leaves the codec usable", "[codec][json]")
{
    rtmsg::codec::json c;
    envelope e;
    REQUIRE_FALSE(decode(c, R"({"op":"members","topic":"t","members":["a","b"]})", e));
    CHECK(decode(c, R"({"op":"members","topic":"t","members":["a",1]})", e) == error::bad_field);
    CHECK(same(e, envelope{}));
    CHECK(decode(c, R"({"op":"pub","topic":"t","data":[1,2,}})", e) == error::malformed);
    REQUIRE_FALSE(decode(c, R"({"op":"sub","topic":"again"})", e));
    CHECK(e.topic == "again");
    CHECK(e.members.empty());
}

TEST_CASE("json: a decoded envelope can be encoded, repeatedly, while its views hold", "[codec][json]")
{
    rtmsg::codec::json c;
    std::string const in = R"({"op":"pub","topic":"room\u002e1","data":[1,{"k":"v"}],"id":9})";
    padded_buffer const padded(in, rtmsg::codec::json::padding);
    envelope e;
    REQUIRE_FALSE(c.decode(padded.view(), e));
    e.op = op::message;
    e.offset = 3;
    std::string a, b;
    REQUIRE_FALSE(c.encode(e, a)); // encode() validates the data with its own parser...
    REQUIRE_FALSE(c.encode(e, b)); // ...so the decoded views are still intact
    CHECK(a == R"({"op":"msg","topic":"room.1","data":[1,{"k":"v"}],"offset":3})");
    CHECK(b == a);
    CHECK(e.topic == "room.1");
}

TEST_CASE("json: encode checks json data, so the server never sends invalid JSON", "[codec][json]")
{
    rtmsg::codec::json c;
    envelope e;
    e.op = op::message;
    e.topic = "t";
    for (std::string_view bad : {"", " ", "[1,2,]", "{", "1,2", "1 2", "[1]]", "\"abc", "nul", "{\"a\":}", "01",
                                 "\"\\x\"", "[1]x", "\"\xFF\""}) {
        CAPTURE(printable(bad));
        e.data = bad;
        std::string out = "kept";
        CHECK(c.encode(e, out) == error::bad_field);
        CHECK(out == "kept");
        CHECK(c.validate(bad) == error::bad_field);
    }
    std::string const deep = std::string(64, '[') + std::string(64, ']');
    CHECK(c.validate(deep) == error::too_deep);
    CHECK_FALSE(c.validate(deep.substr(1, 126)));
    CHECK_FALSE(c.validate(" {\"a\":[1,\"x\",null]}\n"));
    CHECK_FALSE(c.validate("1e400"));

    // Opting out writes the data as given: for data already checked by a JSON decoder.
    rtmsg::codec::json trusting(rtmsg::codec::json::options{false});
    e.data = "[1,2]";
    std::string out;
    REQUIRE_FALSE(trusting.encode(e, out));
    CHECK(out == R"({"op":"msg","topic":"t","data":[1,2],"offset":0})");

    // Values that are not enumerators.
    envelope x = full_envelope(op::publish);
    x.kind = static_cast<data_kind>(7);
    CHECK(c.encode(x, out) == error::bad_field);
    x = full_envelope(op::publish);
    x.op = static_cast<op>(99);
    CHECK(c.encode(x, out) == error::bad_op);
}

TEST_CASE("json: random bytes and mutated messages never crash, and what is accepted re-encodes to valid JSON",
          "[codec][json]")
{
    std::vector<std::string> corpus;
    for (op o : all_ops)
        for (data_kind k : {data_kind::json, data_kind::text, data_kind::binary})
            corpus.push_back(encode(full_envelope(o, k)));
    corpus.push_back(
        R"({"op":"pub","topic":"chat","data":{"text":"hi","a":[1,-2.5e3,true,false,null,"\u00e9\n"]},"id":7,"ack":true})");
    corpus.push_back(R"({ "op" : "sub" , "topic" : "a.*.>" , "since" : 0 , "epoch" : "12" , "x" : [ {} , [] ] })");

    std::mt19937 rng(20240601); // fixed: failures reproduce
    rtmsg::codec::json c;
    simdjson::dom::parser dom;
    std::size_t accepted = 0, rejected = 0;
    std::uniform_int_distribution<std::size_t> pick(0, corpus.size() - 1);
    for (int i = 0; i < 6000; ++i) {
        std::string const in =
            i < 1000 ? random_bytes(rng, 64) : mutate(rng, corpus[pick(rng)], R"({}[]":,\ 0123456789.-+eEtrufalsn/u)");
        padded_buffer const padded(in, rtmsg::codec::json::padding);
        envelope e;
        std::error_code const ec = c.decode(padded.view(), e);
        if (ec) {
            ++rejected;
            if (!is_codec_error(ec)) FAIL("not a codec error: " << ec.message() << " for " << printable(in));
            continue;
        }
        ++accepted;
        CAPTURE(printable(in));
        // Forwarded data is the input's own bytes, and valid JSON by an independent parser.
        if (e.kind == data_kind::json && !e.data.empty()) {
            REQUIRE(e.data.data() >= padded.view().data());
            REQUIRE(e.data.data() + e.data.size() <= padded.view().data() + padded.view().size());
            auto const r = dom.parse(std::string(e.data));
            if (r.error() != simdjson::NUMBER_ERROR) // the DOM parser refuses numbers beyond double
                REQUIRE(r.error() == simdjson::SUCCESS);
        }
        std::string out;
        REQUIRE_FALSE(c.encode(e, out));
        REQUIRE(!dom.parse(out).error());
        rtmsg::codec::json c2;
        envelope again;
        REQUIRE_FALSE(decode(c2, out, again));
        REQUIRE(same(again, project(e)));
    }
    CHECK(accepted > 100); // the mutations reach the code behind the syntax checks
    CHECK(rejected > 1000);
}

TEST_CASE("json: the attested sender of a message, `from`", "[codec][json]")
{
    envelope m;
    m.op = op::message;
    m.topic = "t";
    m.data = "1";
    m.offset = 3;
    m.from = rtmsg::codec::origin::server;
    CHECK(encode(m) == R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"server":true}})");
    m.from = rtmsg::codec::origin::peer;
    m.from_id = "bob";
    CHECK(encode(m) == R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"id":"bob"}})");
    m.from_info = R"( "Bob" )";
    CHECK(encode(m) == R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"id":"bob","info": "Bob" }})");
    m.from_id = "";
    m.from_info = {};
    CHECK(encode(m) == R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"id":""}})"); // anonymous
    m.from = rtmsg::codec::origin::unknown;
    CHECK(encode(m) == R"({"op":"msg","topic":"t","data":1,"offset":3})");

    // Info that is not one JSON value never reaches a client.
    m.from = rtmsg::codec::origin::peer;
    m.from_info = R"({"name":)";
    rtmsg::codec::json c;
    std::string out;
    CHECK(c.encode(m, out) == error::bad_field);
    CHECK(out.empty());

    // Decoding (a client library's side).
    envelope e;
    REQUIRE_FALSE(decode(c, R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"server":true}})", e));
    CHECK(e.from == rtmsg::codec::origin::server);
    REQUIRE_FALSE(decode(
        c, R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"info":{"a":[1, 2]} ,"id":"x","extra":0}})", e));
    CHECK(e.from == rtmsg::codec::origin::peer);
    CHECK(e.from_id == "x");
    CHECK(e.from_info == R"({"a":[1, 2]})");
    REQUIRE_FALSE(decode(c, R"({"op":"msg","topic":"t","data":1,"offset":3})", e));
    CHECK(e.from == rtmsg::codec::origin::unknown);
    for (auto bad : {R"({"op":"msg","topic":"t","data":1,"offset":3,"from":"alice"})",
                     R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{}})",
                     R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"server":false}})",
                     R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"server":true,"id":"a"}})",
                     R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"id":"a","id":"b"}})",
                     R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"info":1}})",
                     R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"id":7}})"}) {
        CAPTURE(bad);
        CHECK(decode_error(bad) == error::bad_field);
    }
    CHECK(decode_error(R"({"op":"msg","topic":"t","data":1,"offset":3,"from":{"id":"a","info":[1,}})") ==
          error::malformed);

    // A client cannot name a sender: `from` in a publication is checked, then ignored.
    REQUIRE_FALSE(decode(c, R"({"op":"pub","topic":"t","data":1,"from":{"id":"bob"}})", e));
    CHECK(e.op == op::publish);
    CHECK(e.from == rtmsg::codec::origin::unknown);
    CHECK(e.from_id.empty());
}
