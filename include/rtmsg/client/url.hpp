#pragma once
// The clients' names for URLs (see <rtmsg/http/url.hpp>).
#include <rtmsg/http/url.hpp>

namespace rtmsg::client {

using http::parse_url;
using http::url;

} // namespace rtmsg::client
