#pragma once
// Base64 (RFC 4648 §4, with padding): handshake keys, and binary data in the JSON codec.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rtmsg::detail {

inline constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends the padded encoding of `in` to `out`.
inline void base64_append(std::string& out, std::string_view in)
{
    auto const* p = reinterpret_cast<unsigned char const*>(in.data());
    std::size_t const n = in.size();
    out.reserve(out.size() + (n + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < n; i += 3) {
        std::uint32_t const v = std::uint32_t{p[i]} << 16 | std::uint32_t{p[i + 1]} << 8 | p[i + 2];
        char const q[4] = {base64_alphabet[v >> 18], base64_alphabet[(v >> 12) & 63], base64_alphabet[(v >> 6) & 63],
                           base64_alphabet[v & 63]};
        out.append(q, 4);
    }
    if (i < n) {
        std::uint32_t const v = std::uint32_t{p[i]} << 16 | (i + 1 < n ? std::uint32_t{p[i + 1]} << 8 : 0);
        char const q[4] = {base64_alphabet[v >> 18], base64_alphabet[(v >> 12) & 63],
                           i + 1 < n ? base64_alphabet[(v >> 6) & 63] : '=', '='};
        out.append(q, 4);
    }
}

inline std::string base64_encode(void const* data, std::size_t n)
{
    std::string out;
    base64_append(out, {static_cast<char const*>(data), n});
    return out;
}

/** Decodes strict base64 and appends the bytes to `out`: padding required, no whitespace or
    other characters, and zero pad bits (each byte string has exactly one encoding).  False
    (with `out` partly appended) on anything else. */
inline bool base64_decode_append(std::string_view in, std::string& out)
{
    if (in.size() % 4 != 0) return false;
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    out.reserve(out.size() + in.size() / 4 * 3);
    for (std::size_t i = 0; i < in.size(); i += 4) {
        bool const last = i + 4 == in.size();
        std::size_t pad = 0;
        std::uint32_t bits = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            char const c = in[i + j];
            int v = 0;
            if (c == '=' && last && j >= 2)
                ++pad;
            else if (pad != 0 || (v = value(c)) < 0)
                return false;
            bits = bits << 6 | static_cast<std::uint32_t>(v);
        }
        if ((pad == 1 && (bits & 0xFF) != 0) || (pad == 2 && (bits & 0xFFFF) != 0)) return false;
        char const bytes[3] = {static_cast<char>(bits >> 16), static_cast<char>(bits >> 8), static_cast<char>(bits)};
        out.append(bytes, 3 - pad);
    }
    return true;
}

/// Decodes strict base64 (see base64_decode_append); nullopt if it is not.
inline std::optional<std::string> base64_decode(std::string_view in)
{
    std::string out;
    if (!base64_decode_append(in, out)) return std::nullopt;
    return out;
}

} // namespace rtmsg::detail
