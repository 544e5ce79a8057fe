#pragma once
// protocol_endpoint: the rtmsg wire protocol (docs/protocol.md) over WebSocket, with the
// codec chosen per connection by subprotocol.  Declared here, defined in
// server/impl/hub_protocol.hpp (included below in header-only builds; with
// RTMSG_SEPARATE_COMPILATION, <rtmsg/src.hpp> compiles the shipped codecs' endpoint, and a
// unit that instantiates protocol_endpoint with codecs of its own includes the impl header).
#include <rtmsg/config.hpp>
#include <rtmsg/codec/codec.hpp>
#include <rtmsg/server/hub_endpoint.hpp>

namespace rtmsg {

/** The rtmsg wire protocol over WebSocket (docs/protocol.md): clients subscribe (with
    wildcards, history and resume), unsubscribe, publish (with acknowledgement, to all or
    to all but themselves) and ask for presence.  The codec is chosen per connection by
    WebSocket subprotocol among `Codecs` ("rtmsg.json", "rtmsg.binary", or yours); a client
    that offers none gets the first.

    `base` supplies options and hooks: `on_upgrade` for authentication (the identity it
    accepts a client as, upgrade_decision::accept_as, is used for presence and authorization
    and is attached to every message the client publishes as its `from`); its on_open,
    on_message, on_close and select_subprotocol are replaced.  Authorization, limits and
    slow-consumer policies come from the hub's options.

    @code
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    @endcode

    @throws std::system_error (hub_error::too_many_formats) when the hub has no room for
    another wire format (rtmsg::max_formats, counting each codec and each SSE and raw form).
*/
template <codec::codec... Codecs>
websocket::behavior protocol_endpoint(hub& h, websocket::behavior base = {});

/// The protocol with the shipped codecs: JSON ("rtmsg.json", the default) and binary.
RTMSG_DECL websocket::behavior protocol_endpoint(hub& h, websocket::behavior base = {});

} // namespace rtmsg

#if !defined(RTMSG_SEPARATE_COMPILATION)
#include <rtmsg/server/impl/hub_protocol.hpp>
#include <rtmsg/server/impl/hub_protocol.ipp>
#endif
