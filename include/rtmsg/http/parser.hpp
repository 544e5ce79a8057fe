#pragma once
// Sans-I/O, incremental, strict and bounded HTTP/1.1 request parser (RFC 9112).
#include <rtmsg/http/detail/url.hpp>
#include <rtmsg/http/error.hpp>
#include <rtmsg/http/fields.hpp>
#include <rtmsg/http/request.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace rtmsg::http {

/** Parses one HTTP/1.0 or HTTP/1.1 request from bytes, however they are split. No I/O, no Asio.

    Feed it whatever the socket delivered. `feed` consumes the bytes that belong to the current request
    and stops at its end, so with pipelining the caller keeps the rest and feeds it after `reset()`.
    Feeding one byte at a time gives the same request, or the same error, as feeding everything at once.

    @par What is accepted (RFC 9112)
    - Request line: `method SP request-target SP HTTP-version CRLF`, single spaces. The method is a token;
      the target is printable ASCII without `#` and is in origin-form (`/path?query`), absolute-form
      (`http://` or `https://` with a non-empty authority) or asterisk-form (`*`, only for OPTIONS).
      The version is exactly `HTTP/1.0` or `HTTP/1.1`; any other `HTTP/d.d` is `error::bad_version` (505).
    - Up to 4 empty lines before the request line are ignored (RFC 9112 §2.2).
    - Lines end in CRLF. A bare LF is rejected, not tolerated: RFC 9112 §2.2 allows either choice, and
      rejecting it removes one way for a proxy and this parser to disagree about where a line ends.
    - Field lines are `token ":" OWS value OWS`; whitespace before the colon (§5.1) and obsolete line
      folding (§5.2) are rejected; values may hold HTAB, SP, visible ASCII and obs-text (bytes >= 0x80),
      but no other control character. An HTTP/1.1 request must have exactly one Host, an HTTP/1.0
      request at most one (§3.2).
    - Body (§6.3): `Transfer-Encoding: chunked` (chunk extensions are checked and ignored, trailer fields
      are checked and discarded), or `Content-Length` (digits only; repeated field lines must agree),
      or no body. Both at once is `error::ambiguous_length`, as is customary against request smuggling.
      Transfer-Encoding in HTTP/1.0, or whose final coding is not chunked (`chunked, identity`, `gzip`),
      or with chunked twice, is `error::bad_transfer_encoding` (400: §6.3 makes it a MUST, since the body
      length is then unknown); a coding other than chunked before a final chunked (`gzip, chunked`) is
      `error::unsupported_transfer_encoding` (501, §6.1).

    @par Limits
    - `limits::header_bytes` bounds the request line plus the header section, counting line endings and the
      final empty line; leading empty lines are not counted. Exceeding it fails at once, without waiting for
      the end of the line: `error::target_too_long` (414) while inside the request-target,
      `error::header_too_large` (431) elsewhere. The trailer section has a budget of its own of the same
      size (`error::header_too_large` past it), and so do chunk extensions, summed over the request
      (`error::bad_chunk` past it). Chunk sizes may have at most 16 hex digits.
    - `limits::body_bytes` bounds the decoded body. A Content-Length or a chunk size that would pass it
      fails with `error::body_too_large` (413) as soon as it is read, before any of that body arrives.

    Once `done()`, `feed` consumes nothing more until `reset()`. After an error the parser stays failed
    (every `feed` returns 0 and the same error) until `reset()`.
    The connection should be closed after answering with `status_for(error)`: its framing is lost.

    @par Example
    @code
    http::request_parser parser;
    std::string buffer; // bytes read from the socket, not yet consumed
    for (;;) {
        std::error_code ec;
        buffer.erase(0, parser.feed(buffer, ec));
        if (ec) return reply_and_close(http::error_response(http::status_for(http::error(ec.value())),
                                                            ec.message()));
        if (!parser.done()) { read_more_into(buffer); continue; }
        handle(parser.get());
        parser.reset(); // whatever is left in `buffer` belongs to the next, pipelined, request
    }
    @endcode

    @par Thread safety
    Distinct objects: Safe. Shared objects: Unsafe.
*/
class request_parser {
public:
    /// Size limits, checked while parsing so that no input makes the parser buffer more than they allow.
    struct limits {
        std::size_t header_bytes = 16 * 1024; ///< request line + header section, in bytes
        std::size_t body_bytes = 1024 * 1024; ///< decoded body, in bytes
    };

    /// A parser with the default limits.
    request_parser() : request_parser(limits{}) {}

    /// A parser with the given limits.
    explicit request_parser(limits l) : limits_(l) {}

    /** Parses as much of `bytes` as belongs to the current request.

        @param bytes the next bytes of the stream; the parser copies what it keeps
        @param ec    set to an `http::error` if the request is malformed or over a limit, cleared otherwise
        @return how many bytes of `bytes` were consumed. Less than `bytes.size()` only when the request is
        complete (`done()`; the rest belongs to the next request) or on error. When it returns with
        `!done()` and no error, everything was consumed and more input is needed.
    */
    std::size_t feed(std::string_view bytes, std::error_code& ec);

    /// Whether a complete request has been parsed; `get()` then holds it.
    bool done() const noexcept { return state_ == state::done; }

    /** Whether the request line and header section have been parsed and accepted.

        From then on `get()` has method, target, version and headers, and only the body is missing: the time
        to answer `Expect: 100-continue` or to reject the request before reading its body.
    */
    bool header_done() const noexcept { return header_done_; }

    /// The request parsed so far; complete once `done()`.
    request& get() noexcept { return req_; }
    /// The request parsed so far; complete once `done()`.
    request const& get() const noexcept { return req_; }

    /// Moves the request out, leaving `get()` unspecified. Call `reset()` before parsing the next one.
    request release() noexcept { return std::move(req_); }

    /** Prepares for the next request, keeping the limits (and, where possible, allocated memory).

        Also clears a previous error. Feed the bytes that the last `feed` did not consume next.
    */
    void reset() noexcept;

private:
    enum class state : unsigned char {
        start,         // before the request line: empty lines or the first method byte
        start_lf,      // after the CR of an empty line
        method,        // in the method
        target,        // in the request-target
        version,       // in the HTTP-version
        version_lf,    // after the CR of the request line
        header_line,   // a field line or the empty line ending the header section
        body,          // Content-Length body
        chunk_size,    // hex digits of a chunk-size
        chunk_ext,     // chunk extensions, see ext_state
        chunk_size_lf, // after the CR of a chunk-size line
        chunk_data,    // chunk data
        chunk_data_cr, // the CRLF after chunk data
        chunk_data_lf,
        trailer_line, // a trailer field line or the empty line ending the message
        done,
        failed,
    };

    // RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
    enum class ext_state : unsigned char {
        after_size_ws, // BWS after the size: only ";" may follow
        before_name,
        name,
        after_name, // BWS after a name: "=" or ";" must follow
        before_value,
        token_value,
        quoted,
        quoted_pair,
        after_quoted,
        after_value, // BWS after a value: ";" must follow
    };

    enum class line_status { complete, partial, too_long, bare_lf };

    static constexpr unsigned max_empty_lines = 4;
    static constexpr unsigned max_chunk_size_digits = 16; // 64 bits; longer ones are only leading zeros

    void fail(error e) noexcept
    {
        state_ = state::failed;
        error_ = e;
    }

    // Counts n more bytes of request line / header section, failing with `e` past the limit.
    bool charge_head(std::size_t n, error e) noexcept
    {
        if (n > limits_.header_bytes - head_bytes_) {
            fail(e);
            return false;
        }
        head_bytes_ += n;
        return true;
    }

    line_status next_line(std::string_view in, std::size_t& pos, std::size_t budget, std::string_view& line,
                          std::size_t& length);
    void on_request_line_end();
    void on_header_line(std::string_view line);
    void on_header_end();
    void on_trailer_line(std::string_view line);
    void parse_chunk_ext(std::string_view in, std::size_t& pos);

    limits limits_;
    request req_;
    std::string line_;              // an incomplete field line carried over between feeds
    std::size_t head_bytes_ = 0;    // request line + header bytes so far
    std::size_t trailer_bytes_ = 0; // trailer section bytes so far
    std::size_t ext_bytes_ = 0;     // chunk extension bytes so far
    std::uint64_t remaining_ = 0;   // body or chunk-data bytes still to come
    std::uint64_t chunk_size_ = 0;  // the chunk-size being read
    error error_ = error::bad_request_line;
    state state_ = state::start;
    ext_state ext_ = ext_state::after_size_ws;
    bool header_done_ = false;
    unsigned char empty_lines_ = 0;
    unsigned char chunk_digits_ = 0;
    unsigned char version_len_ = 0;
    char version_[8] = {}; // "HTTP/1.1"
};

namespace detail {

// RFC 9112 §3.2: request-target bytes. Printable ASCII except '#' (a fragment is never sent, RFC 9110 §7.1);
// RFC 3986 forbids a few more ("<>\^`{|}), but clients send them and they are harmless here.
struct target_char_table {
    bool value[256] = {};
    constexpr target_char_table()
    {
        for (int c = 0x21; c < 0x7F; ++c) value[c] = true;
        value[static_cast<unsigned char>('#')] = false;
    }
};
inline constexpr target_char_table target_chars{};

// RFC 9110 §5.5: field-value bytes are HTAB, SP, VCHAR and obs-text; no other control character.
constexpr bool is_field_value_char(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7F);
}

// RFC 9110 §5.6.4 qdtext and the second byte of a quoted-pair.
constexpr bool is_qdtext(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || u == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5B) || (u >= 0x5D && u <= 0x7E) || u >= 0x80;
}
constexpr bool is_quoted_pair_char(char c) noexcept
{
    auto const u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7F);
}

// RFC 3986 §3.2.2 host [":" port], loosely: the bytes that may appear, so that a Host value cannot hold
// a path, a query, userinfo or whitespace.
constexpr bool is_host_char(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=:[]%").find(c) != std::string_view::npos;
}

// Index of the first byte at or after `pos` for which `pred` is false.
template <class Pred>
inline std::size_t scan_while(std::string_view in, std::size_t pos, Pred pred) noexcept
{
    while (pos < in.size() && pred(in[pos])) ++pos;
    return pos;
}

// Parses Content-Length (RFC 9110 §8.6): 1*DIGIT, without overflow.
inline bool parse_content_length(std::string_view s, std::uint64_t& out) noexcept
{
    if (s.empty()) return false;
    std::uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        auto const d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    out = v;
    return true;
}

} // namespace detail

inline void request_parser::reset() noexcept
{
    req_.method.clear();
    req_.target.clear();
    req_.version = 11;
    req_.headers.clear();
    req_.body.clear();
    req_.params.clear();
    line_.clear();
    head_bytes_ = 0;
    trailer_bytes_ = 0;
    ext_bytes_ = 0;
    remaining_ = 0;
    chunk_size_ = 0;
    error_ = error::bad_request_line;
    state_ = state::start;
    ext_ = ext_state::after_size_ws;
    header_done_ = false;
    empty_lines_ = 0;
    chunk_digits_ = 0;
    version_len_ = 0;
}

// Finds the end of a CRLF-terminated line. A line that arrives in pieces is collected in `line_`; a line
// found whole in `in` is returned as a view into it, uncopied. `budget` bounds the line with its CRLF.
inline request_parser::line_status request_parser::next_line(std::string_view in, std::size_t& pos, std::size_t budget,
                                                             std::string_view& line, std::size_t& length)
{
    auto const rest = in.substr(pos);
    auto const lf = rest.find('\n');
    if (lf == std::string_view::npos) {
        // Fail as soon as the line is too long, not when its end finally arrives.
        if (rest.size() > budget - line_.size()) return line_status::too_long;
        line_.append(rest);
        pos = in.size();
        return line_status::partial;
    }
    if (lf + 1 > budget - line_.size()) return line_status::too_long;
    length = line_.size() + lf + 1;
    if (line_.empty()) {
        line = rest.substr(0, lf);
    }
    else {
        line_.append(rest.data(), lf);
        line = line_;
    }
    pos += lf + 1;
    if (line.empty() || line.back() != '\r') return line_status::bare_lf;
    line.remove_suffix(1);
    return line_status::complete;
}

inline void request_parser::on_request_line_end()
{
    std::string_view const v(version_, version_len_);
    if (v == "HTTP/1.1") {
        req_.version = 11;
    }
    else if (v == "HTTP/1.0") {
        req_.version = 10;
    }
    else if (v.size() == 8 && v.substr(0, 5) == "HTTP/" && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
             v[7] <= '9') {
        fail(error::bad_version); // RFC 9110 §15.6.6: 505 for a well-formed version we do not speak
        return;
    }
    else {
        fail(error::bad_request_line); // HTTP-name is case-sensitive (RFC 9112 §2.3)
        return;
    }
    state_ = state::header_line;
}

inline void request_parser::on_header_line(std::string_view line)
{
    if (line.empty()) {
        on_header_end();
        return;
    }
    // RFC 9112 §5.2: obs-fold; also whitespace between the request line and the first field (§2.2).
    if (line.front() == ' ' || line.front() == '\t') {
        fail(error::obsolete_line_folding);
        return;
    }
    auto const colon = line.find(':');
    if (colon == std::string_view::npos) {
        fail(error::bad_header);
        return;
    }
    auto const name = line.substr(0, colon);
    // RFC 9112 §5.1: no whitespace between the field name and the colon; MUST answer 400.
    if (!is_token(name)) {
        fail(error::bad_header);
        return;
    }
    auto const value = trim_ows(line.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(), detail::is_field_value_char)) {
        fail(error::bad_header);
        return;
    }
    req_.headers.add(name, value);
}

inline void request_parser::on_header_end()
{
    auto const& h = req_.headers;

    // RFC 9112 §3.2: exactly one Host in HTTP/1.1; never more than one; a valid value.
    std::size_t hosts = 0;
    for (auto const& f : h) {
        if (!iequals(f.name, "Host")) continue;
        if (++hosts > 1) return fail(error::multiple_host);
        if (!std::all_of(f.value.begin(), f.value.end(), detail::is_host_char)) return fail(error::bad_header);
    }
    if (hosts == 0 && req_.version >= 11) return fail(error::missing_host);

    bool const has_te = h.contains("Transfer-Encoding");
    bool const has_cl = h.contains("Content-Length");

    // RFC 9112 §6.3 (3): both framings "ought to be handled as an error": a classic request smuggling vector.
    if (has_te && has_cl) return fail(error::ambiguous_length);

    if (has_te) {
        // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
        if (req_.version < 11) return fail(error::bad_transfer_encoding);
        std::size_t codings = 0;
        std::size_t chunked = 0;
        bool last_is_chunked = false;
        for (auto const& f : h) {
            if (!iequals(f.name, "Transfer-Encoding")) continue;
            for_each_list_element(f.value, [&](std::string_view coding) {
                ++codings;
                last_is_chunked = iequals(coding, "chunked");
                if (last_is_chunked) ++chunked;
                return false;
            });
        }
        // RFC 9112 §6.3 (4): chunked not final means the length cannot be determined: MUST answer 400.
        // §7: chunked MUST NOT be applied more than once.
        if (!last_is_chunked || chunked != 1) return fail(error::bad_transfer_encoding);
        // RFC 9112 §6.1: a coding we do not implement (gzip, chunked): SHOULD answer 501.
        if (codings != 1) return fail(error::unsupported_transfer_encoding);
        header_done_ = true;
        state_ = state::chunk_size;
        return;
    }

    if (has_cl) {
        std::uint64_t length = 0;
        bool first = true;
        for (auto const& f : h) {
            if (!iequals(f.name, "Content-Length")) continue;
            std::uint64_t v = 0;
            if (!detail::parse_content_length(f.value, v)) return fail(error::bad_content_length);
            // RFC 9110 §8.6: repeated identical values may be accepted; differing ones are an error.
            if (!first && v != length) return fail(error::bad_content_length);
            length = v;
            first = false;
        }
        if (length > limits_.body_bytes) return fail(error::body_too_large);
        header_done_ = true;
        if (length == 0) {
            state_ = state::done;
            return;
        }
        remaining_ = length;
        // Reserve up front but not all of a large announced body, which may never arrive.
        req_.body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 64 * 1024)));
        state_ = state::body;
        return;
    }

    // RFC 9112 §6.3 (7): a request with neither has no body.
    header_done_ = true;
    state_ = state::done;
}

inline void request_parser::on_trailer_line(std::string_view line)
{
    if (line.empty()) {
        state_ = state::done;
        return;
    }
    if (line.front() == ' ' || line.front() == '\t') return fail(error::obsolete_line_folding);
    auto const colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) return fail(error::bad_header);
    auto const value = line.substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(), detail::is_field_value_char)) return fail(error::bad_header);
    // RFC 9112 §7.1.2: trailer fields may be discarded; none of them can change the framing.
}

inline void request_parser::parse_chunk_ext(std::string_view in, std::size_t& pos)
{
    while (pos < in.size()) {
        char const c = in[pos];
        bool const ws = c == ' ' || c == '\t';
        bool const tchar = is_tchar(c);
        bool ok = true;
        switch (ext_) {
        case ext_state::after_size_ws:
        case ext_state::after_value:
            if (c == ';')
                ext_ = ext_state::before_name;
            else
                ok = ws;
            break;
        case ext_state::before_name:
            if (tchar)
                ext_ = ext_state::name;
            else
                ok = ws;
            break;
        case ext_state::name:
        case ext_state::after_name:
            if (c == '=')
                ext_ = ext_state::before_value;
            else if (c == ';')
                ext_ = ext_state::before_name;
            else if (ws)
                ext_ = ext_state::after_name;
            else
                ok = tchar && ext_ == ext_state::name;
            break;
        case ext_state::before_value:
            if (c == '"')
                ext_ = ext_state::quoted;
            else if (tchar)
                ext_ = ext_state::token_value;
            else
                ok = ws;
            break;
        case ext_state::token_value:
        case ext_state::after_quoted:
            if (c == ';')
                ext_ = ext_state::before_name;
            else if (ws)
                ext_ = ext_state::after_value;
            else
                ok = tchar && ext_ == ext_state::token_value;
            break;
        case ext_state::quoted:
            if (c == '"')
                ext_ = ext_state::after_quoted;
            else if (c == '\\')
                ext_ = ext_state::quoted_pair;
            else
                ok = detail::is_qdtext(c);
            break;
        case ext_state::quoted_pair:
            ok = detail::is_quoted_pair_char(c);
            ext_ = ext_state::quoted;
            break;
        }
        if (c == '\r' &&
            (ext_ == ext_state::name || ext_ == ext_state::token_value || ext_ == ext_state::after_quoted)) {
            // End of the chunk-size line: only right after a complete name or value (no trailing BWS).
            ++pos;
            state_ = state::chunk_size_lf;
            return;
        }
        if (!ok) return fail(error::bad_chunk);
        // Bounded so that extensions cannot make a request of endless metadata (cf. CVE-2023-39326).
        if (++ext_bytes_ > limits_.header_bytes) return fail(error::bad_chunk);
        ++pos;
    }
}

inline std::size_t request_parser::feed(std::string_view in, std::error_code& ec)
{
    ec = {};
    std::size_t pos = 0;
    while (pos < in.size() && state_ != state::done && state_ != state::failed) {
        switch (state_) {
        case state::start: {
            char const c = in[pos];
            if (c == '\r') {
                ++pos;
                state_ = state::start_lf;
            }
            else if (is_tchar(c)) {
                state_ = state::method;
            }
            else {
                fail(error::bad_request_line);
            }
            break;
        }
        case state::start_lf:
            if (in[pos] != '\n') {
                fail(error::bad_request_line);
                break;
            }
            ++pos;
            if (++empty_lines_ > max_empty_lines)
                fail(error::too_many_empty_lines);
            else
                state_ = state::start;
            break;

        case state::method: {
            auto const end = detail::scan_while(in, pos, is_tchar);
            if (!charge_head(end - pos, error::header_too_large)) break;
            req_.method.append(in.data() + pos, end - pos);
            pos = end;
            if (pos == in.size()) break;
            char const c = in[pos];
            if (c != ' ') {
                fail(c == '\r' || c == '\n' ? error::bad_request_line : error::bad_method);
                break;
            }
            if (!charge_head(1, error::header_too_large)) break;
            ++pos;
            state_ = state::target;
            break;
        }

        case state::target: {
            auto const end = detail::scan_while(
                in, pos, [](char c) { return detail::target_chars.value[static_cast<unsigned char>(c)]; });
            if (!charge_head(end - pos, error::target_too_long)) break;
            req_.target.append(in.data() + pos, end - pos);
            pos = end;
            if (pos == in.size()) break;
            char const c = in[pos];
            if (c != ' ') {
                // No version at all (HTTP/0.9 style) is a malformed line; anything else is a bad byte.
                fail(c == '\r' || c == '\n' ? error::bad_request_line : error::bad_target);
                break;
            }
            std::string_view const t = req_.target;
            if (t.empty()) {
                fail(error::bad_request_line); // two spaces after the method
                break;
            }
            if (t.front() != '/') {
                if (t == "*") {
                    // RFC 9112 §3.2.4: asterisk-form is only for a server-wide OPTIONS.
                    if (req_.method != "OPTIONS") {
                        fail(error::bad_target);
                        break;
                    }
                }
                else {
                    // RFC 9112 §3.2.2 absolute-form; we are an origin server for http and https only.
                    auto const sep = t.find("://");
                    auto const scheme = t.substr(0, sep);
                    auto const authority_start = sep == std::string_view::npos ? t.size() : sep + 3;
                    auto const authority_end = std::min(t.find_first_of("/?", authority_start), t.size());
                    auto const authority = t.substr(authority_start, authority_end - authority_start);
                    // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
                    if (sep == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")) ||
                        authority.empty() || authority.find('@') != std::string_view::npos) {
                        fail(error::bad_target);
                        break;
                    }
                }
            }
            if (!charge_head(1, error::target_too_long)) break;
            ++pos;
            state_ = state::version;
            break;
        }

        case state::version: {
            char const c = in[pos];
            if (c == '\r') {
                if (!charge_head(1, error::header_too_large)) break;
                ++pos;
                state_ = state::version_lf;
                break;
            }
            if (c == '\n' || version_len_ == sizeof version_) {
                fail(error::bad_request_line);
                break;
            }
            if (!charge_head(1, error::header_too_large)) break;
            version_[version_len_++] = c;
            ++pos;
            break;
        }
        case state::version_lf:
            if (in[pos] != '\n') {
                fail(error::bad_request_line);
                break;
            }
            if (!charge_head(1, error::header_too_large)) break;
            ++pos;
            on_request_line_end();
            break;

        case state::header_line: {
            std::string_view line;
            std::size_t length = 0;
            switch (next_line(in, pos, limits_.header_bytes - head_bytes_, line, length)) {
            case line_status::partial: break;
            case line_status::too_long: fail(error::header_too_large); break;
            case line_status::bare_lf: fail(error::bad_header); break;
            case line_status::complete:
                head_bytes_ += length;
                on_header_line(line);
                line_.clear();
                break;
            }
            break;
        }

        case state::body: {
            auto const n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - pos));
            req_.body.append(in.data() + pos, n);
            pos += n;
            remaining_ -= n;
            if (remaining_ == 0) state_ = state::done;
            break;
        }

        case state::chunk_size: {
            char const c = in[pos];
            int const digit = detail::hex_value(c);
            if (digit >= 0) {
                if (++chunk_digits_ > max_chunk_size_digits) {
                    fail(error::bad_chunk);
                    break;
                }
                chunk_size_ = chunk_size_ * 16 + static_cast<unsigned>(digit);
                // Fail on the digit that announces too much, before any of the data arrives.
                if (chunk_size_ > limits_.body_bytes - req_.body.size()) {
                    fail(error::body_too_large);
                    break;
                }
                ++pos;
                break;
            }
            if (chunk_digits_ == 0) {
                fail(error::bad_chunk);
            }
            else if (c == '\r') {
                ++pos;
                state_ = state::chunk_size_lf;
            }
            else if (c == ';' || c == ' ' || c == '\t') {
                ext_ = ext_state::after_size_ws;
                state_ = state::chunk_ext;
            }
            else {
                fail(error::bad_chunk);
            }
            break;
        }
        case state::chunk_ext: parse_chunk_ext(in, pos); break;
        case state::chunk_size_lf:
            if (in[pos] != '\n') {
                fail(error::bad_chunk);
                break;
            }
            ++pos;
            if (chunk_size_ == 0) {
                state_ = state::trailer_line;
            }
            else {
                remaining_ = chunk_size_;
                state_ = state::chunk_data;
            }
            chunk_size_ = 0;
            chunk_digits_ = 0;
            break;
        case state::chunk_data: {
            auto const n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, in.size() - pos));
            req_.body.append(in.data() + pos, n);
            pos += n;
            remaining_ -= n;
            if (remaining_ == 0) state_ = state::chunk_data_cr;
            break;
        }
        case state::chunk_data_cr:
        case state::chunk_data_lf: {
            bool const cr = state_ == state::chunk_data_cr;
            if (in[pos] != (cr ? '\r' : '\n')) {
                fail(error::bad_chunk);
                break;
            }
            ++pos;
            state_ = cr ? state::chunk_data_lf : state::chunk_size;
            break;
        }

        case state::trailer_line: {
            std::string_view line;
            std::size_t length = 0;
            switch (next_line(in, pos, limits_.header_bytes - trailer_bytes_, line, length)) {
            case line_status::partial: break;
            case line_status::too_long: fail(error::header_too_large); break;
            case line_status::bare_lf: fail(error::bad_header); break;
            case line_status::complete:
                trailer_bytes_ += length;
                on_trailer_line(line);
                line_.clear();
                break;
            }
            break;
        }

        case state::done:
        case state::failed: break;
        }
    }
    if (state_ == state::failed) ec = error_;
    return pos;
}

/** Checks a request head that another HTTP stack parsed (server::serve) against the rules
    request_parser applies to what it reads: `method` a token, `target` in origin-form,
    absolute-form (http or https, no userinfo) or asterisk-form (OPTIONS only) with no
    forbidden byte, `version` 10 or 11, field names tokens and values free of control
    characters, exactly one valid Host in HTTP/1.1 and never more than one.  Returns the
    error request_parser would have failed with (`status_for` gives the status), or {}. */
inline std::error_code check_head(request const& req)
{
    if (!is_token(req.method)) return error::bad_method;
    std::string_view const t = req.target;
    if (t.empty() || !std::all_of(t.begin(), t.end(),
                                  [](char c) { return detail::target_chars.value[static_cast<unsigned char>(c)]; }))
        return error::bad_target;
    if (t == "*") {
        if (req.method != "OPTIONS") return error::bad_target;
    }
    else if (t.front() != '/') {
        auto const sep = t.find("://");
        if (sep == std::string_view::npos) return error::bad_target;
        auto const scheme = t.substr(0, sep);
        auto const authority_end = std::min(t.find_first_of("/?", sep + 3), t.size());
        auto const authority = t.substr(sep + 3, authority_end - sep - 3);
        if (!(iequals(scheme, "http") || iequals(scheme, "https")) || authority.empty() ||
            authority.find('@') != std::string_view::npos)
            return error::bad_target;
    }
    if (req.version != 10 && req.version != 11) return error::bad_version;
    std::size_t hosts = 0;
    for (auto const& f : req.headers) {
        if (!is_token(f.name) || !std::all_of(f.value.begin(), f.value.end(), detail::is_field_value_char))
            return error::bad_header;
        if (!iequals(f.name, "Host")) continue;
        if (++hosts > 1) return error::multiple_host;
        if (!std::all_of(f.value.begin(), f.value.end(), detail::is_host_char)) return error::bad_header;
    }
    if (hosts == 0 && req.version >= 11) return error::missing_host;
    return {};
}

} // namespace rtmsg::http
