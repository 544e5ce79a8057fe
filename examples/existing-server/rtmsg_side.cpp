// The rtmsg half of existing-server (see rtmsg_side.hpp): standalone Asio only.
#include "rtmsg_side.hpp"

#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>
#include <rtmsg/transport/foreign_stream.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include <thread>
#include <vector>

struct rtmsg_side::impl {
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
    rtmsg::http::server server{ioc.get_executor()}; // listens nowhere: it only gets handovers
    rtmsg::hub hub;
    std::vector<std::thread> threads;
};

rtmsg_side::rtmsg_side(unsigned threads, std::size_t max_message) : p_(std::make_unique<impl>())
{
    auto& routes = p_->server.routes();
    rtmsg::websocket::behavior echo;
    echo.options.max_message_size = max_message;
    echo.on_message = [](auto const& c, rtmsg::websocket::message_view m) { c->send(m.type, m.data); };
    routes.websocket("/echo", echo);
    rtmsg::websocket::behavior bc;
    bc.options.max_message_size = max_message;
    routes.websocket("/broadcast", rtmsg::raw_endpoint(p_->hub, "broadcast", bc, {.client_publish = true}));
    rtmsg::sse_endpoint_options events;
    events.topic = "broadcast";
    routes.sse("/sse", rtmsg::sse_endpoint(p_->hub, events));
    routes.websocket("/ws", rtmsg::protocol_endpoint(p_->hub));
    for (unsigned i = 0; i < threads; ++i) p_->threads.emplace_back([this] { p_->ioc.run(); });
}

rtmsg_side::~rtmsg_side()
{
    stop_and_wait();
}

void rtmsg_side::serve_fd(int fd, bool v6, rtmsg::http::request req, std::string_view already_read)
{
    // The socket runs on a strand of rtmsg's io_context, as the ones rtmsg accepts itself.
    asio::ip::tcp::socket s(asio::make_strand(p_->ioc), v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd);
    p_->server.serve(std::move(s), std::move(req), already_read);
}

void rtmsg_side::serve_foreign(std::shared_ptr<rtmsg::foreign_io> io, rtmsg::http::request req,
                               std::string_view already_read)
{
    p_->server.serve(rtmsg::foreign_stream(std::move(io), asio::make_strand(p_->ioc)), std::move(req), already_read);
}

bool rtmsg_side::publish(std::string_view text)
{
    return !p_->hub.publish("broadcast", text, rtmsg::codec::data_kind::text).ec;
}

std::size_t rtmsg_side::connections() const
{
    return p_->server.connection_count();
}

void rtmsg_side::stop_and_wait()
{
    if (p_->threads.empty()) return;
    asio::post(p_->ioc, [this] {
        p_->server.stop();
        p_->work.reset();
    });
    for (auto& t : p_->threads) t.join();
    p_->threads.clear();
}
