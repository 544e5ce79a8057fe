#pragma once
// What every server-side connection is, WebSocket or SSE: the part the hub's endpoints and a
// host's code use without knowing which (queue shared frames, wait for the queue to drain,
// end it, who the peer is).
#include <rtmsg/identity.hpp>
#include <rtmsg/transport/send_status.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <any>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace rtmsg::transport {

/** One connection accepted by http::server: the base of websocket::connection and
    sse::connection.

    @par Thread safety  send_frame(), send_frames(), end() and the accessors may be called
    from any thread; on_idle() on the connection's executor.  Callbacks for one connection
    never run concurrently. */
class connection {
public:
    virtual ~connection() = default;

    /** Queues bytes already in the connection's wire format (a WebSocket frame, an SSE
        event), shared with other connections: the hub frames a message once and hands the
        same bytes to each subscriber.  Safe from any thread. */
    virtual send_status send_frame(std::shared_ptr<std::string const> frame) = 0;

    /** Queues several such frames (moved from), to leave in one gathered write.  Stops at the
        first that is not queued (dropped: over the hard limit; closed) and reports it; a
        backpressure answer queues the rest and is reported at the end. */
    virtual send_status send_frames(std::span<std::shared_ptr<std::string const>> frames)
    {
        auto result = send_status::queued;
        for (auto& f : frames) {
            auto const r = send_frame(std::move(f));
            if (r == send_status::closed || r == send_status::dropped) return r;
            if (r == send_status::backpressure) result = r;
        }
        return result;
    }

    /// Calls `f` on the connection's executor once its queue is empty (call on that executor).
    virtual void on_idle(std::function<void()> f) = 0;

    /** Ends the connection after what is queued: a WebSocket sends a close frame with `code`
        and `reason` (websocket::connection::close); an SSE stream, which has no close code,
        ends its response (sse::connection::close).  Safe from any thread. */
    virtual void end(std::uint16_t code, std::string_view reason) = 0;

    /// Bytes queued and not yet written.
    virtual std::size_t queued_bytes() const noexcept = 0;

    /// The executor (a strand) this connection's callbacks run on.
    virtual asio::any_io_executor get_executor() const = 0;

    /// True once the server has begun to stop: the connection ends after what is queued for
    /// it and what an on_idle() callback still hands over.
    virtual bool server_stopping() const noexcept { return false; }

    /// A process-unique id, WebSocket and SSE alike, for logs and maps.
    std::uint64_t id() const noexcept { return id_; }
    /// The peer's address.
    asio::ip::tcp::endpoint const& remote_endpoint() const noexcept { return remote_; }

    /// What the upgrade hook attached (a session object of the host's); empty if nothing.
    std::any& user_data() noexcept { return user_data_; }
    /// What the upgrade hook attached (see the non-const overload).
    std::any const& user_data() const noexcept { return user_data_; }

    /** The state the route's behavior keeps for this connection, so that it needs no map of
        its own from connection to state (the hub's endpoints keep their per-connection
        session here, set in on_open and released in on_close).  Used only from the
        behavior's callbacks, which run on the connection's executor one at a time; not the
        host's slot (that is user_data()). */
    std::shared_ptr<void>& behavior_state() noexcept { return behavior_state_; }

    /// Who the peer is, as the upgrade hook established it (upgrade_decision::accept_as); null: anonymous.
    peer_identity_ptr const& peer() const noexcept { return peer_; }
    /// The peer's identity; empty if anonymous.
    std::string_view identity() const noexcept { return peer_ ? std::string_view(peer_->id) : std::string_view{}; }

protected:
    connection() : id_(next_id()) {}

    /// See remote_endpoint(); set by the session before on_open.
    asio::ip::tcp::endpoint remote_;
    /// See user_data(); set by the session before on_open.
    std::any user_data_;
    /// See peer(); set by the session before on_open.
    peer_identity_ptr peer_;
    /// See behavior_state().
    std::shared_ptr<void> behavior_state_;

private:
    static std::uint64_t next_id() noexcept
    {
        static std::atomic<std::uint64_t> n{0};
        return ++n;
    }
    std::uint64_t id_;
};

} // namespace rtmsg::transport
