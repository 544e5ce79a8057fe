#pragma once
// The machinery of http::server (server/server.hpp): the accept loop, the HTTP session of
// each connection, and the WebSocket and SSE connections it upgrades to.  Included by
// server.hpp in header-only builds; with RTMSG_SEPARATE_COMPILATION, compiled once by
// <rtmsg/src.hpp>, and included by a unit that serves a stream type of its own.
#include <rtmsg/server/server.hpp>

#include <rtmsg/config.hpp>
#include <rtmsg/detail/executor.hpp>
#include <rtmsg/detail/message_buffer.hpp>
#include <rtmsg/error.hpp>
#include <rtmsg/http/error.hpp>
#include <rtmsg/http/parser.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/server/router.hpp>
#include <rtmsg/http/static_file.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/sse/stream.hpp>
#include <rtmsg/transport/stream.hpp>
#include <rtmsg/transport/teardown.hpp>
#include <rtmsg/websocket/connection.hpp>
#include <rtmsg/websocket/handshake.hpp>
#include <rtmsg/websocket/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/dispatch.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#endif
namespace rtmsg {

/// The server side of a stream's own handshake before HTTP starts: nothing for TCP.  The
/// TLS overload is in <rtmsg/transport/ssl.hpp>; add one (found by ADL through role_type)
/// for your own stream type.
template <class Protocol, class Executor, class CompletionToken>
auto async_accept_layer(role_type, asio::basic_stream_socket<Protocol, Executor>& s, CompletionToken&& token)
{
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [](auto handler, asio::any_io_executor ex) {
            auto hex = asio::get_associated_executor(handler, ex);
            asio::post(hex, [h = std::move(handler)]() mutable { h(std::error_code{}); });
        },
        token, asio::any_io_executor(s.get_executor()));
}

} // namespace rtmsg

namespace rtmsg::http {

namespace detail {

/// Something the server can end when it stops.
class closable {
public:
    /// Begins a graceful close (flush, then close).  Any thread.
    virtual void shutdown() = 0;
    /// Closes the transport at once.  Any thread.
    virtual void abort() = 0;
    /// A reference that keeps it alive; null once its destruction has begun.
    virtual std::shared_ptr<closable> lock_closable() noexcept = 0;

protected:
    ~closable() = default;

private:
    friend struct server_state;
    // Links in server_state's list of live connections (under its mutex): an intrusive list
    // costs each connection these 16 bytes instead of a hash node of its own (about 56).
    closable* prev_ = nullptr;
    closable* next_ = nullptr;
};

/** A descriptor held back for the moment the process runs out of them (EMFILE): closing it
    lets the server accept one waiting connection, answer 503 and close it, instead of leaving
    clients in the kernel's backlog until descriptors free up. */
class reserve_descriptor {
public:
    reserve_descriptor() { take(); }
    ~reserve_descriptor() { give_back(); }
    reserve_descriptor(reserve_descriptor const&) = delete;
    reserve_descriptor& operator=(reserve_descriptor const&) = delete;

    /// Refuses the connections waiting on `listener` with `response`; how many it refused.
    std::size_t refuse_waiting(int listener, std::string_view response)
    {
        std::size_t n = 0;
#if defined(__unix__) || defined(__APPLE__)
        std::lock_guard<std::mutex> lock(m_);
        for (;;) {
            give_back();
            int const fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) break;
            // Read what the client sent already: closing with unread data would reset the
            // connection, and the client could lose the answer.
            char sink[4096];
            while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {}
            (void)::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::shutdown(fd, SHUT_WR);
            ::close(fd);
            ++n;
            take();
            if (fd_ < 0) break;
        }
        take();
#else
        (void)listener;
        (void)response;
#endif
        return n;
    }

private:
    void take()
    {
#if defined(__unix__) || defined(__APPLE__)
        if (fd_ < 0) fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
#endif
    }
    void give_back()
    {
#if defined(__unix__) || defined(__APPLE__)
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
#endif
    }
    std::mutex m_;
    int fd_ = -1;
};

struct server_state {
    explicit server_state(asio::any_io_executor e, server_options o) : ex(std::move(e)), opt(std::move(o)) {}

    reserve_descriptor reserve;

    asio::any_io_executor ex;
    server_options opt;
    http::router routes;
    std::atomic<std::size_t> connections{0};
    std::mutex per_ip_mutex;
    std::unordered_map<std::string, std::size_t> per_ip; ///< only with max_connections_per_ip

    /// Counts a connection from `ip`; false (and not counted) if that address is at its limit.
    bool add_ip(std::string const& ip)
    {
        std::lock_guard<std::mutex> lock(per_ip_mutex);
        auto& n = per_ip[ip];
        if (n >= opt.max_connections_per_ip) {
            if (n == 0) per_ip.erase(ip);
            return false;
        }
        ++n;
        return true;
    }
    void remove_ip(std::string const& ip)
    {
        std::lock_guard<std::mutex> lock(per_ip_mutex);
        auto it = per_ip.find(ip);
        if (it != per_ip.end() && --it->second == 0) per_ip.erase(it);
    }
    std::atomic<bool> stopping{false};
    std::mutex mutex;
    closable* live = nullptr; ///< the connections, linked through closable (under `mutex`)
    std::vector<std::shared_ptr<asio::ip::tcp::acceptor>> acceptors;
    /// Runs from stop() until the last connection is gone or shutdown_timeout passes.
    std::shared_ptr<asio::steady_timer> drain_timer;

    void add(closable* c)
    {
        std::lock_guard<std::mutex> lock(mutex);
        RTMSG_ASSERT(!c->prev_ && !c->next_ && live != c);
        c->next_ = live;
        if (live) live->prev_ = c;
        live = c;
    }
    /// Unlinks `c` if it was added (any number of times).
    void remove(closable* c)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (c->prev_ || live == c) {
            (c->prev_ ? c->prev_->next_ : live) = c->next_;
            if (c->next_) c->next_->prev_ = c->prev_;
            c->prev_ = c->next_ = nullptr;
        }
        // The last connection is gone: no need to wait for the deadline (run() may return).
        if (!live && drain_timer) {
            asio::post(drain_timer->get_executor(), [t = drain_timer] { t->cancel(); });
            drain_timer.reset();
        }
    }
    /// The live connections that are not being destroyed (call with `mutex` held).
    std::vector<std::shared_ptr<closable>> lock_live() const
    {
        std::vector<std::shared_ptr<closable>> v;
        for (auto* c = live; c; c = c->next_)
            if (auto p = c->lock_closable()) v.push_back(std::move(p));
        return v;
    }
};

/// The strand of one connection.  On an io_context (the usual case) it wraps the context's
/// own executor rather than the type-erased one, so every post and dispatch of the
/// connection skips one level of any_io_executor indirection.
inline asio::any_io_executor connection_strand(asio::any_io_executor const& ex)
{
    if (auto const* io = rtmsg::detail::executor_target<asio::io_context::executor_type>(ex))
        return asio::make_strand(*io);
    return asio::make_strand(ex);
}

/// The executor a new connection runs on: its own strand, or the server's executor itself
/// when one thread runs it (server_options::single_threaded).
inline asio::any_io_executor connection_executor(asio::any_io_executor const& ex, bool single_threaded)
{
    return single_threaded ? ex : connection_strand(ex);
}

/// The stream factory of a plain listen(): the accepted socket itself, whatever executor it
/// is typed on (see server::accept).
struct plain_socket {
    template <class Socket>
    Socket operator()(Socket&& s) const
    {
        return std::move(s);
    }
};

/// Counts one open connection against max_connections for as long as it lives.
class connection_slot {
public:
    explicit connection_slot(std::shared_ptr<server_state> s) : s_(std::move(s)) { ++s_->connections; }
    /// Also counts against the per-address limit, if it was not reached (`counted_ip()`).
    connection_slot(std::shared_ptr<server_state> s, std::string ip) : connection_slot(std::move(s))
    {
        if (s_->opt.max_connections_per_ip != 0 && s_->add_ip(ip)) ip_ = std::make_unique<std::string>(std::move(ip));
    }
    connection_slot(connection_slot&& o) noexcept = default;
    connection_slot& operator=(connection_slot&&) = delete;
    ~connection_slot()
    {
        if (!s_) return;
        --s_->connections;
        if (ip_) s_->remove_ip(*ip_);
    }
    bool counted_ip() const noexcept { return ip_ != nullptr; }
    server_state& state() const noexcept { return *s_; }
    std::shared_ptr<server_state> const& shared() const noexcept { return s_; }

private:
    std::shared_ptr<server_state> s_;
    std::unique_ptr<std::string> ip_; ///< counted in server_state::per_ip (only with a per-address limit)
};

/** What the server's WebSocket and SSE connections share: the protocol stream, the slot that
    counts the connection and registers it for stop(), and the route's behavior (whose options
    the stream shares); the members of `Interface` (websocket::connection or sse::connection)
    that only forward to the stream; and what admission sets.  `Derived` adds its protocol:
    how a connection starts, reads, sends its own messages, closes and shuts down. */
template <class Derived, class Interface, class ProtocolStream, class Behavior>
class session : public Interface, public closable, public std::enable_shared_from_this<Derived> {
public:
    using stream_type = ProtocolStream;
    using options_type = std::remove_cvref_t<decltype(std::declval<Behavior&>().options)>;

    session(typename ProtocolStream::next_layer_type&& s, connection_slot slot, std::shared_ptr<Behavior> b)
        : stream_(std::move(s)), slot_(std::move(slot)), b_(std::move(b))
    {
        stream_.set_options(std::shared_ptr<options_type const>(b_, &b_->options));
    }
    ~session() override { slot_.state().remove(this); }
    session(session const&) = delete;
    session& operator=(session const&) = delete;

    send_status send_frame(std::shared_ptr<std::string const> frame) override
    {
        return stream_.send_frame(std::move(frame));
    }
    send_status send_frames(std::span<std::shared_ptr<std::string const>> frames) override
    {
        return stream_.send_frames(frames);
    }
    void on_idle(std::function<void()> f) override { stream_.on_idle(std::move(f)); }
    std::size_t queued_bytes() const noexcept override { return stream_.queued_bytes(); }
    asio::any_io_executor get_executor() const override { return stream_.get_executor(); }
    bool server_stopping() const noexcept override { return slot_.state().stopping; }
    std::shared_ptr<closable> lock_closable() noexcept override { return this->weak_from_this().lock(); }
    void abort() override
    {
        asio::dispatch(stream_.get_executor(),
                       [self = this->shared_from_this()] { rtmsg::close_now(self->base_stream().next_layer()); });
    }

protected:
    /// The stream, seen from here (Derived's own names for it are private to Derived).
    ProtocolStream& base_stream() noexcept { return stream_; }

    /// The admission hook accepted the request: who the peer is, and the server knows the
    /// connection from now on (stop() reaches it).
    void admitted(asio::ip::tcp::endpoint remote, upgrade_decision&& decision)
    {
        this->remote_ = remote;
        this->user_data_ = std::move(decision.user_data);
        this->peer_ = decision.peer();
        slot_.state().add(this);
    }

    /// Once the stream is open: a stop() that came meanwhile ends it as it ends the others.
    void opened()
    {
        if (slot_.state().stopping) this->shutdown();
    }

    ProtocolStream stream_;
    connection_slot slot_;
    std::shared_ptr<Behavior> b_;
};

/// A WebSocket connection accepted by the server: runs the read loop and the behavior.
template <class Stream>
class ws_connection final
    : public session<ws_connection<Stream>, websocket::connection, websocket::stream<Stream>, websocket::behavior> {
    using base = session<ws_connection<Stream>, websocket::connection, websocket::stream<Stream>, websocket::behavior>;
    using base::b_;
    using base::stream_;

public:
    using base::base;

    send_status send(websocket::message_type type, std::string_view payload) override
    {
        return stream_.send(type, payload);
    }
    std::optional<websocket::deflate_params> compression() const noexcept override { return stream_.compression(); }
    void close(std::uint16_t code, std::string_view reason) override { stream_.close(code, reason); }
    transport::read_batch* batch() noexcept override { return stream_.batch(); }
    // After what the hub (or another producer waiting in on_idle) still holds for it.
    void shutdown() override { stream_.close_after_idle(websocket::close_code::going_away, "server shutting down"); }

    void start(http::request const& req, std::string_view leftover, std::string subprotocol,
               asio::ip::tcp::endpoint remote, upgrade_decision&& decision)
    {
        this->target_ = req.target;
        this->set_subprotocol(std::move(subprotocol));
        stream_.set_initial_bytes(leftover);
        this->admitted(remote, std::move(decision));
        stream_.async_accept(req, this->subprotocol(), [self = this->shared_from_this()](std::error_code ec) mutable {
            if (ec) return;
            self->opened();
            if (self->b_->on_open) self->b_->on_open(self);
            auto& c = *self;
            c.read_next(std::move(self));
        });
    }

private:
    /// buffer_ is empty here, or holds the start of a message that read_buffered() met.
    void read_next(std::shared_ptr<ws_connection>&& held)
    {
        rtmsg::detail::message_buffer dyn(buffer_);
        stream_.async_read(dyn, [self = std::move(held)](std::error_code ec, std::size_t) mutable {
            auto& c = *self;
            c.on_read(ec, std::move(self));
        });
    }

    void on_read(std::error_code ec, std::shared_ptr<ws_connection>&& held)
    {
        if (ec) {
            std::uint16_t code = websocket::close_code::abnormal;
            std::string reason;
            if (ec == websocket::error::closed) {
                code = stream_.close_code();
                reason = stream_.close_reason();
            }
            else if (ec.category() == websocket::error_category()) {
                if (auto c = websocket::close_code_for(static_cast<websocket::error>(ec.value()))) code = c;
                reason = ec.message();
            }
            if (b_->on_close) b_->on_close(std::move(held), code, reason);
            return;
        }
        // Converted once: the handler takes the interface's pointer, and a conversion per
        // message would be a reference count up and down per message.
        websocket::connection_ptr self = std::move(held);
        if (b_->on_message) b_->on_message(self, {stream_.got_type(), buffer_});
        buffer_.clear();
        // The messages that came in the same read: at once, without another read operation,
        // and those that lie whole in the input without a copy (message_view_buffer).  One
        // cut short by the end of the input stays in buffer_ for the next async_read.
        if (!backpressured()) {
            rtmsg::detail::message_view_buffer dyn(buffer_);
            stream_.read_buffered(dyn, [this, &self, &dyn](std::size_t) {
                if (b_->on_message) b_->on_message(self, {stream_.got_type(), dyn.message()});
                dyn.clear();
                return !backpressured();
            });
        }
        // Idle connections should not pin a large buffer: it goes back to the thread's parked ones.
        if (buffer_.empty() && buffer_.capacity() > 4096) rtmsg::detail::park_buffer(buffer_);
        // Backpressure: stop reading while the peer does not read what we send it.
        auto again = std::static_pointer_cast<ws_connection>(std::move(self));
        if (backpressured())
            stream_.on_drained([again = std::move(again)]() mutable {
                auto& c = *again;
                c.read_next(std::move(again));
            });
        else
            read_next(std::move(again));
    }

    bool backpressured() const noexcept { return stream_.queued_bytes() > stream_.get_options().send_queue_soft_limit; }

    std::string buffer_;
};

/// An SSE stream accepted by the server.
template <class Stream>
class sse_connection final
    : public session<sse_connection<Stream>, sse::connection, sse::stream<Stream>, sse::behavior> {
    using base = session<sse_connection<Stream>, sse::connection, sse::stream<Stream>, sse::behavior>;

public:
    using base::base;

    send_status send(sse::event const& ev) override { return this->stream_.send(ev); }
    void close() override { this->stream_.close(); }
    void shutdown() override { this->stream_.close_after_idle(); }

    void start(http::request&& req, asio::ip::tcp::endpoint remote, upgrade_decision&& decision)
    {
        this->last_event_id_ = sse::last_event_id(req);
        // Kept for the stream's lifetime (unless the behavior says otherwise, see on_open
        // below): without the parser's spare room (a browser's dozen header lines sit in
        // room for 16).
        if (this->b_->keep_request) req.headers.shrink_to_fit();
        this->request_ = std::make_unique<http::request const>(std::move(req));
        this->admitted(remote, std::move(decision));
        // The handler holds the connection alive until the stream ends.
        this->stream_.set_close_handler([self = this->shared_from_this()](std::error_code) {
            if (self->b_->on_close) self->b_->on_close(self);
            self->stream_.set_close_handler(nullptr);
        });
        // on_open runs before the head leaves: what it subscribes to is in place when the
        // client sees the stream open, and what it sends is queued behind the head.
        if (this->b_->on_open) this->b_->on_open(this->shared_from_this());
        if (!this->b_->keep_request) this->request_.reset();
        this->stream_.async_accept([self = this->shared_from_this()](std::error_code ec) {
            if (!ec) self->opened();
        });
    }
};

template <class Stream>
class http_session final : public closable, public std::enable_shared_from_this<http_session<Stream>> {
public:
    http_session(Stream&& s, connection_slot slot, asio::ip::tcp::endpoint remote)
        : stream_(std::move(s)),
          slot_(std::move(slot)),
          state_(slot_.shared()),
          parser_(state_->opt.limits),
          timer_(stream_.get_executor()),
          remote_(remote)
    {
    }

    ~http_session() { state_->remove(this); }

    void shutdown() override
    {
        asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
            if (!self->upgraded_) rtmsg::close_now(self->stream_);
        });
    }
    std::shared_ptr<closable> lock_closable() noexcept override { return this->weak_from_this().lock(); }
    void abort() override { shutdown(); }

    /// The stream's executor, which every handler of this session runs on.
    auto executor() { return stream_.get_executor(); }

    void start()
    {
        state_->add(this);
        arm_timer();
        async_accept_layer(role_type::server, stream_, [self = this->shared_from_this()](std::error_code ec) {
            if (ec) return self->drop();
            self->read_request();
        });
    }

    /** A connection the host accepted (and, for TLS, already shook hands on): no layer
        handshake.  `already_read` is what the host read from it and did not consume; `req`
        (optional) a request head the host parsed itself, answered before anything else.
        `busy`: over the connection limit or stopping, so answer 503 and close. */
    void start_handed(std::string already_read, std::unique_ptr<request> req, bool busy,
                      std::shared_ptr<router::route const> route = nullptr)
    {
        buffer_ = std::move(already_read);
        if (busy) {
            arm_timer();
            return reply(busy_response(), false);
        }
        state_->add(this);
        arm_timer();
        if (!req) return read_request();
        // Held to the same rules as a request rtmsg parsed (RFC 9112 §3, §5): a host may
        // hand over anything its own parser let through.
        started_request_ = true;
        handed_ = std::move(req);
        if (auto ec = check_head(*handed_)) return on_parse_error(ec);
        if (!route) return on_request();
        // The host chose the behavior (server::serve_websocket, serve_sse): no routing.
        route_ = std::move(route);
        if (route_->type == router::kind::websocket) return upgrade(*route_, *handed_);
        if (handed_->method != "GET") {
            auto res = error_response(status::method_not_allowed, "method not allowed for this resource");
            res.headers.add("Allow", "GET");
            return reply(std::move(res), false);
        }
        start_sse(*route_, *handed_);
    }

    /// Over the connection limit: answer 503 and close.
    void refuse_busy()
    {
        arm_timer();
        async_accept_layer(role_type::server, stream_, [self = this->shared_from_this()](std::error_code ec) {
            if (ec) return self->drop();
            self->reply(busy_response(), false);
        });
    }

private:
    static response busy_response()
    {
        auto res = error_response(status::service_unavailable, "the server is at its connection limit");
        res.headers.add("Retry-After", "1");
        return res;
    }

    /// The request being answered: the host's (handed over) or the parser's.
    request& current() noexcept { return handed_ ? *handed_ : parser_.get(); }

    void arm_timer()
    {
        timer_.expires_after(state_->opt.request_timeout);
        timer_.async_wait([w = this->weak_from_this()](std::error_code ec) {
            if (ec) return;
            if (auto self = w.lock()) self->on_timeout();
        });
    }

    void on_timeout()
    {
        if (upgraded_) return;
        if (writing_) {
            rtmsg::close_now(stream_);
            return;
        }
        // A client that trickles its request (or idles on keep-alive) is dropped.  If it
        // had started a request, tell it why.
        if (buffer_.empty() && !started_request_) {
            rtmsg::close_now(stream_);
            return;
        }
        timed_out_ = true;
        rtmsg::close_now(stream_);
    }

    void drop()
    {
        timer_.cancel();
        rtmsg::close_now(stream_);
    }

    void read_request()
    {
        // Pipelined bytes first.
        while (!buffer_.empty()) {
            started_request_ = true;
            std::error_code ec;
            auto const n = parser_.feed(buffer_, ec);
            buffer_.erase(0, n);
            if (ec) return on_parse_error(ec);
            if (parser_.done()) return on_request();
        }
        // A first read of 1 KiB holds a whole upgrade request from a browser or a client
        // library; a request that fills it is read on in 4 KiB steps.  Hundreds of
        // handshakes in flight then hold a quarter of the buffer space.
        auto const old = buffer_.size();
        auto const chunk = long_request_ ? read_chunk : first_read;
        buffer_.resize(old + chunk);
        stream_.async_read_some(asio::buffer(buffer_.data() + old, chunk),
                                [self = this->shared_from_this(), old, chunk](std::error_code ec, std::size_t n) {
                                    self->buffer_.resize(old + n);
                                    if (n == chunk) self->long_request_ = true;
                                    if (ec) return self->drop();
                                    self->read_request();
                                });
    }

    void on_parse_error(std::error_code ec)
    {
        auto const st = ec.category() == rtmsg::http::error_category()
                            ? status_for(static_cast<http::error>(ec.value()))
                            : status::bad_request;
        reply(error_response(st, ec.message()), false);
    }

    void on_request()
    {
        auto& st = *state_;
        auto& req = current();
        auto m = st.routes.match(req);
        req.params = std::move(m.params);
        bool const keep = req.keep_alive() && !st.stopping;
        switch (m.type) {
        case router::kind::not_found: return reply(error_response(status::not_found, "no such resource"), keep);
        case router::kind::method_not_allowed: {
            auto res = error_response(status::method_not_allowed, "method not allowed for this resource");
            res.headers.add("Allow", m.allow);
            return reply(std::move(res), keep);
        }
        case router::kind::plain: {
            response res;
            m.r->fn(req, res);
            return reply(std::move(res), keep, req.method == "HEAD");
        }
        case router::kind::static_files: return serve_file(*m.r, req, keep);
        case router::kind::websocket: return upgrade(*m.r, req);
        case router::kind::sse: return start_sse(*m.r, req);
        }
    }

    void serve_file(router::route const& r, request const& req, bool keep)
    {
        auto path = req.path();
        if (r.path != "/") path.remove_prefix(r.path.size());
        auto file = resolve_static_path(r.root, path.empty() ? std::string_view("/") : path);
        std::error_code ec;
        if (!file || !std::filesystem::is_regular_file(*file, ec))
            return reply(error_response(status::not_found, "no such file"), keep);
        std::ifstream in(*file, std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        response res;
        res.headers.add("Content-Type", mime_type(*file));
        res.headers.add("Cache-Control", "no-cache");
        res.body = std::move(ss).str();
        reply(std::move(res), keep, req.method == "HEAD");
    }

    void upgrade(router::route const& r, request const& req)
    {
        auto& b = *r.ws;
        if (auto ec = websocket::check_request(req)) return reply(websocket::refuse_response(ec), false);
        if (b.check_origin) {
            auto const origin = req.headers.find("Origin");
            if (!b.check_origin(origin ? *origin : std::string_view{}))
                return reply(websocket::refuse_response(websocket::error::origin_refused), false);
        }
        auto decision = b.on_upgrade ? b.on_upgrade(websocket::upgrade_request{req, remote_})
                                     : websocket::upgrade_decision::accept();
        if (!decision.accepted) return reply(std::move(decision.refusal), false);
        std::string subprotocol;
        if (b.select_subprotocol) {
            auto const offered = websocket::offered_subprotocols(req);
            if (!offered.empty()) {
                subprotocol = b.select_subprotocol(offered);
                // Only a protocol the client offered may be selected (RFC 6455 §4.2.2).
                if (std::find(offered.begin(), offered.end(), subprotocol) == offered.end()) subprotocol.clear();
            }
        }
        upgraded_ = true;
        timer_.cancel();
        auto c = std::make_shared<ws_connection<Stream>>(std::move(stream_), std::move(slot_), r.ws);
        c->start(req, buffer_, std::move(subprotocol), remote_, std::move(decision));
    }

    void start_sse(router::route const& r, request& req)
    {
        auto& b = *r.events;
        auto const& hook = b.on_upgrade ? b.on_upgrade : b.on_request; // on_request: the old name
        auto decision = hook ? hook(websocket::upgrade_request{req, remote_}) : websocket::upgrade_decision::accept();
        if (!decision.accepted) return reply(std::move(decision.refusal), false);
        upgraded_ = true;
        timer_.cancel();
        auto c = std::make_shared<sse_connection<Stream>>(std::move(stream_), std::move(slot_), r.events);
        c->start(std::move(req), remote_, std::move(decision));
    }

    void reply(response res, bool keep_alive, bool head = false)
    {
        if (timed_out_) return;
        out_.clear();
        if (head) {
            // HEAD: the same headers as GET, no body (RFC 9110 §9.3.2).
            auto body = std::move(res.body);
            if (!res.headers.find("Content-Length")) res.headers.add("Content-Length", std::to_string(body.size()));
            serialize(res, out_, current().version ? current().version : 11, keep_alive);
        }
        else
            serialize(res, out_, current().version ? current().version : 11, keep_alive);
        writing_ = true;
        asio::async_write(stream_, asio::buffer(out_),
                          [self = this->shared_from_this(), keep_alive](std::error_code ec, std::size_t) {
                              self->writing_ = false;
                              if (ec) return self->drop();
                              if (!keep_alive) return self->end();
                              self->handed_.reset();
                              self->parser_.reset();
                              self->started_request_ = false;
                              self->arm_timer();
                              self->read_request();
                          });
    }

    /// Closes gracefully: FIN after the response, drain what the client still sends, close.
    void end()
    {
        arm_timer();
        async_teardown(role_type::server, stream_,
                       [self = this->shared_from_this()](std::error_code) { self->timer_.cancel(); });
    }

    static constexpr std::size_t first_read = 1024;
    static constexpr std::size_t read_chunk = 4096;

    Stream stream_;
    connection_slot slot_;
    std::shared_ptr<server_state> state_; ///< kept after slot_ moves to a WebSocket connection
    request_parser parser_;
    std::unique_ptr<request> handed_;            ///< a request head the host parsed (server::serve)
    std::shared_ptr<router::route const> route_; ///< the route the host chose (serve_websocket, serve_sse)
    asio::steady_timer timer_;
    asio::ip::tcp::endpoint remote_;
    std::string buffer_;
    std::string out_;
    bool upgraded_ = false;
    bool writing_ = false;
    bool timed_out_ = false;
    bool started_request_ = false;
    bool long_request_ = false; ///< a read filled its buffer: read on in read_chunk steps
};

} // namespace detail

template <class StreamFactory>
void server::listen(asio::ip::tcp::endpoint const& ep, StreamFactory make_stream, std::error_code& ec)
{
    auto acc = std::make_shared<asio::ip::tcp::acceptor>(asio::make_strand(state_->ex));
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return;
    {
        std::lock_guard<std::mutex> lock(state_->mutex);
        state_->acceptors.push_back(acc);
    }
    if constexpr (std::is_same_v<StreamFactory, detail::plain_socket>) {
        // One thread on an io_context: sockets typed on the context's own executor
        // rather than any_io_executor hold 8 bytes of executor instead of 56, and so do
        // the operations pending on them (one per idle connection): about 160 bytes less
        // per open WebSocket.
        if (state_->opt.single_threaded)
            if (auto const* io = rtmsg::detail::executor_target<asio::io_context::executor_type>(state_->ex)) {
                accept(state_, acc, make_stream, *io);
                return;
            }
    }
    accept(state_, acc, std::move(make_stream), asio::any_io_executor{});
}

template <async_stream Stream>
void server::serve(Stream stream, std::string_view already_read)
{
    hand_over(std::move(stream), nullptr, already_read);
}

template <async_stream Stream>
void server::serve(Stream stream, request req, std::string_view already_read)
{
    hand_over(std::move(stream), std::make_unique<request>(std::move(req)), already_read);
}

template <async_stream Stream>
void server::serve_websocket(Stream stream, request req, std::string_view already_read,
                             std::shared_ptr<websocket::behavior> b)
{
    auto r = std::make_shared<router::route>();
    r->type = router::kind::websocket;
    r->method = "GET";
    r->ws = std::move(b);
    hand_over(std::move(stream), std::make_unique<request>(std::move(req)), already_read, std::move(r));
}

template <async_stream Stream>
void server::serve_sse(Stream stream, request req, std::string_view already_read, std::shared_ptr<sse::behavior> b)
{
    auto r = std::make_shared<router::route>();
    r->type = router::kind::sse;
    r->method = "GET";
    r->events = std::move(b);
    hand_over(std::move(stream), std::make_unique<request>(std::move(req)), already_read, std::move(r));
}

template <class StreamFactory, class Executor>
void server::accept(std::shared_ptr<detail::server_state> st, std::shared_ptr<asio::ip::tcp::acceptor> acc,
                    StreamFactory make_stream, Executor ex)
{
    auto& a = *acc;
    Executor conn_ex = ex;
    if constexpr (std::is_same_v<Executor, asio::any_io_executor>)
        conn_ex = detail::connection_executor(st->ex, st->opt.single_threaded);
    using socket_type = typename asio::ip::tcp::socket::template rebind_executor<Executor>::other;
    a.async_accept(
        conn_ex, [st, acc, make_stream = std::move(make_stream), ex](std::error_code ec, socket_type socket) mutable {
            if (st->stopping || ec == asio::error::operation_aborted) return;
            if (!ec) {
                std::error_code ignored;
                socket.set_option(asio::ip::tcp::no_delay(true), ignored);
                auto remote = socket.remote_endpoint(ignored);
                bool full = st->connections.load() >= st->opt.max_connections;
                detail::connection_slot slot(st, remote.address().to_string());
                if (st->opt.max_connections_per_ip != 0 && !slot.counted_ip()) full = true;
                using stream_type = decltype(make_stream(std::move(socket)));
                auto s = std::make_shared<detail::http_session<stream_type>>(make_stream(std::move(socket)),
                                                                             std::move(slot), remote);
                if (full)
                    s->refuse_busy();
                else
                    s->start();
            }
            if (ec) {
                if (ec == asio::error::no_descriptors) {
                    // Out of descriptors: answer the waiting clients 503 now (through the
                    // reserve descriptor) rather than leaving them in the backlog.
                    static constexpr std::string_view busy =
                        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 38\r\n"
                        "Retry-After: 1\r\nConnection: close\r\n\r\nserver out of file descriptors; retry\n";
                    st->reserve.refuse_waiting(static_cast<int>(acc->native_handle()), busy);
                }
                // Out of descriptors (EMFILE) and similar: transient, so keep accepting, but
                // after a pause rather than in a tight loop.
                auto timer = std::make_shared<asio::steady_timer>(acc->get_executor(), std::chrono::milliseconds(50));
                timer->async_wait([timer, st, acc, make_stream, ex](std::error_code) mutable {
                    accept(std::move(st), std::move(acc), std::move(make_stream), std::move(ex));
                });
                return;
            }
            accept(std::move(st), std::move(acc), std::move(make_stream), std::move(ex));
        });
}

template <class Stream>
void server::hand_over(Stream&& stream, std::unique_ptr<request> req, std::string_view already_read,
                       std::shared_ptr<router::route const> route)
{
    auto& st = state_;
    asio::ip::tcp::endpoint remote;
    std::error_code ec;
    if constexpr (requires {
                      {
                          rtmsg::lowest_layer(stream).remote_endpoint(ec)
                          } -> std::convertible_to<asio::ip::tcp::endpoint>;
                  })
        remote = rtmsg::lowest_layer(stream).remote_endpoint(ec);
    else
        ec = asio::error::operation_not_supported;
    bool busy = st->stopping || st->connections.load() >= st->opt.max_connections;
    // A stream that does not tell its peer's address (foreign_stream) is not counted
    // against max_connections_per_ip: all of them would count as one address.
    auto slot = ec ? detail::connection_slot(st) : detail::connection_slot(st, remote.address().to_string());
    if (!ec && st->opt.max_connections_per_ip != 0 && !slot.counted_ip()) busy = true;
    auto s = std::make_shared<detail::http_session<Stream>>(std::move(stream), std::move(slot), remote);
    auto const ex = s->executor();
    asio::post(ex, [s = std::move(s), req = std::move(req), bytes = std::string(already_read), busy,
                    route = std::move(route)]() mutable {
        s->start_handed(std::move(bytes), std::move(req), busy, std::move(route));
    });
}

} // namespace rtmsg::http
