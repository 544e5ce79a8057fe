// permessage-deflate end to end (RFC 7692): our client against our server over TCP and TLS,
// every parameter combination, sizes from 0 to 16 MiB, fragmented compressed messages from a
// raw peer, a compression bomb, and third-party peers (Python websockets, Node ws).
#include <rtmsg/websocket/deflate.hpp>
#include <rtmsg/websocket/client.hpp>
#include <rtmsg/http/server.hpp>
#include <rtmsg/transport/ssl.hpp>

#include "support.hpp"
#include "support/net.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <random>
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
        s += "{\"sym\":\"S" + std::to_string(rng() % 50) + "\",\"px\":" + std::to_string(rng() % 100000) + ",\"qty\":" +
             std::to_string(rng() % 1000) + "},";
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
        std::vector<std::string> argv{RTMSG_TEST_NODE, peer("node_ws_deflate_client.js"), RTMSG_TEST_NODE_MODULES, url, mode};
        argv.insert(argv.end(), sizes.begin(), sizes.end());
        child node(argv);
        CHECK(node.line() == (mode == "on" ? "permessage-deflate" : ""));
        CHECK(node.line(60s) == "ok");
    }
}
