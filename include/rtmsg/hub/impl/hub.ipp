#pragma once
// The members of rtmsg::hub and rtmsg::subscription (hub/hub.hpp), on the hub's core.
#include <rtmsg/hub/hub.hpp>
#include <rtmsg/hub/detail/core.hpp>

namespace rtmsg {

RTMSG_DECL subscription::subscription(std::weak_ptr<detail::hub_core> core, std::shared_ptr<detail::callback_sub> cb)
    : core_(std::move(core)), cb_(std::move(cb))
{
}

RTMSG_DECL subscription& subscription::operator=(subscription&& o) noexcept
{
    if (this != &o) {
        unsubscribe();
        core_ = std::move(o.core_);
        cb_ = std::move(o.cb_);
    }
    return *this;
}

RTMSG_DECL subscription::~subscription()
{
    unsubscribe();
}

RTMSG_DECL void subscription::unsubscribe()
{
    if (!cb_) return;
    if (auto core = core_.lock()) core->unsubscribe_callback(*cb_);
    cb_.reset();
}

RTMSG_DECL hub::hub(hub_options opt) : core_(std::make_shared<detail::hub_core>(std::move(opt))) {}

RTMSG_DECL publish_result hub::publish(std::string_view topic, std::string_view payload, codec::data_kind kind)
{
    return core_->publish(topic, payload, kind, 0, nullptr, true);
}

RTMSG_DECL publish_result hub::publish(std::string_view topic, std::string_view payload, codec::data_kind kind,
                                       transport::read_batch* batch)
{
    return core_->publish(topic, payload, kind, 0, nullptr, true, {}, batch);
}

RTMSG_DECL void hub::publish(std::string_view topic, std::string_view payload, codec::data_kind kind,
                             std::function<void(publish_result const&)> done)
{
    auto r = core_->publish(topic, payload, kind, 0, nullptr, true, done);
    if (!r.pending && done) done(r);
}

RTMSG_DECL subscription hub::subscribe(std::string_view pattern, std::function<void(message const&)> fn,
                                       std::error_code& ec)
{
    auto cb = core_->subscribe_callback(pattern, std::move(fn), ec);
    return cb ? subscription(core_, std::move(cb)) : subscription();
}

RTMSG_DECL subscription hub::subscribe(std::string_view pattern, std::function<void(message const&)> fn)
{
    std::error_code ec;
    auto s = subscribe(pattern, std::move(fn), ec);
    if (ec) throw std::system_error(ec, "rtmsg::hub::subscribe");
    return s;
}

RTMSG_DECL std::vector<std::string> hub::members(std::string_view topic) const
{
    return core_->members(topic);
}

RTMSG_DECL std::pair<std::uint64_t, std::uint64_t> hub::position(std::string_view topic) const
{
    return core_->position(topic);
}

RTMSG_DECL hub_metrics hub::metrics() const noexcept
{
    return core_->metrics();
}

RTMSG_DECL std::string hub::prometheus() const
{
    return prometheus_text(metrics());
}

} // namespace rtmsg
