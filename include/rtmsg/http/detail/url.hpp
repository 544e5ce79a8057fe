#pragma once
// Percent-decoding (RFC 3986 §2.1) for request paths, query strings and form data.
#include <cstddef>
#include <string>
#include <string_view>

namespace rtmsg::http::detail {

/// The value of a hex digit, or -1.
constexpr int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/** Appends the percent-decoded form of `in` to `out`.

    `%XX` (either case) becomes the byte 0xXX, including `%00`: callers that build file names must reject
    NUL themselves. With `plus_as_space`, `+` becomes a space, as in `application/x-www-form-urlencoded`
    query strings; use false for paths, where `+` is an ordinary character. Every other byte is copied.

    @return false if a `%` is not followed by two hex digits (`%zz`, a trailing `%` or `%4`); `out` is then
    left as it was on entry.
*/
inline bool percent_decode(std::string_view in, std::string& out, bool plus_as_space)
{
    auto const original_size = out.size();
    out.reserve(original_size + in.size());
    std::size_t i = 0;
    while (i < in.size()) {
        // Copy runs of ordinary bytes at once.
        std::size_t j = i;
        while (j < in.size() && in[j] != '%' && !(plus_as_space && in[j] == '+')) ++j;
        out.append(in.data() + i, j - i);
        i = j;
        if (i == in.size()) break;
        if (in[i] == '+') {
            out += ' ';
            ++i;
            continue;
        }
        if (in.size() - i < 3) {
            out.resize(original_size);
            return false;
        }
        int const h = hex_value(in[i + 1]);
        int const l = hex_value(in[i + 2]);
        if (h < 0 || l < 0) {
            out.resize(original_size);
            return false;
        }
        out += static_cast<char>(h * 16 + l);
        i += 3;
    }
    return true;
}

} // namespace rtmsg::http::detail
