#pragma once
// The sans-I/O core of RFC 6455: frame headers, masking, and a message reader that takes
// bytes in any chunking and reports messages, control frames and protocol errors.  No
// sockets here: the stream moves bytes, this decides what they mean (and it is what the
// fuzzers drive).
#include <rtmsg/config.hpp>
#include <rtmsg/detail/utf8.hpp>
#include <rtmsg/transport/role.hpp>
#include <rtmsg/websocket/error.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <system_error>

namespace rtmsg::websocket {

/// Frame opcodes (RFC 6455 §5.2).
enum class opcode : std::uint8_t { cont = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10 };

/// The type of a data message.
enum class message_type : std::uint8_t { text = 1, binary = 2 };

/// The largest frame header: 2 bytes + 8 length bytes + 4 mask bytes.
inline constexpr std::size_t max_header_size = 14;

/// Writes a frame header into `out` (at least max_header_size bytes) and returns its size.
/// The length is always written in its shortest form.  With `mask_key` (client role) the
/// MASK bit and key are written; the payload must then be masked with mask_bytes().
inline std::size_t write_frame_header(char* out, opcode op, bool fin, std::uint64_t length,
                                      std::uint32_t const* mask_key = nullptr) noexcept
{
    auto* p = reinterpret_cast<std::uint8_t*>(out);
    p[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(op));
    std::uint8_t const mask_bit = mask_key ? 0x80 : 0;
    std::size_t n;
    if (length < 126) {
        p[1] = static_cast<std::uint8_t>(mask_bit | length);
        n = 2;
    }
    else if (length <= 0xFFFF) {
        p[1] = mask_bit | 126;
        p[2] = static_cast<std::uint8_t>(length >> 8);
        p[3] = static_cast<std::uint8_t>(length);
        n = 4;
    }
    else {
        p[1] = mask_bit | 127;
        for (int i = 0; i < 8; ++i) p[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
        n = 10;
    }
    if (mask_key) {
        std::memcpy(p + n, mask_key, 4);
        n += 4;
    }
    return n;
}

/// XORs `n` bytes in place with the 4-byte masking key, starting `offset` bytes into the
/// frame's payload (RFC 6455 §5.3).  Works a machine word at a time.
inline void mask_bytes(char* data, std::size_t n, std::array<std::uint8_t, 4> const& key, std::size_t offset) noexcept
{
    // The key repeated twice from `offset`, as it lies in memory over 8 payload bytes.
    std::uint64_t word;
    if constexpr (std::endian::native == std::endian::little) {
        std::uint32_t k;
        std::memcpy(&k, key.data(), 4);
        k = std::rotr(k, static_cast<int>(8 * (offset & 3)));
        word = std::uint64_t{k} << 32 | k;
    }
    else {
        std::uint8_t k[8];
        for (std::size_t i = 0; i < 8; ++i) k[i] = key[(offset + i) & 3];
        std::memcpy(&word, k, 8);
    }
    auto* p = reinterpret_cast<unsigned char*>(data);
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        std::uint64_t v[4];
        std::memcpy(v, p + i, 32);
        v[0] ^= word;
        v[1] ^= word;
        v[2] ^= word;
        v[3] ^= word;
        std::memcpy(p + i, v, 32);
    }
    for (; i + 8 <= n; i += 8) {
        std::uint64_t v;
        std::memcpy(&v, p + i, 8);
        v ^= word;
        std::memcpy(p + i, &v, 8);
    }
    if (i == n) return;
    std::uint8_t k[8];
    std::memcpy(k, &word, 8);
    for (; i < n; ++i) p[i] ^= k[i & 7];
}

/// A whole message in one frame, as parse_whole_frame() finds it.
struct whole_frame {
    opcode op = opcode::text; ///< the frame's opcode
    bool compressed = false;  ///< RSV1 (permessage-deflate) is set
    std::string_view payload; ///< the payload bytes, inside the frame given
};

/** Splits a complete, unmasked, final frame (a server's, as the hub frames fan-out messages)
    into its opcode and payload.  False if `frame` is anything else: a fragment, masked, with
    RSV2 or RSV3, or not exactly one frame long. */
inline bool parse_whole_frame(std::string_view frame, whole_frame& out) noexcept
{
    if (frame.size() < 2) return false;
    auto const b0 = static_cast<std::uint8_t>(frame[0]);
    auto const b1 = static_cast<std::uint8_t>(frame[1]);
    if ((b0 & 0xB0) != 0x80 || (b1 & 0x80)) return false;
    std::size_t h = 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126)
        h = 4;
    else if (len == 127)
        h = 10;
    if (frame.size() < h) return false;
    if (h != 2) {
        len = 0;
        for (std::size_t i = 2; i < h; ++i) len = (len << 8) | static_cast<std::uint8_t>(frame[i]);
    }
    if (frame.size() - h != len) return false;
    out.op = static_cast<opcode>(b0 & 0x0F);
    out.compressed = (b0 & 0x40) != 0;
    out.payload = frame.substr(h);
    return true;
}

/// What message_reader::read() stopped at.
enum class read_event : std::uint8_t {
    need_more, ///< every byte was consumed; feed more
    message,   ///< a data message is complete (payload went to the sink)
    ping,      ///< a ping arrived; control_payload() holds its payload
    pong,      ///< a pong arrived; control_payload() holds its payload
    close,     ///< a valid close frame arrived; close_code() / close_reason()
};

/** The receiving half of RFC 6455: frames to messages, for either role.

    read() consumes bytes in any chunking (one at a time works) and unmasks payload bytes
    **in place** in the input, then hands them to the sink as `sink(std::string_view)`.
    It returns after each complete message, each control frame and each error, so that
    the caller can act (answer a ping, echo a close) before feeding the rest.

    Rules enforced, each failing with the error named:
    - RSV1-3 must be clear (no extension is negotiated): bad_reserved_bits.  With
      set_compression(true) (permessage-deflate, RFC 7692 §6) RSV1 may be set on the first
      frame of a data message, which is then compressed(); never on continuation or control
      frames.  The payload of a compressed message goes to the sink as it is: the caller
      inflates it and checks its UTF-8 (the size limit applies to the compressed bytes here).
    - Opcodes 3-7 and 11-15 are reserved: bad_opcode.
    - Clients mask, servers do not: unmasked_frame / masked_frame.
    - 64-bit lengths with the top bit set: bad_length.  Lengths not in their shortest
      form (126 form below 126, 127 form below 65536): non_minimal_length.  RFC 6455
      §5.2 says the minimal encoding MUST be used; accepting others would let two parsers
      of one byte stream disagree on frame boundaries, so we fail the connection (1002)
      as Beast does.
    - Control frames: at most 125 bytes (control_too_big), FIN set (fragmented_control);
      they may arrive between the fragments of a data message.
    - Continuation with no message in progress: bad_continuation; a text/binary frame
      inside a fragmented message: expected_continuation.
    - Message larger than max_message_size: message_too_big, decided from the frame
      header, before its payload is read.
    - Text must be UTF-8, checked as bytes arrive (fail fast), and must not end inside a
      character: bad_utf8.
    - Close payload: empty, or a valid code (is_valid_close_code) and a UTF-8 reason;
      one byte is bad_close_size.
*/
class message_reader {
public:
    /// A reader for `role` (a server expects masked frames) that fails messages over
    /// `max_message_size` bytes.
    explicit message_reader(role_type role = role_type::server, std::uint64_t max_message_size = 16u << 20) noexcept
        : max_message_(max_message_size), role_(role)
    {
    }

    /// Changes the largest message accepted.
    void max_message_size(std::uint64_t n) noexcept { max_message_ = n; }
    /// Allows RSV1 on the first frame of a message (permessage-deflate was negotiated).
    void set_compression(bool on) noexcept { compression_ = on; }
    /// True if the message being read or just completed is compressed (its first frame had RSV1).
    bool compressed() const noexcept { return compressed_; }
    /// The largest message accepted.
    std::uint64_t max_message_size() const noexcept { return max_message_; }

    /// What one call to read() did.
    struct result {
        /// Bytes of the input used.
        std::size_t consumed = 0;
        /// What happened: more input needed, a data message completed, a ping, a pong or a close.
        read_event event = read_event::need_more;
        /// The protocol error, when there was one.
        std::error_code ec;
    };

    /// Consumes bytes from `data` (unmasking payload in place) until an event, an error or
    /// the end of the input.  After an error the reader must not be used again.
    template <class Sink>
    result read(char* data, std::size_t size, Sink&& sink)
    {
        std::size_t pos = 0;
        for (;;) {
            if (state_ == state::header) {
                // A whole header in the input (the usual case): copied at once.
                if (hdr_len_ == 0 && size - pos >= 2) {
                    auto const need = header_size(static_cast<std::uint8_t>(data[pos + 1]));
                    if (size - pos >= need) {
                        std::memcpy(hdr_.data(), data + pos, need);
                        hdr_len_ = static_cast<std::uint8_t>(need);
                        pos += need;
                        if (auto ec = check_first_two()) return {pos, read_event::need_more, ec};
                    }
                }
                // Otherwise gather it byte by byte; at most 14 bytes are ever copied.
                while (hdr_len_ < needed_header()) {
                    if (pos == size) return {pos, read_event::need_more, {}};
                    hdr_[hdr_len_++] = static_cast<std::uint8_t>(data[pos++]);
                    if (hdr_len_ == 2) {
                        if (auto ec = check_first_two()) return {pos, read_event::need_more, ec};
                    }
                }
                if (auto ec = on_header()) return {pos, read_event::need_more, ec};
                state_ = state::payload;
            }
            // Payload.
            auto const take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, size - pos));
            char* p = data + pos;
            if (masked_) mask_bytes(p, take, key_, mask_offset_);
            mask_offset_ = static_cast<std::uint8_t>((mask_offset_ + take) & 3);
            remaining_ -= take;
            pos += take;
            if (is_control(op_))
                gather_control(p, take);
            else if (take != 0) {
                if (msg_type_ == message_type::text && !compressed_ && !utf8_.write({p, take}))
                    return {pos, read_event::need_more, error::bad_utf8};
                sink(std::string_view(p, take));
            }
            if (remaining_ != 0) return {pos, read_event::need_more, {}};
            // The frame is complete.
            state_ = state::header;
            hdr_len_ = 0;
            if (is_control(op_)) {
                auto ev = on_control();
                if (ev.ec) return {pos, read_event::need_more, ev.ec};
                return {pos, ev.event, {}};
            }
            if (fin_) {
                if (msg_type_ == message_type::text && !compressed_ && !utf8_.complete())
                    return {pos, read_event::need_more, error::bad_utf8};
                in_message_ = false;
                last_size_ = msg_size_;
                msg_size_ = 0;
                utf8_.reset();
                return {pos, read_event::message, {}};
            }
            if (pos == size) return {pos, read_event::need_more, {}};
        }
    }

    /// The type of the message being read or just completed.
    message_type type() const noexcept { return msg_type_; }
    /// True between the first and the final frame of a data message.
    bool in_message() const noexcept { return in_message_; }
    /// Size of the message just completed.
    std::uint64_t message_size() const noexcept { return last_size_; }
    /// Payload bytes received so far of the message in progress.
    std::uint64_t partial_size() const noexcept { return msg_size_; }
    /// True while a frame header is incomplete or a frame payload is pending.
    bool mid_frame() const noexcept { return state_ == state::payload || hdr_len_ != 0; }

    /// Payload of the ping / pong just read (at most 125 bytes).  Valid until the next
    /// read(), and only while the input given to that read() is left as it is: a payload that
    /// arrived in one piece is not copied, it is read where read() unmasked it.
    std::string_view control_payload() const noexcept { return {ctrl_, ctrl_len_}; }
    /// Code of the close frame just read; close_code::no_status if it had none.
    std::uint16_t close_code() const noexcept { return close_code_; }
    /// Reason of the close frame just read (valid UTF-8).
    /// Valid as long as control_payload().
    std::string_view close_reason() const noexcept
    {
        return ctrl_len_ > 2 ? std::string_view(ctrl_ + 2, ctrl_len_ - 2) : std::string_view{};
    }

private:
    enum class state : std::uint8_t { header, payload };

    static bool is_control(opcode op) noexcept { return static_cast<std::uint8_t>(op) & 0x8; }

    /// Collects `take` payload bytes of a control frame.  A payload that comes whole in one
    /// input is referenced where it lies; one split across inputs is copied into storage made
    /// on first need, so an idle connection carries no 125-byte control buffer.
    void gather_control(char const* p, std::size_t take)
    {
        if (ctrl_len_ == 0 && remaining_ == 0) {
            ctrl_ = p;
            ctrl_len_ = static_cast<std::uint8_t>(take);
            return;
        }
        if (take == 0) return;
        if (!ctrl_store_) ctrl_store_ = std::make_unique<char[]>(125);
        ctrl_ = ctrl_store_.get(); // pieces before this one (if any) are already there
        std::memcpy(ctrl_store_.get() + ctrl_len_, p, take);
        ctrl_len_ = static_cast<std::uint8_t>(ctrl_len_ + take);
    }

    /// The size of a header whose second byte is `b1`.
    static std::size_t header_size(std::uint8_t b1) noexcept
    {
        std::size_t n = 2;
        auto const len7 = b1 & 0x7F;
        if (len7 == 126)
            n += 2;
        else if (len7 == 127)
            n += 8;
        if (b1 & 0x80) n += 4;
        return n;
    }

    std::size_t needed_header() const noexcept { return hdr_len_ < 2 ? 2 : header_size(hdr_[1]); }

    std::error_code check_first_two() noexcept
    {
        auto const b0 = hdr_[0];
        auto const b1 = hdr_[1];
        auto const op = b0 & 0x0F;
        // RFC 7692 §6: RSV1 marks the first frame of a compressed data message; nothing else.
        if ((b0 & 0x70) && ((b0 & 0x70) != 0x40 || !compression_ || op == 0 || (op & 0x8)))
            return error::bad_reserved_bits;
        if ((op >= 3 && op <= 7) || op >= 11) return error::bad_opcode;
        bool const masked = b1 & 0x80;
        if (role_ == role_type::server && !masked) return error::unmasked_frame;
        if (role_ == role_type::client && masked) return error::masked_frame;
        if (op & 0x8) {
            // RFC 6455 §5.5: control frames are never fragmented and carry at most 125 bytes.
            if (!(b0 & 0x80)) return error::fragmented_control;
            if ((b1 & 0x7F) > 125) return error::control_too_big;
        }
        return {};
    }

    std::error_code on_header() noexcept
    {
        fin_ = hdr_[0] & 0x80;
        op_ = static_cast<opcode>(hdr_[0] & 0x0F);
        masked_ = hdr_[1] & 0x80;
        std::uint64_t len = hdr_[1] & 0x7F;
        std::size_t at = 2;
        if (len == 126) {
            len = std::uint64_t(hdr_[2]) << 8 | hdr_[3];
            if (len < 126) return error::non_minimal_length;
            at = 4;
        }
        else if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; ++i) len = len << 8 | hdr_[2 + i];
            if (len >> 63) return error::bad_length;
            if (len <= 0xFFFF) return error::non_minimal_length;
            at = 10;
        }
        if (masked_) std::memcpy(key_.data(), hdr_.data() + at, 4);
        remaining_ = len;
        mask_offset_ = 0;
        if (is_control(op_)) {
            ctrl_ = nullptr;
            ctrl_len_ = 0;
            return {};
        }
        if (op_ == opcode::cont) {
            if (!in_message_) return error::bad_continuation;
        }
        else {
            if (in_message_) return error::expected_continuation;
            in_message_ = true;
            msg_type_ = static_cast<message_type>(op_);
            compressed_ = hdr_[0] & 0x40;
            msg_size_ = 0;
            utf8_.reset();
        }
        if (len > max_message_ - msg_size_) return error::message_too_big;
        msg_size_ += len;
        return {};
    }

    struct control_result {
        read_event event;
        std::error_code ec;
    };

    control_result on_control() noexcept
    {
        switch (op_) {
        case opcode::ping: return {read_event::ping, {}};
        case opcode::pong: return {read_event::pong, {}};
        default: break;
        }
        // close
        if (ctrl_len_ == 0) {
            close_code_ = close_code::no_status;
            return {read_event::close, {}};
        }
        if (ctrl_len_ == 1) return {read_event::close, error::bad_close_size};
        auto const* b = reinterpret_cast<std::uint8_t const*>(ctrl_);
        close_code_ = static_cast<std::uint16_t>(b[0] << 8 | b[1]);
        if (!is_valid_close_code(close_code_)) return {read_event::close, error::bad_close_code};
        if (!rtmsg::detail::utf8_validator::validate(close_reason())) return {read_event::close, error::bad_utf8};
        return {read_event::close, {}};
    }

    // Laid out small: every open connection holds one reader.
    std::uint64_t max_message_;
    std::uint64_t remaining_ = 0;
    std::uint64_t msg_size_ = 0;
    std::uint64_t last_size_ = 0;
    char const* ctrl_ = nullptr;         ///< control payload: in the input, or in ctrl_store_
    std::unique_ptr<char[]> ctrl_store_; ///< made when a control payload arrives in pieces
    std::array<std::uint8_t, max_header_size> hdr_{};
    std::array<std::uint8_t, 4> key_{};
    std::uint16_t close_code_ = close_code::no_status;
    role_type role_;
    state state_ = state::header;
    std::uint8_t hdr_len_ = 0;
    std::uint8_t mask_offset_ = 0; ///< payload offset mod 4
    std::uint8_t ctrl_len_ = 0;
    bool fin_ = false;
    bool masked_ = false;
    opcode op_ = opcode::cont;
    bool in_message_ = false;
    bool compression_ = false;
    bool compressed_ = false;
    message_type msg_type_ = message_type::text;
    rtmsg::detail::utf8_validator utf8_;
};

} // namespace rtmsg::websocket
