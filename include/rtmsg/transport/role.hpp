#pragma once
// role_type: which end of a connection this side is.  No I/O: the sans-I/O framing cores
// (websocket/frame.hpp) and the streams share it.

namespace rtmsg {

/// Which end of the connection this side is.  RFC 6455 §7.1.1: the server closes TCP first.
enum class role_type { client, server };

} // namespace rtmsg
