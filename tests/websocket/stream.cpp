// Test that the header is self-contained.
#include <rtmsg/websocket/stream.hpp>
#include <rtmsg/test/stream.hpp>
#include <rtmsg/transport/ticker.hpp>

#include "websocket/support.hpp"

#include <catch2/catch.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>
#if defined(ASIO_HAS_CO_AWAIT)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace websocket = rtmsg::websocket;
using websocket::error;
using websocket::message_type;
using namespace ws_test;
using namespace std::chrono_literals;

/// Options with the keepalive off, so that io_context::run() returns when the test is done.
websocket::options quiet()
{
    websocket::options o;
    o.ping_interval = {};
    o.idle_timeout = {};
    return o;
}

/// The outcome of one async operation.
struct completion {
    bool done = false;
    std::error_code ec;
    std::size_t n = 0;
};

/// A websocket::stream (server role) over one end of a test pair; the test plays the client
/// on the other end with raw bytes.
struct peer {
    explicit peer(websocket::options const& o = quiet()) { ws.set_options(o); }

    asio::io_context ioc;
    std::pair<rtmsg::test::stream, rtmsg::test::stream> ends{rtmsg::test::make_pair(ioc.get_executor())};
    rtmsg::test::stream& client = ends.first;
    websocket::stream<rtmsg::test::stream> ws{std::move(ends.second)};
    std::string buf; ///< where reads put messages
    asio::dynamic_string_buffer<char, std::char_traits<char>, std::allocator<char>> dyn = asio::dynamic_buffer(buf);

    /// Bytes from the client, as if it had written them.
    void from_client(std::string_view bytes) { ws.next_layer().append(bytes); }

    /// Frames the server has written since the last call; there must be no partial frame.
    std::vector<parsed_frame> frames()
    {
        auto p = parse_frames(client.take_input());
        CHECK(p.rest.empty());
        return std::move(p.frames);
    }

    /// Accepts the RFC's upgrade request and consumes the 101 response.
    void accept(std::string_view subprotocol = {})
    {
        completion c;
        ws.async_accept(upgrade_request(), subprotocol, [&](std::error_code ec) {
            c.done = true;
            c.ec = ec;
        });
        run_ready(ioc); // not run(): with keepalive on, the timers would keep it busy
        REQUIRE(c.done);
        REQUIRE_FALSE(c.ec);
        std::string in = client.take_input();
        auto res = take_response(in);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        REQUIRE(in.empty());
    }

    /// Starts a read into `buf`; `c` records its completion.
    void read(completion& c)
    {
        ws.async_read(dyn, [&c](std::error_code ec, std::size_t n) {
            c.done = true;
            c.ec = ec;
            c.n = n;
        });
    }
};

std::string accept_and_take(peer& p, rtmsg::http::request const& req, completion& c, std::string_view subprotocol = {})
{
    p.ws.async_accept(req, subprotocol, [&](std::error_code ec) {
        c.done = true;
        c.ec = ec;
    });
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(c.done);
    return p.client.take_input();
}

} // namespace

// ---- opening handshake ------------------------------------------------------------------------

TEST_CASE("websocket: the accept key of the RFC example is the RFC's", "[websocket]")
{
    CHECK(websocket::accept_key(rfc_key) == rfc_accept);
    CHECK(websocket::accept_key("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    CHECK_FALSE(websocket::check_request(upgrade_request()));
}

TEST_CASE("websocket: a valid upgrade is answered with 101 and the accept key", "[websocket]")
{
    auto const subprotocol = GENERATE(std::string(), std::string("chat"));
    peer p;
    auto req = upgrade_request();
    req.headers.add("Sec-WebSocket-Protocol", "superchat, chat");
    completion c;
    std::string out = accept_and_take(p, req, c, subprotocol);
    CHECK_FALSE(c.ec);
    CHECK(p.ws.is_open());
    auto res = take_response(out);
    REQUIRE(res);
    CHECK(out.empty()); // nothing after the response
    CHECK(res->status == 101);
    CHECK(res->field("Sec-WebSocket-Accept") == std::string(rfc_accept));
    CHECK(res->field("Upgrade") == std::string("websocket"));
    CHECK(res->field("Connection") == std::string("Upgrade"));
    CHECK_FALSE(res->field("Content-Length"));
    if (subprotocol.empty())
        CHECK_FALSE(res->field("Sec-WebSocket-Protocol"));
    else
        CHECK(res->field("Sec-WebSocket-Protocol") == subprotocol);
}

TEST_CASE("websocket: a bad upgrade is refused with the right status", "[websocket]")
{
    struct refusal {
        char const* name;
        std::function<void(rtmsg::http::request&)> spoil;
        error expected;
        int status;
    };
    std::vector<refusal> const cases{
        {"no key", [](auto& r) { r.headers.erase("Sec-WebSocket-Key"); }, error::bad_key, 400},
        {"key of 10 bytes", [](auto& r) { r.headers.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZQ=="); }, error::bad_key,
         400},
        {"key of 17 bytes", [](auto& r) { r.headers.set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZSE="); },
         error::bad_key, 400},
        {"key not base64", [](auto& r) { r.headers.set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!!!"); },
         error::bad_key, 400},
        {"two keys", [](auto& r) { r.headers.add("Sec-WebSocket-Key", std::string(rfc_key)); }, error::bad_key, 400},
        {"version 8", [](auto& r) { r.headers.set("Sec-WebSocket-Version", "8"); }, error::bad_version, 426},
        {"no version", [](auto& r) { r.headers.erase("Sec-WebSocket-Version"); }, error::bad_version, 426},
        {"POST", [](auto& r) { r.method = "POST"; }, error::bad_method, 405},
        {"no Upgrade", [](auto& r) { r.headers.erase("Upgrade"); }, error::no_upgrade, 400},
        {"Upgrade: h2c", [](auto& r) { r.headers.set("Upgrade", "h2c"); }, error::no_upgrade, 400},
        {"Connection: keep-alive", [](auto& r) { r.headers.set("Connection", "keep-alive"); },
         error::no_connection_upgrade, 400},
        {"no Host", [](auto& r) { r.headers.erase("Host"); }, error::no_host, 400},
        {"HTTP/1.0", [](auto& r) { r.version = 10; }, error::bad_http_version, 400},
    };
    for (auto const& k : cases) {
        INFO(k.name);
        peer p;
        auto req = upgrade_request();
        k.spoil(req);
        CHECK(websocket::check_request(req) == k.expected);
        completion c;
        std::string out = accept_and_take(p, req, c);
        CHECK(c.ec == k.expected);
        CHECK(c.ec == websocket::condition::handshake_failed);
        CHECK_FALSE(p.ws.is_open());
        auto res = take_response(out);
        REQUIRE(res);
        CHECK(out.empty());
        CHECK(res->status == k.status);
        CHECK(res->field("Connection") == std::string("close"));
        CHECK_FALSE(res->field("Sec-WebSocket-Accept"));
        if (k.status == 426) CHECK(res->field("Sec-WebSocket-Version") == std::string("13"));
        if (k.status == 405) CHECK(res->field("Allow") == std::string("GET"));

        // Nothing more can be read on a refused connection.
        completion r;
        p.read(r);
        REQUIRE(run_until_idle(p.ioc));
        CHECK(r.done);
        CHECK(r.ec);
    }
}

// ---- messages ----------------------------------------------------------------------------------

TEST_CASE("websocket: a message echoes intact with any read size", "[websocket]")
{
    auto const read_size = GENERATE(as<std::size_t>{}, 1, 2, 13, 125, 65536);
    auto const size = GENERATE(as<std::size_t>{}, 0, 125, 126, 70000);
    auto const type = GENERATE(message_type::text, message_type::binary);
    INFO("read size " << read_size << ", payload " << size << ", type " << int(type));

    peer p;
    p.accept();
    p.ws.next_layer().read_size(read_size);
    auto const payload = type == message_type::text ? random_text(size, 5) : random_bytes(size, 5);
    p.from_client(client_frame(static_cast<std::uint8_t>(type), payload));

    completion r, w;
    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t n) {
        r = {true, ec, n};
        if (ec) return;
        p.ws.async_write(p.ws.got_type(), asio::buffer(p.buf), [&](std::error_code ec, std::size_t n) {
            w = {true, ec, n};
        });
    });
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r.done);
    REQUIRE_FALSE(r.ec);
    CHECK(r.n == size);
    CHECK(p.buf == payload);
    CHECK(p.ws.got_type() == type);
    REQUIRE(w.done);
    CHECK_FALSE(w.ec);
    CHECK(w.n == size);

    auto const frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].fin);
    CHECK(frames[0].rsv == 0);
    CHECK_FALSE(frames[0].masked);
    CHECK(frames[0].opcode == static_cast<std::uint8_t>(type));
    CHECK(frames[0].header_size == (size < 126 ? 2u : size < 65536 ? 4u : 10u));
    CHECK(frames[0].payload == payload);
    CHECK(p.ws.queued_bytes() == 0);
}

TEST_CASE("websocket: a fragmented message is reassembled and pings between fragments are answered", "[websocket]")
{
    auto const read_size = GENERATE(as<std::size_t>{}, 1, 3, 65536);
    peer p;
    p.accept();
    p.ws.next_layer().read_size(read_size);
    p.from_client(client_frame(op_text, "Hel", false) + client_frame(op_ping, "are you there?") +
                  client_frame(op_cont, "", false) + client_frame(op_pong, "unsolicited") +
                  client_frame(op_cont, "lo \xE2\x82", false) + client_frame(op_ping, "") +
                  client_frame(op_cont, "\xAC"));
    completion r;
    p.read(r);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r.done);
    CHECK_FALSE(r.ec);
    CHECK(p.buf == "Hello \xE2\x82\xAC");
    CHECK(r.n == p.buf.size());
    CHECK(p.ws.got_text());

    auto const frames = p.frames();
    REQUIRE(frames.size() == 2); // a pong for each ping, none for the pong
    CHECK(frames[0].opcode == op_pong);
    CHECK(frames[0].payload == "are you there?");
    CHECK(frames[1].opcode == op_pong);
    CHECK(frames[1].payload.empty());
}

TEST_CASE("websocket: messages that arrive together are read one per call", "[websocket]")
{
    peer p;
    p.accept();
    p.from_client(client_frame(op_text, "first") + client_frame(op_binary, "second") + client_frame(op_text, "third"));
    std::vector<std::pair<message_type, std::string>> got;
    std::function<void()> next = [&] {
        p.buf.clear();
        p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
            if (ec) return;
            got.emplace_back(p.ws.got_type(), p.buf);
            if (got.size() < 3) next();
        });
    };
    next();
    REQUIRE(run_until_idle(p.ioc));
    CHECK(got == std::vector<std::pair<message_type, std::string>>{
                     {message_type::text, "first"}, {message_type::binary, "second"}, {message_type::text, "third"}});
}

TEST_CASE("websocket: read_buffered hands out the rest of a read at once, then async_read reports the close",
          "[websocket]")
{
    peer p;
    p.accept();
    // Three messages, a ping between them, a close, and a message after the close (ignored).
    p.from_client(client_frame(op_text, "first") + client_frame(op_binary, "second") + client_frame(op_ping, "p") +
                  client_frame(op_text, "third") + client_frame(op_close, close_payload(1000, "done")) +
                  client_frame(op_text, "late"));
    // As a server's read loop does: on the read's completion, on the stream's executor.
    std::vector<std::pair<message_type, std::string>> got;
    std::size_t n = 0;
    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        got.emplace_back(p.ws.got_type(), p.buf);
        p.buf.clear();
        n = p.ws.read_buffered(p.dyn, [&](std::size_t bytes) {
            CHECK(bytes == p.buf.size());
            got.emplace_back(p.ws.got_type(), p.buf);
            p.ws.send(message_type::text, "re:" + p.buf);
            p.buf.clear();
            return true;
        });
    });
    REQUIRE(run_until_idle(p.ioc));
    CHECK(n == 2);
    CHECK(got == std::vector<std::pair<message_type, std::string>>{
                     {message_type::text, "first"}, {message_type::binary, "second"}, {message_type::text, "third"}});
    CHECK(p.ws.read_buffered(p.dyn, [](std::size_t) { return true; }) == 0); // the close waits for async_read
    completion last;
    p.read(last);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(last.done);
    CHECK(last.ec == error::closed);
    CHECK(p.ws.close_code() == 1000);
    auto const frames = p.frames();
    REQUIRE(frames.size() == 4); // in the order of the input: reply, pong, reply, the close echoed
    CHECK(frames[0].payload == "re:second");
    CHECK(frames[1].opcode == op_pong);
    CHECK(frames[1].payload == "p");
    CHECK(frames[2].payload == "re:third");
    CHECK(frames[3].opcode == op_close);
    CHECK(frames[3].close_code() == 1000);
}

TEST_CASE("websocket: the messages of one read share a batch whose deferred work runs once they are all handled",
          "[websocket]")
{
    peer p;
    p.accept();
    p.from_client(client_frame(op_text, "first") + client_frame(op_text, "second") + client_frame(op_text, "third"));
    std::vector<std::string> log;
    auto const on = [&](std::string const& what) {
        auto* const b = p.ws.batch();
        if (what == "first" || what == "second") {
            REQUIRE(b != nullptr); // more of this read follows
            CHECK(b->more());
        }
        if (what == "third") {
            REQUIRE(b != nullptr); // the last one: no more, but work deferred by the others waits
            CHECK_FALSE(b->more());
        }
        log.push_back(what);
        if (b) b->defer([&log, what] { log.push_back("deferred:" + what); });
    };
    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        on(p.buf);
        p.buf.clear();
        p.ws.read_buffered(p.dyn, [&](std::size_t) {
            on(p.buf);
            p.buf.clear();
            return true;
        });
    });
    REQUIRE(run_until_idle(p.ioc));
    CHECK(log == std::vector<std::string>{"first", "second", "third"});
    // The batch ends when the stream goes back to the socket, for the next read; a message
    // alone in its read has no batch.
    p.from_client(client_frame(op_text, "alone"));
    bool had_batch = true;
    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        log.push_back(p.buf);
        had_batch = p.ws.batch() != nullptr;
    });
    REQUIRE(run_until_idle(p.ioc));
    CHECK(log == std::vector<std::string>{"first", "second", "third", "deferred:first", "deferred:second",
                                          "deferred:third", "alone"});
    CHECK_FALSE(had_batch);
}

TEST_CASE("websocket: work deferred in a read batch runs when the connection fails", "[websocket]")
{
    peer p;
    p.accept();
    // Two messages, then a frame that breaks the protocol (a reserved opcode).
    p.from_client(client_frame(op_text, "first") + client_frame(op_text, "second") + client_frame(0x3, "bad"));
    bool ran = false;
    std::error_code last;
    std::function<void()> next = [&] {
        p.buf.clear();
        p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
            if (ec) {
                last = ec;
                return;
            }
            if (p.buf == "first") {
                auto* const b = p.ws.batch();
                REQUIRE(b != nullptr);
                b->defer([&] { ran = true; });
            }
            next();
        });
    };
    next();
    REQUIRE(run_until_idle(p.ioc));
    CHECK(last);
    CHECK(ran);
}

TEST_CASE("websocket: read_buffered stops when its handler says so and async_read takes up the rest", "[websocket]")
{
    peer p;
    p.accept();
    p.from_client(client_frame(op_text, "a") + client_frame(op_text, "b") + client_frame(op_text, "c"));
    completion r;
    p.read(r);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r.done);
    CHECK(p.buf == "a");
    p.buf.clear();
    std::string seen;
    CHECK(p.ws.read_buffered(p.dyn, [&](std::size_t) {
        seen = p.buf;
        p.buf.clear();
        return false;
    }) == 1);
    CHECK(seen == "b");
    completion c;
    p.read(c);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(c.done);
    CHECK_FALSE(c.ec);
    CHECK(p.buf == "c");
}

TEST_CASE("websocket: a message that read_buffered meets half-read is completed by the next async_read", "[websocket]")
{
    peer p;
    p.accept();
    auto const big = client_frame(op_text, std::string(3000, 'x') + "end");
    p.from_client(client_frame(op_text, "a") + big.substr(0, 1000));
    completion r;
    p.read(r);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r.done);
    CHECK(p.buf == "a");
    p.buf.clear();
    CHECK(p.ws.read_buffered(p.dyn, [](std::size_t) { return true; }) == 0);
    CHECK_FALSE(p.buf.empty()); // the start of the payload, kept for the next read
    completion c;
    p.read(c);
    run_ready(p.ioc);
    CHECK_FALSE(c.done);
    p.from_client(big.substr(1000));
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(c.done);
    CHECK_FALSE(c.ec);
    CHECK(p.buf == std::string(3000, 'x') + "end");
}

TEST_CASE("websocket: bytes read with the handshake are consumed first", "[websocket]")
{
    peer p;
    auto const a = client_frame(op_text, "early");
    auto const b = client_frame(op_binary, "split across the handshake and the socket");
    p.ws.set_initial_bytes(a + b.substr(0, 5));
    p.accept();
    completion r1;
    p.read(r1);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r1.done);
    CHECK_FALSE(r1.ec);
    CHECK(p.buf == "early");

    p.buf.clear();
    p.from_client(b.substr(5));
    completion r2;
    p.read(r2);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r2.done);
    CHECK_FALSE(r2.ec);
    CHECK(p.buf == "split across the handshake and the socket");
    CHECK(p.ws.got_type() == message_type::binary);
}

// ---- failures --------------------------------------------------------------------------------------

TEST_CASE("websocket: a protocol error closes with its code and fails the read", "[websocket]")
{
    struct violation {
        char const* name;
        std::string input;
        error expected;
        std::uint16_t code;
    };
    frame_options rsv;
    rsv.rsv1 = true;
    frame_options unmasked;
    unmasked.masked = false;
    std::vector<violation> const cases{
        {"RSV1", make_frame(op_text, "x", rsv), error::bad_reserved_bits, 1002},
        {"unmasked", make_frame(op_text, "x", unmasked), error::unmasked_frame, 1002},
        {"reserved opcode", client_frame(3, "x"), error::bad_opcode, 1002},
        {"fragmented ping", client_frame(op_ping, "x", false), error::fragmented_control, 1002},
        {"bare continuation", client_frame(op_cont, "x"), error::bad_continuation, 1002},
        {"close code 1005", client_frame(op_close, close_payload(1005)), error::bad_close_code, 1002},
        {"one-byte close", client_frame(op_close, "x"), error::bad_close_size, 1002},
        {"invalid UTF-8", client_frame(op_text, "caf\xC3("), error::bad_utf8, 1007},
        {"close reason not UTF-8", client_frame(op_close, close_payload(1000, "\xFF")), error::bad_utf8, 1007},
        {"too big", client_frame(op_binary, std::string(1001, 'x')), error::message_too_big, 1009},
        {"too big across fragments",
         client_frame(op_binary, std::string(600, 'x'), false) + client_frame(op_cont, std::string(401, 'x')),
         error::message_too_big, 1009},
    };
    auto const read_size = GENERATE(as<std::size_t>{}, 1, 65536);
    for (auto const& v : cases) {
        INFO(v.name << ", read size " << read_size);
        auto o = quiet();
        o.max_message_size = 1000;
        peer p(o);
        p.accept();
        p.ws.next_layer().read_size(read_size);
        // A valid message first: it is delivered, and the error ends the next read.
        p.from_client(client_frame(op_text, "fine") + v.input + client_frame(op_text, "never read"));
        completion r1;
        p.read(r1);
        REQUIRE(run_until_idle(p.ioc));
        REQUIRE(r1.done);
        CHECK_FALSE(r1.ec);
        CHECK(p.buf == "fine");

        completion r2;
        p.read(r2);
        REQUIRE(run_until_idle(p.ioc));
        REQUIRE(r2.done);
        CHECK(r2.ec == v.expected);
        CHECK(r2.ec == websocket::condition::protocol_violation);
        CHECK(p.buf.substr(0, 4) == "fine");
        CHECK(p.buf.find("never") == std::string::npos); // nothing after the error was delivered
        CHECK_FALSE(p.ws.is_open());

        auto const frames = p.frames();
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].opcode == op_close);
        CHECK(frames[0].close_code() == v.code);
        CHECK_FALSE(frames[0].masked);

        // The connection is gone: writes and sends are refused.
        completion w;
        p.ws.async_write(message_type::text, asio::buffer("late", 4), [&](std::error_code ec, std::size_t n) {
            w = {true, ec, n};
        });
        CHECK(p.ws.send(message_type::text, "late") == websocket::send_status::closed);
        REQUIRE(run_until_idle(p.ioc));
        CHECK(w.done);
        CHECK(w.ec);
        CHECK(p.frames().empty());
    }
}

TEST_CASE("websocket: invalid UTF-8 closes with 1007 before the message ends", "[websocket]")
{
    auto const lead = GENERATE(std::string(), std::string(100, 'a'));
    auto const bad =
        GENERATE(std::string("\xF4\x90"), std::string("\xE0\x80"), std::string("\xED\xA0"), std::string("ok\xC3(more"));
    peer p;
    p.accept();
    // Only the first fragment: FIN clear, the message could still go on.
    p.from_client(client_frame(op_text, lead + bad, false));
    completion r;
    p.read(r);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r.done);
    CHECK(r.ec == error::bad_utf8);
    auto const frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].opcode == op_close);
    CHECK(frames[0].close_code() == 1007);
}

// ---- closing handshake -----------------------------------------------------------------------------

TEST_CASE("websocket: a close from the client is echoed and ends the read", "[websocket]")
{
    // Regression: an empty close reason was passed to memcpy as a null pointer (UBSan).
    auto const code = GENERATE(as<std::uint16_t>{}, 1000, 1001, 1003, 3000, 4999);
    peer p;
    p.accept();
    completion r;
    p.read(r);
    run_ready(p.ioc);
    CHECK_FALSE(r.done);
    p.from_client(client_frame(op_close, close_payload(code, "bye")));
    auto const start = std::chrono::steady_clock::now();
    REQUIRE(run_until_idle(p.ioc));
    CHECK(std::chrono::steady_clock::now() - start < 2s); // no wait for the close timer
    REQUIRE(r.done);
    CHECK(r.ec == error::closed);
    CHECK(p.ws.close_code() == code);
    CHECK(p.ws.close_reason() == "bye");
    CHECK_FALSE(p.ws.is_open());
    auto const frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].opcode == op_close);
    CHECK(frames[0].close_code() == code);
    CHECK(frames[0].fin);
}

TEST_CASE("websocket: an empty close is answered with an empty close", "[websocket]")
{
    peer p;
    p.accept();
    p.from_client(client_frame(op_close, ""));
    completion r;
    p.read(r);
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(r.done);
    CHECK(r.ec == error::closed);
    CHECK(p.ws.close_code() == websocket::close_code::no_status);
    auto const frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].opcode == op_close);
    CHECK(frames[0].payload.empty());
}

TEST_CASE("websocket: a close from the server completes when the client answers", "[websocket]")
{
    peer p;
    p.accept();
    completion r, c;
    p.read(r);
    p.ws.async_close(1001, "going away", [&](std::error_code ec) { c = {true, ec, 0}; });
    run_ready(p.ioc);
    CHECK(c.done);
    CHECK_FALSE(c.ec);
    CHECK_FALSE(r.done);
    CHECK(p.ws.close_code() == websocket::close_code::abnormal); // the peer has not answered yet
    auto frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].opcode == op_close);
    CHECK(frames[0].close_code() == 1001);
    CHECK(frames[0].close_reason() == "going away");

    // Closing: nothing more may be sent, and pings are no longer answered.
    completion w, c2;
    p.ws.async_write(message_type::text, asio::buffer("x", 1), [&](std::error_code ec, std::size_t n) {
        w = {true, ec, n};
    });
    p.ws.async_close(1000, {}, [&](std::error_code ec) { c2 = {true, ec, 0}; });
    CHECK(p.ws.send(message_type::text, "x") == websocket::send_status::closed);
    p.from_client(client_frame(op_ping, "late") + client_frame(op_text, "in flight"));
    run_ready(p.ioc);
    CHECK(w.ec == error::closing);
    CHECK(c2.ec == error::closing);
    // Data may still arrive until the client's close (RFC 6455 §1.4).
    REQUIRE(r.done);
    CHECK_FALSE(r.ec);
    CHECK(p.buf == "in flight");
    r = {};
    p.read(r);
    run_ready(p.ioc);
    CHECK_FALSE(r.done);

    p.from_client(client_frame(op_close, close_payload(1000)));
    auto const start = std::chrono::steady_clock::now();
    REQUIRE(run_until_idle(p.ioc));
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    REQUIRE(r.done);
    CHECK(r.ec == error::closed);
    CHECK(p.ws.close_code() == 1000);
    CHECK_FALSE(p.ws.is_open());
    CHECK(p.frames().empty()); // no pong, no second close
}

TEST_CASE("websocket: a close that the client never answers times out", "[websocket]")
{
    auto o = quiet();
    o.close_timeout = 50ms;
    peer p(o);
    p.accept();
    completion r, c;
    p.read(r);
    auto const start = std::chrono::steady_clock::now(); // before the close timer starts
    p.ws.async_close(1000, {}, [&](std::error_code ec) { c = {true, ec, 0}; });
    REQUIRE(run_until_idle(p.ioc, 5s));
    auto const elapsed = std::chrono::steady_clock::now() - start;
    CHECK(c.done);
    CHECK_FALSE(c.ec);
    REQUIRE(r.done);
    CHECK(r.ec == rtmsg::error::timeout);
    CHECK(elapsed >= 50ms);
    CHECK(elapsed < 2s);
    CHECK_FALSE(p.ws.is_open());
    auto const frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].opcode == op_close);

    // A read after the time-out reports it too.
    completion r2;
    p.read(r2);
    REQUIRE(run_until_idle(p.ioc));
    CHECK(r2.done);
    CHECK(r2.ec == rtmsg::error::timeout);
}

// ---- keepalive ---------------------------------------------------------------------------------------

TEST_CASE("websocket: a silent peer is pinged, then dropped", "[websocket]")
{
    auto o = quiet();
    o.ping_interval = 20ms;
    o.idle_timeout = 80ms;
    // From before the handshake: the idle clock may start with it.
    auto const start = std::chrono::steady_clock::now();
    peer p(o);
    p.accept();
    completion r;
    p.read(r);
    REQUIRE(run_until_idle(p.ioc, 5s));
    auto const elapsed = std::chrono::steady_clock::now() - start;
    REQUIRE(r.done);
    CHECK(r.ec == rtmsg::error::timeout);
    CHECK(elapsed >= 80ms);
    CHECK(elapsed < 2s);
    CHECK_FALSE(p.ws.is_open());
    auto const frames = p.frames();
    REQUIRE(frames.size() == 1); // one ping while it is unanswered
    CHECK(frames[0].opcode == op_ping);
}

TEST_CASE("websocket: a peer that answers pings stays connected past the idle timeout", "[websocket]")
{
    auto o = quiet();
    o.ping_interval = 20ms;
    o.idle_timeout = 80ms;
    peer p(o);
    p.accept();
    completion r;

    // The client: answers every ping with a pong; after 300 ms sends a message, then answers
    // the server's close.
    int pings = 0;
    auto const start = std::chrono::steady_clock::now();
    asio::steady_timer t(p.ioc);
    bool sent = false;
    std::function<void()> tick = [&] {
        t.expires_after(5ms);
        t.async_wait([&](std::error_code) {
            for (auto const& f : p.frames()) {
                if (f.opcode == op_ping) {
                    ++pings;
                    p.from_client(client_frame(op_pong, f.payload));
                }
                if (f.opcode == op_close) {
                    p.from_client(client_frame(op_close, f.payload));
                    return; // done
                }
            }
            if (!sent && std::chrono::steady_clock::now() - start > 300ms) {
                sent = true;
                p.from_client(client_frame(op_text, "still here"));
            }
            tick();
        });
    };
    tick();
    completion closed;
    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t n) {
        r = {true, ec, n};
        if (ec) return;
        p.ws.async_close(1000, {}, [](std::error_code) {});
        p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t n) { closed = {true, ec, n}; });
    });
    REQUIRE(run_until_idle(p.ioc, 5s));
    REQUIRE(r.done);
    CHECK_FALSE(r.ec);
    CHECK(p.buf == "still here");
    CHECK(pings >= 3);
    CHECK(closed.ec == error::closed);
}

TEST_CASE("websocket: open streams share one keepalive ticker, and the last to go leaves nothing pending",
          "[websocket]")
{
    asio::io_context ioc;
    auto& ticker = asio::use_service<rtmsg::detail::tick_service>(ioc);
    struct side {
        explicit side(asio::io_context& ioc) : ends(rtmsg::test::make_pair(ioc.get_executor())) {}
        std::pair<rtmsg::test::stream, rtmsg::test::stream> ends;
        rtmsg::test::stream& client = ends.first;
        std::optional<websocket::stream<rtmsg::test::stream>> ws;
    };
    auto open_all = [&](std::vector<std::unique_ptr<side>>& v, websocket::options const& o) {
        for (int i = 0; i < 20; ++i) {
            auto s = std::make_unique<side>(ioc);
            s->ws.emplace(std::move(s->ends.second));
            s->ws->set_options(o);
            s->ws->async_accept(upgrade_request(), {}, [](std::error_code ec) { REQUIRE_FALSE(ec); });
            v.push_back(std::move(s));
        }
        run_ready(ioc);
        for (auto& s : v) {
            std::string in = s->client.take_input();
            REQUIRE(take_response(in));
        }
    };

    SECTION("every stream is pinged on the shared tick")
    {
        auto o = quiet();
        o.ping_interval = 20ms;
        o.idle_timeout = 10s;
        std::vector<std::unique_ptr<side>> v;
        open_all(v, o);
        CHECK(ticker.size() == 20);
        ioc.run_for(150ms);
        for (auto& s : v) {
            auto p = parse_frames(s->client.take_input());
            REQUIRE_FALSE(p.frames.empty());
            CHECK(p.frames[0].opcode == op_ping);
        }
        v.clear(); // each stream ends on its executor
        run_ready(ioc);
        CHECK(ticker.size() == 0);
    }
    SECTION("closing the last stream cancels the shared timer, so run() returns")
    {
        auto o = quiet();
        o.ping_interval = 40s; // a tick every 10 s: run() would wait for it
        o.idle_timeout = 100s;
        std::vector<std::unique_ptr<side>> v;
        open_all(v, o);
        CHECK(ticker.size() == 20);
        for (std::size_t i = 0; i + 1 < v.size(); ++i) v[i]->ws.reset(); // destroyed while open
        run_ready(ioc);
        CHECK(ticker.size() == 1);
        // The last one fails (its peer goes away during a read) rather than being destroyed.
        std::string buf;
        auto dyn = asio::dynamic_buffer(buf);
        completion r;
        v.back()->ws->async_read(dyn, [&](std::error_code ec, std::size_t n) { r = {true, ec, n}; });
        v.back()->client.close();
        auto const start = std::chrono::steady_clock::now();
        ioc.run();
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        CHECK(r.done);
        CHECK(r.ec);
        CHECK(ticker.size() == 0);
    }
}

// ---- writing -------------------------------------------------------------------------------------------

TEST_CASE("websocket: queued sends arrive in order", "[websocket]")
{
    peer p;
    p.accept();
    auto const big = random_bytes(100000, 11);
    CHECK(p.ws.send(message_type::text, "one") == websocket::send_status::queued);
    CHECK(p.ws.send(message_type::binary, big) == websocket::send_status::queued);
    CHECK(p.ws.send(message_type::text, "") == websocket::send_status::queued);
    CHECK(p.ws.send(message_type::text, "four") == websocket::send_status::queued);
    CHECK(p.ws.queued_bytes() == (2 + 3) + (10 + big.size()) + 2 + (2 + 4));
    REQUIRE(run_until_idle(p.ioc));
    CHECK(p.ws.queued_bytes() == 0);
    auto const frames = p.frames();
    REQUIRE(frames.size() == 4);
    CHECK(frames[0].opcode == op_text);
    CHECK(frames[0].payload == "one");
    CHECK(frames[1].opcode == op_binary);
    CHECK(frames[1].payload == big);
    CHECK(frames[2].opcode == op_text);
    CHECK(frames[2].payload.empty());
    CHECK(frames[3].payload == "four");
    for (auto const& f : frames) {
        CHECK(f.fin);
        CHECK_FALSE(f.masked);
    }
}

TEST_CASE("websocket: send reports backpressure over the soft limit and drops over the hard one", "[websocket]")
{
    auto o = quiet();
    o.send_queue_soft_limit = 10;
    o.send_queue_hard_limit = 100;
    peer p(o);
    p.accept();
    CHECK(p.ws.send(message_type::text, "12345") == websocket::send_status::queued);                 // 7 bytes queued
    CHECK(p.ws.send(message_type::text, "67890") == websocket::send_status::backpressure);           // 14 > 10
    CHECK(p.ws.send(message_type::binary, std::string(90, 'x')) == websocket::send_status::dropped); // 104 > 100
    CHECK(p.ws.queued_bytes() == 14);
    REQUIRE(run_until_idle(p.ioc));
    CHECK(p.ws.queued_bytes() == 0);
    CHECK(p.ws.send(message_type::text, "again") == websocket::send_status::queued);
    REQUIRE(run_until_idle(p.ioc));
    std::vector<std::string> payloads;
    for (auto const& f : p.frames()) payloads.push_back(f.payload);
    CHECK(payloads == std::vector<std::string>{"12345", "67890", "again"});
}

TEST_CASE("websocket: destroying the stream aborts its pending read", "[websocket]")
{
    asio::io_context ioc;
    auto [client, server] = rtmsg::test::make_pair(ioc.get_executor());
    std::string buf;
    auto dyn = asio::dynamic_buffer(buf);
    completion r;
    {
        websocket::stream<rtmsg::test::stream> ws(std::move(server));
        ws.set_options(quiet());
        completion a;
        ws.async_accept(upgrade_request(), {}, [&](std::error_code ec) { a = {true, ec, 0}; });
        run_ready(ioc);
        REQUIRE(a.done);
        REQUIRE_FALSE(a.ec);
        ws.async_read(dyn, [&](std::error_code ec, std::size_t n) { r = {true, ec, n}; });
        run_ready(ioc);
        CHECK_FALSE(r.done);
    }
    REQUIRE(run_until_idle(ioc));
    CHECK(r.done);
    CHECK(r.ec == asio::error::operation_aborted);
}

TEST_CASE("websocket: sends, writes and pings keep their order", "[websocket]")
{
    peer p;
    p.accept();
    p.ws.next_layer().write_size(3); // every write_some takes at most 3 bytes
    std::vector<std::string> done;
    std::string const a = "alpha", b = "bravo";
    p.ws.async_write(message_type::text, asio::buffer(a), [&](std::error_code ec, std::size_t n) {
        CHECK_FALSE(ec);
        CHECK(n == 5);
        done.push_back("a");
    });
    p.ws.send(message_type::text, "sent");
    p.ws.async_ping("ping!", [&](std::error_code ec) {
        CHECK_FALSE(ec);
        done.push_back("ping");
    });
    p.ws.async_write(message_type::binary, asio::buffer(b), [&](std::error_code ec, std::size_t n) {
        CHECK_FALSE(ec);
        CHECK(n == 5);
        done.push_back("b");
    });
    REQUIRE(run_until_idle(p.ioc));
    CHECK(done == std::vector<std::string>{"a", "ping", "b"});
    auto const frames = p.frames();
    REQUIRE(frames.size() == 4);
    // send() goes through dispatch, so it may land after the writes started in this call;
    // the three operations started directly keep their order.
    std::vector<std::string> payloads;
    for (auto const& f : frames) payloads.push_back(f.payload);
    std::vector<std::string> direct;
    for (auto const& s : payloads)
        if (s != "sent") direct.push_back(s);
    CHECK(direct == std::vector<std::string>{"alpha", "ping!", "bravo"});
    CHECK(std::count(payloads.begin(), payloads.end(), "sent") == 1);
}

namespace {

enum class nested { async_write, send, from_ping, coroutine };

/// A write whose completion handler starts another write (and that one a third).
std::string write_from_completion(nested how)
{
    peer p;
    p.accept();
    std::string const first = "first", second = "second", third = "third";
    std::vector<std::string> done;
    auto third_write = [&] {
        p.ws.async_write(message_type::text, asio::buffer(third),
                         [&](std::error_code ec, std::size_t) { done.push_back(ec ? "error" : "third"); });
    };
    auto second_write = [&] {
        if (how == nested::send) {
            p.ws.send(message_type::text, second);
            done.push_back("second");
            return third_write();
        }
        p.ws.async_write(message_type::text, asio::buffer(second), [&](std::error_code ec, std::size_t) {
            done.push_back(ec ? "error" : "second");
            third_write();
        });
    };
#if defined(ASIO_HAS_CO_AWAIT)
    if (how == nested::coroutine)
        asio::co_spawn(
            p.ioc,
            [&]() -> asio::awaitable<void> {
                for (auto const* s : {&first, &second, &third}) {
                    co_await p.ws.async_write(message_type::text, asio::buffer(*s), asio::use_awaitable);
                    done.push_back(*s);
                }
            },
            asio::detached);
    else
#endif
        if (how == nested::from_ping)
        p.ws.async_ping(first, [&](std::error_code ec) {
            done.push_back(ec ? "error" : "first");
            second_write();
        });
    else
        p.ws.async_write(message_type::text, asio::buffer(first), [&](std::error_code ec, std::size_t) {
            done.push_back(ec ? "error" : "first");
            second_write();
        });
    if (!run_until_idle(p.ioc, 2s)) return "hung: a completion handler never ran";
    std::string problems;
    if (done != std::vector<std::string>{"first", "second", "third"}) problems += "wrong completions; ";
    std::vector<std::string> payloads;
    for (auto const& f : parse_frames(p.client.take_input()).frames) payloads.push_back(f.payload);
    if (payloads != std::vector<std::string>{"first", "second", "third"}) {
        problems += "frames written:";
        for (auto const& s : payloads) problems += " " + s;
    }
    return problems;
}

} // namespace

TEST_CASE("websocket: a write started from a write's completion handler goes out", "[websocket]")
{
    auto const how = GENERATE(nested::async_write, nested::send, nested::from_ping, nested::coroutine);
    INFO("nested " << (how == nested::async_write ? "async_write"
                       : how == nested::send      ? "send"
                       : how == nested::from_ping ? "after ping"
                                                  : "co_await in a loop"));
    // Regression: a write started from a completion handler was lost and the completed one
    // re-sent (use after free), because on_written reused `writing` while completing.
    CHECK(write_from_completion(how) == "");
}

TEST_CASE("websocket: a ping longer than 125 bytes is refused", "[websocket]")
{
    peer p;
    p.accept();
    completion c;
    p.ws.async_ping(std::string(126, 'x'), [&](std::error_code ec) { c = {true, ec, 0}; });
    REQUIRE(run_until_idle(p.ioc));
    CHECK(c.done);
    CHECK(c.ec == error::control_too_big);
    CHECK(p.frames().empty());
}

TEST_CASE("websocket: async_write completes through a future", "[websocket]")
{
    auto o = quiet();
    o.close_timeout = 50ms; // the close below is never answered
    peer p(o);
    p.accept();
    std::string const payload = random_text(1000, 2);
    std::future<std::size_t> f = p.ws.async_write(message_type::text, asio::buffer(payload), asio::use_future);
    std::thread io([&] {
        p.ioc.restart();
        p.ioc.run();
    });
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    CHECK(f.get() == payload.size());
    io.join();
    auto const frames = p.frames();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].payload == payload);

    // An error arrives as an exception.
    p.ws.close(1000);
    p.ioc.restart();
    p.ioc.poll();
    std::future<std::size_t> g = p.ws.async_write(message_type::text, asio::buffer(payload), asio::use_future);
    std::thread io2([&] {
        p.ioc.restart();
        p.ioc.run_for(5s);
    });
    REQUIRE(g.wait_for(5s) == std::future_status::ready);
    try {
        g.get();
        FAIL("no exception");
    }
    catch (std::system_error const& e) {
        CHECK(e.code() == error::closing);
    }
    io2.join();
}

#if defined(ASIO_HAS_CO_AWAIT)
TEST_CASE("websocket: the stream works in a coroutine", "[websocket]")
{
    peer p;
    p.from_client(client_frame(op_text, "co", false) + client_frame(op_ping, "p") + client_frame(op_cont, "routine") +
                  client_frame(op_close, close_payload(4001, "end")));
    std::string got, error_text;
    std::size_t read_n = 0, written = 0;
    bool finished = false;
    asio::co_spawn(
        p.ioc,
        [&]() -> asio::awaitable<void> {
            co_await p.ws.async_accept(upgrade_request(), {}, asio::use_awaitable);
            std::string buf;
            auto d = asio::dynamic_buffer(buf);
            read_n = co_await p.ws.async_read(d, asio::use_awaitable);
            got = buf;
            written = co_await p.ws.async_write(message_type::text, asio::buffer(buf), asio::use_awaitable);
            try {
                co_await p.ws.async_read(d, asio::use_awaitable);
            }
            catch (std::system_error const& e) {
                error_text = e.code() == error::closed ? "closed" : e.code().message();
            }
            finished = true;
        },
        asio::detached);
    REQUIRE(run_until_idle(p.ioc));
    CHECK(finished);
    CHECK(got == "coroutine");
    CHECK(read_n == 9);
    CHECK(written == 9);
    CHECK(error_text == "closed");
    CHECK(p.ws.close_code() == 4001);

    std::string in = p.client.take_input();
    auto res = take_response(in);
    REQUIRE(res);
    CHECK(res->status == 101);
    auto const frames = parse_frames(in).frames;
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].opcode == op_pong);
    CHECK(frames[0].payload == "p");
    CHECK(frames[1].payload == "coroutine");
    CHECK(frames[2].opcode == op_close);
    CHECK(frames[2].close_code() == 4001);
}

TEST_CASE("websocket: ping and close can be awaited", "[websocket]")
{
    peer p;
    // Pre-loaded: the client's pong, a message, and its answer to our close.
    p.from_client(client_frame(op_pong, "hi") + client_frame(op_binary, "after ping") +
                  client_frame(op_close, close_payload(1000)));
    std::string got, error_text;
    bool finished = false;
    asio::co_spawn(
        p.ioc,
        [&]() -> asio::awaitable<void> {
            co_await p.ws.async_accept(upgrade_request(), {}, asio::use_awaitable);
            co_await p.ws.async_ping("hi", asio::use_awaitable);
            std::string buf;
            auto d = asio::dynamic_buffer(buf);
            co_await p.ws.async_read(d, asio::use_awaitable);
            got = buf;
            co_await p.ws.async_close(1000, "done", asio::use_awaitable);
            try {
                co_await p.ws.async_read(d, asio::use_awaitable);
            }
            catch (std::system_error const& e) {
                error_text = e.code() == error::closed ? "closed" : e.code().message();
            }
            try {
                co_await p.ws.async_close(1000, {}, asio::use_awaitable);
            }
            catch (std::system_error const& e) {
                error_text += e.code() == error::closing ? " closing" : e.code().message();
            }
            finished = true;
        },
        asio::detached);
    REQUIRE(run_until_idle(p.ioc));
    CHECK(finished);
    CHECK(got == "after ping");
    CHECK(error_text == "closed closing");
    std::string in = p.client.take_input();
    REQUIRE(take_response(in));
    auto const frames = parse_frames(in).frames;
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].opcode == op_ping);
    CHECK(frames[0].payload == "hi");
    CHECK(frames[1].opcode == op_close);
    CHECK(frames[1].close_reason() == "done");
}
#endif

// ---- injected failures ---------------------------------------------------------------------------------

TEST_CASE("websocket: every failing operation ends the connection cleanly", "[websocket]")
{
    // Beast's fail loop: fail the 0th, 1st, 2nd ... operation on the server's end until a
    // run gets through.  Every earlier run must end with an error, never hang or crash.
    auto const read_size = GENERATE(as<std::size_t>{}, 3, 65536);
    std::string const payload = "Hello, fail loop";
    bool succeeded = false;
    std::size_t n = 0;
    std::vector<std::string> failures;
    for (; n < 50 && !succeeded; ++n) {
        INFO("failing operation " << n << ", read size " << read_size);
        rtmsg::test::fail_count fc(n);
        peer p;
        p.ws.next_layer().set_fail_count(fc);
        p.ws.next_layer().read_size(read_size);
        p.from_client(client_frame(op_text, payload.substr(0, 5), false) + client_frame(op_ping, "p") +
                      client_frame(op_cont, payload.substr(5)) + client_frame(op_close, close_payload(1000)));

        // accept, read the message, echo it, read the close.
        std::error_code failure;
        bool closed = false;
        auto fail = [&](std::error_code ec) {
            failure = ec;
            return bool(ec);
        };
        p.ws.async_accept(upgrade_request(), {}, [&](std::error_code ec) {
            if (fail(ec)) return;
            p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
                if (fail(ec)) return;
                p.ws.async_write(p.ws.got_type(), asio::buffer(p.buf), [&](std::error_code ec, std::size_t) {
                    if (fail(ec)) return;
                    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
                        if (ec == error::closed)
                            closed = true;
                        else
                            failure = ec ? ec : make_error_code(std::errc::protocol_error);
                    });
                });
            });
        });
        REQUIRE(run_until_idle(p.ioc, 5s)); // never hangs
        CHECK((failure || closed));         // always completes
        std::string in = p.client.take_input();
        take_response(in);
        auto const frames = parse_frames(in).frames;
        CHECK_FALSE(p.ws.is_open());
        if (closed) {
            CHECK_FALSE(failure);
            bool const echoed_close = frames.size() == 3 && frames[2].opcode == op_close;
            // Regression: a failed close echo was reported as a completed closing handshake.
            CHECK(echoed_close);
            if (echoed_close) {
                CHECK(frames[0].opcode == op_pong);
                CHECK(frames[1].payload == payload);
                CHECK(frames[2].close_code() == 1000);
                succeeded = true;
            }
            else
                failures.push_back("closed, but the close echo was not written");
        }
        else {
            INFO(failure.message());
            failures.push_back(failure.message());
            CHECK((failure == rtmsg::test::injected_error() || failure == asio::error::operation_aborted));
        }
    }
    CHECK(succeeded);
    CHECK(n > 4); // accept, read, pong, echo and close echo each failed once
    for (auto const& f : failures) UNSCOPED_INFO(f);
    CHECK(failures.size() == n - 1);
}

namespace {

/// An accepted server stream on the test pair whose keepalive ticks every ping_interval / 4.
struct ticking_stream {
    explicit ticking_stream(std::chrono::milliseconds ping_interval)
    {
        auto o = quiet();
        o.ping_interval = ping_interval;
        o.idle_timeout = 10s;
        ws.set_options(o);
        ws.async_accept(upgrade_request(), {}, [](std::error_code ec) { REQUIRE_FALSE(ec); });
        run_ready(ioc);
        std::string in = client.take_input();
        REQUIRE(take_response(in));
    }

    asio::io_context ioc;
    std::pair<rtmsg::test::stream, rtmsg::test::stream> ends = rtmsg::test::make_pair(ioc.get_executor());
    rtmsg::test::stream& client = ends.first;
    websocket::stream<rtmsg::test::stream> ws{std::move(ends.second)};
};

} // namespace

TEST_CASE("websocket: a quiet tick gives pooled send storage back, traffic keeps it", "[websocket]")
{
    // A keepalive tick every 100 ms: slow enough that the sends below are checked before a
    // second tick can find the stream quiet, even under TSan (at 10 ms, it once did).
    ticking_stream t(400ms);
    auto& ioc = t.ioc;
    auto& client = t.client;
    auto& ws = t.ws;

    std::string const big(60 * 1024, 'b');
    for (int i = 0; i < 4; ++i) CHECK(ws.send(message_type::binary, big) != websocket::send_status::dropped);
    run_ready(ioc);
    auto p = parse_frames(client.take_input());
    REQUIRE(p.frames.size() == 4);
    CHECK(ws.spare_storage() >= 4 * big.size()); // kept for the next sends
    std::string buf;
    auto dyn = asio::dynamic_buffer(buf);
    std::function<void()> read = [&] {
        ws.async_read(dyn, [&](std::error_code ec, std::size_t) {
            if (ec) return;
            buf.clear();
            read();
        });
    };
    read();

    SECTION("quiet: released within a few ticks")
    {
        auto const until = std::chrono::steady_clock::now() + 1s;
        while (ws.spare_storage() >= 1024 && std::chrono::steady_clock::now() < until) ioc.run_for(5ms);
        CHECK(ws.spare_storage() < 1024); // at most a ping frame's storage and the busy state
    }
    SECTION("a message every few milliseconds: kept")
    {
        auto const until = std::chrono::steady_clock::now() + 350ms; // three ticks or more
        while (std::chrono::steady_clock::now() < until) {
            ws.next_layer().append(client_frame(op_text, "x")); // input arrives: not quiet
            ioc.run_for(3ms);
        }
        CHECK(ws.spare_storage() >= 4 * big.size());
    }
}

TEST_CASE("websocket: an idle stream gives its busy state back and makes it again for the next send", "[websocket]")
{
    ticking_stream t(400ms); // a keepalive tick every 100 ms, the first ping after 400 ms
    auto& ioc = t.ioc;
    auto& client = t.client;
    auto& ws = t.ws;
    CHECK(ws.spare_storage() == 0); // the handshake needs no write queue

    // Two messages in one input, the second left for later: read-ahead and a reply queued.
    ws.next_layer().append(client_frame(op_text, "one") + client_frame(op_text, "two"));
    std::string buf;
    auto dyn = asio::dynamic_buffer(buf);
    bool got = false;
    ws.async_read(dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        got = true;
        CHECK(ws.send(message_type::text, "reply") == websocket::send_status::queued);
    });
    run_ready(ioc);
    REQUIRE(got);
    CHECK(buf == "one");
    CHECK(ws.spare_storage() > 0); // "two" is read ahead

    // Kept while input waits to be read, even across quiet ticks.
    ioc.run_for(250ms);
    CHECK(ws.spare_storage() > 0);

    buf.clear();
    ws.async_read(dyn, [&](std::error_code ec, std::size_t) { REQUIRE_FALSE(ec); });
    run_ready(ioc);
    CHECK(buf == "two");
    auto const p = parse_frames(client.take_input());
    REQUIRE(p.frames.size() == 1);
    CHECK(p.frames[0].payload == "reply");

    // Nothing read ahead, nothing queued: a quiet tick gives it back (before the first ping).
    auto const until = std::chrono::steady_clock::now() + 350ms;
    while (ws.spare_storage() != 0 && std::chrono::steady_clock::now() < until) ioc.run_for(5ms);
    CHECK(ws.spare_storage() == 0);

    // And the stream still works: the next send makes it again, the next read reads.
    CHECK(ws.send(message_type::text, "again") == websocket::send_status::queued);
    ws.next_layer().append(client_frame(op_text, "three"));
    buf.clear();
    ws.async_read(dyn, [&](std::error_code ec, std::size_t) { REQUIRE_FALSE(ec); });
    run_ready(ioc);
    CHECK(buf == "three");
    std::vector<std::string> sent; // data frames only: a late tick may have pinged
    for (auto const& f : parse_frames(client.take_input()).frames)
        if (f.opcode != op_ping) sent.push_back(f.payload);
    CHECK(sent == std::vector<std::string>{"again"});
}

namespace {

/// A server-role stream on a loopback TCP connection: unlike the test pair, a socket that
/// can wait for readability, so input is read into the thread's shared buffer.
struct tcp_peer {
    using tcp = asio::ip::tcp;

    tcp_peer(asio::io_context& io, tcp::acceptor& acc) : ioc(io), client(io), ws(tcp::socket(io))
    {
        client.connect(acc.local_endpoint());
        acc.accept(ws.next_layer());
        ws.set_options(quiet());
        completion c;
        ws.async_accept(upgrade_request(), {}, [&](std::error_code ec) {
            c.done = true;
            c.ec = ec;
        });
        REQUIRE(run_until_idle(ioc));
        REQUIRE(c.done);
        REQUIRE_FALSE(c.ec);
        std::string head;
        asio::read_until(client, asio::dynamic_buffer(head), "\r\n\r\n");
        REQUIRE(head.rfind("HTTP/1.1 101", 0) == 0);
    }

    /// Writes `bytes` as the client and waits until the server's socket can read them all.
    void from_client(std::string const& bytes)
    {
        asio::write(client, asio::buffer(bytes));
        auto const until = std::chrono::steady_clock::now() + 5s;
        while (ws.next_layer().available() < bytes.size() && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(1ms);
        REQUIRE(ws.next_layer().available() >= bytes.size());
    }

    /// Starts a read whose message is appended to `into` (the read's error fails the test).
    void read_into(std::vector<std::string>& into)
    {
        ws.async_read(dyn, [this, &into](std::error_code ec, std::size_t) {
            REQUIRE_FALSE(ec);
            into.push_back(std::exchange(buf, {}));
        });
    }

    /// Runs the context until the client has `n` bytes from the server, and returns them.
    std::string to_client(std::size_t n)
    {
        std::string out;
        auto const until = std::chrono::steady_clock::now() + 10s;
        while (out.size() < n && std::chrono::steady_clock::now() < until) {
            ioc.restart();
            ioc.run_for(1ms);
            if (auto const a = client.available()) {
                auto const at = out.size();
                out.resize(at + a);
                out.resize(at + client.read_some(asio::buffer(out.data() + at, a)));
            }
        }
        return out;
    }

    asio::io_context& ioc;
    tcp::socket client;
    websocket::stream<tcp::socket> ws;
    std::string buf;
    asio::dynamic_string_buffer<char, std::char_traits<char>, std::allocator<char>> dyn = asio::dynamic_buffer(buf);
};

tcp_peer::tcp::acceptor loopback_acceptor(asio::io_context& ioc)
{
    return {ioc, {asio::ip::make_address("127.0.0.1"), 0}};
}

} // namespace

TEST_CASE("websocket: messages read together stay intact when the handler leaves them for later", "[websocket]")
{
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    tcp_peer a(ioc, acc);
    std::string const a1(1000, '1'), a2(1000, '2'), a3(1000, '3');
    a.from_client(client_frame(op_text, a1) + client_frame(op_text, a2) + client_frame(op_text, a3));
    std::vector<std::string> got;

    SECTION("the handler returns; the thread's buffer is reused before the rest is taken")
    {
        a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t) {
            REQUIRE_FALSE(ec);
            got.push_back(std::exchange(a.buf, {}));
            // Later, after the thread's read buffer has held other input:
            asio::post(ioc, [&] {
                std::size_t cap;
                char* b = websocket::detail::thread_read_buffer(cap);
                std::memset(b, 'Z', cap);
                a.ws.read_buffered(a.dyn, [&](std::size_t) {
                    got.push_back(std::exchange(a.buf, {}));
                    return true;
                });
            });
        });
        REQUIRE(run_until_idle(ioc));
    }
    SECTION("the handler runs the event loop and another stream reads into the buffer meanwhile")
    {
        tcp_peer b(ioc, acc);
        std::string const b1(1000, 'x'), b2(1000, 'y');
        std::vector<std::string> got_b;
        b.read_into(got_b);
        a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t) {
            REQUIRE_FALSE(ec);
            got.push_back(std::exchange(a.buf, {}));
            // b's input arrives only now, so b's read comes second, inside this handler.
            b.from_client(client_frame(op_text, b1) + client_frame(op_text, b2));
            auto const until = std::chrono::steady_clock::now() + 5s;
            while (got_b.empty() && std::chrono::steady_clock::now() < until) ioc.run_one_for(10ms);
            REQUIRE(got_b.size() == 1);
            a.ws.read_buffered(a.dyn, [&](std::size_t) {
                got.push_back(std::exchange(a.buf, {}));
                return true;
            });
        });
        REQUIRE(run_until_idle(ioc));
        b.ws.read_buffered(b.dyn, [&](std::size_t) {
            got_b.push_back(std::exchange(b.buf, {}));
            return true;
        });
        CHECK(got_b == std::vector<std::string>{b1, b2});
    }
    CHECK(got == std::vector<std::string>{a1, a2, a3});
}

TEST_CASE("websocket: a message seen where it lies stays intact while its handler runs the event loop", "[websocket]")
{
    // read_buffered with a message_view_buffer hands a view of the thread's read buffer; a
    // handler that runs the event loop lets another stream read meanwhile, and that read
    // must not land on the view.
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    tcp_peer a(ioc, acc);
    tcp_peer b(ioc, acc);
    std::string const a1(1000, '1'), a2(1000, '2'), a3(1000, '3'), b1(3000, 'x');
    a.from_client(client_frame(op_text, a1) + client_frame(op_text, a2) + client_frame(op_text, a3));
    std::vector<std::string> got, got_b;
    std::vector<bool> viewed;
    b.read_into(got_b);
    a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        got.push_back(std::exchange(a.buf, {}));
        rtmsg::detail::message_view_buffer dyn(a.buf);
        a.ws.read_buffered(dyn, [&](std::size_t) {
            viewed.push_back(dyn.viewing());
            if (got.size() == 1) {
                // b's input arrives only now, so b reads inside this handler.
                b.from_client(client_frame(op_text, b1));
                auto const until = std::chrono::steady_clock::now() + 5s;
                while (got_b.empty() && std::chrono::steady_clock::now() < until) ioc.run_one_for(10ms);
                REQUIRE(got_b.size() == 1);
            }
            got.emplace_back(dyn.message());
            dyn.clear();
            return true;
        });
    });
    REQUIRE(run_until_idle(ioc));
    CHECK(viewed.size() == 2);
    CHECK(viewed.front()); // the case under test: a2 was a view while b read
    CHECK(got == std::vector<std::string>{a1, a2, a3});
    CHECK(got_b == std::vector<std::string>{b1});
    CHECK(websocket::detail::thread_read_pins() == 0);
}

TEST_CASE("websocket: a send on a quiet socket goes out at once, and what the socket cannot take is queued",
          "[websocket]")
{
    // send() on a quiet plain socket writes the header and the caller's payload itself; a
    // message larger than the socket takes leaves the rest queued (counted), written later
    // in order, and a message sent meanwhile follows it.
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    tcp_peer a(ioc, acc);
    a.ws.next_layer().set_option(asio::socket_base::send_buffer_size(64 * 1024));
    std::string big(2 << 20, 'b');
    for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
    bool ran = false;
    asio::post(ioc, [&] { // on the stream's executor, as a handler sends
        ran = true;
        CHECK(a.ws.send(message_type::text, "small") == rtmsg::send_status::queued);
        CHECK(a.ws.queued_bytes() == 0); // out at once
        a.ws.send(message_type::binary, big);
        auto const left = a.ws.queued_bytes();
        CHECK(left > 0);          // the socket took part of it; the rest waits
        CHECK(left < big.size()); // and part of it did go
        a.ws.send(message_type::text, "after");
        CHECK(a.ws.queued_bytes() > left);
    });
    auto const wire_small = std::string("\x81\x05small", 7);
    auto const expect = wire_small.size() + 10 + big.size() + 7;
    auto const out = a.to_client(expect);
    REQUIRE(out.size() == expect);
    auto const p = parse_frames(out);
    REQUIRE(p.frames.size() == 3);
    CHECK(p.frames[0].payload == "small");
    CHECK(p.frames[1].opcode == op_binary);
    CHECK(p.frames[1].payload == big);
    CHECK(p.frames[2].payload == "after");
    CHECK(ran);
    CHECK(a.ws.queued_bytes() == 0);
}

TEST_CASE("websocket: a batch of replies written together leaves its storage in the pool", "[websocket]")
{
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    tcp_peer a(ioc, acc);
    // Fifteen 4 KiB messages in one read: the replies are corked into one buffer that grows
    // to nearly 64 KiB.  It must stay poolable, or every batch allocates and frees it.
    std::string in;
    for (int i = 0; i < 15; ++i) in += client_frame(op_binary, std::string(4096, static_cast<char>('a' + i)));
    a.from_client(in);
    a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        a.ws.send(message_type::binary, std::exchange(a.buf, {}));
        a.ws.read_buffered(a.dyn, [&](std::size_t) {
            a.ws.send(message_type::binary, std::exchange(a.buf, {}));
            return true;
        });
    });
    auto const out = a.to_client(15 * (4096 + 4));
    INFO("bytes to the client: " << out.size());
    auto p = parse_frames(out);
    REQUIRE(p.frames.size() == 15);
    for (std::size_t i = 0; i < 15; ++i) CHECK(p.frames[i].payload == std::string(4096, static_cast<char>('a' + i)));
    CHECK(a.ws.spare_storage() >= 15 * (4096 + 4));
}

TEST_CASE(
    "websocket: a large message buffer is parked for the thread's next large message but small and huge ones are not",
    "[websocket]")
{
    using rtmsg::detail::message_buffer;
    using rtmsg::detail::park_buffer;
    auto& parked = rtmsg::detail::thread_parked_buffers().v;
    parked.clear();

    std::string big;
    big.reserve(64 * 1024);
    char const* const storage = big.data();
    park_buffer(big);
    CHECK(big.empty());
    CHECK(big.capacity() < 64); // its storage went to the thread, not kept by the connection
    REQUIRE(parked.size() == 1);

    std::string m;
    message_buffer mb(m);
    mb.grow(100); // small: an ordinary string
    CHECK(m.data() != storage);
    std::fill(m.begin(), m.end(), 'h');
    mb.grow(50'000); // large: the parked storage, with what the message held so far
    CHECK(m.data() == storage);
    REQUIRE(m.size() == 50'100);
    CHECK(m.substr(0, 100) == std::string(100, 'h'));
    CHECK(parked.empty()); // the small storage it left was not worth keeping

    m.clear();
    park_buffer(m);
    CHECK(parked.size() == 1);
    std::string huge(200 * 1024, 'x'), small(4000, 'y');
    park_buffer(huge);
    park_buffer(small);
    CHECK(parked.size() == 1); // 200 KiB (mapped on its own by malloc) and 4 KB are freed

    // At most eight; a larger one replaces the smallest.
    for (std::size_t i = 0; i < 10; ++i) {
        std::string s;
        s.reserve(8192 + i * 1024);
        park_buffer(s);
    }
    REQUIRE(parked.size() == 8);
    auto const smallest = std::min_element(parked.begin(), parked.end(), [](auto const& a, auto const& b) {
                              return a.capacity() < b.capacity();
                          })->capacity();
    CHECK(smallest >= 8192 + 2 * 1024);
    parked.clear();
}

TEST_CASE("websocket: a read handler that throws leaves nothing lent in the thread's buffer", "[websocket]")
{
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    std::string const two = client_frame(op_text, "one") + client_frame(op_text, "two");
    {
        tcp_peer a(ioc, acc);
        a.from_client(two);
        a.ws.async_read(a.dyn, [](std::error_code, std::size_t) { throw std::runtime_error("handler failed"); });
        ioc.restart();
        CHECK_THROWS_WITH(ioc.run_for(5s), "handler failed");
        CHECK(websocket::detail::thread_lent_input().owner == nullptr); // "two" was copied out
        CHECK(a.buf == "one");
        a.buf.clear();
        std::string rest;
        CHECK(a.ws.read_buffered(a.dyn, [&](std::size_t) {
            rest = std::exchange(a.buf, {});
            return true;
        }) == 1);
        CHECK(rest == "two");
    } // the stream is gone; another stream's read must not touch it
    tcp_peer b(ioc, acc);
    b.from_client(two);
    std::vector<std::string> got;
    b.ws.async_read(b.dyn, [&](std::error_code ec, std::size_t) {
        REQUIRE_FALSE(ec);
        got.push_back(std::exchange(b.buf, {}));
        b.ws.read_buffered(b.dyn, [&](std::size_t) {
            got.push_back(std::exchange(b.buf, {}));
            return true;
        });
    });
    REQUIRE(run_until_idle(ioc));
    CHECK(got == std::vector<std::string>{"one", "two"});
}

TEST_CASE("websocket: read_buffered with a message_view_buffer hands out whole messages where they lie, and keeps "
          "what it cannot",
          "[websocket]")
{
    // Whole messages in the thread's lent read buffer (a TCP socket) are views of it, not
    // copied into the string; from the stream's own read-ahead (the in-memory stream), which
    // read_buffered may free as it goes, they are copied.  A message the input ends inside
    // is left in the string, owned, and the next async_read completes it.
    auto const big = client_frame(op_binary, std::string(3000, 'x') + "end");
    std::string const input = client_frame(op_text, "first") + client_frame(op_text, "second") +
                              client_frame(op_ping, "p") + client_frame(op_binary, std::string(200, 'b')) +
                              big.substr(0, 1000);
    auto const check = [&](auto& a, asio::io_context& ioc, bool views) {
        std::vector<std::string> got;
        bool viewed = true;
        std::size_t handed = 0;
        a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t) {
            REQUIRE_FALSE(ec);
            got.push_back(std::exchange(a.buf, {}));
            rtmsg::detail::message_view_buffer dyn(a.buf);
            handed = a.ws.read_buffered(dyn, [&](std::size_t bytes) {
                CHECK(bytes == dyn.message().size());
                viewed = viewed && a.buf.empty(); // nothing was copied into the string
                got.emplace_back(dyn.message());
                a.ws.send(message_type::text, "re:" + got.back().substr(0, 6));
                dyn.clear();
                return true;
            });
        });
        REQUIRE(run_until_idle(ioc));
        CHECK(handed == 2);
        CHECK(viewed == views);
        CHECK(got == std::vector<std::string>{"first", "second", std::string(200, 'b')});
        REQUIRE(a.buf.size() > 0); // the start of the large message, owned by the string
        CHECK(a.buf == std::string(a.buf.size(), 'x'));
        a.from_client(big.substr(1000));
        completion c;
        a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t n) { c = {true, ec, n}; });
        REQUIRE(run_until_idle(ioc));
        REQUIRE(c.done);
        CHECK_FALSE(c.ec);
        CHECK(a.buf == std::string(3000, 'x') + "end");
    };
    SECTION("tcp: the thread's read buffer")
    {
        asio::io_context ioc;
        auto acc = loopback_acceptor(ioc);
        tcp_peer a(ioc, acc);
        a.from_client(input);
        check(a, ioc, true);
    }
    SECTION("in-memory stream: the read-ahead")
    {
        peer p;
        p.accept();
        p.from_client(input);
        check(p, p.ioc, false);
        auto const frames = p.frames();
        REQUIRE(frames.size() == 3); // the replies and the pong, in the order of the input
        CHECK(frames[0].payload == "re:second");
        CHECK(frames[1].opcode == op_pong);
        CHECK(frames[2].payload == "re:bbbbbb");
    }
}

// ---- deferred reads (plain sockets) ------------------------------------------------------------

TEST_CASE("websocket: a socket closed while its deferred read attempt is queued aborts the read", "[websocket]")
{
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    tcp_peer a(ioc, acc);
    a.from_client(client_frame(op_text, "never read")); // readable, but closed first
    completion r;
    a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t n) { r = {true, ec, n}; });
    CHECK_FALSE(r.done); // the attempt is queued: never inside the initiating call
    std::error_code ignored;
    a.ws.next_layer().close(ignored);
    REQUIRE(run_until_idle(ioc));
    CHECK(r.done);
    CHECK(r.ec == asio::error::operation_aborted);
    CHECK(a.buf.empty());
    CHECK_FALSE(a.ws.is_open());
}

TEST_CASE("websocket: messages arrive whether the deferred attempt finds them or the stream has to wait", "[websocket]")
{
    // Some messages are readable before the read starts (the posted attempt takes them),
    // others only after the attempt found nothing and the stream waits for readability;
    // a stream that waited tries deferring again after a few reads.  Every message arrives
    // in order, on both paths and across the switches between them.
    asio::io_context ioc;
    auto acc = loopback_acceptor(ioc);
    tcp_peer a(ioc, acc);
    for (int i = 0; i < 40; ++i) {
        auto const text = "message " + std::to_string(i);
        bool const ahead = i % 3 == 0 || (i >= 20 && i < 24);
        completion r;
        if (ahead) a.from_client(client_frame(op_text, text));
        a.ws.async_read(a.dyn, [&](std::error_code ec, std::size_t n) { r = {true, ec, n}; });
        if (!ahead) {
            ioc.restart();
            ioc.run_for(2ms); // the attempt runs and finds nothing
            REQUIRE_FALSE(r.done);
            a.from_client(client_frame(op_text, text));
        }
        auto const until = std::chrono::steady_clock::now() + 5s;
        while (!r.done && std::chrono::steady_clock::now() < until) {
            ioc.restart();
            ioc.run_for(1ms);
        }
        REQUIRE(r.done);
        REQUIRE_FALSE(r.ec);
        CHECK(a.buf == text);
        a.buf.clear();
    }
}
