// Fuzzes websocket::message_reader (frames -> messages, UTF-8 checks, close
// payloads), in both roles, fed whole and in pieces.  Checks that chunking
// never changes the events, that completed text messages are valid UTF-8
// (cross-checked with an independent validator), and that message sizes respect
// the limit.
#include <rtmsg/detail/utf8.hpp>
#include <rtmsg/websocket/frame.hpp>

#include <string>
#include <vector>

#include "common.hpp"

namespace {

using namespace rtmsg::websocket;
using rtmsg::role_type;

// A plain, byte-at-a-time UTF-8 check written from RFC 3629's table,
// independent of utf8.hpp.
bool reference_utf8(std::string_view s)
{
    std::size_t i = 0;
    auto const at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    while (i < s.size()) {
        unsigned char const c = at(i);
        std::size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            ++i;
            continue;
        }
        else if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if (c == 0xE0) {
            n = 2;
            lo = 0xA0;
        }
        else if (c >= 0xE1 && c <= 0xEC)
            n = 2;
        else if (c == 0xED) {
            n = 2;
            hi = 0x9F;
        }
        else if (c >= 0xEE && c <= 0xEF)
            n = 2;
        else if (c == 0xF0) {
            n = 3;
            lo = 0x90;
        }
        else if (c >= 0xF1 && c <= 0xF3)
            n = 3;
        else if (c == 0xF4) {
            n = 3;
            hi = 0x8F;
        }
        else
            return false;
        if (s.size() - i <= n) return false; // truncated
        if (at(i + 1) < lo || at(i + 1) > hi) return false;
        for (std::size_t k = 2; k <= n; ++k)
            if (at(i + k) < 0x80 || at(i + k) > 0xBF) return false;
        i += n + 1;
    }
    return true;
}

struct event {
    read_event ev;
    std::error_code ec;
    std::string payload;
    int type = 0;
    std::uint16_t code = 0;
    bool operator==(event const&) const = default;
};

std::vector<event> run(std::string input, std::size_t piece, role_type role, std::uint64_t max)
{
    std::vector<event> out;
    message_reader r(role, max);
    std::string msg;
    std::size_t pos = 0;
    while (pos < input.size()) {
        auto const n = std::min(piece, input.size() - pos);
        std::size_t off = 0;
        while (off < n) {
            auto const res = r.read(input.data() + pos + off, n - off, [&](std::string_view p) { msg.append(p); });
            RTMSG_FUZZ_CHECK(res.consumed <= n - off);
            off += res.consumed;
            RTMSG_FUZZ_CHECK(msg.size() <= max);
            if (res.ec) {
                out.push_back({res.event, res.ec, {}, 0, 0});
                return out;
            }
            if (res.event == read_event::need_more) {
                RTMSG_FUZZ_CHECK(off == n);
                break;
            }
            event e{res.event, {}, {}, 0, 0};
            switch (res.event) {
            case read_event::message:
                RTMSG_FUZZ_CHECK(r.message_size() == msg.size());
                if (r.type() == message_type::text) {
                    RTMSG_FUZZ_CHECK(rtmsg::detail::utf8_validator::validate(msg));
                    RTMSG_FUZZ_CHECK(reference_utf8(msg));
                }
                e.type = static_cast<int>(r.type());
                e.payload = std::move(msg);
                msg.clear();
                break;
            case read_event::ping:
            case read_event::pong:
                RTMSG_FUZZ_CHECK(r.control_payload().size() <= 125);
                e.payload = std::string(r.control_payload());
                break;
            case read_event::close:
                e.code = r.close_code();
                RTMSG_FUZZ_CHECK(reference_utf8(r.close_reason()));
                RTMSG_FUZZ_CHECK(r.close_code() == close_code::no_status || is_valid_close_code(r.close_code()));
                e.payload = std::string(r.close_reason());
                break;
            case read_event::need_more: break;
            }
            out.push_back(std::move(e));
            if (out.back().ev == read_event::close) return out;
        }
        pos += n;
    }
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    rtmsg_fuzz::input in(data, size);
    auto const flags = in.byte();
    auto const role = flags & 1 ? role_type::client : role_type::server;
    std::size_t const piece = 1 + in.byte() % 23;
    std::uint64_t const max = 1 + in.u16();
    std::string const bytes(in.rest());
    auto const whole = run(bytes, bytes.size() + 1, role, max);
    auto const split = run(bytes, piece, role, max);
    RTMSG_FUZZ_CHECK(whole == split);
    if (flags & 2) RTMSG_FUZZ_CHECK(run(bytes, 1, role, max) == whole);
    // The validator agrees with the reference on the raw input too, whole and
    // streamed.
    RTMSG_FUZZ_CHECK(rtmsg::detail::utf8_validator::validate(bytes) == reference_utf8(bytes));
    rtmsg::detail::utf8_validator v;
    bool ok = true;
    for (std::size_t i = 0; i < bytes.size() && ok; i += piece) ok = v.write(std::string_view(bytes).substr(i, piece));
    RTMSG_FUZZ_CHECK((ok && v.complete()) == reference_utf8(bytes));
    return 0;
}
