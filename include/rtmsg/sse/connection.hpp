#pragma once
// The server-side view of one SSE stream, and the behavior of an SSE route.
#include <rtmsg/http/request.hpp>
#include <rtmsg/sse/event.hpp>
#include <rtmsg/sse/option.hpp>
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

/** An open SSE stream accepted by http::server.
    @par Thread safety  send(), send_frame() and close() may be called from any thread. */
class connection {
public:
    virtual ~connection() = default;

    /// Queues an event (formatted and copied).
    virtual send_status send(event const& ev) = 0;
    /// Queues preformatted event-stream bytes, shared with other streams.
    virtual send_status send_frame(std::shared_ptr<std::string const> bytes) = 0;
    /// Queues several such events (moved from), to leave in one gathered write.
    virtual send_status send_frames(std::span<std::shared_ptr<std::string const>> frames)
    {
        for (auto& f : frames)
            if (auto const r = send_frame(std::move(f)); r != send_status::queued) return r;
        return send_status::queued;
    }
    /// Flushes what is queued and ends the stream.
    virtual void close() = 0;
    /// Calls `f` on the connection's executor once its queue is empty (call on that executor).
    virtual void on_idle(std::function<void()> f) = 0;
    /// Bytes queued and not yet written.
    virtual std::size_t queued_bytes() const noexcept = 0;
    /// The strand this connection runs on.
    virtual asio::any_io_executor get_executor() const = 0;
    /// True once the server has begun to stop: the stream ends after what is queued for it,
    /// and what an on_idle() callback still hands over.
    virtual bool server_stopping() const noexcept { return false; }

    /// A number unique among the connections of this process.
    std::uint64_t id() const noexcept { return id_; }
    /// The request that opened the stream.  On a route whose behavior has
    /// `keep_request = false`, only until on_open() returns; an empty request after that.
    http::request const& request() const noexcept
    {
        static http::request const none;
        return request_ ? *request_ : none;
    }
    /// Last-Event-ID header, or lastEventId query parameter, if the client sent one.
    std::optional<std::string> const& last_event_id() const noexcept { return last_event_id_; }
    /// The client's address and port.
    asio::ip::tcp::endpoint const& remote_endpoint() const noexcept { return remote_; }
    /// What the admission hook attached (a session object of the host's); empty if nothing.
    std::any& user_data() noexcept { return user_data_; }
    /// What the admission hook attached (see the non-const overload).
    std::any const& user_data() const noexcept { return user_data_; }
    /// Who the peer is, as the admission hook established it (upgrade_decision::accept_as); null: anonymous.
    peer_identity_ptr const& peer() const noexcept { return peer_; }
    /// The peer's identity; empty if anonymous.
    std::string_view identity() const noexcept { return peer_ ? std::string_view(peer_->id) : std::string_view{}; }

protected:
    connection() : id_(next_id()) {}

    std::unique_ptr<http::request const> request_; ///< see request()
    /** See last_event_id(); set by the session before on_open. */
    std::optional<std::string> last_event_id_;
    /// See remote_endpoint(); set by the session before on_open.
    asio::ip::tcp::endpoint remote_;
    /// See user_data(); set by the session before on_open.
    std::any user_data_;
    /// See peer(); set by the session before on_open.
    peer_identity_ptr peer_;

private:
    static std::uint64_t next_id() noexcept
    {
        // Shares the number space with WebSocket connections so that ids never collide.
        static std::atomic<std::uint64_t> n{1ull << 62};
        return ++n;
    }
    std::uint64_t id_;
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
