// Codec micro benchmarks: encode and decode of a typical `msg` envelope (a topic, a ~100-byte
// JSON payload, offset and epoch), for each codec.  Each benchmark first checks that its
// codec round-trips the envelope (state.SkipWithError otherwise), as simdjson's
// benchmark/partial_tweets does, so a broken codec cannot post a fast time.
//
//   rtmsg_bench_micro --benchmark_filter=codec
//
// items/s is messages per second, bytes/s counts the encoded message.  The JSON decoder is
// simdjson On-Demand, which is compiled into this binary: without -march (x86-64 baseline)
// it runs simdjson's "fallback" kernel; build with -march=x86-64-v3 or -march=native for
// its SIMD kernels.
#include <rtmsg/codec/binary.hpp>
#include <rtmsg/codec/json.hpp>
#if defined(RTMSG_BENCH_MSGPACK)
#include "codec/msgpack_codec.hpp"
#endif

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace {

using rtmsg::codec::envelope;

constexpr std::string_view payload = // 104 bytes
    R"({"user":"alice","text":"Hello, world! How is everyone doing today?","ts":1700000000123,"tags":["a","b"]})";

envelope typical_message()
{
    envelope e;
    e.op = rtmsg::codec::op::message;
    e.topic = "chat.room-42";
    e.data = payload;
    e.offset = 1234567;
    e.epoch = 1700000000000123;
    return e;
}

bool same(envelope const& a, envelope const& b)
{
    return a.op == b.op && a.topic == b.topic && a.data == b.data && a.kind == b.kind && a.offset == b.offset &&
           a.epoch == b.epoch;
}

// The input as the transport hands it over: `padding` readable bytes after the end.
struct padded_input {
    std::string storage;
    std::string_view view;
    padded_input(std::string const& bytes, std::size_t padding) : storage(bytes)
    {
        storage.append(padding, '\0');
        view = std::string_view(storage.data(), bytes.size());
    }
};

// Returns an error message, or nullptr if `Codec` round-trips the typical message.
template <class Codec>
char const* check(Codec& codec, std::string& bytes)
{
    envelope const in = typical_message();
    bytes.clear();
    if (codec.encode(in, bytes)) return "encode failed";
    padded_input const input(bytes, Codec::padding);
    envelope out;
    if (codec.decode(input.view, out)) return "decode failed";
    if (!same(in, out)) return "decode(encode(message)) differs from the message";
    return nullptr;
}

template <class Codec>
void codec_encode(benchmark::State& state)
{
    Codec codec;
    std::string bytes;
    if (char const* err = check(codec, bytes)) {
        state.SkipWithError(err);
        return;
    }
    envelope const in = typical_message();
    std::string out;
    for (auto _ : state) {
        out.clear(); // keeps the capacity, as a hub's frame buffer would
        std::error_code ec = codec.encode(in, out);
        benchmark::DoNotOptimize(ec);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}

template <class Codec>
void codec_decode(benchmark::State& state)
{
    Codec codec;
    std::string bytes;
    if (char const* err = check(codec, bytes)) {
        state.SkipWithError(err);
        return;
    }
    padded_input const input(bytes, Codec::padding);
    envelope out;
    for (auto _ : state) {
        std::error_code ec = codec.decode(input.view, out);
        benchmark::DoNotOptimize(ec);
        benchmark::DoNotOptimize(out.data.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}

// The JSON codec when its input has no padding: decode_unpadded() copies it first.
void codec_decode_unpadded_json(benchmark::State& state)
{
    rtmsg::codec::json codec;
    std::string bytes;
    if (char const* err = check(codec, bytes)) {
        state.SkipWithError(err);
        return;
    }
    envelope out;
    for (auto _ : state) {
        std::error_code ec = codec.decode_unpadded(bytes, out);
        benchmark::DoNotOptimize(ec);
        benchmark::DoNotOptimize(out.data.data());
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}

// The JSON codec with options::validate_data off: what checking the payload costs.
struct json_unchecked : rtmsg::codec::json {
    json_unchecked() : rtmsg::codec::json(options{false}) {}
};

} // namespace

BENCHMARK_TEMPLATE(codec_encode, rtmsg::codec::json)->Name("codec/json/encode");
BENCHMARK_TEMPLATE(codec_encode, json_unchecked)->Name("codec/json/encode_unchecked");
BENCHMARK_TEMPLATE(codec_decode, rtmsg::codec::json)->Name("codec/json/decode");
BENCHMARK(codec_decode_unpadded_json)->Name("codec/json/decode_unpadded");
BENCHMARK_TEMPLATE(codec_encode, rtmsg::codec::binary)->Name("codec/binary/encode");
BENCHMARK_TEMPLATE(codec_decode, rtmsg::codec::binary)->Name("codec/binary/decode");
#if defined(RTMSG_BENCH_MSGPACK)
BENCHMARK_TEMPLATE(codec_encode, example::msgpack_codec)->Name("codec/msgpack/encode");
BENCHMARK_TEMPLATE(codec_decode, example::msgpack_codec)->Name("codec/msgpack/decode");
#endif
