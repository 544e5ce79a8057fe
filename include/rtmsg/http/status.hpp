#pragma once
// HTTP status codes (RFC 9110 §15) and their reason phrases.
#include <string_view>

namespace rtmsg::http {

/** An HTTP status code (RFC 9110 §15).

    The underlying value is the three-digit code, so `static_cast<unsigned>(s)` is what goes on the wire.
    Only the codes rtmsg and its users commonly need are named; any other three-digit value may be cast
    to `status` and is serialized with an empty reason phrase.
*/
enum class status : unsigned {
    continue_ = 100, ///< `continue` is a keyword
    switching_protocols = 101,

    ok = 200,
    created = 201,
    accepted = 202,
    no_content = 204,
    partial_content = 206,

    moved_permanently = 301,
    found = 302,
    see_other = 303,
    not_modified = 304,
    temporary_redirect = 307,
    permanent_redirect = 308,

    bad_request = 400,
    unauthorized = 401,
    forbidden = 403,
    not_found = 404,
    method_not_allowed = 405,
    not_acceptable = 406,
    request_timeout = 408,
    conflict = 409,
    gone = 410,
    length_required = 411,
    precondition_failed = 412,
    payload_too_large = 413,
    uri_too_long = 414,
    unsupported_media_type = 415,
    range_not_satisfiable = 416,
    expectation_failed = 417,
    upgrade_required = 426,
    too_many_requests = 429,
    request_header_fields_too_large = 431,

    internal_server_error = 500,
    not_implemented = 501,
    bad_gateway = 502,
    service_unavailable = 503,
    gateway_timeout = 504,
    http_version_not_supported = 505,
};

/** The reason phrase for a status code, as in RFC 9110 §15 ("Not Found" for 404).

    @return the phrase, or an empty view for codes without a name here. RFC 9112 §4 allows an empty
    reason phrase, so the result can always be written after the code and a space.
*/
constexpr std::string_view reason_phrase(status s) noexcept
{
    switch (s) {
    case status::continue_: return "Continue";
    case status::switching_protocols: return "Switching Protocols";
    case status::ok: return "OK";
    case status::created: return "Created";
    case status::accepted: return "Accepted";
    case status::no_content: return "No Content";
    case status::partial_content: return "Partial Content";
    case status::moved_permanently: return "Moved Permanently";
    case status::found: return "Found";
    case status::see_other: return "See Other";
    case status::not_modified: return "Not Modified";
    case status::temporary_redirect: return "Temporary Redirect";
    case status::permanent_redirect: return "Permanent Redirect";
    case status::bad_request: return "Bad Request";
    case status::unauthorized: return "Unauthorized";
    case status::forbidden: return "Forbidden";
    case status::not_found: return "Not Found";
    case status::method_not_allowed: return "Method Not Allowed";
    case status::not_acceptable: return "Not Acceptable";
    case status::request_timeout: return "Request Timeout";
    case status::conflict: return "Conflict";
    case status::gone: return "Gone";
    case status::length_required: return "Length Required";
    case status::precondition_failed: return "Precondition Failed";
    case status::payload_too_large: return "Content Too Large"; // RFC 9110 §15.5.14 renamed it
    case status::uri_too_long: return "URI Too Long";
    case status::unsupported_media_type: return "Unsupported Media Type";
    case status::range_not_satisfiable: return "Range Not Satisfiable";
    case status::expectation_failed: return "Expectation Failed";
    case status::upgrade_required: return "Upgrade Required";
    case status::too_many_requests: return "Too Many Requests";                             // RFC 6585
    case status::request_header_fields_too_large: return "Request Header Fields Too Large"; // RFC 6585
    case status::internal_server_error: return "Internal Server Error";
    case status::not_implemented: return "Not Implemented";
    case status::bad_gateway: return "Bad Gateway";
    case status::service_unavailable: return "Service Unavailable";
    case status::gateway_timeout: return "Gateway Timeout";
    case status::http_version_not_supported: return "HTTP Version Not Supported";
    }
    return {};
}

} // namespace rtmsg::http
