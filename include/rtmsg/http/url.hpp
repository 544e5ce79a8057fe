#pragma once
// URLs the clients connect to (ws://, wss://, http://, https://), sans I/O.
#include <rtmsg/http/error.hpp>
#include <rtmsg/http/fields.hpp>

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg::http {

/** A parsed client URL (RFC 3986 §3 with the WebSocket rules of RFC 6455 §3).

    @code
    rtmsg::http::url u;
    if (auto ec = rtmsg::http::parse_url("wss://[::1]:8443/ws?room=a", u)) return ec;
    // u.host == "::1", u.port == 8443, u.target == "/ws?room=a", u.secure == true
    @endcode
*/
struct url {
    std::string scheme;     ///< "ws", "wss", "http" or "https", lower case
    std::string host;       ///< a host name, an IPv4 literal, or an IPv6 literal without brackets
    std::uint16_t port = 0; ///< the explicit port, else 80 or 443
    std::string target;     ///< path and query, "/" if the URL has no path
    bool secure = false;    ///< wss:// or https://: TLS
    /** The host was an IPv6 literal (`[::1]`), written with brackets in the Host field. */
    bool ipv6_literal = false;

    /// The Host header value: the host (IPv6 in brackets), with ":port" unless it is the default.
    std::string host_header() const
    {
        std::string h = ipv6_literal ? "[" + host + "]" : host;
        if (port != (secure ? 443 : 80)) h += ":" + std::to_string(port);
        return h;
    }
    /// The port as the resolver wants it.
    std::string service() const { return std::to_string(port); }
};

/** Parses `text` into `out`.  Accepts ws, wss, http and https (case-insensitive), a host
    name or IP literal (`[v6]`), an optional port (1-65535) and a path with query.  Fails
    with http::error::bad_url for another scheme, a missing host, user information
    (`user@`), a bad port, a fragment (RFC 6455 §3: fragments are not allowed), or bytes
    that cannot appear in a request line (space, control characters). */
inline std::error_code parse_url(std::string_view text, url& out)
{
    auto const bad = make_error_code(error::bad_url);
    out = url{};
    auto const colon = text.find("://");
    if (colon == std::string_view::npos) return bad;
    for (char c : text.substr(0, colon)) out.scheme += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (out.scheme == "ws" || out.scheme == "http")
        out.secure = false;
    else if (out.scheme == "wss" || out.scheme == "https")
        out.secure = true;
    else
        return bad;
    auto rest = text.substr(colon + 3);
    for (char c : rest)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F || c == '#') return bad;
    auto const path_at = rest.find_first_of("/?");
    auto authority = rest.substr(0, path_at);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return bad;
    std::string_view port_text;
    if (authority.front() == '[') {
        auto const close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return bad;
        out.host.assign(authority.substr(1, close - 1));
        out.ipv6_literal = true;
        for (char c : out.host)
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.'))
                return bad;
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad;
            port_text = after.substr(1);
            if (port_text.empty()) return bad;
        }
    }
    else {
        auto const c = authority.rfind(':');
        out.host.assign(authority.substr(0, c));
        if (c != std::string_view::npos) {
            port_text = authority.substr(c + 1);
            if (port_text.empty()) return bad;
        }
        if (out.host.empty()) return bad;
        for (char ch : out.host)
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '-' ||
                  ch == '.' || ch == '_'))
                return bad;
    }
    if (!port_text.empty()) {
        unsigned p = 0;
        auto const r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
        if (r.ec != std::errc{} || r.ptr != port_text.data() + port_text.size() || p == 0 || p > 65535) return bad;
        out.port = static_cast<std::uint16_t>(p);
    }
    else
        out.port = out.secure ? 443 : 80;
    if (path_at == std::string_view::npos)
        out.target = "/";
    else {
        auto t = rest.substr(path_at);
        out.target = t.front() == '?' ? "/" + std::string(t) : std::string(t);
    }
    return {};
}

} // namespace rtmsg::http
