#pragma once
// The WebSocket client: connect by URL (ws://, wss://), then the same websocket::stream as
// the server, in the client role.
#include <rtmsg/client/response.hpp>
#include <rtmsg/client/socket.hpp>
#include <rtmsg/client/url.hpp>
#include <rtmsg/websocket/stream.hpp>

#include <asio/compose.hpp>
#include <asio/post.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace rtmsg::websocket {

/** Settings of a client connection.

    @code
    rtmsg::websocket::client_options o;
    o.subprotocols = {"rtmsg.json"};
    o.headers.add("Authorization", "Bearer " + token);
    o.tls.ca_file = "ca.pem";                 // wss:// with a private CA
    o.ws.max_message_size = 1 << 20;          // same limits as the server's
    @endcode
*/
struct client_options {
    std::vector<std::string> subprotocols; ///< offered in Sec-WebSocket-Protocol, preferred first
    http::fields headers;                  ///< extra request fields (Authorization, Cookie, Origin)
    options ws;                            ///< limits and timers; ws.handshake_timeout bounds the upgrade
    client::connect_options connect;       ///< connect timeout and TLS settings
};

/// A client WebSocket: TCP or TLS, chosen by the URL's scheme.
using client_stream = stream<client::socket>;

namespace detail {

struct connect_state {
    client::url url;
    client_handshake req;
    client::response_head local_res;
};

struct connect_op {
    client_stream& ws;
    client_options const& opt;
    client::response_head* res;
    std::unique_ptr<connect_state> st;
    enum class step { start, connecting, handshaking } at = step::start;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {})
    {
        switch (at) {
        case step::start:
            at = step::connecting;
            ws.set_options(opt.ws);
            return client::async_connect(ws.next_layer(), st->url, opt.connect, std::move(self));
        case step::connecting:
            if (ec) return self.complete(ec);
            st->req.host = st->url.host_header();
            st->req.target = st->url.target;
            st->req.subprotocols = opt.subprotocols;
            st->req.headers = opt.headers;
            at = step::handshaking;
            return ws.async_handshake(st->req, res ? *res : st->local_res, std::move(self));
        case step::handshaking: return self.complete(ec);
        }
    }
};

} // namespace detail

namespace detail {

template <class CompletionToken>
auto async_connect_impl(client_stream& ws, std::string_view url, client_options const& opt, client::response_head* res,
                        CompletionToken&& token)
{
    auto st = std::make_unique<connect_state>();
    auto const ec = client::parse_url(url, st->url);
    return asio::async_compose<CompletionToken, void(std::error_code)>(
        [op = connect_op{ws, opt, res, std::move(st)}, ec, first = true](auto& self, std::error_code e = {}) mutable {
            if (first) {
                first = false;
                if (ec) {
                    // Never complete inside the initiating call.
                    auto ex = asio::get_associated_executor(self, op.ws.get_executor());
                    return asio::post(ex, [self = std::move(self), ec]() mutable { self.complete(ec); });
                }
            }
            op(self, e);
        },
        token, ws);
}

} // namespace detail

/** Connects `ws` to the WebSocket server at `url` and performs the opening handshake.

    `url` is `ws://host[:port][/path][?query]` or `wss://...`; the host may be a name
    (resolved, IPv4 and IPv6), an IPv4 literal or an IPv6 literal in brackets.  Connecting
    (resolve + TCP + TLS) is bounded by `opt.connect.connect_timeout`, the upgrade by
    `opt.ws.handshake_timeout`; either fails with rtmsg::error::timeout.  For wss:// the
    certificate is verified against the system store (plus `opt.connect.tls` CAs) and the
    URL's host name.  A refused or invalid upgrade fails with an error equal to
    condition::handshake_failed; with `res`, the server's response is kept there (status,
    headers, the selected `Sec-WebSocket-Protocol`).

    Afterwards `ws` is an ordinary websocket::stream in the client role: async_read,
    async_write, send, async_ping, async_close, with the server's framing rules, UTF-8
    checks, size limits and keepalive.  `ws` and `opt` (and `res`) must stay valid until
    completion.

    @par Completion signature  `void(std::error_code ec)`

    @par Example
    @code
    rtmsg::websocket::client_stream ws(ioc.get_executor());
    rtmsg::websocket::async_connect(ws, "ws://127.0.0.1:9001/echo", opts, [&](std::error_code ec) {
        if (!ec) ws.send(rtmsg::websocket::message_type::text, "hello");
    });
    @endcode
*/
template <asio::completion_token_for<void(std::error_code)> CompletionToken>
auto async_connect(client_stream& ws, std::string_view url, client_options const& opt, client::response_head& res,
                   CompletionToken&& token)
{
    return detail::async_connect_impl(ws, url, opt, &res, std::forward<CompletionToken>(token));
}

/// As above, without keeping the server's response.
template <asio::completion_token_for<void(std::error_code)> CompletionToken =
              asio::default_completion_token_t<client::socket::executor_type>>
auto async_connect(client_stream& ws, std::string_view url, client_options const& opt,
                   CompletionToken&& token = CompletionToken{})
{
    return detail::async_connect_impl(ws, url, opt, nullptr, std::forward<CompletionToken>(token));
}

} // namespace rtmsg::websocket
