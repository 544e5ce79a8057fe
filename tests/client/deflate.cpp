// permessage-deflate end to end (RFC 7692): our client against our server over TCP and TLS,
// every parameter combination, sizes from 0 to 16 MiB, fragmented compressed messages from a
// raw peer, a compression bomb, and third-party peers (Python websockets, Node ws).
#include <rtmsg/websocket/deflate.hpp>
#include <rtmsg/websocket/client.hpp>
#include <rtmsg/server/server.hpp>
#include <rtmsg/transport/ssl.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include "support.hpp"
#include "support/net.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <random>
#include <thread>
#include <string>
#include <vector>

namespace {

using namespace client_test;
using rtmsg::websocket::client_stream;
using rtmsg::websocket::message_type;
namespace ws = rtmsg::websocket;

std::string json_like(std::size_t n, unsigned seed = 1)
{
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < n)
        s += "{\"sym\":\"S" + std::to_string(rng() % 50) + "\",\"px\":" + std::to_string(rng() % 100000) +
             ",\"qty\":" + std::to_string(rng() % 1000) + "},";
    s.resize(n);
    return s;
}

ws::behavior echo_behavior(ws::deflate_options const& d)
{
    ws::behavior echo;
    echo.options.deflate = d;
    echo.options.max_message_size = 17u << 20;
    echo.on_message = [](auto const& conn, ws::message_view m) { conn->send(m.type, m.data); };
    return echo;
}

/// Connects with `o`, checks the negotiated extension against `expect` (a substring of the
/// server's Sec-WebSocket-Extensions, empty: none), and echoes messages of `sizes`.
void deflate_echo(std::string const& url, ws::client_options const& o, std::string const& expect,
                  std::vector<std::size_t> const& sizes)
{
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    rtmsg::client::response_head res;
    REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(s, url, o, res, std::move(h)); }));
    auto const ext = std::string(res.headers.find("Sec-WebSocket-Extensions").value_or(""));
    CAPTURE(ext);
    if (expect.empty())
        CHECK(ext.empty());
    else
        CHECK(ext.find(expect) != std::string::npos);
    for (auto n : sizes) {
        for (auto type : {message_type::text, message_type::binary}) {
            auto const msg = json_like(n, static_cast<unsigned>(n));
            CAPTURE(n, int(type));
            REQUIRE(!wait(ioc, [&](auto h) { s.async_write(type, asio::buffer(msg), std::move(h)); }));
            std::string got;
            REQUIRE(!read_message(ioc, s, got));
            CHECK(s.got_type() == type);
            CHECK(got == msg);
        }
    }
    REQUIRE(!wait(ioc, [&](auto h) { s.async_close(ws::close_code::normal, "done", std::move(h)); }));
    std::string got;
    CHECK(read_message(ioc, s, got) == ws::error::closed);
}

} // namespace

TEST_CASE("deflate: our client and server compress both ways, each parameter combination", "[client][deflate]")
{
    auto const server_nct = GENERATE(false, true);
    auto const client_nct = GENERATE(false, true);
    auto const server_bits = GENERATE(as<int>{}, 9, 15);
    auto const client_bits = GENERATE(as<int>{}, 9, 15);
    ws::deflate_options sd;
    sd.enable = true;
    sd.no_context_takeover = server_nct;
    sd.window_bits = static_cast<std::uint8_t>(server_bits);
    sd.threshold = 0;
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior(sd));
    srv.start();
    ws::client_options o;
    o.ws.max_message_size = 17u << 20;
    o.ws.deflate.enable = true;
    o.ws.deflate.no_context_takeover = client_nct;
    o.ws.deflate.window_bits = static_cast<std::uint8_t>(client_bits);
    o.ws.deflate.threshold = 0;
    deflate_echo("ws://127.0.0.1:" + std::to_string(srv.port) + "/echo", o, "permessage-deflate",
                 {0, 1, 100, 300, 5000, 70000});
}

TEST_CASE("deflate: compressed echo from 0 bytes to 16 MiB", "[client][deflate][slow]")
{
    ws::deflate_options sd;
    sd.enable = true;
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior(sd));
    srv.start();
    ws::client_options o;
    o.ws.max_message_size = 17u << 20;
    o.ws.deflate.enable = true;
    deflate_echo("ws://127.0.0.1:" + std::to_string(srv.port) + "/echo", o, "permessage-deflate",
                 {0, 125, 255, 256, 4096, 65535, 65536, 1u << 20, 16u << 20});
}

TEST_CASE("deflate: either side without it falls back to uncompressed", "[client][deflate]")
{
    ws::deflate_options on;
    on.enable = true;
    net_test::running_server srv;
    srv.server.routes().websocket("/on", echo_behavior(on));
    srv.server.routes().websocket("/off", echo_behavior({}));
    srv.start();
    auto const base = "ws://127.0.0.1:" + std::to_string(srv.port);
    ws::client_options with;
    with.ws.deflate.enable = true;
    deflate_echo(base + "/off", with, "", {0, 1000});
    deflate_echo(base + "/on", {}, "", {0, 1000});
}

TEST_CASE("deflate: the memory budget makes new connections negotiate no context takeover", "[client][deflate]")
{
    ws::deflate_options sd;
    sd.enable = true;
    sd.memory_budget = 1; // spent as soon as one connection keeps a window
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior(sd));
    srv.start();
    auto const url = "ws://127.0.0.1:" + std::to_string(srv.port) + "/echo";
    ws::client_options o;
    o.ws.deflate.enable = true;
    asio::io_context ioc;
    client_stream first(ioc.get_executor());
    rtmsg::client::response_head res;
    REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(first, url, o, res, std::move(h)); }));
    auto const ext1 = std::string(res.headers.find("Sec-WebSocket-Extensions").value_or(""));
    CHECK(ext1 == "permessage-deflate");
    std::string const msg = json_like(2000);
    REQUIRE(!wait(ioc, [&](auto h) { first.async_write(message_type::text, asio::buffer(msg), std::move(h)); }));
    std::string got;
    REQUIRE(!read_message(ioc, first, got));
    CHECK(got == msg);
    CHECK(first.spare_storage() > 0); // the client's own windows
    client_stream second(ioc.get_executor());
    REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(second, url, o, res, std::move(h)); }));
    auto const ext2 = std::string(res.headers.find("Sec-WebSocket-Extensions").value_or(""));
    CHECK(ext2 == "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    REQUIRE(!wait(ioc, [&](auto h) { second.async_write(message_type::text, asio::buffer(msg), std::move(h)); }));
    REQUIRE(!read_message(ioc, second, got));
    CHECK(got == msg);
}

TEST_CASE("deflate: talks to a Python websockets server (compression on by default)", "[client][deflate][peers]")
{
    child py({RTMSG_TEST_PYTHON, peer("py_ws_server.py")});
    auto const port = py.line();
    REQUIRE(!port.empty());
    ws::client_options o;
    o.ws.deflate.enable = true;
    o.ws.deflate.threshold = 0;
    deflate_echo("ws://127.0.0.1:" + port + "/", o, "permessage-deflate", {0, 1, 300, 70000, 1u << 20});
    o.ws.deflate.no_context_takeover = true;
    o.ws.deflate.peer_no_context_takeover = true;
    o.ws.deflate.window_bits = 10;
    deflate_echo("ws://127.0.0.1:" + port + "/", o, "server_no_context_takeover", {0, 300, 70000});
}

#if !defined(RTMSG_NO_TLS)
TEST_CASE("deflate: over TLS", "[client][deflate][tls]")
{
    test_pki pki;
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(pki.cert);
    ctx.use_private_key_file(pki.key, asio::ssl::context::pem);
    ws::deflate_options sd;
    sd.enable = true;
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior(sd));
    srv.start(rtmsg::tls_layer{ctx});
    ws::client_options o;
    o.connect.tls.ca_file = pki.ca;
    o.ws.deflate.enable = true;
    o.ws.max_message_size = 17u << 20;
    deflate_echo("wss://localhost:" + std::to_string(srv.port) + "/echo", o, "permessage-deflate",
                 {0, 300, 70000, 1u << 20});
}
#endif

TEST_CASE("deflate: talks to a Node ws server with perMessageDeflate on and off", "[client][deflate][peers]")
{
    for (bool on : {true, false}) {
        CAPTURE(on);
        std::vector<std::string> argv{RTMSG_TEST_NODE, peer("node_ws_server.js"), RTMSG_TEST_NODE_MODULES};
        if (on) argv.push_back("deflate");
        child node(argv);
        auto const port = node.line();
        REQUIRE(!port.empty());
        ws::client_options o;
        o.ws.deflate.enable = true;
        o.ws.deflate.threshold = 0;
        deflate_echo("ws://127.0.0.1:" + port + "/", o, on ? "permessage-deflate" : "", {0, 1, 300, 70000, 1u << 20});
        o.ws.deflate.no_context_takeover = true;
        o.ws.deflate.window_bits = 9;
        deflate_echo("ws://127.0.0.1:" + port + "/", o, on ? "client_max_window_bits=9" : "", {0, 300, 70000});
    }
}

TEST_CASE("deflate: Python websockets and Node ws clients against our server", "[client][deflate][peers]")
{
    ws::deflate_options sd;
    sd.enable = true;
    sd.threshold = 0;
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior(sd));
    srv.start();
    auto const url = "ws://127.0.0.1:" + std::to_string(srv.port) + "/echo";
    std::vector<std::string> const sizes{"0", "1", "200", "300", "4096", "70000", "1048576", "4194304"};
    {
        std::vector<std::string> argv{RTMSG_TEST_PYTHON, peer("py_ws_deflate_client.py"), url};
        argv.insert(argv.end(), sizes.begin(), sizes.end());
        child py(argv);
        auto const ext = py.line();
        CHECK(ext.find("permessage-deflate") == 0);
        CHECK(py.line(60s) == "ok");
    }
    for (std::string mode : {"on", "off"}) {
        CAPTURE(mode);
        std::vector<std::string> argv{RTMSG_TEST_NODE, peer("node_ws_deflate_client.js"), RTMSG_TEST_NODE_MODULES, url,
                                      mode};
        argv.insert(argv.end(), sizes.begin(), sizes.end());
        child node(argv);
        CHECK(node.line() == (mode == "on" ? "permessage-deflate" : ""));
        CHECK(node.line(60s) == "ok");
    }
}

// ---- the hub's fan-out: compressed once for every subscriber that can share it ----------------

namespace {

/// A raw WebSocket subscriber that sees the frames as they are on the wire (RSV1 included).
struct raw_subscriber {
    raw_subscriber(unsigned short port, std::string_view target, std::string_view extensions) : c(port)
    {
        std::string extra;
        if (!extensions.empty()) extra.append("Sec-WebSocket-Extensions: ").append(extensions).append("\r\n");
        c.send(net_test::upgrade_bytes(target, extra));
        head = c.response();
    }
    struct frame {
        std::uint8_t b0 = 0;
        std::string bytes;   ///< the whole frame
        std::string payload; ///< as sent (compressed if RSV1)
        bool compressed() const { return (b0 & 0x40) != 0; }
    };
    frame next()
    {
        auto need = [&](std::size_t n) {
            if (c.buf.size() < n)
                asio::read(c.socket, asio::dynamic_buffer(c.buf), asio::transfer_exactly(n - c.buf.size()));
        };
        need(2);
        std::size_t len = static_cast<unsigned char>(c.buf[1]) & 0x7F, at = 2;
        if (len == 126)
            at = 4;
        else if (len == 127)
            at = 10;
        need(at);
        if (at != 2) {
            len = 0;
            for (std::size_t i = 2; i < at; ++i) len = len << 8 | static_cast<unsigned char>(c.buf[i]);
        }
        need(at + len);
        frame f{static_cast<std::uint8_t>(c.buf[0]), c.buf.substr(0, at + len), c.buf.substr(at, len)};
        c.buf.erase(0, at + len);
        return f;
    }
    net_test::client c;
    std::string head;
};

/// A raw inflater (RFC 7692 §7.2.2: each message's bytes plus 00 00 ff ff), keeping its window
/// between messages unless `reset`.
struct raw_inflater {
    raw_inflater() { REQUIRE(inflateInit2(&z, -15) == Z_OK); }
    ~raw_inflater() { inflateEnd(&z); }
    raw_inflater(raw_inflater const&) = delete;
    raw_inflater& operator=(raw_inflater const&) = delete;
    std::string operator()(std::string in)
    {
        in.append("\x00\x00\xff\xff", 4);
        std::string out;
        z.next_in = reinterpret_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(in.size());
        char chunk[16384];
        do {
            z.next_out = reinterpret_cast<Bytef*>(chunk);
            z.avail_out = sizeof chunk;
            auto const rc = inflate(&z, Z_SYNC_FLUSH);
            REQUIRE((rc == Z_OK || rc == Z_BUF_ERROR));
            out.append(chunk, sizeof chunk - z.avail_out);
        } while (z.avail_out == 0);
        return out;
    }
    z_stream z{};
};

void wait_for_connections(rtmsg::hub& hub, std::uint64_t n)
{
    auto const deadline = std::chrono::steady_clock::now() + 10s;
    while (hub.metrics().connections < n && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    REQUIRE(hub.metrics().connections == n);
}

std::uint32_t fnv1a(std::string_view s)
{
    std::uint32_t h = 2166136261u;
    for (unsigned char ch : s) h = (h ^ ch) * 16777619u;
    return h;
}

} // namespace

TEST_CASE("deflate: the hub compresses a fan-out message once for every subscriber that can share it",
          "[client][deflate][hub]")
{
    rtmsg::hub hub;
    ws::behavior base;
    base.options.deflate.enable = true;
    base.options.deflate.threshold = 64;
    net_test::running_server srv;
    srv.server.routes().websocket("/t", rtmsg::raw_endpoint(hub, "t", base));
    srv.start();
    // Two subscribers that share compressed frames, one that asks for a smaller server window
    // than ours (it cannot take them: it gets the uncompressed ones), one that does not compress.
    raw_subscriber a(srv.port, "/t", "permessage-deflate; client_max_window_bits");
    raw_subscriber b(srv.port, "/t", "permessage-deflate");
    raw_subscriber small(srv.port, "/t", "permessage-deflate; server_max_window_bits=10");
    raw_subscriber plain(srv.port, "/t", "");
    for (auto* s : {&a, &b, &small, &plain}) REQUIRE(s->head.rfind("HTTP/1.1 101", 0) == 0);
    // Every peer is told that the server compresses each message on its own.
    CHECK(a.head.find("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover") != std::string::npos);
    CHECK(b.head.find("server_no_context_takeover") != std::string::npos);
    CHECK(small.head.find("server_max_window_bits=10") != std::string::npos);
    CHECK(plain.head.find("Sec-WebSocket-Extensions") == std::string::npos);
    wait_for_connections(hub, 4);

    std::vector<std::string> const msgs{"short, below the threshold", json_like(1000), json_like(1000),
                                        json_like(70000, 7)};
    for (auto const& m : msgs) hub.publish("t", m, rtmsg::codec::data_kind::text);
    std::string first_compressed;
    for (auto const& m : msgs) {
        CAPTURE(m.size());
        auto const fa = a.next();
        auto const fb = b.next();
        auto const fs = small.next();
        auto const fp = plain.next();
        // The sharing subscribers get the same bytes: one compressed frame for both.
        CHECK(fa.bytes == fb.bytes);
        CHECK((fp.b0 & 0x70) == 0);
        CHECK(fp.payload == m);
        if (m.size() < 64) {
            CHECK(!fa.compressed());
            CHECK(fa.payload == m);
            CHECK(!fs.compressed());
            continue;
        }
        REQUIRE(fa.compressed());
        CHECK(fa.payload.size() < m.size() / 2);
        raw_inflater fresh; // server_no_context_takeover: every message inflates alone
        CHECK(fresh(fa.payload) == m);
        // Compressed without context, the same message is the same frame every time.
        if (m.size() == 1000) {
            if (first_compressed.empty())
                first_compressed = fa.bytes;
            else
                CHECK(fa.bytes == first_compressed);
        }
        // The subscriber with a 10-bit window gets the uncompressed frame.
        CHECK(!fs.compressed());
        CHECK(fs.payload == m);
    }
    // Above the threshold but not compressible (random bytes): sent as it is, never longer.
    std::mt19937 rng(42);
    std::string noise(100, '\0');
    for (auto& ch : noise) ch = static_cast<char>(rng());
    hub.publish("t", noise, rtmsg::codec::data_kind::binary);
    auto const fa = a.next();
    CHECK(!fa.compressed());
    CHECK((fa.b0 & 0x0F) == 2);
    CHECK(fa.payload == noise);
    CHECK(b.next().bytes == fa.bytes);
}

TEST_CASE("deflate: with compress_per_connection the hub's subscribers keep their context", "[client][deflate][hub]")
{
    rtmsg::hub_options ho;
    ho.compress_per_connection = true;
    rtmsg::hub hub(ho);
    ws::behavior base;
    base.options.deflate.enable = true;
    base.options.deflate.threshold = 64;
    net_test::running_server srv;
    srv.server.routes().websocket("/t", rtmsg::raw_endpoint(hub, "t", base));
    srv.start();
    raw_subscriber a(srv.port, "/t", "permessage-deflate");
    REQUIRE(a.head.rfind("HTTP/1.1 101", 0) == 0);
    CHECK(a.head.find("Sec-WebSocket-Extensions: permessage-deflate\r\n") != std::string::npos);
    wait_for_connections(hub, 1);
    auto const m = json_like(1000);
    hub.publish("t", m, rtmsg::codec::data_kind::text);
    hub.publish("t", m, rtmsg::codec::data_kind::text);
    raw_inflater keep; // context takeover: one window for the connection's life
    auto const f1 = a.next();
    auto const f2 = a.next();
    REQUIRE(f1.compressed());
    REQUIRE(f2.compressed());
    CHECK(keep(f1.payload) == m);
    CHECK(keep(f2.payload) == m);
    // The second copy refers back to the first: the window was kept.
    CHECK(f2.payload.size() * 4 < f1.payload.size());
}

TEST_CASE("deflate: Python websockets, Node ws and our client subscribe to a compressing hub",
          "[client][deflate][hub][peers]")
{
    rtmsg::hub hub;
    ws::behavior base;
    base.options.deflate.enable = true;
    net_test::running_server srv;
    srv.server.routes().websocket("/t", rtmsg::raw_endpoint(hub, "t", base));
    srv.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, base));
    srv.start();
    auto const url = "ws://127.0.0.1:" + std::to_string(srv.port) + "/t";
    std::vector<std::string> const msgs{"tiny", json_like(300, 3), json_like(5000, 4), json_like(200000, 5)};
    std::string const count = std::to_string(msgs.size());
    child py({RTMSG_TEST_PYTHON, peer("py_ws_subscriber.py"), url, count});
    child node({RTMSG_TEST_NODE, peer("node_ws_subscriber.js"), RTMSG_TEST_NODE_MODULES, url, count});
    CHECK(py.line().find("server_no_context_takeover") != std::string::npos);
    CHECK(node.line().find("server_no_context_takeover") != std::string::npos);
    // Our own client, through the rtmsg protocol (a codec's frames compressed once).
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    o.ws.deflate.enable = true;
    o.subprotocols = {"rtmsg.json"};
    rtmsg::client::response_head res;
    REQUIRE(!wait(ioc, [&](auto h) {
        ws::async_connect(s, "ws://127.0.0.1:" + std::to_string(srv.port) + "/ws", o, res, std::move(h));
    }));
    CHECK(s.compression().has_value());
    CHECK(s.compression()->server_no_context_takeover);
    std::string const sub = R"({"op":"sub","topic":"t","id":1})";
    REQUIRE(!wait(ioc, [&](auto h) { s.async_write(message_type::text, asio::buffer(sub), std::move(h)); }));
    std::string got;
    REQUIRE(!read_message(ioc, s, got));
    CHECK(got.find("\"ack\"") != std::string::npos);
    wait_for_connections(hub, 3);
    for (auto const& m : msgs) hub.publish("t", m, rtmsg::codec::data_kind::text);
    for (auto const& m : msgs) {
        CAPTURE(m.size());
        auto const expect = std::to_string(m.size()) + " " + std::to_string(fnv1a(m));
        CHECK(py.line() == expect);
        CHECK(node.line() == expect);
        REQUIRE(!read_message(ioc, s, got));
        rtmsg::codec::json codec;
        rtmsg::codec::envelope e;
        REQUIRE(!codec.decode_unpadded(got, e));
        CHECK(e.op == rtmsg::codec::op::message);
        CHECK(e.data == m);
    }
}
