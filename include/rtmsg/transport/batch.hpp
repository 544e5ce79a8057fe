#pragma once
// The read batch: the messages a stream took from one read, handed to their handler one by one,
// and the work their handlers put off until the last of them has been handled.  Sans-I/O.

#include <functional>
#include <memory>
#include <utility>
#include <vector>

namespace rtmsg::transport {

/** The messages that one read of a connection produced, as their handler sees them.

    A stream that has more messages of the same read buffered while it hands one to its
    handler lends that handler its batch (websocket::stream::batch(),
    websocket::connection::batch()).  Work the handler defers runs once the batch ends: when
    the stream goes back to the socket, when the connection fails, and at the latest when the
    stream is destroyed, so nothing deferred is lost.  The hub defers its subscriber wake-ups
    there (hub::publish with a batch): a batch of publishes reaches each subscriber in one
    drain and one gathered write instead of one per message.

    Only the stream's own executor touches a batch, and only while one of its message
    handlers runs: keep no pointer to it beyond the handler. */
class read_batch {
public:
    read_batch() = default;
    read_batch(read_batch const&) = delete;
    read_batch& operator=(read_batch const&) = delete;
    ~read_batch() { run(); }

    /// True if more messages of this read follow the one being handled.
    bool more() const noexcept { return s_ && s_->more; }

    /// Runs `f()` once the batch ends (in the order deferred).
    void defer(std::function<void()> f) { state().work.push_back(std::move(f)); }

    /** State a handler keeps from one message of the batch to the next (the hub's WebSocket
        endpoint gathers the batch's publishes there, to hand them over together).  Released
        once the batch ends, after the deferred work has run. */
    std::shared_ptr<void>& carry() { return state().carry; }

    /// True while work is deferred or state is carried.
    bool active() const noexcept { return s_ && (!s_->work.empty() || s_->carry); }

    /// For streams: says whether more messages of this read follow the one being handed out.
    void set_more(bool more)
    {
        if (more || s_) state().more = more;
    }

    /// For streams: ends the batch, running what was deferred, including what that defers.
    void run()
    {
        if (!s_) return;
        while (!s_->work.empty()) {
            auto work = std::move(s_->work);
            s_->work.clear();
            for (auto& f : work) f();
        }
        s_->more = false;
        s_->carry.reset();
    }

private:
    struct state_type {
        std::vector<std::function<void()>> work;
        std::shared_ptr<void> carry;
        bool more = false;
    };

    state_type& state()
    {
        if (!s_) s_ = std::make_unique<state_type>();
        return *s_;
    }

    // Made on first use (most streams never batch anything): one pointer while unused.
    std::unique_ptr<state_type> s_;
};

} // namespace rtmsg::transport
