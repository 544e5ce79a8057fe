#pragma once
// Implementation of stream::async_handshake, the client side of the opening handshake
// (included by <rtmsg/websocket/stream.hpp>).
#include <asio/compose.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <memory>
#include <optional>

namespace rtmsg::websocket::detail {

template <class NextLayer>
struct handshake_op {
    using impl_type = stream_impl<NextLayer>;
    static constexpr std::size_t chunk = 4096;

    handshake_op(std::shared_ptr<impl_type> i, client_handshake const& q, http::response_head& r)
        : impl(std::move(i)), req(q), res(r)
    {
    }

    std::shared_ptr<impl_type> impl;
    client_handshake const& req;
    http::response_head& res;
    std::string key;
    std::string in;
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(chunk);
    std::unique_ptr<std::string> out; ///< the request; by pointer, so the write's buffer stays put
    // The deadline: its handler holds only weak references, and `done` stops it from
    // touching a connection that has since been handed to the application.
    struct deadline {
        explicit deadline(typename NextLayer::executor_type ex) : timer(std::move(ex)) {}
        asio::basic_waitable_timer<std::chrono::steady_clock, asio::wait_traits<std::chrono::steady_clock>,
                                   typename NextLayer::executor_type>
            timer;
        bool done = false;
        bool fired = false;
    };
    std::shared_ptr<deadline> dl;
    enum class state { start, writing, reading } st = state::start;
    bool offer_deflate = false;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, std::size_t n = 0)
    {
        auto& s = *impl;
        switch (st) {
        case state::start: {
            s.role = role_type::client;
            s.reader = message_reader(role_type::client, s.opt->max_message_size);
            key = make_client_key();
            out = std::make_unique<std::string>();
            offer_deflate = deflate_available(s.opt->deflate);
            write_client_request(req, key, *out, offer_deflate ? make_deflate_offer(s.opt->deflate) : std::string());
            dl = std::make_shared<deadline>(s.next.get_executor());
            if (s.opt->handshake_timeout.count() != 0) {
                dl->timer.expires_after(s.opt->handshake_timeout);
                dl->timer.async_wait([d = std::weak_ptr<deadline>(dl), w = impl->weak_from_this()](std::error_code e) {
                    auto dd = d.lock();
                    auto self = w.lock();
                    if (e || !dd || !self || dd->done) return;
                    dd->fired = true;
                    rtmsg::close_now(self->next);
                });
            }
            st = state::writing;
            auto const bytes = asio::buffer(*out);
            asio::async_write(s.next, bytes, std::move(self));
            return;
        }
        case state::writing:
            out.reset();
            if (ec) return finish(self, ec);
            st = state::reading;
            s.next.async_read_some(asio::buffer(buf.get(), chunk), std::move(self));
            return;
        case state::reading: {
            if (ec) return finish(self, ec);
            in.append(buf.get(), n);
            std::size_t used = 0;
            switch (http::parse_response_head(in, res, used)) {
            case http::parse_result::need_more:
                s.next.async_read_some(asio::buffer(buf.get(), chunk), std::move(self));
                return;
            case http::parse_result::bad: return finish(self, error::bad_response);
            case http::parse_result::done: break;
            }
            if (auto bad = check_response(res, key, req.subprotocols, offer_deflate)) return finish(self, bad);
            if (offer_deflate) {
                std::optional<deflate_params> params;
                if (auto bad = check_deflate_response(res.headers.find_all("Sec-WebSocket-Extensions"), s.opt->deflate,
                                                      params))
                    return finish(self, bad);
                if (params) s.start_deflate(*params);
            }
            // Frames the server sent right behind its 101 are read first.
            if (used < in.size()) s.busy().pending.append(in, used, std::string::npos);
            return finish(self, {});
        }
        }
    }

    template <class Self>
    void finish(Self& self, std::error_code ec)
    {
        auto& s = *impl;
        dl->done = true;
        dl->timer.cancel();
        if (dl->fired) ec = rtmsg::error::timeout;
        if (ec) {
            s.fail_now();
            return self.complete(ec);
        }
        s.last_rx = impl_type::clock::now();
        s.arm_keepalive();
        self.complete({});
    }
};

} // namespace rtmsg::websocket::detail

namespace rtmsg::websocket {

template <async_stream NextLayer>
template <asio::completion_token_for<void(std::error_code)> CompletionToken>
auto stream<NextLayer>::async_handshake(client_handshake const& req, http::response_head& res, CompletionToken&& token)
{
    return asio::async_compose<CompletionToken, void(std::error_code)>(detail::handshake_op<NextLayer>(impl_, req, res),
                                                                       token, impl_->next);
}

} // namespace rtmsg::websocket
