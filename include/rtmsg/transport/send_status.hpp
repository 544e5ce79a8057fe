#pragma once
// What queueing a message on a connection did: the answer of every stream's send()
// (websocket::stream, sse::stream) and of the server-side connections.

namespace rtmsg {

/// What send() did with a message.
/// What send() did with a message.
enum class send_status {
    queued,       ///< queued for writing
    backpressure, ///< queued, but the queue is over its soft limit: slow down
    dropped,      ///< not queued: the queue is over its hard limit
    closed,       ///< not queued: the connection is closing or closed
};

} // namespace rtmsg
