#pragma once
// The auth example's server: protocol_endpoint with JWT authentication in
// on_upgrade and per-topic authorization in the hub's can_subscribe /
// can_publish hooks.
#include "jwt.hpp"

#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace auth_example {

/// The bearer token of a request: `Authorization: Bearer <jwt>`, else
/// `?access_token=<jwt>`.
inline std::string_view bearer_token(rtmsg::http::request const& req)
{
    if (auto const h = req.headers.find("Authorization")) {
        std::string_view v = *h;
        if (v.size() > 7 && rtmsg::http::iequals(v.substr(0, 7), "Bearer ")) return v.substr(7);
        return {};
    }
    auto const q = req.query();
    for (std::size_t pos = 0; pos < q.size();) {
        auto const end = std::min(q.find('&', pos), q.size());
        auto const pair = q.substr(pos, end - pos);
        if (pair.starts_with("access_token=")) return pair.substr(13);
        pos = end + 1;
    }
    return {};
}

inline bool has_prefix(std::vector<std::string> const& prefixes, std::string_view topic)
{
    for (auto const& p : prefixes)
        if (topic.starts_with(p)) return true;
    return false;
}

/// Permissions of the identities currently connected, from their tokens.
class permissions {
public:
    void set(claims const& c)
    {
        std::lock_guard<std::mutex> lock(m_);
        auto& e = by_subject_[c.subject];
        e.publish = c.publish;
        e.subscribe = c.subscribe;
    }
    bool may_publish(std::string_view who, std::string_view topic) const
    {
        std::lock_guard<std::mutex> lock(m_);
        auto it = by_subject_.find(std::string(who));
        return it != by_subject_.end() && has_prefix(it->second.publish, topic);
    }
    /// Everyone may read "public." topics and its own "user.<sub>." topics; more
    /// if the token says.
    bool may_subscribe(std::string_view who, std::string_view pattern) const
    {
        if (who.empty()) return false;
        if (pattern.starts_with("public.") || pattern.starts_with("user." + std::string(who) + ".")) return true;
        std::lock_guard<std::mutex> lock(m_);
        auto it = by_subject_.find(std::string(who));
        return it != by_subject_.end() && has_prefix(it->second.subscribe, pattern);
    }

private:
    struct entry {
        std::vector<std::string> publish, subscribe;
    };
    mutable std::mutex m_;
    std::map<std::string, entry, std::less<>> by_subject_;
};

/// The example application: a hub and a server with one authenticated route,
/// /ws.
struct secured_app {
    secured_app(asio::any_io_executor ex, std::string key, std::vector<std::string> allowed_origins = {})
        : perms(std::make_shared<permissions>()), hub(make_hub_options(perms)), server(std::move(ex))
    {
        rtmsg::websocket::behavior b;
        b.options.max_message_size = 64 * 1024;
        if (!allowed_origins.empty())
            b.check_origin = [allowed_origins](std::string_view origin) {
                for (auto const& o : allowed_origins)
                    if (origin == o) return true;
                return false;
            };
        b.on_upgrade = [key = std::move(key), p = perms](rtmsg::websocket::upgrade_request const& r) {
            auto const token = bearer_token(r.request);
            if (token.empty()) return unauthorized("a bearer token is required");
            claims c;
            if (auto e = verify_hs256(token, key, c); e != jwt_error::none) return unauthorized(to_string(e));
            p->set(c);
            // The token's subject is the identity: presence, the hooks' peer_info, and
            // the attested sender of what this client publishes.
            return rtmsg::websocket::upgrade_decision::accept_as(c.subject);
        };
        server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, std::move(b)));
    }

    static rtmsg::websocket::upgrade_decision unauthorized(std::string_view why)
    {
        auto d = rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::unauthorized, why);
        d.refusal.headers.add("WWW-Authenticate", "Bearer realm=\"rtmsg\"");
        return d;
    }

    static rtmsg::hub_options make_hub_options(std::shared_ptr<permissions> const& p)
    {
        rtmsg::hub_options o;
        o.can_subscribe = [p](rtmsg::peer_info const& peer, std::string_view pattern) {
            return p->may_subscribe(peer.identity, pattern);
        };
        o.can_publish = [p](rtmsg::peer_info const& peer, std::string_view topic) {
            return p->may_publish(peer.identity, topic);
        };
        return o;
    }

    std::shared_ptr<permissions> perms;
    rtmsg::hub hub;
    rtmsg::http::server server;
};

} // namespace auth_example
