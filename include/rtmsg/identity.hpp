#pragma once
// Who is at the other end of a connection, as the server established it.
#include <memory>
#include <string>

namespace rtmsg {

/** Who is at the other end of a connection, as the server's upgrade hook established it
    (websocket::upgrade_decision::accept_as).  Clients cannot set or change it.

    The hub uses `id` for presence, for authorization (rtmsg::peer_info) and for the
    per-identity publish rate limit, and attaches the whole record to every message the
    connection publishes: subscribers receive it as the message's `from` (docs/protocol.md),
    a sender no client can forge. */
struct peer_identity {
    /// The identity ("alice", a user id, a token's subject); empty: anonymous.
    std::string id;
    /// Optional client information shown to subscribers with each publication: one JSON value
    /// (`{"name":"Alice","color":"#e33"}`), checked when messages are encoded; empty: none.
    std::string info;
};

/// Shared and immutable: a connection, its hub queue and every message it published hold the same record.
using peer_identity_ptr = std::shared_ptr<peer_identity const>;

/// A shared record of `id` and `info`, or null when both are empty (an anonymous peer costs nothing).
inline peer_identity_ptr make_peer_identity(std::string id, std::string info = {})
{
    if (id.empty() && info.empty()) return nullptr;
    return std::make_shared<peer_identity const>(peer_identity{std::move(id), std::move(info)});
}

} // namespace rtmsg
