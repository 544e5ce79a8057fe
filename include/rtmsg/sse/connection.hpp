#pragma once
// The server-side view of one SSE stream, and the behavior of an SSE route.
#include <rtmsg/http/request.hpp>
#include <rtmsg/sse/event.hpp>
#include <rtmsg/sse/option.hpp>
#include <rtmsg/transport/connection.hpp>
#include <rtmsg/transport/send_status.hpp>
#include <rtmsg/transport/upgrade.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <any>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace rtmsg::sse {

/** An open SSE stream accepted by http::server; what it shares with a WebSocket
    connection (send_frame, on_idle, id, peer, ...) is transport::connection's.
    @par Thread safety  send(), send_frame() and close() may be called from any thread. */
class connection : public transport::connection {
public:
    /// Queues an event (formatted and copied).
    virtual send_status send(event const& ev) = 0;
    /// Flushes what is queued and ends the stream.
    virtual void close() = 0;
    /// transport::connection's end(): close(); an event stream has no close code.
    void end(std::uint16_t, std::string_view) final { close(); }

    /// The request that opened the stream.  On a route whose behavior has
    /// `keep_request = false`, only until on_open() returns; an empty request after that.
    http::request const& request() const noexcept
    {
        static http::request const none;
        return request_ ? *request_ : none;
    }
    /// Last-Event-ID header, or lastEventId query parameter, if the client sent one.
    std::optional<std::string> const& last_event_id() const noexcept { return last_event_id_; }

protected:
    connection() = default;

    std::unique_ptr<http::request const> request_; ///< see request()
    /** See last_event_id(); set by the session before on_open. */
    std::optional<std::string> last_event_id_;
};

using connection_ptr = std::shared_ptr<connection>;

/// What an SSE route does.  Every member is optional.
struct behavior {
    /// Settings of the route's streams (heartbeat, retry, queue bounds).
    sse::options options;
    /** Authentication / admission before the stream starts (refuse with a status); the
        same hook, under the same name, as websocket::behavior::on_upgrade. */
    std::function<upgrade_decision(upgrade_request const&)> on_upgrade;
    /** The old name of on_upgrade, used only when on_upgrade is empty; to be removed.  Not
        marked [[deprecated]]: GCC 12 would then warn wherever a behavior is copied. */
    std::function<upgrade_decision(upgrade_request const&)> on_request;
    /** The stream is open; `c->last_event_id()` says where to resume.  Runs just before the
        response head is written: what it sends follows the head, and whatever it subscribes
        to is in place by the time the client sees the stream open (EventSource's `open`). */
    std::function<void(connection_ptr const&)> on_open;
    /// The stream ended (client gone, error, or close()).
    std::function<void(connection_ptr const&)> on_close;
    /** Whether connection::request() stays available for the stream's whole life.  false:
        only until on_open() returns.  A long-lived stream then does not hold its request
        (method, target and every header field: a browser's request takes 0.5 – 1 KB); the
        hub's sse_endpoint() takes what it needs in on_open() and sets this to false. */
    bool keep_request = true;
};

} // namespace rtmsg::sse
