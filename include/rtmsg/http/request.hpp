#pragma once
// A parsed HTTP/1.x request and the questions a server asks of it.
#include <rtmsg/http/detail/url.hpp>
#include <rtmsg/http/fields.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtmsg::http {

/** An HTTP/1.0 or HTTP/1.1 request, as produced by `request_parser`.

    The parser guarantees: `method` is a token, `target` is printable ASCII in origin-form (`/path?query`),
    absolute-form (`http://host/path?query`) or asterisk-form (`*`, OPTIONS only); `version` is 10 or 11;
    field names are tokens and values hold no control characters; `body` is the decoded body (chunked
    framing removed). The accessors below also work on requests built by hand.

    @par Thread safety
    Distinct objects: Safe. Shared objects: Unsafe.
*/
struct request {
    std::string method;    ///< case-sensitive (RFC 9110 §9.1): "GET", not "get"
    std::string target;    ///< the request-target exactly as received, still percent-encoded
    unsigned version = 11; ///< 10 for HTTP/1.0, 11 for HTTP/1.1
    fields headers;        ///< every header field line, in order
    std::string body;      ///< the message body (empty if none)
    /// What the matching route's `{name}` segments (and a trailing `*`) captured, percent-decoded,
    /// in path order; set by the router before any handler or hook runs (see param()).
    std::vector<std::pair<std::string, std::string>> params;

    /** The value the route's `{name}` segment captured, e.g. "lobby" for the route
        "/rooms/{room}" and the path "/rooms/lobby"; `param("*")` is what a trailing `*`
        matched.  nullopt if the route has no such segment.  Points into `params`. */
    std::optional<std::string_view> param(std::string_view name) const noexcept
    {
        for (auto const& [k, v] : params)
            if (k == name) return std::string_view(v);
        return std::nullopt;
    }

    /** Whether the connection stays open after the response (RFC 9112 §9.3).

        HTTP/1.1: yes, unless a Connection header has the token "close".
        HTTP/1.0: only if a Connection header has "keep-alive" and none has "close".
    */
    bool keep_alive() const noexcept
    {
        if (headers.has_token("Connection", "close")) return false;
        if (version >= 11) return true;
        return headers.has_token("Connection", "keep-alive");
    }

    /** The path part of the target: everything before the first `?`, still percent-encoded.

        For absolute-form (`http://host/a?b`) the scheme and authority are skipped, giving "/a", and "/" if
        the URI has no path. Asterisk-form gives "*". The view points into `target`.
    */
    std::string_view path() const noexcept
    {
        std::string_view t = target;
        t = t.substr(0, t.find('?'));
        if (t.empty() || t.front() == '/' || t == "*") return t;
        // absolute-form: scheme "://" authority path-abempty (RFC 9112 §3.2.2, RFC 3986 §3)
        auto const scheme_end = t.find("://");
        if (scheme_end == std::string_view::npos) return t;
        auto const path_start = t.find('/', scheme_end + 3);
        if (path_start == std::string_view::npos) return "/";
        return t.substr(path_start);
    }

    /// Everything after the first `?` of the target (without the `?`), still encoded; empty if none.
    std::string_view query() const noexcept
    {
        std::string_view t = target;
        auto const q = t.find('?');
        return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
    }

    /** The value of the first query parameter called `name`, percent-decoded with `+` as space.

        The query is split on `&` into `key=value` pairs (a pair without `=` has an empty value); keys are
        decoded before comparing them, case-sensitively, with `name`. Pairs that are not valid
        percent-encoding are skipped.

        @par Example
        For the target `/search?q=caf%C3%A9+au+lait&x`, `query_param("q")` is "café au lait",
        `query_param("x")` is "" and `query_param("y")` is nullopt.
    */
    std::optional<std::string> query_param(std::string_view name) const
    {
        std::string_view rest = query();
        std::string key;
        while (!rest.empty()) {
            auto const amp = rest.find('&');
            auto const pair = rest.substr(0, amp);
            rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
            if (pair.empty()) continue;
            auto const eq = pair.find('=');
            key.clear();
            if (!detail::percent_decode(pair.substr(0, eq), key, true) || key != name) continue;
            std::string value;
            if (eq != std::string_view::npos && !detail::percent_decode(pair.substr(eq + 1), value, true)) continue;
            return value;
        }
        return std::nullopt;
    }

    /** The value of the first cookie called `name` in the Cookie header(s) (RFC 6265 §5.4).

        Pairs are separated by `;`, names are compared case-sensitively, whitespace around pairs is ignored,
        and a value in double quotes is returned without them. Values are not percent-decoded: cookies have
        no defined encoding, so decode them yourself if your application encoded them.
    */
    std::optional<std::string> cookie(std::string_view name) const
    {
        for (auto const& f : headers) {
            if (!iequals(f.name, "Cookie")) continue;
            std::string_view rest = f.value;
            while (!rest.empty()) {
                auto const semi = rest.find(';');
                auto const pair = trim_ows(rest.substr(0, semi));
                rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
                auto const eq = pair.find('=');
                if (eq == std::string_view::npos || trim_ows(pair.substr(0, eq)) != name) continue;
                auto value = trim_ows(pair.substr(eq + 1));
                if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
                    value = value.substr(1, value.size() - 2);
                return std::string(value);
            }
        }
        return std::nullopt;
    }

    /** Whether this is a request to switch to `protocol` (RFC 9110 §7.8), e.g. `is_upgrade("websocket")`.

        True when a Connection header has the token "upgrade" and an Upgrade header has the token `protocol`
        (both case-insensitive). Always false for HTTP/1.0, whose Upgrade headers a server MUST ignore
        (RFC 9110 §7.8). Checking the method and the protocol's own headers is the caller's job.
    */
    bool is_upgrade(std::string_view protocol) const noexcept
    {
        return version >= 11 && headers.has_token("Connection", "upgrade") && headers.has_token("Upgrade", protocol);
    }
};

} // namespace rtmsg::http
