// <rtmsg/http/beast.hpp>: a request Beast parsed becomes the rtmsg request that
// server::serve(stream, request, already_read) takes.  Boost only: Boost.Asio 1.74 and
// standalone Asio 1.22 cannot share a translation unit, so this one includes no standalone Asio.
#include <rtmsg/http/beast.hpp>
#include <rtmsg/http/parser.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <catch2/catch.hpp>

#include <string_view>

namespace {

namespace bhttp = boost::beast::http;

template <class Body>
bhttp::request<Body> beast_parse(std::string_view bytes, std::size_t& used)
{
    bhttp::request_parser<Body> p;
    boost::beast::error_code ec;
    used = 0;
    while (!p.is_done() && used < bytes.size()) { // the header, then the body
        auto const n = p.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
        REQUIRE(!ec);
        if (n == 0) break;
        used += n;
    }
    REQUIRE(p.is_done());
    return p.release();
}

} // namespace

TEST_CASE("beast: from_beast keeps method, target, version and every field in order", "[http][embed][beast]")
{
    std::string_view const bytes = "GET /rooms/a?token=x HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\nX-Custom: 1\r\nx-custom: 2\r\n\r\n"
                                   "\x81\x85"; // the start of a frame: not Beast's, and not consumed
    std::size_t used = 0;
    auto const msg = beast_parse<bhttp::empty_body>(bytes, used);
    CHECK(bytes.substr(used) == "\x81\x85");
    auto const req = rtmsg::http::from_beast(msg);
    CHECK(req.method == "GET");
    CHECK(req.target == "/rooms/a?token=x");
    CHECK(req.version == 11);
    CHECK(req.headers.size() == 7);
    CHECK(req.headers.find("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ==");
    auto const customs = req.headers.find_all("X-Custom");
    REQUIRE(customs.size() == 2);
    CHECK(customs[0] == "1");
    CHECK(customs[1] == "2");
    CHECK(req.is_upgrade("websocket"));
    CHECK(!rtmsg::http::check_head(req));
}

TEST_CASE("beast: a string body comes along, and HTTP/1.0 stays 10", "[http][embed][beast]")
{
    std::size_t used = 0;
    auto const msg = beast_parse<bhttp::string_body>("POST /publish HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello", used);
    auto const req = rtmsg::http::from_beast(msg);
    CHECK(req.method == "POST");
    CHECK(req.version == 10);
    CHECK(req.body == "hello");
    CHECK(!rtmsg::http::check_head(req)); // no Host is fine in HTTP/1.0
    auto with_bad_host = req;
    with_bad_host.headers.add("Host", "a/b");
    CHECK(rtmsg::http::check_head(with_bad_host) == rtmsg::http::error::bad_header);
}
