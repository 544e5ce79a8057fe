#pragma once
// Maps request paths to plain handlers, WebSocket routes and static files.
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/http/static_file.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/websocket/connection.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rtmsg::http {

/// A plain handler fills in the response; it runs on the connection's strand.
using handler = std::function<void(request const&, response&)>;

/** The routing table of an http::server.

    Paths match exactly (no query string), except static-file prefixes.  A path that exists
    for other methods answers 405 with an Allow header; an unknown path answers 404.

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
    };

    /// Serves `method path` with `fn`.
    router& handle(std::string method, std::string path, http::handler fn)
    {
        route r;
        r.method = std::move(method);
        r.path = std::move(path);
        r.fn = std::move(fn);
        routes_.push_back(std::move(r));
        return *this;
    }
    /// Serves `GET path` with `fn`.
    router& get(std::string path, http::handler fn) { return handle("GET", std::move(path), std::move(fn)); }
    /// Serves `POST path` with `fn`.
    router& post(std::string path, http::handler fn) { return handle("POST", std::move(path), std::move(fn)); }

    /// Accepts WebSocket upgrades (GET) on `path`.
    router& websocket(std::string path, websocket::behavior b)
    {
        route r;
        r.type = kind::websocket;
        r.method = "GET";
        r.path = std::move(path);
        r.ws = std::make_shared<websocket::behavior>(std::move(b));
        routes_.push_back(std::move(r));
        return *this;
    }

    /// Serves a Server-Sent Events stream (GET) on `path`.
    router& sse(std::string path, sse::behavior b)
    {
        route r;
        r.type = kind::sse;
        r.method = "GET";
        r.path = std::move(path);
        r.events = std::make_shared<sse::behavior>(std::move(b));
        routes_.push_back(std::move(r));
        return *this;
    }

    /// Serves files under `root` for GET/HEAD requests whose path starts with `prefix`
    /// ("/" serves everything not otherwise routed).  Paths are resolved safely
    /// (resolve_static_path): no "..", no encoded traversal, no NUL, nothing outside root.
    router& static_files(std::string prefix, std::filesystem::path root)
    {
        route r;
        r.type = kind::static_files;
        r.path = std::move(prefix);
        r.root = std::move(root);
        routes_.push_back(std::move(r));
        return *this;
    }

    /// Finds the route for a request.
    match_result match(request const& req) const
    {
        auto const path = req.path();
        match_result res;
        for (auto const& r : routes_) {
            if (r.type == kind::static_files) continue;
            if (r.path != path) continue;
            if (r.method == req.method || (r.method == "GET" && req.method == "HEAD" && r.type == kind::plain)) {
                res.type = r.type;
                res.r = &r;
                return res;
            }
            if (!res.allow.empty()) res.allow += ", ";
            res.allow += r.method;
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
    std::vector<route> routes_;
};

} // namespace rtmsg::http
