#pragma once
// The head of an HTTP/1.1 response, as a client reads it (RFC 9112 §4, §5), sans I/O: what the
// WebSocket client's handshake and the SSE client parse.
#include <rtmsg/http/fields.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace rtmsg::http {

/// A response's status line and header fields.
struct response_head {
    unsigned version = 11; ///< 10 or 11
    unsigned status = 0;   ///< the status code, 100-599
    /** The reason phrase ("Switching Protocols"); may be empty. */
    std::string reason;
    /// The header fields, in the order received.
    fields headers;
};

/// What parse_response_head found.
enum class parse_result { need_more, done, bad };

/** Parses the head at the start of `in` (the status line, the fields and the empty line).

    Lines end in CRLF (a bare LF is accepted, as RFC 9112 §2.2 allows).  Returns
    `need_more` until the empty line has arrived (or `bad` once `limit` bytes have arrived
    without it), `bad` for a malformed head, and `done` with `consumed` set to the size of
    the head: the bytes after it belong to the body or to the next protocol. */
inline parse_result parse_response_head(std::string_view in, response_head& out, std::size_t& consumed,
                                        std::size_t limit = 16 * 1024)
{
    std::size_t end = std::string_view::npos;
    std::size_t skip = 0;
    for (std::size_t i = in.find('\n'); i != std::string_view::npos; i = in.find('\n', i + 1)) {
        if (i + 1 < in.size() && in[i + 1] == '\n') {
            end = i + 1;
            skip = 1;
            break;
        }
        if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
            end = i + 1;
            skip = 2;
            break;
        }
    }
    if (end == std::string_view::npos) return in.size() >= limit ? parse_result::bad : parse_result::need_more;
    if (end > limit) return parse_result::bad;
    consumed = end + skip;
    out = response_head{};
    auto head = in.substr(0, end);
    auto next_line = [&head]() {
        auto const lf = head.find('\n');
        auto line = head.substr(0, lf);
        head.remove_prefix(lf == std::string_view::npos ? head.size() : lf + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return line;
    };
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]
    auto line = next_line();
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
        return parse_result::bad;
    out.version = line[7] == '1' ? 11 : 10;
    unsigned code = 0;
    for (std::size_t i = 9; i < 12; ++i) {
        if (line[i] < '0' || line[i] > '9') return parse_result::bad;
        code = code * 10 + static_cast<unsigned>(line[i] - '0');
    }
    if (code < 100 || (line.size() > 12 && line[12] != ' ')) return parse_result::bad;
    out.status = code;
    if (line.size() > 13) out.reason.assign(line.substr(13));
    while (!head.empty()) {
        line = next_line();
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t') return parse_result::bad; // obs-fold (RFC 9112 §5.2)
        auto const colon = line.find(':');
        if (colon == std::string_view::npos) return parse_result::bad;
        auto const name = line.substr(0, colon);
        if (!is_token(name)) return parse_result::bad;
        auto const value = trim_ows(line.substr(colon + 1));
        for (char c : value)
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F) return parse_result::bad;
        out.headers.add(name, value);
    }
    return parse_result::done;
}

} // namespace rtmsg::http
