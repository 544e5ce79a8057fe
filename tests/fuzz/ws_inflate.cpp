// Fuzzes the permessage-deflate inflate path (websocket::inflater, RFC 7692 §7.2.2): arbitrary
// "compressed" messages, fed in pieces, several per stream (context takeover) or reset between
// them.  Checks that the inflated size never passes the limit by more than one step, that no
// single output chunk exceeds the step, that chunking never changes the result, and that a
// message our deflater made always inflates back to its input.
#include <rtmsg/websocket/deflate.hpp>

#include <string>

#include "common.hpp"

namespace {

using namespace rtmsg::websocket;

struct outcome {
    std::string out;
    std::error_code ec;
};

outcome run(std::string_view msg, std::size_t piece, std::uint64_t limit, inflater& in)
{
    outcome o;
    auto sink = [&](std::string_view c) {
        RTMSG_FUZZ_CHECK(c.size() <= inflater::step);
        o.out.append(c);
    };
    for (std::size_t i = 0; i < msg.size() && !o.ec; i += piece) o.ec = in.write(msg.substr(i, piece), limit, sink);
    if (!o.ec) o.ec = in.finish(limit, sink);
    RTMSG_FUZZ_CHECK(o.out.size() <= limit);
    RTMSG_FUZZ_CHECK(!o.ec || o.ec == error::message_too_big || o.ec == error::bad_deflate);
    return o;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    rtmsg_fuzz::input in(data, size);
    auto const flags = in.byte();
    int const bits = 8 + (flags & 7);
    bool const reset = flags & 8;
    std::size_t const piece = 1 + in.byte();
    std::uint64_t const limit = 1 + (std::uint64_t(in.u16()) << 6); // up to 4 MiB
    inflater whole(bits, reset), split(bits, reset);
    // Messages separated by a length byte; the same stream fed whole and in pieces.
    while (!in.empty()) {
        auto const msg = in.take(in.byte() * 4u + 1);
        auto const a = run(msg, msg.size() + 1, limit, whole);
        auto const b = run(msg, piece, limit, split);
        // Where an error shows may move with the split (a limit passed before bad data is
        // reached), never whether there is one, with one exception that zlib makes: it checks a
        // back-reference against the window *plus what the same inflate call produced*, so with
        // a window under 32 KiB a reference too far back is caught or not depending on where the
        // input pieces and the 16 KiB output steps fall (the bytes are then what the peer meant).
        bool const zlib_lenient = bits < 15 && (a.ec == error::bad_deflate || b.ec == error::bad_deflate);
        if (!zlib_lenient) RTMSG_FUZZ_CHECK(bool(a.ec) == bool(b.ec));
        if (!a.ec && !b.ec) RTMSG_FUZZ_CHECK(a.out == b.out);
        if (a.ec || b.ec) break; // the connection would be closed
    }
    // Round trip: our deflater's output always inflates back.
    rtmsg_fuzz::input again(data, size);
    auto const text = again.take(size);
    deflater d(bits < 9 ? 9 : bits, 8, reset);
    inflater back(bits < 9 ? 9 : bits, reset);
    for (int i = 0; i < 2; ++i) {
        std::string z;
        d.compress(text, z);
        auto const r = run(z, piece, text.size() + 1, back);
        RTMSG_FUZZ_CHECK(!r.ec);
        RTMSG_FUZZ_CHECK(r.out == text);
    }
    return 0;
}
