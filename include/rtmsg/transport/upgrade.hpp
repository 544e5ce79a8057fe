#pragma once
// The admission vocabulary of every upgrade-like route (WebSocket upgrades, SSE streams): what
// the host's hook sees of the request and what it answers.
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/http/status.hpp>
#include <rtmsg/identity.hpp>

#include <asio/ip/tcp.hpp>

#include <any>
#include <string>
#include <string_view>

namespace rtmsg {

/// What the upgrade hook sees: the whole request (method, target, query, headers,
/// cookies) and the peer's address.
struct upgrade_request {
    /// The upgrade request.
    http::request const& request;
    /// The peer's address and port.
    asio::ip::tcp::endpoint remote;
};

/** The upgrade hook's answer: accept (optionally with the peer's identity and data of the
    host's own), or refuse with an HTTP status and body.

    @code
    ws.on_upgrade = [](rtmsg::upgrade_request const& u) {
        auto user = check_token(u.request.query_param("token"));  // the host's own check
        if (!user) return rtmsg::upgrade_decision::refuse(rtmsg::http::status::unauthorized);
        return rtmsg::upgrade_decision::accept_as(user->id, user->public_json, *user);
    };
    @endcode */
struct upgrade_decision {
    /// True: the upgrade goes ahead.
    bool accepted = true;
    /// Anything the host wants to keep with the connection (connection::user_data()).
    std::any user_data;
    /// The peer's identity (connection::peer()): presence, authorization, and the attested
    /// sender of what it publishes.  Empty: anonymous.
    std::string identity;
    /// Optional JSON value shown to subscribers with each publication (peer_identity::info).
    std::string info;
    /// The response of a refusal.
    http::response refusal;

    /// Accepts an anonymous peer, keeping `data` with the connection.
    static upgrade_decision accept(std::any data = {})
    {
        upgrade_decision d;
        d.user_data = std::move(data);
        return d;
    }
    /** A string is not an identity by accident: say accept_as(identity) for that, or
        accept(std::any(text)) to keep a string as user data. */
    static upgrade_decision accept(std::string data) = delete;
    /// Accepts the peer as `identity`, with optional `info` (one JSON value) and data of the host's.
    static upgrade_decision accept_as(std::string identity, std::string info = {}, std::any data = {})
    {
        upgrade_decision d;
        d.identity = std::move(identity);
        d.info = std::move(info);
        d.user_data = std::move(data);
        return d;
    }
    /// Refuses with `code` and a plain-text body (the reason phrase if `body` is empty).
    static upgrade_decision refuse(http::status code, std::string_view body = {})
    {
        upgrade_decision d;
        d.accepted = false;
        d.refusal = http::error_response(code, body.empty() ? http::reason_phrase(code) : body);
        return d;
    }
    /// The identity record to attach to the connection (null when anonymous and without info).
    peer_identity_ptr peer() const { return make_peer_identity(identity, info); }
};

} // namespace rtmsg
