#pragma once
// protocol_endpoint with the shipped codecs (server/hub_protocol.hpp): inline in header-only
// builds, compiled once by <rtmsg/src.hpp> with RTMSG_SEPARATE_COMPILATION.
#include <rtmsg/server/impl/hub_protocol.hpp>

namespace rtmsg {

RTMSG_DECL websocket::behavior protocol_endpoint(hub& h, websocket::behavior base)
{
    return protocol_endpoint<codec::json, codec::binary>(h, std::move(base));
}

} // namespace rtmsg
