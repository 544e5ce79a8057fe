// The hub client: the wire protocol with both codecs against our server, reconnection with
// backoff, resume with no gap and no duplicate across a server restart and a hung server,
// gap notices, and the completion-token flavours.
#include <rtmsg/hub/client.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include "support.hpp"
#include "support/net.hpp"

#include <asio/use_future.hpp>
#if defined(ASIO_HAS_CO_AWAIT)
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>
#endif

#include <map>
#include <mutex>

namespace {

using namespace client_test;
using rtmsg::hub_client_message;
using rtmsg::hub_client_state;

/// Our server with the wire protocol at /ws; "X-User" becomes the identity.
struct proto_server {
    explicit proto_server(rtmsg::hub& h, unsigned short port = 0) : hub(h)
    {
        rtmsg::websocket::behavior base;
        base.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
            return rtmsg::websocket::upgrade_decision::accept_as(
                std::string(u.request.headers.find("X-User").value_or("")));
        };
        base.options.ping_interval = 100ms;
        srv.server.routes().websocket("/ws", rtmsg::protocol_endpoint(h, base));
        srv.server.listen({asio::ip::make_address("127.0.0.1"), port});
        srv.port = srv.server.local_endpoint().port();
        srv.thread = std::thread([this] { srv.ioc.run(); });
    }
    ~proto_server() { stop_server(srv, hub, pump); }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(srv.port) + "/ws"; }
    rtmsg::hub& hub;
    asio::io_context* pump = nullptr; ///< the clients' io_context, run while stopping
    net_test::running_server srv;
};

/// Messages received per topic, as "offset:data".
struct inbox {
    std::map<std::string, std::vector<std::string>> by_topic;
    std::vector<std::uint64_t> offsets(std::string const& t) const
    {
        std::vector<std::uint64_t> out;
        auto it = by_topic.find(t);
        if (it == by_topic.end()) return out;
        for (auto const& s : it->second) out.push_back(std::stoull(s.substr(0, s.find(':'))));
        return out;
    }
    std::size_t count(std::string const& t) const
    {
        auto it = by_topic.find(t);
        return it == by_topic.end() ? 0 : it->second.size();
    }
    auto handler()
    {
        return [this](hub_client_message const& m) {
            by_topic[std::string(m.topic)].push_back(std::to_string(m.offset) + ":" + std::string(m.data));
        };
    }
};

std::vector<std::uint64_t> one_to(std::uint64_t n)
{
    std::vector<std::uint64_t> v;
    for (std::uint64_t i = 1; i <= n; ++i) v.push_back(i);
    return v;
}

rtmsg::hub_client_options fast_options()
{
    rtmsg::hub_client_options o;
    o.reconnect.initial_delay = 20ms;
    o.reconnect.max_delay = 200ms;
    o.ws.ws.ping_interval = 100ms;
    o.ws.ws.idle_timeout = 400ms;
    o.ws.ws.handshake_timeout = 500ms;
    o.ws.connect.connect_timeout = 500ms;
    return o;
}

template <class Codec>
void protocol_round_trip()
{
    rtmsg::hub hub;
    asio::io_context ioc;
    proto_server s(hub);
    s.pump = &ioc;
    auto o = fast_options();
    o.ws.headers.add("X-User", "alice");
    rtmsg::hub_client<Codec> a(ioc.get_executor(), s.url(), o);
    o.ws.headers.set("X-User", "bob");
    rtmsg::hub_client<Codec> b(ioc.get_executor(), s.url(), o);
    std::vector<hub_client_state> states;
    inbox in;
    std::vector<std::string> presence;
    rtmsg::hub_subscription_options po;
    po.presence = true;
    po.on_presence = [&](std::string_view t, std::string_view who, bool joined) {
        presence.push_back(std::string(t) + (joined ? " +" : " -") + std::string(who));
    };
    a.start();
    b.start();
    CHECK(!wait(ioc, [&](auto h) { a.async_subscribe("prices.*", in.handler(), {}, std::move(h)); }));
    CHECK(!wait(ioc, [&](auto h) { a.async_subscribe("chat.lobby", in.handler(), po, std::move(h)); }));
    CHECK(!wait(ioc, [&](auto h) {
        b.async_subscribe(
            "chat.lobby", [](hub_client_message const&) {}, po, std::move(h));
    }));
    std::uint64_t offset = 0;
    auto ec = wait(ioc, [&](auto h) {
        b.async_publish("prices.btc", R"({"bid":1.5})", {},
                        [&, h = std::move(h)](std::error_code e, std::uint64_t off) mutable {
                            offset = off;
                            h(e);
                        });
    });
    CHECK(!ec);
    CHECK(offset == 1);
    rtmsg::hub_publish_options text;
    text.kind = rtmsg::codec::data_kind::text;
    CHECK(!wait(ioc, [&](auto h) { b.async_publish("prices.eth", "plain \xc3\xa9", text, std::move(h)); }));
    rtmsg::hub_publish_options bin;
    bin.kind = rtmsg::codec::data_kind::binary;
    CHECK(!wait(ioc, [&](auto h) { b.async_publish("chat.lobby", std::string("\x00\xff", 2), bin, std::move(h)); }));
    hub.publish("prices.sol", "from C++", rtmsg::codec::data_kind::text);
    REQUIRE(run_until(ioc, [&] { return in.count("prices.sol") == 1 && in.count("chat.lobby") == 1; }));
    CHECK(in.by_topic["prices.btc"] == std::vector<std::string>{R"(1:{"bid":1.5})"});
    CHECK(in.by_topic["prices.eth"] == std::vector<std::string>{"1:plain \xc3\xa9"});
    CHECK(in.by_topic["chat.lobby"] == std::vector<std::string>{std::string("1:\x00\xff", 4)});
    CHECK(in.by_topic["prices.sol"] == std::vector<std::string>{"1:from C++"});
    std::vector<std::string> members;
    CHECK(!wait(ioc, [&](auto h) {
        a.async_presence("chat.lobby", [&, h = std::move(h)](std::error_code e, std::vector<std::string> m) mutable {
            members = std::move(m);
            h(e);
        });
    }));
    std::sort(members.begin(), members.end());
    CHECK(members == std::vector<std::string>{"alice", "bob"});
    CHECK(std::find(presence.begin(), presence.end(), "chat.lobby +bob") != presence.end());
    // Refusals come back as hub errors; the connection stays usable.
    CHECK(wait(ioc, [&](auto h) { a.async_subscribe("a..b", in.handler(), {}, std::move(h)); }) ==
          rtmsg::hub_error::invalid_topic);
    CHECK(wait(ioc, [&](auto h) { a.async_publish("x.*", "1", {}, std::move(h)); }) == rtmsg::hub_error::invalid_topic);
    // Data of kind json must be JSON: the JSON codec refuses to encode it, the binary codec
    // carries it and the server refuses it.
    auto const not_json = wait(ioc, [&](auto h) { a.async_publish("x", "not json", {}, std::move(h)); });
    if (Codec::is_text)
        CHECK(not_json == rtmsg::codec::error::bad_field);
    else
        CHECK(not_json == rtmsg::hub_error::bad_request);
    // Unsubscribed: no more delivery.
    CHECK(!wait(ioc, [&](auto h) { a.async_unsubscribe("prices.*", std::move(h)); }));
    CHECK(!wait(ioc, [&](auto h) { b.async_publish("prices.btc", "2", {}, std::move(h)); }));
    CHECK(!wait(ioc, [&](auto h) { b.async_publish("chat.lobby", "3", {}, std::move(h)); }));
    REQUIRE(run_until(ioc, [&] { return in.count("chat.lobby") == 2; }));
    CHECK(in.count("prices.btc") == 1);
    // bob leaves.
    b.close();
    REQUIRE(run_until(
        ioc, [&] { return std::find(presence.begin(), presence.end(), "chat.lobby -bob") != presence.end(); }));
    CHECK(a.state() == hub_client_state::open);
    a.close();
    CHECK(run_until(ioc, [&] { return a.state() == hub_client_state::closed; }));
}

} // namespace

TEST_CASE("hub client: backoff grows, is capped, and jitter only shortens it", "[client][hub]")
{
    rtmsg::backoff_options o;
    o.initial_delay = 100ms;
    o.max_delay = 1000ms;
    o.factor = 2;
    o.jitter = 0.5;
    CHECK(rtmsg::backoff_delay(0, o, 0.0) == 100ms);
    CHECK(rtmsg::backoff_delay(1, o, 0.0) == 200ms);
    CHECK(rtmsg::backoff_delay(3, o, 0.0) == 800ms);
    CHECK(rtmsg::backoff_delay(4, o, 0.0) == 1000ms);
    CHECK(rtmsg::backoff_delay(1000, o, 0.0) == 1000ms);
    CHECK(rtmsg::backoff_delay(4, o, 0.999) >= 500ms);
    CHECK(rtmsg::backoff_delay(2, o, 0.5) == 300ms);
    o.jitter = 7; // clamped to 1
    CHECK(rtmsg::backoff_delay(2, o, 0.5) == 200ms);
    CHECK(rtmsg::topic_matches("prices.*", "prices.btc"));
    CHECK(!rtmsg::topic_matches("prices.*", "prices.btc.usd"));
    CHECK(!rtmsg::topic_matches("prices.*", "prices"));
    CHECK(rtmsg::topic_matches("orders.>", "orders.eu.created"));
    CHECK(!rtmsg::topic_matches("orders.>", "orders"));
    CHECK(rtmsg::topic_matches("a.*.c", "a.b.c"));
    CHECK(rtmsg::is_wildcard("a.>"));
}

TEST_CASE("hub client: subscribe, publish with ack, presence, errors, unsubscribe (json)", "[client][hub]")
{
    protocol_round_trip<rtmsg::codec::json>();
}

TEST_CASE("hub client: the same with the binary codec", "[client][hub]")
{
    protocol_round_trip<rtmsg::codec::binary>();
}

TEST_CASE("hub client: history, and completion with asio::use_future", "[client][hub]")
{
    rtmsg::hub hub;
    for (int i = 1; i <= 5; ++i) hub.publish("news", "n" + std::to_string(i), rtmsg::codec::data_kind::text);
    proto_server s(hub);
    asio::io_context ioc;
    auto guard = asio::make_work_guard(ioc);
    std::thread t([&] { ioc.run(); });
    auto strand = asio::make_strand(ioc);
    rtmsg::hub_client<> c(strand, s.url(), fast_options());
    std::mutex m;
    std::vector<std::string> got;
    rtmsg::hub_subscription_options so;
    so.history = 3;
    auto sub = c.async_subscribe(
        "news",
        [&](hub_client_message const& msg) {
            std::lock_guard<std::mutex> lock(m);
            got.push_back(std::string(msg.data));
        },
        so, asio::use_future);
    c.start();
    auto ack = sub.get();
    CHECK(ack.offset == 5);
    CHECK(c.async_publish("news", R"("n6")", {}, asio::use_future).get() == 6);
    for (int i = 0; i < 200; ++i) {
        {
            std::lock_guard<std::mutex> lock(m);
            if (got.size() >= 4) break;
        }
        std::this_thread::sleep_for(10ms);
    }
    {
        std::lock_guard<std::mutex> lock(m);
        CHECK(got == std::vector<std::string>{"n3", "n4", "n5", R"("n6")"});
    }
    CHECK_THROWS_AS(c.async_subscribe("bad..topic", nullptr, {}, asio::use_future).get(), std::system_error);
    c.close();
    guard.reset();
    t.join();
}

#if defined(ASIO_HAS_CO_AWAIT)
TEST_CASE("hub client: completion with asio::use_awaitable", "[client][hub]")
{
    rtmsg::hub hub;
    asio::io_context ioc;
    proto_server s(hub);
    s.pump = &ioc;
    auto o = fast_options();
    o.ws.headers.add("X-User", "carol");
    rtmsg::hub_client<rtmsg::codec::binary> c(ioc.get_executor(), s.url(), o);
    c.start();
    rtmsg::hub_subscription_options so;
    so.presence = true;
    std::vector<std::string> got;
    bool done = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
            auto ack = co_await c.async_subscribe(
                "t", [&](hub_client_message const& msg) { got.push_back(std::string(msg.data)); }, so,
                asio::use_awaitable);
            CHECK(ack.offset == 0);
            auto off = co_await c.async_publish("t", "[1,2]", {}, asio::use_awaitable);
            CHECK(off == 1);
            auto members = co_await c.async_presence("t", asio::use_awaitable);
            CHECK(members == std::vector<std::string>{"carol"});
            done = true;
        },
        asio::detached);
    REQUIRE(run_until(ioc, [&] { return done && got.size() == 1; }));
    CHECK(got[0] == "[1,2]");
}
#endif

TEST_CASE("hub client: the server restarts mid-stream, and the client resumes with no gap and no duplicate",
          "[client][hub][faults]")
{
    // The hub outlives the servers (as a hub backed by durable storage would), so topics
    // keep their epoch and history; only the listener and every connection go away.
    rtmsg::hub hub;
    asio::io_context ioc;
    auto server = std::make_unique<proto_server>(hub);
    server->pump = &ioc;
    auto const port = server->srv.port;
    auto const url = server->url();
    auto o = fast_options();
    std::vector<hub_client_state> states;
    o.on_state = [&](hub_client_state s) { states.push_back(s); };
    std::vector<rtmsg::hub_gap> gaps;
    o.on_gap = [&](rtmsg::hub_gap const& g) { gaps.push_back(g); };
    rtmsg::hub_client<> c(ioc.get_executor(), url, o);
    inbox in;
    c.start();
    REQUIRE(!wait(ioc, [&](auto h) { c.async_subscribe("ticks", in.handler(), {}, std::move(h)); }));
    REQUIRE(!wait(ioc, [&](auto h) { c.async_subscribe("prices.*", in.handler(), {}, std::move(h)); }));
    // A publisher that never stops: the hub numbers every message.
    std::atomic<bool> stop{false};
    std::atomic<int> published{0};
    std::thread publisher([&] {
        while (!stop) {
            int const i = ++published;
            hub.publish("ticks", std::to_string(i), rtmsg::codec::data_kind::text);
            hub.publish("prices.a", std::to_string(i), rtmsg::codec::data_kind::text);
            std::this_thread::sleep_for(2ms);
        }
    });
    REQUIRE(run_until(ioc, [&] { return in.count("ticks") >= 20 && in.count("prices.a") >= 20; }));
    server.reset(); // every connection drops, the port closes
    auto const down_at = published.load();
    std::this_thread::sleep_for(300ms); // the client retries against a closed port meanwhile
    run_until(
        ioc, [] { return false; }, 100ms);
    server = std::make_unique<proto_server>(hub, port);
    server->pump = &ioc;
    REQUIRE(run_until(ioc, [&] { return c.connections() >= 2 && c.state() == hub_client_state::open; }));
    auto const target = published.load() + 20;
    REQUIRE(run_until(ioc, [&] {
        return in.count("ticks") >= static_cast<std::size_t>(target) &&
               in.count("prices.a") >= static_cast<std::size_t>(target);
    }));
    stop = true;
    publisher.join();
    CHECK(down_at > 20);
    auto const ticks = in.offsets("ticks");
    CHECK(ticks == one_to(ticks.size())); // every offset once, in order, across the restart
    auto const prices = in.offsets("prices.a");
    CHECK(prices == one_to(prices.size())); // also through the pattern subscription
    CHECK(in.by_topic["ticks"][10] == "11:11");
    CHECK(gaps.empty());
    CHECK(std::count(states.begin(), states.end(), hub_client_state::reconnecting) >= 1);
    // Stop the server while the client and its inbox live: stopping runs the client's pending
    // handlers, which still deliver to `in`.
    server.reset();
}

TEST_CASE("hub client: a server that stops answering is noticed within the keepalive timeout, then resumed",
          "[client][hub][faults]")
{
    rtmsg::hub hub;
    asio::io_context ioc;
    proto_server s(hub);
    s.pump = &ioc;
    auto o = fast_options();
    std::vector<std::pair<hub_client_state, std::chrono::steady_clock::time_point>> states;
    o.on_state = [&](hub_client_state st) { states.emplace_back(st, std::chrono::steady_clock::now()); };
    std::vector<std::error_code> errors;
    o.on_error = [&](std::error_code ec, std::string_view) { errors.push_back(ec); };
    rtmsg::hub_client<> c(ioc.get_executor(), s.url(), o);
    inbox in;
    c.start();
    REQUIRE(!wait(ioc, [&](auto h) { c.async_subscribe("ticks", in.handler(), {}, std::move(h)); }));
    hub.publish("ticks", "1", rtmsg::codec::data_kind::text);
    REQUIRE(run_until(ioc, [&] { return in.count("ticks") == 1; }));
    // The server hangs: its only I/O thread is blocked, so nothing is read or written, not
    // even pongs.  The TCP connection stays up: only the keepalive can tell.
    std::atomic<bool> release{false}, hung{false};
    asio::post(s.srv.ioc, [&] {
        hung = true;
        while (!release) std::this_thread::sleep_for(5ms);
    });
    // Publish only once the server thread is held: a handler it was running when the hold was
    // posted could otherwise still deliver them on the first connection.
    while (!hung) std::this_thread::sleep_for(1ms);
    auto const hung_at = std::chrono::steady_clock::now();
    for (int i = 2; i <= 5; ++i) hub.publish("ticks", std::to_string(i), rtmsg::codec::data_kind::text);
    REQUIRE(run_until(
        ioc, [&] { return c.state() != hub_client_state::open; }, 3s));
    auto const noticed = std::chrono::steady_clock::now() - hung_at;
    // Noticed by the idle timeout (400 ms, checked every 25 ms), not by anything else.
    CHECK(noticed >= 300ms);
    CHECK(noticed < 1500ms);
    REQUIRE(!errors.empty());
    CHECK(errors.front() == rtmsg::error::timeout);
    release = true;
    REQUIRE(run_until(ioc, [&] { return in.count("ticks") == 5 && c.connections() >= 2; }));
    CHECK(in.offsets("ticks") == one_to(5));
}

TEST_CASE("hub client: messages the server no longer retains are reported as a gap", "[client][hub][faults]")
{
    rtmsg::hub_options ho;
    ho.default_topic.history_count = 3;
    rtmsg::hub hub(ho);
    asio::io_context ioc;
    auto server = std::make_unique<proto_server>(hub);
    server->pump = &ioc;
    auto const port = server->srv.port;
    auto o = fast_options();
    std::vector<rtmsg::hub_gap> gaps;
    o.on_gap = [&](rtmsg::hub_gap const& g) { gaps.push_back(g); };
    rtmsg::hub_client<> c(ioc.get_executor(), server->url(), o);
    inbox in;
    c.start();
    REQUIRE(!wait(ioc, [&](auto h) { c.async_subscribe("t", in.handler(), {}, std::move(h)); }));
    hub.publish("t", "1", rtmsg::codec::data_kind::text);
    REQUIRE(run_until(ioc, [&] { return in.count("t") == 1; }));
    server.reset();
    for (int i = 2; i <= 10; ++i)
        hub.publish("t", std::to_string(i), rtmsg::codec::data_kind::text); // only 8, 9, 10 are retained
    server = std::make_unique<proto_server>(hub, port);
    server->pump = &ioc;
    REQUIRE(run_until(ioc, [&] { return in.count("t") == 4; }));
    REQUIRE(gaps.size() == 1);
    CHECK((gaps[0].topic == "t" && gaps[0].from == 2 && gaps[0].to == 7));
    CHECK(in.offsets("t") == std::vector<std::uint64_t>{1, 8, 9, 10});
}

TEST_CASE("hub client: a publish made while disconnected is sent after reconnecting", "[client][hub][faults]")
{
    rtmsg::hub hub;
    asio::io_context ioc;
    auto server = std::make_unique<proto_server>(hub);
    server->pump = &ioc;
    auto const port = server->srv.port;
    rtmsg::hub_client<> c(ioc.get_executor(), server->url(), fast_options());
    c.start();
    REQUIRE(run_until(ioc, [&] { return c.state() == hub_client_state::open; }));
    server.reset();
    REQUIRE(run_until(ioc, [&] { return c.state() == hub_client_state::reconnecting; }));
    std::optional<std::error_code> result;
    std::uint64_t offset = 0;
    c.async_publish("q", "42", {}, [&](std::error_code ec, std::uint64_t off) {
        result = ec;
        offset = off;
    });
    run_until(
        ioc, [] { return false; }, 100ms);
    CHECK(!result);
    server = std::make_unique<proto_server>(hub, port);
    server->pump = &ioc;
    REQUIRE(run_until(ioc, [&] { return result.has_value(); }));
    CHECK(!*result);
    CHECK(offset == 1);
    CHECK(hub.position("q").second == 1);
}
