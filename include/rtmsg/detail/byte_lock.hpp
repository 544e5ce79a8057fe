#pragma once
// A lock of one byte, for the short critical sections that every connection carries: a
// frame pool's push or pop, a subscriber queue's push or take.  A std::mutex would add 40
// bytes to each connection.
#include <atomic>
#include <thread>

namespace rtmsg::detail {

/// Spins on an atomic flag, yielding while it is held.  For critical sections of a few
/// instructions to a few microseconds; not fair, not recursive.
class byte_lock {
public:
    void lock() noexcept
    {
        while (busy_.exchange(true, std::memory_order_acquire))
            while (busy_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
    void unlock() noexcept { busy_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> busy_{false};
};

} // namespace rtmsg::detail
