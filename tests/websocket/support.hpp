#pragma once
// Byte builders and parsers for the WebSocket tests.  They are written from RFC 6455 alone
// and never call the code under test, so that a bug in the library cannot hide itself by
// being on both sides of an assertion.
#include <rtmsg/http/request.hpp>

#include <asio/io_context.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ws_test {

// ---- frames a client (or a misbehaving peer) sends ---------------------------------------

/// How to spell a frame header.  The defaults give a masked, final, minimally encoded frame.
struct frame_options {
    bool fin = true;
    bool rsv1 = false;
    bool rsv2 = false;
    bool rsv3 = false;
    bool masked = true;
    std::array<std::uint8_t, 4> key{0x37, 0xFA, 0x21, 0x3D}; // RFC 6455 §5.7's key
    enum class length_form { minimal, len16, len64 } form = length_form::minimal;
    /// Writes this in the length field instead of the payload size (the payload is still
    /// appended as given); lets a test declare lengths it does not want to send.
    std::optional<std::uint64_t> declared_length;
};

/// Any frame: `opcode` is the raw 4-bit value, so reserved opcodes can be written.
inline std::string make_frame(std::uint8_t opcode, std::string_view payload, frame_options const& o = {})
{
    std::string out;
    out += static_cast<char>((o.fin ? 0x80 : 0) | (o.rsv1 ? 0x40 : 0) | (o.rsv2 ? 0x20 : 0) | (o.rsv3 ? 0x10 : 0) |
                             (opcode & 0x0F));
    std::uint64_t const len = o.declared_length.value_or(payload.size());
    auto form = o.form;
    if (form == frame_options::length_form::minimal)
        form = len < 126     ? frame_options::length_form::minimal
               : len < 65536 ? frame_options::length_form::len16
                             : frame_options::length_form::len64;
    char const mask_bit = o.masked ? char(0x80) : char(0);
    switch (form) {
    case frame_options::length_form::minimal: out += static_cast<char>(mask_bit | static_cast<char>(len)); break;
    case frame_options::length_form::len16:
        out += static_cast<char>(mask_bit | 126);
        out += static_cast<char>((len >> 8) & 0xFF);
        out += static_cast<char>(len & 0xFF);
        break;
    case frame_options::length_form::len64:
        out += static_cast<char>(mask_bit | 127);
        for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((len >> shift) & 0xFF);
        break;
    }
    if (o.masked) {
        for (auto b : o.key) out += static_cast<char>(b);
        for (std::size_t i = 0; i < payload.size(); ++i)
            out += static_cast<char>(static_cast<std::uint8_t>(payload[i]) ^ o.key[i % 4]);
    }
    else
        out.append(payload);
    return out;
}

// Opcodes as raw numbers, so that tables of frames read naturally.
inline constexpr std::uint8_t op_cont = 0x0;
inline constexpr std::uint8_t op_text = 0x1;
inline constexpr std::uint8_t op_binary = 0x2;
inline constexpr std::uint8_t op_close = 0x8;
inline constexpr std::uint8_t op_ping = 0x9;
inline constexpr std::uint8_t op_pong = 0xA;

/// A masked frame, as a client sends it.
inline std::string client_frame(std::uint8_t opcode, std::string_view payload, bool fin = true)
{
    frame_options o;
    o.fin = fin;
    return make_frame(opcode, payload, o);
}

/// An unmasked frame, as a server sends it.
inline std::string server_frame(std::uint8_t opcode, std::string_view payload, bool fin = true)
{
    frame_options o;
    o.fin = fin;
    o.masked = false;
    return make_frame(opcode, payload, o);
}

/// A close payload: two bytes of code (network order), then the reason.
inline std::string close_payload(std::uint16_t code, std::string_view reason = {})
{
    std::string s;
    s += static_cast<char>(code >> 8);
    s += static_cast<char>(code & 0xFF);
    s.append(reason);
    return s;
}

// ---- frames read back from the stream under test -------------------------------------------

struct parsed_frame {
    bool fin = false;
    std::uint8_t rsv = 0; ///< the three RSV bits, RSV1 highest
    std::uint8_t opcode = 0;
    bool masked = false;
    std::uint64_t header_size = 0;
    std::string payload; ///< unmasked

    /// The code of a close frame; 0 if the payload is shorter than two bytes.
    std::uint16_t close_code() const
    {
        if (payload.size() < 2) return 0;
        return static_cast<std::uint16_t>(static_cast<std::uint8_t>(payload[0]) << 8 |
                                          static_cast<std::uint8_t>(payload[1]));
    }
    std::string_view close_reason() const
    {
        return payload.size() > 2 ? std::string_view(payload).substr(2) : std::string_view{};
    }
};

struct parsed_frames {
    std::vector<parsed_frame> frames;
    std::string rest; ///< trailing bytes that do not form a complete frame
};

/// Splits `bytes` into frames (any role; masked payloads are unmasked).
inline parsed_frames parse_frames(std::string_view bytes)
{
    parsed_frames out;
    std::size_t pos = 0;
    auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); };
    while (pos < bytes.size()) {
        std::size_t at = pos;
        if (bytes.size() - at < 2) break;
        parsed_frame f;
        f.fin = byte(at) & 0x80;
        f.rsv = (byte(at) >> 4) & 0x7;
        f.opcode = byte(at) & 0x0F;
        f.masked = byte(at + 1) & 0x80;
        std::uint64_t len = byte(at + 1) & 0x7F;
        at += 2;
        std::size_t const ext = len == 126 ? 2 : len == 127 ? 8 : 0;
        if (bytes.size() - at < ext) break;
        if (ext != 0) {
            len = 0;
            for (std::size_t i = 0; i < ext; ++i) len = len << 8 | byte(at + i);
            at += ext;
        }
        std::array<std::uint8_t, 4> key{};
        if (f.masked) {
            if (bytes.size() - at < 4) break;
            for (std::size_t i = 0; i < 4; ++i) key[i] = byte(at + i);
            at += 4;
        }
        if (bytes.size() - at < len) break;
        f.header_size = at - pos;
        f.payload.assign(bytes.substr(at, static_cast<std::size_t>(len)));
        if (f.masked)
            for (std::size_t i = 0; i < f.payload.size(); ++i)
                f.payload[i] = static_cast<char>(static_cast<std::uint8_t>(f.payload[i]) ^ key[i % 4]);
        at += static_cast<std::size_t>(len);
        out.frames.push_back(std::move(f));
        pos = at;
    }
    out.rest.assign(bytes.substr(pos));
    return out;
}

// ---- HTTP ------------------------------------------------------------------------------------

/// The RFC 6455 §1.3 example key and the accept value it must produce.
inline constexpr std::string_view rfc_key = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view rfc_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request, as the HTTP layer would hand it over.
inline rtmsg::http::request upgrade_request(std::string_view key = rfc_key)
{
    rtmsg::http::request req;
    req.method = "GET";
    req.target = "/chat";
    req.version = 11;
    req.headers.add("Host", "server.example.com");
    req.headers.add("Upgrade", "websocket");
    req.headers.add("Connection", "Upgrade");
    req.headers.add("Sec-WebSocket-Key", std::string(key));
    req.headers.add("Sec-WebSocket-Version", "13");
    return req;
}

/// A response head (and body) read back from the stream.
struct http_response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> fields;
    std::string body;

    /// The value of the first field called `name` (case-insensitive).
    std::optional<std::string> field(std::string_view name) const
    {
        auto lower = [](std::string_view s) {
            std::string r(s);
            for (auto& c : r)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            return r;
        };
        for (auto const& [n, v] : fields)
            if (lower(n) == lower(name)) return v;
        return std::nullopt;
    }
};

/// Removes one HTTP response (head, then a Content-Length body) from the front of `bytes`.
/// Returns nullopt, leaving `bytes` alone, if it does not start with a complete response.
inline std::optional<http_response> take_response(std::string& bytes)
{
    auto const end = bytes.find("\r\n\r\n");
    if (end == std::string::npos) return std::nullopt;
    std::string_view head(bytes.data(), end);
    http_response res;
    auto line_end = head.find("\r\n");
    auto const status_line = head.substr(0, line_end);
    if (status_line.substr(0, 9) != "HTTP/1.1 " || status_line.size() < 12) return std::nullopt;
    res.status = std::stoi(std::string(status_line.substr(9, 3)));
    while (line_end != std::string_view::npos) {
        head.remove_prefix(line_end + 2);
        line_end = head.find("\r\n");
        auto const line = head.substr(0, line_end);
        auto const colon = line.find(':');
        if (colon == std::string_view::npos) return std::nullopt;
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        res.fields.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    std::size_t body = 0;
    if (auto cl = res.field("Content-Length")) body = std::stoul(*cl);
    if (bytes.size() < end + 4 + body) return std::nullopt;
    res.body = bytes.substr(end + 4, body);
    bytes.erase(0, end + 4 + body);
    return res;
}

// ---- running -----------------------------------------------------------------------------------

/// Runs `ioc` until it has no more work.  Returns false if work is still pending after
/// `limit`: a test that hangs fails instead.
inline bool run_until_idle(asio::io_context& ioc, std::chrono::milliseconds limit = std::chrono::seconds(20))
{
    ioc.restart();
    ioc.run_for(limit);
    return ioc.stopped();
}

/// Runs every handler that is ready now (and those they make ready), without waiting on timers.
inline void run_ready(asio::io_context& ioc)
{
    ioc.restart();
    ioc.poll();
}

/// Deterministic pseudo-random bytes.
inline std::string random_bytes(std::size_t n, std::uint32_t seed = 1)
{
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(gen() & 0xFF);
    return s;
}

/// Deterministic printable ASCII (valid UTF-8).
inline std::string random_text(std::size_t n, std::uint32_t seed = 1)
{
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(' ' + gen() % 95);
    return s;
}

} // namespace ws_test
