#pragma once
// Maps request paths to plain handlers, WebSocket routes and static files.
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/http/static_file.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/websocket/connection.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rtmsg::http {

/// A plain handler fills in the response; it runs on the connection's strand.
using handler = std::function<void(request const&, response&)>;

/** The routing table of an http::server.

    A route's path is matched against the request's path (no query string), segment by
    segment:
    - a literal segment matches itself exactly: "/health";
    - `{name}` matches one whole non-empty segment, and the request gets its value
      percent-decoded as `request::param("name")`: "/rooms/{room}" matches "/rooms/lobby";
    - a final `*` matches whatever is left, empty or not (the path is then a prefix), and the
      rest is `request::param("*")`: the route "/api/" followed by `*` matches "/api/" and
      "/api/v1/users" (param "v1/users"), not "/api".
    Literal paths win over patterns; patterns are tried in the order they were added.
    Static-file routes are prefixes (the longest wins).  A path that exists for other methods
    answers 405 with an Allow header; an unknown path answers 404.

    @code
    server.routes().websocket("/rooms/{room}", chat);   // chat.on_upgrade reads u.request.param("room")
    @endcode

    @par Thread safety  Configure before server::listen(); read-only afterwards.
*/
class router {
public:
    /// What a route (or a failed match) is: a plain handler, a WebSocket or SSE route, static
    /// files, or why nothing matched.
    enum class kind { not_found, method_not_allowed, plain, websocket, static_files, sse };

    /// One registered route.
    struct route {
        /// Which kind of route this is.
        kind type = kind::plain;
        std::string method; ///< for plain routes
        std::string path;   ///< exact path, or prefix for static files
        /** The handler of a plain route. */
        http::handler fn;
        /// The behavior of a WebSocket route.
        std::shared_ptr<websocket::behavior> ws;
        /// The behavior of an SSE route.
        std::shared_ptr<sse::behavior> events;
        /// The folder a static-file route serves.
        std::filesystem::path root;
    };

    /// The outcome of match(): the route found, or why none was.
    struct match_result {
        /// What matched: a route's kind, not_found or method_not_allowed.
        kind type = kind::not_found;
        /// The route that matched; null for not_found and method_not_allowed.
        route const* r = nullptr;
        std::string allow; ///< for method_not_allowed
        /// What the route's `{name}` segments captured (copy into request::params).
        std::vector<std::pair<std::string, std::string>> params;
    };

    /** Matches `path` (percent-encoded, no query) against a route path `pattern` (see the
        class documentation); on success appends the captures to `params`. */
    static bool match_path(std::string_view pattern, std::string_view path,
                           std::vector<std::pair<std::string, std::string>>& params)
    {
        if (pattern.find_first_of("{*") == std::string_view::npos) return pattern == path;
        auto const first = params.size();
        while (!pattern.empty()) {
            if (pattern == "*") {
                std::string rest;
                if (!detail::percent_decode(path, rest, false)) break;
                params.emplace_back("*", std::move(rest));
                return true;
            }
            if (pattern.starts_with('{')) {
                auto const close = pattern.find('}');
                if (close == std::string_view::npos) break;
                auto const end = path.find('/');
                auto const segment = path.substr(0, end);
                std::string value;
                if (segment.empty() || !detail::percent_decode(segment, value, false)) break;
                params.emplace_back(std::string(pattern.substr(1, close - 1)), std::move(value));
                pattern.remove_prefix(close + 1);
                path.remove_prefix(segment.size());
                continue;
            }
            // Literal bytes up to the next placeholder.
            // (A `*` that is not the last byte is an ordinary character.)
            auto const lit = pattern.substr(0, std::max<std::size_t>(1, pattern.find_first_of("{*")));
            if (!path.starts_with(lit)) break;
            pattern.remove_prefix(lit.size());
            path.remove_prefix(lit.size());
        }
        if (pattern.empty() && path.empty()) return true;
        params.resize(first);
        return false;
    }

    /// Serves `method path` with `fn`.
    router& handle(std::string method, std::string path, http::handler fn)
    {
        add(kind::plain, std::move(method), std::move(path)).fn = std::move(fn);
        return *this;
    }
    /// Serves `GET path` with `fn`.
    router& get(std::string path, http::handler fn) { return handle("GET", std::move(path), std::move(fn)); }
    /// Serves `POST path` with `fn`.
    router& post(std::string path, http::handler fn) { return handle("POST", std::move(path), std::move(fn)); }

    /// Accepts WebSocket upgrades (GET) on `path`.
    router& websocket(std::string path, websocket::behavior b)
    {
        add(kind::websocket, "GET", std::move(path)).ws = std::make_shared<websocket::behavior>(std::move(b));
        return *this;
    }

    /// Serves a Server-Sent Events stream (GET) on `path`.
    router& sse(std::string path, sse::behavior b)
    {
        add(kind::sse, "GET", std::move(path)).events = std::make_shared<sse::behavior>(std::move(b));
        return *this;
    }

    /// Serves files under `root` for GET/HEAD requests whose path starts with `prefix`
    /// ("/" serves everything not otherwise routed).  Paths are resolved safely
    /// (resolve_static_path): no "..", no encoded traversal, no NUL, nothing outside root.
    router& static_files(std::string prefix, std::filesystem::path root)
    {
        add(kind::static_files, {}, std::move(prefix)).root = std::move(root);
        return *this;
    }

    /// Finds the route for a request.
    match_result match(request const& req) const
    {
        auto const path = req.path();
        match_result res;
        // Literal paths first, then patterns in the order they were added.
        for (bool const patterns : {false, true}) {
            for (auto const& r : routes_) {
                if (r.type == kind::static_files) continue;
                if (is_pattern(r.path) != patterns) continue;
                if (!match_path(r.path, path, res.params)) continue;
                if (r.method == req.method || (r.method == "GET" && req.method == "HEAD" && r.type == kind::plain)) {
                    res.type = r.type;
                    res.r = &r;
                    return res;
                }
                res.params.clear();
                if (!res.allow.empty()) res.allow += ", ";
                res.allow += r.method;
            }
        }
        if (!res.allow.empty()) {
            res.type = kind::method_not_allowed;
            return res;
        }
        // Longest static prefix wins.
        for (auto const& r : routes_) {
            if (r.type != kind::static_files || !path.starts_with(r.path)) continue;
            if (res.r && res.r->path.size() >= r.path.size()) continue;
            res.r = &r;
        }
        if (res.r) {
            if (req.method != "GET" && req.method != "HEAD") {
                res.type = kind::method_not_allowed;
                res.allow = "GET, HEAD";
                res.r = nullptr;
                return res;
            }
            res.type = kind::static_files;
        }
        return res;
    }

private:
    static bool is_pattern(std::string_view p) noexcept { return p.find_first_of("{*") != std::string_view::npos; }

    /// Appends a route of kind `type`; the caller sets what serves it.
    route& add(kind type, std::string method, std::string path)
    {
        auto& r = routes_.emplace_back();
        r.type = type;
        r.method = std::move(method);
        r.path = std::move(path);
        return r;
    }

    std::vector<route> routes_;
};

} // namespace rtmsg::http
