#pragma once
// The seam between the stream and zlib: the stream calls a compression engine through this
// interface only, so <rtmsg/websocket/stream.hpp> neither includes <zlib.h> nor needs -lz.
// <rtmsg/websocket/deflate.hpp> (target rtmsg::deflate) registers the zlib engine.
#include <rtmsg/transport/teardown.hpp>
#include <rtmsg/websocket/option.hpp>
#include <rtmsg/websocket/permessage_deflate.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg::websocket::detail {

/// One connection's compression state, both directions.
class deflate_engine {
public:
    virtual ~deflate_engine() = default;
    /// Receives inflated bytes; `ctx` is the caller's.
    using sink_fn = void (*)(void* ctx, std::string_view chunk);
    /** Inflates the next piece of a compressed message; with `last`, also the end of the
        message (RFC 7692 §7.2.2's 00 00 ff ff).  Fails with error::message_too_big once the
        inflated message would exceed `limit`, error::bad_deflate on invalid data. */
    virtual std::error_code inflate(std::string_view in, bool last, std::uint64_t limit, void* ctx, sink_fn sink) = 0;
    /// Appends the compressed form of a whole message to `out`; false: send it uncompressed.
    virtual bool compress(std::string_view in, std::string& out) = 0;
    /// Between messages: frees the state that the next message does not need.
    virtual void release_idle() noexcept = 0;
    /// Bytes of zlib state held now.
    virtual std::size_t memory() const noexcept = 0;
};

using deflate_engine_factory = std::unique_ptr<deflate_engine> (*)(deflate_params const&, role_type,
                                                                   deflate_options const&);

/// The engine maker; null until a translation unit includes <rtmsg/websocket/deflate.hpp>.
inline std::atomic<deflate_engine_factory>& deflate_factory() noexcept
{
    static std::atomic<deflate_engine_factory> f{nullptr};
    return f;
}

/// Process-wide bytes of zlib state kept between messages for context takeover
/// (deflate_options::memory_budget).
inline std::atomic<std::size_t>& deflate_kept_memory() noexcept
{
    static std::atomic<std::size_t> n{0};
    return n;
}

inline bool deflate_over_budget(deflate_options const& opt) noexcept
{
    return opt.memory_budget != 0 && deflate_kept_memory().load(std::memory_order_relaxed) >= opt.memory_budget;
}

/// Can this process compress (an engine is registered) and does `opt` ask for it?
inline bool deflate_available(deflate_options const& opt) noexcept
{
    return opt.enable && deflate_factory().load(std::memory_order_acquire) != nullptr;
}

} // namespace rtmsg::websocket::detail
