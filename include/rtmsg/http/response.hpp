#pragma once
// An HTTP/1.x response and its serializer (RFC 9112 §4, §6).
#include <rtmsg/http/fields.hpp>
#include <rtmsg/http/status.hpp>

#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

namespace rtmsg::http {

/** An HTTP response to be serialized with `serialize`.

    Set `Content-Type` and any other fields yourself; `serialize` adds the framing fields.

    @par Thread safety
    Distinct objects: Safe. Shared objects: Unsafe.
*/
struct response {
    status code = status::ok; ///< the status code; its reason phrase comes from `reason_phrase`
    fields headers;           ///< header fields, written in order
    std::string body;         ///< the content, sent as is
};

namespace detail {

/// RFC 9110 §15.2, §15.3.5, §15.4.5: 1xx, 204 and 304 responses never carry content.
constexpr bool status_has_no_content(status s) noexcept
{
    auto const code = static_cast<unsigned>(s);
    return (code >= 100 && code < 200) || s == status::no_content || s == status::not_modified;
}

inline void append_number(std::string& out, std::size_t n)
{
    char buf[24];
    auto const r = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, r.ptr);
}

} // namespace detail

/** Appends a field value, CR, LF and NUL replaced with SP: RFC 9110 §5.5 has recipients do so,
    and a sender must never put them on the wire (response splitting, CWE-113). */
inline void append_field_value(std::string& out, std::string_view value)
{
    auto const start = out.size();
    out.append(value);
    for (auto i = start; i < out.size(); ++i)
        if (out[i] == '\r' || out[i] == '\n' || out[i] == '\0') out[i] = ' ';
}

/** Appends `res` to `out` as an HTTP/1.x response message.

    Writes the status line (`HTTP/1.1 404 Not Found`), every header field in order, then:
    - `Content-Length: <body size>`, unless the status is 1xx, 204 or 304, or the headers already hold
      `Content-Length` or `Transfer-Encoding` (you then frame the body yourself);
    - `Connection: close` if `keep_alive` is false and no Connection field already says "close";
    - `Connection: keep-alive` for HTTP/1.0 when `keep_alive` is true, since HTTP/1.0 clients close by default.

    The body follows the empty line, except for 1xx, 204 and 304, which never carry one (RFC 9110 §6.4.1).
    For a response to HEAD, set `Content-Length` yourself and leave `body` empty. No `Date` field is added.

    Field names must be tokens: a field whose name is not is skipped. CR, LF and NUL in values are written
    as spaces. Both rules keep user data from splitting the response.

    @param res        the response
    @param out        the buffer to append to
    @param version    the HTTP version for the status line: 10 or 11 (use the request's)
    @param keep_alive whether the connection stays open afterwards (usually `req.keep_alive()`)
*/
inline void serialize(response const& res, std::string& out, unsigned version = 11, bool keep_alive = true)
{
    auto const reason = reason_phrase(res.code);
    out.reserve(out.size() + 64 + reason.size() + res.body.size() + res.headers.size() * 32);
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    detail::append_number(out, static_cast<unsigned>(res.code));
    out += ' ';
    out += reason;
    out += "\r\n";
    bool framed = false;
    bool says_close = false;
    bool says_keep_alive = false;
    for (auto const& f : res.headers) {
        if (!is_token(f.name)) continue;
        out += f.name;
        out += ": ";
        append_field_value(out, f.value);
        out += "\r\n";
        if (iequals(f.name, "Content-Length") || iequals(f.name, "Transfer-Encoding")) framed = true;
        if (iequals(f.name, "Connection")) {
            for_each_list_element(f.value, [&](std::string_view e) {
                says_close = says_close || iequals(e, "close");
                says_keep_alive = says_keep_alive || iequals(e, "keep-alive");
                return false;
            });
        }
    }
    bool const no_content = detail::status_has_no_content(res.code);
    if (!no_content && !framed) {
        out += "Content-Length: ";
        detail::append_number(out, res.body.size());
        out += "\r\n";
    }
    if (!keep_alive && !says_close)
        out += "Connection: close\r\n";
    else if (keep_alive && version == 10 && !says_keep_alive)
        out += "Connection: keep-alive\r\n";
    out += "\r\n";
    if (!no_content) out += res.body;
}

/** A plain-text error response, for 4xx and 5xx statuses.

    The body is `message` followed by a newline, or the reason phrase if `message` is empty, with
    `Content-Type: text/plain; charset=utf-8`. Add fields the status requires yourself: `Allow` for 405,
    `Upgrade` for 426, `Retry-After` for 429 or 503.

    @par Example
    @code
    if (ec) serialize(error_response(status_for(http::error(ec.value())), ec.message()), out, 11, false);
    @endcode
*/
inline response error_response(status code, std::string_view message)
{
    response res;
    res.code = code;
    res.headers.add("Content-Type", "text/plain; charset=utf-8");
    res.body.assign(message.empty() ? reason_phrase(code) : message);
    res.body += '\n';
    return res;
}

} // namespace rtmsg::http
