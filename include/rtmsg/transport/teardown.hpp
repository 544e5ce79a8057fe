#pragma once
// async_teardown: the one customization point for what differs between streams when a
// connection ends after a WebSocket closing handshake or an SSE stream: a TCP socket sends
// FIN and waits for the peer's, a TLS stream sends close_notify first (transport/ssl.hpp).
//
// To carry rtmsg over your own stream type, declare in your type's namespace
//
//     template <class CompletionToken>
//     auto async_teardown(rtmsg::role_type, my_stream&, CompletionToken&&);
//
// completing with void(std::error_code); argument-dependent lookup finds it.
#include <rtmsg/config.hpp>
#include <rtmsg/transport/role.hpp>
#include <rtmsg/transport/stream.hpp>

#include <asio/async_result.hpp>
#include <asio/compose.hpp>
#include <asio/ip/tcp.hpp>

#include <array>
#include <memory>
#include <system_error>
#include <type_traits>

namespace rtmsg {

namespace detail {
template <class>
inline constexpr bool dependent_false = false;

/// Sends FIN, then reads and discards until the peer's FIN, then closes.  Reading to EOF
/// matters: closing a socket with unread input makes the kernel send RST, which can destroy
/// our close frame before the peer reads it.
template <class Socket>
struct tcp_teardown_op {
    Socket& socket;
    std::unique_ptr<std::array<char, 512>> discard = std::make_unique<std::array<char, 512>>();
    bool started = false;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, std::size_t = 0)
    {
        if (!started) {
            started = true;
            std::error_code ignored;
            socket.shutdown(asio::socket_base::shutdown_send, ignored);
            if (!socket.is_open()) return finish(self, {});
        }
        else if (ec) {
            return finish(self, ec == asio::error::eof ? std::error_code{} : ec);
        }
        socket.async_read_some(asio::buffer(*discard), std::move(self));
    }

    template <class Self>
    void finish(Self& self, std::error_code ec)
    {
        std::error_code ignored;
        socket.close(ignored);
        self.complete(ec);
    }
};
} // namespace detail

/// Teardown for plain TCP sockets: shutdown(send), drain to EOF, close.
template <class Protocol, class Executor, class CompletionToken>
auto async_teardown(role_type, asio::basic_stream_socket<Protocol, Executor>& socket, CompletionToken&& token)
{
    return asio::async_compose<CompletionToken, void(std::error_code)>(
        detail::tcp_teardown_op<asio::basic_stream_socket<Protocol, Executor>>{socket}, token, socket);
}

/// Fallback: no teardown is known for this stream type.
template <class Stream, class CompletionToken>
auto async_teardown(role_type, Stream&, CompletionToken&&)
{
    static_assert(detail::dependent_false<Stream>,
                  "rtmsg: no async_teardown for this stream type. For asio::ssl::stream include "
                  "<rtmsg/transport/ssl.hpp>; for your own stream declare "
                  "async_teardown(rtmsg::role_type, YourStream&, CompletionToken&&) in its namespace.");
}

} // namespace rtmsg
