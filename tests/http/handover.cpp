// Embedding: a host that accepts connections (and parses requests) itself hands them to
// http::server::serve, from its own thread, and keeps serving its own routes.
#include <rtmsg/server/server.hpp>
#include <rtmsg/transport/foreign_stream.hpp>
#include <rtmsg/transport/ssl.hpp>

#include <asio/read.hpp>
#include <asio/ssl.hpp>
#include <asio/read_until.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include "support/net.hpp"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <unistd.h>

namespace {

using namespace net_test;
using tcp = asio::ip::tcp;
using ws_test::client_frame;
using ws_test::op_text;

/** The host: a blocking accept loop on a thread of its own (not one that runs the rtmsg
    server's io_context), with a parser of its own that knows nothing of HTTP's rules.  It
    answers GET /host itself and hands everything else to rtmsg. */
struct host_server {
    /// request: serve(stream, request, rest); socket: serve(stream, bytes); behavior: as
    /// request, but /direct-ws and /direct-sse go to serve_websocket and serve_sse.
    enum class mode { request, socket, behavior };

    host_server(running_server& rt, mode m) : rt_(rt), mode_(m)
    {
        acc_.open(tcp::v4());
        acc_.set_option(asio::socket_base::reuse_address(true));
        acc_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acc_.listen();
        port = acc_.local_endpoint().port();
        thread_ = std::thread([this] { run(); });
    }
    ~host_server()
    {
        done_ = true;
        std::error_code ignored;
        tcp::socket wake(ioc_);
        wake.connect({asio::ip::make_address("127.0.0.1"), port}, ignored);
        thread_.join();
    }

    /// The host reads at least this many bytes before it decides (to put them in already_read).
    std::size_t min_read = 0;
    /// mode::behavior: the behaviors the host hands /direct-ws and /direct-sse to.
    std::shared_ptr<rtmsg::websocket::behavior> ws_behavior;
    std::shared_ptr<rtmsg::sse::behavior> sse_behavior;
    unsigned short port = 0;

private:
    void run()
    {
        while (!done_) {
            // The socket belongs to the rtmsg server's io_context from the start: a strand of it.
            tcp::socket s(asio::make_strand(rt_.ioc));
            std::error_code ec;
            acc_.accept(s, ec);
            if (ec || done_) break;
            handle(std::move(s));
        }
    }

    void handle(tcp::socket s)
    {
        std::string buf;
        for (;;) {
            std::error_code ec;
            auto const n = asio::read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", ec);
            if (ec) return;
            if (buf.size() < min_read)
                asio::read(s, asio::dynamic_buffer(buf), asio::transfer_exactly(min_read - buf.size()), ec);
            if (ec) return;
            auto req = parse(std::string_view(buf).substr(0, n));
            if (req.target == "/host") {
                std::string const res = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nhost";
                asio::write(s, asio::buffer(res), ec);
                buf.erase(0, n);
                continue;
            }
            auto const rest = std::string_view(buf).substr(n);
            if (mode_ == mode::behavior && req.target.starts_with("/direct-ws"))
                rt_.server.serve_websocket(std::move(s), std::move(req), rest, ws_behavior);
            else if (mode_ == mode::behavior && req.target.starts_with("/direct-sse"))
                rt_.server.serve_sse(std::move(s), std::move(req), rest, sse_behavior);
            else if (mode_ != mode::socket)
                rt_.server.serve(std::move(s), std::move(req), rest);
            else
                rt_.server.serve(std::move(s), buf);
            // The host's own (moved-from) copy: closing it leaves the handed-over connection alone.
            s.close(ec);
            return;
        }
    }

    /// The host's parser: splits lines and fields, checks nothing.
    static rtmsg::http::request parse(std::string_view head)
    {
        rtmsg::http::request req;
        auto line_end = head.find("\r\n");
        auto const line = head.substr(0, line_end);
        auto const sp1 = line.find(' ');
        auto const sp2 = line.rfind(' ');
        req.method = line.substr(0, sp1);
        req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        auto const version = line.substr(sp2 + 1);
        req.version = version.size() == 8 ? static_cast<unsigned>((version[5] - '0') * 10 + (version[7] - '0')) : 0;
        head.remove_prefix(line_end + 2);
        while ((line_end = head.find("\r\n")) != 0 && line_end != std::string_view::npos) {
            auto const f = head.substr(0, line_end);
            auto const colon = f.find(':');
            auto value = f.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            req.headers.add(std::string(f.substr(0, colon)), std::string(value));
            head.remove_prefix(line_end + 2);
        }
        return req;
    }

    running_server& rt_;
    mode mode_;
    asio::io_context ioc_;
    tcp::acceptor acc_{ioc_};
    std::atomic<bool> done_{false};
    std::thread thread_;
};

rtmsg::websocket::behavior echo_behavior()
{
    rtmsg::websocket::behavior b;
    b.options.ping_interval = {};
    b.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    return b;
}

void add_routes(rtmsg::http::server& s)
{
    s.routes().get(
        "/a", [](rtmsg::http::request const& req, rtmsg::http::response& res) { res.body = std::string(req.target); });
    s.routes().websocket("/echo", echo_behavior());
    auto refusing = echo_behavior();
    refusing.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        if (u.request.query_param("token") == std::optional<std::string>("secret"))
            return rtmsg::websocket::upgrade_decision::accept_as("alice");
        return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::unauthorized, "bad token");
    };
    s.routes().websocket("/private", refusing);
    s.routes().sse("/sse", rtmsg::sse::behavior{});
}

std::string status_line(std::string const& response)
{
    return response.substr(0, response.find("\r\n"));
}

} // namespace

TEST_CASE("embed: pipelined requests read with a handed-over request are answered in order", "[http][embed]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    auto const m = GENERATE(host_server::mode::request, host_server::mode::socket);
    host_server host(rt, m);
    auto const first = get("/a?1");
    auto const second = get("/a?2");
    host.min_read = first.size() + second.size();
    client c(host.port);
    c.send(first + second);
    auto r = c.response();
    CHECK(r.starts_with("HTTP/1.1 200 "));
    CHECK(r.ends_with("/a?1"));
    r = c.response();
    CHECK(r.starts_with("HTTP/1.1 200 "));
    CHECK(r.ends_with("/a?2"));
    // rtmsg keeps the connection and reads the next request from the stream itself.
    c.send(get("/a?3"));
    CHECK(c.response().ends_with("/a?3"));
}

TEST_CASE("embed: already-read bytes that hold the start of a WebSocket frame are not lost", "[http][embed][websocket]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    auto const m = GENERATE(host_server::mode::request, host_server::mode::socket);
    host_server host(rt, m);
    auto const req = upgrade_bytes("/echo");
    auto const frame = client_frame(op_text, "hello, split frame");
    auto const split = GENERATE(std::size_t{1}, std::size_t{3}, std::size_t{10});
    host.min_read = req.size() + split;
    client c(host.port);
    c.send(req + frame.substr(0, split));
    auto const r = c.response();
    CHECK(r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    CHECK(r.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    c.send(frame.substr(split));
    auto f = read_frame(c.socket, c.buf);
    CHECK(f.first == 1);
    CHECK(f.second == "hello, split frame");
    // The host closed its moved-from socket right after serve(): the connection lives on.
    c.send(client_frame(op_text, "again"));
    f = read_frame(c.socket, c.buf);
    CHECK(f.second == "again");
}

TEST_CASE("embed: handovers from the host's thread run concurrently with the server's connections",
          "[http][embed][threads]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    host_server host(rt, host_server::mode::request);
    std::vector<std::unique_ptr<client>> direct, handed;
    for (int i = 0; i < 8; ++i) {
        direct.push_back(std::make_unique<client>(rt.port));
        handed.push_back(std::make_unique<client>(host.port));
        direct.back()->send(upgrade_bytes("/echo"));
        handed.back()->send(upgrade_bytes("/echo"));
    }
    for (auto* v : {&direct, &handed})
        for (auto& c : *v) REQUIRE(c->response().starts_with("HTTP/1.1 101 "));
    for (int round = 0; round < 20; ++round)
        for (auto* v : {&direct, &handed})
            for (auto& c : *v) {
                auto const text = "m" + std::to_string(round);
                c->send(client_frame(op_text, text));
                CHECK(read_frame(c->socket, c->buf).second == text);
            }
    CHECK(rt.server.connection_count() == 16);
}

TEST_CASE("embed: a refused upgrade is answered through the host's stream", "[http][embed][websocket]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    host_server host(rt, host_server::mode::request);
    auto ask = [&](std::string const& bytes) {
        client c(host.port);
        c.send(bytes);
        auto r = c.response();
        CHECK(c.closed_by_server());
        return r;
    };
    auto r = ask(upgrade_bytes("/private?token=wrong"));
    CHECK(r.starts_with("HTTP/1.1 401 "));
    CHECK(r.ends_with("bad token\n"));
    std::string v8 = upgrade_bytes("/echo");
    v8.replace(v8.find("Version: 13"), 11, "Version: 8");
    r = ask(v8);
    CHECK(r.starts_with("HTTP/1.1 426 "));
    CHECK(r.find("Sec-WebSocket-Version: 13\r\n") != std::string::npos);
    client ok(host.port);
    ok.send(upgrade_bytes("/private?token=secret"));
    CHECK(ok.response().starts_with("HTTP/1.1 101 "));
}

TEST_CASE("embed: bad input gets the same answers as from rtmsg's own server, and the host keeps serving",
          "[http][embed]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    auto const m = GENERATE(host_server::mode::request, host_server::mode::socket);
    host_server host(rt, m);
    auto answer = [](unsigned short port, std::string const& bytes) {
        client c(port);
        c.send(bytes);
        return status_line(c.response());
    };
    std::string bad_key = upgrade_bytes("/echo");
    bad_key.replace(bad_key.find("dGhlIHNhbXBsZSBub25jZQ=="), 24, "c2hvcnQ=");
    std::string const inputs[] = {
        "GET /a HTTP/1.1\r\nHost: t\r\nX: a\x01z\r\n\r\n",
        "GET /a HTTP/1.1\r\nX: no host\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n",
        "GET /a HTTP/1.2\r\nHost: t\r\n\r\n",
        "G(T /a HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /a#frag HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: t\r\n\r\n",
        "GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
        get("/echo"),
        bad_key,
        upgrade_bytes("/private"),
    };
    for (auto const& in : inputs) {
        INFO(in);
        auto const own = answer(rt.port, in);
        CHECK((own.starts_with("HTTP/1.1 4") || own.starts_with("HTTP/1.1 505 ")));
        CHECK(answer(host.port, in) == own);
        CHECK(answer(host.port, get("/host")) == "HTTP/1.1 200 OK");
    }
}

TEST_CASE("embed: an SSE route accepts a handed-over request", "[http][embed][sse]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    host_server host(rt, host_server::mode::request);
    client c(host.port);
    c.send(get("/sse", "Accept: text/event-stream\r\n"));
    std::string head;
    asio::read_until(c.socket, asio::dynamic_buffer(head), "\r\n\r\n");
    CHECK(head.starts_with("HTTP/1.1 200 "));
    CHECK(head.find("text/event-stream") != std::string::npos);
}

TEST_CASE("embed: after stop() a handed-over connection gets 503", "[http][embed]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    host_server host(rt, host_server::mode::socket);
    rt.server.stop();
    client c(host.port);
    c.send(get("/a"));
    CHECK(c.response().starts_with("HTTP/1.1 503 "));
}

TEST_CASE("router: {name} segments and a trailing * capture, literal paths win", "[http][router]")
{
    rtmsg::http::router r;
    auto const noop = [](rtmsg::http::request const&, rtmsg::http::response&) {};
    r.get("/rooms/{room}", noop);
    r.get("/rooms/lobby", noop);
    r.post("/rooms/{room}/messages/{id}", noop);
    r.get("/api/*", noop);
    r.get("/a*b", noop);
    auto match = [&](std::string method, std::string target) {
        rtmsg::http::request req;
        req.method = std::move(method);
        req.target = std::move(target);
        auto m = r.match(req);
        req.params = std::move(m.params);
        return std::pair{m, req};
    };
    auto [m, req] = match("GET", "/rooms/caf%C3%A9?x=1");
    CHECK(m.type == rtmsg::http::router::kind::plain);
    CHECK(m.r->path == "/rooms/{room}");
    CHECK(req.param("room") == std::optional<std::string_view>("café"));
    CHECK(!req.param("id"));
    std::tie(m, req) = match("GET", "/rooms/lobby");
    CHECK(m.r->path == "/rooms/lobby");
    CHECK(req.params.empty());
    std::tie(m, req) = match("POST", "/rooms/r1/messages/42");
    CHECK(m.type == rtmsg::http::router::kind::plain);
    CHECK(req.param("room") == std::optional<std::string_view>("r1"));
    CHECK(req.param("id") == std::optional<std::string_view>("42"));
    CHECK(match("GET", "/rooms/").first.type == rtmsg::http::router::kind::not_found);    // {name} is never empty
    CHECK(match("GET", "/rooms/a/b").first.type == rtmsg::http::router::kind::not_found); // nor holds a '/'
    std::tie(m, req) = match("DELETE", "/rooms/r1");
    CHECK(m.type == rtmsg::http::router::kind::method_not_allowed);
    CHECK(m.allow == "GET");
    std::tie(m, req) = match("GET", "/api/v1/users");
    CHECK(m.type == rtmsg::http::router::kind::plain);
    CHECK(req.param("*") == std::optional<std::string_view>("v1/users"));
    CHECK(match("GET", "/api/").second.param("*") == std::optional<std::string_view>(""));
    CHECK(match("GET", "/api").first.type == rtmsg::http::router::kind::not_found);
    CHECK(match("GET", "/a*b").first.type == rtmsg::http::router::kind::plain);
    CHECK(match("GET", "/axb").first.type == rtmsg::http::router::kind::not_found);
}

TEST_CASE("router: the upgrade hook of a pattern route sees the captured values", "[http][router][embed]")
{
    running_server rt;
    auto b = echo_behavior();
    b.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        if (u.request.param("room") == std::optional<std::string_view>("closed"))
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::forbidden);
        return rtmsg::websocket::upgrade_decision::accept();
    };
    b.on_open = [](rtmsg::websocket::connection_ptr const& c) { c->send_text("welcome"); };
    rt.server.routes().websocket("/rooms/{room}", b);
    rt.start();
    auto const m = GENERATE(0, 1);
    std::optional<host_server> host;
    if (m) host.emplace(rt, host_server::mode::request);
    auto const port = m ? host->port : rt.port;
    {
        client c(port);
        c.send(upgrade_bytes("/rooms/closed"));
        CHECK(c.response().starts_with("HTTP/1.1 403 "));
    }
    client c(port);
    c.send(upgrade_bytes("/rooms/open"));
    CHECK(c.response().starts_with("HTTP/1.1 101 "));
    CHECK(read_frame(c.socket, c.buf).second == "welcome");
}

namespace {

/// A TLS stream that stays the host's, read and written by rtmsg through foreign_io: every
/// operation starts on the stream's own strand.
struct host_tls_io final : rtmsg::foreign_io, std::enable_shared_from_this<host_tls_io> {
    explicit host_tls_io(asio::ssl::stream<tcp::socket> s) : s(std::move(s)) {}

    static std::error_code report(std::error_code ec)
    {
        return ec == asio::error::eof ? make_error_code(rtmsg::foreign_error::eof) : ec;
    }
    void read_some(void* data, std::size_t size, io_handler done) override
    {
        asio::post(s.get_executor(), [self = shared_from_this(), data, size, done = std::move(done)] {
            self->s.async_read_some(asio::buffer(data, size),
                                    [done](std::error_code ec, std::size_t n) { done(report(ec), n); });
        });
    }
    void write_some(void const* data, std::size_t size, io_handler done) override
    {
        asio::post(s.get_executor(), [self = shared_from_this(), data, size, done = std::move(done)] {
            self->s.async_write_some(asio::buffer(data, size),
                                     [done](std::error_code ec, std::size_t n) { done(report(ec), n); });
        });
    }
    void shutdown(std::function<void()> done) override
    {
        asio::post(s.get_executor(), [self = shared_from_this(), done = std::move(done)] {
            self->s.async_shutdown([self, done](std::error_code) {
                rtmsg::close_now(self->s);
                done();
            });
        });
    }
    void close() noexcept override
    {
        asio::post(s.get_executor(), [self = shared_from_this()] { rtmsg::close_now(self->s); });
    }

    asio::ssl::stream<tcp::socket> s;
};

} // namespace

TEST_CASE("embed: a TLS stream the host shook hands on is handed over, as asio::ssl::stream or through foreign_io",
          "[http][embed][tls]")
{
    auto const dir = std::filesystem::temp_directory_path() / ("rtmsg-embed-tls-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto const cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
    auto const cmd = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "
                     "subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 -keyout " +
                     key + " -out " + cert + " >/dev/null 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    asio::ssl::context server_ctx(asio::ssl::context::tls_server);
    server_ctx.use_certificate_chain_file(cert);
    server_ctx.use_private_key_file(key, asio::ssl::context::pem);

    running_server rt;
    add_routes(rt.server);
    rt.start();
    bool const foreign = GENERATE(false, true);

    // The host: accepts, shakes hands, reads the request head (and what follows), hands over.
    asio::io_context host_ioc;
    tcp::acceptor acc(host_ioc, {asio::ip::make_address("127.0.0.1"), 0});
    auto const port = acc.local_endpoint().port();
    std::thread host([&] {
        asio::ssl::stream<tcp::socket> tls(tcp::socket(asio::make_strand(rt.ioc)), server_ctx);
        acc.accept(tls.next_layer());
        tls.handshake(asio::ssl::stream_base::server);
        std::string buf;
        asio::read_until(tls, asio::dynamic_buffer(buf), "\r\n\r\n");
        if (foreign)
            rt.server.serve(
                rtmsg::foreign_stream(std::make_shared<host_tls_io>(std::move(tls)), asio::make_strand(rt.ioc)), buf);
        else
            rt.server.serve(std::move(tls), buf);
    });

    asio::io_context ioc;
    asio::ssl::context client_ctx(asio::ssl::context::tls_client);
    client_ctx.load_verify_file(cert);
    client_ctx.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<tcp::socket> tls(ioc, client_ctx);
    tls.set_verify_callback(asio::ssl::host_name_verification("localhost"));
    SSL_set_tlsext_host_name(tls.native_handle(), "localhost");
    tls.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    tls.handshake(asio::ssl::stream_base::client);
    asio::write(tls, asio::buffer(upgrade_bytes("/echo") + client_frame(op_text, "secure")));
    host.join();
    std::string buf;
    auto n = asio::read_until(tls, asio::dynamic_buffer(buf), "\r\n\r\n");
    CHECK(buf.substr(0, n).starts_with("HTTP/1.1 101 "));
    buf.erase(0, n);
    CHECK(read_frame(tls, buf).second == "secure");
    std::string const big(200000, 'x'); // several TLS records each way
    asio::write(tls, asio::buffer(client_frame(ws_test::op_binary, big)));
    auto f = read_frame(tls, buf);
    CHECK(f.first == 2);
    CHECK(f.second == big);
    asio::write(tls, asio::buffer(client_frame(ws_test::op_close, std::string("\x03\xe8", 2))));
    f = read_frame(tls, buf);
    CHECK(f.first == 8);
    CHECK(f.second == std::string("\x03\xe8", 2));
    std::filesystem::remove_all(dir);
}

TEST_CASE("embed: serve_websocket and serve_sse take a behavior that is in no route", "[http][embed]")
{
    running_server rt;
    add_routes(rt.server);
    rt.start();
    host_server host(rt, host_server::mode::behavior);
    auto ws = std::make_shared<rtmsg::websocket::behavior>(echo_behavior());
    ws->on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        if (u.request.query_param("token") != std::optional<std::string>("secret"))
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::unauthorized);
        return rtmsg::websocket::upgrade_decision::accept_as("alice");
    };
    std::atomic<int> sse_opened{0};
    auto events = std::make_shared<rtmsg::sse::behavior>();
    events->on_open = [&](rtmsg::sse::connection_ptr const& c) {
        ++sse_opened;
        c->send(rtmsg::sse::event{"hi", "1", {}, 0});
    };
    host.ws_behavior = ws;
    host.sse_behavior = events;
    auto const req = upgrade_bytes("/direct-ws?token=secret");
    auto const frame = client_frame(op_text, "direct");
    host.min_read = req.size() + 4;
    {
        client c(host.port);
        c.send(req + frame);
        CHECK(c.response().starts_with("HTTP/1.1 101 "));
        CHECK(read_frame(c.socket, c.buf).second == "direct");
    }
    host.min_read = 0;
    {
        client c(host.port);
        c.send(upgrade_bytes("/direct-ws?token=wrong"));
        CHECK(c.response().starts_with("HTTP/1.1 401 "));
        CHECK(c.closed_by_server());
    }
    {
        client c(host.port);
        c.send(get("/direct-ws?token=secret")); // not an upgrade
        CHECK(c.response().starts_with("HTTP/1.1 4"));
        CHECK(c.closed_by_server());
    }
    {
        client c(host.port);
        c.send("POST /direct-sse HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
        CHECK(c.response().starts_with("HTTP/1.1 405 "));
    }
    client c(host.port);
    c.send(get("/direct-sse", "Accept: text/event-stream\r\n"));
    std::string got;
    asio::read_until(c.socket, asio::dynamic_buffer(got), "data: hi\n\n");
    CHECK(got.starts_with("HTTP/1.1 200 "));
    CHECK(sse_opened == 1);
}
