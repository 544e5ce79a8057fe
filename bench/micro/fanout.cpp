// Micro benchmarks of the message path above the frame reader: frame serialization (header +
// payload into one buffer, as send() does), SSE event formatting, and hub fan-out to 1, 100
// and 10,000 in-process subscribers.
//
//   rtmsg_bench_micro --benchmark_filter='frame_serialize|sse_|hub_'
//
// hub_publish_callback: callback subscribers (run on the publisher's thread).
// hub_publish_outbox:   transport subscribers (the queue every WebSocket/SSE connection has);
//                       items/s counts delivered messages, so 1/items_per_second is the cost
//                       per delivered message, including the drain (take + frame lookup).
#include <rtmsg/server/hub_endpoint.hpp>
#include <rtmsg/hub/hub.hpp>
#include <rtmsg/sse/event.hpp>
#include <rtmsg/websocket/frame.hpp>

#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

void frame_serialize(benchmark::State& state)
{
    std::string const payload(static_cast<std::size_t>(state.range(0)), 'a');
    std::string out;
    for (auto _ : state) {
        out.clear();
        rtmsg::detail::append_ws_frame(out, rtmsg::websocket::opcode::text, payload);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
    state.SetItemsProcessed(state.iterations());
}

void frame_serialize_masked(benchmark::State& state)
{
    std::string const payload(static_cast<std::size_t>(state.range(0)), 'a');
    std::string out;
    std::array<std::uint8_t, 4> k{1, 2, 3, 4};
    std::uint32_t key;
    std::memcpy(&key, k.data(), 4);
    for (auto _ : state) {
        char hdr[rtmsg::websocket::max_header_size];
        auto const h =
            rtmsg::websocket::write_frame_header(hdr, rtmsg::websocket::opcode::binary, true, payload.size(), &key);
        out.assign(hdr, h);
        out.append(payload);
        rtmsg::websocket::mask_bytes(out.data() + h, payload.size(), k, 0);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
    state.SetItemsProcessed(state.iterations());
}

std::string sse_payload(std::size_t n, bool multiline)
{
    std::string s;
    while (s.size() < n) s += multiline ? "line of text\n" : "{\"k\":\"value\"}";
    s.resize(n);
    return s;
}

void sse_format(benchmark::State& state, bool multiline)
{
    auto const payload = sse_payload(static_cast<std::size_t>(state.range(0)), multiline);
    std::string out;
    for (auto _ : state) {
        out.clear();
        rtmsg::sse::format_event(out, {payload, "1234567", {}, 0});
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
    state.SetItemsProcessed(state.iterations());
}
void sse_format_single_line(benchmark::State& s)
{
    sse_format(s, false);
}
void sse_format_multi_line(benchmark::State& s)
{
    sse_format(s, true);
}

/// The hub's own SSE encoder (id from the offset + format_event), as the testbed's /sse uses it.
void sse_encode_message(benchmark::State& state)
{
    rtmsg::message m;
    m.payload = sse_payload(static_cast<std::size_t>(state.range(0)), false);
    m.offset = 1234567;
    std::string out;
    for (auto _ : state) {
        out.clear();
        rtmsg::detail::encode_sse_offset(m, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
    state.SetItemsProcessed(state.iterations());
}

void hub_publish_callback(benchmark::State& state)
{
    auto const n = static_cast<std::size_t>(state.range(0));
    rtmsg::hub_options o;
    o.default_topic.history_count = 0;
    rtmsg::hub hub(o);
    std::size_t got = 0;
    std::vector<rtmsg::subscription> subs;
    for (std::size_t i = 0; i < n; ++i) subs.push_back(hub.subscribe("t", [&](rtmsg::message const&) { ++got; }));
    std::string const payload(64, 'x');
    for (auto _ : state) benchmark::DoNotOptimize(hub.publish("t", payload, rtmsg::codec::data_kind::text));
    if (got != state.iterations() * n) state.SkipWithError("lost deliveries");
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}

/// A transport subscriber without a transport: wake() only notes that it was scheduled.
class bench_outbox final : public rtmsg::detail::outbox {
public:
    using outbox::outbox;
    std::size_t wakes = 0;

private:
    void wake() override { ++wakes; }
    void kick() override {}
};

void hub_publish_outbox(benchmark::State& state)
{
    auto const n = static_cast<std::size_t>(state.range(0));
    rtmsg::hub_options o;
    o.default_topic.history_count = 0;
    rtmsg::hub hub(o);
    auto core = rtmsg::detail::hub_access::core(hub);
    int const format = core->format("ws.raw", rtmsg::detail::encode_ws_raw);
    std::vector<std::shared_ptr<bench_outbox>> boxes;
    for (std::size_t i = 0; i < n; ++i) {
        boxes.push_back(std::make_shared<bench_outbox>(format, o.queue, i + 1, std::string()));
        core->subscribe(boxes.back(), "t", {}, nullptr);
    }
    std::string const payload(64, 'x');
    std::vector<rtmsg::detail::outbox::item> batch;
    std::size_t bytes = 0, delivered = 0;
    for (auto _ : state) {
        auto r = core->publish("t", payload, rtmsg::codec::data_kind::text, 0, true);
        delivered += r.subscribers;
        // Drain as the transports would (each takes its batch and looks up its frame).
        for (auto& b : boxes) {
            batch.clear();
            b->take(batch, 256 * 1024);
            for (auto const& it : batch) bytes += b->frame_of(it)->size();
        }
    }
    if (delivered != state.iterations() * n) state.SkipWithError("lost deliveries");
    for (auto& b : boxes) core->remove(*b);
    state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

/// Hub lock contention: every benchmark thread publishes to 100 transport subscribers and
/// drains them, as an I/O thread of a multi-threaded server would.  range(0) == 0: each
/// thread has a topic of its own; 1: all threads publish to one topic (and drain its
/// subscribers in turn).  items/s counts delivered messages of all threads (real time).
struct contended_hub {
    rtmsg::hub hub{[] {
        rtmsg::hub_options o;
        o.default_topic.history_count = 0;
        return o;
    }()};
    std::vector<std::vector<std::shared_ptr<bench_outbox>>> boxes; ///< by topic
    std::vector<std::string> names;                                ///< by topic
};
std::unique_ptr<contended_hub> contended;

void hub_publish_threads(benchmark::State& state)
{
    bool const shared_topic = state.range(0) == 1;
    std::size_t const subscribers = 100;
    if (state.thread_index() == 0) {
        contended = std::make_unique<contended_hub>();
        auto core = contended->rtmsg::detail::hub_access::core(hub);
        int const format = core->format("ws.raw", rtmsg::detail::encode_ws_raw);
        auto const topics = shared_topic ? 1 : static_cast<std::size_t>(state.threads());
        std::uint64_t id = 0;
        for (std::size_t t = 0; t < topics; ++t) {
            contended->names.push_back("t" + std::to_string(t));
            contended->boxes.emplace_back();
            for (std::size_t i = 0; i < subscribers; ++i) {
                auto b = std::make_shared<bench_outbox>(format, core->options().queue, ++id, std::string());
                core->subscribe(b, contended->names[t], {}, nullptr);
                contended->boxes.back().push_back(std::move(b));
            }
        }
    }
    // The first iteration starts after thread 0's set-up (the loop's start is a barrier).
    std::vector<rtmsg::detail::outbox::item> batch;
    std::string const payload(64, 'x');
    std::size_t delivered = 0;
    for (auto _ : state) {
        auto const t = shared_topic ? 0 : static_cast<std::size_t>(state.thread_index());
        auto const& core = contended->rtmsg::detail::hub_access::core(hub);
        auto r = core->publish(contended->names[t], payload, rtmsg::codec::data_kind::text, 0, true);
        delivered += r.subscribers;
        for (auto& b : contended->boxes[t]) {
            batch.clear();
            b->take(batch, 256 * 1024);
        }
    }
    if (delivered != state.iterations() * subscribers) state.SkipWithError("lost deliveries");
    state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
    // The loop's end is a barrier too: no thread uses the hub after it.
    if (state.thread_index() == 0) {
        for (auto& v : contended->boxes)
            for (auto& b : v) contended->rtmsg::detail::hub_access::core(hub)->remove(*b);
        contended.reset();
    }
}
} // namespace

BENCHMARK(frame_serialize)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(frame_serialize_masked)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(sse_format_single_line)->Arg(16)->Arg(1 << 10)->Arg(64 << 10);
BENCHMARK(sse_format_multi_line)->Arg(16)->Arg(1 << 10)->Arg(64 << 10);
BENCHMARK(sse_encode_message)->Arg(16)->Arg(1 << 10);
BENCHMARK(hub_publish_callback)->Arg(1)->Arg(100)->Arg(10'000);
BENCHMARK(hub_publish_outbox)->Arg(1)->Arg(100)->Arg(10'000);
BENCHMARK(hub_publish_threads)->Arg(0)->Arg(1)->ThreadRange(1, 4)->UseRealTime();
