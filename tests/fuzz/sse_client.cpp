// Fuzzes the SSE client's sans-I/O parts: the WHATWG event-stream parser and
// the chunked decoder (neither pulls in Asio), fed whole and in fuzzer-chosen pieces (the outcome must
// not depend on the chunking), plus a round trip: the server's encoder
// (sse::format_event) then the parser must give back the event.
#include <rtmsg/http/chunked.hpp>
#include <rtmsg/sse/event.hpp>

#include <array>
#include <string>
#include <vector>

#include "common.hpp"

namespace {

using rtmsg::sse::received_event;

struct parsed {
    std::vector<std::array<std::string, 3>> events; // type, data, id
    std::error_code ec;
    bool operator==(parsed const&) const = default;
};

parsed parse(std::string_view in, std::size_t piece, std::size_t max)
{
    parsed out;
    rtmsg::sse::parser p(max);
    for (std::size_t i = 0; i < in.size() && !out.ec; i += piece)
        out.ec = p.feed(in.substr(i, piece), [&](received_event&& e) {
            RTMSG_FUZZ_CHECK(e.data.size() <= max);
            out.events.push_back({std::move(e.type), std::move(e.data), std::move(e.id)});
        });
    return out;
}

std::pair<bool, std::string> dechunk(std::string_view in, std::size_t piece)
{
    rtmsg::http::chunked_decoder d;
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += piece)
        if (!d.feed(in.substr(i, piece), out)) return {false, {}};
    return {true, out};
}

// What the parser should return for data sent by format_event: line endings
// become LF.
std::string normalized(std::string_view data)
{
    std::string out;
    for (std::size_t i = 0; i < data.size(); ++i) {
        if (data[i] == '\r') {
            out += '\n';
            if (i + 1 < data.size() && data[i + 1] == '\n') ++i;
        }
        else
            out += data[i];
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    rtmsg_fuzz::input in(data, size);
    auto const mode = in.byte();
    std::size_t const piece = 1 + in.byte() % 19;
    if (mode & 1) {
        // Round trip: three fields from the input, separated by 0xFF bytes.
        auto const rest = in.rest();
        auto const a = rest.find('\xFF');
        auto const b = a == std::string_view::npos ? a : rest.find('\xFF', a + 1);
        std::string_view const d = rest.substr(0, a);
        std::string_view const id = a == std::string_view::npos ? std::string_view{} : rest.substr(a + 1, b - a - 1);
        std::string_view const type = b == std::string_view::npos ? std::string_view{} : rest.substr(b + 1);
        std::string wire;
        rtmsg::sse::format_event(wire, {d, id, type, 0});
        auto const got = parse(wire, piece, 1u << 20);
        RTMSG_FUZZ_CHECK(!got.ec);
        RTMSG_FUZZ_CHECK(got.events.size() == 1);
        RTMSG_FUZZ_CHECK(got.events.front()[1] == normalized(d));
        return 0;
    }
    std::size_t const max = 1 + in.byte() * 16u;
    auto const bytes = in.rest();
    RTMSG_FUZZ_CHECK(parse(bytes, bytes.size() + 1, max) == parse(bytes, piece, max));
    RTMSG_FUZZ_CHECK(dechunk(bytes, bytes.size() + 1) == dechunk(bytes, piece));
    return 0;
}
