// Test that the header is self-contained.
#include <rtmsg/websocket/deflate.hpp>
#include <rtmsg/websocket/frame.hpp>

#include "websocket/support.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <random>
#include <string>
#include <string_view>

namespace {

namespace websocket = rtmsg::websocket;
using websocket::error;
using namespace ws_test;

/// Raw DEFLATE of `in` with a sync flush, written with zlib directly (not our deflater), tail kept.
std::string reference_deflate(std::string_view in, int level = 6)
{
    z_stream z{};
    REQUIRE(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
}

std::string chat_json(std::size_t n)
{
    std::string s;
    std::mt19937 rng(7);
    while (s.size() < n)
        s += "{\"type\":\"chat\",\"room\":\"lobby\",\"user\":\"u" + std::to_string(rng() % 100) +
             "\",\"text\":\"hello " + std::to_string(rng()) + "\"}";
    s.resize(n);
    return s;
}

std::string inflate_all(websocket::inflater& in, std::string_view data, std::uint64_t limit, std::error_code& ec,
                        std::size_t piece = 1 << 30)
{
    std::string out;
    ec = {};
    auto sink = [&](std::string_view c) { out.append(c); };
    for (std::size_t i = 0; i < data.size() && !ec; i += piece) ec = in.write(data.substr(i, piece), limit, sink);
    if (!ec) ec = in.finish(limit, sink);
    return out;
}

} // namespace

TEST_CASE("deflate: RFC 7692 §7.2.3.1's \"Hello\" inflates, and compresses to what it shows", "[websocket][deflate]")
{
    websocket::inflater in;
    std::error_code ec;
    std::string_view const hello("\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
    CHECK(inflate_all(in, hello, 1000, ec) == "Hello");
    CHECK(!ec);
    websocket::deflater out;
    std::string c;
    out.compress("Hello", c);
    CHECK(c == hello);
    // §7.2.3.6: an empty message.
    std::string e;
    out.compress("", e);
    CHECK(e == std::string("\x00", 1));
    CHECK(inflate_all(in, e, 10, ec).empty());
    CHECK(!ec);
}

TEST_CASE("deflate: messages round-trip at any size and split, with and without context takeover",
          "[websocket][deflate]")
{
    bool const reset = GENERATE(false, true);
    int const bits = GENERATE(9, 12, 15);
    websocket::deflater d(bits, 8, reset);
    websocket::inflater in(bits, reset);
    for (std::size_t n : {0u, 1u, 125u, 200u, 4096u, 65536u, 300000u}) {
        auto const msg = chat_json(n);
        for (int round = 0; round < 2; ++round) {
            std::string c;
            d.compress(msg, c);
            if (n > 1000) CHECK(c.size() < msg.size() / 2);
            std::error_code ec;
            auto const piece = GENERATE(1u, 7u, 4096u, 1u << 30);
            CAPTURE(n, round, piece, reset, bits);
            // (GENERATE reruns the whole test case per piece size, so with context takeover
            // the inflater still sees every message, in order.)
            CHECK(inflate_all(in, c, 16u << 20, ec, piece) == msg);
            CHECK(!ec);
        }
    }
}

TEST_CASE("deflate: context takeover makes the repeat of a message smaller", "[websocket][deflate]")
{
    auto const msg = chat_json(600);
    websocket::deflater keep(15, 8, false), alone(15, 8, true);
    std::string a1, a2, b1, b2;
    keep.compress(msg, a1);
    keep.compress(msg, a2);
    alone.compress(msg, b1);
    alone.compress(msg, b2);
    CHECK(a2.size() < a1.size() / 4);
    CHECK(b2 == b1);
}

TEST_CASE("deflate: a compression bomb fails at the limit without storing its inflated size", "[websocket][deflate]")
{
    std::string const zeros(64u << 20, '\0');
    auto const bomb = reference_deflate(zeros, 9); // 64 MiB in about 64 KiB
    REQUIRE(bomb.size() < (128u << 10));
    websocket::inflater in;
    std::size_t seen = 0, largest = 0;
    auto sink = [&](std::string_view c) {
        seen += c.size();
        largest = std::max(largest, c.size());
    };
    auto const ec = in.write(bomb, 1u << 20, sink);
    CHECK(ec == error::message_too_big);
    CHECK(seen <= (1u << 20));
    CHECK(largest <= websocket::inflater::step);
}

TEST_CASE("deflate: invalid or truncated data fails with bad_deflate", "[websocket][deflate]")
{
    std::error_code ec;
    websocket::inflater a;
    inflate_all(a, "\xff\xff\xff\xff", 1000, ec); // block type 3 is reserved
    CHECK(ec == error::bad_deflate);
    CHECK(websocket::close_code_for(error::bad_deflate) == 1007);
    // A final block followed by more data.
    z_stream z{};
    REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string fin(64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>("abc"));
    z.avail_in = 3;
    z.next_out = reinterpret_cast<Bytef*>(fin.data());
    z.avail_out = 64;
    REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
    fin.resize(64 - z.avail_out);
    deflateEnd(&z);
    websocket::inflater b;
    CHECK(inflate_all(b, fin, 1000, ec) == "abc");
    CHECK(!ec); // BFINAL is allowed (RFC 7692 §7.2.3.4 shows one): no tail is inflated after it
    CHECK(inflate_all(b, fin + "x", 1000, ec) == "abc");
    CHECK(ec == error::bad_deflate);
    // Truncated: a message cut short is still a prefix, never a crash; the next one may fail.
    websocket::inflater t;
    auto const big = reference_deflate(chat_json(5000));
    inflate_all(t, big.substr(0, big.size() / 2), 1 << 20, ec);
    CHECK(true);
}

TEST_CASE("deflate: the reader accepts RSV1 only where permessage-deflate allows it", "[websocket][deflate]")
{
    auto rsv1 = [](frame_options o = {}) {
        o.rsv1 = true;
        return o;
    };
    auto feed = [](websocket::message_reader& r, std::string in, std::string* payload = nullptr) {
        std::string got;
        auto res = r.read(in.data(), in.size(), [&](std::string_view c) { got.append(c); });
        if (payload) *payload = got;
        return res;
    };
    websocket::message_reader plain;
    CHECK(feed(plain, make_frame(op_text, "a", rsv1())).ec == error::bad_reserved_bits);

    websocket::message_reader r;
    r.set_compression(true);
    std::string got;
    // A compressed text message whose bytes are not UTF-8: the reader leaves that to the inflater.
    std::string const hello("\xf2\x48\xcd\xc9\xc9\x07\x00", 7);
    auto res = feed(r, make_frame(op_text, hello, rsv1()), &got);
    CHECK(!res.ec);
    CHECK(res.event == websocket::read_event::message);
    CHECK(r.compressed());
    CHECK(got == hello);
    // Fragmented: RSV1 on the first frame only.
    frame_options first;
    first.fin = false;
    res = feed(r, make_frame(op_binary, "ab", rsv1(first)) + make_frame(op_cont, "cd"), &got);
    CHECK(!res.ec);
    CHECK(r.compressed());
    res = feed(r, make_frame(op_text, "ok"));
    CHECK(!res.ec);
    CHECK(!r.compressed());
    for (auto bad : {make_frame(op_binary, "ab", first) + make_frame(op_cont, "cd", rsv1()),
                     make_frame(op_ping, "", rsv1()), make_frame(op_close, "", rsv1()), make_frame(op_text, "a", [] {
                         frame_options o;
                         o.rsv2 = true;
                         return o;
                     }())}) {
        websocket::message_reader x;
        x.set_compression(true);
        CHECK(feed(x, bad).ec == error::bad_reserved_bits);
    }
}
