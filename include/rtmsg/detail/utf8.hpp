#pragma once
// Incremental UTF-8 validation (RFC 3629, Unicode Table 3-7) for WebSocket text messages.
//
// A text message may arrive in any number of fragments and reads; RFC 6455 §8.1 lets an
// endpoint fail the connection as soon as the bytes so far cannot begin valid UTF-8, and
// Autobahn's 6.x cases expect that ("fail fast").  The bulk of each chunk is checked with
// simdjson's SIMD validator; only the up-to-3 bytes of a character split across chunks go
// through the scalar state machine below.
#include <rtmsg/config.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rtmsg::detail {

#if defined(RTMSG_HAS_SIMDJSON)
/// simdjson's SIMD validator on `n` bytes of whole characters (detail/impl/utf8.hpp): the
/// only use of simdjson here, kept out of line so that a unit that frames WebSocket
/// messages does not parse simdjson.h in separate-compilation builds.
RTMSG_DECL bool validate_utf8_simd(char const* p, std::size_t n) noexcept;
#endif

class utf8_validator {
public:
    /// Feeds the next bytes.  Returns false as soon as the bytes seen so far cannot be the
    /// start of valid UTF-8; after that the validator must be reset.
    bool write(std::string_view chunk) noexcept
    {
        auto const* p = reinterpret_cast<std::uint8_t const*>(chunk.data());
        std::size_t n = chunk.size();
        // 1. Complete a character left open by the previous chunk.
        while (need_ != 0 && n != 0) {
            if (!step(*p)) return false;
            ++p;
            --n;
        }
        if (n == 0) return true;
        // 2. Leave out a character that this chunk starts but does not finish.
        std::size_t cut = n;
        for (std::size_t i = 1; i <= 3 && i <= n; ++i) {
            std::uint8_t const b = p[n - i];
            if ((b & 0xC0) == 0x80) continue;
            std::size_t const len = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            if (len > i) cut = n - i;
            break;
        }
        // 3. Whole characters in bulk.
        if (!validate_complete(p, cut)) return false;
        // 4. The open character, byte by byte, so that an impossible prefix fails now.
        for (std::size_t i = cut; i < n; ++i)
            if (!step(p[i])) return false;
        return true;
    }

    /// True if the input so far ends on a character boundary (a message may end here).
    bool complete() const noexcept { return need_ == 0; }

    void reset() noexcept
    {
        need_ = 0;
        lo_ = 0x80;
        hi_ = 0xBF;
    }

    /// Validates one complete string (close reasons).
    static bool validate(std::string_view s) noexcept
    {
        utf8_validator v;
        return v.write(s) && v.complete();
    }

private:
    static bool validate_complete(std::uint8_t const* p, std::size_t n) noexcept
    {
#if defined(RTMSG_HAS_SIMDJSON)
        if (n >= 32) return validate_utf8_simd(reinterpret_cast<char const*>(p), n);
#endif
        utf8_validator v;
        for (std::size_t i = 0; i < n; ++i) {
            if (p[i] < 0x80 && v.need_ == 0) continue;
            if (!v.step(p[i])) return false;
        }
        return v.need_ == 0;
    }

    bool step(std::uint8_t b) noexcept
    {
        if (need_ != 0) {
            if (b < lo_ || b > hi_) return false;
            lo_ = 0x80;
            hi_ = 0xBF;
            --need_;
            return true;
        }
        if (b < 0x80) return true;
        if (b < 0xC2) return false; // continuation byte or overlong 2-byte lead C0/C1
        if (b < 0xE0) {
            need_ = 1;
            return true;
        }
        if (b < 0xF0) {
            need_ = 2;
            if (b == 0xE0)
                lo_ = 0xA0; // overlong 3-byte forms
            else if (b == 0xED)
                hi_ = 0x9F; // U+D800..U+DFFF surrogates
            return true;
        }
        if (b < 0xF5) {
            need_ = 3;
            if (b == 0xF0)
                lo_ = 0x90; // overlong 4-byte forms
            else if (b == 0xF4)
                hi_ = 0x8F; // above U+10FFFF
            return true;
        }
        return false;
    }

    std::uint8_t need_ = 0;
    std::uint8_t lo_ = 0x80;
    std::uint8_t hi_ = 0xBF;
};

} // namespace rtmsg::detail

#if defined(RTMSG_HAS_SIMDJSON) && !defined(RTMSG_SEPARATE_COMPILATION)
#include <rtmsg/detail/impl/utf8.ipp>
#endif
