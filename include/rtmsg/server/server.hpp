#pragma once
// rtmsg::http::server: the HTTP/1.1 front door.  Accepts TCP (and, with
// <rtmsg/transport/ssl.hpp>, TLS) connections, parses requests (keep-alive, pipelining),
// and routes them to plain handlers, static files, WebSocket upgrades and SSE streams.
//
// This header declares the server; its machinery (sessions, connections, accept loop) is in
// server/impl/server.hpp, included below in header-only builds and compiled once by
// <rtmsg/src.hpp> with RTMSG_SEPARATE_COMPILATION.
#include <rtmsg/config.hpp>
#include <rtmsg/http/parser.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/server/router.hpp>
#include <rtmsg/transport/stream.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <system_error>

namespace rtmsg::http {

/// Settings of an http::server.
struct server_options {
    /// Header and body size limits (431 and 413 past them).
    request_parser::limits limits;
    /// Open connections (HTTP and WebSocket) above which new ones get 503 and are closed.
    std::size_t max_connections = 100'000;
    /// Open connections from one IP address above which its new ones get 503 and are closed;
    /// 0: no per-address limit.  Off by default because a reverse proxy or a NAT puts many
    /// clients behind one address; set it when clients connect directly (see SECURITY.md).
    std::size_t max_connections_per_ip = 0;
    /// Time a client has to send a complete request header section (and a WebSocket its
    /// upgrade request); a trickled request is dropped with 408.  Also the keep-alive idle time.
    std::chrono::milliseconds request_timeout{10'000};
    /// After stop(), how long connections get to flush what is queued and finish their closing
    /// handshake (WebSocket 1001, end of SSE stream, response in progress); those still open
    /// then are closed at once and whatever they had queued is dropped.
    std::chrono::milliseconds shutdown_timeout{5'000};
    /// Set when exactly one thread runs the server's execution context (or its executor is
    /// already a strand).  Connections then run on that executor directly instead of on a
    /// strand of their own, which saves about 100 bytes per connection and a strand hop on
    /// every handler.  Wrong when several threads run the context: one connection's handlers
    /// could then run at the same time.  Off by default.
    bool single_threaded = false;
};

namespace detail {
struct server_state;
struct plain_socket;
} // namespace detail

/** An HTTP/1.1 server with WebSocket upgrades.

    @code
    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());
    server.routes().get("/health", [](auto const&, auto& res) { res.body = "ok"; });
    server.routes().websocket("/echo", echo_behavior);
    server.listen({asio::ip::make_address("127.0.0.1"), 9001});
    ioc.run();
    @endcode

    Each connection runs on its own strand, so the io_context may run on any number of
    threads.  Malformed requests get 400, oversized headers 431, oversized bodies 413,
    unknown paths 404, wrong methods 405, and the server goes on serving everyone else.

    @par Thread safety  Configure routes before listen().  stop() is safe from any thread.
*/
class server {
public:
    /// A server that accepts nothing until listen(); its connections run on `ex` (a strand each,
    /// unless `opt.single_threaded`).
    explicit server(asio::any_io_executor ex, server_options opt = {});
    server(server const&) = delete;
    server& operator=(server const&) = delete;
    ~server();

    /// The routing table.
    router& routes() noexcept;
    /// The options the server was made with.
    server_options const& get_options() const noexcept;
    /// The old name of get_options() (the streams' name for the same thing).
    [[deprecated("use get_options()")]] server_options const& options() const noexcept { return get_options(); }

    /// Accepts plain TCP connections on `ep` (port 0 picks a free port).
    void listen(asio::ip::tcp::endpoint const& ep, std::error_code& ec);
    /// Listens on `ep` (plain TCP); throws std::system_error on failure.
    void listen(asio::ip::tcp::endpoint const& ep)
    {
        std::error_code ec;
        listen(ep, ec);
        if (ec) throw std::system_error(ec, "rtmsg::http::server::listen");
    }

    /** Accepts connections on `ep` and wraps each socket with `make_stream(socket&&)`,
        for example in an asio::ssl::stream (rtmsg::tls_layer does that).  The stream type
        needs an async_accept_layer and an async_teardown overload. */
    template <class StreamFactory>
    void listen(asio::ip::tcp::endpoint const& ep, StreamFactory make_stream, std::error_code& ec);

    /** Hands over a connection the host accepted: rtmsg serves HTTP on it from here on, as
        on a connection it accepted itself (routes, keep-alive, pipelining, upgrades, limits,
        stop()).

        @param stream  Any async_stream, connected and past its own handshake (for TLS, the
        host has done async_handshake).  Its executor must not run two of its handlers at
        once: a strand (asio::make_strand) or a context run by one thread.  Like the streams
        rtmsg accepts itself, it needs `async_teardown` (rtmsg has it for TCP sockets and, with
        <rtmsg/transport/ssl.hpp>, asio::ssl::stream) and a lowest layer with `close(ec)`.
        @param already_read  Bytes the host read from the stream and did not consume (the
        start of a request, or several); copied, and parsed before anything is read.

        Over server_options::max_connections (or max_connections_per_ip, for a stream whose
        lowest layer tells its peer's address), or after stop(), the client gets 503 and the
        connection is closed.  The host's moved-from stream is its own again: closing or
        destroying it does not touch the connection.

        @par Thread safety  Safe from any thread; the work starts on the stream's executor.

        @par Example
        @code
        acceptor.async_accept(asio::make_strand(ioc), [&](std::error_code ec, asio::ip::tcp::socket s) {
            if (!ec) server.serve(std::move(s));
        });
        @endcode */
    template <async_stream Stream>
    void serve(Stream stream, std::string_view already_read = {});

    /** Hands over a request the host parsed with its own HTTP stack, and the connection it
        came on: rtmsg routes it (WebSocket and SSE routes, the hub's endpoints, plain routes
        too) and answers it on `stream`, exactly as if it had read the request itself.

        `req` is checked as rtmsg's own parser checks what it reads (check_head): a head the
        parser would refuse gets the same 4xx/5xx.  A WebSocket upgrade is then checked
        against RFC 6455 §4.2.1 and the route's hooks; a refusal is answered with its HTTP
        status through `stream`, which is then closed.  Accepted, the connection becomes a
        WebSocket (or SSE stream) of this server.  A plain route's response keeps the
        connection with rtmsg, which reads the next request from it.

        @param stream  As for serve(stream, already_read).
        @param req  The request head (and body, if the host read one); see
        <rtmsg/http/beast.hpp> for a Boost.Beast request.
        @param already_read  Bytes that followed the request on the stream and that the host
        has read: pipelined requests, or the first WebSocket frames of an eager client.

        @par Thread safety  Safe from any thread; the work starts on the stream's executor. */
    template <async_stream Stream>
    void serve(Stream stream, request req, std::string_view already_read = {});

    /** Hands over a request the host routed itself to a WebSocket behavior that is in no
        route of this server (one of the host's, or a hub endpoint: `protocol_endpoint`,
        `raw_endpoint`), with its connection and the bytes read past it.  As serve(stream,
        req, already_read), except that no route is looked up: the head is checked
        (check_head), then the upgrade (RFC 6455 §4.2.1, the behavior's check_origin and
        on_upgrade); a refusal is answered through `stream`, which is then closed.

        @par Example
        @code
        auto ws = std::make_shared<rtmsg::websocket::behavior>(rtmsg::protocol_endpoint(hub));  // once
        server.serve_websocket(std::move(socket), std::move(req), already_read, ws);           // per request
        @endcode */
    template <async_stream Stream>
    void serve_websocket(Stream stream, request req, std::string_view already_read,
                         std::shared_ptr<websocket::behavior> b);

    /// The same for a Server-Sent Events behavior (for example `sse_endpoint(hub)`): its
    /// on_upgrade hook admits or refuses, and the stream starts on `stream`.
    template <async_stream Stream>
    void serve_sse(Stream stream, request req, std::string_view already_read, std::shared_ptr<sse::behavior> b);

    /// The address of the n-th listening socket (to learn the port after listening on 0).
    asio::ip::tcp::endpoint local_endpoint(std::size_t n = 0) const;

    /// Open connections, HTTP and WebSocket.
    std::size_t connection_count() const noexcept;

    /** Stops gracefully and returns at once; safe from any thread, idempotent.

        The listening sockets close, so no new connection is accepted.  WebSockets flush what
        they have queued and then get a 1001 (going away) close frame; SSE streams flush and
        end; HTTP connections are closed.  Connections still open after
        server_options::shutdown_timeout (a peer that does not read, or does not answer the
        close) are closed at once.  The io_context's run() returns once all are gone.

        Destroying the server calls stop(); connections keep what they need alive, so the
        server may be destroyed while traffic flows, from any thread.  Keep the io_context
        running (or destroy it) afterwards. */
    void stop();

private:
    /** Accepts the next connection on `acc`, and so on until it closes.  Connections run on
        `ex` if it is a concrete executor (typed sockets, see listen()); given an
        any_io_executor, on connection_executor() of the server's. */
    template <class StreamFactory, class Executor>
    static void accept(std::shared_ptr<detail::server_state> st, std::shared_ptr<asio::ip::tcp::acceptor> acc,
                       StreamFactory make_stream, Executor ex);

    template <class Stream>
    void hand_over(Stream&& stream, std::unique_ptr<request> req, std::string_view already_read,
                   std::shared_ptr<router::route const> route = nullptr);

    std::shared_ptr<detail::server_state> state_;
};

} // namespace rtmsg::http

#if !defined(RTMSG_SEPARATE_COMPILATION)
#include <rtmsg/server/impl/server.hpp>
#include <rtmsg/server/impl/server.ipp>
#endif
