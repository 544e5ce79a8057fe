#pragma once
/* The separately compiled part of rtmsg.  With RTMSG_SEPARATE_COMPILATION defined in every
   translation unit of the program, include this header in exactly one source file:

       // rtmsg.cpp
       #include <rtmsg/src.hpp>

   That file then compiles, once, what the server's headers only declare in the other units:
   the HTTP server and its WebSocket and SSE connections (plain TCP; TLS too when
   RTMSG_HAS_OPENSSL is defined, as linking rtmsg::ssl does), the hub, raw_endpoint,
   sse_endpoint, metrics_handler and protocol_endpoint with the shipped codecs.  A unit that
   goes beyond that (protocol_endpoint with codecs of its own, server::serve() with a stream
   type other than tcp::socket or ssl::stream<tcp::socket>, listen() with a stream factory of
   its own) also includes the impl/ header named where that member is declared.  The
   WebSocket and SSE clients, the codecs and the Redis bridge stay header-only. */
#if !defined(RTMSG_SEPARATE_COMPILATION)
#error "rtmsg/src.hpp: define RTMSG_SEPARATE_COMPILATION in every translation unit (see the comment above)"
#endif

#if defined(RTMSG_HAS_SIMDJSON)
#include <rtmsg/detail/impl/utf8.ipp>
#endif
#include <rtmsg/hub/impl/hub.ipp>
#include <rtmsg/server/impl/hub_endpoint.ipp>
#include <rtmsg/server/impl/hub_protocol.ipp>
#include <rtmsg/server/impl/server.ipp>

#if defined(RTMSG_HAS_OPENSSL)
#include <rtmsg/transport/ssl.hpp>
#endif

#include <asio/ip/tcp.hpp>

namespace rtmsg::http {

// Connections the host accepted or parsed itself (server::serve and its kin) on TCP sockets.
template void server::serve<asio::ip::tcp::socket>(asio::ip::tcp::socket, std::string_view);
template void server::serve<asio::ip::tcp::socket>(asio::ip::tcp::socket, request, std::string_view);
template void server::serve_websocket<asio::ip::tcp::socket>(asio::ip::tcp::socket, request, std::string_view,
                                                             std::shared_ptr<websocket::behavior>);
template void server::serve_sse<asio::ip::tcp::socket>(asio::ip::tcp::socket, request, std::string_view,
                                                       std::shared_ptr<sse::behavior>);

#if defined(RTMSG_HAS_OPENSSL)
// TLS: listen(ep, rtmsg::tls_layer{context}, ec), and TLS streams the host hands over.
template void server::listen<tls_layer>(asio::ip::tcp::endpoint const&, tls_layer, std::error_code&);
using tls_socket = asio::ssl::stream<asio::ip::tcp::socket>;
template void server::serve<tls_socket>(tls_socket, std::string_view);
template void server::serve<tls_socket>(tls_socket, request, std::string_view);
template void server::serve_websocket<tls_socket>(tls_socket, request, std::string_view,
                                                  std::shared_ptr<websocket::behavior>);
template void server::serve_sse<tls_socket>(tls_socket, request, std::string_view, std::shared_ptr<sse::behavior>);
#endif

} // namespace rtmsg::http
