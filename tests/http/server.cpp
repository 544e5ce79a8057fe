// The HTTP front door and WebSocket upgrades over real loopback sockets.
#include <rtmsg/server/server.hpp>
#include <rtmsg/sse/stream.hpp>
#include <rtmsg/transport/ssl.hpp>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include "support/net.hpp"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

namespace {

using namespace net_test;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using ws_test::client_frame;
using ws_test::op_binary;
using ws_test::op_close;
using ws_test::op_text;

rtmsg::websocket::behavior echo_behavior()
{
    rtmsg::websocket::behavior b;
    b.options.ping_interval = {};
    b.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    return b;
}

} // namespace

TEST_CASE("http: routes answer 200, 404 and 405 with Allow", "[http][server]")
{
    running_server s;
    s.server.routes().get("/hello", [](auto const&, auto& res) { res.body = "hi"; });
    s.server.routes().post("/hello", [](auto const& req, auto& res) { res.body = "got " + req.body; });
    s.start();
    client c(s.port);
    c.send(get("/hello"));
    auto r = c.response();
    CHECK(r.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(r.ends_with("\r\n\r\nhi"));
    c.send(get("/nope"));
    CHECK(c.response().starts_with("HTTP/1.1 404 "));
    c.send("DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    r = c.response();
    CHECK(r.starts_with("HTTP/1.1 405 "));
    CHECK(r.find("Allow: GET, POST\r\n") != std::string::npos);
    c.send(
        "POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n");
    CHECK(c.response().ends_with("got abc"));
}

TEST_CASE("http: pipelined requests are answered in order on one connection", "[http][server]")
{
    running_server s;
    s.server.routes().post("/echo-body", [](auto const& req, auto& res) { res.body = req.body; });
    s.start();
    client c(s.port);
    c.send("POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
           "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\ntwo"
           "POST /echo-body HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nthree");
    CHECK(c.response().ends_with("\r\n\r\none"));
    CHECK(c.response().ends_with("\r\n\r\ntwo"));
    CHECK(c.response().ends_with("\r\n\r\nthree"));
}

TEST_CASE("http: a request longer than the first read is read whole", "[http][server]")
{
    // The first read takes 1 KiB; this request has 6 KiB of header lines and a 20 KiB body.
    running_server s;
    s.server.routes().post("/sum", [](auto const& req, auto& res) {
        std::size_t header_bytes = 0;
        for (auto const& f : req.headers)
            if (f.name.starts_with("X-Pad-")) header_bytes += f.value.size();
        res.body = std::to_string(header_bytes) + " " + std::to_string(req.body.size()) + " " +
                   std::string(1, req.body.back());
    });
    s.start();
    client c(s.port);
    std::string req = "POST /sum HTTP/1.1\r\nHost: t\r\n";
    for (int i = 0; i < 30; ++i) req += "X-Pad-" + std::to_string(i) + ": " + std::string(200, 'a' + i % 26) + "\r\n";
    std::string const body = std::string(20 * 1024 - 1, 'b') + "z";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    c.send(req);
    CHECK(c.response().ends_with("\r\n\r\n6000 20480 z"));
    // Keep-alive: the next, short request on the same connection is answered too.
    c.send("POST /sum HTTP/1.1\r\nHost: t\r\nX-Pad-0: x\r\nContent-Length: 1\r\n\r\nq");
    CHECK(c.response().ends_with("\r\n\r\n1 1 q"));
}

TEST_CASE("http: HTTP/1.0 and Connection: close end the connection after the response", "[http][server]")
{
    running_server s;
    s.server.routes().get("/x", [](auto const&, auto& res) { res.body = "x"; });
    s.start();
    {
        client c(s.port);
        c.send("GET /x HTTP/1.0\r\n\r\n");
        CHECK(c.response().starts_with("HTTP/1.0 200 OK"));
        CHECK(c.closed_by_server());
    }
    {
        client c(s.port);
        c.send(get("/x", "Connection: close\r\n"));
        auto r = c.response();
        CHECK(r.find("Connection: close") != std::string::npos);
        CHECK(c.closed_by_server());
    }
    {
        client c(s.port);
        c.send("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(c.response().starts_with("HTTP/1.0 200 OK"));
        c.send(get("/x"));
        CHECK(c.response().starts_with("HTTP/1.1 200 OK"));
    }
}

TEST_CASE("http: bad requests get 400, 413, 431, 501 and others are still served", "[http][server]")
{
    rtmsg::http::server_options opt;
    opt.limits.header_bytes = 1024;
    opt.limits.body_bytes = 100;
    running_server s(opt);
    s.server.routes().post("/b", [](auto const&, auto& res) { res.body = "ok"; });
    s.server.routes().get("/ok", [](auto const&, auto& res) { res.body = "ok"; });
    s.start();
    client bystander(s.port);

    struct bad {
        std::string request;
        std::string status;
    };
    auto const c = GENERATE(values<bad>({
        {"garbage\r\n\r\n", "400"},
        {"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", "400"},
        {"GET / HTTP/2.0\r\nHost: t\r\n\r\n", "505"},
        {"GET / HTTP/1.1\r\n\r\n", "400"},
        {"GET / HTTP/1.1\r\nHost: t\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", "431"},
        {"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", "413"},
        {"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "400"},
        // RFC 9112 §6.3: chunked not last in a request is 400; an unknown coding before it is 501.
        {"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", "400"},
        {"POST /b HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"},
    }));
    client cl(s.port);
    cl.send(c.request);
    auto r = cl.response();
    INFO(c.request.substr(0, 60));
    CHECK(r.substr(0, 12) == "HTTP/1.1 " + c.status);
    CHECK(r.find("Content-Length:") != std::string::npos);
    CHECK(cl.closed_by_server());
    bystander.send(get("/ok"));
    CHECK(bystander.response().ends_with("ok"));
}

TEST_CASE("http: a trickled request is dropped while others are served", "[http][server]")
{
    rtmsg::http::server_options opt;
    opt.request_timeout = 300ms;
    running_server s(opt);
    s.server.routes().get("/ok", [](auto const&, auto& res) { res.body = "ok"; });
    s.start();
    client slow(s.port);
    slow.send("GET /ok HTTP/1.1\r\nHo");
    client fast(s.port);
    fast.send(get("/ok"));
    CHECK(fast.response().ends_with("ok"));
    auto const t0 = std::chrono::steady_clock::now();
    CHECK(slow.closed_by_server());
    CHECK(std::chrono::steady_clock::now() - t0 < 5s);
}

TEST_CASE("http: over the connection limit new clients get 503", "[http][server]")
{
    rtmsg::http::server_options opt;
    opt.max_connections = 2;
    running_server s(opt);
    s.server.routes().get("/ok", [](auto const&, auto& res) { res.body = "ok"; });
    s.start();
    client a(s.port), b(s.port);
    a.send(get("/ok"));
    CHECK(a.response().ends_with("ok"));
    b.send(get("/ok"));
    CHECK(b.response().ends_with("ok"));
    client c(s.port);
    c.send(get("/ok"));
    CHECK(c.response().starts_with("HTTP/1.1 503 "));
}

TEST_CASE("http: static files are served and traversal is refused", "[http][server][static]")
{
    auto const root = std::filesystem::temp_directory_path() / ("rtmsg-static-" + std::to_string(::getpid()));
    std::filesystem::create_directories(root / "sub");
    std::ofstream(root / "index.html") << "<h1>home</h1>";
    std::ofstream(root / "sub" / "app.js") << "let x = 1;";
    std::ofstream(root.parent_path() / "rtmsg-secret.txt") << "secret";
    running_server s;
    s.server.routes().static_files("/", root);
    s.start();
    client c(s.port);
    c.send(get("/"));
    auto r = c.response();
    CHECK(r.starts_with("HTTP/1.1 200"));
    CHECK(r.find("text/html") != std::string::npos);
    CHECK(r.ends_with("<h1>home</h1>"));
    c.send(get("/sub/app.js"));
    r = c.response();
    CHECK(r.find("javascript") != std::string::npos);
    CHECK(r.ends_with("let x = 1;"));
    for (auto target : {"/../rtmsg-secret.txt", "/sub/../../rtmsg-secret.txt", "/%2e%2e/rtmsg-secret.txt",
                        "/%2E%2e%2frtmsg-secret.txt", "/..%2frtmsg-secret.txt", "//etc/passwd", "/%2fetc/passwd",
                        "/index.html%00.js", "/..\\rtmsg-secret.txt", "/sub/%2e%2e/%2e%2e/rtmsg-secret.txt"}) {
        INFO(target);
        client t(s.port);
        t.send(get(target));
        auto res = t.response();
        CHECK((res.starts_with("HTTP/1.1 404") || res.starts_with("HTTP/1.1 400")));
        CHECK(res.find("secret") == std::string::npos);
        CHECK(res.find("root:") == std::string::npos);
    }
    std::filesystem::remove_all(root);
    std::filesystem::remove(root.parent_path() / "rtmsg-secret.txt");
}

TEST_CASE("websocket: the upgrade over TCP answers 101 with the RFC 6455 accept key and echoes", "[websocket][server]")
{
    running_server s;
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    client c(s.port);
    c.send(upgrade_bytes("/echo") + client_frame(op_text, "early"));
    auto r = c.response();
    CHECK(r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    CHECK(r.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    // Bytes sent right after the request (before the 101) are not lost.
    auto f = read_frame(c.socket, c.buf);
    CHECK(f.first == 1);
    CHECK(f.second == "early");
    c.send(client_frame(op_binary, std::string(70000, 'b')));
    f = read_frame(c.socket, c.buf);
    CHECK(f.first == 2);
    CHECK(f.second == std::string(70000, 'b'));
    c.send(client_frame(op_close, std::string("\x0f\xa0", 2)));
    f = read_frame(c.socket, c.buf);
    CHECK(f.first == 8);
    CHECK(f.second == std::string("\x0f\xa0", 2)); // 4000 echoed
    CHECK(c.closed_by_server());
}

TEST_CASE("websocket: handshake refusals are well-formed HTTP errors", "[websocket][server]")
{
    running_server s;
    auto b = echo_behavior();
    b.check_origin = [](std::string_view origin) { return origin.empty() || origin == "https://good.example"; };
    b.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        if (u.request.query_param("token") == std::optional<std::string>("secret") ||
            u.request.cookie("session") == std::optional<std::string>("s1"))
            return rtmsg::websocket::upgrade_decision::accept_as("alice");
        return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::unauthorized, "bad token");
    };
    s.server.routes().websocket("/ws", b);
    s.start();
    auto status_of = [&](std::string const& req) {
        client c(s.port);
        c.send(req);
        return c.response();
    };
    auto r = status_of(upgrade_bytes("/ws?token=secret", "Sec-WebSocket-Version: 8\r\n")
                           .replace(upgrade_bytes("/ws?token=secret").find("Sec-WebSocket-Version: 13\r\n"), 27, ""));
    CHECK(r.starts_with("HTTP/1.1 426 "));
    CHECK(r.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
    CHECK(
        status_of(upgrade_bytes("/ws?token=secret", "Origin: https://evil.example\r\n")).starts_with("HTTP/1.1 403 "));
    r = status_of(upgrade_bytes("/ws?token=wrong"));
    CHECK(r.starts_with("HTTP/1.1 401 "));
    CHECK(r.ends_with("bad token\n"));
    CHECK(status_of(upgrade_bytes("/ws", "Cookie: a=b; session=s1\r\n")).starts_with("HTTP/1.1 101 "));
    CHECK(
        status_of(upgrade_bytes("/ws?token=secret", "Origin: https://good.example\r\n")).starts_with("HTTP/1.1 101 "));
    CHECK(status_of(get("/ws?token=secret")).starts_with("HTTP/1.1 400 "));
    CHECK(status_of("POST /ws HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n").starts_with("HTTP/1.1 405 "));
    std::string bad_key = upgrade_bytes("/ws?token=secret");
    bad_key.replace(bad_key.find("dGhlIHNhbXBsZSBub25jZQ=="), 24, "c2hvcnQ=");
    CHECK(status_of(bad_key).starts_with("HTTP/1.1 400 "));
}

TEST_CASE("websocket: user data from the upgrade hook and the chosen subprotocol reach the connection",
          "[websocket][server]")
{
    running_server s;
    std::promise<std::string> seen;
    rtmsg::websocket::behavior b;
    b.on_upgrade = [](auto const&) { return rtmsg::websocket::upgrade_decision::accept_as("bob"); };
    b.select_subprotocol = [](auto const& offered) { return offered.size() > 1 ? std::string(offered[1]) : ""; };
    b.on_open = [&](auto const& c) {
        seen.set_value(std::string(c->identity()) + "/" + c->subprotocol() + "/" + c->target());
    };
    s.server.routes().websocket("/ws", b);
    s.start();
    client c(s.port);
    c.send(upgrade_bytes("/ws?x=1", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n"));
    auto r = c.response();
    CHECK(r.find("Sec-WebSocket-Protocol: chat.v2\r\n") != std::string::npos);
    auto fut = seen.get_future();
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    CHECK(fut.get() == "bob/chat.v2//ws?x=1");
}

TEST_CASE("websocket: a peer that resets mid-frame is reported as 1006 and others are served", "[websocket][server]")
{
    running_server s;
    std::promise<std::uint16_t> closed;
    auto b = echo_behavior();
    b.on_close = [&](auto const&, std::uint16_t code, std::string_view) { closed.set_value(code); };
    s.server.routes().websocket("/rst", b);
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    {
        client c(s.port);
        c.send(upgrade_bytes("/rst"));
        c.response();
        auto frame = client_frame(op_text, std::string(1000, 'x'));
        c.send(std::string_view(frame).substr(0, 500));
        c.socket.set_option(asio::socket_base::linger(true, 0)); // close() sends RST
        c.socket.close();
    }
    auto fut = closed.get_future();
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    CHECK(fut.get() == rtmsg::websocket::close_code::abnormal);
    client other(s.port);
    other.send(upgrade_bytes("/echo") + client_frame(op_text, "still here"));
    other.response();
    CHECK(read_frame(other.socket, other.buf).second == "still here");
}

TEST_CASE("websocket: pipelined messages split anywhere across reads echo intact", "[websocket][server]")
{
    running_server s;
    s.server.routes().websocket("/echo", echo_behavior());
    s.start();
    client c(s.port);
    c.send(upgrade_bytes("/echo"));
    REQUIRE(c.response().starts_with("HTTP/1.1 101"));
    // Small and large messages back to back, sent in pieces that end inside frames: the
    // server takes what each read holds at once, and a message cut short by the end of a read
    // must be finished by the next one.
    std::vector<std::string> sent;
    std::string bytes;
    for (int i = 0; i < 40; ++i) {
        sent.push_back(std::to_string(i) + std::string(static_cast<std::size_t>(i % 3 == 0 ? 5000 : 7), 'a' + i % 26));
        bytes += client_frame(op_text, sent.back());
    }
    for (std::size_t pos = 0, k = 0; pos < bytes.size(); ++k) {
        auto const n = std::min(bytes.size() - pos, std::size_t(1 + (k * 977) % 4093));
        c.send(std::string_view(bytes).substr(pos, n));
        pos += n;
        std::this_thread::sleep_for(1ms); // separate reads on the server
    }
    for (auto const& m : sent) {
        auto f = read_frame(c.socket, c.buf);
        REQUIRE(f.first == 1);
        REQUIRE(f.second == m);
    }
}

TEST_CASE("websocket: stopping the server sends 1001 to open connections", "[websocket][server]")
{
    auto s = std::make_unique<running_server>();
    s->server.routes().websocket("/echo", echo_behavior());
    s->start();
    client c(s->port);
    c.send(upgrade_bytes("/echo"));
    c.response();
    asio::post(s->ioc, [&] { s->server.stop(); });
    auto f = read_frame(c.socket, c.buf);
    CHECK(f.first == 8);
    REQUIRE(f.second.size() >= 2);
    CHECK((static_cast<unsigned char>(f.second[0]) << 8 | static_cast<unsigned char>(f.second[1])) == 1001);
    c.send(client_frame(op_close, std::string("\x03\xe9", 2)));
    CHECK(c.closed_by_server());
}

TEST_CASE("websocket: wss end to end with a certificate made at test time", "[websocket][server][tls]")
{
    auto const dir = std::filesystem::temp_directory_path() / ("rtmsg-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto const cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
    auto const cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "
                     "subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 -keyout " +
                     key + " -out " + cert + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);

    asio::ssl::context server_ctx(asio::ssl::context::tls_server);
    server_ctx.use_certificate_chain_file(cert);
    server_ctx.use_private_key_file(key, asio::ssl::context::pem);
    running_server s;
    s.server.routes().websocket("/echo", echo_behavior());
    s.server.routes().get("/plain", [](auto const&, auto& res) { res.body = "over tls"; });
    s.start(rtmsg::tls_layer{server_ctx});

    asio::io_context ioc;
    asio::ssl::context client_ctx(asio::ssl::context::tls_client);
    client_ctx.load_verify_file(cert);
    client_ctx.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<tcp::socket> tls(ioc, client_ctx);
    tls.set_verify_callback(asio::ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
    tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), s.port});
    tls.handshake(asio::ssl::stream_base::client);
    asio::write(tls, asio::buffer(upgrade_bytes("/echo") + client_frame(op_text, "secure")));
    std::string buf;
    auto n = asio::read_until(tls, asio::dynamic_buffer(buf), "\r\n\r\n");
    CHECK(buf.substr(0, n).starts_with("HTTP/1.1 101 "));
    buf.erase(0, n);
    auto f = read_frame(tls, buf);
    CHECK(f.second == "secure");
    std::filesystem::remove_all(dir);
}

TEST_CASE("websocket: send() from many threads is safe, ordered per thread and loses nothing",
          "[websocket][server][threads]")
{
    // The io_context runs on two threads; four more threads send to one connection.
    running_server s;
    std::promise<rtmsg::websocket::connection_ptr> opened;
    rtmsg::websocket::behavior b;
    b.options.ping_interval = {};
    b.on_open = [&](auto const& c) { opened.set_value(c); };
    s.server.routes().websocket("/ws", b);
    s.start();
    std::thread second_io([&] { s.ioc.run(); });

    client c(s.port);
    c.send(upgrade_bytes("/ws"));
    REQUIRE(c.response().starts_with("HTTP/1.1 101"));
    auto fut = opened.get_future();
    REQUIRE(fut.wait_for(5s) == std::future_status::ready);
    auto conn = fut.get();

    constexpr int senders = 4, per_sender = 500;
    std::vector<std::thread> threads;
    std::atomic<int> refused{0}; // Catch2 assertions are not thread-safe: count, check later
    for (int t = 0; t < senders; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < per_sender; ++i) {
                auto const msg = std::to_string(t) + ":" + std::to_string(i);
                if (conn->send_text(msg) == rtmsg::websocket::send_status::dropped) ++refused;
            }
        });
    std::vector<int> next(senders, 0);
    for (int n = 0; n < senders * per_sender; ++n) {
        auto f = read_frame(c.socket, c.buf);
        REQUIRE(f.first == 1);
        auto const colon = f.second.find(':');
        auto const t = std::stoi(f.second.substr(0, colon));
        auto const i = std::stoi(f.second.substr(colon + 1));
        REQUIRE(i == next[static_cast<std::size_t>(t)]); // in order, no gap, no duplicate
        ++next[static_cast<std::size_t>(t)];
    }
    for (auto& t : threads) t.join();
    CHECK(refused == 0);
    CHECK(next == std::vector<int>(senders, per_sender));
    conn.reset();
    c.socket.close();
    asio::post(s.ioc, [&] { s.server.stop(); });
    s.guard.reset();
    s.ioc.stop();
    second_io.join();
}

TEST_CASE("http: single_threaded connections run on the io_context's own executor type and not on a strand each",
          "[http][server]")
{
    // The executor each connection gets: a strand of its own by default, the io_context's
    // executor itself with single_threaded.  Either way the connections are served the same.
    // (executor_target checks the type, which any_io_executor::target() of Asio 1.22 does not.)
    for (bool const single : {false, true}) {
        CAPTURE(single);
        rtmsg::http::server_options opt;
        opt.single_threaded = single;
        running_server s(opt);
        std::promise<rtmsg::websocket::connection_ptr> opened;
        rtmsg::websocket::behavior b = echo_behavior();
        b.on_open = [&](auto const& c) { opened.set_value(c); };
        s.server.routes().websocket("/echo", b);
        // With single_threaded on an io_context, sockets are typed on the context's own
        // executor: 8 bytes in the socket and in each pending operation instead of the 56
        // of an any_io_executor.
        using io_socket = asio::ip::tcp::socket::rebind_executor<asio::io_context::executor_type>::other;
        std::promise<asio::any_io_executor> sse_ex;
        std::promise<bool> sse_typed;
        rtmsg::sse::behavior eb;
        eb.on_open = [&](auto const& c) {
            sse_typed.set_value(dynamic_cast<rtmsg::http::detail::sse_connection<io_socket> const*>(c.get()) !=
                                nullptr);
            sse_ex.set_value(c->get_executor());
            c->send({"hello", "1", {}, 0});
        };
        s.server.routes().sse("/events", eb);
        s.start();

        client c(s.port);
        std::string pipelined;
        for (int i = 0; i < 50; ++i) pipelined += client_frame(op_text, "m" + std::to_string(i));
        c.send(upgrade_bytes("/echo") + pipelined);
        REQUIRE(c.response().starts_with("HTTP/1.1 101"));
        auto fut = opened.get_future();
        REQUIRE(fut.wait_for(5s) == std::future_status::ready);
        auto conn = fut.get();
        auto const ex = conn->get_executor();
        using io_ex = asio::io_context::executor_type;
        CHECK((rtmsg::detail::executor_target<io_ex>(ex) != nullptr) == single);
        CHECK((rtmsg::detail::executor_target<asio::strand<io_ex>>(ex) != nullptr) == !single);
        CHECK((dynamic_cast<rtmsg::http::detail::ws_connection<io_socket> const*>(conn.get()) != nullptr) == single);
        for (int i = 0; i < 50; ++i) {
            auto f = read_frame(c.socket, c.buf);
            REQUIRE(f.first == 1);
            REQUIRE(f.second == "m" + std::to_string(i));
        }
        // send() from a thread that does not run the context is still safe and ordered.
        std::thread other([&] {
            for (int i = 0; i < 100; ++i) conn->send_text("t" + std::to_string(i));
        });
        other.join();
        for (int i = 0; i < 100; ++i) {
            auto f = read_frame(c.socket, c.buf);
            REQUIRE(f.first == 1);
            REQUIRE(f.second == "t" + std::to_string(i));
        }

        client e(s.port);
        e.send(get("/events", "Accept: text/event-stream\r\n"));
        auto fe = sse_ex.get_future();
        REQUIRE(fe.wait_for(5s) == std::future_status::ready);
        auto const sx = fe.get();
        CHECK((rtmsg::detail::executor_target<io_ex>(sx) != nullptr) == single);
        CHECK(sse_typed.get_future().get() == single);
        std::string got;
        char chunk[512];
        while (got.find("data: hello\n\n") == std::string::npos) {
            auto const n = e.socket.read_some(asio::buffer(chunk));
            got.append(chunk, n);
        }
        CHECK(got.starts_with("HTTP/1.1 200 "));
        CHECK(got.find("id: 1\n") != std::string::npos);
        conn.reset();
    }
}

TEST_CASE("http: an SSE route keeps its request unless told not to", "[http][sse]")
{
    for (bool const keep : {true, false}) {
        CAPTURE(keep);
        running_server s;
        std::promise<std::string> at_open;
        std::promise<std::string> at_close;
        rtmsg::sse::behavior eb;
        eb.keep_request = keep;
        eb.on_open = [&](auto const& c) {
            at_open.set_value(c->request().target + " " + std::string(c->request().headers.find("X-Who").value_or("")));
            c->close();
        };
        eb.on_close = [&](auto const& c) { at_close.set_value(c->request().target); };
        s.server.routes().sse("/events", eb);
        s.start();
        client e(s.port);
        e.send(get("/events?room=a", "Accept: text/event-stream\r\nX-Who: me\r\n"));
        auto fo = at_open.get_future();
        REQUIRE(fo.wait_for(5s) == std::future_status::ready);
        CHECK(fo.get() == "/events?room=a me"); // on_open sees it either way
        // A stream closed in on_open still answers 200, then ends (the server shuts down its
        // side; its close waits for the client's).
        std::string got;
        char chunk[512];
        std::error_code ec;
        while (!ec) got.append(chunk, e.socket.read_some(asio::buffer(chunk), ec));
        CHECK(ec == asio::error::eof);
        CHECK(got.starts_with("HTTP/1.1 200 "));
        CHECK(got.find("Content-Type: text/event-stream\r\n") != std::string::npos);
        e.socket.close();
        auto fc = at_close.get_future();
        REQUIRE(fc.wait_for(5s) == std::future_status::ready);
        CHECK(fc.get() == (keep ? "/events?room=a" : ""));
    }
}

TEST_CASE("http: an SSE route admits through on_upgrade (and its old name, on_request)", "[http][sse]")
{
    for (bool const old_name : {false, true}) {
        CAPTURE(old_name);
        running_server s;
        rtmsg::sse::behavior eb;
        auto const hook = [](rtmsg::upgrade_request const& u) {
            if (u.request.headers.find("X-Key").value_or("") != "yes")
                return rtmsg::upgrade_decision::refuse(rtmsg::http::status::forbidden, "no key\n");
            return rtmsg::upgrade_decision::accept();
        };
        if (old_name)
            eb.on_request = hook;
        else
            eb.on_upgrade = hook;
        std::promise<void> closed;
        eb.on_open = [](auto const& c) { c->close(); };
        eb.on_close = [&](auto const&) { closed.set_value(); };
        s.server.routes().sse("/events", eb);
        s.start();
        for (bool const key : {false, true}) {
            CAPTURE(key);
            client e(s.port);
            e.send(
                get("/events", key ? "Accept: text/event-stream\r\nX-Key: yes\r\n" : "Accept: text/event-stream\r\n"));
            std::string got;
            char chunk[512];
            std::error_code ec;
            // A refusal: its head is all there is to read.  An admitted stream, closed in
            // on_open: read to its end, then wait for on_close, so that nothing is left open.
            while (!ec && (key || got.find("\r\n\r\n") == std::string::npos))
                got.append(chunk, e.socket.read_some(asio::buffer(chunk), ec));
            CHECK(got.starts_with(key ? "HTTP/1.1 200 " : "HTTP/1.1 403 "));
            if (key) {
                CHECK(ec == asio::error::eof);
                e.socket.close();
                auto f = closed.get_future();
                REQUIRE(f.wait_for(5s) == std::future_status::ready);
            }
        }
    }
}

TEST_CASE("websocket and sse: on_open runs before the response head leaves, and what it sends follows the head",
          "[http][server][sse]")
{
    // on_open peeks at the client's socket: bytes already there would mean that the 101 (or
    // the 200) went out before on_open, and a message published to what on_open subscribes
    // could be missed by a client that acts on the response at once.
    auto bytes_waiting = [](tcp::socket& sock) {
        char b[256];
        auto const n = ::recv(sock.native_handle(), b, sizeof b, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 ? 0L : static_cast<long>(n);
    };
    SECTION("websocket")
    {
        running_server s;
        std::optional<client> c;
        std::promise<long> at_open;
        auto b = echo_behavior();
        b.on_open = [&](auto const& conn) {
            at_open.set_value(bytes_waiting(c->socket));
            conn->send(rtmsg::websocket::message_type::text, "hello from on_open");
        };
        s.server.routes().websocket("/echo", b);
        s.start();
        c.emplace(s.port);
        c->send(upgrade_bytes("/echo"));
        auto f = at_open.get_future();
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        CHECK(f.get() == 0);
        CHECK(c->response().starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        auto fr = read_frame(c->socket, c->buf);
        CHECK(fr.first == 1);
        CHECK(fr.second == "hello from on_open");
        c->send(client_frame(op_text, "echo"));
        fr = read_frame(c->socket, c->buf);
        CHECK(fr.second == "echo");
    }
    SECTION("sse")
    {
        running_server s;
        std::optional<client> c;
        std::promise<long> at_open;
        rtmsg::sse::behavior eb;
        eb.on_open = [&](auto const& conn) {
            at_open.set_value(bytes_waiting(c->socket));
            rtmsg::sse::event ev;
            ev.data = "hello from on_open";
            conn->send(ev);
        };
        s.server.routes().sse("/events", eb);
        s.start();
        c.emplace(s.port);
        c->send(get("/events", "Accept: text/event-stream\r\n"));
        auto f = at_open.get_future();
        REQUIRE(f.wait_for(5s) == std::future_status::ready);
        CHECK(f.get() == 0);
        std::string got;
        char chunk[512];
        while (got.find("hello from on_open") == std::string::npos) {
            std::error_code ec;
            auto const n = c->socket.read_some(asio::buffer(chunk), ec);
            REQUIRE_FALSE(ec);
            got.append(chunk, n);
        }
        CHECK(got.starts_with("HTTP/1.1 200 "));
        CHECK(got.find("data: hello from on_open\n\n") != std::string::npos);
    }
}

TEST_CASE("transport: WebSocket and SSE connections share one base: ids, end() and frames", "[http][server][sse]")
{
    running_server s;
    std::promise<std::shared_ptr<rtmsg::transport::connection>> ws_open, sse_open;
    auto b = echo_behavior();
    b.on_open = [&](rtmsg::websocket::connection_ptr const& c) { ws_open.set_value(c); };
    s.server.routes().websocket("/echo", b);
    rtmsg::sse::behavior eb;
    eb.on_open = [&](rtmsg::sse::connection_ptr const& c) { sse_open.set_value(c); };
    s.server.routes().sse("/events", eb);
    s.start();

    client w(s.port);
    w.send(upgrade_bytes("/echo"));
    CHECK(w.response().starts_with("HTTP/1.1 101 "));
    client e(s.port);
    e.send(get("/events", "Accept: text/event-stream\r\n"));
    auto wf = ws_open.get_future();
    auto ef = sse_open.get_future();
    REQUIRE(wf.wait_for(5s) == std::future_status::ready);
    REQUIRE(ef.wait_for(5s) == std::future_status::ready);
    auto const ws = wf.get();
    auto const sse = ef.get();
    // One counter for both kinds: the stream opened later has the next larger id.
    CHECK(sse->id() > ws->id());
    CHECK(sse->id() - ws->id() < 1000);

    // The same shared frame API on both: bytes in each one's wire format, one gathered write.
    std::vector<std::shared_ptr<std::string const>> frames{
        std::make_shared<std::string const>(std::string("\x81\x02hi", 4)),
        std::make_shared<std::string const>(std::string("\x81\x03you", 5))};
    CHECK(ws->send_frames(frames) == rtmsg::send_status::queued);
    CHECK(read_frame(w.socket, w.buf).second == "hi");
    CHECK(read_frame(w.socket, w.buf).second == "you");
    std::vector<std::shared_ptr<std::string const>> events{std::make_shared<std::string const>("data: one\n\n")};
    CHECK(sse->send_frames(events) == rtmsg::send_status::queued);

    // end(): a WebSocket closes with the code and reason, an SSE stream ends its response.
    ws->end(4001, "bye");
    auto fr = read_frame(w.socket, w.buf);
    REQUIRE(fr.first == op_close);
    REQUIRE(fr.second.size() >= 2);
    CHECK((std::uint8_t(fr.second[0]) << 8 | std::uint8_t(fr.second[1])) == 4001);
    CHECK(fr.second.substr(2) == "bye");
    sse->end(4001, "ignored");
    std::string got;
    char chunk[512];
    for (;;) {
        std::error_code ec;
        auto const n = e.socket.read_some(asio::buffer(chunk), ec);
        if (ec) {
            CHECK(ec == asio::error::eof);
            break;
        }
        got.append(chunk, n);
    }
    CHECK(got.find("data: one\n\n") != std::string::npos);
    CHECK(got.find("ignored") == std::string::npos);
}

TEST_CASE("transport: the default send_frames stops at a frame not queued and reports backpressure",
          "[http][transport]")
{
    // A connection of the host's own: only send_frame is written, send_frames is the default.
    struct scripted final : rtmsg::transport::connection {
        std::vector<rtmsg::send_status> answers;
        std::size_t sent = 0;
        rtmsg::send_status send_frame(std::shared_ptr<std::string const>) override { return answers.at(sent++); }
        void on_idle(std::function<void()>) override {}
        void end(std::uint16_t, std::string_view) override {}
        std::size_t queued_bytes() const noexcept override { return 0; }
        asio::any_io_executor get_executor() const override { return {}; }
    };
    using st = rtmsg::send_status;
    auto frames = [] {
        std::vector<std::shared_ptr<std::string const>> v;
        for (int i = 0; i < 4; ++i) v.push_back(std::make_shared<std::string const>("x"));
        return v;
    };
    scripted a;
    a.answers = {st::queued, st::backpressure, st::queued, st::queued};
    auto fa = frames();
    CHECK(a.send_frames(fa) == st::backpressure); // over the soft limit, yet all four queued
    CHECK(a.sent == 4);
    for (auto const& f : fa) CHECK(f == nullptr); // moved from
    scripted b;
    b.answers = {st::queued, st::dropped, st::queued, st::queued};
    auto fb = frames();
    CHECK(b.send_frames(fb) == st::dropped); // the hard limit: the rest is not offered
    CHECK(b.sent == 2);
    scripted c;
    c.answers = {st::closed, st::queued, st::queued, st::queued};
    auto fc = frames();
    CHECK(c.send_frames(fc) == st::closed);
    CHECK(c.sent == 1);
    scripted d, e;
    CHECK(e.id() > d.id());
}

TEST_CASE("sse: a stream whose io_context goes before its head is written leaks nothing", "[http][sse]")
{
    // A server's SSE connection owns its stream, and the stream's close handler owns the
    // connection until the stream ends.  If the io_context is destroyed while the response
    // head is being written, the destroyed accept operation must break that cycle.
    struct owner {
        explicit owner(tcp::socket s) : stream(std::move(s)) {}
        rtmsg::sse::stream<tcp::socket> stream;
    };
    std::weak_ptr<owner> watch;
    bool closed = false;
    {
        asio::io_context ioc;
        tcp::acceptor acc(ioc, {asio::ip::make_address("127.0.0.1"), 0});
        tcp::socket peer(ioc);
        peer.connect(acc.local_endpoint());
        auto o = std::make_shared<owner>(acc.accept());
        o->stream.set_close_handler([o, &closed](std::error_code) { closed = true; });
        o->stream.async_accept([](std::error_code) {});
        watch = o;
    } // the io_context is destroyed without having run: the head was never written
    CHECK(watch.expired());
    CHECK_FALSE(closed); // dropped, not called: nothing ran on a context that is gone
}

TEST_CASE("detail: executor_target tells a strand from the executor under it", "[http][executor]")
{
    using io_ex = asio::io_context::executor_type;
    asio::io_context ioc;
    asio::any_io_executor const plain = ioc.get_executor();
    asio::any_io_executor const strand = asio::make_strand(ioc.get_executor());
    CHECK(rtmsg::detail::executor_target<io_ex>(plain) != nullptr);
    CHECK(rtmsg::detail::executor_target<asio::strand<io_ex>>(plain) == nullptr);
    CHECK(rtmsg::detail::executor_target<asio::strand<io_ex>>(strand) != nullptr);
    CHECK(rtmsg::detail::executor_target<io_ex>(strand) == nullptr);
    CHECK(rtmsg::detail::executor_target<io_ex>(asio::any_io_executor{}) == nullptr);
    // The connection strand of a plain context executor wraps the concrete type.
    auto const cs = rtmsg::http::detail::connection_strand(plain);
    CHECK(rtmsg::detail::executor_target<asio::strand<io_ex>>(cs) != nullptr);
    auto const cs2 = rtmsg::http::detail::connection_strand(strand);
    CHECK(rtmsg::detail::executor_target<asio::strand<asio::any_io_executor>>(cs2) != nullptr);
}
