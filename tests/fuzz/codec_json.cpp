// Fuzzes the JSON codec's decoder (simdjson on demand, with and without
// padding) and validate(), and checks the decode -> encode -> decode round
// trip.
#include <rtmsg/codec/json.hpp>

#include "codec_roundtrip.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string_view const bytes(reinterpret_cast<char const*>(data), size);
    rtmsg_fuzz::roundtrip<rtmsg::codec::json>(
        bytes,
        [](rtmsg::codec::json& c, std::string_view in, rtmsg::codec::envelope& e) { return c.decode_unpadded(in, e); });
    // decode() on a buffer with exactly `padding` bytes of slack, as the
    // transport provides.
    std::string padded(bytes);
    padded.resize(size + rtmsg::codec::json::padding, '\xFF');
    rtmsg::codec::json c;
    rtmsg::codec::envelope e1, e2;
    auto const ec1 = c.decode(std::string_view(padded.data(), size), e1);
    rtmsg::codec::json c2;
    auto const ec2 = c2.decode_unpadded(bytes, e2);
    RTMSG_FUZZ_CHECK(ec1 == ec2);
    if (!ec1) RTMSG_FUZZ_CHECK(rtmsg_fuzz::same(e1, e2));
    (void)c.validate(bytes);
    return 0;
}
