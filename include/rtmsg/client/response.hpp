#pragma once
// The clients' names for the response head (see <rtmsg/http/response_head.hpp>).
#include <rtmsg/http/response_head.hpp>

namespace rtmsg::client {

using http::parse_response_head;
using http::parse_result;
using http::response_head;

} // namespace rtmsg::client
