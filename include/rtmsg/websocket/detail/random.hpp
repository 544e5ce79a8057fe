#pragma once
// Unpredictable bytes for masking keys (RFC 6455 §5.3, §10.3) and Sec-WebSocket-Key (§4.1):
// the operating system's CSPRNG (getrandom(2) on Linux), never rand().
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <system_error>

#if defined(__linux__)
#include <sys/random.h>
#include <cerrno>
#endif

namespace rtmsg::websocket::detail {

/// Fills `out` with `n` bytes from the OS CSPRNG.  std::random_device is the fallback: on
/// libstdc++ and libc++ it reads the same kernel source (getrandom, /dev/urandom or RDRAND).
inline void random_bytes(void* out, std::size_t n)
{
    auto* p = static_cast<unsigned char*>(out);
#if defined(__linux__)
    while (n > 0) {
        auto const r = ::getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            break; // ENOSYS on an ancient kernel: fall back below
        }
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    if (n == 0) return;
#endif
    thread_local std::random_device dev;
    while (n > 0) {
        auto const v = dev();
        auto const k = n < sizeof v ? n : sizeof v;
        std::memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}

/// A fresh masking key.  Keys are drawn from a per-thread pool refilled from the OS CSPRNG
/// 1 KiB at a time, so that masking a frame costs no system call.
inline std::uint32_t random_mask_key()
{
    struct pool {
        std::array<std::uint32_t, 256> keys;
        std::size_t next = 256;
    };
    thread_local pool p;
    if (p.next == p.keys.size()) {
        random_bytes(p.keys.data(), sizeof p.keys);
        p.next = 0;
    }
    return p.keys[p.next++];
}

} // namespace rtmsg::websocket::detail
