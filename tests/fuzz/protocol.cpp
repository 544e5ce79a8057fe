// Fuzzes the wire-protocol dispatcher: protocol_endpoint's behavior driven
// directly with two in-memory connections (no sockets), either codec, with
// authorization hooks and small limits. Every frame the server sends back must
// be a well-formed, unmasked, final server frame, and text frames must be valid
// UTF-8.
#include <rtmsg/server/hub_protocol.hpp>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <memory>
#include <string>

#include "common.hpp"

namespace {

using namespace rtmsg;

asio::io_context& ioc()
{
    static asio::io_context c;
    return c;
}

class fake_connection final : public websocket::connection {
public:
    explicit fake_connection(std::string subprotocol, std::string identity)
    {
        set_subprotocol(std::move(subprotocol));
        target_ = "/ws";
        peer_ = rtmsg::make_peer_identity(std::move(identity));
    }

    websocket::send_status send(websocket::message_type, std::string_view) override
    {
        return websocket::send_status::queued;
    }
    websocket::send_status send_frame(std::shared_ptr<std::string const> frame) override
    {
        RTMSG_FUZZ_CHECK(frame && !frame->empty());
        if (closed_) return websocket::send_status::closed;
        check(*frame);
        return websocket::send_status::queued;
    }
    void on_idle(std::function<void()> f) override { asio::post(ioc(), std::move(f)); }
    void close(std::uint16_t code, std::string_view) override
    {
        RTMSG_FUZZ_CHECK(websocket::is_valid_close_code(code));
        closed_ = true;
    }
    std::size_t queued_bytes() const noexcept override { return 0; }
    asio::any_io_executor get_executor() const override { return ioc().get_executor(); }
    bool closed() const noexcept { return closed_; }
    std::size_t frames() const noexcept { return frames_; }

private:
    void check(std::string const& frame)
    {
        std::string copy = frame;
        websocket::message_reader r(role_type::client, std::uint64_t(1) << 40);
        std::string payload;
        auto const res = r.read(copy.data(), copy.size(), [&](std::string_view p) { payload.append(p); });
        RTMSG_FUZZ_CHECK(!res.ec);
        RTMSG_FUZZ_CHECK(res.event == read_event_message());
        RTMSG_FUZZ_CHECK(res.consumed == copy.size());
        ++frames_;
    }
    static websocket::read_event read_event_message() { return websocket::read_event::message; }

    bool closed_ = false;
    std::size_t frames_ = 0;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    rtmsg_fuzz::input in(data, size);
    auto const flags = in.byte();

    hub_options opt;
    opt.default_topic.history_count = flags & 1 ? 4 : 0;
    opt.queue.max_messages = 8;
    opt.queue.max_bytes = 4096;
    opt.default_topic.policy = static_cast<slow_consumer_policy>((flags >> 1) & 3);
    opt.max_subscriptions_per_connection = 16;
    opt.max_payload = 1024;
    opt.abuse_errors = 20;
    if (flags & 8) {
        opt.can_subscribe = [](peer_info const& p, std::string_view t) {
            return t.empty() || t[0] != 'x' || !p.identity.empty();
        };
        opt.can_publish = [](peer_info const&, std::string_view t) { return t.size() < 2 || t[1] != 'x'; };
    }
    if (flags & 16) opt.publish_messages = {1000, 5};
    hub h(opt);
    auto b = protocol_endpoint(h);

    // Two connections; the subprotocol picks each one's codec (empty: the first,
    // JSON).
    static char const* const protos[] = {"rtmsg.json", "rtmsg.binary", "", "rtmsg.binary"};
    std::shared_ptr<fake_connection> conns[2] = {
        std::make_shared<fake_connection>(protos[(flags >> 5) & 3], flags & 0x80 ? "alice" : ""),
        std::make_shared<fake_connection>(protos[((flags >> 5) + 1) & 3], "bob"),
    };
    websocket::connection_ptr ptrs[2] = {conns[0], conns[1]};
    b.on_open(ptrs[0]);
    b.on_open(ptrs[1]);

    std::string payload;
    int n = 0;
    while (!in.empty() && n++ < 64) {
        auto const head = in.u16();
        auto const who = head >> 15;
        auto const len = static_cast<std::size_t>(head & 0x0FFF);
        bool const binary = head & 0x4000;
        // The message as the WebSocket layer hands it over: an owned buffer,
        // exactly sized.
        payload.assign(in.take(len));
        auto const text = std::make_unique<char[]>(payload.size() + 1);
        std::copy(payload.begin(), payload.end(), text.get());
        if (!conns[who]->closed())
            b.on_message(ptrs[who], {binary ? websocket::message_type::binary : websocket::message_type::text,
                                     std::string_view(text.get(), payload.size())});
        ioc().restart();
        ioc().poll();
    }
    b.on_close(ptrs[0], websocket::close_code::normal, {});
    b.on_close(ptrs[1], websocket::close_code::going_away, {});
    ioc().restart();
    ioc().poll();
    RTMSG_FUZZ_CHECK(h.metrics().connections == 0);
    RTMSG_FUZZ_CHECK(h.metrics().subscriptions == 0);
    return 0;
}
