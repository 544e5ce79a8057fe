#pragma once
// Endpoints that attach WebSocket and SSE clients to a hub: raw_endpoint, sse_endpoint and
// metrics_handler.  Declared here, defined in server/impl/hub_endpoint.hpp (included below in
// header-only builds; compiled by <rtmsg/src.hpp> with RTMSG_SEPARATE_COMPILATION).
#include <rtmsg/config.hpp>
#include <rtmsg/hub/hub.hpp>
#include <rtmsg/server/router.hpp>
#include <rtmsg/sse/connection.hpp>
#include <rtmsg/websocket/connection.hpp>

#include <functional>
#include <string>

namespace rtmsg {

/// Options of a raw_endpoint.
struct raw_endpoint_options {
    /** May clients publish by sending messages?  false (the default): the endpoint is
        push-only, and a message from a client closes its connection with 1008 (policy
        violation).  true: each message is published to the topic, when the hub's checks let
        it through (hub_core::admit_publish: can_publish, the per-identity rate limit, the
        on_publish hook, which may also replace it); a refused message closes the connection
        with 1008 and the refusal's reason, since a raw endpoint has no error message. */
    bool client_publish = false;
};

/** A WebSocket endpoint bound to one topic, without any protocol: every message of `topic`
    is sent to every client as is (text or binary).  With `o.client_publish`, every message a
    client sends is published to `topic` as is, the sender receiving it too (`/broadcast` of
    rtmsg-testbed); by default the endpoint is push-only.

    Authorization: a client is refused with 403 at the upgrade when hub_options::can_subscribe
    says no for the topic, and its connection is closed with 1008 when it sends a message that
    it may not publish (a push-only endpoint, hub_options::can_publish, the per-identity rate
    limit or hub_options::on_publish).  Subscribers of a raw endpoint get payloads only: the
    attested sender (`from`) reaches protocol_endpoint and SSE pattern-stream subscribers.

    `base` supplies options and hooks (on_upgrade for authentication: the identity it accepts
    a client as, upgrade_decision::accept_as, is used for authorization and attached to what
    the client publishes); its on_open / on_message /
    on_close are replaced, and its on_upgrade is called first.

    @throws std::system_error (hub_error::too_many_formats) when the hub has no room for the
    raw format (see rtmsg::max_formats). */
RTMSG_DECL websocket::behavior raw_endpoint(hub& h, std::string topic, websocket::behavior base = {},
                                            raw_endpoint_options o = {});

/// Options of an SSE endpoint.
struct sse_endpoint_options {
    /// The topic or pattern streamed; empty: the `topic` query parameter names it.
    std::string topic;
    /// Settings of the streams (heartbeat, retry, queue).
    sse::options stream;
    /// Authentication before the stream starts (upgrade_decision::accept_as sets the identity).
    std::function<websocket::upgrade_decision(websocket::upgrade_request const&)> authenticate;
};

/** An SSE endpoint streaming one topic or a wildcard pattern.

    - One topic: each event carries `id:` (the topic offset) and the payload itself as
      `data:` lines, whatever its kind (binary payloads too, as their bytes).
    - A pattern (`prices.*`, `prices.>`): `id:` is the hub's sequence number, which orders
      messages across topics, and `data:` is the JSON envelope
      `{"op":"msg","topic":...,"data":...,"offset":...,"epoch":...,"from":...}` so that the
      client knows the topic and the attested sender.

    A client that reconnects with `Last-Event-ID` (or `?lastEventId=`) first receives the
    retained messages after that id, then live ones, with no gap and no duplicate.  Ids
    carry no epoch: one beyond what the topic (or the hub) has numbered comes from an earlier
    run of the server, and the client then gets everything retained. */
RTMSG_DECL sse::behavior sse_endpoint(hub& h, sse_endpoint_options o = {});

/// A plain handler serving the hub's metrics in the Prometheus text format:
/// `server.routes().get("/metrics", rtmsg::metrics_handler(hub));`
RTMSG_DECL http::handler metrics_handler(hub& h);

} // namespace rtmsg

#if !defined(RTMSG_SEPARATE_COMPILATION)
#include <rtmsg/server/impl/hub_endpoint.hpp>
#include <rtmsg/server/impl/hub_endpoint.ipp>
#endif
