#pragma once
// TLS support (wss://, https://) for asio::ssl::stream.  Link rtmsg::ssl (OpenSSL).
#include <rtmsg/config.hpp>
#include <rtmsg/transport/teardown.hpp>

#include <asio/compose.hpp>
#include <asio/ssl.hpp>

#include <system_error>

namespace rtmsg {

namespace detail {
/// close_notify, then the TCP teardown.  The peer may never answer close_notify; callers
/// bound this with their close time-out (websocket::stream does).
template <class NextLayer>
struct ssl_teardown_op {
    asio::ssl::stream<NextLayer>& stream;
    role_type role;
    enum { start, shutting_down, tcp } state = start;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {})
    {
        switch (state) {
        case start:
            state = shutting_down;
            stream.async_shutdown(std::move(self));
            return;
        case shutting_down:
            // A peer that closes TCP without close_notify gives eof / stream_truncated here:
            // that still ends the connection, so it is not reported.
            state = tcp;
            async_teardown(role, stream.next_layer(), std::move(self));
            return;
        case tcp: self.complete(ec); return;
        }
    }
};
} // namespace detail

/// Teardown for TLS streams: SSL shutdown (close_notify), then the next layer's teardown.
template <class NextLayer, class CompletionToken>
auto async_teardown(role_type role, asio::ssl::stream<NextLayer>& stream, CompletionToken&& token)
{
    return asio::async_compose<CompletionToken, void(std::error_code)>(detail::ssl_teardown_op<NextLayer>{stream, role},
                                                                       token, stream);
}

} // namespace rtmsg

namespace rtmsg {

/// The TLS handshake, server side, before HTTP starts (used by http::server).
template <class NextLayer, class CompletionToken>
auto async_accept_layer(role_type role, asio::ssl::stream<NextLayer>& stream, CompletionToken&& token)
{
    return stream.async_handshake(role == role_type::server ? asio::ssl::stream_base::server
                                                            : asio::ssl::stream_base::client,
                                  std::forward<CompletionToken>(token));
}

} // namespace rtmsg

namespace rtmsg {

/** Wraps accepted sockets in TLS; pass to http::server::listen:
    @code
    asio::ssl::context ctx(asio::ssl::context::tls_server);
    ctx.use_certificate_chain_file("cert.pem");
    ctx.use_private_key_file("key.pem", asio::ssl::context::pem);
    server.listen(endpoint, rtmsg::tls_layer{ctx}, ec);   // https:// and wss://
    @endcode
    The context must outlive the server. */
struct tls_layer {
    /// The server's TLS context (certificate and key); it must outlive the server.
    asio::ssl::context& context;
    /// Wraps an accepted socket in a TLS stream on `context`.
    asio::ssl::stream<asio::ip::tcp::socket> operator()(asio::ip::tcp::socket&& s) const
    {
        return asio::ssl::stream<asio::ip::tcp::socket>(std::move(s), context);
    }
};

} // namespace rtmsg
