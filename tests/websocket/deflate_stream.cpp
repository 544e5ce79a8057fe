// permessage-deflate on the wire of a websocket::stream (server role), driven with raw bytes:
// the handshake's answer, RSV1 on what we send, fragmented compressed messages in any split,
// uncompressed messages on a compressing connection, bombs (1009), bad data (1007), UTF-8.
#include <rtmsg/websocket/deflate.hpp>
#include <rtmsg/websocket/stream.hpp>
#include <rtmsg/test/stream.hpp>

#include "websocket/support.hpp"

#include <catch2/catch.hpp>

#include <zlib.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace {

namespace websocket = rtmsg::websocket;
using websocket::error;
using websocket::message_type;
using namespace ws_test;

struct completion {
    bool done = false;
    std::error_code ec;
    std::size_t n = 0;
};

/// Raw DEFLATE with a sync flush and the tail removed, as a peer sends it (zlib directly).
std::string peer_compress(std::string_view in)
{
    z_stream z{};
    REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z, Z_SYNC_FLUSH) == Z_OK);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    REQUIRE(out.size() >= 4);
    REQUIRE(out.substr(out.size() - 4) == std::string("\x00\x00\xff\xff", 4));
    out.resize(out.size() - 4);
    return out;
}

std::string peer_inflate(std::string in)
{
    in.append("\x00\x00\xff\xff", 4);
    z_stream z{};
    REQUIRE(inflateInit2(&z, -15) == Z_OK);
    std::string out(1 << 22, '\0');
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    auto const rc = inflate(&z, Z_SYNC_FLUSH);
    CHECK((rc == Z_OK || rc == Z_BUF_ERROR));
    out.resize(out.size() - z.avail_out);
    inflateEnd(&z);
    return out;
}

struct peer {
    explicit peer(std::string const& offer = "permessage-deflate; client_max_window_bits", std::size_t max = 1 << 20,
                  std::chrono::milliseconds ping = {})
    {
        websocket::options o;
        o.ping_interval = ping;
        o.idle_timeout = {};
        o.max_message_size = max;
        o.deflate.enable = true;
        o.deflate.threshold = 100;
        ws.set_options(o);
        auto req = upgrade_request();
        if (!offer.empty()) req.headers.add("Sec-WebSocket-Extensions", offer);
        completion c;
        ws.async_accept(req, {}, [&](std::error_code ec) { c = {true, ec, 0}; });
        run_ready(ioc);
        REQUIRE(c.done);
        REQUIRE_FALSE(c.ec);
        std::string in = client.take_input();
        auto res = take_response(in);
        REQUIRE(res);
        REQUIRE(res->status == 101);
        extensions = res->field("Sec-WebSocket-Extensions").value_or("");
    }
    asio::io_context ioc;
    std::pair<rtmsg::test::stream, rtmsg::test::stream> ends{rtmsg::test::make_pair(ioc.get_executor())};
    rtmsg::test::stream& client = ends.first;
    websocket::stream<rtmsg::test::stream> ws{std::move(ends.second)};
    std::string extensions;
    std::string buf;
    asio::dynamic_string_buffer<char, std::char_traits<char>, std::allocator<char>> dyn = asio::dynamic_buffer(buf);

    completion read()
    {
        completion r;
        buf.clear();
        ws.async_read(dyn, [&](std::error_code ec, std::size_t n) { r = {true, ec, n}; });
        REQUIRE(run_until_idle(ioc));
        REQUIRE(r.done);
        return r;
    }
    std::vector<parsed_frame> frames()
    {
        auto p = parse_frames(client.take_input());
        CHECK(p.rest.empty());
        return std::move(p.frames);
    }
};

frame_options first_frame(bool rsv1, bool fin)
{
    frame_options o;
    o.rsv1 = rsv1;
    o.fin = fin;
    return o;
}

} // namespace

TEST_CASE("deflate stream: compressed messages in, compressed replies out, RSV1 on the first frame only",
          "[websocket][deflate]")
{
    peer p;
    CHECK(p.extensions == "permessage-deflate");
    auto const msg = random_text(5000, 3) + std::string(3000, 'a');
    auto const z = peer_compress(msg);
    auto const read_size = GENERATE(as<std::size_t>{}, 1, 7, 65536);
    auto const pieces = GENERATE(as<std::size_t>{}, 1, 2, 5, 64);
    CAPTURE(read_size, pieces);
    p.ws.next_layer().read_size(read_size);
    // Fragmented: RSV1 on the first frame, continuations without it; a ping in between.
    std::string wire;
    auto const step = (z.size() + pieces - 1) / pieces;
    for (std::size_t i = 0, k = 0; i < z.size() || k == 0; i += step, ++k) {
        bool const last = i + step >= z.size();
        wire += make_frame(k == 0 ? op_text : op_cont, z.substr(i, step), first_frame(k == 0, last));
        if (k == 0) wire += client_frame(op_ping, "p");
        if (last) break;
    }
    p.ws.next_layer().append(wire);
    auto const r = p.read();
    REQUIRE_FALSE(r.ec);
    CHECK(p.buf == msg);
    CHECK(p.ws.got_type() == message_type::text);
    // A short message arrives uncompressed: allowed on a compressing connection.
    p.ws.next_layer().append(client_frame(op_text, "short"));
    REQUIRE_FALSE(p.read().ec);
    CHECK(p.buf == "short");
    // Our replies: under the threshold as is, over it compressed.
    p.ws.send(message_type::text, "tiny");
    p.ws.send(message_type::binary, msg);
    REQUIRE(run_until_idle(p.ioc));
    auto const f = p.frames();
    REQUIRE(f.size() == 3);
    CHECK(f[0].opcode == op_pong);
    CHECK(f[0].rsv == 0);
    CHECK(f[1].rsv == 0);
    CHECK(f[1].payload == "tiny");
    CHECK(f[2].rsv == 4);
    CHECK(f[2].opcode == op_binary);
    CHECK(f[2].payload.size() < msg.size());
    CHECK(peer_inflate(f[2].payload) == msg);
}

TEST_CASE("deflate stream: no offer or no zlib agreement leaves RSV1 a protocol error", "[websocket][deflate]")
{
    peer p("x-webkit-deflate-frame");
    CHECK(p.extensions.empty());
    p.ws.next_layer().append(make_frame(op_text, peer_compress("hello"), first_frame(true, true)));
    auto const r = p.read();
    CHECK(r.ec == error::bad_reserved_bits);
    auto const f = p.frames();
    REQUIRE(f.size() == 1);
    CHECK(f[0].close_code() == 1002);
}

TEST_CASE("deflate stream: a bomb closes 1009, bad data 1007, bad UTF-8 after inflating 1007", "[websocket][deflate]")
{
    struct bad_case {
        char const* name;
        std::string payload;
        std::uint8_t op;
        std::uint16_t code;
        error expected;
    };
    std::vector<bad_case> const cases{
        {"bomb", peer_compress(std::string(64u << 20, 'z')), op_binary, 1009, error::message_too_big},
        {"invalid deflate", std::string("\xff\xff\xff\xff", 4), op_binary, 1007, error::bad_deflate},
        {"text not UTF-8 once inflated", peer_compress(std::string(500, 'a') + "\xc3("), op_text, 1007,
         error::bad_utf8},
        {"a final block then garbage", std::string("\x03\x00", 2) + "zz", op_binary, 1007, error::bad_deflate},
    };
    for (auto const& c : cases) {
        CAPTURE(c.name);
        peer p;
        p.ws.next_layer().read_size(4096);
        p.ws.next_layer().append(make_frame(c.op, c.payload, first_frame(true, true)));
        auto const r = p.read();
        CHECK(r.ec == c.expected);
        CHECK(p.buf.size() <= (1u << 20) + websocket::inflater::step);
        auto const f = p.frames();
        REQUIRE(!f.empty());
        CHECK(f.back().opcode == op_close);
        CHECK(f.back().close_code() == c.code);
    }
}

TEST_CASE("deflate stream: a quiet connection without context takeover gives its zlib state back",
          "[websocket][deflate]")
{
    auto const both = GENERATE(false, true);
    peer p(both ? "permessage-deflate; server_no_context_takeover; client_no_context_takeover" : "permessage-deflate",
           1 << 20, std::chrono::milliseconds(400)); // ticks far apart: a slow (TSan) run stays busy until measured
    auto const z = peer_compress(std::string(1000, 'q'));
    p.ws.next_layer().append(make_frame(op_text, z, first_frame(true, true)));
    completion r;
    p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t n) { r = {true, ec, n}; });
    p.ioc.restart();
    p.ioc.run_for(std::chrono::milliseconds(50));
    REQUIRE(r.done);
    REQUIRE_FALSE(r.ec);
    p.ws.send(message_type::text, std::string(1000, 'r'));
    p.ioc.restart();
    p.ioc.run_for(std::chrono::milliseconds(20));
    auto const busy = p.ws.spare_storage();
    CHECK(busy > 100000); // an inflate window and a deflate state
    p.ioc.restart();
    p.ioc.run_for(std::chrono::milliseconds(2500)); // quiet ticks
    if (both)
        CHECK(p.ws.spare_storage() < 1000);
    else
        CHECK(p.ws.spare_storage() > 100000); // context takeover: the windows must stay
}

TEST_CASE("deflate stream: read_buffered with a message_view_buffer copies inflated messages (the inflater's output "
          "does not last)",
          "[websocket][deflate]")
{
    // Compressed messages are inflated into a buffer that the next chunk overwrites (and
    // that goes when inflating returns): a message_view_buffer must own them, small or large,
    // and may still point at an uncompressed message's input.
    peer p;
    REQUIRE(p.extensions == "permessage-deflate");
    auto const large = random_text(40'000, 7);
    auto const small = std::string("a small message, compressed all the same ") + std::string(100, 's');
    p.ws.next_layer().append(
        client_frame(op_text, "first") + make_frame(op_text, peer_compress(large), first_frame(true, true)) +
        make_frame(op_text, peer_compress(small), first_frame(true, true)) + client_frame(op_binary, "plain"));
    std::vector<std::string> got;
    // As the server's read loop: async_read (which takes up a message read_buffered left
    // unfinished in p.buf), then what is buffered.
    std::function<void()> next = [&] {
        p.ws.async_read(p.dyn, [&](std::error_code ec, std::size_t) {
            REQUIRE_FALSE(ec);
            got.push_back(std::exchange(p.buf, {}));
            rtmsg::detail::message_view_buffer dyn(p.buf);
            p.ws.read_buffered(dyn, [&](std::size_t bytes) {
                CHECK(bytes == dyn.message().size());
                got.emplace_back(dyn.message());
                dyn.clear();
                return true;
            });
            if (got.size() < 4) next();
        });
    };
    next();
    REQUIRE(run_until_idle(p.ioc));
    REQUIRE(got.size() == 4);
    CHECK(got[0] == "first");
    CHECK(got[1] == large);
    CHECK(got[2] == small);
    CHECK(got[3] == "plain");
}
