#pragma once
// Codec fuzzing: decode arbitrary bytes; whatever decodes must encode, and
// decode again to the same envelope (views compared by value).
#include <rtmsg/codec/codec.hpp>

#include <string>

#include "common.hpp"

namespace rtmsg_fuzz {

inline bool same(rtmsg::codec::envelope const& a, rtmsg::codec::envelope const& b)
{
    return a.op == b.op && a.id == b.id && a.topic == b.topic && a.data == b.data && a.kind == b.kind &&
           a.offset == b.offset && a.to == b.to && a.epoch == b.epoch && a.has_since == b.has_since &&
           a.history == b.history && a.presence == b.presence && a.ack == b.ack && a.echo == b.echo &&
           a.code == b.code && a.text == b.text && a.who == b.who && a.members == b.members;
}

/// Decodes with `decode(codec, bytes, env)`, then checks the round trip.
template <class Codec, class Decode>
void roundtrip(std::string_view bytes, Decode decode)
{
    Codec first;
    rtmsg::codec::envelope e;
    if (decode(first, bytes, e)) return;
    std::string wire;
    auto const ec = first.encode(e, wire);
    RTMSG_FUZZ_CHECK(!ec);
    Codec second;
    rtmsg::codec::envelope again;
    RTMSG_FUZZ_CHECK(!decode(second, wire, again));
    RTMSG_FUZZ_CHECK(same(e, again));
    // Encoding is deterministic.
    std::string wire2;
    RTMSG_FUZZ_CHECK(!second.encode(again, wire2));
    RTMSG_FUZZ_CHECK(wire == wire2);
}

} // namespace rtmsg_fuzz
