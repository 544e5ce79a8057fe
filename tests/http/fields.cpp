// Test that the headers are self-contained.
#include <rtmsg/http/fields.hpp>
#include <rtmsg/http/detail/url.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/http/status.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace {
namespace http = rtmsg::http;
using namespace std::string_literals;
} // namespace

TEST_CASE("http: fields keep repeated headers in order and look names up case-insensitively", "[http]")
{
    http::fields f;
    CHECK(f.empty());
    f.add("Accept", "text/html");
    f.add("Host", "example.com");
    f.add("ACCEPT", "application/json");
    CHECK(f.size() == 3);
    CHECK(f.find("accept") == "text/html");
    CHECK(f.find("hOsT") == "example.com");
    CHECK(f.find("Missing") == std::nullopt);
    CHECK(f.find_all("Accept") == std::vector<std::string_view>{"text/html", "application/json"});
    CHECK(f.find_all("Missing").empty());
    CHECK(f.count("accept") == 2);
    CHECK(f.count("Acce") == 0);
    CHECK(f.contains("HOST"));

    std::vector<std::string> names;
    for (http::field const& x : f) names.push_back(x.name);
    CHECK(names == std::vector<std::string>{"Accept", "Host", "ACCEPT"});
}

TEST_CASE("http: set replaces every field of that name in place of the first", "[http]")
{
    http::fields f;
    f.add("A", "1");
    f.add("X", "old1");
    f.add("B", "2");
    f.add("x", "old2");
    f.set("X", "new");
    CHECK(f.count("x") == 1);
    CHECK(f.find("x") == "new");
    std::vector<std::string> order;
    for (auto const& x : f) order.push_back(x.name + "=" + x.value);
    CHECK(order == std::vector<std::string>{"A=1", "X=new", "B=2"});
    f.set("C", "3"); // absent: appended
    CHECK(f.size() == 4);
    CHECK(f.find("c") == "3");
}

TEST_CASE("http: erase removes every field of that name", "[http]")
{
    http::fields f;
    f.add("Cookie", "a=1");
    f.add("Host", "h");
    f.add("cookie", "b=2");
    CHECK(f.erase("COOKIE") == 2);
    CHECK(f.size() == 1);
    CHECK(f.erase("Cookie") == 0);
    f.clear();
    CHECK(f.empty());
}

TEST_CASE("http: has_token reads comma-separated lists across repeated fields", "[http]")
{
    http::fields f;
    f.add("Connection", "keep-alive, Upgrade");
    CHECK(f.has_token("connection", "upgrade"));
    CHECK(f.has_token("Connection", "KEEP-ALIVE"));
    CHECK_FALSE(f.has_token("Connection", "close"));
    CHECK_FALSE(f.has_token("Connection", "keep"));           // whole elements only
    CHECK_FALSE(f.has_token("Connection", "alive, Upgrade")); // no substring matches
    CHECK_FALSE(f.has_token("Upgrade", "upgrade"));           // other names do not count

    http::fields g;
    g.add("Connection", "keep-alive");
    g.add("connection", " ,\t, Upgrade\t ,");
    CHECK(g.has_token("Connection", "upgrade"));
    CHECK_FALSE(g.has_token("Connection", ""));
}

TEST_CASE("http: percent decoding handles valid and malformed input", "[http]")
{
    using http::detail::percent_decode;
    std::string out;
    CHECK(percent_decode("a%20b%2Fc%2fd", out, false));
    CHECK(out == "a b/c/d");
    out.clear();
    CHECK(percent_decode("caf%C3%A9+x", out, false));
    CHECK(out == "café+x");
    out.clear();
    CHECK(percent_decode("caf%c3%a9+x", out, true));
    CHECK(out == "café x");
    out.clear();
    CHECK(percent_decode("%00", out, false));
    CHECK(out == "\0"s);
    out.clear();
    CHECK(percent_decode("", out, true));
    CHECK(out.empty());

    out = "keep";
    for (std::string_view bad : {"%", "%4", "%zz", "%4g", "abc%", "a%%20", "%-1", "% 20"}) {
        INFO(bad);
        CHECK_FALSE(percent_decode(bad, out, true));
        CHECK(out == "keep"); // left as it was
    }
    CHECK(percent_decode("%41%42", out, false)); // appends
    CHECK(out == "keepAB");
}

TEST_CASE("http: reason phrases come from one table", "[http]")
{
    CHECK(http::reason_phrase(http::status::ok) == "OK");
    CHECK(http::reason_phrase(http::status::not_found) == "Not Found");
    CHECK(http::reason_phrase(http::status::switching_protocols) == "Switching Protocols");
    CHECK(http::reason_phrase(http::status::request_header_fields_too_large) == "Request Header Fields Too Large");
    CHECK(http::reason_phrase(http::status::http_version_not_supported) == "HTTP Version Not Supported");
    CHECK(http::reason_phrase(static_cast<http::status>(299)).empty());
    static_assert(http::reason_phrase(http::status::no_content) == "No Content");
}

TEST_CASE("http: a response is serialized with Content-Length and the right Connection field", "[http]")
{
    http::response res;
    res.headers.add("Content-Type", "text/plain");
    res.body = "hello";
    std::string out = "prefix|";
    http::serialize(res, out);
    CHECK(out == "prefix|HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");

    out.clear();
    http::serialize(res, out, 11, false);
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");

    out.clear();
    http::serialize(res, out, 10, true);
    CHECK(out ==
          "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nhello");

    out.clear();
    http::serialize(res, out, 10, false);
    CHECK(out == "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");

    http::response empty;
    out.clear();
    http::serialize(empty, out);
    CHECK(out == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("http: responses without content get no Content-Length and no body", "[http]")
{
    auto const code = GENERATE(http::status::switching_protocols, http::status::no_content, http::status::not_modified);
    http::response res;
    res.code = code;
    res.body = "ignored";
    if (code == http::status::switching_protocols) {
        res.headers.add("Upgrade", "websocket");
        res.headers.add("Connection", "Upgrade");
    }
    std::string out;
    http::serialize(res, out);
    CHECK(out.find("Content-Length") == std::string::npos);
    CHECK(out.find("ignored") == std::string::npos);
    CHECK(out.size() >= 4);
    CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
    CHECK(out.find("Connection: close") == std::string::npos);
}

TEST_CASE("http: fields that already frame the body or close the connection are not duplicated", "[http]")
{
    http::response res;
    res.headers.add("Transfer-Encoding", "chunked");
    res.headers.add("Connection", "close");
    std::string out;
    http::serialize(res, out, 11, false);
    CHECK(out == "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");

    http::response head;
    head.headers.add("content-length", "1234"); // a HEAD response
    out.clear();
    http::serialize(head, out);
    CHECK(out == "HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n");
}

TEST_CASE("http: user data cannot split a serialized response", "[http]")
{
    http::response res;
    res.code = http::status::found;
    res.headers.add("Location", "/x\r\nSet-Cookie: evil=1\r\n\r\n<html>");
    res.headers.add("Bad Name", "v");
    res.headers.add("X-Nul", "a\0b"s);
    std::string out;
    http::serialize(res, out);
    CHECK(out == "HTTP/1.1 302 Found\r\n"
                 "Location: /x  Set-Cookie: evil=1    <html>\r\n"
                 "X-Nul: a b\r\n"
                 "Content-Length: 0\r\n\r\n");
}

TEST_CASE("http: error responses are plain text with the status", "[http]")
{
    auto const res = http::error_response(http::status::payload_too_large, "body over 1 MiB");
    CHECK(res.code == http::status::payload_too_large);
    CHECK(res.headers.find("Content-Type") == "text/plain; charset=utf-8");
    CHECK(res.body == "body over 1 MiB\n");
    std::string out;
    http::serialize(res, out, 11, false);
    CHECK(out == "HTTP/1.1 413 Content Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: 16\r\nConnection: close\r\n\r\nbody over 1 MiB\n");
    CHECK(http::error_response(http::status::not_found, "").body == "Not Found\n");
}
