#pragma once
// Errors of the HTTP/1.1 request parser (and of URL parsing), category "rtmsg.http", and the status
// code each request error answers with.
#include <rtmsg/http/status.hpp>

#include <string>
#include <system_error>

namespace rtmsg::http {

/** Why a request was rejected; category "rtmsg.http".  Append only: values are never reused.

    Every request code is a fault of the peer. Answer it with `status_for(e)` and close the connection,
    since the rest of the byte stream can no longer be framed (RFC 9112 §9.6 / §11.2).  `bad_url` is what
    the clients report for a URL they cannot use.
*/
enum class error {
    bad_request_line = 1,          ///< the request line is not `method SP request-target SP HTTP-version CRLF`
    bad_method,                    ///< the method is not an RFC 9110 token
    bad_target,                    ///< the request-target has a forbidden byte or is in no accepted form
    bad_version,                   ///< well-formed `HTTP/x.y`, but neither HTTP/1.0 nor HTTP/1.1
    bad_header,                    ///< a field line is not `token ":" OWS value OWS`, or its value has a CTL
    header_too_large,              ///< the header section (or trailer section) is over the limit
    body_too_large,                ///< Content-Length or a chunk size announces a body over the limit
    bad_content_length,            ///< Content-Length is not digits, overflows, or appears with differing values
    bad_chunk,                     ///< malformed chunk-size line, chunk extension or chunk terminator
    unsupported_transfer_encoding, ///< a transfer coding other than chunked (RFC 9112 §6.1: 501)
    target_too_long,               ///< the request line overflowed the header limit inside the request-target
    obsolete_line_folding,         ///< a field line starts with whitespace (RFC 9112 §5.2)
    missing_host,                  ///< HTTP/1.1 request without Host (RFC 9112 §3.2)
    multiple_host,                 ///< more than one Host field line (RFC 9112 §3.2)
    ambiguous_length,              ///< both Content-Length and Transfer-Encoding (RFC 9112 §6.3, smuggling)
    bad_transfer_encoding,         ///< chunked is not the final coding, is repeated, or is used with HTTP/1.0
    too_many_empty_lines,          ///< too many empty lines before the request line (RFC 9112 §2.2)
    bad_url,                       ///< (clients) not a ws, wss, http or https URL with a host (http::parse_url)
};

namespace detail {
class http_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.http"; }
    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::bad_request_line: return "malformed HTTP request line";
        case error::bad_method: return "the request method is not a valid token";
        case error::bad_target: return "the request-target contains a forbidden character or has an unknown form";
        case error::bad_version: return "unsupported HTTP version (only HTTP/1.0 and HTTP/1.1 are accepted)";
        case error::bad_header: return "malformed header field line";
        case error::header_too_large: return "the request header section is larger than the configured limit";
        case error::body_too_large: return "the request body is larger than the configured limit";
        case error::bad_content_length: return "invalid or conflicting Content-Length";
        case error::bad_chunk: return "malformed chunked transfer coding";
        case error::unsupported_transfer_encoding: return "the request uses a transfer coding other than chunked";
        case error::target_too_long: return "the request-target is longer than the configured limit";
        case error::obsolete_line_folding: return "obsolete line folding (a field line starting with whitespace)";
        case error::missing_host: return "HTTP/1.1 request without a Host header";
        case error::multiple_host: return "request with more than one Host header";
        case error::ambiguous_length:
            return "request has both Content-Length and Transfer-Encoding (possible request smuggling)";
        case error::bad_transfer_encoding:
            return "invalid Transfer-Encoding: chunked must be the final coding, once, and only in HTTP/1.1";
        case error::too_many_empty_lines: return "too many empty lines before the request line";
        case error::bad_url: return "the URL is not a ws://, wss://, http:// or https:// URL with a host";
        }
        return "unknown rtmsg.http error";
    }
};
} // namespace detail

/// The "rtmsg.http" category; one instance per program even in a header-only build.
inline std::error_category const& error_category() noexcept
{
    static detail::http_category const cat;
    return cat;
}
/// The earlier name: every module's category is now `error_category()`.
[[deprecated("use rtmsg::http::error_category()")]] inline std::error_category const& http_category() noexcept
{
    return error_category();
}

/// Makes `std::error_code ec = error::bad_header;` work; found by ADL.
inline std::error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

/** The status code a server answers a rejected request with: the only place these numbers are written.

    `target_too_long` maps to 414 URI Too Long (RFC 9112 §3: "A server that receives a request-target longer
    than any URI it wishes to parse MUST respond with a 414"). Every error not listed is 400 Bad Request.
*/
constexpr status status_for(error e) noexcept
{
    switch (e) {
    case error::header_too_large: return status::request_header_fields_too_large; // RFC 6585 §5
    case error::body_too_large: return status::payload_too_large;                 // RFC 9110 §15.5.14
    case error::unsupported_transfer_encoding: return status::not_implemented;    // RFC 9112 §6.1
    case error::bad_version: return status::http_version_not_supported;           // RFC 9110 §15.6.6
    case error::target_too_long: return status::uri_too_long;                     // RFC 9112 §3
    default: return status::bad_request;
    }
}

} // namespace rtmsg::http

template <>
struct std::is_error_code_enum<rtmsg::http::error> : std::true_type {
};
