#pragma once
// Shared helpers for the fuzz targets in this directory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace rtmsg_fuzz {

/// Fails loudly: libFuzzer (and the replay driver) record the input as a crash.
#define RTMSG_FUZZ_CHECK(cond)                                                                                         \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            __builtin_trap();                                                                                          \
        }                                                                                                              \
    } while (false)

/// Consumes fuzzer bytes: small integers first, the rest as data.
class input {
public:
    input(std::uint8_t const* data, std::size_t size) noexcept : p_(reinterpret_cast<char const*>(data)), n_(size) {}
    std::uint8_t byte() noexcept
    {
        if (n_ == 0) return 0;
        --n_;
        return static_cast<std::uint8_t>(*p_++);
    }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(byte() << 8 | byte()); }
    std::string_view take(std::size_t n) noexcept
    {
        if (n > n_) n = n_;
        std::string_view s(p_, n);
        p_ += n;
        n_ -= n;
        return s;
    }
    std::string_view rest() noexcept { return take(n_); }
    bool empty() const noexcept { return n_ == 0; }

private:
    char const* p_;
    std::size_t n_;
};

} // namespace rtmsg_fuzz
