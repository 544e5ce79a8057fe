// Micro benchmarks of the sans-I/O WebSocket core: frame reading (unmask + UTF-8 check),
// masking and UTF-8 validation.  No sockets: these measure the library's own per-byte work.
#include <rtmsg/detail/utf8.hpp>
#include <rtmsg/websocket/frame.hpp>

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

namespace {

std::string masked_message(rtmsg::websocket::opcode op, std::size_t n)
{
    char hdr[rtmsg::websocket::max_header_size];
    std::uint32_t key = 0x01020304;
    auto const h = rtmsg::websocket::write_frame_header(hdr, op, true, n, &key);
    std::string out(hdr, h);
    out.append(n, 'a');
    std::array<std::uint8_t, 4> k;
    std::memcpy(k.data(), &key, 4);
    rtmsg::websocket::mask_bytes(out.data() + h, n, k, 0);
    return out;
}

void frame_read(benchmark::State& state, rtmsg::websocket::opcode op)
{
    auto const n = static_cast<std::size_t>(state.range(0));
    auto const frame = masked_message(op, n);
    std::string input;
    rtmsg::websocket::message_reader reader(rtmsg::role_type::server, 1u << 30);
    std::size_t total = 0;
    for (auto _ : state) {
        input = frame; // the reader unmasks in place
        auto r = reader.read(input.data(), input.size(), [&](std::string_view chunk) { total += chunk.size(); });
        if (r.event != rtmsg::websocket::read_event::message) state.SkipWithError("frame not read");
        benchmark::DoNotOptimize(total);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * frame.size()));
    state.SetItemsProcessed(state.iterations());
}

void frame_read_text(benchmark::State& s)
{
    frame_read(s, rtmsg::websocket::opcode::text);
}
void frame_read_binary(benchmark::State& s)
{
    frame_read(s, rtmsg::websocket::opcode::binary);
}

void frame_write_header(benchmark::State& state)
{
    char hdr[rtmsg::websocket::max_header_size];
    auto const n = static_cast<std::uint64_t>(state.range(0));
    for (auto _ : state) {
        benchmark::DoNotOptimize(rtmsg::websocket::write_frame_header(hdr, rtmsg::websocket::opcode::text, true, n));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}

/// Unmasking as the reader does it: the offset into the key is not a multiple of 4.
void mask(benchmark::State& state)
{
    std::string data(static_cast<std::size_t>(state.range(0)), 'x');
    std::array<std::uint8_t, 4> key{1, 2, 3, 4};
    for (auto _ : state) {
        rtmsg::websocket::mask_bytes(data.data(), data.size(), key, 1);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
    state.SetItemsProcessed(state.iterations());
}

void utf8_validate(benchmark::State& state)
{
    std::string s;
    while (s.size() < static_cast<std::size_t>(state.range(0))) s += "h\xC3\xA9llo w\xE2\x82\xACrld \xF0\x9F\x98\x80 ";
    s.resize(static_cast<std::size_t>(state.range(0)));
    while (!rtmsg::detail::utf8_validator::validate(s)) s.pop_back(); // do not end mid-character
    for (auto _ : state) benchmark::DoNotOptimize(rtmsg::detail::utf8_validator::validate(s));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * s.size()));
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK(frame_read_text)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(frame_read_binary)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(frame_write_header)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(mask)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(utf8_validate)->Arg(16)->Arg(1 << 10)->Arg(64 << 10)->Arg(1 << 20);
