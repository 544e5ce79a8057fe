#pragma once
// Decoding a `Transfer-Encoding: chunked` response body (RFC 9112 §7.1), sans I/O.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rtmsg::http {

/** A decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1), sans I/O.  Chunk
    extensions and trailer fields are skipped. */
class chunked_decoder {
public:
    /// Appends the data in `in` to `out`.  Returns false on malformed framing.
    bool feed(std::string_view in, std::string& out)
    {
        for (std::size_t i = 0; i < in.size();) {
            char const c = in[i];
            switch (st_) {
            case st::size:
                if (c == '\n') {
                    if (!have_digit_) return false;
                    st_ = size_ == 0 ? st::trailer : st::data;
                    trailer_empty_ = true;
                }
                else if (c == ';' || c == ' ' || c == '\t')
                    st_ = st::ext;
                else if (c != '\r') {
                    int const d = hex(c);
                    if (d < 0 || size_ > (std::uint64_t(1) << 40)) return false;
                    size_ = size_ * 16 + static_cast<std::uint64_t>(d);
                    have_digit_ = true;
                }
                ++i;
                break;
            case st::ext:
                if (c == '\n') {
                    if (!have_digit_) return false;
                    st_ = size_ == 0 ? st::trailer : st::data;
                    trailer_empty_ = true;
                }
                ++i;
                break;
            case st::data: {
                auto const n = static_cast<std::size_t>(std::min<std::uint64_t>(size_, in.size() - i));
                out.append(in.substr(i, n));
                size_ -= n;
                i += n;
                if (size_ == 0) st_ = st::data_end;
                break;
            }
            case st::data_end:
                if (c == '\n') {
                    st_ = st::size;
                    have_digit_ = false;
                }
                else if (c != '\r')
                    return false;
                ++i;
                break;
            case st::trailer:
                if (c == '\n') {
                    if (trailer_empty_) st_ = st::done;
                    trailer_empty_ = true;
                }
                else if (c != '\r')
                    trailer_empty_ = false;
                ++i;
                break;
            case st::done: return true;
            }
        }
        return true;
    }
    /// The last chunk and the trailer have been read.
    bool done() const noexcept { return st_ == st::done; }

private:
    static int hex(char c) noexcept
    {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    enum class st { size, ext, data, data_end, trailer, done } st_ = st::size;
    std::uint64_t size_ = 0;
    bool have_digit_ = false;
    bool trailer_empty_ = true;
};

} // namespace rtmsg::http
