// The WebSocket client: URLs, the client handshake, masking, against our server, Python
// websockets and Node ws, TLS with a test CA, and misbehaving servers.
#include <rtmsg/websocket/client.hpp>
#include <rtmsg/server/server.hpp>
#include <rtmsg/transport/ssl.hpp>

#include "support.hpp"
#include "support/net.hpp"

#include <asio/use_future.hpp>

#include <cstring>
#include <fstream>
#include <set>

namespace {

using namespace client_test;
using rtmsg::websocket::client_stream;
using rtmsg::websocket::message_type;
namespace ws = rtmsg::websocket;

/// Connects, sends each of `texts` and checks that the echo matches.
void echo_round_trip(std::string const& url, ws::client_options const& o = {})
{
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    REQUIRE(wait(ioc, [&](auto h) { ws::async_connect(s, url, o, std::move(h)); }) == std::error_code{});
    for (std::string const& msg :
         {std::string("hello"), std::string("h\xc3\xa9llo \xf0\x9f\x98\x80"), std::string(70000, 'x'), std::string()}) {
        REQUIRE(!wait(ioc, [&](auto h) { s.async_write(message_type::text, asio::buffer(msg), std::move(h)); }));
        std::string got;
        REQUIRE(!read_message(ioc, s, got));
        CHECK(s.got_text());
        CHECK(got == msg);
    }
    std::string const bin("\x00\xff\x80 binary", 10);
    REQUIRE(!wait(ioc, [&](auto h) { s.async_write(message_type::binary, asio::buffer(bin), std::move(h)); }));
    std::string got;
    REQUIRE(!read_message(ioc, s, got));
    CHECK(!s.got_text());
    CHECK(got == bin);
    REQUIRE(!wait(ioc, [&](auto h) { s.async_ping("p", std::move(h)); }));
    REQUIRE(!wait(ioc, [&](auto h) { s.async_close(ws::close_code::normal, "done", std::move(h)); }));
    CHECK(read_message(ioc, s, got) == ws::error::closed);
    CHECK(s.close_code() == ws::close_code::normal);
}

/// Checks a third-party server's fragmentation, headers, subprotocol and close behaviour.
void third_party_checks(std::string const& base)
{
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    o.subprotocols = {"nope", "chat"};
    o.headers.add("Authorization", "Bearer t0ken");
    o.headers.add("Cookie", "session=abc");
    o.headers.add("Sec-WebSocket-Key", "ignored: the handshake sets its own");
    rtmsg::client::response_head res;
    REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(s, base + "/some/path?q=1&r=%20", o, res, std::move(h)); }));
    CHECK(res.status == 101);
    CHECK(res.headers.find("Sec-WebSocket-Protocol").value_or("") == "chat");
    std::string got;
    s.send(message_type::text, "fragment");
    REQUIRE(!read_message(ioc, s, got));
    CHECK(got == "fragmented \xc3\xa9");
    s.send(message_type::text, "headers");
    REQUIRE(!read_message(ioc, s, got));
    CHECK(got.find("\"authorization\":\"Bearer t0ken\"") != std::string::npos);
    CHECK(got.find("\"cookie\":\"session=abc\"") != std::string::npos);
    CHECK(got.find("/some/path?q=1&r=%20") != std::string::npos);
    CHECK(got.find("\"subprotocol\":\"chat\"") != std::string::npos);
    CHECK(got.find("ignored") == std::string::npos);
    s.send(message_type::text, "close");
    CHECK(read_message(ioc, s, got) == ws::error::closed);
    CHECK(s.close_code() == 4001);
    CHECK(s.close_reason() == "bye");
}

ws::behavior echo_behavior()
{
    ws::behavior echo;
    echo.on_message = [](auto const& conn, ws::message_view m) { conn->send(m.type, m.data); };
    return echo;
}

} // namespace

TEST_CASE("client: URLs are parsed by the WebSocket rules", "[client][url]")
{
    rtmsg::client::url u;
    REQUIRE(!rtmsg::client::parse_url("ws://example.com", u));
    CHECK((u.host == "example.com" && u.port == 80 && u.target == "/" && !u.secure));
    CHECK(u.host_header() == "example.com");
    REQUIRE(!rtmsg::client::parse_url("WSS://Example.com:8443/a/b?x=1&y", u));
    CHECK((u.scheme == "wss" && u.port == 8443 && u.target == "/a/b?x=1&y" && u.secure));
    CHECK(u.host_header() == "Example.com:8443");
    REQUIRE(!rtmsg::client::parse_url("ws://[::1]:9001?x", u));
    CHECK((u.host == "::1" && u.ipv6_literal && u.port == 9001 && u.target == "/?x"));
    CHECK(u.host_header() == "[::1]:9001");
    REQUIRE(!rtmsg::client::parse_url("wss://10.0.0.1/", u));
    CHECK((u.host == "10.0.0.1" && u.port == 443));
    REQUIRE(!rtmsg::client::parse_url("https://h/events", u));
    CHECK(u.secure);
    for (auto bad : {"ftp://h/", "ws:/h", "ws://", "ws://:80/", "ws://h:0/", "ws://h:65536/", "ws://h:x/", "ws://h:/",
                     "ws://u@h/", "ws://h/#frag", "ws://h/a b", "ws://[::1/", "ws://[zz]/", "ws://h\r\n/"}) {
        INFO(bad);
        CHECK(rtmsg::client::parse_url(bad, u) == rtmsg::http::error::bad_url);
    }
}

TEST_CASE("client: the upgrade request and the response check follow RFC 6455 §4.1", "[client][handshake]")
{
    auto const key = ws::make_client_key();
    CHECK(rtmsg::detail::base64_decode(key)->size() == 16);
    CHECK(ws::make_client_key() != key);
    ws::client_handshake req;
    req.host = "h:81";
    req.target = "/x?y";
    req.subprotocols = {"a", "b"};
    req.headers.add("X-Token", "1\r\nInjected: yes");
    req.headers.add("Connection", "close");
    std::string out;
    ws::write_client_request(req, key, out);
    CHECK(out.starts_with("GET /x?y HTTP/1.1\r\nHost: h:81\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"));
    CHECK(out.find("Sec-WebSocket-Key: " + key + "\r\n") != std::string::npos);
    CHECK(out.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
    CHECK(out.find("Sec-WebSocket-Protocol: a, b\r\n") != std::string::npos);
    CHECK(out.find("X-Token: 1  Injected: yes\r\n") != std::string::npos);
    CHECK(out.find("Connection: close") == std::string::npos);
    CHECK(out.ends_with("\r\n\r\n"));

    auto parse = [](std::string const& text) {
        rtmsg::client::response_head h;
        std::size_t used = 0;
        REQUIRE(rtmsg::client::parse_response_head(text, h, used) == rtmsg::client::parse_result::done);
        return h;
    };
    // The RFC's own example key (§1.3).
    std::string const rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";
    std::string const good = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
    CHECK(!ws::check_response(parse(good + "\r\n"), rfc_key, {}));
    CHECK(!ws::check_response(parse(good + "Sec-WebSocket-Protocol: b\r\n\r\n"), rfc_key, {"a", "b"}));
    CHECK(ws::check_response(parse(good + "Sec-WebSocket-Protocol: c\r\n\r\n"), rfc_key, {"a", "b"}) ==
          ws::error::bad_subprotocol);
    CHECK(ws::check_response(parse(good + "\r\n"), "AAAAAAAAAAAAAAAAAAAAAA==", {}) == ws::error::bad_accept);
    CHECK(ws::check_response(parse("HTTP/1.1 200 OK\r\n\r\n"), rfc_key, {}) == ws::error::bad_status);
    CHECK(ws::check_response(parse("HTTP/1.1 200 OK\r\n\r\n"), rfc_key, {}) == ws::condition::handshake_failed);
    CHECK(ws::check_response(parse("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n\r\n"), rfc_key, {}) ==
          ws::error::no_upgrade);
    CHECK(ws::check_response(parse(good + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), rfc_key, {}) ==
          ws::error::bad_response);
    rtmsg::client::response_head h;
    std::size_t used = 0;
    CHECK(rtmsg::client::parse_response_head("HTTP/1.1 101 X\r\nA: b\r\n", h, used) ==
          rtmsg::client::parse_result::need_more);
    CHECK(rtmsg::client::parse_response_head("HTTP/1.1 101 X\r\n folded\r\n\r\n", h, used) ==
          rtmsg::client::parse_result::bad);
    CHECK(rtmsg::client::parse_response_head("HTTP/2 101 X\r\n\r\n", h, used) == rtmsg::client::parse_result::bad);
    CHECK(rtmsg::client::parse_response_head("HTTP/1.1 1O1 X\r\n\r\n", h, used) == rtmsg::client::parse_result::bad);
    CHECK(rtmsg::client::parse_response_head(std::string(20000, 'x'), h, used) == rtmsg::client::parse_result::bad);
    CHECK(rtmsg::client::parse_response_head("HTTP/1.1 204 No Content\n\nrest", h, used) ==
          rtmsg::client::parse_result::done);
    CHECK(used == 25);
}

TEST_CASE("client: talks to our own server (echo, binary, ping, close)", "[client][websocket]")
{
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior());
    srv.start();
    echo_round_trip("ws://127.0.0.1:" + std::to_string(srv.port) + "/echo");
    // Host names are resolved ("localhost" may be ::1 first: every address is tried).
    echo_round_trip("ws://localhost:" + std::to_string(srv.port) + "/echo");
}

TEST_CASE("client: connects to an IPv6 literal", "[client][websocket]")
{
    asio::io_context sioc;
    rtmsg::http::server server(sioc.get_executor());
    server.routes().websocket("/echo", echo_behavior());
    server.listen({asio::ip::make_address("::1"), 0});
    auto const port = server.local_endpoint().port();
    std::thread t([&] { sioc.run(); });
    echo_round_trip("ws://[::1]:" + std::to_string(port) + "/echo");
    asio::post(sioc, [&] { server.stop(); });
    sioc.stop();
    t.join();
}

TEST_CASE("client: works with asio::use_future", "[client][websocket]")
{
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior());
    srv.start();
    asio::io_context ioc;
    auto guard = asio::make_work_guard(ioc);
    std::thread t([&] { ioc.run(); });
    {
        client_stream s(asio::make_strand(ioc));
        ws::client_options o;
        ws::async_connect(s, "ws://127.0.0.1:" + std::to_string(srv.port) + "/echo", o, asio::use_future).get();
        std::string msg = "future";
        CHECK(s.async_write(message_type::text, asio::buffer(msg), asio::use_future).get() == msg.size());
        std::string got;
        auto b = asio::dynamic_buffer(got);
        s.async_read(b, asio::use_future).get();
        CHECK(got == "future");
        client_stream bad(ioc.get_executor());
        CHECK_THROWS_AS(
            ws::async_connect(bad, "ws://127.0.0.1:" + std::to_string(srv.port) + "/nowhere", o, asio::use_future)
                .get(),
            std::system_error);
        s.async_close(ws::close_code::normal, "", asio::use_future).get();
    }
    guard.reset();
    t.join();
}

TEST_CASE("client: a refused upgrade reports the server's status", "[client][websocket]")
{
    net_test::running_server srv;
    ws::behavior b = echo_behavior();
    b.on_upgrade = [](ws::upgrade_request const& u) {
        if (u.request.headers.find("Authorization").value_or("") == "Bearer ok")
            return ws::upgrade_decision::accept_as("alice");
        return ws::upgrade_decision::refuse(rtmsg::http::status::unauthorized);
    };
    srv.server.routes().websocket("/auth", b);
    srv.start();
    auto const url = "ws://127.0.0.1:" + std::to_string(srv.port) + "/auth";
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    rtmsg::client::response_head res;
    auto ec = wait(ioc, [&](auto h) { ws::async_connect(s, url, o, res, std::move(h)); });
    CHECK(ec == ws::error::bad_status);
    CHECK(ec == ws::condition::handshake_failed);
    CHECK(res.status == 401);
    CHECK(!s.is_open());
    o.headers.add("Authorization", "Bearer ok");
    client_stream s2(ioc.get_executor());
    CHECK(!wait(ioc, [&](auto h) { ws::async_connect(s2, url, o, res, std::move(h)); }));
    CHECK(res.status == 101);
}

TEST_CASE("client: bad URLs and unreachable servers fail cleanly", "[client][websocket]")
{
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    CHECK(wait(ioc, [&](auto h) { ws::async_connect(s, "http//nope", o, std::move(h)); }) ==
          rtmsg::http::error::bad_url);
    // A port nobody listens on.
    asio::io_context tmp;
    tcp::acceptor a(tmp, {asio::ip::make_address("127.0.0.1"), 0});
    auto const port = a.local_endpoint().port();
    a.close();
    CHECK(wait(ioc, [&](auto h) {
              ws::async_connect(s, "ws://127.0.0.1:" + std::to_string(port) + "/", o, std::move(h));
          }) == asio::error::connection_refused);
    CHECK(wait(ioc, [&](auto h) { ws::async_connect(s, "ws://no-such-host.invalid/", o, std::move(h)); }));
}

TEST_CASE("client: a server that never answers the upgrade times out", "[client][websocket]")
{
    raw_server srv([](tcp::socket& sock) {
        std::string buf;
        read_head(sock, buf);
        std::this_thread::sleep_for(1500ms);
    });
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    o.ws.handshake_timeout = 300ms;
    auto const t0 = std::chrono::steady_clock::now();
    CHECK(wait(ioc, [&](auto h) { ws::async_connect(s, srv.url(), o, std::move(h)); }) == rtmsg::error::timeout);
    CHECK(std::chrono::steady_clock::now() - t0 < 1200ms);
}

TEST_CASE("client: a wrong Sec-WebSocket-Accept or subprotocol is refused", "[client][websocket]")
{
    for (int variant = 0; variant < 3; ++variant) {
        raw_server srv([variant](tcp::socket& sock) {
            std::string buf;
            auto head = read_head(sock, buf);
            std::string res;
            if (variant == 0)
                res = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
            else if (variant == 1)
                res = upgrade_response(head, "Sec-WebSocket-Protocol: other\r\n");
            else
                res = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
            asio::write(sock, asio::buffer(res));
            std::error_code ec;
            char c;
            sock.read_some(asio::buffer(&c, 1), ec);
        });
        asio::io_context ioc;
        client_stream s(ioc.get_executor());
        ws::client_options o;
        o.subprotocols = {"chat"};
        auto const ec = wait(ioc, [&](auto h) { ws::async_connect(s, srv.url(), o, std::move(h)); });
        CHECK(ec == (variant == 0   ? ws::error::bad_accept
                     : variant == 1 ? ws::error::bad_subprotocol
                                    : ws::error::no_connection_upgrade));
        CHECK(ec == ws::condition::handshake_failed);
    }
}

TEST_CASE("client: frames are masked with fresh random keys, and masked server frames fail with 1002",
          "[client][websocket]")
{
    std::vector<std::array<unsigned char, 4>> keys;
    std::vector<std::string> payloads;
    std::string close_payload;
    raw_server srv([&](tcp::socket& sock) {
        std::string buf;
        auto head = read_head(sock, buf);
        // The frames the client sends right behind the 101 arrive in the same write as it.
        asio::write(sock, asio::buffer(upgrade_response(head) + std::string("\x81\x02hi", 4)));
        for (int i = 0; i < 8; ++i) {
            auto need = [&](std::size_t n) {
                if (buf.size() < n) asio::read(sock, asio::dynamic_buffer(buf), asio::transfer_exactly(n - buf.size()));
            };
            need(2);
            REQUIRE((static_cast<unsigned char>(buf[1]) & 0x80) != 0); // MASK bit (§5.3)
            std::size_t const len = static_cast<unsigned char>(buf[1]) & 0x7F;
            need(6 + len);
            std::array<unsigned char, 4> k;
            std::memcpy(k.data(), buf.data() + 2, 4);
            std::string p = buf.substr(6, len);
            for (std::size_t j = 0; j < p.size(); ++j) p[j] = static_cast<char>(p[j] ^ k[j % 4]);
            keys.push_back(k);
            payloads.push_back(p);
            buf.erase(0, 6 + len);
        }
        // A masked frame from the server (§5.1: the client must fail the connection).
        asio::write(sock, asio::buffer(std::string("\x81\x82\x01\x02\x03\x04\x69\x6b", 8)));
        std::error_code ec;
        auto const n = asio::read(sock, asio::dynamic_buffer(buf), asio::transfer_at_least(4), ec);
        (void)n;
        if (buf.size() >= 8) {
            std::array<unsigned char, 4> k;
            std::memcpy(k.data(), buf.data() + 2, 4);
            for (std::size_t j = 6; j < 8; ++j) close_payload += static_cast<char>(buf[j] ^ k[(j - 6) % 4]);
        }
    });
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(s, srv.url(), o, std::move(h)); }));
    std::string got;
    REQUIRE(!read_message(ioc, s, got));
    CHECK(got == "hi");
    for (int i = 0; i < 8; ++i) s.send(message_type::text, "m" + std::to_string(i));
    CHECK(read_message(ioc, s, got) == ws::error::masked_frame);
    run_until(
        ioc, [] { return false; }, 200ms); // the close frame goes out
    srv.join();                            // the server thread wrote payloads and close_payload
    REQUIRE(payloads.size() == 8);
    for (int i = 0; i < 8; ++i) CHECK(payloads[static_cast<std::size_t>(i)] == "m" + std::to_string(i));
    CHECK(std::set<std::array<unsigned char, 4>>(keys.begin(), keys.end()).size() == keys.size());
    CHECK(close_payload == std::string("\x03\xea", 2)); // 1002
}

TEST_CASE("client: invalid UTF-8 and oversized messages from the server close with 1007 and 1009",
          "[client][websocket]")
{
    for (int variant = 0; variant < 2; ++variant) {
        raw_server srv([variant](tcp::socket& sock) {
            std::string buf;
            auto head = read_head(sock, buf);
            std::string frame =
                variant == 0 ? std::string("\x81\x02\xc3\x28", 4) : "\x82\x7e\x04\x00" + std::string(1024, 'z');
            asio::write(sock, asio::buffer(upgrade_response(head) + frame));
            std::error_code ec;
            asio::read(sock, asio::dynamic_buffer(buf), asio::transfer_at_least(1), ec);
        });
        asio::io_context ioc;
        client_stream s(ioc.get_executor());
        ws::client_options o;
        o.ws.max_message_size = 1000;
        REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(s, srv.url(), o, std::move(h)); }));
        std::string got;
        CHECK(read_message(ioc, s, got) == (variant == 0 ? ws::error::bad_utf8 : ws::error::message_too_big));
    }
}

TEST_CASE("client: a server that stops answering is noticed within the keepalive timeout", "[client][websocket]")
{
    raw_server srv([](tcp::socket& sock) {
        std::string buf;
        auto head = read_head(sock, buf);
        asio::write(sock, asio::buffer(upgrade_response(head)));
        std::this_thread::sleep_for(2s); // reads nothing, answers no ping
    });
    asio::io_context ioc;
    client_stream s(ioc.get_executor());
    ws::client_options o;
    o.ws.ping_interval = 100ms;
    o.ws.idle_timeout = 400ms;
    REQUIRE(!wait(ioc, [&](auto h) { ws::async_connect(s, srv.url(), o, std::move(h)); }));
    auto const t0 = std::chrono::steady_clock::now();
    std::string got;
    CHECK(read_message(ioc, s, got) == rtmsg::error::timeout);
    auto const took = std::chrono::steady_clock::now() - t0;
    CHECK(took >= 400ms);
    CHECK(took < 1500ms);
}

TEST_CASE("client: talks to a Python websockets server", "[client][websocket][peers]")
{
    child py({RTMSG_TEST_PYTHON, peer("py_ws_server.py")});
    auto const port = py.line();
    REQUIRE(!port.empty());
    auto const base = "ws://127.0.0.1:" + port;
    echo_round_trip(base + "/");
    third_party_checks(base);
}

TEST_CASE("client: talks to a Node ws server", "[client][websocket][peers]")
{
    child node({RTMSG_TEST_NODE, peer("node_ws_server.js"), RTMSG_TEST_NODE_MODULES});
    auto const port = node.line();
    REQUIRE(!port.empty());
    auto const base = "ws://127.0.0.1:" + port;
    echo_round_trip(base + "/");
    third_party_checks(base);
}

#if !defined(RTMSG_NO_TLS)
TEST_CASE("client: wss verifies the certificate chain and the host name", "[client][websocket][tls]")
{
    test_pki pki;
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file(pki.cert);
    ctx.use_private_key_file(pki.key, asio::ssl::context::pem);
    net_test::running_server srv;
    srv.server.routes().websocket("/echo", echo_behavior());
    srv.start(rtmsg::tls_layer{ctx});
    auto const port = std::to_string(srv.port);

    ws::client_options o;
    o.connect.tls.ca_file = pki.ca;
    echo_round_trip("wss://localhost:" + port + "/echo", o); // CA trusted, name matches

    asio::io_context ioc;
    auto connect = [&](std::string const& url, ws::client_options const& opt) {
        client_stream s(ioc.get_executor());
        return wait(ioc, [&](auto h) { ws::async_connect(s, url, opt, std::move(h)); });
    };
    ws::client_options no_ca;
    auto ec = connect("wss://localhost:" + port + "/echo", no_ca); // only the system store
    CHECK(ec);
    CHECK(ec.category() == asio::error::get_ssl_category());
    ec = connect("wss://127.0.0.1:" + port + "/echo", o); // the certificate names "localhost" only
    CHECK(ec);
    CHECK(ec.category() == asio::error::get_ssl_category());
    ws::client_options pem;
    std::ifstream f(pki.ca);
    pem.connect.tls.ca_pem.assign(std::istreambuf_iterator<char>(f), {});
    pem.connect.tls.use_system_store = false;
    CHECK(!connect("wss://localhost:" + port + "/echo", pem));
    ws::client_options insecure;
    insecure.connect.tls.insecure_skip_verification = true;
    CHECK(!connect("wss://127.0.0.1:" + port + "/echo", insecure));
    // A plain ws:// client against the TLS port gets no valid handshake.
    CHECK(connect("ws://127.0.0.1:" + port + "/echo", o));
}
#endif
