#pragma once
// The read buffers the streams and the HTTP front door share: a DynamicBuffer over a
// std::string that borrows from, and gives back to, a small per-thread pool of large buffers.
#include <asio/buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rtmsg::detail {

/// Large message buffers that this thread's connections gave back (see message_buffer): up
/// to eight, none over 128 KiB (glibc maps larger blocks on their own, with no heap to trim).  A connection that receives a large message takes one instead of
/// growing a fresh string, and gives it back once the message is handled.  So steady
/// large-message traffic does not allocate and free 64 KiB blocks per message (freed next
/// to the heap top, glibc trims the heap and faults the pages in again on the next message),
/// and an idle connection still holds no buffer.
struct parked_buffers {
    static constexpr std::size_t max_count = 8;
    static constexpr std::size_t min_capacity = 4096 + 1; ///< smaller ones are not worth keeping
    static constexpr std::size_t max_capacity = 128 * 1024;
    parked_buffers() { v.reserve(max_count); }
    std::vector<std::string> v;
};

inline parked_buffers& thread_parked_buffers()
{
    thread_local parked_buffers p;
    return p;
}

/// Empties `s`, keeping its storage among the thread's parked buffers if it is worth it.
inline void park_buffer(std::string& s)
{
    std::string out;
    out.swap(s);
    auto const cap = out.capacity();
    if (cap < parked_buffers::min_capacity || cap > parked_buffers::max_capacity) return;
    out.clear();
    auto& v = thread_parked_buffers().v;
    if (v.size() < parked_buffers::max_count) {
        v.push_back(std::move(out));
        return;
    }
    auto smallest =
        std::min_element(v.begin(), v.end(), [](auto const& a, auto const& b) { return a.capacity() < b.capacity(); });
    if (smallest->capacity() < cap) smallest->swap(out);
}

/// Moves a parked buffer of at least `n` bytes into `s` (empty); false if there is none.
inline bool unpark_buffer(std::string& s, std::size_t n) noexcept
{
    auto& v = thread_parked_buffers().v;
    for (auto it = v.begin(); it != v.end(); ++it)
        if (it->capacity() >= n) {
            s.swap(*it);
            v.erase(it);
            return true;
        }
    return false;
}

/** A DynamicBuffer_v2 over a std::string (as asio::dynamic_buffer) that grows into one of
    the thread's parked buffers when it has one large enough.  Give the string's storage
    back with park_buffer() once its message is handled.  One pointer: it lives in the read
    operation that an idle connection keeps pending. */
class message_buffer {
public:
    using const_buffers_type = asio::const_buffer;
    using mutable_buffers_type = asio::mutable_buffer;

    explicit message_buffer(std::string& s) noexcept : s_(&s) {}

    std::size_t size() const noexcept { return s_->size(); }
    std::size_t max_size() const noexcept { return s_->max_size(); }
    std::size_t capacity() const noexcept { return s_->capacity(); }
    const_buffers_type data(std::size_t pos, std::size_t n) const noexcept
    {
        return asio::buffer(asio::const_buffer(s_->data(), s_->size()) + pos, n);
    }
    mutable_buffers_type data(std::size_t pos, std::size_t n) noexcept
    {
        return asio::buffer(asio::mutable_buffer(s_->data(), s_->size()) + pos, n);
    }
    void grow(std::size_t n)
    {
        make_room(n);
        s_->resize(s_->size() + n);
    }
    /// Appends `n` bytes: grow() and a copy, without grow()'s zero fill of the new room
    /// (the stream's reader uses it for every payload chunk).
    void append(char const* p, std::size_t n)
    {
        make_room(n);
        s_->append(p, n);
    }
    void shrink(std::size_t n) { s_->resize(n > s_->size() ? 0 : s_->size() - n); }
    void consume(std::size_t n) { s_->erase(0, std::min(n, s_->size())); }

private:
    /// Moves the content into a parked buffer with room for `n` more bytes, if the string
    /// would otherwise grow and one is there.
    void make_room(std::size_t n)
    {
        if (n > max_size() - size()) throw std::length_error("rtmsg: message_buffer too long");
        if (auto const need = s_->size() + n; need > s_->capacity() && need >= parked_buffers::min_capacity) {
            std::string t;
            if (unpark_buffer(t, need)) {
                t.assign(*s_); // fits: no allocation
                s_->swap(t);
                park_buffer(t);
            }
        }
    }

    std::string* s_;
};

/** The DynamicBuffer_v2 that a server connection hands to websocket::stream::read_buffered():
    a message that arrives whole within the input the stream was lent is not copied at all.
    Its only payload chunk is remembered where it lies (unmasked in place), and message()
    is a view of it, good while the input is: until the handler that gets it returns.  Any
    other use (a second chunk, data(), grow()) first copies the chunk into the string, which
    then works as message_buffer; keep() does so before the input goes away. */
class message_view_buffer {
public:
    using const_buffers_type = message_buffer::const_buffers_type;
    using mutable_buffers_type = message_buffer::mutable_buffers_type;

    explicit message_view_buffer(std::string& s) noexcept : buf_(s), s_(&s) {}

    std::size_t size() const noexcept { return s_->size() + view_.size(); }
    std::size_t max_size() const noexcept { return buf_.max_size(); }
    std::size_t capacity() const noexcept { return std::max(buf_.capacity(), size()); }
    const_buffers_type data(std::size_t pos, std::size_t n) const
    {
        const_cast<message_view_buffer*>(this)->keep();
        return buf_.data(pos, n);
    }
    mutable_buffers_type data(std::size_t pos, std::size_t n)
    {
        keep();
        return buf_.data(pos, n);
    }
    void grow(std::size_t n)
    {
        keep();
        buf_.grow(n);
    }
    /// The first chunk of an empty buffer is only remembered (see the class comment).
    void append(char const* p, std::size_t n)
    {
        if (view_.empty() && s_->empty()) {
            view_ = {p, n};
            return;
        }
        keep();
        buf_.append(p, n);
    }
    /// Appends a copy, even to an empty buffer: `p` is not good for as long as the input.
    void append_copy(char const* p, std::size_t n)
    {
        keep();
        buf_.append(p, n);
    }
    void shrink(std::size_t n)
    {
        keep();
        buf_.shrink(n);
    }
    void consume(std::size_t n)
    {
        keep();
        buf_.consume(n);
    }

    /// Copies a remembered chunk into the string: the input it lies in is going away.
    void keep()
    {
        if (view_.empty()) return;
        auto const v = view_;
        view_ = {};
        buf_.append(v.data(), v.size());
    }
    /// True while the message is a view of the input (not copied into the string).
    bool viewing() const noexcept { return !view_.empty(); }
    /// The message read so far: the remembered chunk, or the string.
    std::string_view message() const noexcept { return view_.empty() ? std::string_view(*s_) : view_; }
    /// Forgets the message (the string keeps its storage).
    void clear() noexcept
    {
        view_ = {};
        s_->clear();
    }

private:
    message_buffer buf_;
    std::string* s_;
    std::string_view view_;
};

} // namespace rtmsg::detail
