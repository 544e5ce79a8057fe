#pragma once
// The non-template members of http::server (server/server.hpp): inline in header-only
// builds, compiled once by <rtmsg/src.hpp> with RTMSG_SEPARATE_COMPILATION.
#include <rtmsg/server/impl/server.hpp>

namespace rtmsg::http {

RTMSG_DECL server::server(asio::any_io_executor ex, server_options opt)
    : state_(std::make_shared<detail::server_state>(std::move(ex), std::move(opt)))
{
}

RTMSG_DECL server::~server()
{
    stop();
}

RTMSG_DECL router& server::routes() noexcept
{
    return state_->routes;
}

RTMSG_DECL server_options const& server::get_options() const noexcept
{
    return state_->opt;
}

RTMSG_DECL void server::listen(asio::ip::tcp::endpoint const& ep, std::error_code& ec)
{
    listen(ep, detail::plain_socket{}, ec);
}

RTMSG_DECL asio::ip::tcp::endpoint server::local_endpoint(std::size_t n) const
{
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->acceptors.at(n)->local_endpoint();
}

RTMSG_DECL std::size_t server::connection_count() const noexcept
{
    return state_->connections.load();
}

RTMSG_DECL void server::stop()
{
    if (state_->stopping.exchange(true)) return;
    std::vector<std::shared_ptr<detail::closable>> live;
    {
        std::lock_guard<std::mutex> lock(state_->mutex);
        for (auto& a : state_->acceptors)
            asio::post(a->get_executor(), [a] {
                std::error_code ignored;
                a->close(ignored);
            });
        live = state_->lock_live();
        if (state_->live) {
            // The deadline; remove() cancels it when the last connection goes.  Created and
            // canceled under the mutex, waited on and canceled on its strand, in that order.
            auto t = std::make_shared<asio::steady_timer>(asio::make_strand(state_->ex));
            state_->drain_timer = t;
            asio::post(t->get_executor(), [t, w = std::weak_ptr<detail::server_state>(state_)] {
                t->expires_after(w.lock() ? w.lock()->opt.shutdown_timeout : std::chrono::milliseconds(0));
                t->async_wait([t, w](std::error_code ec) {
                    auto st = w.lock();
                    if (ec || !st) return;
                    std::vector<std::shared_ptr<detail::closable>> left;
                    {
                        std::lock_guard<std::mutex> lock(st->mutex);
                        left = st->lock_live();
                        st->drain_timer.reset();
                    }
                    for (auto& c : left) c->abort();
                });
            });
        }
    }
    for (auto& c : live) c->shutdown();
}

} // namespace rtmsg::http
