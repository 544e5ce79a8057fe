// The wire protocol over real sockets, with the JSON and binary codecs.
#include <rtmsg/server/hub_protocol.hpp>

#include <catch2/catch.hpp>

#include "support/net.hpp"

#include <thread>

namespace {

using namespace net_test;
using namespace std::chrono_literals;

/// A protocol client speaking codec C over a raw socket.
template <class C>
struct proto_client {
    explicit proto_client(unsigned short port, std::string_view extra = {}, std::string_view target = "/ws") : c(port)
    {
        std::string protocol = "Sec-WebSocket-Protocol: " + std::string(C::name) + "\r\n";
        c.send(upgrade_bytes(target, protocol + std::string(extra)));
        head = c.response();
    }
    void send(rtmsg::codec::envelope const& e)
    {
        std::string body;
        REQUIRE(!codec.encode(e, body));
        c.send(ws_test::client_frame(C::is_text ? ws_test::op_text : ws_test::op_binary, body));
    }
    void send_raw(std::string_view body, std::uint8_t op = ws_test::op_text)
    {
        c.send(ws_test::client_frame(op, body));
    }
    /// The next protocol message (its views live until the next call).
    rtmsg::codec::envelope next()
    {
        auto f = read_frame(c.socket, c.buf);
        REQUIRE((f.first == 1 || f.first == 2));
        last = f.second;
        last.resize(f.second.size() + 64); // padding for simdjson
        rtmsg::codec::envelope e;
        auto ec = codec.decode(std::string_view(last.data(), f.second.size()), e);
        INFO(f.second);
        REQUIRE(!ec);
        return e;
    }
    client c;
    C codec;
    std::string head, last;
};

using json_client = proto_client<rtmsg::codec::json>;

rtmsg::codec::envelope sub(std::string_view topic, std::uint64_t id)
{
    rtmsg::codec::envelope e;
    e.op = rtmsg::codec::op::subscribe;
    e.topic = topic;
    e.id = id;
    return e;
}

} // namespace

TEST_CASE("protocol: subscribe, publish with acknowledgement, delivery", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    s.start();
    json_client a(s.port), b(s.port);
    CHECK(a.head.find("Sec-WebSocket-Protocol: rtmsg.json") != std::string::npos);
    a.send(sub("chat.lobby", 1));
    auto ack = a.next();
    CHECK(ack.op == rtmsg::codec::op::ack);
    CHECK(ack.id == 1);
    CHECK(ack.epoch == hub.position("chat.lobby").first);
    b.send_raw(R"({"op":"pub","id":7,"topic":"chat.lobby","data":{"text":"hi \u00e9"},"ack":true})");
    auto pack = b.next();
    CHECK(pack.op == rtmsg::codec::op::ack);
    CHECK(pack.id == 7);
    CHECK(pack.offset == 1);
    CHECK(pack.epoch == ack.epoch);
    auto m = a.next();
    CHECK(m.op == rtmsg::codec::op::message);
    CHECK(m.topic == "chat.lobby");
    CHECK(m.offset == 1);
    CHECK(m.kind == rtmsg::codec::data_kind::json);
    CHECK(m.data == R"({"text":"hi \u00e9"})");
    // C++ publishers reach protocol clients too.
    hub.publish("chat.lobby", "plain text", rtmsg::codec::data_kind::text);
    m = a.next();
    CHECK(m.kind == rtmsg::codec::data_kind::text);
    CHECK(m.data == "plain text");
}

TEST_CASE("protocol: malformed and refused requests get error replies and the connection stays usable",
          "[hub][protocol]")
{
    running_server s;
    rtmsg::hub_options o;
    o.can_subscribe = [](rtmsg::peer_info const&, std::string_view topic) { return !topic.starts_with("secret"); };
    o.can_publish = [](rtmsg::peer_info const&, std::string_view topic) { return topic != "readonly"; };
    o.max_payload = 100;
    rtmsg::hub hub(o);
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    s.start();
    json_client a(s.port);
    struct bad {
        std::string request;
        std::uint16_t code;
    };
    auto const cases = std::vector<bad>{
        {R"({"op":"pub","topic":"t","data":[1,2,})", 400},
        {R"(not json)", 400},
        {R"({"op":"nope","topic":"t"})", 400},
        {R"({"op":"pub","topic":"t"})", 400},
        {R"({"op":"msg","topic":"t","data":1})", 400},
        {R"({"op":"sub","id":3,"topic":"a..b"})", 422},
        {R"({"op":"sub","id":4,"topic":"secret.x"})", 403},
        {R"({"op":"pub","id":5,"topic":"readonly","data":1})", 403},
        {R"({"op":"pub","id":6,"topic":"t.*","data":1})", 422},
        {R"({"op":"unsub","id":8,"topic":"never"})", 404},
        {R"({"op":"pub","id":9,"topic":"t","data":")" + std::string(200, 'x') + R"("})", 413},
        // A pattern cannot be resumed or replayed: refused, never silently ignored.
        {R"({"op":"sub","id":11,"topic":"t.*","since":3})", 400},
        {R"({"op":"sub","id":12,"topic":"t.>","history":5})", 400},
    };
    for (auto const& c : cases) {
        INFO(c.request);
        a.send_raw(c.request);
        auto e = a.next();
        CHECK(e.op == rtmsg::codec::op::error);
        CHECK(e.code == c.code);
        CHECK(!e.text.empty());
    }
    // Invalid UTF-8 in a text frame is the WebSocket layer's business (close 1007); in a
    // binary frame it reaches the JSON codec, which refuses it.
    a.send_raw(std::string("{\"op\":\"pub\",\"topic\":\"t\",\"data\":\"\xff\"}"), ws_test::op_binary);
    CHECK(a.next().code == 400);
    a.send(sub("ok", 10));
    CHECK(a.next().op == rtmsg::codec::op::ack);
    CHECK(hub.metrics().errors == cases.size() + 1);
}

TEST_CASE("protocol: publishing too fast gets 429", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub_options o;
    o.publish_messages = {1, 3}; // a burst of 3, then one per second
    rtmsg::hub hub(o);
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    s.start();
    json_client a(s.port);
    for (int i = 1; i <= 4; ++i)
        a.send_raw(R"({"op":"pub","id":)" + std::to_string(i) + R"(,"topic":"t","data":1,"ack":true})");
    for (int i = 1; i <= 3; ++i) CHECK(a.next().op == rtmsg::codec::op::ack);
    auto e = a.next();
    CHECK(e.op == rtmsg::codec::op::error);
    CHECK(e.code == 429);
    CHECK(e.id == 4);
}

TEST_CASE("protocol: resume since an offset, and a gap notice when history is gone", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub_options o;
    o.default_topic.history_count = 5;
    rtmsg::hub hub(o);
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    s.start();
    for (int i = 1; i <= 10; ++i) hub.publish("t", std::to_string(i), rtmsg::codec::data_kind::text);
    auto const epoch = hub.position("t").first;
    json_client a(s.port);
    a.send_raw(R"({"op":"sub","id":1,"topic":"t","since":7,"epoch":")" + std::to_string(epoch) + R"("})");
    CHECK(a.next().op == rtmsg::codec::op::ack);
    for (int i = 8; i <= 10; ++i) CHECK(a.next().data == std::to_string(i));
    json_client b(s.port);
    b.send_raw(R"({"op":"sub","id":1,"topic":"t","since":2})");
    auto ack = b.next();
    CHECK(ack.offset == 10);
    auto gap = b.next();
    CHECK(gap.op == rtmsg::codec::op::gap);
    CHECK(gap.offset == 3);
    CHECK(gap.to == 5);
    for (int i = 6; i <= 10; ++i) CHECK(b.next().offset == std::uint64_t(i));
    hub.publish("t", "11", rtmsg::codec::data_kind::text);
    CHECK(b.next().offset == 11); // live, with no gap and no duplicate at the seam
}

TEST_CASE("protocol: presence, echo off, and the binary codec by subprotocol", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub hub;
    rtmsg::websocket::behavior base;
    base.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        return rtmsg::websocket::upgrade_decision::accept_as(u.request.query_param("user").value_or(""));
    };
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, base));
    s.start();
    proto_client<rtmsg::codec::binary> bin(s.port);
    CHECK(bin.head.find("Sec-WebSocket-Protocol: rtmsg.binary") != std::string::npos);
    rtmsg::codec::envelope e = sub("room", 1);
    e.presence = true;
    bin.send(e);
    CHECK(bin.next().op == rtmsg::codec::op::ack);

    // carol gets her identity from the upgrade hook; bin sees her join (in binary frames).
    client carol_sock(s.port);
    carol_sock.send(upgrade_bytes("/ws?user=carol", "Sec-WebSocket-Protocol: rtmsg.json\r\n"));
    REQUIRE(carol_sock.response().starts_with("HTTP/1.1 101"));
    carol_sock.send(ws_test::client_frame(ws_test::op_text, R"({"op":"sub","id":2,"topic":"room"})"));
    (void)read_frame(carol_sock.socket, carol_sock.buf); // ack
    auto join = bin.next();
    CHECK(join.op == rtmsg::codec::op::join);
    CHECK(join.who == "carol");
    bin.send_raw(std::string(), ws_test::op_binary); // an empty binary message is malformed
    CHECK(bin.next().code == 400);
    rtmsg::codec::envelope p;
    p.op = rtmsg::codec::op::presence;
    p.id = 3;
    p.topic = "room";
    bin.send(p);
    auto members = bin.next();
    CHECK(members.op == rtmsg::codec::op::members);
    REQUIRE(members.members.size() == 1);
    CHECK(members.members[0] == "carol");
    // echo off: carol's message reaches bin but not carol.
    carol_sock.send(ws_test::client_frame(
        ws_test::op_text, R"({"op":"pub","id":4,"topic":"room","data":"x","kind":"text","echo":false,"ack":true})"));
    auto msg = bin.next();
    CHECK(msg.op == rtmsg::codec::op::message);
    CHECK(msg.data == "x");
    auto f = read_frame(carol_sock.socket, carol_sock.buf);
    CHECK(f.second.find(R"("op":"ack")") != std::string::npos); // the ack, not the message
    carol_sock.socket.close();
    auto leave = bin.next();
    CHECK(leave.op == rtmsg::codec::op::leave);
    CHECK(leave.who == "carol");
}

TEST_CASE("protocol: sustained abuse closes the connection with 1008", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub_options o;
    o.abuse_errors = 5;
    rtmsg::hub hub(o);
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    s.start();
    client c(s.port);
    c.send(upgrade_bytes("/ws"));
    REQUIRE(c.response().starts_with("HTTP/1.1 101"));
    for (int i = 0; i < 5; ++i) c.send(ws_test::client_frame(ws_test::op_text, "garbage"));
    std::pair<int, std::string> f;
    do f = read_frame(c.socket, c.buf);
    while (f.first != 8);
    REQUIRE(f.second.size() >= 2);
    CHECK((static_cast<unsigned char>(f.second[0]) << 8 | static_cast<unsigned char>(f.second[1])) == 1008);
}

namespace {
/// Codecs of a host's own: the JSON codec under other subprotocol names, so that each one is
/// a wire format of its own in the hub.
inline constexpr std::string_view host_codec_names[] = {"host.0", "host.1", "host.2", "host.3"};
template <int N>
struct host_codec : rtmsg::codec::json {
    static constexpr std::string_view name = host_codec_names[N];
};
} // namespace

TEST_CASE("protocol: registering more wire formats than a hub can serve is a checked error", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub hub;
    // What ships: ws.raw, sse.offset and sse.envelope, ws.rtmsg.json and ws.rtmsg.binary.
    s.server.routes().websocket("/broadcast", rtmsg::raw_endpoint(hub, "t"));
    s.server.routes().sse("/sse", rtmsg::sse_endpoint(hub));
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    // Three codecs of the host's own fill the hub's formats up to rtmsg::max_formats (8).
    static_assert(rtmsg::max_formats == 8);
    s.server.routes().websocket("/host", rtmsg::protocol_endpoint<host_codec<0>, host_codec<1>, host_codec<2>>(hub));
    // The same formats again take no new slot.
    CHECK_NOTHROW(rtmsg::protocol_endpoint(hub));
    CHECK_NOTHROW(rtmsg::protocol_endpoint<host_codec<2>>(hub));
    // One more is refused when the route is made, never written past the message's frames.
    try {
        (void)rtmsg::protocol_endpoint<host_codec<3>>(hub);
        FAIL("a ninth wire format was accepted");
    }
    catch (std::system_error const& e) {
        CHECK(e.code() == rtmsg::hub_error::too_many_formats);
        CHECK(std::string(e.what()).find("wire formats") != std::string::npos);
    }
    // The hub still serves every format it has.
    s.start();
    proto_client<host_codec<2>> a(s.port);
    json_client b(s.port);
    a.send(sub("t", 1));
    REQUIRE(a.next().op == rtmsg::codec::op::ack);
    b.send(sub("t", 1));
    REQUIRE(b.next().op == rtmsg::codec::op::ack);
    hub.publish("t", R"({"n":1})", rtmsg::codec::data_kind::json);
    auto m = a.next();
    CHECK(m.op == rtmsg::codec::op::message);
    CHECK(m.data == R"({"n":1})");
    CHECK(b.next().data == R"({"n":1})");
}

namespace {
/// A protocol endpoint whose clients are `?user=NAME` (anonymous without), with `?info=` as their client information.
rtmsg::websocket::behavior named_users()
{
    rtmsg::websocket::behavior base;
    base.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        auto user = u.request.query_param("user");
        if (!user) return rtmsg::websocket::upgrade_decision::accept();
        return rtmsg::websocket::upgrade_decision::accept_as(*user, u.request.query_param("info").value_or(""));
    };
    return base;
}
} // namespace

TEST_CASE("protocol: every message carries its attested sender, which no client can forge", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, named_users()));
    s.start();
    json_client reader(s.port);
    proto_client<rtmsg::codec::binary> bin_reader(s.port);
    json_client alice(s.port, {}, "/ws?user=alice&info=%7B%22name%22%3A%22Alice%22%7D");
    json_client anon(s.port);
    reader.send(sub("room", 1));
    REQUIRE(reader.next().op == rtmsg::codec::op::ack);
    bin_reader.send(sub("room", 1));
    REQUIRE(bin_reader.next().op == rtmsg::codec::op::ack);

    // alice claims to be bob, at the top level and inside her data: the server says alice.
    alice.send_raw(R"({"op":"pub","topic":"room","data":{"from":"bob","text":"I am bob"},"from":{"id":"bob"}})");
    for (auto* r : {&reader.last, &bin_reader.last}) (void)r;
    auto m = reader.next();
    CHECK(m.op == rtmsg::codec::op::message);
    CHECK(m.from == rtmsg::codec::origin::peer);
    CHECK(m.from_id == "alice");
    CHECK(m.from_info == R"({"name":"Alice"})");
    CHECK(reader.last.find(R"("from":{"id":"alice","info":{"name":"Alice"}})") != std::string::npos);
    auto b = bin_reader.next();
    CHECK(b.from == rtmsg::codec::origin::peer);
    CHECK(b.from_id == "alice");
    CHECK(b.from_info == R"({"name":"Alice"})");

    // An anonymous client is a peer with an empty identity; the server's own publish says so.
    anon.send_raw(R"({"op":"pub","topic":"room","data":2})");
    m = reader.next();
    CHECK(m.from == rtmsg::codec::origin::peer);
    CHECK(m.from_id.empty());
    CHECK(m.from_info.empty());
    hub.publish("room", "3", rtmsg::codec::data_kind::json);
    m = reader.next();
    CHECK(m.from == rtmsg::codec::origin::server);
    CHECK(bin_reader.next().from == rtmsg::codec::origin::peer);
    CHECK(bin_reader.next().from == rtmsg::codec::origin::server);

    // History replays keep the sender.
    json_client late(s.port);
    rtmsg::codec::envelope h = sub("room", 2);
    h.history = 3;
    late.send(h);
    REQUIRE(late.next().op == rtmsg::codec::op::ack);
    m = late.next();
    CHECK(m.from_id == "alice");
    CHECK(late.next().from == rtmsg::codec::origin::peer);
    CHECK(late.next().from == rtmsg::codec::origin::server);
}

TEST_CASE("protocol: the publish hook accepts, refuses in the client's own codec, or replaces", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub_options o;
    std::vector<std::string> seen;
    std::mutex seen_m;
    o.on_publish = [&](rtmsg::peer_info const& peer, rtmsg::publish_request const& p) {
        {
            std::lock_guard<std::mutex> lock(seen_m);
            seen.push_back(std::string(peer.identity) + ":" + std::string(p.topic) + ":" + std::string(p.data));
        }
        if (p.topic == "closed")
            return rtmsg::publish_verdict::reject(rtmsg::hub_error::not_allowed, "the room is closed");
        if (p.topic == "slow") return rtmsg::publish_verdict::reject(rtmsg::hub_error::rate_limited);
        if (p.data == "\"swear\"") return rtmsg::publish_verdict::replace(R"("****")");
        if (p.data == "\"broken\"") return rtmsg::publish_verdict::replace("{not json");
        return rtmsg::publish_verdict::accept();
    };
    rtmsg::hub hub(o);
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, named_users()));
    s.start();
    json_client j(s.port, {}, "/ws?user=jo");
    proto_client<rtmsg::codec::binary> b(s.port, {}, "/ws?user=bi");
    j.send(sub("room", 1));
    REQUIRE(j.next().op == rtmsg::codec::op::ack);

    // Refused: an error in JSON for the JSON client ...
    j.send_raw(R"({"op":"pub","id":5,"topic":"closed","data":1})");
    auto e = j.next();
    CHECK(e.op == rtmsg::codec::op::error);
    CHECK(e.id == 5);
    CHECK(e.code == 403);
    CHECK(e.text == "the room is closed");
    // ... and in the binary codec for the binary client (the hook never encodes anything).
    rtmsg::codec::envelope p;
    p.op = rtmsg::codec::op::publish;
    p.id = 6;
    p.topic = "slow";
    p.data = "1";
    b.send(p);
    auto be = b.next();
    CHECK(be.op == rtmsg::codec::op::error);
    CHECK(be.id == 6);
    CHECK(be.code == 429);
    CHECK(be.text == "rate limit exceeded; slow down");

    // Replaced: subscribers get the hook's payload.
    j.send_raw(R"({"op":"pub","id":7,"topic":"room","data":"swear","ack":true})");
    auto m = j.next(); // queued while publishing, before the ack
    CHECK(m.op == rtmsg::codec::op::message);
    CHECK(m.data == R"("****")");
    CHECK(m.from_id == "jo");
    CHECK(j.next().op == rtmsg::codec::op::ack);
    // A replacement that is not JSON is the server's fault: 500, nothing published.
    j.send_raw(R"({"op":"pub","id":8,"topic":"room","data":"broken"})");
    e = j.next();
    CHECK(e.code == 500);
    CHECK(e.id == 8);
    CHECK(hub.position("room").second == 1);
    std::lock_guard<std::mutex> lock(seen_m);
    CHECK(seen == std::vector<std::string>{"jo:closed:1", "bi:slow:1", "jo:room:\"swear\"", "jo:room:\"broken\""});
}

TEST_CASE("protocol: the per-identity rate limit counts every connection of one user", "[hub][protocol]")
{
    running_server s;
    rtmsg::hub_options o;
    o.publish_messages_per_identity = {1, 3}; // a burst of 3 per user, then one per second
    rtmsg::hub hub(o);
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, named_users()));
    s.start();
    json_client tab1(s.port, {}, "/ws?user=alice"), tab2(s.port, {}, "/ws?user=alice"), bob(s.port, {}, "/ws?user=bob"),
        anon(s.port);
    auto pub = [](json_client& c, int id) {
        c.send_raw(R"({"op":"pub","id":)" + std::to_string(id) + R"(,"topic":"t","data":1,"ack":true})");
        return c.next();
    };
    CHECK(pub(tab1, 1).op == rtmsg::codec::op::ack);
    CHECK(pub(tab2, 2).op == rtmsg::codec::op::ack);
    CHECK(pub(tab1, 3).op == rtmsg::codec::op::ack);
    auto e = pub(tab2, 4); // alice's fourth, from her other tab
    CHECK(e.op == rtmsg::codec::op::error);
    CHECK(e.code == 429);
    CHECK(e.text == "rate limit exceeded for this user; slow down");
    CHECK(pub(tab1, 5).code == 429);
    // Other users, and anonymous connections (limited per connection only), are not affected.
    for (int i = 0; i < 3; ++i) CHECK(pub(bob, 10 + i).op == rtmsg::codec::op::ack);
    for (int i = 0; i < 5; ++i) CHECK(pub(anon, 20 + i).op == rtmsg::codec::op::ack);
}
