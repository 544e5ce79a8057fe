#pragma once
// The out-of-line part of detail/utf8.hpp: simdjson's validator.
#include <rtmsg/detail/utf8.hpp>

#include <simdjson.h>

namespace rtmsg::detail {

RTMSG_DECL bool validate_utf8_simd(char const* p, std::size_t n) noexcept
{
    return simdjson::validate_utf8(p, n);
}

} // namespace rtmsg::detail
