#pragma once
// permessage-deflate's compression (RFC 7692 §7.2) through zlib, sans I/O: raw DEFLATE with
// the 00 00 ff ff tail stripped and restored, inflated in bounded steps.  Needs zlib: link
// rtmsg::deflate.  Including this header lets every websocket::stream of the program use it
// (options::deflate.enable); see docs/compression.md.
#include <rtmsg/websocket/detail/deflate_engine.hpp>
#include <rtmsg/websocket/error.hpp>

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg::websocket {

/** Inflates the messages of one direction (RFC 7692 §7.2.2).

    write() takes a compressed message in pieces of any size and hands the inflated bytes to
    a sink, at most `step` bytes at a time; finish() ends the message.  The size limit is
    checked as output appears, so a compression bomb fails with error::message_too_big after
    at most `limit` + `step` inflated bytes, none of them stored here.  Without context
    takeover the window is reset after each message, and release() may free the zlib state
    between messages (the next message makes it again).

    @par Thread safety  Distinct objects: Safe.  Shared objects: Unsafe.
*/
class inflater {
public:
    /// Inflated bytes produced per zlib call, each checked against the size limit.
    static constexpr std::size_t step = 16 * 1024;

    /// `window_bits` 8..15: the largest window the peer compresses with.  A peer that refers
    /// further back than its window is caught only where the reference reaches before the
    /// bytes inflated by the same zlib call (zlib keeps just the window between calls), so
    /// whether such a message fails depends on how it is split; when it passes, it inflates
    /// to what the peer meant.  With 15 bits no reference can reach past the window.
    explicit inflater(int window_bits = 15, bool no_context_takeover = false) noexcept
        : bits_(std::clamp(window_bits, 8, 15)), reset_each_(no_context_takeover)
    {
    }
    inflater(inflater const&) = delete;
    inflater& operator=(inflater const&) = delete;
    ~inflater() { release(); }

    /// Inflates a piece of the current message; `sink(std::string_view)` gets the output.
    template <class Sink>
    std::error_code write(std::string_view in, std::uint64_t limit, Sink&& sink)
    {
        if (ended_) return in.empty() ? std::error_code{} : make_error_code(error::bad_deflate);
        return run(reinterpret_cast<unsigned char const*>(in.data()), in.size(), limit, sink);
    }

    /// Ends the current message: inflates the stripped tail and flushes (RFC 7692 §7.2.2).
    template <class Sink>
    std::error_code finish(std::uint64_t limit, Sink&& sink)
    {
        static constexpr unsigned char tail[4] = {0x00, 0x00, 0xff, 0xff};
        std::error_code ec;
        if (!ended_) ec = run(tail, sizeof tail, limit, sink);
        size_ = 0;
        if (ended_ || reset_each_) {
            ended_ = false;
            if (init_) inflateReset(&z_);
        }
        return ec;
    }

    /// Bytes inflated so far of the current message.
    std::uint64_t message_size() const noexcept { return size_; }

    /// Frees the zlib state.  Between messages only; with context takeover this forgets the
    /// window, which the peer may still refer to: call it then only when the connection ends.
    /// Frees the zlib state (a quiet connection without context takeover); the next message re-creates it.
    void release() noexcept
    {
        if (!init_) return;
        inflateEnd(&z_);
        init_ = false;
    }

    /// Bytes of zlib state held: the window plus about 7 KiB of tables.
    std::size_t memory() const noexcept { return init_ ? (std::size_t(1) << bits_) + 7160 : 0; }

private:
    template <class Sink>
    std::error_code run(unsigned char const* p, std::size_t n, std::uint64_t limit, Sink& sink)
    {
        if (!init_) {
            z_ = {};
            // zlib's inflater takes any window up to 15 for raw data; the peer's 8 included.
            if (inflateInit2(&z_, -bits_) != Z_OK) return make_error_code(error::bad_deflate);
            init_ = true;
        }
        unsigned char out[step];
        z_.next_in = const_cast<unsigned char*>(p);
        z_.avail_in = static_cast<uInt>(n);
        for (;;) {
            z_.next_out = out;
            z_.avail_out = sizeof out;
            int const rc = ::inflate(&z_, Z_SYNC_FLUSH);
            auto const produced = sizeof out - z_.avail_out;
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return make_error_code(error::bad_deflate);
            if (produced > limit || size_ > limit - produced) return make_error_code(error::message_too_big);
            size_ += produced;
            if (produced != 0) sink(std::string_view(reinterpret_cast<char const*>(out), produced));
            if (rc == Z_STREAM_END) {
                // A final block (BFINAL): what follows in this message must be nothing.
                ended_ = true;
                return z_.avail_in == 0 ? std::error_code{} : make_error_code(error::bad_deflate);
            }
            if (z_.avail_in == 0 && z_.avail_out != 0) return {};
            if (rc == Z_BUF_ERROR && z_.avail_out != 0) return {}; // no progress possible: input consumed
        }
    }

    z_stream z_{};
    std::uint64_t size_ = 0;
    int bits_;
    bool reset_each_;
    bool init_ = false;
    bool ended_ = false;
};

/** Compresses the messages of one direction (RFC 7692 §7.2.1): raw DEFLATE, each message
    flushed with Z_SYNC_FLUSH and its trailing 00 00 ff ff removed.  Without context takeover
    every message is compressed alone and release() may free the state between messages.

    @par Thread safety  Distinct objects: Safe.  Shared objects: Unsafe.
*/
class deflater {
public:
    /// `window_bits` 9..15 (zlib has no raw 8: see deflate_options::window_bits), `mem_level` 1..9.
    explicit deflater(int window_bits = 15, int mem_level = 8, bool no_context_takeover = false,
                      int level = Z_DEFAULT_COMPRESSION) noexcept
        : bits_(std::clamp(window_bits, 9, 15)),
          mem_(std::clamp(mem_level, 1, 9)),
          level_(level),
          reset_each_(no_context_takeover)
    {
    }
    deflater(deflater const&) = delete;
    deflater& operator=(deflater const&) = delete;
    ~deflater() { release(); }

    /// Appends the compressed form of the message `in` to `out` (without the tail).
    void compress(std::string_view in, std::string& out)
    {
        if (!init_) {
            z_ = {};
            if (deflateInit2(&z_, level_, Z_DEFLATED, -bits_, mem_, Z_DEFAULT_STRATEGY) != Z_OK) throw std::bad_alloc();
            init_ = true;
        }
        auto const start = out.size();
        z_.next_in = reinterpret_cast<unsigned char*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        std::size_t room = deflateBound(&z_, static_cast<uLong>(in.size())) + 16;
        for (;;) {
            auto const at = out.size();
            out.resize(at + room);
            z_.next_out = reinterpret_cast<unsigned char*>(out.data() + at);
            z_.avail_out = static_cast<uInt>(room);
            int const rc = ::deflate(&z_, Z_SYNC_FLUSH);
            out.resize(out.size() - z_.avail_out);
            if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::bad_alloc(); // only a broken stream state
            if (z_.avail_out != 0 && z_.avail_in == 0) break;
            room = std::max<std::size_t>(room, 1024);
        }
        // §7.2.1: a sync flush ends with an empty stored block, 00 00 ff ff: drop it.
        if (out.size() - start >= 4 && std::memcmp(out.data() + out.size() - 4, "\x00\x00\xff\xff", 4) == 0)
            out.resize(out.size() - 4);
        if (out.size() == start) out.push_back('\0'); // §7.2.3.6: an empty message is one 00 byte
        if (reset_each_) deflateReset(&z_);
    }

    /// Frees the zlib state (a quiet connection without context takeover); the next message re-creates it.
    void release() noexcept
    {
        if (!init_) return;
        deflateEnd(&z_);
        init_ = false;
    }

    /// Bytes of zlib state held (zlib's own estimate: 2^(w+2) + 2^(m+9), plus the state).
    std::size_t memory() const noexcept
    {
        return init_ ? (std::size_t(1) << (bits_ + 2)) + (std::size_t(1) << (mem_ + 9)) + 5824 : 0;
    }

private:
    z_stream z_{};
    int bits_;
    int mem_;
    int level_;
    bool reset_each_;
    bool init_ = false;
};

namespace detail {

/// The engine a stream uses: one inflater and one deflater, with the parameters of its role.
class zlib_engine final : public deflate_engine {
public:
    zlib_engine(deflate_params const& p, role_type role, deflate_options const& opt)
        : send_bits_(role == role_type::server ? p.server_max_window_bits : p.client_max_window_bits),
          send_reset_(role == role_type::server ? p.server_no_context_takeover : p.client_no_context_takeover),
          recv_reset_(role == role_type::server ? p.client_no_context_takeover : p.server_no_context_takeover),
          in_(role == role_type::server ? p.client_max_window_bits : p.server_max_window_bits, recv_reset_),
          out_(send_bits_, opt.mem_level, send_reset_)
    {
    }
    ~zlib_engine() override { deflate_kept_memory().fetch_sub(kept_, std::memory_order_relaxed); }

    std::error_code inflate(std::string_view in, bool last, std::uint64_t limit, void* ctx, sink_fn sink) override
    {
        auto s = [&](std::string_view c) { sink(ctx, c); };
        auto ec = in_.write(in, limit, s);
        if (!ec && last) ec = in_.finish(limit, s);
        if (last || ec) account();
        return ec;
    }

    bool compress(std::string_view in, std::string& out) override
    {
        if (send_bits_ < 9) return false; // the peer allowed 256-byte windows only
        out_.compress(in, out);
        account();
        return true;
    }

    void release_idle() noexcept override
    {
        if (recv_reset_) in_.release();
        if (send_reset_) out_.release();
        account();
    }

    std::size_t memory() const noexcept override { return in_.memory() + out_.memory(); }

private:
    /// Counts the state kept between messages for context takeover in the process budget.
    void account() noexcept
    {
        std::size_t const kept = (recv_reset_ ? 0 : in_.memory()) + (send_reset_ ? 0 : out_.memory());
        if (kept == kept_) return;
        deflate_kept_memory().fetch_add(kept - kept_, std::memory_order_relaxed); // wraps as intended
        kept_ = kept;
    }

    std::uint8_t send_bits_;
    bool send_reset_;
    bool recv_reset_;
    inflater in_;
    deflater out_;
    std::size_t kept_ = 0;
};

inline std::unique_ptr<deflate_engine> make_zlib_engine(deflate_params const& p, role_type role,
                                                        deflate_options const& opt)
{
    return std::make_unique<zlib_engine>(p, role, opt);
}

/// Registers zlib with every stream of the program when this header is included anywhere.
inline bool const zlib_engine_registered = [] {
    deflate_factory().store(&make_zlib_engine, std::memory_order_release);
    return true;
}();

} // namespace detail

} // namespace rtmsg::websocket
