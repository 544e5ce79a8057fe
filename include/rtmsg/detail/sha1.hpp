#pragma once
// SHA-1 (FIPS 180-4), only for the WebSocket accept key (RFC 6455 §4.2.2), which hashes
// 60 bytes once per handshake: a small portable implementation keeps the core free of OpenSSL.
#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace rtmsg::detail {

class sha1 {
public:
    void update(std::string_view data) noexcept
    {
        for (unsigned char c : data) {
            block_[fill_++] = c;
            if (fill_ == 64) {
                transform();
                fill_ = 0;
            }
        }
        bits_ += static_cast<std::uint64_t>(data.size()) * 8;
    }

    std::array<std::uint8_t, 20> finish() noexcept
    {
        auto const bits = bits_;
        std::uint8_t pad = 0x80;
        update({reinterpret_cast<char const*>(&pad), 1});
        std::uint8_t const zero = 0;
        while (fill_ != 56) update({reinterpret_cast<char const*>(&zero), 1});
        for (int i = 7; i >= 0; --i) {
            auto const byte = static_cast<std::uint8_t>(bits >> (i * 8));
            update({reinterpret_cast<char const*>(&byte), 1});
        }
        std::array<std::uint8_t, 20> out{};
        for (int i = 0; i < 5; ++i)
            for (int j = 0; j < 4; ++j)
                out[static_cast<std::size_t>(i * 4 + j)] = static_cast<std::uint8_t>(h_[i] >> (24 - j * 8));
        return out;
    }

private:
    static std::uint32_t rol(std::uint32_t x, int n) noexcept { return (x << n) | (x >> (32 - n)); }

    void transform() noexcept
    {
        std::uint32_t w[80];
        for (int i = 0; i < 16; ++i)
            w[i] = std::uint32_t(block_[i * 4]) << 24 | std::uint32_t(block_[i * 4 + 1]) << 16 |
                   std::uint32_t(block_[i * 4 + 2]) << 8 | std::uint32_t(block_[i * 4 + 3]);
        for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
        for (int i = 0; i < 80; ++i) {
            std::uint32_t f, k;
            if (i < 20) {
                f = (b & c) | (~b & d);
                k = 0x5A827999;
            }
            else if (i < 40) {
                f = b ^ c ^ d;
                k = 0x6ED9EBA1;
            }
            else if (i < 60) {
                f = (b & c) | (b & d) | (c & d);
                k = 0x8F1BBCDC;
            }
            else {
                f = b ^ c ^ d;
                k = 0xCA62C1D6;
            }
            auto const t = rol(a, 5) + f + e + k + w[i];
            e = d;
            d = c;
            c = rol(b, 30);
            b = a;
            a = t;
        }
        h_[0] += a;
        h_[1] += b;
        h_[2] += c;
        h_[3] += d;
        h_[4] += e;
    }

    std::uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    std::uint8_t block_[64] = {};
    std::size_t fill_ = 0;
    std::uint64_t bits_ = 0;
};

} // namespace rtmsg::detail
