#pragma once
// Loopback test helpers: a server on its own thread and blocking raw-socket clients.
#include <rtmsg/server/server.hpp>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>

#include <cctype>
#include <string>
#include <string_view>
#include <thread>

#include "websocket/support.hpp"

namespace net_test {

using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

/// A server on 127.0.0.1:0 running on its own thread for the life of the test.
struct running_server {
    explicit running_server(rtmsg::http::server_options opt = {}) : server(ioc.get_executor(), opt) {}

    void start()
    {
        server.listen({asio::ip::make_address("127.0.0.1"), 0});
        port = server.local_endpoint().port();
        thread = std::thread([this] { ioc.run(); });
    }
    template <class Factory>
    void start(Factory f)
    {
        std::error_code ec;
        server.listen({asio::ip::make_address("127.0.0.1"), 0}, f, ec);
        REQUIRE(!ec);
        port = server.local_endpoint().port();
        thread = std::thread([this] { ioc.run(); });
    }
    ~running_server()
    {
        asio::post(ioc, [this] { server.stop(); });
        guard.reset();
        ioc.stop();
        if (thread.joinable()) thread.join();
    }

    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
    rtmsg::http::server server;
    unsigned short port = 0;
    std::thread thread;
};

/// A blocking client connection.
struct client {
    explicit client(unsigned short port) : socket(ioc) { socket.connect({asio::ip::make_address("127.0.0.1"), port}); }
    void send(std::string_view bytes) { asio::write(socket, asio::buffer(bytes)); }
    /// Reads one response (headers + Content-Length body).
    std::string response()
    {
        std::error_code ec;
        auto n = asio::read_until(socket, asio::dynamic_buffer(buf), "\r\n\r\n", ec);
        if (ec) return {};
        std::string head = buf.substr(0, n);
        buf.erase(0, n);
        std::size_t len = 0;
        auto lower = head;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto p = lower.find("content-length:"); p != std::string::npos) len = std::stoul(head.substr(p + 15));
        if (buf.size() < len)
            asio::read(socket, asio::dynamic_buffer(buf), asio::transfer_exactly(len - buf.size()), ec);
        head += buf.substr(0, len);
        buf.erase(0, len);
        return head;
    }
    /// True if the server closed the connection (reads eof within the time limit).
    bool closed_by_server()
    {
        char c;
        std::error_code ec;
        socket.read_some(asio::buffer(&c, 1), ec);
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }
    asio::io_context ioc;
    tcp::socket socket;
    std::string buf;
};

inline std::string get(std::string_view target, std::string_view extra = {})
{
    return std::string("GET ").append(target).append(" HTTP/1.1\r\nHost: t\r\n").append(extra).append("\r\n");
}

inline std::string upgrade_bytes(std::string_view target, std::string_view extra = {})
{
    return std::string("GET ")
        .append(target)
        .append(" HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
        .append(extra)
        .append("\r\n");
}

/// Reads one unmasked server frame: {opcode, payload}.
template <class SyncStream>
inline std::pair<int, std::string> read_frame(SyncStream& s, std::string& buf)
{
    auto need = [&](std::size_t n) {
        if (buf.size() < n) asio::read(s, asio::dynamic_buffer(buf), asio::transfer_exactly(n - buf.size()));
    };
    need(2);
    auto const b0 = static_cast<unsigned char>(buf[0]);
    std::size_t len = static_cast<unsigned char>(buf[1]) & 0x7F;
    std::size_t at = 2;
    if (len == 126) {
        need(4);
        len = static_cast<std::size_t>(static_cast<unsigned char>(buf[2]) << 8 | static_cast<unsigned char>(buf[3]));
        at = 4;
    }
    else if (len == 127) {
        need(10);
        len = 0;
        for (int i = 0; i < 8; ++i) len = len << 8 | static_cast<unsigned char>(buf[2 + static_cast<std::size_t>(i)]);
        at = 10;
    }
    need(at + len);
    std::pair<int, std::string> f{b0 & 0x0F, buf.substr(at, len)};
    buf.erase(0, at + len);
    return f;
}

} // namespace net_test
