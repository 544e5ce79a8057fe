// Fuzzes websocket::stream (server role) end to end over the in-memory
// rtmsg::test::stream: upgrade, then the fuzzer's bytes as the client's frames,
// delivered in fuzzer-chosen read sizes, with an echo loop (send() of every
// message; with the first byte's top bit, buffered messages are taken with
// read_buffered()) and a small message limit.  Whatever the stream writes back must be
// a sequence of well-formed server frames.
#include <rtmsg/http/parser.hpp>
#include <rtmsg/test/stream.hpp>
#include <rtmsg/websocket/stream.hpp>

#include <asio/io_context.hpp>

#include <memory>
#include <string>

#include "common.hpp"

namespace {

using namespace rtmsg;

rtmsg::http::request const& upgrade_request()
{
    static rtmsg::http::request const req = [] {
        rtmsg::http::request_parser p;
        std::error_code ec;
        p.feed("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: "
               "Upgrade\r\n"
               "Sec-WebSocket-Key: "
               "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
               ec);
        return p.release();
    }();
    return req;
}

struct echo : std::enable_shared_from_this<echo> {
    explicit echo(websocket::stream<test::stream>& s) : ws(s) {}
    void read() // buffer: empty, or the start of a message that read_buffered() met
    {
        auto dyn = asio::dynamic_buffer(buffer);
        ws.async_read(dyn, [self = shared_from_this()](std::error_code ec, std::size_t n) {
            if (ec || !self->alive) return;
            RTMSG_FUZZ_CHECK(n <= self->buffer.size());
            self->ws.send(self->ws.got_type(), self->buffer);
            self->buffer.clear();
            if (++self->messages >= 200) return;
            if (self->sync) {
                // A server's fast path: the messages of the same read, without a read op.
                auto dyn = asio::dynamic_buffer(self->buffer);
                self->ws.read_buffered(dyn, [&](std::size_t m) {
                    RTMSG_FUZZ_CHECK(m == self->buffer.size());
                    self->ws.send(self->ws.got_type(), self->buffer);
                    self->buffer.clear();
                    return ++self->messages < 200;
                });
                if (self->messages >= 200) return;
            }
            self->read();
        });
    }
    websocket::stream<test::stream>& ws;
    std::string buffer;
    bool sync = false; // take buffered messages with read_buffered()
    int messages = 0;
    bool alive = true; // false once `ws` is gone (a completed read may still be queued)
};

// The server's output: 101 response, then frames, each well formed (unmasked,
// valid UTF-8 text, valid close codes).
void check_output(std::string out)
{
    auto const end = out.find("\r\n\r\n");
    RTMSG_FUZZ_CHECK(out.rfind("HTTP/1.1 101", 0) == 0 && end != std::string::npos);
    out.erase(0, end + 4);
    websocket::message_reader r(role_type::client, std::uint64_t(1) << 40);
    std::size_t pos = 0;
    while (pos < out.size()) {
        auto const res = r.read(out.data() + pos, out.size() - pos, [](std::string_view) {});
        RTMSG_FUZZ_CHECK(!res.ec);
        pos += res.consumed;
        if (res.event == websocket::read_event::close) break;
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    rtmsg_fuzz::input in(data, size);
    auto const mode = in.byte();
    std::size_t const read_size = 1 + mode % 64;
    auto const flags = in.byte();
    asio::io_context ioc;
    auto [client, server] = test::make_pair(ioc.get_executor());
    server.read_size(read_size);
    std::string out;
    {
        websocket::stream<test::stream> ws(std::move(server));
        websocket::options opt;
        opt.max_message_size = 1 + (flags & 0x3F) * 16;
        opt.ping_interval = {};
        opt.idle_timeout = {};
        opt.close_timeout = std::chrono::milliseconds(1);
        opt.send_queue_soft_limit = 512;
        opt.send_queue_hard_limit = 2048;
        ws.set_options(opt);
        bool accepted = false;
        ws.async_accept(upgrade_request(), {}, [&](std::error_code ec) { accepted = !ec; });
        ioc.poll();
        RTMSG_FUZZ_CHECK(accepted);
        auto e = std::make_shared<echo>(ws);
        e->sync = (mode & 0x80) != 0;
        e->read();
        ws.next_layer().append(in.rest());
        if (flags & 0x40) client.close();
        ioc.poll();
        if (flags & 0x80) ws.close(websocket::close_code::going_away, "bye");
        ioc.poll();
        out = client.take_input();
        e->alive = false;
    }
    ioc.restart();
    ioc.poll();
    out += client.take_input();
    check_output(std::move(out));
    return 0;
}
