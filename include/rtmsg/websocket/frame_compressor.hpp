#pragma once
// Compress once, send to many: permessage-deflate frames that every peer without server
// context takeover can take (RFC 7692 §7.1.1.1), made once per message instead of once per
// connection.  The hub uses it for its fan-out; see docs/compression.md.
#include <rtmsg/websocket/detail/deflate_engine.hpp>
#include <rtmsg/websocket/frame.hpp>
#include <rtmsg/websocket/option.hpp>
#include <rtmsg/websocket/permessage_deflate.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtmsg::websocket {

/** Compresses complete server frames once for every connection that can share them.

    A frame compressed without context (no back-references to earlier messages) with an
    LZ77 window of `options.window_bits` inflates correctly for any peer that agreed on
    `server_no_context_takeover` and a server window at least that large (fits()).  A peer
    whose server side keeps its context cannot take it: its inflater's window would then
    differ from the one its own connection's compressor assumes.

    @par Thread safety  compress() may be called from several threads at once: each call
    takes a zlib state of its own from a small pool.

    @code
    rtmsg::websocket::frame_compressor z(behavior.options.deflate);
    std::string compressed;
    bool const once = z.compress(frame, compressed); // once per message
    // per connection c: once && c->compression() && z.fits(*c->compression()) ? compressed : frame
    @endcode
*/
class frame_compressor {
public:
    /// Uses `o.window_bits`, `o.mem_level` and `o.threshold`.
    explicit frame_compressor(deflate_options const& o) : opt_(o)
    {
        opt_.window_bits = static_cast<std::uint8_t>(o.window_bits < 9 ? 9 : (o.window_bits > 15 ? 15 : o.window_bits));
        params_.server_no_context_takeover = true;
        params_.server_max_window_bits = opt_.window_bits;
    }

    /// Can this process compress (zlib is linked: rtmsg::deflate) and does `o` enable it?
    static bool available(deflate_options const& o) noexcept { return detail::deflate_available(o); }

    /// Does a connection that agreed on `p` inflate what compress() makes?
    bool fits(deflate_params const& p) const noexcept
    {
        return p.server_no_context_takeover && p.server_max_window_bits >= opt_.window_bits;
    }

    /** Appends to `out` the compressed form (RSV1 set) of `frame`, a complete, unmasked,
        final text or binary frame.  False, with `out` unchanged, when it goes out as it is:
        its payload is below the threshold or would not get shorter, it is not such a
        frame, it is compressed already, or zlib is not in the program. */
    bool compress(std::string_view frame, std::string& out)
    {
        whole_frame f;
        if (!parse_whole_frame(frame, f) || f.compressed || (f.op != opcode::text && f.op != opcode::binary) ||
            f.payload.size() < opt_.threshold)
            return false;
        auto engine = take();
        if (!engine) return false;
        thread_local std::string z;
        z.clear();
        bool const ok = engine->compress(f.payload, z);
        give_back(std::move(engine));
        // Compressed alone, a short message can come out longer: then it goes as it is
        // (safe here, where no window is shared between messages).
        if (!ok || z.size() >= f.payload.size()) return false;
        char hdr[max_header_size];
        auto const n = write_frame_header(hdr, f.op, true, z.size());
        hdr[0] = static_cast<char>(hdr[0] | 0x40); // RFC 7692 §6: the first frame of a compressed message
        out.reserve(out.size() + n + z.size());
        out.append(hdr, n);
        out.append(z);
        if (z.capacity() > (256u << 10)) std::string().swap(z);
        return true;
    }

    /// The options in use (window bits clamped to 9..15).
    deflate_options const& options() const noexcept { return opt_; }

private:
    std::unique_ptr<detail::deflate_engine> take()
    {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!free_.empty()) {
                auto e = std::move(free_.back());
                free_.pop_back();
                return e;
            }
        }
        auto const make = detail::deflate_factory().load(std::memory_order_acquire);
        if (!make) return nullptr;
        return make(params_, role_type::server, opt_);
    }

    void give_back(std::unique_ptr<detail::deflate_engine> e)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        free_.push_back(std::move(e)); // at most one per thread that compressed at once
    }

    deflate_options opt_;
    deflate_params params_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<detail::deflate_engine>> free_;
};

} // namespace rtmsg::websocket
