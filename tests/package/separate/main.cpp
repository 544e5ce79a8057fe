// A program built with RTMSG_SEPARATE_COMPILATION: this unit includes the server's headers,
// which only declare it; src.cpp compiles it.  The server then answers real clients over TCP:
// a plain route, the metrics, an SSE stream of a hub topic and the protocol over WebSocket.
#include <rtmsg/server/hub_protocol.hpp>
#include <rtmsg/server/server.hpp>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#if !defined(RTMSG_SEPARATE_COMPILATION)
#error "this test checks the separate-compilation build"
#endif

namespace {

int failures = 0;

void check(bool ok, char const* what, std::string const& got)
{
    std::printf("%s: %s\n", ok ? "ok" : "FAILED", what);
    if (!ok) {
        std::printf("  got: %s\n", got.c_str());
        ++failures;
    }
}

// Reads from `s` until `needle` appears (or the peer closes, or 5 s pass).
std::string read_until(asio::ip::tcp::socket& s, std::string const& needle)
{
    std::string got;
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    char buf[4096];
    while (got.find(needle) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        if (s.available(ec) == 0 && !ec) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            continue;
        }
        auto n = s.read_some(asio::buffer(buf), ec);
        if (ec) break;
        got.append(buf, n);
    }
    return got;
}

asio::ip::tcp::socket connect(asio::io_context& ioc, unsigned short port)
{
    asio::ip::tcp::socket s(ioc);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return s;
}

// One masked client text frame (RFC 6455 §5.2), payload under 126 bytes.
std::string client_frame(std::string const& payload)
{
    std::string f;
    f += static_cast<char>(0x81);
    f += static_cast<char>(0x80 | payload.size());
    char const key[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(key, 4);
    for (std::size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ key[i % 4]);
    return f;
}

} // namespace

int main()
{
    asio::io_context ioc;
    rtmsg::hub hub;
    rtmsg::http::server server(ioc.get_executor());
    server.routes().get("/health", [](rtmsg::http::request const&, rtmsg::http::response& res) { res.body = "ok"; });
    server.routes().get("/metrics", rtmsg::metrics_handler(hub));
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    rtmsg::sse_endpoint_options news;
    news.topic = "news";
    server.routes().sse("/news", rtmsg::sse_endpoint(hub, news));
    server.listen({asio::ip::make_address("127.0.0.1"), 0});
    auto const port = server.local_endpoint().port();
    std::thread io([&] { ioc.run(); });

    asio::io_context client;
    {
        auto s = connect(client, port);
        asio::write(s, asio::buffer(std::string("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        auto got = read_until(s, "\r\n\r\nok");
        check(got.starts_with("HTTP/1.1 200") && got.ends_with("\r\n\r\nok"), "GET /health answers 200 ok", got);
    }
    {
        auto s = connect(client, port);
        asio::write(s, asio::buffer(std::string("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        auto got = read_until(s, "\r\n\r\n");
        check(got.starts_with("HTTP/1.1 404"), "an unknown path answers 404", got);
    }
    {
        auto sse = connect(client, port);
        asio::write(sse,
                    asio::buffer(std::string("GET /news HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")));
        auto head = read_until(sse, "\r\n\r\n");
        check(head.starts_with("HTTP/1.1 200") && head.find("text/event-stream") != std::string::npos,
              "GET /news starts an event stream", head);

        auto ws = connect(client, port);
        asio::write(ws,
                    asio::buffer(std::string("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                             "Sec-WebSocket-Version: 13\r\n\r\n")));
        auto up = read_until(ws, "\r\n\r\n");
        check(up.starts_with("HTTP/1.1 101") && up.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos,
              "the WebSocket upgrade answers 101 with the RFC 6455 accept key", up);
        asio::write(ws, asio::buffer(client_frame(R"({"op":"sub","id":1,"topic":"news"})")));
        auto ack = read_until(ws, R"("op":"ack")");
        check(ack.find(R"("op":"ack")") != std::string::npos, "a protocol subscription is acknowledged", ack);

        auto r = hub.publish("news", R"({"title":"hello"})", rtmsg::codec::data_kind::json);
        check(!r.ec && r.subscribers == 2, "the hub queues a publish to both subscribers", r.ec.message());
        auto ev = read_until(sse, "data: {\"title\":\"hello\"}\n\n");
        check(ev.find("id: 1\n") != std::string::npos &&
                  ev.find("data: {\"title\":\"hello\"}\n\n") != std::string::npos,
              "the SSE client receives the message as event 1", ev);
        auto msg = read_until(ws, R"("title":"hello")");
        check(msg.find(R"("op":"msg")") != std::string::npos && msg.find(R"("title":"hello")") != std::string::npos,
              "the WebSocket client receives the message", msg);
    }
    {
        auto s = connect(client, port);
        asio::write(s, asio::buffer(std::string("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        auto got = read_until(s, "rtmsg_messages_in_total 1\n");
        check(got.find("rtmsg_messages_in_total 1\n") != std::string::npos, "the metrics count the publish", got);
    }
    server.stop();
    io.join();
    std::printf("%d failure(s)\n", failures);
    return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
