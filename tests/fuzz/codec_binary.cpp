// Fuzzes the binary codec's decoder and checks the decode -> encode -> decode
// round trip.
#include <rtmsg/codec/binary.hpp>

#include "codec_roundtrip.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    // libFuzzer's buffer is exactly `size` bytes: ASan sees any read past the
    // end.
    std::string_view const bytes(reinterpret_cast<char const*>(data), size);
    rtmsg_fuzz::roundtrip<rtmsg::codec::binary>(
        bytes, [](rtmsg::codec::binary& c, std::string_view in, rtmsg::codec::envelope& e) { return c.decode(in, e); });
    return 0;
}
