// Hub endpoints over real loopback sockets: fan-out, slow consumers, SSE resume and injection.
#include <rtmsg/server/hub_endpoint.hpp>

#include <catch2/catch.hpp>

#include "support/net.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using namespace net_test;
using namespace std::chrono_literals;

/// A parsed SSE event (WHATWG: data lines joined with LF).
struct sse_event {
    std::string id, type, data;
};

/// The code and reason of the close frame a WebSocket client gets next (frames before it skipped).
std::pair<int, std::string> close_code_of(client& c)
{
    std::pair<int, std::string> f;
    do f = read_frame(c.socket, c.buf);
    while (f.first != 8);
    REQUIRE(f.second.size() >= 2);
    return {(static_cast<unsigned char>(f.second[0]) << 8) | static_cast<unsigned char>(f.second[1]),
            f.second.substr(2)};
}

/// Reads events from an SSE response, after its head, following the WHATWG parsing rules
/// for the parts our server uses (fields, CR/LF/CRLF line ends, comments).
struct sse_reader {
    explicit sse_reader(client& cl) : c(cl) {}
    client& c;
    bool head_done = false;
    std::string line;
    sse_event cur;
    bool has_data = false;

    sse_event next()
    {
        if (!head_done) {
            asio::read_until(c.socket, asio::dynamic_buffer(c.buf), "\r\n\r\n");
            auto const end = c.buf.find("\r\n\r\n");
            REQUIRE(c.buf.substr(0, end).find("Content-Type: text/event-stream") != std::string::npos);
            c.buf.erase(0, end + 4);
            head_done = true;
        }
        for (;;) {
            if (c.buf.empty()) {
                char tmp[4096];
                auto n = c.socket.read_some(asio::buffer(tmp));
                c.buf.append(tmp, n);
            }
            char const ch = c.buf.front();
            c.buf.erase(0, 1);
            if (ch == '\r' || ch == '\n') {
                if (ch == '\r' && !c.buf.empty() && c.buf.front() == '\n') c.buf.erase(0, 1);
                if (line.empty()) {
                    if (has_data) {
                        auto ev = cur;
                        if (!ev.data.empty() && ev.data.back() == '\n') ev.data.pop_back();
                        cur = {cur.id, {}, {}};
                        has_data = false;
                        return ev;
                    }
                    cur.type.clear();
                    continue;
                }
                auto const colon = line.find(':');
                std::string field = line.substr(0, colon), value;
                if (colon != std::string::npos) {
                    value = line.substr(colon + 1);
                    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
                }
                if (field == "data") {
                    cur.data += value + "\n";
                    has_data = true;
                }
                else if (field == "id")
                    cur.id = value;
                else if (field == "event")
                    cur.type = value;
                line.clear();
                continue;
            }
            line += ch;
        }
    }
};

/// Opens `n` WebSocket clients on `path` (an endpoint that subscribes them) and returns once
/// the hub counts every subscription.
std::vector<std::unique_ptr<client>> open_subscribers(running_server& s, rtmsg::hub& hub, std::string_view path, int n)
{
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < n; ++i) {
        clients.push_back(std::make_unique<client>(s.port));
        clients.back()->send(upgrade_bytes(path));
    }
    for (auto& c : clients) REQUIRE(c->response().starts_with("HTTP/1.1 101"));
    for (int i = 0; i < 500 && hub.metrics().subscriptions < std::uint64_t(n); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(hub.metrics().subscriptions == std::uint64_t(n));
    return clients;
}

} // namespace

TEST_CASE("hub: fan-out to 1,000 WebSocket subscribers delivers every message once, in order", "[hub][endpoint]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "broadcast"));
    s.start();
    constexpr int subscribers = 1000, messages = 20;
    auto clients = open_subscribers(s, hub, "/b", subscribers);
    for (int m = 0; m < messages; ++m) hub.publish("broadcast", "m" + std::to_string(m), rtmsg::codec::data_kind::text);
    for (auto& c : clients)
        for (int m = 0; m < messages; ++m) {
            auto f = read_frame(c->socket, c->buf);
            REQUIRE(f.first == 1);
            REQUIRE(f.second == "m" + std::to_string(m));
        }
    CHECK(hub.metrics().messages_out == std::uint64_t(subscribers) * messages);
    CHECK(hub.metrics().dropped == 0);
}

TEST_CASE("hub: on a single-threaded server, publishers on several threads reach every subscriber in order",
          "[hub][endpoint]")
{
    // One io_context thread: the wake-ups of a fan-out share one posted handler, which
    // subscribers woken from any thread join until it starts to run.
    rtmsg::http::server_options so;
    so.single_threaded = true;
    running_server s(so);
    rtmsg::hub hub;
    s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "t", {}, {.client_publish = true}));
    s.start();
    constexpr int subscribers = 50, threads = 4, per_thread = 200, from_ws = 100;
    auto clients = open_subscribers(s, hub, "/b", subscribers);
    std::vector<std::thread> pubs;
    for (int t = 0; t < threads; ++t)
        pubs.emplace_back([&hub, t] {
            for (int i = 0; i < per_thread; ++i)
                hub.publish("t", std::string(1, char('a' + t)) + std::to_string(i), rtmsg::codec::data_kind::text);
        });
    // And one subscriber publishes from the server's own thread, in bursts.
    std::string burst;
    for (int i = 0; i < from_ws; ++i) burst += ws_test::client_frame(ws_test::op_text, "w" + std::to_string(i));
    clients.front()->send(burst);
    for (auto& t : pubs) t.join();
    for (auto& c : clients) {
        std::map<char, int> next;
        for (int k = 0; k < threads * per_thread + from_ws; ++k) {
            auto const f = read_frame(c->socket, c->buf);
            REQUIRE(f.first == 1);
            REQUIRE(f.second.size() >= 2);
            REQUIRE(f.second.substr(1) == std::to_string(next[f.second[0]]++)); // in order, none lost
        }
        CHECK(next['w'] == from_ws);
    }
    CHECK(hub.metrics().messages_out == std::uint64_t(subscribers) * (threads * per_thread + from_ws));
}

TEST_CASE("hub: a stalled subscriber does not delay others and its memory stays bounded", "[hub][endpoint]")
{
    running_server s;
    rtmsg::hub_options o;
    o.queue.max_messages = 256;
    o.queue.max_bytes = 4u << 20;
    rtmsg::hub hub(o);
    rtmsg::websocket::behavior quiet;
    quiet.options.ping_interval = {};
    s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "t", quiet));
    s.start();
    client stalled(s.port), fast(s.port);
    stalled.socket.set_option(asio::socket_base::receive_buffer_size(4096));
    stalled.send(upgrade_bytes("/b"));
    fast.send(upgrade_bytes("/b"));
    REQUIRE(stalled.response().starts_with("HTTP/1.1 101"));
    REQUIRE(fast.response().starts_with("HTTP/1.1 101"));
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 2; ++i) std::this_thread::sleep_for(10ms);
    constexpr int n = 2000; // 32 MiB in all: far more than the stalled peer's socket holds
    auto payload = [](int i) {
        auto p = std::to_string(i);
        p.resize(16 * 1024, '.');
        return p;
    };
    std::atomic<int> received{0};
    std::atomic<bool> in_order{true};
    std::thread reader([&] {
        for (int i = 0; i < n; ++i) {
            auto f = read_frame(fast.socket, fast.buf);
            if (f.second != payload(i)) in_order = false;
            ++received;
        }
    });
    // Publish as fast as the fast subscriber reads (never more than 64 ahead of it).
    for (int i = 0; i < n; ++i) {
        while (i - received.load() > 64) std::this_thread::yield();
        hub.publish("t", payload(i), rtmsg::codec::data_kind::text);
    }
    reader.join();
    CHECK(in_order);
    auto const m = hub.metrics();
    // Everything the stalled peer did not get sits in its bounded queue (256), one drain
    // batch (16) or the kernel's socket buffers (a few MiB at most); the rest was dropped,
    // and counted, instead of piling up in memory.  The fast peer lost nothing.
    CHECK(m.dropped >= std::uint64_t(n - 700));
    CHECK(m.dropped < std::uint64_t(n));
}

TEST_CASE("hub: an SSE client resumes with Last-Event-ID with no gap and no duplicate", "[hub][endpoint][sse]")
{
    running_server s;
    rtmsg::hub hub;
    rtmsg::sse_endpoint_options eo;
    eo.topic = "news";
    s.server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
    s.start();
    std::string last_id;
    {
        client c(s.port);
        c.send(get("/sse", "Accept: text/event-stream\r\n"));
        sse_reader r(c);
        for (int i = 0; i < 500 && hub.metrics().subscriptions < 1; ++i) std::this_thread::sleep_for(10ms);
        for (int i = 1; i <= 3; ++i) hub.publish("news", "n" + std::to_string(i), rtmsg::codec::data_kind::text);
        for (int i = 1; i <= 3; ++i) {
            auto ev = r.next();
            CHECK(ev.data == "n" + std::to_string(i));
            CHECK(ev.id == std::to_string(i));
            last_id = ev.id;
        }
    }
    for (int i = 0; i < 500 && hub.metrics().connections > 0; ++i) std::this_thread::sleep_for(10ms);
    CHECK(hub.metrics().connections == 0); // the disconnect was noticed
    for (int i = 4; i <= 5; ++i) hub.publish("news", "n" + std::to_string(i), rtmsg::codec::data_kind::text);
    client c(s.port);
    c.send(get("/sse", "Accept: text/event-stream\r\nLast-Event-ID: " + last_id + "\r\n"));
    sse_reader r(c);
    CHECK(r.next().data == "n4");
    CHECK(r.next().data == "n5");
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 1; ++i) std::this_thread::sleep_for(10ms);
    hub.publish("news", "n6", rtmsg::codec::data_kind::text);
    auto ev = r.next();
    CHECK(ev.data == "n6");
    CHECK(ev.id == "6");
    // The query-parameter form, for clients that cannot set headers.
    client q(s.port);
    q.send(get("/sse?lastEventId=5"));
    sse_reader rq(q);
    CHECK(rq.next().data == "n6");
}

TEST_CASE("hub: SSE payloads cannot inject fields or events", "[hub][endpoint][sse]")
{
    running_server s;
    rtmsg::hub hub;
    rtmsg::sse_endpoint_options eo;
    eo.topic = "t";
    s.server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
    s.start();
    client c(s.port);
    c.send(get("/sse"));
    sse_reader r(c);
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 1; ++i) std::this_thread::sleep_for(10ms);
    std::vector<std::string> const attacks{
        "a\n\nevent: evil\ndata: injected",
        "line1\r\nid: 999\r\nretry: 1",
        "cr only\revent: x\rdata: y",
        "\n\n\n",
        "data: nested",
        ": comment-looking",
    };
    for (auto const& a : attacks) hub.publish("t", a, rtmsg::codec::data_kind::text);
    hub.publish("t", "end", rtmsg::codec::data_kind::text);
    std::uint64_t offset = 0;
    for (auto const& a : attacks) {
        auto ev = r.next();
        // Reassembled exactly, with every line ending read as LF.
        std::string expected;
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (a[i] == '\r' && i + 1 < a.size() && a[i + 1] == '\n') continue;
            expected += a[i] == '\r' ? '\n' : a[i];
        }
        CHECK(ev.data == expected);
        CHECK(ev.type.empty());
        CHECK(ev.id == std::to_string(++offset));
    }
    CHECK(r.next().data == "end"); // no extra event came in between
}

TEST_CASE("hub: /broadcast-style endpoints relay client messages to all, sender included", "[hub][endpoint]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "room", {}, {.client_publish = true}));
    s.start();
    client a(s.port), b(s.port);
    a.send(upgrade_bytes("/b"));
    b.send(upgrade_bytes("/b"));
    REQUIRE(a.response().starts_with("HTTP/1.1 101"));
    REQUIRE(b.response().starts_with("HTTP/1.1 101"));
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 2; ++i) std::this_thread::sleep_for(10ms);
    a.send(ws_test::client_frame(ws_test::op_binary, std::string("\x00\x01\x02", 3)));
    for (auto* c : {&a, &b}) {
        auto f = read_frame(c->socket, c->buf);
        CHECK(f.first == 2);
        CHECK(f.second == std::string("\x00\x01\x02", 3));
    }
}

TEST_CASE(
    "hub: a raw endpoint is push-only unless client publishing is allowed, and asks can_subscribe and can_publish",
    "[hub][endpoint]")
{
    rtmsg::hub_options o;
    o.can_subscribe = [](rtmsg::peer_info const& p, std::string_view topic) {
        return p.identity != "mallory" && topic == "feed";
    };
    o.can_publish = [](rtmsg::peer_info const& p, std::string_view) { return p.identity == "alice"; };
    rtmsg::hub hub(o);
    rtmsg::websocket::behavior named; // ?name=... is the identity
    named.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        auto d = rtmsg::websocket::upgrade_decision::accept();
        d.identity = u.request.query_param("name").value_or("");
        return d;
    };
    running_server s;
    s.server.routes().websocket("/feed", rtmsg::raw_endpoint(hub, "feed", named));
    s.server.routes().websocket("/open", rtmsg::raw_endpoint(hub, "feed", named, {.client_publish = true}));
    s.server.routes().websocket("/other", rtmsg::raw_endpoint(hub, "other", named, {.client_publish = true}));
    s.start();

    // can_subscribe: refused at the upgrade, with 403, for that identity or that topic.
    client mallory(s.port), other(s.port);
    mallory.send(upgrade_bytes("/feed?name=mallory"));
    CHECK(mallory.response().starts_with("HTTP/1.1 403"));
    other.send(upgrade_bytes("/other?name=alice"));
    CHECK(other.response().starts_with("HTTP/1.1 403"));

    client reader(s.port), pushy(s.port), alice(s.port), bob(s.port);
    reader.send(upgrade_bytes("/feed?name=reader"));
    pushy.send(upgrade_bytes("/feed?name=alice"));
    alice.send(upgrade_bytes("/open?name=alice"));
    bob.send(upgrade_bytes("/open?name=bob"));
    for (auto* c : {&reader, &pushy, &alice, &bob}) REQUIRE(c->response().starts_with("HTTP/1.1 101"));
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 4; ++i) std::this_thread::sleep_for(10ms);

    // Push-only by default: even a client that may publish elsewhere is closed with 1008.
    pushy.send(ws_test::client_frame(ws_test::op_text, "not json at all <script>"));
    auto [code, reason] = close_code_of(pushy);
    CHECK(code == 1008);
    CHECK(reason == "this endpoint is push-only");
    // can_publish says no to bob: 1008, and nothing of his reaches anyone.
    bob.send(ws_test::client_frame(ws_test::op_text, "from bob"));
    std::tie(code, reason) = close_code_of(bob);
    CHECK(code == 1008);
    CHECK(reason == "not allowed to publish to this topic");
    // alice may: her message reaches every reader, and it is the first they see.
    alice.send(ws_test::client_frame(ws_test::op_text, "from alice"));
    for (auto* c : {&reader, &alice}) {
        auto f = read_frame(c->socket, c->buf);
        CHECK(f.first == 1);
        CHECK(f.second == "from alice");
    }
    CHECK(hub.position("feed").second == 1);
    // The server goes on serving the push-only readers.
    hub.publish("feed", "from the server", rtmsg::codec::data_kind::text);
    auto f = read_frame(reader.socket, reader.buf);
    CHECK(f.second == "from the server");
}

TEST_CASE("hub: a raw endpoint's publications pass the publish hook and the per-identity limit, and carry the sender",
          "[hub][endpoint]")
{
    rtmsg::hub_options o;
    o.on_publish = [](rtmsg::peer_info const& p, rtmsg::publish_request const& r) {
        if (r.data == "spam")
            return rtmsg::publish_verdict::reject(rtmsg::hub_error::not_allowed, "no spam, " + std::string(p.identity));
        if (r.data == "shout") return rtmsg::publish_verdict::replace("SHOUT", rtmsg::codec::data_kind::text);
        return rtmsg::publish_verdict::accept();
    };
    o.publish_messages_per_identity = {1, 2};
    rtmsg::hub hub(o);
    rtmsg::websocket::behavior named;
    named.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        return rtmsg::websocket::upgrade_decision::accept_as(u.request.query_param("name").value_or("anon"));
    };
    running_server s;
    s.server.routes().websocket("/open", rtmsg::raw_endpoint(hub, "feed", named, {.client_publish = true}));
    s.server.routes().sse("/events", rtmsg::sse_endpoint(hub, {.topic = "*", .stream = {}, .authenticate = {}}));
    s.start();
    client alice(s.port), spammer(s.port), events(s.port);
    alice.send(upgrade_bytes("/open?name=alice"));
    spammer.send(upgrade_bytes("/open?name=sam"));
    for (auto* c : {&alice, &spammer}) REQUIRE(c->response().starts_with("HTTP/1.1 101"));
    events.send(get("/events"));
    sse_reader r(events);
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 3; ++i) std::this_thread::sleep_for(10ms);

    spammer.send(ws_test::client_frame(ws_test::op_text, "spam"));
    auto [code, reason] = close_code_of(spammer);
    CHECK(code == 1008);
    CHECK(reason == "no spam, sam");
    alice.send(ws_test::client_frame(ws_test::op_text, "shout"));
    CHECK(read_frame(alice.socket, alice.buf).second == "SHOUT");
    auto e = r.next();
    CHECK(e.data == R"({"op":"msg","topic":"feed","kind":"text","data":"SHOUT","offset":1,"epoch":")" +
                        std::to_string(hub.position("feed").first) + R"(","from":{"id":"alice"}})");
    // alice's second message is within her burst of 2; her third is over her per-user limit.
    alice.send(ws_test::client_frame(ws_test::op_text, "two"));
    CHECK(read_frame(alice.socket, alice.buf).second == "two");
    alice.send(ws_test::client_frame(ws_test::op_text, "three"));
    std::tie(code, reason) = close_code_of(alice);
    CHECK(code == 1008);
    CHECK(reason == "rate limit exceeded for this user; slow down");
    CHECK(hub.position("feed").second == 2);
}

TEST_CASE("hub: messages that arrive in one read are published together, each publisher's in order", "[hub][endpoint]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "room", {}, {.client_publish = true}));
    s.start();
    client a(s.port), b(s.port), sub(s.port);
    for (auto* c : {&a, &b, &sub}) {
        c->send(upgrade_bytes("/b"));
        REQUIRE(c->response().starts_with("HTTP/1.1 101"));
    }
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 3; ++i) std::this_thread::sleep_for(10ms);
    // Each publisher writes 300 messages (text and binary) at once, so the server reads many
    // of them per read; the two batches may interleave.
    constexpr int n = 300;
    auto burst = [](char who) {
        std::string bytes;
        for (int i = 0; i < n; ++i)
            bytes += ws_test::client_frame(i % 3 == 0 ? ws_test::op_binary : ws_test::op_text,
                                           std::string(1, who) + std::to_string(i));
        return bytes;
    };
    a.send(burst('a'));
    b.send(burst('b'));
    int next_a = 0, next_b = 0;
    for (int k = 0; k < 2 * n; ++k) {
        auto const f = read_frame(sub.socket, sub.buf);
        REQUIRE(f.second.size() >= 2);
        int& next = f.second[0] == 'a' ? next_a : next_b;
        REQUIRE(f.second.substr(1) == std::to_string(next)); // in order, none lost or repeated
        CHECK(f.first == (next % 3 == 0 ? 2 : 1));
        ++next;
    }
    CHECK(next_a == n);
    CHECK(next_b == n);
    CHECK(hub.metrics().messages_in == 2 * n);
    CHECK(hub.metrics().messages_out == 3 * 2 * n); // the senders get their own messages too
}

TEST_CASE("hub: an SSE pattern stream carries the topic and resumes by sequence", "[hub][endpoint][sse]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().sse("/events", rtmsg::sse_endpoint(hub));
    s.start();
    {
        client bad(s.port);
        bad.send(get("/events?topic=a..b"));
        CHECK(bad.response().starts_with("HTTP/1.1 400"));
    }
    hub.publish("prices.AAPL", "1", rtmsg::codec::data_kind::text);
    hub.publish("news.x", "skip", rtmsg::codec::data_kind::text);
    hub.publish("prices.MSFT", "2", rtmsg::codec::data_kind::text);
    client c(s.port);
    c.send(get("/events?topic=prices.*&lastEventId=0"));
    sse_reader r(c);
    auto e1 = r.next();
    CHECK(e1.id == "1");
    CHECK(e1.data.find(R"("topic":"prices.AAPL")") != std::string::npos);
    CHECK(e1.data.find(R"("kind":"text","data":"1")") != std::string::npos);
    CHECK(e1.data.ends_with(R"("from":{"server":true}})")); // the attested sender: the server itself
    auto e2 = r.next();
    CHECK(e2.id == "3");
    CHECK(e2.data.find(R"("topic":"prices.MSFT")") != std::string::npos);
    client again(s.port);
    again.send(get("/events?topic=prices.*", "Last-Event-ID: 1\r\n"));
    sse_reader r2(again);
    CHECK(r2.next().id == "3");
}

TEST_CASE("hub: an SSE id from an earlier run of the server gets every retained event", "[hub][endpoint][sse]")
{
    // Offsets and sequence numbers restart with the server.  A browser that saw id 41 before
    // the restart reconnects with Last-Event-ID: 41; what was published since must reach it.
    running_server s;
    rtmsg::hub hub;
    rtmsg::sse_endpoint_options eo;
    eo.topic = "news";
    s.server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
    s.server.routes().sse("/events", rtmsg::sse_endpoint(hub));
    s.start();
    for (int i = 1; i <= 3; ++i) hub.publish("news", "n" + std::to_string(i), rtmsg::codec::data_kind::text);
    client c(s.port);
    c.send(get("/sse", "Accept: text/event-stream\r\nLast-Event-ID: 41\r\n"));
    sse_reader r(c);
    for (int i = 1; i <= 3; ++i) {
        auto ev = r.next();
        CHECK(ev.data == "n" + std::to_string(i));
        CHECK(ev.id == std::to_string(i));
    }
    // A pattern stream's ids are the hub's sequence numbers (4 and 5 here).
    hub.publish("x.a", "a1", rtmsg::codec::data_kind::text);
    hub.publish("x.b", "b1", rtmsg::codec::data_kind::text);
    client p(s.port);
    p.send(get("/events?topic=x.*", "Last-Event-ID: 9000\r\n"));
    sse_reader rp(p);
    auto e1 = rp.next();
    CHECK(e1.id == "4");
    CHECK(e1.data.find(R"("topic":"x.a")") != std::string::npos);
    auto e2 = rp.next();
    CHECK(e2.id == "5");
    CHECK(e2.data.find(R"("topic":"x.b")") != std::string::npos);
}

TEST_CASE("hub: SSE heartbeats keep an idle stream alive and metrics are served", "[hub][endpoint][sse]")
{
    running_server s;
    rtmsg::hub hub;
    rtmsg::sse_endpoint_options eo;
    eo.topic = "t";
    eo.stream.heartbeat = 50ms;
    eo.stream.retry = 1500;
    s.server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
    s.server.routes().get("/metrics", rtmsg::metrics_handler(hub));
    s.start();
    client c(s.port);
    c.send(get("/sse"));
    asio::read_until(c.socket, asio::dynamic_buffer(c.buf), "\r\n\r\n");
    auto const head = c.buf.substr(0, c.buf.find("\r\n\r\n"));
    CHECK(head.find("Cache-Control: no-cache") != std::string::npos);
    CHECK(head.find("X-Accel-Buffering: no") != std::string::npos);
    asio::read_until(c.socket, asio::dynamic_buffer(c.buf), ":\n\n"); // a heartbeat comment
    CHECK(c.buf.find("retry: 1500\n") != std::string::npos);
    client m(s.port);
    m.send(get("/metrics"));
    auto res = m.response();
    CHECK(res.find("# TYPE rtmsg_connections gauge") != std::string::npos);
    CHECK(res.find("rtmsg_connections 1") != std::string::npos);
}

TEST_CASE("hub: a hub that outlives its server and io_context drops the subscribers that are gone", "[hub][endpoint]")
{
    rtmsg::hub hub; // declared first: destroyed last, after the server and its io_context
    {
        std::optional<client> ws, sse; // outlive the server: their connections never see a close callback
        running_server s;
        s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "t"));
        rtmsg::sse_endpoint_options eo;
        eo.topic = "t";
        s.server.routes().sse("/sse", rtmsg::sse_endpoint(hub, eo));
        s.start();
        ws.emplace(s.port);
        ws->send(upgrade_bytes("/b"));
        CHECK(ws->response().starts_with("HTTP/1.1 101"));
        sse.emplace(s.port);
        sse->send(get("/sse"));
        auto const deadline = std::chrono::steady_clock::now() + 5s;
        while (hub.metrics().subscriptions < 2 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(5ms);
        REQUIRE(hub.metrics().subscriptions == 2);
    }
    // The io_context is destroyed: publishing must neither post to its executors nor deliver.
    auto const r = hub.publish("t", "after the server", rtmsg::codec::data_kind::text);
    CHECK(!r.ec);
    CHECK(r.subscribers == 0);
    CHECK(hub.metrics().subscriptions == 0);
    CHECK(hub.publish("t", "again", rtmsg::codec::data_kind::text).subscribers == 0);
}

TEST_CASE("hub: stop() hands over each subscriber's whole backlog, then 1001 or the end of the stream",
          "[hub][endpoint][shutdown]")
{
    running_server s;
    rtmsg::hub_options o;
    o.queue.max_messages = 10'000;
    o.queue.max_bytes = 64u << 20;
    rtmsg::hub hub(o);
    rtmsg::websocket::behavior quiet;
    quiet.options.ping_interval = {};
    s.server.routes().websocket("/b", rtmsg::raw_endpoint(hub, "t", quiet));
    rtmsg::sse_endpoint_options eo;
    eo.topic = "t";
    eo.stream.heartbeat = {};
    s.server.routes().sse("/e", rtmsg::sse_endpoint(hub, eo));
    s.start();
    client ws(s.port), es(s.port);
    ws.send(upgrade_bytes("/b"));
    REQUIRE(ws.response().starts_with("HTTP/1.1 101"));
    es.send(get("/e", "Accept: text/event-stream\r\n"));
    for (int i = 0; i < 500 && hub.metrics().subscriptions < 2; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(hub.metrics().subscriptions == 2);
    // 16 MiB per subscriber, neither reading: more than the kernel's socket buffers hold, so
    // much of it waits in the hub's queues, far beyond the 256 KiB a drain hands over at once.
    constexpr int n = 4000;
    auto payload = [](int i) {
        auto p = std::to_string(i);
        p.resize(4096, '.');
        return p;
    };
    for (int i = 0; i < n; ++i) hub.publish("t", payload(i), rtmsg::codec::data_kind::text);
    s.server.stop();
    for (int i = 0; i < n; ++i) {
        auto f = read_frame(ws.socket, ws.buf);
        REQUIRE(f.first == 1);
        REQUIRE(f.second == payload(i));
    }
    auto const close = read_frame(ws.socket, ws.buf);
    CHECK(close.first == 8);
    REQUIRE(close.second.size() >= 2);
    CHECK((static_cast<unsigned char>(close.second[0]) << 8 | static_cast<unsigned char>(close.second[1])) == 1001);
    // The SSE stream: every event, in order, then the end of the stream.
    std::string body = es.buf;
    std::error_code ec;
    std::vector<char> tmp(1 << 16);
    while (!ec) body.append(tmp.data(), es.socket.read_some(asio::buffer(tmp), ec));
    CHECK(ec == asio::error::eof);
    auto const head_end = body.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    std::size_t pos = head_end + 4, events = 0;
    bool in_order = true;
    for (std::size_t end; (end = body.find("\n\n", pos)) != std::string::npos; pos = end + 2) {
        auto const ev = std::string_view(body).substr(pos, end - pos);
        auto const data = ev.find("data: ");
        if (data == std::string_view::npos) continue; // retry: or a comment
        if (ev.substr(data + 6) != payload(static_cast<int>(events))) in_order = false;
        ++events;
    }
    CHECK(events == std::size_t(n));
    CHECK(in_order);
    CHECK(pos == body.size()); // nothing after the last event
}
