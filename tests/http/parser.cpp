// Test that the header is self-contained.
#include <rtmsg/http/parser.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

namespace http = rtmsg::http;
using namespace std::string_literals;

struct outcome {
    std::vector<http::request> requests; // complete requests, in order
    std::error_code ec;                  // the error that stopped parsing, if any
    std::size_t consumed = 0;            // bytes consumed by the parser in total
    bool mid_request = false;            // input ended inside a request
};

// Feeds `input` the way a server would: `piece` bytes per read, unconsumed bytes kept for the next
// request after reset(). Checks the feed() contract on every call.
outcome parse_stream(std::string_view input, std::size_t piece, http::request_parser::limits limits = {})
{
    http::request_parser parser(limits);
    outcome out;
    std::string buffer;
    std::size_t offset = 0;
    std::size_t since_reset = 0;
    for (;;) {
        while (!buffer.empty()) {
            std::error_code ec;
            auto const n = parser.feed(buffer, ec);
            REQUIRE(n <= buffer.size());
            buffer.erase(0, n);
            out.consumed += n;
            since_reset += n;
            if (ec) {
                out.ec = ec;
                return out;
            }
            if (parser.done()) {
                out.requests.push_back(parser.release());
                parser.reset();
                since_reset = 0;
                continue;
            }
            REQUIRE(buffer.empty()); // not done and no error: everything must have been consumed
        }
        if (offset == input.size()) break;
        auto const take = std::min(piece, input.size() - offset);
        buffer.append(input.substr(offset, take));
        offset += take;
    }
    out.mid_request = since_reset != 0;
    return out;
}

http::request parse_one(std::string_view input, std::size_t piece = SIZE_MAX)
{
    auto out = parse_stream(input, piece);
    INFO(out.ec.message());
    REQUIRE(!out.ec);
    REQUIRE(out.requests.size() == 1);
    REQUIRE(!out.mid_request);
    return std::move(out.requests.front());
}

std::error_code parse_error(std::string_view input, std::size_t piece = SIZE_MAX,
                            http::request_parser::limits limits = {})
{
    return parse_stream(input, piece, limits).ec;
}

std::vector<std::pair<std::string, std::string>> field_list(http::fields const& f)
{
    std::vector<std::pair<std::string, std::string>> v;
    for (auto const& x : f) v.emplace_back(x.name, x.value);
    return v;
}

bool same_request(http::request const& a, http::request const& b)
{
    return a.method == b.method && a.target == b.target && a.version == b.version && a.body == b.body &&
           field_list(a.headers) == field_list(b.headers);
}

bool same_outcome(outcome const& a, outcome const& b)
{
    if (a.ec != b.ec || a.requests.size() != b.requests.size() || a.mid_request != b.mid_request) return false;
    for (std::size_t i = 0; i < a.requests.size(); ++i)
        if (!same_request(a.requests[i], b.requests[i])) return false;
    return true;
}

std::string const chunked_post = "POST /upload?name=a%20b HTTP/1.1\r\n"
                                 "Host: example.com\r\n"
                                 "Transfer-Encoding: chunked\r\n"
                                 "Connection: keep-alive, Upgrade\r\n"
                                 "\r\n"
                                 "5;name=value;quoted=\"a \\\"b\\\" c\"\r\n"
                                 "hello\r\n"
                                 "1 ; ext\r\n"
                                 " \r\n"
                                 "0000000000000006\r\n"
                                 "world!\r\n"
                                 "0\r\n"
                                 "Expires: never\r\n"
                                 "X-Checksum: abc\r\n"
                                 "\r\n";

std::string const pipelined = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                              "POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world"
                              "PUT /three HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3\r\nabc\r\n0\r\n\r\n";

} // namespace

TEST_CASE("http: a simple GET request is parsed", "[http]")
{
    auto const req = parse_one("GET /chat?room=lobby&x=1 HTTP/1.1\r\n"
                               "Host: example.com:8080\r\n"
                               "User-Agent:   curl/8.0   \r\n"
                               "Accept:\r\n"
                               "\r\n");
    CHECK(req.method == "GET");
    CHECK(req.target == "/chat?room=lobby&x=1");
    CHECK(req.version == 11);
    CHECK(req.path() == "/chat");
    CHECK(req.query() == "room=lobby&x=1");
    CHECK(req.headers.size() == 3);
    CHECK(req.headers.find("host") == "example.com:8080");
    CHECK(req.headers.find("USER-AGENT") == "curl/8.0"); // OWS trimmed
    CHECK(req.headers.find("Accept") == "");
    CHECK(req.body.empty());
    CHECK(req.keep_alive());
}

TEST_CASE("http: a request survives any split of the input", "[http]")
{
    auto const piece = GENERATE(range(std::size_t{1}, chunked_post.size() + 1));
    auto const req = parse_one(chunked_post, piece);
    CHECK(req.method == "POST");
    CHECK(req.target == "/upload?name=a%20b");
    CHECK(req.query_param("name") == "a b");
    CHECK(req.headers.find("transfer-encoding") == "chunked");
    CHECK(req.body == "hello world!");
    CHECK(req.headers.size() == 3); // trailers are discarded
    CHECK_FALSE(req.headers.contains("Expires"));
    CHECK(req.headers.has_token("Connection", "upgrade"));
}

TEST_CASE("http: a request with Content-Length survives any two-piece split", "[http]")
{
    std::string const input = "PUT /items/7 HTTP/1.0\r\nContent-Length: 10\r\nX-A: 1\r\n\r\n0123456789";
    auto const whole = parse_one(input);
    CHECK(whole.body == "0123456789");
    CHECK(whole.version == 10);
    for (std::size_t split = 0; split <= input.size(); ++split) {
        http::request_parser parser;
        std::error_code ec;
        auto n = parser.feed(std::string_view(input).substr(0, split), ec);
        REQUIRE(!ec);
        REQUIRE(n == split);
        n = parser.feed(std::string_view(input).substr(split), ec);
        REQUIRE(!ec);
        REQUIRE(n == input.size() - split);
        REQUIRE(parser.done());
        CHECK(same_request(parser.get(), whole));
    }
}

TEST_CASE("http: pipelined requests are parsed one by one and the next one is not consumed", "[http]")
{
    SECTION("one buffer")
    {
        http::request_parser parser;
        std::error_code ec;
        std::string_view rest = pipelined;
        auto n = parser.feed(rest, ec);
        REQUIRE(!ec);
        REQUIRE(parser.done());
        CHECK(n == std::string_view("GET /one HTTP/1.1\r\nHost: a\r\n\r\n").size());
        CHECK(parser.get().target == "/one");
        CHECK(parser.feed(rest.substr(n), ec) == 0); // done: nothing more is taken
        CHECK(!ec);
        rest.remove_prefix(n);
        parser.reset();

        n = parser.feed(rest, ec);
        REQUIRE(parser.done());
        CHECK(parser.get().target == "/two");
        CHECK(parser.get().body == "hello world");
        CHECK(rest.substr(n).substr(0, 4) == "PUT ");
        rest.remove_prefix(n);
        parser.reset();

        n = parser.feed(rest, ec);
        REQUIRE(parser.done());
        CHECK(n == rest.size());
        auto const third = parser.release();
        CHECK(third.method == "PUT");
        CHECK(third.body == "abc");
    }
    SECTION("any read size")
    {
        auto const piece = GENERATE(range(std::size_t{1}, std::size_t{40}), std::size_t{64}, std::size_t{1000});
        auto const out = parse_stream(pipelined, piece);
        REQUIRE(!out.ec);
        REQUIRE(out.requests.size() == 3);
        CHECK(out.requests[0].target == "/one");
        CHECK(out.requests[1].body == "hello world");
        CHECK(out.requests[2].body == "abc");
        CHECK_FALSE(out.mid_request);
    }
    SECTION("an incomplete request after complete ones waits for more")
    {
        auto const out = parse_stream(pipelined + "GET /four HTTP/1.1\r\nHo", 7);
        CHECK(!out.ec);
        CHECK(out.requests.size() == 3);
        CHECK(out.mid_request);
    }
}

TEST_CASE("http: keep-alive follows the HTTP/1.0 and HTTP/1.1 rules", "[http]")
{
    struct row {
        char const* head;
        bool keep_alive;
    };
    auto const r = GENERATE(values<row>({
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: foo ,\tKeep-Alive \r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
    }));
    INFO(r.head);
    CHECK(parse_one(r.head).keep_alive() == r.keep_alive);
}

TEST_CASE("http: repeated headers are kept in order and Connection token lists are understood", "[http]")
{
    auto const req = parse_one("GET /ws HTTP/1.1\r\n"
                               "Host: a\r\n"
                               "Accept: text/html\r\n"
                               "Connection: keep-alive\r\n"
                               "accept: application/json\r\n"
                               "Connection: Upgrade\r\n"
                               "Upgrade: WebSocket\r\n"
                               "Cookie: a=1; session=\"xyz\"\r\n"
                               "Cookie: b=2\r\n"
                               "\r\n");
    CHECK(req.headers.count("Accept") == 2);
    CHECK(req.headers.find_all("ACCEPT") == std::vector<std::string_view>{"text/html", "application/json"});
    CHECK(req.headers.find("accept") == "text/html");
    CHECK(req.headers.has_token("Connection", "upgrade"));
    CHECK(req.headers.has_token("Connection", "keep-alive"));
    CHECK(req.is_upgrade("websocket"));
    CHECK_FALSE(req.is_upgrade("h2c"));
    CHECK(req.cookie("session") == "xyz");
    CHECK(req.cookie("b") == "2");
    CHECK(req.cookie("B") == std::nullopt);
    CHECK(req.cookie("c") == std::nullopt);
}

TEST_CASE("http: upgrade needs both the Connection token and the Upgrade token, and HTTP/1.1", "[http]")
{
    CHECK_FALSE(parse_one("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n").is_upgrade("websocket"));
    CHECK_FALSE(parse_one("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n").is_upgrade("websocket"));
    CHECK(parse_one("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: h2c, websocket\r\n\r\n")
              .is_upgrade("websocket"));
    CHECK_FALSE(
        parse_one("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n").is_upgrade("websocket"));
}

TEST_CASE("http: request targets in origin, absolute and asterisk form are accepted", "[http]")
{
    auto req = parse_one("GET http://example.com:81/a/b?c=d HTTP/1.1\r\nHost: example.com:81\r\n\r\n");
    CHECK(req.path() == "/a/b");
    CHECK(req.query() == "c=d");
    req = parse_one("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
    CHECK(req.path() == "/");
    req = parse_one("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(req.target == "*");
    CHECK(req.path() == "*");
    req = parse_one("GET /%7Euser/a%20b?q HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(req.path() == "/%7Euser/a%20b"); // still encoded
    CHECK(req.query() == "q");
}

TEST_CASE("http: query parameters are percent-decoded with plus as space", "[http]")
{
    http::request req;
    req.target = "/s?q=caf%C3%A9+au+lait&empty=&flag&a%26b=c%3Dd&q=second&bad=%zz&bad=ok&&x=1";
    CHECK(req.query_param("q") == "café au lait");
    CHECK(req.query_param("empty") == "");
    CHECK(req.query_param("flag") == "");
    CHECK(req.query_param("a&b") == "c=d");
    CHECK(req.query_param("bad") == "ok"); // malformed pairs are skipped
    CHECK(req.query_param("x") == "1");
    CHECK(req.query_param("missing") == std::nullopt);
    req.target = "/no-query";
    CHECK(req.query_param("q") == std::nullopt);
    CHECK(req.query().empty());
}

TEST_CASE("http: chunked bodies with extensions and trailers are decoded", "[http]")
{
    auto const req = parse_one("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n"
                               "A;a;b=c ; d = \"e;f\"\r\n0123456789\r\n"
                               "a\r\nabcdefghij\r\n"
                               "0;last\r\nTrailer-A: 1\r\nTrailer-B:\r\n\r\n");
    CHECK(req.body == "0123456789abcdefghij");
    CHECK(req.headers.size() == 2);
}

TEST_CASE("http: repeated identical Content-Length values are accepted", "[http]")
{
    auto const req = parse_one("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc");
    CHECK(req.body == "abc");
    CHECK(req.headers.count("Content-Length") == 2);
    CHECK(parse_one("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").body.empty());
}

TEST_CASE("http: a few empty lines before the request line are ignored, more are rejected", "[http]")
{
    CHECK(parse_one("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").target == "/");
    CHECK(parse_error("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n") == http::error::too_many_empty_lines);
    // A stray CRLF after a body (an old client habit) belongs to the next request and is skipped there.
    auto const out = parse_stream("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\n"
                                  "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
                                  5);
    CHECK(!out.ec);
    CHECK(out.requests.size() == 2);
}

TEST_CASE("http: header_done is true once the header section is accepted, before the body", "[http]")
{
    http::request_parser parser;
    std::error_code ec;
    std::string_view const head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n";
    parser.feed(head, ec);
    CHECK_FALSE(parser.header_done());
    parser.feed("\r\n", ec);
    CHECK(parser.header_done());
    CHECK_FALSE(parser.done());
    CHECK(parser.get().headers.find("Expect") == "100-continue");
    CHECK(parser.feed("12345", ec) == 5);
    CHECK(parser.done());
}

namespace {

struct bad_case {
    char const* what;
    std::string input;
    http::error expected;
};

using E = http::error;
std::string const get = "GET / HTTP/1.1\r\nHost: a\r\n"; // a request line and Host, to add fields to
std::string const post = "POST / HTTP/1.1\r\nHost: a\r\n";
std::string const chunked = post + "Transfer-Encoding: chunked\r\n\r\n"; // to add chunks to
std::string const cl = post + "Content-Length: ";

std::string many_fields(int n)
{
    std::string s;
    for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
    return s;
}

std::vector<bad_case> const bad_cases = {
    // request line
    {"no target", "GET\r\n\r\n", E::bad_request_line},
    {"no version (HTTP/0.9)", "GET /\r\n\r\n", E::bad_request_line},
    {"two spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_request_line},
    {"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", E::bad_request_line},
    {"leading space", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_request_line},
    {"lower-case HTTP", "GET / http/1.1\r\nHost: a\r\n\r\n", E::bad_request_line},
    {"garbage version", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", E::bad_request_line},
    {"bare LF ends the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", E::bad_request_line},
    {"bare LF before the request line", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_request_line},
    {"CR without LF", "GET / HTTP/1.1\rHost: a\r\n\r\n", E::bad_request_line},
    {"TLS handshake on a plain port", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s, E::bad_request_line},
    {"separator in method", "GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_method},
    {"tab after method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_method},
    // request-target
    {"control character in target", "GET /a\x01z HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"NUL in target", "GET /a\0z HTTP/1.1\r\nHost: a\r\n\r\n"s, E::bad_target},
    {"DEL in target", "GET /a\x7fz HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"non-ASCII in target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"fragment in target", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"relative target", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"asterisk without OPTIONS", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"other scheme", "GET ftp://a/b HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"empty authority", "GET http:///etc HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"userinfo", "GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", E::bad_target},
    {"authority-form (CONNECT)", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", E::bad_target},
    // version
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", E::bad_version},
    {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", E::bad_version},
    {"HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", E::bad_version},
    // field lines
    {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", E::bad_header},
    {"tab before colon", get + "X\t: b\r\n\r\n", E::bad_header},
    {"no colon", get + "NoColon\r\n\r\n", E::bad_header},
    {"empty name", get + ": b\r\n\r\n", E::bad_header},
    {"control character in value", get + "X: a\x01z\r\n\r\n", E::bad_header},
    {"NUL in value", get + "X: a\0z\r\n\r\n"s, E::bad_header},
    {"bare CR in value", get + "X: a\rz\r\n\r\n", E::bad_header},
    {"bare LF after a field", get + "X: b\n\r\n", E::bad_header},
    {"bare LF ends the header section", get + "\n", E::bad_header},
    {"obsolete line folding", get + "X: a\r\n  b\r\n\r\n", E::obsolete_line_folding},
    {"whitespace before the first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", E::obsolete_line_folding},
    {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", E::missing_host},
    {"two Host fields", get + "Host: b\r\n\r\n", E::multiple_host},
    {"two Host fields in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", E::multiple_host},
    {"Host with a path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", E::bad_header},
    {"Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", E::bad_header},
    // Content-Length
    {"Content-Length not a number", cl + "abc\r\n\r\n", E::bad_content_length},
    {"negative Content-Length", cl + "-1\r\n\r\n", E::bad_content_length},
    {"Content-Length with a sign", cl + "+1\r\n\r\nx", E::bad_content_length},
    {"empty Content-Length", cl + "\r\n\r\n", E::bad_content_length},
    {"Content-Length list", cl + "1, 1\r\n\r\nx", E::bad_content_length},
    {"Content-Length with inner space", cl + "1 2\r\n\r\n", E::bad_content_length},
    {"Content-Length overflow", cl + "18446744073709551616\r\n\r\n", E::bad_content_length},
    {"differing Content-Length", cl + "5\r\nContent-Length: 6\r\n\r\nhello!", E::bad_content_length},
    // request smuggling (RFC 9112 §6.1, §6.3, §11.2)
    {"Content-Length and Transfer-Encoding", cl + "3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     E::ambiguous_length},
    {"Transfer-Encoding and Content-Length", post + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
     E::ambiguous_length},
    {"chunked, identity", post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", E::bad_transfer_encoding},
    {"chunked then identity in two fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
     E::bad_transfer_encoding},
    {"identity alone", post + "Transfer-Encoding: identity\r\n\r\n", E::bad_transfer_encoding},
    {"gzip alone", post + "Transfer-Encoding: gzip\r\n\r\n", E::bad_transfer_encoding},
    {"chunked twice", post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", E::bad_transfer_encoding},
    {"chunked twice in two fields", post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     E::bad_transfer_encoding},
    {"look-alike coding", post + "Transfer-Encoding: xchunked\r\n\r\n", E::bad_transfer_encoding},
    {"empty Transfer-Encoding", post + "Transfer-Encoding: ,\r\n\r\n", E::bad_transfer_encoding},
    {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     E::bad_transfer_encoding},
    {"gzip, chunked", post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", E::unsupported_transfer_encoding},
    {"gzip then chunked in two fields", post + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
     E::unsupported_transfer_encoding},
    // chunked framing
    {"chunk size not hex", chunked + "g\r\n", E::bad_chunk},
    {"empty chunk size", chunked + "\r\n", E::bad_chunk},
    {"negative chunk size", chunked + "-1\r\n", E::bad_chunk},
    {"0x prefix", chunked + "0x1\r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"data longer than size", chunked + "1\r\nab\r\n0\r\n\r\n", E::bad_chunk},
    {"bare LF after size", chunked + "1\na\r\n0\r\n\r\n", E::bad_chunk},
    {"bare LF after data", chunked + "1\r\na\n0\r\n\r\n", E::bad_chunk},
    {"trailing whitespace after size", chunked + "1 \r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"empty extension", chunked + "1;\r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"extension without value", chunked + "1;a=\r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"trailing whitespace after extension", chunked + "1;a=b \r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"unterminated quoted extension", chunked + "1;a=\"b\r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"control byte in extension", chunked + "1;a\x01\r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"17-digit chunk size", chunked + "00000000000000001\r\na\r\n0\r\n\r\n", E::bad_chunk},
    {"bad trailer", chunked + "0\r\nNo colon\r\n\r\n", E::bad_header},
    {"folded trailer", chunked + "0\r\nA: b\r\n c\r\n\r\n", E::obsolete_line_folding},
    // limits (defaults: 16 KiB of header, 1 MiB of body)
    {"Content-Length over the body limit", cl + "1048577\r\n\r\n", E::body_too_large},
    {"chunk size over the body limit", chunked + "100001\r\n", E::body_too_large},
    {"huge chunk size", chunked + "ffffffffffffffff\r\n", E::body_too_large},
    {"header section over the limit", get + "X: " + std::string(20000, 'a') + "\r\n\r\n", E::header_too_large},
    {"many fields over the limit", get + many_fields(2000) + "\r\n", E::header_too_large},
    {"target over the limit", "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", E::target_too_long},
    {"method over the limit", std::string(20000, 'G') + " / HTTP/1.1\r\nHost: a\r\n\r\n", E::header_too_large},
};

} // namespace

TEST_CASE("http: malformed and oversized requests fail with the right error, whatever the split", "[http]")
{
    auto const& c = GENERATE(from_range(bad_cases));
    INFO(c.what);
    auto const ec = parse_error(c.input);
    CHECK(ec == c.expected);
    CHECK(ec.category() == http::error_category());
    // Same error byte by byte, and in an odd read size.
    CHECK(parse_error(c.input, 1) == c.expected);
    CHECK(parse_error(c.input, 7) == c.expected);
}

TEST_CASE("http: each error maps to its status code", "[http]")
{
    CHECK(http::status_for(http::error::bad_request_line) == http::status::bad_request);
    CHECK(http::status_for(http::error::ambiguous_length) == http::status::bad_request);
    CHECK(http::status_for(http::error::bad_transfer_encoding) == http::status::bad_request);
    CHECK(http::status_for(http::error::body_too_large) == http::status::payload_too_large);
    CHECK(http::status_for(http::error::header_too_large) == http::status::request_header_fields_too_large);
    CHECK(http::status_for(http::error::unsupported_transfer_encoding) == http::status::not_implemented);
    CHECK(http::status_for(http::error::bad_version) == http::status::http_version_not_supported);
    CHECK(http::status_for(http::error::target_too_long) == http::status::uri_too_long);
    CHECK(static_cast<unsigned>(http::status_for(http::error::header_too_large)) == 431);
}

TEST_CASE("http: the header limit fails as soon as it is passed, even if CRLFCRLF never arrives", "[http]")
{
    http::request_parser::limits limits;
    limits.header_bytes = 1024;
    http::request_parser parser(limits);
    std::error_code ec;
    std::string_view const start = "GET / HTTP/1.1\r\nHost: a\r\nX-Endless: ";
    REQUIRE(parser.feed(start, ec) == start.size());
    REQUIRE(!ec);
    std::size_t fed = start.size();
    std::string const piece(100, 'a');
    while (!ec) {
        parser.feed(piece, ec);
        fed += piece.size();
        REQUIRE(fed <= limits.header_bytes + piece.size()); // it never waits past the limit
    }
    CHECK(ec == http::error::header_too_large);
    CHECK(http::status_for(http::error(ec.value())) == http::status::request_header_fields_too_large);

    SECTION("a request line that never ends fails too")
    {
        http::request_parser p2(limits);
        std::error_code ec2;
        p2.feed("GET /", ec2);
        std::size_t total = 5;
        while (!ec2 && total < 10 * limits.header_bytes) {
            p2.feed(piece, ec2);
            total += piece.size();
        }
        CHECK(ec2 == http::error::target_too_long);
        CHECK(total <= limits.header_bytes + piece.size());
    }
}

TEST_CASE("http: the header limit is exact", "[http]")
{
    std::string const head = "GET /abc HTTP/1.1\r\nHost: a\r\nX: 123\r\n\r\n";
    auto const piece = GENERATE(std::size_t{1}, std::size_t{3}, SIZE_MAX);
    http::request_parser::limits limits;
    limits.header_bytes = head.size();
    auto out = parse_stream(head, piece, limits);
    CHECK(!out.ec);
    CHECK(out.requests.size() == 1);
    limits.header_bytes = head.size() - 1;
    CHECK(parse_error(head, piece, limits) == http::error::header_too_large);
    limits.header_bytes = 6; // "GET /a": the limit is passed inside the target
    CHECK(parse_error(head, piece, limits) == http::error::target_too_long);
}

TEST_CASE("http: the body limit is exact for Content-Length and for chunked bodies", "[http]")
{
    http::request_parser::limits limits;
    limits.body_bytes = 10;
    auto const piece = GENERATE(std::size_t{1}, std::size_t{4}, SIZE_MAX);
    std::string const cl = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ";
    CHECK(parse_stream(cl + "10\r\n\r\n0123456789", piece, limits).requests.size() == 1);
    CHECK(parse_error(cl + "11\r\n\r\n0123456789a", piece, limits) == http::error::body_too_large);

    std::string const te = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(parse_stream(te + "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n", piece, limits).requests.size() == 1);
    // The second chunk size announces one byte too many: rejected before its data is sent.
    CHECK(parse_error(te + "5\r\n01234\r\n6\r\n", piece, limits) == http::error::body_too_large);
}

TEST_CASE("http: chunk extensions and trailers are bounded", "[http]")
{
    http::request_parser::limits limits;
    limits.header_bytes = 256;
    std::string const te = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::string many_extensions;
    for (int i = 0; i < 100; ++i) many_extensions += "1;ext=" + std::to_string(i) + "\r\nx\r\n";
    CHECK(parse_error(te + many_extensions + "0\r\n\r\n", SIZE_MAX, limits) == http::error::bad_chunk);
    CHECK(parse_error(te + "0\r\nX: " + std::string(300, 'a') + "\r\n\r\n", SIZE_MAX, limits) ==
          http::error::header_too_large);
}

TEST_CASE("http: after an error the parser stays failed until reset", "[http]")
{
    http::request_parser parser;
    std::error_code ec;
    parser.feed("GET / HTTP/9.9\r\n", ec);
    REQUIRE(ec == http::error::bad_version);
    CHECK(parser.feed("GET / HTTP/1.1\r\n", ec) == 0);
    CHECK(ec == http::error::bad_version);
    CHECK_FALSE(parser.done());
    parser.reset();
    std::string_view const good = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(parser.feed(good, ec) == good.size());
    CHECK(!ec);
    CHECK(parser.done());
}

TEST_CASE("http: error messages say what went wrong", "[http]")
{
    std::error_code const ec = http::error::ambiguous_length;
    CHECK(std::string(ec.category().name()) == "rtmsg.http");
    CHECK(ec.message().find("Content-Length") != std::string::npos);
    CHECK(std::error_code(http::error::header_too_large).message().find("header") != std::string::npos);
    CHECK(std::error_code(http::error::bad_chunk).message() != std::error_code(http::error::bad_header).message());
}

TEST_CASE("http: random corruptions give the same outcome however the input is split", "[http]")
{
    // A cheap stand-in for the fuzzer: damage valid requests and compare whole, byte-by-byte and
    // random-split parses. None may crash, and all must agree on the requests or the error.
    std::mt19937 rng(20240601);
    std::vector<std::string> const seeds = {chunked_post, pipelined, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                                            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"};
    std::string const alphabet = "\r\n :;\"\\0aF\t\x00\x7f\xff,-/"s;
    http::request_parser::limits limits;
    limits.header_bytes = 200;
    limits.body_bytes = 40;
    for (int iteration = 0; iteration < 3000; ++iteration) {
        std::string input = seeds[rng() % seeds.size()];
        auto const edits = 1 + rng() % 3;
        for (unsigned e = 0; e < edits; ++e) {
            auto const at = rng() % input.size();
            switch (rng() % 3) {
            case 0: input[at] = alphabet[rng() % alphabet.size()]; break;
            case 1: input.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
            default: input.erase(at, 1); break;
            }
            if (input.empty()) input = "G";
        }
        auto const whole = parse_stream(input, SIZE_MAX, limits);
        auto const bytewise = parse_stream(input, 1, limits);
        auto const split = parse_stream(input, 1 + rng() % 16, limits);
        INFO(input);
        REQUIRE(same_outcome(whole, bytewise));
        REQUIRE(same_outcome(whole, split));
    }
}
