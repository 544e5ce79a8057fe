// Fuzzes http::request_parser: arbitrary bytes, fed whole and in fuzzer-chosen
// pieces, with pipelining.  Checks that chunking never changes the outcome,
// that `feed` never claims more than it was given, and that the limits hold.
#include <rtmsg/http/parser.hpp>

#include <string>
#include <vector>

#include "common.hpp"

namespace {

struct outcome {
    std::vector<std::string> requests; // method target version headers body, one string each
    std::error_code ec;
    bool operator==(outcome const&) const = default;
};

std::string summary(rtmsg::http::request const& r)
{
    std::string s = r.method + ' ' + r.target + ' ' + std::to_string(r.version) + '\n';
    for (auto const& f : r.headers) s += f.name + ':' + f.value + '\n';
    s += '\n';
    s += r.body;
    return s;
}

outcome run(std::string_view in, std::size_t piece, rtmsg::http::request_parser::limits lim)
{
    outcome out;
    rtmsg::http::request_parser p(lim);
    std::string pending; // bytes handed to the parser but not consumed (pipelined)
    std::size_t pos = 0;
    while (pos < in.size() || !pending.empty()) {
        if (pending.empty() || (!p.done() && pos < in.size())) {
            auto const n = std::min(piece, in.size() - pos);
            pending.append(in.substr(pos, n));
            pos += n;
        }
        std::error_code ec;
        auto const used = p.feed(pending, ec);
        RTMSG_FUZZ_CHECK(used <= pending.size());
        pending.erase(0, used);
        if (ec) {
            out.ec = ec;
            // Once failed, the parser stays failed.
            std::error_code again;
            RTMSG_FUZZ_CHECK(p.feed("GET / HTTP/1.1\r\n", again) == 0 && again == ec);
            return out;
        }
        if (p.done()) {
            auto const& r = p.get();
            RTMSG_FUZZ_CHECK(r.body.size() <= lim.body_bytes);
            RTMSG_FUZZ_CHECK(r.target.size() <= lim.header_bytes);
            out.requests.push_back(summary(r));
            p.reset();
            if (out.requests.size() > 64) return out;
            continue;
        }
        // Not done, no error: everything was consumed.
        RTMSG_FUZZ_CHECK(pending.empty());
        if (pos == in.size()) break;
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    rtmsg_fuzz::input in(data, size);
    std::size_t const piece = 1 + in.byte() % 17;
    rtmsg::http::request_parser::limits lim;
    // Small limits, so that the fuzzer reaches them.
    lim.header_bytes = 64 + in.byte() * 4u;
    lim.body_bytes = in.byte() * 8u;
    auto const bytes = in.rest();
    auto const whole = run(bytes, bytes.size() + 1, lim);
    auto const split = run(bytes, piece, lim);
    RTMSG_FUZZ_CHECK(whole == split);
    auto const bytewise = run(bytes, 1, lim);
    RTMSG_FUZZ_CHECK(whole == bytewise);
    return 0;
}
