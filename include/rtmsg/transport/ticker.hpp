#pragma once
// Periodic checks (WebSocket keepalive, SSE heartbeats) shared by every stream of an
// execution context: one timer per period for all of them, instead of a timer and a pending
// wait operation per connection.  An idle connection then costs a list node here, not the
// ~440 bytes of a timer with its wait.
#include <rtmsg/detail/executor.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/execution/context.hpp>
#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/query.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <type_traits>
#include <vector>

namespace rtmsg::detail {

class tick_service;

/** A stream's place in a tick group (an intrusive list node).  The stream derives from it,
    joins with tick_service::join() and leaves with tick_service::leave() (also from its
    destructor).  on_tick() runs on whichever thread runs the group's timer, with the
    service's lock held: it may only post to the stream's own executor.  It returns what
    keeps the stream alive meanwhile (or nothing), which is released after the lock. */
class tick_entry {
public:
    tick_entry() = default;
    tick_entry(tick_entry const&) = delete;
    tick_entry& operator=(tick_entry const&) = delete;

    virtual std::shared_ptr<void> on_tick() = 0;

protected:
    ~tick_entry() = default;

private:
    friend class tick_service;
    struct group;
    tick_entry* prev_ = nullptr;
    tick_entry* next_ = nullptr;
    group* group_ = nullptr;
};

struct tick_entry::group {
    group(tick_service* s, std::chrono::steady_clock::duration p) : svc(s), period(p) {}
    tick_service* svc;
    std::chrono::steady_clock::duration period;
    tick_entry* head = nullptr;
    std::size_t count = 0;
    bool armed = false;
    std::unique_ptr<asio::steady_timer> timer;
};

/** One per execution context (`asio::use_service`).  Each distinct period has a group: an
    intrusive list of entries and one steady_timer, armed while the list is not empty.  Every
    member of a group is ticked once per period, whenever it joined: a check that needs to
    fire within a fraction of some timeout ticks at that fraction (as a timer per stream
    did). */
class tick_service final : public asio::execution_context::service {
public:
    using duration = std::chrono::steady_clock::duration;

    static inline asio::execution_context::id id;

    explicit tick_service(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}

    /// Makes `e` tick every `period` (moving it from another group if needed).  `ex` is the
    /// stream's executor; the group's timer runs on its context.
    template <class Executor>
    static void join(Executor const& ex, tick_entry& e, duration period)
    {
        asio::execution_context& ctx = asio::query(ex, asio::execution::context);
        auto& svc = asio::use_service<tick_service>(ctx);
        // A connection's strand: the timer only needs the context under it.
        asio::any_io_executor timer_ex = ex;
        if constexpr (std::is_same_v<Executor, asio::any_io_executor>) {
            if (auto const* st = executor_target<asio::strand<asio::io_context::executor_type>>(ex))
                timer_ex = st->get_inner_executor();
        }
        svc.do_join(std::move(timer_ex), e, period);
    }

    /// Stops ticking `e`; a no-op when it is in no group.  Safe from its destructor.
    static void leave(tick_entry& e) noexcept
    {
        auto* g = e.group_;
        if (!g) return;
        std::lock_guard<std::mutex> lock(g->svc->m_);
        if (e.group_) e.group_->svc->unlink(e);
    }

    /// Entries in groups of this service (for tests).
    std::size_t size() const
    {
        std::lock_guard<std::mutex> lock(m_);
        std::size_t n = 0;
        for (auto const& [p, g] : groups_) n += g->count;
        return n;
    }

private:
    using group = tick_entry::group;

    void do_join(asio::any_io_executor timer_ex, tick_entry& e, duration period)
    {
        std::lock_guard<std::mutex> lock(m_);
        auto& slot = groups_[period.count()];
        if (!slot) slot = std::make_unique<group>(this, period);
        group* g = slot.get();
        if (e.group_ == g) return;
        if (e.group_) unlink(e);
        e.group_ = g;
        e.prev_ = nullptr;
        e.next_ = g->head;
        if (g->head) g->head->prev_ = &e;
        g->head = &e;
        ++g->count;
        if (!g->timer) g->timer = std::make_unique<asio::steady_timer>(std::move(timer_ex));
        if (!g->armed) arm(*g);
    }

    void unlink(tick_entry& e) noexcept
    {
        auto* g = e.group_;
        if (e.prev_)
            e.prev_->next_ = e.next_;
        else
            g->head = e.next_;
        if (e.next_) e.next_->prev_ = e.prev_;
        e.prev_ = e.next_ = nullptr;
        e.group_ = nullptr;
        // The last one out stops the timer, so that io_context::run() can return.
        if (--g->count == 0 && g->armed && g->timer) g->timer->cancel();
    }

    void arm(group& g)
    {
        g.armed = true;
        g.timer->expires_after(g.period);
        g.timer->async_wait([this, gp = &g](std::error_code ec) { on_timer(*gp, ec); });
    }

    void on_timer(group& g, std::error_code ec)
    {
        std::vector<std::shared_ptr<void>> keep;
        {
            std::lock_guard<std::mutex> lock(m_);
            g.armed = false;
            if (!g.timer) return; // shut down
            if (!ec) {
                keep.reserve(g.count);
                for (auto* e = g.head; e; e = e->next_)
                    if (auto k = e->on_tick()) keep.push_back(std::move(k));
            }
            if (g.count != 0) arm(g);
        }
        // `keep` may hold the last reference to a stream, whose destructor leaves its group:
        // released here, after the lock.
    }

    void shutdown() override
    {
        std::lock_guard<std::mutex> lock(m_);
        for (auto& [p, g] : groups_) {
            // Streams that outlive their execution context must not reach back into it.
            while (g->head) unlink(*g->head);
            g->timer.reset();
            g->armed = false;
        }
    }

    mutable std::mutex m_;
    std::map<duration::rep, std::unique_ptr<group>> groups_;
};

} // namespace rtmsg::detail
