// The SSE client: the WHATWG parsing rules, reconnection with retry: and Last-Event-ID,
// against a Node SSE server and against our own hub's SSE endpoint.
#include <rtmsg/sse/client.hpp>
#include <rtmsg/server/hub_endpoint.hpp>

#include "support.hpp"
#include "support/net.hpp"

namespace {

using namespace client_test;
using rtmsg::sse::received_event;

std::vector<received_event> parse_all(std::vector<std::string> const& chunks, rtmsg::sse::parser& p)
{
    std::vector<received_event> out;
    for (auto const& c : chunks) REQUIRE(!p.feed(c, [&](received_event&& e) { out.push_back(std::move(e)); }));
    return out;
}

/// Reads `n` events (each within the time limit).
std::vector<received_event> read_events(asio::io_context& ioc, rtmsg::sse::client& c, std::size_t n)
{
    std::vector<received_event> out;
    for (std::size_t i = 0; i < n; ++i) {
        received_event ev;
        auto ec = wait(ioc, [&](auto h) { c.async_read(ev, std::move(h)); });
        INFO(ec.message());
        REQUIRE(!ec);
        out.push_back(ev);
    }
    return out;
}

} // namespace

TEST_CASE("sse client: the parser follows the WHATWG examples and rules", "[client][sse]")
{
    rtmsg::sse::parser p;
    // WHATWG HTML §9.2.6 examples.
    auto ev = parse_all({"data: YHOO\ndata: +2\ndata: 10\n\n"}, p);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].data == "YHOO\n+2\n10");
    CHECK(ev[0].type == "message");
    ev = parse_all({": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"}, p);
    REQUIRE(ev.size() == 3);
    CHECK((ev[0].data == "first event" && ev[0].id == "1"));
    CHECK((ev[1].data == "second event" && ev[1].id.empty())); // "id" alone resets it
    CHECK((ev[2].data == " third event" && ev[2].id.empty())); // only one space is stripped
    ev = parse_all({"data\n\ndata\ndata\n\ndata:\n"}, p);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].data.empty());
    CHECK(ev[1].data == "\n");
    rtmsg::sse::parser q; // the previous stream ended inside an event, which is discarded
    ev = parse_all({"data:test\n\ndata: test\n\n"}, q);
    REQUIRE(ev.size() == 2);
    CHECK((ev[0].data == "test" && ev[1].data == "test"));
}

TEST_CASE("sse client: BOM, CR/LF/CRLF in any split, NUL ids, retry, event types", "[client][sse]")
{
    std::string const s = std::string("\xEF\xBB\xBFretry: 2500\r\nid: 7\r\nevent: tick\r\ndata: a\r\ndata: b\r\n\r\n") +
                          std::string("id: x\0y\r", 8) + "data: c\r\r" + "data: d\nretry: 12x\nevent:\n\n" +
                          ": only a comment\n\n" +
                          "event: e\nid: 9\n\n" + // no data: not dispatched, but the id is kept
                          "data: last\n\n" + "data: partial";
    for (std::size_t split : {std::size_t(1), std::size_t(2), std::size_t(3), std::size_t(7), s.size()}) {
        INFO("chunk size " << split);
        rtmsg::sse::parser p;
        std::vector<std::string> chunks;
        for (std::size_t i = 0; i < s.size(); i += split) chunks.push_back(s.substr(i, split));
        auto ev = parse_all(chunks, p);
        REQUIRE(ev.size() == 4);
        CHECK((ev[0].type == "tick" && ev[0].data == "a\nb" && ev[0].id == "7"));
        CHECK((ev[1].type == "message" && ev[1].data == "c" && ev[1].id == "7")); // the NUL id is ignored
        CHECK((ev[2].type == "message" && ev[2].data == "d"));
        CHECK((ev[3].data == "last" && ev[3].id == "9"));
        CHECK(p.retry() == 2500u); // "12x" is not a number: ignored
        CHECK(p.last_event_id() == "9");
    }
    // A BOM is skipped only at the start; elsewhere it is data.
    rtmsg::sse::parser p;
    auto ev = parse_all({"\xEF\xBB", "\xBF"
                                     "data: x\xEF\xBB\xBF\n\n"},
                        p);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].data == "x\xEF\xBB\xBF");
    // Past the start a BOM is part of the line: here it makes an unknown field name.
    ev = parse_all({"\xEF\xBB\xBF"
                    "data: y\n\n"},
                   p);
    CHECK(ev.empty());
    rtmsg::sse::parser fresh;
    ev = parse_all({"data: y\n\ndatax: z\n\n"}, fresh);
    REQUIRE(ev.size() == 1);
    // The limit bounds a line that never ends.
    rtmsg::sse::parser small(16);
    CHECK(small.feed(std::string(17, 'a'), [](received_event&&) {}) == rtmsg::sse::error::event_too_big);
}

TEST_CASE("sse client: the chunked decoder takes any split", "[client][sse]")
{
    std::string const body = "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n";
    for (std::size_t split : {std::size_t(1), std::size_t(3), body.size()}) {
        rtmsg::sse::chunked_decoder d;
        std::string out;
        for (std::size_t i = 0; i < body.size(); i += split) REQUIRE(d.feed(body.substr(i, split), out));
        CHECK(out == "Wikipedia in\r\n\r\nchunks.");
        CHECK(d.done());
    }
    rtmsg::sse::chunked_decoder bad;
    std::string out;
    CHECK(!bad.feed("zz\r\n", out));
}

TEST_CASE("sse client: a Node SSE server, reconnecting after its retry: delay with Last-Event-ID",
          "[client][sse][peers]")
{
    child node({RTMSG_TEST_NODE, peer("node_sse_server.js")});
    auto const port = node.line();
    REQUIRE(!port.empty());
    asio::io_context ioc;
    rtmsg::sse::client_options o;
    o.retry = std::chrono::milliseconds(5000); // the server's retry: 150 must win
    std::vector<rtmsg::sse::client_state> states;
    o.on_state = [&](rtmsg::sse::client_state s) { states.push_back(s); };
    rtmsg::sse::client c(ioc.get_executor(), "http://127.0.0.1:" + port + "/events", o);
    auto const t0 = std::chrono::steady_clock::now();
    auto ev = read_events(ioc, c, 12);
    CHECK(std::chrono::steady_clock::now() - t0 < 4s);
    std::vector<std::string> got;
    for (auto const& e : ev) got.push_back(e.type + "|" + e.data + "|" + e.id);
    std::vector<std::string> const want{
        "hello|last=none|", "message|nospace 1|1", "message|v2|2", "tick|line1\nline2|3",
        "hello|last=3|3",   "message|nospace 4|4", "message|v5|5", "tick|line1\nline2|6",
        "hello|last=6|6",   "message|nospace 7|7", "message|v8|8", "tick|line1\nline2|9",
    };
    CHECK(got == want);
    CHECK(c.retry() == std::chrono::milliseconds(150));
    CHECK(c.connections() == 3);
    CHECK(c.last_event_id() == "9");
    using st = rtmsg::sse::client_state;
    CHECK(states == std::vector<st>{st::open, st::reconnecting, st::open, st::reconnecting, st::open});
    c.close();
    received_event more;
    CHECK(wait(ioc, [&](auto h) { c.async_read(more, std::move(h)); }) == rtmsg::sse::error::closed);
}

TEST_CASE("sse client: 204 and a wrong content type fail without reconnecting", "[client][sse][peers]")
{
    child node({RTMSG_TEST_NODE, peer("node_sse_server.js")});
    auto const port = node.line();
    REQUIRE(!port.empty());
    asio::io_context ioc;
    for (auto [path, want] : {std::pair{"/nocontent", rtmsg::sse::error::bad_status},
                              std::pair{"/html", rtmsg::sse::error::bad_content_type}}) {
        rtmsg::sse::client c(ioc.get_executor(), "http://127.0.0.1:" + port + path);
        received_event ev;
        CHECK(wait(ioc, [&](auto h) { c.async_read(ev, std::move(h)); }) == want);
        CHECK(c.state() == rtmsg::sse::client_state::closed);
    }
}

TEST_CASE("sse client: resumes from our hub's SSE endpoint after the server restarts, no gap, no duplicate",
          "[client][sse]")
{
    rtmsg::hub hub; // outlives both servers: the topic keeps its epoch and history
    rtmsg::sse_endpoint_options eo;
    eo.topic = "news";
    eo.stream.heartbeat = 50ms;
    auto first = std::make_unique<net_test::running_server>();
    first->server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
    first->start();
    auto const port = first->port;
    asio::io_context ioc;
    rtmsg::sse::client_options o;
    o.retry = 100ms;
    o.idle_timeout = 1s;
    rtmsg::sse::client c(ioc.get_executor(), "http://127.0.0.1:" + std::to_string(port) + "/sse", o);
    received_event ev;
    bool done = false;
    c.async_read(ev, [&](std::error_code ec) {
        REQUIRE(!ec);
        done = true;
    });
    REQUIRE(run_until(ioc, [&] { return hub.metrics().subscriptions >= 1 || done; }));
    hub.publish("news", "n1", rtmsg::codec::data_kind::text);
    REQUIRE(run_until(ioc, [&] { return done; }));
    CHECK((ev.data == "n1" && ev.id == "1"));
    // The server goes away; messages published meanwhile are retained by the hub.
    stop_server(*first, hub, &ioc);
    first.reset();
    hub.publish("news", "n2", rtmsg::codec::data_kind::text);
    hub.publish("news", "n3", rtmsg::codec::data_kind::text);
    net_test::running_server second;
    second.server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
    second.server.listen({asio::ip::make_address("127.0.0.1"), port});
    second.thread = std::thread([&] { second.ioc.run(); });
    auto evs = read_events(ioc, c, 2);
    CHECK((evs[0].data == "n2" && evs[0].id == "2"));
    CHECK((evs[1].data == "n3" && evs[1].id == "3"));
    hub.publish("news", "n4", rtmsg::codec::data_kind::text);
    evs = read_events(ioc, c, 1);
    CHECK((evs[0].data == "n4" && evs[0].id == "4"));
    CHECK(c.connections() == 2);
}

TEST_CASE("sse client: POST with a body and extra headers, as streaming APIs take", "[client][sse]")
{
    std::string head, body;
    raw_server srv([&](tcp::socket& sock) {
        std::string buf;
        head = read_head(sock, buf);
        auto const at = head.find("Content-Length: ");
        REQUIRE(at != std::string::npos);
        auto const n = std::stoul(head.substr(at + 16));
        if (buf.size() < n) asio::read(sock, asio::dynamic_buffer(buf), asio::transfer_exactly(n - buf.size()));
        body = buf.substr(0, n);
        asio::write(sock, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                                   "Transfer-Encoding: chunked\r\n\r\n"
                                                   "11\r\ndata: {\"t\":\"a\"}\n\n\r\n"
                                                   "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n")));
    });
    asio::io_context ioc;
    rtmsg::sse::client_options o;
    o.method = "POST";
    o.body = R"({"stream":true,"messages":[]})";
    o.headers.add("Content-Type", "application/json");
    o.headers.add("Authorization", "Bearer k1");
    o.headers.add("Content-Length", "999"); // ignored: the client counts the body
    o.reconnect = false;
    rtmsg::sse::client c(ioc.get_executor(), "http://127.0.0.1:" + std::to_string(srv.port) + "/v1/chat/completions",
                         o);
    auto ev = read_events(ioc, c, 2);
    CHECK(ev[0].data == R"({"t":"a"})");
    CHECK(ev[1].data == "[DONE]");
    CHECK(c.response().status == 200);
    received_event end;
    CHECK(wait(ioc, [&](auto h) { c.async_read(end, std::move(h)); }) == asio::error::eof); // no reconnection
    srv.join();
    CHECK(head.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"));
    CHECK(head.find("Content-Length: " + std::to_string(o.body.size()) + "\r\n") != std::string::npos);
    CHECK(head.find("Content-Length: 999") == std::string::npos);
    CHECK(head.find("Authorization: Bearer k1\r\n") != std::string::npos);
    CHECK(head.find("Content-Type: application/json\r\n") != std::string::npos);
    CHECK(body == o.body);
}

TEST_CASE("sse client: an error status is reported with its code, and a GET sends no body", "[client][sse]")
{
    std::string head;
    raw_server srv([&](tcp::socket& sock) {
        std::string buf;
        head = read_head(sock, buf);
        asio::write(sock,
                    asio::buffer(std::string("HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                                             "Content-Length: 2\r\n\r\n{}")));
    });
    asio::io_context ioc;
    rtmsg::sse::client c(ioc.get_executor(), "http://127.0.0.1:" + std::to_string(srv.port) + "/events");
    received_event ev;
    CHECK(wait(ioc, [&](auto h) { c.async_read(ev, std::move(h)); }) == rtmsg::sse::error::bad_status);
    CHECK(c.response().status == 429);
    CHECK(c.response().reason == "Too Many Requests");
    srv.join();
    CHECK(head.starts_with("GET /events HTTP/1.1\r\n"));
    CHECK(head.find("Content-Length") == std::string::npos);
}
