#pragma once
// A growable ring buffer: FIFO without an allocation per element once warm (std::deque
// allocates a block every few pushes), used for subscriber queues.
#include <cstddef>
#include <utility>
#include <vector>

namespace rtmsg::detail {

template <class T>
class ring {
public:
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }

    void push_back(T v)
    {
        if (size_ == buf_.size()) grow();
        buf_[(head_ + size_) & mask_] = std::move(v);
        ++size_;
    }
    T& front() noexcept { return buf_[head_]; }
    T& back() noexcept { return buf_[(head_ + size_ - 1) & mask_]; }
    /// The i-th element from the front.
    T& operator[](std::size_t i) noexcept { return buf_[(head_ + i) & mask_]; }
    void pop_front()
    {
        buf_[head_] = T{};
        head_ = (head_ + 1) & mask_;
        --size_;
    }
    /// Removes the i-th element from the front, keeping the order of the rest.
    void erase(std::size_t i)
    {
        for (; i + 1 < size_; ++i) (*this)[i] = std::move((*this)[i + 1]);
        back() = T{};
        --size_;
    }
    void clear()
    {
        while (!empty()) pop_front();
    }

private:
    void grow()
    {
        std::vector<T> next(buf_.empty() ? 16 : buf_.size() * 2);
        for (std::size_t i = 0; i < size_; ++i) next[i] = std::move((*this)[i]);
        buf_ = std::move(next);
        mask_ = buf_.size() - 1;
        head_ = 0;
    }

    std::vector<T> buf_;
    std::size_t mask_ = 0; ///< capacity - 1: the capacity is a power of two, so no division per index
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

} // namespace rtmsg::detail
