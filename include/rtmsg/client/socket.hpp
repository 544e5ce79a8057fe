#pragma once
// rtmsg::client::socket: the connection under every client (TCP, or TLS over TCP chosen at
// run time from the URL), and async_connect: resolve, connect, TLS handshake, with a deadline.
//
// TLS needs OpenSSL: link rtmsg::ssl.  Define RTMSG_NO_TLS to build the clients without
// it; wss:// and https:// URLs then fail with asio::error::operation_not_supported.
#include <rtmsg/client/url.hpp>
#include <rtmsg/config.hpp>
#include <rtmsg/error.hpp>
#include <rtmsg/transport/stream.hpp>
#include <rtmsg/transport/teardown.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/compose.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#if !defined(RTMSG_NO_TLS)
#include <rtmsg/transport/ssl.hpp>

#include <asio/ssl.hpp>
#endif

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace rtmsg::client {

/** TLS settings of a client.  By default the server's certificate chain is verified
    against the system's trust store and its name against the URL's host (RFC 6125), and
    the host name is sent as SNI.

    @code
    rtmsg::client::tls_options tls;
    tls.ca_file = "test-ca.pem";        // trust this CA as well (a private or test CA)
    @endcode
*/
struct tls_options {
    /// Trust the system's default CA store (OpenSSL's default verify paths).
    bool use_system_store = true;
    /// A PEM file of additional trusted CAs.
    std::string ca_file;
    /// PEM text of additional trusted CAs.
    std::string ca_pem;
    /** @b Insecure.  Accept any certificate for any name: the connection is encrypted but
        not authenticated, so anyone on the path can read and change it.  For tests against
        self-signed servers only; never set it from a configuration default. */
    bool insecure_skip_verification = false;
};

/// How a client reaches its server.
struct connect_options {
    /// Bounds name resolution, the TCP connect and the TLS handshake together; zero: no limit.
    std::chrono::milliseconds connect_timeout{10'000};
    /// TLS settings for `wss://` and `https://`: trusted CAs and verification.
    tls_options tls;
};

/** A client connection: plain TCP, or TLS over TCP, decided when it connects.
    Satisfies rtmsg::async_stream, so websocket::stream and the SSE client run over it.
    Moving it is cheap and keeps the TLS state (it lives on the heap).

    @par Thread safety
    Distinct objects: Safe.  Shared objects: Unsafe.
*/
class socket {
public:
    /// The executor the socket's operations run on.
    using executor_type = asio::any_io_executor;
    /// Asio's TCP protocol type.
    using tcp = asio::ip::tcp;

    /// A socket that is not connected yet, on executor `ex`.
    explicit socket(executor_type ex) : s_(std::make_unique<state>(std::move(ex))) {}
    /// A socket that is not connected yet, on the executor of `ctx`.
    template <class ExecutionContext>
    requires std::is_convertible_v<ExecutionContext&, asio::execution_context&>
    explicit socket(ExecutionContext& ctx) : socket(executor_type(ctx.get_executor())) {}

    /// The socket's executor.
    executor_type get_executor() const noexcept { return s_->ex; }
    /// The TCP socket (under TLS, if any).
    tcp::socket& next_layer() noexcept { return s_->sock; }
    /// The TCP socket underneath (and under TLS, if any).
    tcp::socket const& next_layer() const noexcept { return s_->sock; }
    /// Is TLS in use on this connection?
    bool is_tls() const noexcept
    {
#if !defined(RTMSG_NO_TLS)
        return s_->tls.has_value();
#else
        return false;
#endif
    }

#if !defined(RTMSG_NO_TLS)
    /// The TLS stream over this socket's TCP connection.
    using tls_stream = asio::ssl::stream<tcp::socket&>;
    /// The TLS stream, or nullptr on plain TCP.
    tls_stream* tls() noexcept
    {
        return s_->tls ? &*s_->tls : nullptr;
    }
    /// Starts using TLS with `ctx` on the connected TCP socket (before its handshake).
    tls_stream& use_tls(std::shared_ptr<asio::ssl::context> ctx)
    {
        s_->tls.reset();
        s_->ctx = std::move(ctx);
        return s_->tls.emplace(s_->sock, *s_->ctx);
    }
#endif

    /// Closes the connection and forgets TLS state, ready to connect again.
    void reset() noexcept
    {
        std::error_code ignored;
        s_->sock.close(ignored);
#if !defined(RTMSG_NO_TLS)
        s_->tls.reset();
        s_->ctx.reset();
#endif
    }

    template <class MutableBufferSequence, class ReadToken>
    /// Reads some bytes (decrypted under TLS): Asio's AsyncReadStream requirement.
    auto async_read_some(MutableBufferSequence const& buffers, ReadToken&& token)
    {
        return asio::async_initiate<ReadToken, void(std::error_code, std::size_t)>(
            [](auto handler, state* s, MutableBufferSequence const& b) {
#if !defined(RTMSG_NO_TLS)
                if (s->tls) return s->tls->async_read_some(b, std::move(handler));
#endif
                s->sock.async_read_some(b, std::move(handler));
            },
            token, s_.get(), buffers);
    }

    template <class ConstBufferSequence, class WriteToken>
    /// Writes some bytes (encrypted under TLS): Asio's AsyncWriteStream requirement.
    auto async_write_some(ConstBufferSequence const& buffers, WriteToken&& token)
    {
        return asio::async_initiate<WriteToken, void(std::error_code, std::size_t)>(
            [](auto handler, state* s, ConstBufferSequence const& b) {
#if !defined(RTMSG_NO_TLS)
                if (s->tls) return s->tls->async_write_some(b, std::move(handler));
#endif
                s->sock.async_write_some(b, std::move(handler));
            },
            token, s_.get(), buffers);
    }

private:
    struct state {
        explicit state(executor_type e) : ex(e), sock(e) {}
        executor_type ex;
        tcp::socket sock;
#if !defined(RTMSG_NO_TLS)
        std::shared_ptr<asio::ssl::context> ctx;
        std::optional<tls_stream> tls;
#endif
    };
    std::unique_ptr<state> s_;
};

namespace detail {
template <class Socket>
struct client_teardown_op {
    Socket& s;
    bool started = false;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {})
    {
        if (started) return self.complete(ec);
        started = true;
#if !defined(RTMSG_NO_TLS)
        if (auto* t = s.tls()) return rtmsg::async_teardown(role_type::client, *t, std::move(self));
#endif
        rtmsg::async_teardown(role_type::client, s.next_layer(), std::move(self));
    }
};
} // namespace detail

/// Ends the connection after a closing handshake: TLS close_notify (if TLS), then TCP FIN.
template <class CompletionToken>
auto async_teardown(role_type, socket& s, CompletionToken&& token)
{
    return asio::async_compose<CompletionToken, void(std::error_code)>(detail::client_teardown_op<socket>{s}, token, s);
}

namespace detail {

/// The deadline of a connect: closes the socket when it fires, unless the operation is done.
struct connect_deadline {
    explicit connect_deadline(asio::any_io_executor ex) : timer(std::move(ex)), resolver(timer.get_executor()) {}
    asio::steady_timer timer;
    asio::ip::tcp::resolver resolver;
    bool done = false;
    bool fired = false;
};

struct connect_op {
    socket& s;
    url const& u;
    connect_options const& opt;
    std::shared_ptr<connect_deadline> dl;
    enum class state { start, resolving, connecting, tls } st = state::start;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, asio::ip::tcp::resolver::results_type results = {})
    {
        switch (st) {
        case state::start: s.reset();
#if defined(RTMSG_NO_TLS)
            if (u.secure) return finish(self, asio::error::operation_not_supported);
#endif
            dl = std::make_shared<connect_deadline>(s.get_executor());
            if (opt.connect_timeout.count() != 0) {
                dl->timer.expires_after(opt.connect_timeout);
                dl->timer.async_wait([d = std::weak_ptr<connect_deadline>(dl), sock = &s](std::error_code e) {
                    auto dd = d.lock();
                    if (e || !dd || dd->done) return;
                    dd->fired = true;
                    dd->resolver.cancel();
                    std::error_code ignored;
                    sock->next_layer().close(ignored);
                });
            }
            st = state::resolving;
            dl->resolver.async_resolve(u.host, u.service(), std::move(self));
            return;
        case state::resolving:
            if (ec) return finish(self, ec);
            st = state::connecting;
            asio::async_connect(
                s.next_layer(), results,
                [self = std::move(self)](std::error_code e, asio::ip::tcp::endpoint const&) mutable { self(e); });
            return;
        case state::connecting:
            if (ec) return finish(self, ec);
            {
                std::error_code ignored;
                s.next_layer().set_option(asio::ip::tcp::no_delay(true), ignored);
            }
            if (!u.secure) return finish(self, {});
#if !defined(RTMSG_NO_TLS)
            {
                auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
                if (!opt.tls.insecure_skip_verification) {
                    if (opt.tls.use_system_store) ctx->set_default_verify_paths(ec);
                    if (!ec && !opt.tls.ca_file.empty()) ctx->load_verify_file(opt.tls.ca_file, ec);
                    if (!ec && !opt.tls.ca_pem.empty())
                        ctx->add_certificate_authority(asio::buffer(opt.tls.ca_pem), ec);
                    if (ec) return finish(self, ec);
                    ctx->set_verify_mode(asio::ssl::verify_peer);
                }
                else
                    ctx->set_verify_mode(asio::ssl::verify_none);
                auto& t = s.use_tls(std::move(ctx));
                if (!opt.tls.insecure_skip_verification)
                    t.set_verify_callback(asio::ssl::host_name_verification(u.host));
                // SNI carries host names only, never IP literals (RFC 6066 §3).
                std::error_code not_ip;
                (void)asio::ip::make_address(u.host, not_ip);
                if (not_ip && !SSL_set_tlsext_host_name(t.native_handle(), u.host.c_str()))
                    return finish(
                        self, std::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
                st = state::tls;
                t.async_handshake(asio::ssl::stream_base::client, std::move(self));
            }
#endif
            return;
        case state::tls: return finish(self, ec);
        }
    }

    template <class Self>
    void finish(Self& self, std::error_code ec)
    {
        if (dl) {
            dl->done = true;
            dl->timer.cancel();
            if (dl->fired) ec = rtmsg::error::timeout;
        }
        if (ec) s.reset();
        self.complete(ec);
    }
};

} // namespace detail

/** Connects `s` to the server of `u`: resolves the host (IPv4 and IPv6), connects to the
    first address that answers, and for wss:// and https:// performs the TLS handshake with
    SNI and certificate verification (tls_options).  The whole is bounded by
    connect_options::connect_timeout (rtmsg::error::timeout).  `s` is closed first if open.
    `s`, `u` and `opt` must stay valid until completion.

    @par Completion signature  `void(std::error_code ec)`
*/
template <asio::completion_token_for<void(std::error_code)> CompletionToken>
auto async_connect(socket& s, url const& u, connect_options const& opt, CompletionToken&& token)
{
    return asio::async_compose<CompletionToken, void(std::error_code)>(detail::connect_op{s, u, opt, {}}, token, s);
}

} // namespace rtmsg::client
