// The hub without sockets: topics, wildcards, policies, history, presence, threads.
#include <rtmsg/hub/hub.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <thread>

namespace {

/// A transport stand-in: records what the hub queued, drains on demand.
class test_outbox final : public rtmsg::detail::outbox {
public:
    using outbox::outbox;
    std::atomic<int> wakes{0};
    std::atomic<int> kicks{0};

    /// Everything queued, as {topic, payload-or-frame} pairs, emptying the queue.
    std::vector<item> drain()
    {
        std::vector<item> out;
        while (backlog().first != 0) take(out, 1 << 30);
        return out;
    }

protected:
    void wake() override { ++wakes; }
    void kick() override { ++kicks; }
};

/// Format 0 in these tests: the payload itself.
int raw_format(rtmsg::hub& h)
{
    return rtmsg::detail::hub_access::core(h)->format("test.raw", [](rtmsg::message const& m, std::string& out) {
        if (m.op == rtmsg::codec::op::message)
            out = m.payload;
        else
            out = std::string(rtmsg::codec::op_name(m.op)) + ":" + m.who;
        return true;
    });
}

std::shared_ptr<test_outbox> make_box(rtmsg::hub& h, std::uint64_t id = 1, std::string who = {},
                                      rtmsg::queue_limits limits = {})
{
    return std::make_shared<test_outbox>(raw_format(h), limits, id, rtmsg::make_peer_identity(std::move(who)));
}

std::vector<std::string> payloads(test_outbox& box)
{
    std::vector<std::string> out;
    for (auto const& it : box.drain()) out.push_back(*box.frame_of(it));
    return out;
}

} // namespace

TEST_CASE("hub: topic names and patterns are validated", "[hub]")
{
    CHECK(rtmsg::is_valid_topic("chat"));
    CHECK(rtmsg::is_valid_topic("prices.us.AAPL"));
    CHECK(rtmsg::is_valid_topic("a-b_c:d.1"));
    CHECK_FALSE(rtmsg::is_valid_topic(""));
    CHECK_FALSE(rtmsg::is_valid_topic("a..b"));
    CHECK_FALSE(rtmsg::is_valid_topic(".a"));
    CHECK_FALSE(rtmsg::is_valid_topic("a."));
    CHECK_FALSE(rtmsg::is_valid_topic("a b"));
    CHECK_FALSE(rtmsg::is_valid_topic("a.*"));
    CHECK_FALSE(rtmsg::is_valid_topic(std::string(256, 'a')));
    CHECK_FALSE(rtmsg::is_valid_topic(std::string("a\0b", 3)));
    CHECK(rtmsg::is_valid_pattern("prices.*"));
    CHECK(rtmsg::is_valid_pattern("prices.>"));
    CHECK(rtmsg::is_valid_pattern("*.AAPL"));
    CHECK_FALSE(rtmsg::is_valid_pattern("prices.>.x"));
    CHECK_FALSE(rtmsg::is_valid_pattern("prices.a*"));
}

TEST_CASE("hub: '*' matches one level and '>' one or more", "[hub]")
{
    CHECK(rtmsg::topic_matches("prices.*", "prices.AAPL"));
    CHECK_FALSE(rtmsg::topic_matches("prices.*", "prices.us.AAPL"));
    CHECK_FALSE(rtmsg::topic_matches("prices.*", "prices"));
    CHECK(rtmsg::topic_matches("prices.>", "prices.AAPL"));
    CHECK(rtmsg::topic_matches("prices.>", "prices.us.AAPL"));
    CHECK_FALSE(rtmsg::topic_matches("prices.>", "prices"));
    CHECK(rtmsg::topic_matches("*.AAPL", "prices.AAPL"));
    CHECK(rtmsg::topic_matches("a.*.c", "a.b.c"));
    CHECK_FALSE(rtmsg::topic_matches("a.*.c", "a.b.d"));
    CHECK(rtmsg::topic_matches("chat", "chat"));
    CHECK_FALSE(rtmsg::topic_matches("chat", "chat.x"));
}

TEST_CASE("hub: in-process subscribers get every message of their topic or pattern", "[hub]")
{
    rtmsg::hub h;
    std::vector<std::string> exact, wild, deep;
    auto s1 = h.subscribe("prices.AAPL", [&](rtmsg::message const& m) { exact.push_back(m.payload); });
    auto s2 = h.subscribe("prices.*", [&](rtmsg::message const& m) { wild.push_back(m.topic); });
    auto s3 = h.subscribe("prices.>", [&](rtmsg::message const& m) { deep.push_back(m.topic); });
    h.publish("prices.AAPL", "1", rtmsg::codec::data_kind::text);
    h.publish("prices.MSFT", "2", rtmsg::codec::data_kind::text);
    h.publish("prices.us.IBM", "3", rtmsg::codec::data_kind::text);
    h.publish("other", "4", rtmsg::codec::data_kind::text);
    CHECK(exact == std::vector<std::string>{"1"});
    CHECK(wild == std::vector<std::string>{"prices.AAPL", "prices.MSFT"});
    CHECK(deep == std::vector<std::string>{"prices.AAPL", "prices.MSFT", "prices.us.IBM"});
    s2.unsubscribe();
    h.publish("prices.AAPL", "5", rtmsg::codec::data_kind::text);
    CHECK(wild.size() == 2);
    CHECK(exact.size() == 2);
    std::error_code ec;
    h.subscribe(
        "bad..topic", [](auto const&) {}, ec);
    CHECK(ec == rtmsg::hub_error::invalid_topic);
    CHECK(h.publish("prices.*", "x", rtmsg::codec::data_kind::text).ec == rtmsg::hub_error::wildcard_publish);
    CHECK(h.publish("no spaces", "x", rtmsg::codec::data_kind::text).ec == rtmsg::hub_error::invalid_topic);
}

TEST_CASE("hub: a publish with a read batch queues at once and wakes the subscriber when the batch ends", "[hub]")
{
    rtmsg::hub h;
    auto box = make_box(h);
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t", {}, nullptr));
    {
        rtmsg::transport::read_batch batch;
        batch.set_more(true);
        for (auto const* p : {"1", "2", "3"}) CHECK(!h.publish("t", p, rtmsg::codec::data_kind::text, &batch).ec);
        CHECK(box->backlog().first == 3); // queued in order, before the batch ends
        CHECK(box->wakes == 0);
        batch.run();
        CHECK(box->wakes == 1); // one wake-up for the whole batch
    }
    CHECK(payloads(*box) == std::vector<std::string>{"1", "2", "3"});
    // Without a batch the wake-up is immediate; a batch destroyed without run() still runs it.
    std::optional<rtmsg::transport::read_batch> batch(std::in_place);
    CHECK(!h.publish("t", "4", rtmsg::codec::data_kind::text, &*batch).ec);
    auto const before = box->wakes.load();
    batch.reset();
    CHECK(box->wakes == before + 1);
}

TEST_CASE("hub: offsets increase by one per topic and the epoch is stable", "[hub]")
{
    rtmsg::hub h;
    auto a = h.publish("a", "x", rtmsg::codec::data_kind::text);
    auto b = h.publish("a", "y", rtmsg::codec::data_kind::text);
    auto c = h.publish("b", "z", rtmsg::codec::data_kind::text);
    CHECK(a.offset == 1);
    CHECK(b.offset == 2);
    CHECK(c.offset == 1);
    CHECK(a.epoch == b.epoch);
    CHECK(a.epoch != 0);
    CHECK(h.position("a") == std::pair<std::uint64_t, std::uint64_t>{a.epoch, 2});
}

TEST_CASE("hub: hub_options::max_topics bounds the topics, with a checked error", "[hub]")
{
    rtmsg::hub_options opt;
    opt.max_topics = 2;
    rtmsg::hub h(opt);
    CHECK(!h.publish("a", "x", rtmsg::codec::data_kind::text).ec);
    CHECK(!h.publish("b", "x", rtmsg::codec::data_kind::text).ec);
    auto const third = h.publish("c", "x", rtmsg::codec::data_kind::text);
    CHECK(third.ec == rtmsg::hub_error::too_many_topics);
    CHECK(third.offset == 0);
    CHECK(h.publish("a", "y", rtmsg::codec::data_kind::text).offset == 2); // existing topics still work
}

TEST_CASE("hub: one message is framed once and shared by every subscriber", "[hub]")
{
    rtmsg::hub h;
    std::atomic<int> encodes{0};
    int const f =
        rtmsg::detail::hub_access::core(h)->format("counting", [&](rtmsg::message const& m, std::string& out) {
            ++encodes;
            out = m.payload;
            return true;
        });
    std::vector<std::shared_ptr<test_outbox>> boxes;
    for (int i = 0; i < 100; ++i) {
        boxes.push_back(std::make_shared<test_outbox>(f, rtmsg::queue_limits{}, i + 1, nullptr));
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(boxes.back(), "t", {}, nullptr));
    }
    auto r = h.publish("t", "payload", rtmsg::codec::data_kind::text);
    CHECK(r.subscribers == 100);
    CHECK(encodes == 1);
    std::string const* first = nullptr;
    for (auto& b : boxes) {
        auto items = b->drain();
        REQUIRE(items.size() == 1);
        auto frame = b->frame_of(items[0]);
        CHECK(*frame == "payload");
        if (!first) first = frame.get();
        CHECK(frame.get() == first); // the same bytes, not a copy
    }
}

TEST_CASE("hub: a subscriber matched by a topic and a pattern gets a message once", "[hub]")
{
    rtmsg::hub h;
    auto box = make_box(h);
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "a.b", {}, nullptr));
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "a.*", {}, nullptr));
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "a.>", {}, nullptr));
    h.publish("a.b", "once", rtmsg::codec::data_kind::text);
    h.publish("a.c", "also once", rtmsg::codec::data_kind::text);
    CHECK(payloads(*box) == std::vector<std::string>{"once", "also once"});
    CHECK(rtmsg::detail::hub_access::core(h)->subscribe(box, "a.b", {}, nullptr) ==
          rtmsg::hub_error::bad_request); // twice
    CHECK(!rtmsg::detail::hub_access::core(h)->unsubscribe(*box, "a.b"));
    CHECK(rtmsg::detail::hub_access::core(h)->unsubscribe(*box, "a.b") == rtmsg::hub_error::not_subscribed);
}

TEST_CASE("hub: publishing with echo off skips the sender", "[hub]")
{
    rtmsg::hub h;
    auto sender = make_box(h, 7), other = make_box(h, 8);
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(sender, "t", {}, nullptr));
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(other, "t", {}, nullptr));
    rtmsg::detail::hub_access::core(h)->publish("t", "x", rtmsg::codec::data_kind::text, 7, nullptr, false);
    CHECK(payloads(*sender).empty());
    CHECK(payloads(*other) == std::vector<std::string>{"x"});
    rtmsg::detail::hub_access::core(h)->publish("t", "y", rtmsg::codec::data_kind::text, 7, nullptr, true);
    CHECK(payloads(*sender) == std::vector<std::string>{"y"});
}

TEST_CASE("hub: slow-consumer policies bound the queue and count drops", "[hub][policy]")
{
    using rtmsg::slow_consumer_policy;
    rtmsg::queue_limits limits;
    limits.max_messages = 3;
    limits.max_bytes = 1 << 20;

    auto run = [&](slow_consumer_policy p, std::vector<std::pair<std::string, std::string>> const& pubs, int& kicks) {
        rtmsg::hub_options o;
        o.default_topic.policy = p;
        rtmsg::hub h(o);
        auto box = make_box(h, 1, "", limits);
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t.>", {}, nullptr));
        for (auto const& [topic, payload] : pubs) h.publish(topic, payload, rtmsg::codec::data_kind::text);
        kicks = box->kicks;
        auto r = payloads(*box);
        CHECK(box->dropped() == h.metrics().dropped);
        return r;
    };
    int kicks = 0;
    std::vector<std::pair<std::string, std::string>> const five{
        {"t.a", "1"}, {"t.a", "2"}, {"t.a", "3"}, {"t.a", "4"}, {"t.a", "5"}};
    CHECK(run(slow_consumer_policy::drop_oldest, five, kicks) == std::vector<std::string>{"3", "4", "5"});
    CHECK(run(slow_consumer_policy::drop_newest, five, kicks) == std::vector<std::string>{"1", "2", "3"});
    CHECK(run(slow_consumer_policy::keep_latest, five, kicks) == std::vector<std::string>{"5"});
    CHECK(run(slow_consumer_policy::keep_latest,
              {{"t.a", "a1"}, {"t.b", "b1"}, {"t.a", "a2"}, {"t.c", "c1"}, {"t.b", "b2"}},
              kicks) == std::vector<std::string>{"a2", "b2", "c1"});
    CHECK(run(slow_consumer_policy::disconnect, five, kicks) == std::vector<std::string>{"1", "2", "3"});
    CHECK(kicks == 1);
}

TEST_CASE("hub: publish_many queues exactly what publishing one by one does", "[hub][policy]")
{
    using rtmsg::slow_consumer_policy;
    struct outcome {
        std::vector<std::string> twice, limited, sender, callback;
        std::uint64_t last_offset = 0, in = 0, out = 0, dropped = 0;
        int kicks = 0, wakes = 0;
        bool operator==(outcome const&) const = default;
    };
    auto run = [](slow_consumer_policy p, bool batch, bool echo) {
        rtmsg::hub_options o;
        o.default_topic.policy = p;
        o.default_topic.history_count = 100;
        rtmsg::hub h(o);
        rtmsg::queue_limits limits;
        limits.max_messages = 3;
        auto twice = make_box(h, 1); // matched by the topic and by two patterns
        auto limited = make_box(h, 2, "", limits);
        auto sender = make_box(h, 7);
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(twice, "a.b", {}, nullptr));
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(twice, "a.*", {}, nullptr));
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(twice, "a.>", {}, nullptr));
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(limited, "a.b", {}, nullptr));
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(sender, "a.b", {}, nullptr));
        outcome r;
        auto sub = h.subscribe("a.>", [&](rtmsg::message const& m) { r.callback.push_back(m.payload); });
        h.publish("a.b", "before", rtmsg::codec::data_kind::text); // the batch continues the topic's offsets
        std::vector<std::string> const pay{"1", "2", "3", "4", "5"};
        if (batch) {
            std::vector<std::shared_ptr<rtmsg::message>> msgs;
            for (auto const& x : pay) {
                auto m = std::make_shared<rtmsg::message>();
                m->payload = x;
                m->publisher = 7;
                m->time = std::chrono::steady_clock::now();
                msgs.push_back(std::move(m));
            }
            REQUIRE(!rtmsg::detail::hub_access::core(h)->publish_many("a.b", msgs, echo));
            CHECK(rtmsg::detail::hub_access::core(h)->publish_many("a.*", msgs, echo) ==
                  rtmsg::hub_error::wildcard_publish);
        }
        else
            for (auto const& x : pay)
                rtmsg::detail::hub_access::core(h)->publish("a.b", x, rtmsg::codec::data_kind::text, 7, nullptr, echo);
        r.twice = payloads(*twice);
        r.limited = payloads(*limited);
        r.sender = payloads(*sender);
        r.kicks = limited->kicks;
        r.wakes = twice->wakes;
        auto m = h.metrics();
        r.in = m.messages_in;
        r.out = m.messages_out;
        r.dropped = m.dropped;
        auto late = make_box(h, 9);
        rtmsg::subscribe_options so;
        so.has_since = true;
        so.since = 0;
        REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(late, "a.b", so, nullptr));
        auto const replay = payloads(*late);
        REQUIRE(!replay.empty());
        CHECK(replay.back() == "5");
        r.last_offset = replay.size();
        return r;
    };
    for (auto p : {slow_consumer_policy::drop_oldest, slow_consumer_policy::drop_newest,
                   slow_consumer_policy::keep_latest, slow_consumer_policy::disconnect})
        for (bool echo : {true, false}) {
            INFO("policy " << static_cast<int>(p) << " echo " << echo);
            auto const one = run(p, false, echo);
            auto const many = run(p, true, echo);
            CHECK(many == one);
            std::vector<std::string> const all{"before", "1", "2", "3", "4", "5"};
            bool const coalesced = p == slow_consumer_policy::keep_latest;
            CHECK(many.twice == (coalesced ? std::vector<std::string>{"5"} : all)); // once each
            CHECK(many.callback == all);
            CHECK(many.sender == (echo ? many.twice : std::vector<std::string>{"before"}));
            CHECK(many.last_offset == 6);
        }
}

TEST_CASE("hub: the byte bound holds whatever is published", "[hub][policy]")
{
    rtmsg::queue_limits limits;
    limits.max_messages = 1'000'000;
    limits.max_bytes = 10'000;
    rtmsg::hub h;
    auto box = make_box(h, 1, "", limits);
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t", {}, nullptr));
    for (int i = 0; i < 1000; ++i) {
        h.publish("t", std::string(1000, 'x'), rtmsg::codec::data_kind::text);
        CHECK(box->backlog().second <= limits.max_bytes);
    }
    CHECK(box->backlog().first == 10);
    CHECK(box->dropped() == 990);
}

TEST_CASE("hub: resuming since an offset replays exactly the missed messages, then live ones", "[hub][history]")
{
    rtmsg::hub h;
    for (int i = 1; i <= 10; ++i) h.publish("t", std::to_string(i), rtmsg::codec::data_kind::text);
    auto const [epoch, last] = h.position("t");
    REQUIRE(last == 10);
    auto box = make_box(h);
    rtmsg::subscribe_options so;
    so.has_since = true;
    so.since = 7;
    so.epoch = epoch;
    rtmsg::subscribe_head head;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t", so, [&](auto const& hd) { head = hd; }));
    CHECK(head.last_offset == 10);
    CHECK(head.gap_from == 0);
    h.publish("t", "11", rtmsg::codec::data_kind::text);
    CHECK(payloads(*box) == std::vector<std::string>{"8", "9", "10", "11"});
}

TEST_CASE("hub: a resume beyond the retained history reports the gap", "[hub][history]")
{
    rtmsg::hub_options o;
    o.default_topic.history_count = 3;
    rtmsg::hub h(o);
    for (int i = 1; i <= 10; ++i) h.publish("t", std::to_string(i), rtmsg::codec::data_kind::text);
    auto box = make_box(h);
    rtmsg::subscribe_options so;
    so.has_since = true;
    so.since = 2;
    rtmsg::subscribe_head head;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t", so, [&](auto const& hd) { head = hd; }));
    CHECK(head.gap_from == 3);
    CHECK(head.gap_to == 7);
    CHECK(payloads(*box) == std::vector<std::string>{"8", "9", "10"});

    // Another epoch: offsets restart, everything retained is new to the client.
    auto box2 = make_box(h, 2);
    so.since = 9;
    so.epoch = h.position("t").first + 1;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box2, "t", so, nullptr));
    CHECK(payloads(*box2) == std::vector<std::string>{"8", "9", "10"});
}

TEST_CASE("hub: a resume from an offset the topic never reached starts over", "[hub][history]")
{
    // A server that restarted numbers the topic again from 1: a client that remembers
    // offset 50 of the earlier run (an SSE Last-Event-ID carries no epoch) must get what is
    // retained now, not wait for offset 51.
    rtmsg::hub_options o;
    o.default_topic.history_count = 3;
    rtmsg::hub h(o);
    for (int i = 1; i <= 5; ++i) h.publish("t", std::to_string(i), rtmsg::codec::data_kind::text);
    auto box = make_box(h);
    rtmsg::subscribe_options so;
    so.has_since = true;
    so.since = 50;
    rtmsg::subscribe_head head;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t", so, [&](auto const& hd) { head = hd; }));
    CHECK(payloads(*box) == std::vector<std::string>{"3", "4", "5"});
    CHECK(head.gap_from == 1); // and what is no longer retained is reported
    CHECK(head.gap_to == 2);

    // With the current epoch stated, the client is trusted (a cluster node may lag the
    // broker): nothing is replayed, and the next live message comes through.
    auto box2 = make_box(h, 2);
    so.epoch = h.position("t").first;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box2, "t", so, nullptr));
    CHECK(payloads(*box2).empty());
    h.publish("t", "6", rtmsg::codec::data_kind::text);
    CHECK(payloads(*box2) == std::vector<std::string>{"6"});
}

TEST_CASE("hub: history by count and by age", "[hub][history]")
{
    rtmsg::hub_options o;
    o.default_topic.history_count = 100;
    o.default_topic.history_age = std::chrono::milliseconds(50);
    rtmsg::hub h(o);
    h.publish("t", "old", rtmsg::codec::data_kind::text);
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    h.publish("t", "new", rtmsg::codec::data_kind::text);
    auto box = make_box(h);
    rtmsg::subscribe_options so;
    so.history = 10;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "t", so, nullptr));
    CHECK(payloads(*box) == std::vector<std::string>{"new"});
}

TEST_CASE("hub: presence lists members and sends join and leave events", "[hub][presence]")
{
    rtmsg::hub h;
    auto watcher = make_box(h, 1, "watcher");
    rtmsg::subscribe_options so;
    so.presence = true;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(watcher, "room", so, nullptr));
    auto alice = make_box(h, 2, "alice");
    auto alice2 = make_box(h, 3, "alice"); // a second tab
    auto anon = make_box(h, 4, "");
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(alice, "room", {}, nullptr));
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(alice2, "room", {}, nullptr));
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(anon, "room", {}, nullptr));
    CHECK(h.members("room") == std::vector<std::string>{"alice", "watcher"});
    rtmsg::detail::hub_access::core(h)->remove(*alice);
    CHECK(h.members("room") == std::vector<std::string>{"alice", "watcher"});
    rtmsg::detail::hub_access::core(h)->remove(*alice2);
    CHECK(h.members("room") == std::vector<std::string>{"watcher"});
    CHECK(payloads(*watcher) == std::vector<std::string>{"join:watcher", "join:alice", "leave:alice"});
    CHECK(payloads(*alice).empty()); // did not ask for presence
}

TEST_CASE("hub: subscription limits and authorization-free defaults", "[hub]")
{
    rtmsg::hub_options o;
    o.max_subscriptions_per_connection = 2;
    rtmsg::hub h(o);
    auto box = make_box(h);
    CHECK(!rtmsg::detail::hub_access::core(h)->subscribe(box, "a", {}, nullptr));
    CHECK(!rtmsg::detail::hub_access::core(h)->subscribe(box, "b", {}, nullptr));
    CHECK(rtmsg::detail::hub_access::core(h)->subscribe(box, "c", {}, nullptr) ==
          rtmsg::hub_error::too_many_subscriptions);
    CHECK(rtmsg::detail::hub_access::core(h)->subscribe(box, "bad topic", {}, nullptr) ==
          rtmsg::hub_error::invalid_topic);
    CHECK(h.metrics().subscriptions == 2);
    rtmsg::detail::hub_access::core(h)->remove(*box);
    CHECK(h.metrics().subscriptions == 0);
}

TEST_CASE("hub: concurrent publishers, subscribers and unsubscribers", "[hub][threads]")
{
    // Run under TSan: the hub's lock and the outboxes' locks must cover everything.
    rtmsg::hub h;
    std::atomic<bool> stop{false};
    std::atomic<long> callbacks{0};
    auto sub = h.subscribe("load.>", [&](auto const&) { ++callbacks; });
    std::vector<std::thread> threads;
    for (int p = 0; p < 3; ++p)
        threads.emplace_back([&, p] {
            for (int i = 0; i < 2000; ++i)
                h.publish("load." + std::to_string(i % 5), std::to_string(p), rtmsg::codec::data_kind::text);
        });
    threads.emplace_back([&] {
        int n = 0;
        while (!stop) {
            ++n;
            auto box = make_box(h, static_cast<std::uint64_t>(100 + n), "u" + std::to_string(n % 3));
            (void)rtmsg::detail::hub_access::core(h)->subscribe(box, "load.*", {}, nullptr);
            (void)rtmsg::detail::hub_access::core(h)->subscribe(box, "load.1", {}, nullptr);
            box->drain();
            rtmsg::detail::hub_access::core(h)->remove(*box);
        }
    });
    for (int i = 0; i < 3; ++i) threads[static_cast<std::size_t>(i)].join();
    stop = true;
    threads.back().join();
    CHECK(callbacks == 6000);
    CHECK(h.metrics().messages_in == 6000);
}

TEST_CASE("hub: publishers to their own topics lose nothing while patterns come and go", "[hub][threads]")
{
    // A topic that no pattern matches is published to under its own lock alone; a pattern
    // subscription moves its topics back under the hub's lock.  Run under TSan.
    rtmsg::hub h;
    rtmsg::queue_limits const roomy{1u << 20, 1u << 30};
    constexpr int topics = 3, per_topic = 3000;
    std::vector<std::shared_ptr<test_outbox>> exact;
    for (int k = 0; k < topics; ++k)
        for (int j = 0; j < 2; ++j) {
            exact.push_back(make_box(h, static_cast<std::uint64_t>(10 * k + j + 1), {}, roomy));
            REQUIRE(
                !rtmsg::detail::hub_access::core(h)->subscribe(exact.back(), "p." + std::to_string(k), {}, nullptr));
        }
    // Subscribed to p.0 exactly for good and to p.* now and then: every p.0 message once.
    auto dual = make_box(h, 99, {}, roomy);
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(dual, "p.0", {}, nullptr));

    std::atomic<bool> stop{false};
    std::atomic<int> toggles{0}; // the publishers start after the first, so the two overlap
    std::thread toggler([&] {
        int n = 0;
        while (!stop) {
            (void)rtmsg::detail::hub_access::core(h)->subscribe(dual, "p.*", {}, nullptr);
            auto other = make_box(h, static_cast<std::uint64_t>(1000 + ++n), {}, roomy);
            (void)rtmsg::detail::hub_access::core(h)->subscribe(other, n % 2 ? "p.1" : "p.>", {}, nullptr);
            std::this_thread::yield();
            (void)rtmsg::detail::hub_access::core(h)->unsubscribe(*dual, "p.*");
            rtmsg::detail::hub_access::core(h)->remove(*other);
            ++toggles;
        }
    });
    std::vector<std::thread> publishers;
    for (int k = 0; k < topics; ++k)
        publishers.emplace_back([&, k] {
            while (toggles == 0) std::this_thread::yield();
            for (int i = 0; i < per_topic; ++i) {
                auto const r = h.publish("p." + std::to_string(k), std::to_string(i), rtmsg::codec::data_kind::text);
                if (r.ec || r.offset != static_cast<std::uint64_t>(i + 1)) FAIL_CHECK("publish " << i << " to p." << k);
            }
        });
    for (auto& t : publishers) t.join();
    stop = true;
    toggler.join();
    CHECK(h.metrics().messages_in == topics * per_topic);

    std::vector<std::string> expected;
    for (int i = 0; i < per_topic; ++i) expected.push_back(std::to_string(i));
    for (auto const& box : exact) CHECK(payloads(*box) == expected); // all, once, in order

    // dual: p.0 once each and in order; p.1 and p.2 only from while p.* was on, in order.
    std::vector<std::vector<int>> got(topics);
    for (auto const& it : dual->drain())
        got[static_cast<std::size_t>(it.msg->topic.back() - '0')].push_back(std::stoi(it.msg->payload));
    CHECK(got[0].size() == per_topic);
    for (auto const& v : got) CHECK(std::is_sorted(v.begin(), v.end()));
    for (auto const& v : got) CHECK(std::adjacent_find(v.begin(), v.end()) == v.end());
}

TEST_CASE("hub: a subscriber found dead on a topic's own lock is dropped", "[hub]")
{
    rtmsg::hub h;
    class dying_outbox final : public rtmsg::detail::outbox {
    public:
        using outbox::outbox;
        std::atomic<bool> dead{false};

    protected:
        void wake() override {}
        void kick() override {}
        bool alive() const noexcept override { return !dead; }
    };
    auto box = std::make_shared<dying_outbox>(raw_format(h), rtmsg::queue_limits{}, 7, nullptr);
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "solo", {}, nullptr));
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(box, "other", {}, nullptr));
    CHECK(h.metrics().subscriptions == 2);
    CHECK(h.publish("solo", "a", rtmsg::codec::data_kind::text).subscribers == 1);
    box->dead = true;
    CHECK(h.publish("solo", "b", rtmsg::codec::data_kind::text).subscribers == 0);
    // Dropped from every topic, not only the one published to.
    CHECK(h.metrics().subscriptions == 0);
    CHECK(h.publish("other", "c", rtmsg::codec::data_kind::text).subscribers == 0);
}

TEST_CASE("hub: a subscriber sees its acknowledgement then history then its own join", "[hub][presence]")
{
    rtmsg::hub h;
    h.publish("room", "m1", rtmsg::codec::data_kind::text);
    h.publish("room", "m2", rtmsg::codec::data_kind::text);
    auto watcher = make_box(h, 1, "watcher");
    rtmsg::subscribe_options so;
    so.presence = true;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(watcher, "room", so, nullptr));
    CHECK(payloads(*watcher) == std::vector<std::string>{"join:watcher"});

    auto bob = make_box(h, 2, "bob");
    so.history = 2;
    REQUIRE(!rtmsg::detail::hub_access::core(h)->subscribe(bob, "room", so, [&](rtmsg::subscribe_head const&) {
        bob->push_private(std::make_shared<std::string const>("ack"));
    }));
    CHECK(payloads(*bob) == std::vector<std::string>{"ack", "m1", "m2", "join:bob"});
    CHECK(payloads(*watcher) == std::vector<std::string>{"join:bob"});
}
