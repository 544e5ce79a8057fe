#pragma once
// The server-side view of one WebSocket connection, and the behavior a route gives it:
// what the HTTP server hands to application code.  The transport type (TCP or TLS) is
// erased here so that one set of callbacks serves ws:// and wss://.
#include <rtmsg/http/request.hpp>
#include <rtmsg/identity.hpp>
#include <rtmsg/transport/batch.hpp>
#include <rtmsg/transport/connection.hpp>
#include <rtmsg/transport/upgrade.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/http/status.hpp>
#include <rtmsg/websocket/frame.hpp>
#include <rtmsg/transport/send_status.hpp>
#include <rtmsg/websocket/error.hpp>
#include <rtmsg/websocket/option.hpp>
#include <rtmsg/websocket/permessage_deflate.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <any>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rtmsg::websocket {

using rtmsg::send_status;

/** An open WebSocket connection accepted by http::server.

    @par Thread safety  send(), close() and the accessors may be called from any thread.
    Callbacks for one connection never run concurrently.
*/
class connection : public transport::connection {
public:
    /// Queues a message (copied); see stream::send.  Safe from any thread.
    virtual send_status send(message_type type, std::string_view payload) = 0;
    /// Queues a text message (copied); safe from any thread.
    send_status send_text(std::string_view text) { return send(message_type::text, text); }
    /// Queues a binary message (copied); safe from any thread.
    send_status send_binary(std::string_view bytes) { return send(message_type::binary, bytes); }

    /// Starts the closing handshake (safe from any thread).
    virtual void close(std::uint16_t code = close_code::normal, std::string_view reason = {}) = 0;
    /// transport::connection's end(): the closing handshake with `code` and `reason`.
    void end(std::uint16_t code, std::string_view reason) final { close(code, reason); }

    /** The permessage-deflate parameters agreed with this peer; empty if it does not
        compress.  With `server_no_context_takeover` the hub sends it frames compressed once
        for every such subscriber (see docs/compression.md). */
    virtual std::optional<deflate_params> compression() const noexcept { return std::nullopt; }

    /** In on_message: the read batch of this message (see websocket::stream::batch()),
        while more messages of the same read follow it or work deferred in it waits; null
        otherwise.  Good until on_message returns.  Pass it to hub::publish so that the
        subscribers are woken once per batch rather than once per message. */
    virtual transport::read_batch* batch() noexcept { return nullptr; }

    /// The request target of the upgrade ("/chat?room=x").
    std::string const& target() const noexcept { return target_; }
    /// The subprotocol agreed in the handshake; empty if none.
    std::string const& subprotocol() const noexcept
    {
        static std::string const none;
        return subprotocol_ ? *subprotocol_ : none;
    }

protected:
    connection() = default;

    /// Sets what subprotocol() answers.
    void set_subprotocol(std::string s)
    {
        subprotocol_ = s.empty() ? nullptr : std::make_unique<std::string const>(std::move(s));
    }

    /// See target(); set by the session before on_open.
    std::string target_;

private:
    // Most connections agree on none: a pointer costs them 8 bytes instead of 32.
    std::unique_ptr<std::string const> subprotocol_;
};

using connection_ptr = std::shared_ptr<connection>;

/// The upgrade hook's vocabulary (rtmsg::upgrade_request, rtmsg::upgrade_decision), shared with SSE routes.
using rtmsg::upgrade_decision;
using rtmsg::upgrade_request;

/// A received message.  `data` is valid only during the callback.
struct message_view {
    /// Text or binary.
    message_type type;
    /// The payload, whole (reassembled from its frames).
    std::string_view data;
    /// True for a text message (valid UTF-8).
    bool is_text() const noexcept { return type == message_type::text; }
};

/** What a WebSocket route does.  Every member is optional.

    @code
    rtmsg::websocket::behavior echo;
    echo.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    server.routes().websocket("/echo", echo);
    @endcode
*/
struct behavior {
    /// Limits and timers of the connections on this route.
    websocket::options options;
    /// Allows or refuses the request's Origin (absent Origin: empty string).  Refused: 403.
    std::function<bool(std::string_view origin)> check_origin;
    /// Picks one of the offered subprotocols (client's order); empty: none.
    std::function<std::string(std::vector<std::string_view> const& offered)> select_subprotocol;
    /// Authentication and admission: runs after the RFC 6455 checks, before the 101.
    std::function<upgrade_decision(upgrade_request const&)> on_upgrade;
    /** The connection is open.  Runs before the 101 leaves: what it sends follows the 101,
        and what it subscribes to is in place when the client sees the connection open.  If
        the 101 cannot be written, on_close follows (1006). */
    std::function<void(connection_ptr const&)> on_open;
    /// A complete message arrived.
    std::function<void(connection_ptr const&, message_view)> on_message;
    /// The connection ended: the peer's close code (1006 if it vanished) and reason.
    std::function<void(connection_ptr const&, std::uint16_t code, std::string_view reason)> on_close;
};

} // namespace rtmsg::websocket
