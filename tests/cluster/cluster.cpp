// Scale-out through Redis (issue 9), against a real redis-server on a loopback port: three
// nodes share topics (once, in order, same offsets everywhere), a client moves to another
// node and resumes, Redis restarts mid-stream, Redis is out of reach at start, publishes
// waiting for a stalled Redis are bounded, presence spans nodes and a dead node's members
// expire, a node that missed messages Redis no longer has sends a gap notice, and Redis
// channels follow local interest.  docs/cluster.md states what each test checks.
#include <rtmsg/cluster/redis.hpp>
#include <rtmsg/hub/client.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include "client/support.hpp"
#include "support/net.hpp"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <set>

namespace {

using namespace client_test;
using rtmsg::hub_client_message;
using rtmsg::hub_client_state;
using client = rtmsg::hub_client<rtmsg::codec::json>;

unsigned short free_port()
{
    asio::io_context ioc;
    tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// Runs a shell command, returns its output.
std::string sh(std::string const& cmd)
{
    std::string out;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
        char buf[512];
        while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
        ::pclose(f);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

/// A redis-server on a loopback port (optionally with an append-only file, so that a restart
/// keeps its data).
class redis {
public:
    explicit redis(bool persistent = false, unsigned short port = 0, std::vector<std::string> extra = {},
                   std::string cli_flags = {})
        : port_(port ? port : free_port()),
          persistent_(persistent),
          extra_(std::move(extra)),
          cli_flags_(std::move(cli_flags))
    {
        if (persistent_) {
            dir_ = std::filesystem::temp_directory_path() / ("rtmsg-redis-" + std::to_string(port_));
            std::filesystem::remove_all(dir_);
            std::filesystem::create_directories(dir_);
        }
        start();
    }
    ~redis()
    {
        proc_.reset();
        if (persistent_) std::filesystem::remove_all(dir_);
    }

    void start()
    {
        std::vector<std::string> argv{RTMSG_TEST_REDIS_SERVER, "--bind", "127.0.0.1", "--save",   "",
                                      "--protected-mode",      "no",     "--logfile", "/dev/null"};
        if (extra_.empty()) {
            argv.emplace_back("--port");
            argv.push_back(std::to_string(port_));
        }
        for (auto const& a : extra_) argv.push_back(a == "PORT" ? std::to_string(port_) : a);
        if (persistent_) {
            for (auto a : {"--appendonly", "yes", "--appendfsync", "always", "--dir"}) argv.emplace_back(a);
            argv.push_back(dir_.string());
        }
        else
            for (auto a : {"--appendonly", "no"}) argv.emplace_back(a);
        proc_.emplace(argv);
        for (int i = 0; i < 200 && cli("PING") != "PONG"; ++i) std::this_thread::sleep_for(25ms);
        REQUIRE(cli("PING") == "PONG");
    }
    void kill() { proc_.reset(); }
    void pause() { proc_->pause(); }
    void resume() { proc_->resume(); }

    std::string cli(std::string const& args) const
    {
        return sh(std::string(RTMSG_TEST_REDIS_CLI) + " -p " + std::to_string(port_) + " " + cli_flags_ + " " + args +
                  " 2>/dev/null");
    }
    unsigned short port() const noexcept { return port_; }

private:
    unsigned short port_;
    bool persistent_;
    std::vector<std::string> extra_;
    std::string cli_flags_;
    std::filesystem::path dir_;
    std::optional<child> proc_;
};

/// One node: a hub, its server (the protocol at /ws, "X-User" as identity) and its bridge.
rtmsg::cluster::redis_options redis_at(unsigned short port, std::string const& prefix)
{
    rtmsg::cluster::redis_options ro;
    ro.port = port;
    ro.prefix = prefix;
    ro.reconnect_initial = 20ms;
    ro.reconnect_max = 200ms;
    return ro;
}

struct node {
    node(unsigned short redis_port, std::string const& prefix, std::chrono::milliseconds ttl = 15s,
         std::size_t history = 1000, std::size_t max_in_flight = 10'000)
        : node(
              [&] {
                  auto ro = redis_at(redis_port, prefix);
                  ro.presence_ttl = ttl;
                  ro.max_in_flight = max_in_flight;
                  return ro;
              }(),
              history)
    {
    }
    explicit node(rtmsg::cluster::redis_options const& ro, std::size_t history = 1000) : hub(options(history))
    {
        rtmsg::websocket::behavior base;
        base.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
            return rtmsg::websocket::upgrade_decision::accept_as(
                std::string(u.request.headers.find("X-User").value_or("")),
                std::string(u.request.headers.find("X-Info").value_or("")));
        };
        srv.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, base));
        bridge.emplace(srv.ioc.get_executor(), hub, ro);
        srv.start();
    }
    ~node()
    {
        if (!bridge) return;
        std::promise<void> stopped;
        bridge->stop([&] { stopped.set_value(); });
        stopped.get_future().wait_for(5s);
        bridge.reset();
    }
    /// Dies: no goodbye to Redis (its presence entries stay until they expire).
    void crash()
    {
        srv.guard.reset();
        srv.ioc.stop();
        if (srv.thread.joinable()) srv.thread.join();
        bridge.reset();
    }

    static rtmsg::hub_options options(std::size_t history)
    {
        rtmsg::hub_options o;
        o.publish_messages = {}; // unlimited: the tests publish in bursts
        o.publish_bytes = {};
        o.default_topic.history_count = history;
        return o;
    }
    std::string url() const { return "ws://127.0.0.1:" + std::to_string(srv.port) + "/ws"; }
    bool connected() const { return bridge && bridge->connected(); }

    rtmsg::hub hub;
    net_test::running_server srv;
    std::optional<rtmsg::cluster::redis_bridge> bridge;
};

rtmsg::hub_client_options fast(std::string const& user = {})
{
    rtmsg::hub_client_options o;
    o.reconnect.initial_delay = 20ms;
    o.reconnect.max_delay = 200ms;
    o.ws.ws.ping_interval = 100ms;
    o.ws.ws.idle_timeout = 400ms;
    o.ws.ws.handshake_timeout = 500ms;
    o.ws.connect.connect_timeout = 500ms;
    if (!user.empty()) o.ws.headers.add("X-User", user);
    return o;
}

/// What one subscriber got: "offset:data" in arrival order, epochs, gaps.
struct inbox {
    std::vector<std::uint64_t> offsets;
    std::vector<std::string> data;
    std::vector<std::string> senders; ///< "server", or "peer:ID:INFO", as the server attested them
    std::set<std::uint64_t> epochs;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> gaps;
    std::function<void(hub_client_message const&)> handler()
    {
        return [this](hub_client_message const& m) {
            offsets.push_back(m.offset);
            data.emplace_back(m.data);
            senders.push_back(m.from == rtmsg::codec::origin::server ? std::string("server")
                              : m.from == rtmsg::codec::origin::peer
                                  ? "peer:" + std::string(m.from_id) + ":" + std::string(m.from_info)
                                  : std::string("unknown"));
            epochs.insert(m.epoch);
        };
    }
};

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to)
{
    std::vector<std::uint64_t> v;
    for (auto i = from; i <= to; ++i) v.push_back(i);
    return v;
}

rtmsg::hub_publish_options text()
{
    rtmsg::hub_publish_options o;
    o.kind = rtmsg::codec::data_kind::text;
    return o;
}

/// Publishes "p<i>" for i in [from, to], one after the other; returns (offset, epoch) per ack
/// (0, 0 for a refusal).
std::vector<std::pair<std::uint64_t, std::uint64_t>> publish(asio::io_context& ioc, client& c, std::string const& topic,
                                                             int from, int to, std::error_code* last_error = nullptr)
{
    std::vector<std::pair<std::uint64_t, std::uint64_t>> acks;
    for (int i = from; i <= to; ++i) {
        std::optional<std::error_code> r;
        std::uint64_t off = 0;
        c.async_publish(topic, "p" + std::to_string(i), text(), [&](std::error_code ec, std::uint64_t o) {
            r = ec;
            off = o;
        });
        REQUIRE(run_until(ioc, [&] { return r.has_value(); }));
        if (*r && last_error) *last_error = *r;
        acks.emplace_back(*r ? 0 : off, 0);
    }
    return acks;
}

std::uint64_t subscribe(asio::io_context& ioc, client& c, std::string const& topic, inbox& in,
                        rtmsg::hub_subscription_options o = {})
{
    std::optional<std::error_code> r;
    rtmsg::hub_subscribed ack{};
    c.async_subscribe(topic, in.handler(), o, [&](std::error_code ec, rtmsg::hub_subscribed a) {
        r = ec;
        ack = a;
    });
    REQUIRE(run_until(ioc, [&] { return r.has_value(); }));
    REQUIRE(!*r);
    return ack.epoch;
}

std::string unique_prefix()
{
    static int n = 0;
    return "t" + std::to_string(::getpid()) + "x" + std::to_string(++n);
}

bool wait_connected(std::initializer_list<node*> nodes, std::chrono::milliseconds limit = 10s)
{
    auto const deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        bool all = true;
        for (auto* n : nodes) all = all && n->connected();
        if (all) return true;
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
}

} // namespace

TEST_CASE("cluster: a publish on one node reaches subscribers on every node once, in order, same offsets", "[cluster]")
{
    redis r;
    auto const prefix = unique_prefix();
    node a(r.port(), prefix), b(r.port(), prefix), c(r.port(), prefix);
    REQUIRE(wait_connected({&a, &b, &c}));
    asio::io_context ioc;
    auto paula = fast("paula");
    paula.ws.headers.add("X-Info", R"({"team":"red"})");
    client pub(ioc.get_executor(), a.url(), paula), sa(ioc.get_executor(), a.url(), fast()),
        sb(ioc.get_executor(), b.url(), fast()), sc(ioc.get_executor(), c.url(), fast()),
        pc(ioc.get_executor(), c.url(), fast());
    for (auto* cl : {&pub, &sa, &sb, &sc, &pc}) cl->start();
    inbox ia, ib, ic, ip;
    subscribe(ioc, sa, "room.one", ia);
    subscribe(ioc, sb, "room.one", ib);
    subscribe(ioc, sc, "room.one", ic);
    subscribe(ioc, pc, "room.*", ip);
    auto const acks = publish(ioc, pub, "room.one", 1, 200);
    for (std::size_t i = 0; i < acks.size(); ++i) CHECK(acks[i].first == i + 1);
    REQUIRE(run_until(ioc, [&] {
        return ia.offsets.size() >= 200 && ib.offsets.size() >= 200 && ic.offsets.size() >= 200 &&
               ip.offsets.size() >= 200;
    }));
    run_until(
        ioc, [] { return false; }, 200ms); // anything extra would arrive now
    for (auto* in : {&ia, &ib, &ic, &ip}) {
        CHECK(in->offsets == range(1, 200));
        CHECK(in->data.front() == "p1");
        CHECK(in->data.back() == "p200");
        CHECK(in->epochs.size() == 1);
        // The attested sender travels with the message through Redis to every node.
        CHECK(in->senders.front() == R"(peer:paula:{"team":"red"})");
    }
    CHECK(ia.epochs == ib.epochs);
    CHECK(ib.epochs == ic.epochs);
    // A publish from C++ on node C, and a publish with echo off from B, reach the others too.
    std::promise<rtmsg::publish_result> done;
    c.hub.publish("room.one", "from C++", rtmsg::codec::data_kind::text,
                  [&](rtmsg::publish_result const& res) { done.set_value(res); });
    auto const res = done.get_future().get();
    CHECK(!res.ec);
    CHECK(res.offset == 201);
    auto noecho = text();
    noecho.echo = false;
    std::optional<std::error_code> e;
    sb.async_publish("room.one", "quiet", noecho, [&](std::error_code ec, std::uint64_t) { e = ec; });
    REQUIRE(run_until(ioc, [&] { return e.has_value() && ia.offsets.size() == 202 && ic.offsets.size() == 202; }));
    run_until(
        ioc, [] { return false; }, 200ms);
    CHECK(ia.data.back() == "quiet");
    CHECK(ia.senders.back() == "peer::"); // an anonymous client of node B
    CHECK(ib.offsets.size() == 201);      // its own publish did not come back
    CHECK(ib.data.back() == "from C++");
    CHECK(ib.senders.back() == "server");
    CHECK(ia.senders[200] == "server");
}

TEST_CASE("cluster: a client moves to another node and resumes with no gap and no duplicate", "[cluster]")
{
    redis r;
    auto const prefix = unique_prefix();
    std::optional<node> a;
    a.emplace(r.port(), prefix);
    node b(r.port(), prefix);
    REQUIRE(wait_connected({&*a, &b}));
    asio::io_context ioc;
    client pub(ioc.get_executor(), b.url(), fast()), mover(ioc.get_executor(), a->url(), fast());
    pub.start();
    mover.start();
    inbox in;
    subscribe(ioc, mover, "orders.eu", in);
    publish(ioc, pub, "orders.eu", 1, 50);
    REQUIRE(run_until(ioc, [&] { return in.offsets.size() == 50; }));
    // Node A dies; the client fails over to B while messages keep coming.
    mover.set_url(b.url());
    a->crash();
    a.reset();
    publish(ioc, pub, "orders.eu", 51, 100);
    REQUIRE(run_until(ioc, [&] { return mover.connections() >= 2 && mover.state() == hub_client_state::open; }));
    publish(ioc, pub, "orders.eu", 101, 120);
    REQUIRE(run_until(ioc, [&] { return in.offsets.size() >= 120; }));
    run_until(
        ioc, [] { return false; }, 200ms);
    CHECK(in.offsets == range(1, 120));
    CHECK(in.data[50] == "p51");
    CHECK(in.epochs.size() == 1);
}

TEST_CASE("cluster: Redis restarts mid-stream, the bridges reconnect, and nothing acknowledged by Redis is lost",
          "[cluster]")
{
    redis r(true); // append-only file: the restarted Redis keeps the topics' counters and logs
    auto const prefix = unique_prefix();
    node a(r.port(), prefix), b(r.port(), prefix);
    REQUIRE(wait_connected({&a, &b}));
    asio::io_context ioc;
    client pub(ioc.get_executor(), a.url(), fast()), local(ioc.get_executor(), a.url(), fast()),
        remote(ioc.get_executor(), b.url(), fast());
    for (auto* cl : {&pub, &local, &remote}) cl->start();
    inbox il, ir;
    auto const epoch = subscribe(ioc, remote, "ticks", ir);
    subscribe(ioc, local, "ticks", il);
    publish(ioc, pub, "ticks", 1, 40);
    REQUIRE(run_until(ioc, [&] { return ir.offsets.size() == 40; }));

    r.kill();
    REQUIRE(run_until(ioc, [&] { return !a.connected() && !b.connected(); }));
    // Out of reach: node A still serves its own subscribers (in a local epoch).
    auto const during = publish(ioc, pub, "ticks", 41, 45);
    for (auto const& [off, ep] : during) CHECK(off != 0);
    REQUIRE(run_until(ioc, [&] { return il.data.size() == 45; }));
    CHECK(il.data.back() == "p45");

    r.start();
    REQUIRE(wait_connected({&a, &b}, 15s));
    publish(ioc, pub, "ticks", 46, 80);
    REQUIRE(run_until(ioc, [&] { return ir.offsets.size() >= 75; }));
    run_until(
        ioc, [] { return false; }, 300ms);
    // Everything Redis numbered reached B exactly once, in order, in the same epoch; the
    // outage's local messages stayed on A.
    CHECK(ir.offsets == range(1, 75));
    CHECK(ir.epochs == std::set<std::uint64_t>{epoch});
    CHECK(ir.data[40] == "p46");
    CHECK(il.data.back() == "p80");
    CHECK(il.offsets.back() == 75);
}

TEST_CASE("cluster: with Redis out of reach at start, a node serves locally, then joins the cluster", "[cluster]")
{
    auto const port = free_port();
    auto const prefix = unique_prefix();
    node a(port, prefix);
    asio::io_context ioc;
    client pub(ioc.get_executor(), a.url(), fast()), sub(ioc.get_executor(), a.url(), fast());
    pub.start();
    sub.start();
    inbox in;
    subscribe(ioc, sub, "alerts", in);
    std::error_code err;
    auto const acks = publish(ioc, pub, "alerts", 1, 3, &err);
    CHECK(!err);
    REQUIRE(run_until(ioc, [&] { return in.offsets.size() == 3; }));
    CHECK(in.offsets == range(1, 3));
    CHECK(!a.connected());

    redis r(false, port);
    REQUIRE(wait_connected({&a}, 15s));
    node b(port, prefix);
    REQUIRE(wait_connected({&b}));
    client sb(ioc.get_executor(), b.url(), fast());
    sb.start();
    inbox ib;
    subscribe(ioc, sb, "alerts", ib);
    publish(ioc, pub, "alerts", 4, 6);
    REQUIRE(run_until(ioc, [&] { return ib.offsets.size() == 3 && in.data.size() == 6; }));
    CHECK(ib.data == std::vector<std::string>{"p4", "p5", "p6"});
    CHECK(ib.offsets == range(1, 3)); // the cluster's numbering, which the local epoch did not use
    CHECK(in.data.back() == "p6");
}

TEST_CASE("cluster: publishes waiting for a stalled Redis are bounded, then refused with 503", "[cluster]")
{
    redis r;
    auto const prefix = unique_prefix();
    node a(r.port(), prefix, 15s, 1000, 5);
    REQUIRE(wait_connected({&a}));
    asio::io_context ioc;
    client pub(ioc.get_executor(), a.url(), fast());
    pub.start();
    REQUIRE(publish(ioc, pub, "jobs", 1, 1)[0].first == 1);
    r.pause(); // Redis stops answering; the connection stays up
    std::vector<std::optional<std::error_code>> results(8);
    for (std::size_t i = 0; i < results.size(); ++i)
        pub.async_publish("jobs", "j", text(), [&, i](std::error_code ec, std::uint64_t) { results[i] = ec; });
    REQUIRE(run_until(ioc, [&] {
        return std::count_if(results.begin(), results.end(), [](auto const& x) { return x.has_value(); }) >= 3;
    }));
    std::size_t refused = 0;
    for (auto const& x : results)
        if (x && *x == rtmsg::hub_error::unavailable) ++refused;
    CHECK(refused == 3);
    r.resume();
    REQUIRE(run_until(
        ioc, [&] { return std::all_of(results.begin(), results.end(), [](auto const& x) { return x.has_value(); }); }));
    std::size_t ok = 0;
    for (auto const& x : results) ok += !*x;
    CHECK(ok == 5);
    CHECK(a.bridge->stats().publish_failures == 0); // refused before being sent, not failed
}

TEST_CASE("cluster: presence spans nodes, and a dead node's members expire", "[cluster]")
{
    redis r;
    auto const prefix = unique_prefix();
    std::optional<node> c;
    node a(r.port(), prefix, 600ms), b(r.port(), prefix, 600ms);
    c.emplace(r.port(), prefix, 600ms);
    REQUIRE(wait_connected({&a, &b, &*c}));
    asio::io_context ioc;
    client alice(ioc.get_executor(), a.url(), fast("alice")), bob(ioc.get_executor(), b.url(), fast("bob")),
        carol(ioc.get_executor(), c->url(), fast("carol"));
    for (auto* cl : {&alice, &bob, &carol}) cl->start();
    std::vector<std::string> seen;
    rtmsg::hub_subscription_options po;
    po.presence = true;
    po.on_presence = [&](std::string_view, std::string_view who, bool joined) {
        seen.push_back((joined ? "+" : "-") + std::string(who));
    };
    inbox ia, ib, ic;
    subscribe(ioc, alice, "lobby", ia, po);
    subscribe(ioc, bob, "lobby", ib);
    subscribe(ioc, carol, "lobby", ic);
    auto has = [&](std::string const& s) { return std::find(seen.begin(), seen.end(), s) != seen.end(); };
    REQUIRE(run_until(ioc, [&] { return has("+bob") && has("+carol"); }));
    auto const members = [&](client& cl) {
        std::optional<std::vector<std::string>> m;
        cl.async_presence("lobby", [&](std::error_code, std::vector<std::string> v) { m = std::move(v); });
        REQUIRE(run_until(ioc, [&] { return m.has_value(); }));
        std::sort(m->begin(), m->end());
        return *m;
    };
    CHECK(members(bob) == std::vector<std::string>{"alice", "bob", "carol"});
    // Node C dies without a word: carol leaves once her entry expires.
    c->crash();
    c.reset();
    REQUIRE(run_until(
        ioc, [&] { return has("-carol"); }, 10s));
    CHECK(members(alice) == std::vector<std::string>{"alice", "bob"});
    // Bob closes: he leaves at once (his node says so).
    bob.close();
    REQUIRE(run_until(
        ioc, [&] { return has("-bob"); }, 3s));
    CHECK(std::count(seen.begin(), seen.end(), "-carol") == 1);
    CHECK(std::count(seen.begin(), seen.end(), "+bob") == 1);
}

TEST_CASE("cluster: a node that missed messages Redis no longer keeps sends a gap notice, then the rest", "[cluster]")
{
    redis r;
    auto const prefix = unique_prefix();
    node a(r.port(), prefix, 15s, 5), b(r.port(), prefix, 15s, 5); // history: 5 messages
    REQUIRE(wait_connected({&a, &b}));
    asio::io_context ioc;
    client pub(ioc.get_executor(), a.url(), fast());
    auto o = fast();
    std::vector<rtmsg::hub_gap> gaps;
    o.on_gap = [&](rtmsg::hub_gap const& g) { gaps.push_back(g); };
    client sub(ioc.get_executor(), b.url(), o);
    pub.start();
    sub.start();
    inbox in;
    subscribe(ioc, sub, "feed", in);
    publish(ioc, pub, "feed", 1, 3);
    REQUIRE(run_until(ioc, [&] { return in.offsets.size() == 3; }));
    // Node B stops reading, and loses its Redis subscriber connection meanwhile: it misses
    // 4..20, and Redis keeps only the last 5.
    std::promise<void> release;
    auto released = release.get_future().share();
    asio::post(b.srv.ioc, [released] { released.wait(); });
    std::this_thread::sleep_for(50ms);
    CHECK(r.cli("CLIENT KILL TYPE pubsub") == "1");
    publish(ioc, pub, "feed", 4, 20);
    release.set_value();
    REQUIRE(run_until(
        ioc, [&] { return !gaps.empty() && in.offsets.size() >= 8; }, 10s));
    run_until(
        ioc, [] { return false; }, 200ms);
    REQUIRE(gaps.size() == 1);
    CHECK(gaps[0].topic == "feed");
    CHECK(gaps[0].from == 4);
    CHECK(gaps[0].to == 15);
    CHECK(in.offsets == std::vector<std::uint64_t>{1, 2, 3, 16, 17, 18, 19, 20});
}

TEST_CASE("cluster: a node subscribes to a topic's Redis channel only while it has local subscribers", "[cluster]")
{
    redis r;
    auto const prefix = unique_prefix();
    node a(r.port(), prefix);
    REQUIRE(wait_connected({&a}));
    auto numsub = [&](std::string const& ch) {
        auto const out = r.cli("PUBSUB NUMSUB " + ch);
        return out.substr(out.find('\n') + 1);
    };
    auto numpat = [&] { return r.cli("PUBSUB NUMPAT"); };
    auto const ch = prefix + ":c:quotes.x";
    CHECK(numsub(ch) == "0");
    {
        auto s = a.hub.subscribe("quotes.x", [](rtmsg::message const&) {});
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (numsub(ch) != "1" && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
        CHECK(numsub(ch) == "1");
        auto p = a.hub.subscribe("quotes.>", [](rtmsg::message const&) {});
        deadline = std::chrono::steady_clock::now() + 5s;
        while (numpat() != "1" && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
        CHECK(numpat() == "1");
    }
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while ((numsub(ch) != "0" || numpat() != "0") && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    CHECK(numsub(ch) == "0");
    CHECK(numpat() == "0");
}

TEST_CASE("cluster: over TLS with a password, and a wrong password never joins", "[cluster]")
{
    test_pki pki;
    redis r(false, 0,
            {"--port", "0", "--tls-port", "PORT", "--tls-cert-file", pki.cert, "--tls-key-file", pki.key,
             "--tls-ca-cert-file", pki.ca, "--tls-auth-clients", "no", "--requirepass", "s3cret"},
            "--tls --cacert " + pki.ca + " --sni localhost -a s3cret --no-auth-warning");
    auto const prefix = unique_prefix();
    auto ro = redis_at(r.port(), prefix);
    ro.host = "localhost"; // the certificate's name; verified against the test CA
    ro.tls = true;
    ro.connect.tls.ca_file = pki.ca;
    ro.connect.tls.use_system_store = false;
    ro.password = "s3cret";
    node a(ro), b(ro);
    auto wrong = ro;
    wrong.password = "guess";
    node c(wrong);
    REQUIRE(wait_connected({&a, &b}));
    asio::io_context ioc;
    client pub(ioc.get_executor(), a.url(), fast()), sub(ioc.get_executor(), b.url(), fast());
    pub.start();
    sub.start();
    inbox in;
    subscribe(ioc, sub, "secure.news", in);
    publish(ioc, pub, "secure.news", 1, 10);
    REQUIRE(run_until(ioc, [&] { return in.offsets.size() == 10; }));
    CHECK(in.offsets == range(1, 10));
    CHECK(r.cli("HGET " + prefix + ":{secure.news}:meta last") == "10");
    CHECK(!c.connected());
    CHECK(c.bridge->stats().connects == 0);
}
