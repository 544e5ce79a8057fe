// Security limits that the fault tests exercise end to end: connections per IP
// address.
#include <rtmsg/server/server.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

using namespace fault_test;

namespace {
tcp::socket connect_from(asio::io_context& ioc, unsigned short port, char const* from)
{
    tcp::socket s(ioc);
    s.open(tcp::v4());
    s.bind({asio::ip::make_address(from), 0});
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    return s;
}

std::string request_reply(tcp::socket& s, std::string const& req)
{
    asio::write(s, asio::buffer(req));
    std::string buf;
    std::error_code ec;
    asio::read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n", ec);
    return buf;
}
} // namespace

TEST_CASE("limits: connections per IP address get 503 past the limit, other "
          "addresses are served",
          "[faults][limits]")
{
    rtmsg::http::server_options opt;
    opt.max_connections_per_ip = 2;
    running_server s(opt);
    s.server.routes().get("/x", [](auto const&, auto& res) { res.body = "x"; });
    s.start();
    asio::io_context ioc;
    auto a1 = connect_from(ioc, s.port, "127.0.0.1");
    auto a2 = connect_from(ioc, s.port, "127.0.0.1");
    CHECK(request_reply(a1, get("/x")).starts_with("HTTP/1.1 200 "));
    CHECK(request_reply(a2, get("/x")).starts_with("HTTP/1.1 200 "));
    {
        auto a3 = connect_from(ioc, s.port, "127.0.0.1");
        auto const r = request_reply(a3, get("/x"));
        CHECK(r.starts_with("HTTP/1.1 503 "));
        CHECK(r.find("Retry-After:") != std::string::npos);
    }
    auto b1 = connect_from(ioc, s.port, "127.0.0.2");
    CHECK(request_reply(b1, get("/x")).starts_with("HTTP/1.1 200 "));
    // A slot frees up when a connection closes.
    a1.close();
    CHECK(eventually([&] { return s.server.connection_count() == 2; }));
    auto a4 = connect_from(ioc, s.port, "127.0.0.1");
    CHECK(request_reply(a4, get("/x")).starts_with("HTTP/1.1 200 "));
}
