// Test that the header is self-contained.
#include <rtmsg/websocket/frame.hpp>

#include "websocket/support.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace websocket = rtmsg::websocket;
using rtmsg::role_type;
using websocket::error;
using websocket::message_reader;
using websocket::read_event;
using namespace ws_test;
using namespace std::string_literals;

/// One event the reader reported, with what belonged to it.
struct event {
    read_event kind;
    websocket::message_type type = websocket::message_type::text; ///< messages only
    std::string payload;                                          ///< message or control payload; close: reason
    std::uint16_t code = 0;                                       ///< close only

    bool operator==(event const&) const = default;
};

std::ostream& operator<<(std::ostream& os, event const& e)
{
    return os << "{event " << int(e.kind) << ", type " << int(e.type) << ", " << e.payload.size() << " bytes, code "
              << e.code << "}";
}

struct outcome {
    std::vector<event> events;
    std::error_code ec;
    std::size_t consumed = 0; ///< bytes consumed, including those of the failing call
};

/// Feeds `input` to `reader` `chunk` bytes at a time, the way a stream would, checking the
/// read() contract on every call, until the input ends or an error.
outcome feed(message_reader& reader, std::string input, std::size_t chunk)
{
    outcome out;
    std::string message;
    std::size_t offset = 0;
    while (offset < input.size()) {
        auto const end = offset + std::min(chunk, input.size() - offset);
        while (offset < end) {
            auto const r =
                reader.read(input.data() + offset, end - offset, [&](std::string_view s) { message.append(s); });
            REQUIRE(r.consumed <= end - offset);
            offset += r.consumed;
            out.consumed += r.consumed;
            if (r.ec) {
                out.ec = r.ec;
                return out;
            }
            switch (r.event) {
            case read_event::need_more: REQUIRE(offset == end); break; // "every byte was consumed"
            case read_event::message:
                CHECK(reader.message_size() == message.size());
                out.events.push_back({read_event::message, reader.type(), message, 0});
                message.clear();
                break;
            case read_event::ping:
            case read_event::pong: out.events.push_back({r.event, {}, std::string(reader.control_payload()), 0}); break;
            case read_event::close:
                out.events.push_back({read_event::close, {}, std::string(reader.close_reason()), reader.close_code()});
                break;
            }
        }
    }
    return out;
}

outcome feed(role_type role, std::string input, std::size_t chunk = std::string::npos,
             std::uint64_t max_message_size = 16u << 20)
{
    message_reader reader(role, max_message_size);
    return feed(reader, std::move(input), chunk);
}

event message(websocket::message_type t, std::string payload)
{
    return {read_event::message, t, std::move(payload), 0};
}
event text(std::string payload)
{
    return message(websocket::message_type::text, std::move(payload));
}
event binary(std::string payload)
{
    return message(websocket::message_type::binary, std::move(payload));
}
event ping(std::string payload)
{
    return {read_event::ping, {}, std::move(payload), 0};
}
event pong(std::string payload)
{
    return {read_event::pong, {}, std::move(payload), 0};
}
event close_event(std::uint16_t code, std::string reason = {})
{
    return {read_event::close, {}, std::move(reason), code};
}

std::string bytes(std::initializer_list<int> list)
{
    std::string s;
    for (int b : list) s += static_cast<char>(b);
    return s;
}

struct vector_case {
    char const* name;
    role_type role;
    std::string input;
    std::vector<event> expected;
};

/// RFC 6455 §5.7, byte for byte, plus the sizes that pick each length encoding.
std::vector<vector_case> const& rfc_vectors()
{
    static std::vector<vector_case> const v = [] {
        std::vector<vector_case> out;
        out.push_back({"single-frame unmasked text",
                       role_type::client,
                       bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}),
                       {text("Hello")}});
        out.push_back({"single-frame masked text",
                       role_type::server,
                       bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
                       {text("Hello")}});
        out.push_back({"fragmented unmasked text",
                       role_type::client,
                       bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}),
                       {text("Hello")}});
        out.push_back(
            {"unmasked ping", role_type::client, bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), {ping("Hello")}});
        out.push_back({"masked pong",
                       role_type::server,
                       bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58}),
                       {pong("Hello")}});
        auto const b256 = random_bytes(256, 256);
        out.push_back({"256 bytes binary, 16-bit length",
                       role_type::client,
                       bytes({0x82, 0x7E, 0x01, 0x00}) + b256,
                       {binary(b256)}});
        auto const b64k = random_bytes(65536, 65536);
        out.push_back({"64 KiB binary, 64-bit length",
                       role_type::client,
                       bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}) + b64k,
                       {binary(b64k)}});
        // The same, masked, in the server role: unmasking must continue across reads.
        out.push_back({"64 KiB binary, masked", role_type::server, client_frame(op_binary, b64k), {binary(b64k)}});
        return out;
    }();
    return v;
}

} // namespace

TEST_CASE("websocket: the reader decodes the RFC 6455 examples", "[websocket]")
{
    for (auto const& v : rfc_vectors()) {
        INFO(v.name);
        auto const out = feed(v.role, v.input);
        CHECK_FALSE(out.ec);
        CHECK(out.events == v.expected);
        CHECK(out.consumed == v.input.size());
    }
}

TEST_CASE("websocket: a message survives any split of the input", "[websocket]")
{
    auto const chunk = GENERATE(as<std::size_t>{}, 1, 2, 3, 7, 13, 125, 4096);
    INFO("chunk " << chunk);
    for (auto const& v : rfc_vectors()) {
        INFO(v.name);
        auto const out = feed(v.role, v.input, chunk);
        CHECK_FALSE(out.ec);
        CHECK(out.events == v.expected);
    }

    // A longer conversation in the server role: fragments with control frames between them,
    // a text character split across fragments, an empty message, all lengths, a close.
    std::string const big = random_bytes(70000, 7);
    std::string in = client_frame(op_text, "caf\xC3", false) + client_frame(op_ping, "p1") +
                     client_frame(op_cont, "\xA9 ", false) + client_frame(op_pong, "") +
                     client_frame(op_cont, "au lait") + client_frame(op_binary, "") +
                     client_frame(op_binary, big.substr(0, 200), false) + client_frame(op_cont, "", false) +
                     client_frame(op_cont, big.substr(200)) + client_frame(op_text, random_text(126, 3)) +
                     client_frame(op_close, close_payload(1000, "bye"));
    std::vector<event> const expected{ping("p1"),
                                      pong(""),
                                      text("caf\xC3\xA9 au lait"),
                                      binary(""),
                                      binary(big),
                                      text(random_text(126, 3)),
                                      close_event(1000, "bye")};
    auto const out = feed(role_type::server, in, chunk);
    CHECK_FALSE(out.ec);
    CHECK(out.events == expected);
    CHECK(out.consumed == in.size());
}

TEST_CASE("websocket: the reader unmasks payload bytes in place", "[websocket]")
{
    auto in = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    message_reader reader(role_type::server);
    std::string got;
    auto const r = reader.read(in.data(), in.size(), [&](std::string_view s) {
        // The sink sees a view into the caller's buffer.
        CHECK(s.data() >= in.data());
        CHECK(s.data() + s.size() <= in.data() + in.size());
        got.append(s);
    });
    CHECK_FALSE(r.ec);
    CHECK(r.event == read_event::message);
    CHECK(got == "Hello");
    CHECK(in.substr(6) == "Hello");
}

TEST_CASE("websocket: the reader stops after each event and reports its state", "[websocket]")
{
    auto in = client_frame(op_text, "ab", false) + client_frame(op_ping, "x") + client_frame(op_cont, "cd");
    message_reader reader(role_type::server);
    std::string got;
    auto sink = [&](std::string_view s) { got.append(s); };
    std::size_t pos = 0;

    auto r = reader.read(in.data(), 3, sink); // inside the first header
    CHECK(r.event == read_event::need_more);
    CHECK(r.consumed == 3);
    CHECK(reader.mid_frame());
    CHECK_FALSE(reader.in_message());
    pos += r.consumed;

    r = reader.read(in.data() + pos, in.size() - pos, sink);
    CHECK_FALSE(r.ec);
    CHECK(r.event == read_event::ping);
    CHECK(reader.control_payload() == "x");
    CHECK(reader.in_message());
    CHECK(reader.partial_size() == 2);
    CHECK_FALSE(reader.mid_frame());
    CHECK(got == "ab");
    pos += r.consumed;
    CHECK(pos == 8 + 7); // both frames, and not a byte of the third

    r = reader.read(in.data() + pos, in.size() - pos, sink);
    CHECK_FALSE(r.ec);
    CHECK(r.event == read_event::message);
    CHECK(r.consumed == in.size() - pos);
    CHECK(reader.type() == websocket::message_type::text);
    CHECK(reader.message_size() == 4);
    CHECK_FALSE(reader.in_message());
    CHECK(got == "abcd");
}

namespace {

struct error_case {
    char const* name;
    role_type role;
    std::string input;
    error expected;
};

frame_options opts(std::function<void(frame_options&)> f)
{
    frame_options o;
    f(o);
    return o;
}

std::vector<error_case> error_cases()
{
    std::vector<error_case> v;
    auto const S = role_type::server;
    auto const C = role_type::client;
    v.push_back({"RSV1", S, make_frame(op_text, "a", opts([](auto& o) { o.rsv1 = true; })), error::bad_reserved_bits});
    v.push_back({"RSV2", S, make_frame(op_text, "a", opts([](auto& o) { o.rsv2 = true; })), error::bad_reserved_bits});
    v.push_back({"RSV3", S, make_frame(op_text, "a", opts([](auto& o) { o.rsv3 = true; })), error::bad_reserved_bits});
    v.push_back(
        {"RSV1 on a ping", S, make_frame(op_ping, "", opts([](auto& o) { o.rsv1 = true; })), error::bad_reserved_bits});
    v.push_back({"unmasked client frame", S, server_frame(op_text, "a"), error::unmasked_frame});
    v.push_back({"masked server frame", C, client_frame(op_text, "a"), error::masked_frame});
    v.push_back({"64-bit length with the top bit set", S,
                 make_frame(op_binary, "", opts([](auto& o) { o.declared_length = std::uint64_t(1) << 63; })),
                 error::bad_length});
    v.push_back({"64-bit length of all ones", C, make_frame(op_binary, "", opts([](auto& o) {
                                                                o.masked = false;
                                                                o.declared_length = ~std::uint64_t(0);
                                                            })),
                 error::bad_length});
    v.push_back({"16-bit form for 125 bytes", S, make_frame(op_binary, std::string(125, 'x'), opts([](auto& o) {
                                                                o.form = frame_options::length_form::len16;
                                                            })),
                 error::non_minimal_length});
    v.push_back({"16-bit form for 0 bytes", S,
                 make_frame(op_binary, "", opts([](auto& o) { o.form = frame_options::length_form::len16; })),
                 error::non_minimal_length});
    v.push_back({"64-bit form for 65535 bytes", S, make_frame(op_binary, std::string(65535, 'x'), opts([](auto& o) {
                                                                  o.form = frame_options::length_form::len64;
                                                              })),
                 error::non_minimal_length});
    v.push_back({"64-bit form for 126 bytes", S, make_frame(op_binary, std::string(126, 'x'), opts([](auto& o) {
                                                                o.form = frame_options::length_form::len64;
                                                            })),
                 error::non_minimal_length});
    v.push_back({"fragmented ping", S, client_frame(op_ping, "a", false), error::fragmented_control});
    v.push_back({"fragmented close", S, client_frame(op_close, "", false), error::fragmented_control});
    v.push_back({"ping of 126 bytes", S, client_frame(op_ping, std::string(126, 'x')), error::control_too_big});
    v.push_back({"close of 126 bytes", S, client_frame(op_close, close_payload(1000, std::string(124, 'x'))),
                 error::control_too_big});
    v.push_back({"continuation without a start", S, client_frame(op_cont, "a"), error::bad_continuation});
    v.push_back({"continuation after a complete message", S, client_frame(op_text, "a") + client_frame(op_cont, "b"),
                 error::bad_continuation});
    v.push_back({"text inside a fragmented message", S, client_frame(op_text, "a", false) + client_frame(op_text, "b"),
                 error::expected_continuation});
    v.push_back({"binary inside a fragmented message", S,
                 client_frame(op_binary, "a", false) + client_frame(op_ping, "") + client_frame(op_binary, "b"),
                 error::expected_continuation});
    v.push_back({"close payload of one byte", S, client_frame(op_close, "\x03"), error::bad_close_size});
    v.push_back({"close reason not UTF-8", S, client_frame(op_close, close_payload(1000, "ok\xC3(")), error::bad_utf8});
    v.push_back({"close reason ends inside a character", S, client_frame(op_close, close_payload(1000, "ok\xE2\x82")),
                 error::bad_utf8});
    v.push_back({"text not UTF-8", S, client_frame(op_text, "a\xFF"), error::bad_utf8});
    v.push_back({"text ends inside a character", S, client_frame(op_text, "\xE2\x82"), error::bad_utf8});
    v.push_back({"fragmented text ends inside a character", S,
                 client_frame(op_text, "a", false) + client_frame(op_cont, "\xF0\x9F\x98"), error::bad_utf8});
    for (std::uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
        v.push_back({"reserved opcode", S, client_frame(op, ""), error::bad_opcode});
        v.push_back({"reserved opcode (client role)", C, server_frame(op, "abc"), error::bad_opcode});
    }
    return v;
}

} // namespace

TEST_CASE("websocket: each framing rule fails with its own error, in any split", "[websocket]")
{
    auto const chunk = GENERATE(as<std::size_t>{}, 1, 2, 7, 4096);
    for (auto const& c : error_cases()) {
        INFO(c.name << ", input " << c.input.size() << " bytes, chunk " << chunk);
        auto const out = feed(c.role, c.input, chunk);
        CHECK(out.ec == c.expected);
        CHECK(out.ec == websocket::condition::protocol_violation);
    }
}

TEST_CASE("websocket: reserved opcodes 3-7 and 11-15 are refused", "[websocket]")
{
    for (int op = 0; op < 16; ++op) {
        INFO("opcode " << op);
        auto const out = feed(role_type::server, client_frame(static_cast<std::uint8_t>(op), "", true));
        bool const reserved = (op >= 3 && op <= 7) || op >= 11;
        if (reserved)
            CHECK(out.ec == error::bad_opcode);
        else
            CHECK(out.ec != error::bad_opcode);
    }
}

TEST_CASE("websocket: header errors are reported before the rest of the frame arrives", "[websocket]")
{
    SECTION("bits of the first two bytes fail after two bytes")
    {
        for (auto in : {make_frame(op_text, "abc", opts([](auto& o) { o.rsv2 = true; })), client_frame(9, "abc", false),
                        server_frame(op_text, "abc"), client_frame(5, "abc")}) {
            message_reader reader(role_type::server);
            auto const r = reader.read(in.data(), 2, [](std::string_view) {});
            CHECK(r.ec);
            CHECK(r.consumed == 2);
        }
    }
    SECTION("a too-long control frame fails after two bytes")
    {
        auto in = client_frame(op_ping, std::string(200, 'x'));
        message_reader reader(role_type::server);
        auto const r = reader.read(in.data(), 2, [](std::string_view) {});
        CHECK(r.ec == error::control_too_big);
    }
    SECTION("a length error fails at the end of the header, with no payload")
    {
        auto in = make_frame(op_binary, "", opts([](auto& o) {
                                 o.declared_length = 100;
                                 o.form = frame_options::length_form::len64;
                             }));
        message_reader reader(role_type::server);
        auto const r = reader.read(in.data(), in.size(), [](std::string_view) {});
        CHECK(r.ec == error::non_minimal_length);
        CHECK(r.consumed == 14);
    }
}

TEST_CASE("websocket: control frames may arrive between the fragments of a message", "[websocket]")
{
    auto const in = client_frame(op_binary, "one ", false) + client_frame(op_ping, "a") +
                    client_frame(op_cont, "two ", false) + client_frame(op_pong, "b") + client_frame(op_ping, "c") +
                    client_frame(op_cont, "three");
    auto const out = feed(role_type::server, in);
    CHECK_FALSE(out.ec);
    CHECK(out.events == std::vector<event>{ping("a"), pong("b"), ping("c"), binary("one two three")});
}

TEST_CASE("websocket: a message over the maximum fails at the header that exceeds it", "[websocket]")
{
    message_reader reader(role_type::server, 100);
    std::string sink;
    SECTION("within one frame: exactly the maximum is fine")
    {
        auto in = client_frame(op_binary, std::string(100, 'x'));
        auto const out = feed(reader, in, 7);
        CHECK_FALSE(out.ec);
        CHECK(out.events == std::vector<event>{binary(std::string(100, 'x'))});
    }
    SECTION("within one frame: one byte more fails before the payload")
    {
        auto in = client_frame(op_binary, std::string(101, 'x'));
        auto const r = reader.read(in.data(), 2 + 4, [&](std::string_view s) { sink.append(s); });
        CHECK(r.ec == error::message_too_big);
        CHECK(r.consumed == 6);
        CHECK(sink.empty());
    }
    SECTION("across fragments: the second header fails, with its payload never read")
    {
        auto const first = client_frame(op_text, std::string(60, 'a'), false);
        auto const second = client_frame(op_cont, std::string(41, 'b'));
        auto in = first + client_frame(op_ping, "") + second;
        auto const header_end = in.size() - 41;
        auto const out = feed(reader, in.substr(0, header_end), 1);
        CHECK(out.ec == error::message_too_big);
        CHECK(out.consumed == header_end);
    }
    SECTION("across fragments: the sum may reach the maximum exactly")
    {
        auto in = client_frame(op_text, std::string(60, 'a'), false) + client_frame(op_cont, std::string(40, 'b'));
        auto const out = feed(reader, in, 13);
        CHECK_FALSE(out.ec);
        CHECK(out.events == std::vector<event>{text(std::string(60, 'a') + std::string(40, 'b'))});
    }
    SECTION("the count starts again with each message")
    {
        auto in = client_frame(op_text, std::string(80, 'a')) + client_frame(op_text, std::string(80, 'b'), false) +
                  client_frame(op_cont, std::string(20, 'c'));
        auto const out = feed(reader, in, 4096);
        CHECK_FALSE(out.ec);
        CHECK(out.events.size() == 2);
    }
}

TEST_CASE("websocket: close frames carry only codes a peer may send", "[websocket]")
{
    SECTION("invalid codes")
    {
        auto const code = GENERATE(as<std::uint16_t>{}, 0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100,
                                   2000, 2999, 5000, 65535);
        INFO("code " << code);
        CHECK_FALSE(websocket::is_valid_close_code(code));
        auto const out = feed(role_type::server, client_frame(op_close, close_payload(code, "r")));
        CHECK(out.ec == error::bad_close_code);
        CHECK(out.events.empty());
    }
    SECTION("valid codes")
    {
        auto const code =
            GENERATE(as<std::uint16_t>{}, 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999);
        INFO("code " << code);
        CHECK(websocket::is_valid_close_code(code));
        auto const out = feed(role_type::server, client_frame(op_close, close_payload(code, "r\xC3\xA9")), 1);
        CHECK_FALSE(out.ec);
        CHECK(out.events == std::vector<event>{close_event(code, "r\xC3\xA9")});
    }
    SECTION("an empty close has no code")
    {
        auto const out = feed(role_type::client, server_frame(op_close, ""));
        CHECK_FALSE(out.ec);
        CHECK(out.events == std::vector<event>{close_event(websocket::close_code::no_status)});
    }
    SECTION("a code alone, or a reason of 123 bytes, is fine")
    {
        auto const out =
            feed(role_type::server, client_frame(op_close, close_payload(1001)) +
                                        client_frame(op_close, close_payload(4000, std::string(123, 'r'))));
        CHECK_FALSE(out.ec);
        CHECK(out.events == std::vector<event>{close_event(1001), close_event(4000, std::string(123, 'r'))});
    }
}

TEST_CASE("websocket: each read error maps to its close code and condition", "[websocket]")
{
    using websocket::close_code_for;
    CHECK(close_code_for(error::bad_utf8) == 1007);
    CHECK(close_code_for(error::message_too_big) == 1009);
    for (auto e :
         {error::bad_opcode, error::bad_reserved_bits, error::bad_length, error::non_minimal_length,
          error::unmasked_frame, error::masked_frame, error::fragmented_control, error::control_too_big,
          error::bad_continuation, error::expected_continuation, error::bad_close_code, error::bad_close_size}) {
        INFO(make_error_code(e).message());
        CHECK(close_code_for(e) == 1002);
        CHECK(make_error_code(e) == websocket::condition::protocol_violation);
        CHECK(make_error_code(e) != websocket::condition::handshake_failed);
    }
    for (auto e : {error::closed, error::bad_method, error::bad_key, error::bad_version, error::closing}) {
        INFO(make_error_code(e).message());
        CHECK(close_code_for(e) == 0);
        CHECK(make_error_code(e) != websocket::condition::protocol_violation);
    }
    for (auto e : {error::bad_method, error::bad_http_version, error::no_upgrade, error::no_connection_upgrade,
                   error::no_host, error::bad_key, error::bad_version, error::origin_refused, error::bad_accept})
        CHECK(make_error_code(e) == websocket::condition::handshake_failed);
    CHECK(std::string(make_error_code(error::bad_utf8).category().name()) == "rtmsg.websocket");
    CHECK(std::error_code(std::make_error_code(std::errc::io_error)) != websocket::condition::protocol_violation);
}

TEST_CASE("websocket: written headers use the shortest length and read back", "[websocket]")
{
    auto const length = GENERATE(as<std::uint64_t>{}, 0, 1, 125, 126, 65535, 65536, std::uint64_t(1) << 32);
    auto const masked = GENERATE(false, true);
    auto const op = GENERATE(websocket::opcode::text, websocket::opcode::binary, websocket::opcode::cont);
    auto const fin = GENERATE(true, false);
    INFO("length " << length << (masked ? " masked" : "") << " opcode " << int(op) << " fin " << fin);

    std::array<char, websocket::max_header_size + 1> out{};
    out.back() = '\x5A'; // a guard: nothing is written past the header
    std::uint32_t const key = 0xA1B2C3D4;
    auto const n = websocket::write_frame_header(out.data(), op, fin, length, masked ? &key : nullptr);
    std::size_t const expected = (length < 126 ? 2 : length < 65536 ? 4 : 10) + (masked ? 4 : 0);
    REQUIRE(n == expected);
    CHECK(out.back() == '\x5A');

    // Our own parser reads the same fields back (with an empty payload standing in).
    std::string header(out.data(), n);
    auto const p = parse_frames(header + std::string(length <= 200 ? length : 0, 'x'));
    if (length <= 200) {
        REQUIRE(p.frames.size() == 1);
        CHECK(p.frames[0].payload.size() == length);
        CHECK(p.frames[0].fin == fin);
        CHECK(p.frames[0].opcode == static_cast<std::uint8_t>(op));
        CHECK(p.frames[0].masked == masked);
        CHECK(p.frames[0].rsv == 0);
    }
    if (masked) {
        std::uint32_t got;
        std::memcpy(&got, out.data() + n - 4, 4);
        CHECK(got == key);
    }

    // And so does the reader, which would reject a non-minimal or malformed length.
    message_reader reader(masked ? role_type::server : role_type::client, ~std::uint64_t(0) >> 1);
    if (op == websocket::opcode::cont) {
        // A continuation needs a message in progress.
        auto start = masked ? client_frame(op_binary, "s", false) : server_frame(op_binary, "s", false);
        auto const r0 = reader.read(start.data(), start.size(), [](std::string_view) {});
        REQUIRE_FALSE(r0.ec);
    }
    std::string sunk;
    auto const r = reader.read(header.data(), header.size(), [&](std::string_view s) { sunk.append(s); });
    CHECK_FALSE(r.ec);
    CHECK(r.consumed == n);
    std::uint64_t const before = op == websocket::opcode::cont ? 1 : 0;
    if (length == 0 && fin) {
        CHECK(r.event == read_event::message);
        CHECK(reader.message_size() == before);
    }
    else {
        CHECK(r.event == read_event::need_more);
        CHECK(reader.partial_size() == before + length);
        CHECK(reader.mid_frame() == (length != 0));
    }
}

TEST_CASE("websocket: mask_bytes matches a byte-by-byte XOR at every offset and size", "[websocket]")
{
    std::mt19937 gen(42);
    for (std::size_t align = 0; align < 8; align += 3) {
        for (std::size_t offset = 0; offset < 8; ++offset) {
            for (std::size_t size = 0; size <= 100; ++size) {
                std::array<std::uint8_t, 4> key;
                for (auto& k : key) k = static_cast<std::uint8_t>(gen());
                auto const data = random_bytes(size, static_cast<std::uint32_t>(gen()));
                std::string buf = "GUARD!!!" + data + "GUARD";
                std::string expected = data;
                for (std::size_t i = 0; i < size; ++i)
                    expected[i] = static_cast<char>(static_cast<std::uint8_t>(data[i]) ^ key[(offset + i) % 4]);
                // Start at varying alignments.
                std::string shifted = std::string(align, '-') + buf;
                websocket::mask_bytes(shifted.data() + align + 8, size, key, offset);
                INFO("align " << align << " offset " << offset << " size " << size);
                REQUIRE(shifted.substr(align + 8, size) == expected);
                REQUIRE(shifted.substr(0, align + 8) == std::string(align, '-') + "GUARD!!!");
                REQUIRE(shifted.substr(align + 8 + size) == "GUARD");
            }
        }
    }
}

TEST_CASE("websocket: masking in pieces equals masking at once", "[websocket]")
{
    std::array<std::uint8_t, 4> const key{0x01, 0x80, 0xFE, 0x7F};
    auto const data = random_bytes(300, 9);
    std::string whole = data;
    websocket::mask_bytes(whole.data(), whole.size(), key, 0);
    for (std::size_t cut = 0; cut <= data.size(); ++cut) {
        std::string pieces = data;
        websocket::mask_bytes(pieces.data(), cut, key, 0);
        websocket::mask_bytes(pieces.data() + cut, pieces.size() - cut, key, cut);
        INFO("cut " << cut);
        REQUIRE(pieces == whole);
    }
    // Masking twice restores the input.
    websocket::mask_bytes(whole.data(), whole.size(), key, 0);
    CHECK(whole == data);
}

TEST_CASE("websocket: a control payload that arrives whole is read in place, a split one is gathered", "[websocket]")
{
    auto const sink = [](std::string_view) {};
    std::string const frame = client_frame(op_ping, "hello there");
    SECTION("whole: no copy, the payload is where read() unmasked it")
    {
        message_reader r(role_type::server);
        std::string in = frame;
        auto const res = r.read(in.data(), in.size(), sink);
        REQUIRE(res.event == read_event::ping);
        CHECK(res.consumed == in.size());
        CHECK(r.control_payload() == "hello there");
        CHECK(r.control_payload().data() >= in.data());
        CHECK(r.control_payload().data() + r.control_payload().size() == in.data() + in.size());
    }
    SECTION("split: gathered, and intact after the pieces are gone")
    {
        message_reader r(role_type::server);
        std::size_t const cut = GENERATE(as<std::size_t>{}, 7, 12, 16); // the header is 6 bytes
        INFO("cut " << cut);
        std::string first = frame.substr(0, cut);
        auto res = r.read(first.data(), first.size(), sink);
        CHECK(res.event == read_event::need_more);
        std::fill(first.begin(), first.end(), 'x'); // the caller reuses its buffer
        std::string second = frame.substr(cut);
        res = r.read(second.data(), second.size(), sink);
        REQUIRE(res.event == read_event::ping);
        std::fill(second.begin(), second.end(), 'y');
        CHECK(r.control_payload() == "hello there");
        // A close reason split the same way.
        std::string const close = client_frame(op_close, close_payload(4001, "split reason"));
        std::string a = close.substr(0, 9), b = close.substr(9);
        CHECK(r.read(a.data(), a.size(), sink).event == read_event::need_more);
        std::fill(a.begin(), a.end(), 'x');
        REQUIRE(r.read(b.data(), b.size(), sink).event == read_event::close);
        CHECK(r.close_code() == 4001);
        CHECK(r.close_reason() == "split reason");
    }
}
