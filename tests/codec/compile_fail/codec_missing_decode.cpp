// Compile-fail test (simdjson's pattern): builds with RTMSG_EXPECT_FAIL=0, must NOT build
// with RTMSG_EXPECT_FAIL=1, where the codec lacks decode().  The passing build proves that
// the failure comes from the concept, not from a typo.
#include <rtmsg/codec/codec.hpp>

#include <string>
#include <string_view>
#include <system_error>

#ifndef RTMSG_EXPECT_FAIL
#error "build with -DRTMSG_EXPECT_FAIL=0 (must compile) or -DRTMSG_EXPECT_FAIL=1 (must not)"
#endif

struct my_codec {
    using value_type = rtmsg::codec::envelope;
    static constexpr std::string_view name = "my";
    static constexpr bool is_text = false;
    static constexpr std::size_t padding = 0;
    std::error_code encode(value_type const&, std::string&) { return {}; }
#if !RTMSG_EXPECT_FAIL
    std::error_code decode(std::string_view, value_type&)
    {
        return {};
    }
#endif
};

template <rtmsg::codec::codec Codec>
struct session {
    Codec codec;
};

int main()
{
    session<my_codec> s; // error: 'my_codec' does not satisfy 'codec'
    (void)s;
}
