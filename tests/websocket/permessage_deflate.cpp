// Test that the header is self-contained.
#include <rtmsg/websocket/permessage_deflate.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace websocket = rtmsg::websocket;
using websocket::deflate_options;
using websocket::deflate_params;

deflate_options enabled()
{
    deflate_options o;
    o.enable = true;
    return o;
}

std::optional<websocket::deflate_agreement> negotiate(std::vector<std::string_view> values,
                                                      deflate_options const& o = enabled(), bool over = false)
{
    return websocket::negotiate_deflate(values, o, over);
}

} // namespace

TEST_CASE("permessage-deflate: extension lists parse per RFC 6455 §9.1", "[websocket][deflate]")
{
    auto const v = websocket::parse_extensions(
        {"foo, permessage-deflate ; client_max_window_bits ;server_max_window_bits=\"10\"", "x; a=\"b,c\", y"});
    // "a" has a quoted value that is not a token once unquoted: that element is left out.
    REQUIRE(v.size() == 3);
    CHECK(v[0].name == "foo");
    CHECK(v[1].name == "permessage-deflate");
    REQUIRE(v[1].params.size() == 2);
    CHECK(v[1].params[0].name == "client_max_window_bits");
    CHECK(!v[1].params[0].value);
    CHECK(v[1].params[1].value == std::string("10"));
    CHECK(v[2].name == "y");
    CHECK(websocket::parse_extensions({"a;", "b;=1", ";c", "d; e=", "f; g=\"unterminated"}).empty());
}

TEST_CASE("permessage-deflate: a plain offer is accepted with the defaults", "[websocket][deflate]")
{
    auto const a = negotiate({"permessage-deflate"});
    REQUIRE(a);
    CHECK(a->response == "permessage-deflate");
    CHECK(a->params == deflate_params{});
    // What browsers send.
    auto const b = negotiate({"permessage-deflate; client_max_window_bits"});
    REQUIRE(b);
    CHECK(b->response == "permessage-deflate");
    CHECK(b->params.client_max_window_bits == 15);
}

TEST_CASE("permessage-deflate: nothing is accepted when disabled or not offered", "[websocket][deflate]")
{
    CHECK(!negotiate({"permessage-deflate"}, deflate_options{}));
    CHECK(!negotiate({}));
    CHECK(!negotiate({"x-webkit-deflate-frame"}));
    CHECK(!negotiate({""}));
}

TEST_CASE("permessage-deflate: the first acceptable of several offers wins", "[websocket][deflate]")
{
    // Unknown parameter, duplicate, value on a bare parameter, bad window values: declined.
    auto const bad =
        GENERATE(as<std::string>{}, "permessage-deflate; foo",
                 "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                 "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
                 "permessage-deflate; server_no_context_takeover=1",
                 "permessage-deflate; client_no_context_takeover=\"\"", "permessage-deflate; server_max_window_bits",
                 "permessage-deflate; server_max_window_bits=7", "permessage-deflate; server_max_window_bits=16",
                 "permessage-deflate; server_max_window_bits=010", "permessage-deflate; client_max_window_bits=0",
                 "permessage-deflate; client_max_window_bits=+9", "permessage-deflate; server_max_window_bits=1 0");
    CAPTURE(bad);
    CHECK(!negotiate({bad}));
    auto const a = negotiate({bad + ", permessage-deflate; server_max_window_bits=12, permessage-deflate"});
    REQUIRE(a);
    CHECK(a->response == "permessage-deflate; server_max_window_bits=12");
    CHECK(a->params.server_max_window_bits == 12);
    // Offers spread over two header lines count in order.
    auto const b = negotiate({bad, "permessage-deflate; client_no_context_takeover"});
    REQUIRE(b);
    CHECK(b->response == "permessage-deflate; client_no_context_takeover");
}

TEST_CASE("permessage-deflate: the response never carries a parameter the client did not allow", "[websocket][deflate]")
{
    auto o = enabled();
    o.peer_window_bits = 10; // we would like the client to use a small window...
    auto const a = negotiate({"permessage-deflate"}, o);
    REQUIRE(a);
    // ...but it did not offer client_max_window_bits (§7.1.2.2): it may use 15.
    CHECK(a->response == "permessage-deflate");
    CHECK(a->params.client_max_window_bits == 15);
    auto const b = negotiate({"permessage-deflate; client_max_window_bits"}, o);
    REQUIRE(b);
    CHECK(b->response == "permessage-deflate; client_max_window_bits=10");
    CHECK(b->params.client_max_window_bits == 10);
    auto const c = negotiate({"permessage-deflate; client_max_window_bits=9"}, o);
    REQUIRE(c);
    CHECK(c->response == "permessage-deflate; client_max_window_bits=9");
    CHECK(c->params.client_max_window_bits == 9);
}

TEST_CASE("permessage-deflate: each parameter is honoured", "[websocket][deflate]")
{
    SECTION("server_no_context_takeover asked by the client")
    {
        auto const a = negotiate({"permessage-deflate; server_no_context_takeover"});
        REQUIRE(a);
        CHECK(a->response == "permessage-deflate; server_no_context_takeover");
        CHECK(a->params.server_no_context_takeover);
        CHECK(!a->params.client_no_context_takeover);
    }
    SECTION("server_no_context_takeover chosen by the server")
    {
        auto o = enabled();
        o.no_context_takeover = true;
        auto const a = negotiate({"permessage-deflate"}, o);
        REQUIRE(a);
        CHECK(a->response == "permessage-deflate; server_no_context_takeover");
    }
    SECTION("client_no_context_takeover asked by the server")
    {
        auto o = enabled();
        o.peer_no_context_takeover = true;
        auto const a = negotiate({"permessage-deflate"}, o);
        REQUIRE(a);
        CHECK(a->response == "permessage-deflate; client_no_context_takeover");
        CHECK(a->params.client_no_context_takeover);
    }
    SECTION("server_max_window_bits: the smaller of the client's and ours")
    {
        auto o = enabled();
        o.window_bits = 11;
        CHECK(negotiate({"permessage-deflate; server_max_window_bits=13"}, o)->response ==
              "permessage-deflate; server_max_window_bits=11");
        CHECK(negotiate({"permessage-deflate; server_max_window_bits=10"}, o)->response ==
              "permessage-deflate; server_max_window_bits=10");
        CHECK(negotiate({"permessage-deflate"}, o)->response == "permessage-deflate; server_max_window_bits=11");
        // 8 is accepted (zlib cannot deflate with it: the stream then sends uncompressed).
        CHECK(negotiate({"permessage-deflate; server_max_window_bits=8"}, o)->params.server_max_window_bits == 8);
    }
    SECTION("the memory budget spent: no context takeover either way")
    {
        auto const a = negotiate({"permessage-deflate; client_max_window_bits"}, enabled(), true);
        REQUIRE(a);
        CHECK(a->response == "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
        CHECK(a->params.server_no_context_takeover);
        CHECK(a->params.client_no_context_takeover);
    }
    SECTION("parameter names are case-insensitive, quoted values allowed")
    {
        auto const a = negotiate({"PerMessage-Deflate; Server_Max_Window_Bits=\"9\""});
        REQUIRE(a);
        CHECK(a->params.server_max_window_bits == 9);
    }
}

TEST_CASE("permessage-deflate: the client's offer and its check of the response", "[websocket][deflate]")
{
    auto o = enabled();
    CHECK(websocket::make_deflate_offer(o) == "permessage-deflate; client_max_window_bits");
    std::optional<deflate_params> p;

    CHECK(!websocket::check_deflate_response({}, o, p));
    CHECK(!p);
    CHECK(!websocket::check_deflate_response({"permessage-deflate"}, o, p));
    REQUIRE(p);
    CHECK(*p == deflate_params{});
    CHECK(!websocket::check_deflate_response(
        {"permessage-deflate; server_no_context_takeover; client_max_window_bits=10"}, o, p));
    CHECK(p->server_no_context_takeover);
    CHECK(p->client_max_window_bits == 10);

    auto const bad =
        GENERATE(as<std::string>{}, "permessage-deflate, permessage-deflate", "x-other", "permessage-deflate; foo",
                 "permessage-deflate; client_max_window_bits", "permessage-deflate; server_max_window_bits=16",
                 "permessage-deflate; server_max_window_bits",
                 "permessage-deflate; client_no_context_takeover; client_no_context_takeover", "permessage-deflate;");
    CAPTURE(bad);
    CHECK(websocket::check_deflate_response({bad}, o, p) == websocket::error::bad_extension);
    CHECK(websocket::check_deflate_response({bad}, o, p) == websocket::condition::handshake_failed);
    // Nothing offered: any extension is refused.
    CHECK(websocket::check_deflate_response({"permessage-deflate"}, deflate_options{}, p) ==
          websocket::error::bad_extension);
}

TEST_CASE("permessage-deflate: a client's limits bind the server's answer", "[websocket][deflate]")
{
    auto o = enabled();
    o.window_bits = 10;
    o.peer_window_bits = 12;
    o.no_context_takeover = true;
    o.peer_no_context_takeover = true;
    CHECK(websocket::make_deflate_offer(o) ==
          "permessage-deflate; client_no_context_takeover; server_no_context_takeover; "
          "server_max_window_bits=12; client_max_window_bits=10");
    std::optional<deflate_params> p;
    CHECK(!websocket::check_deflate_response(
        {"permessage-deflate; server_no_context_takeover; server_max_window_bits=11"}, o, p));
    REQUIRE(p);
    CHECK(p->client_no_context_takeover);
    CHECK(p->server_max_window_bits == 11);
    CHECK(p->client_max_window_bits == 10);
    // Our server_no_context_takeover request ignored, a larger window, a window not answered.
    for (std::string_view bad :
         {"permessage-deflate; server_max_window_bits=12",
          "permessage-deflate; server_no_context_takeover; server_max_window_bits=13",
          "permessage-deflate; server_no_context_takeover",
          "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=11"}) {
        CAPTURE(bad);
        CHECK(websocket::check_deflate_response({bad}, o, p) == websocket::error::bad_extension);
    }
    // The server negotiates with our own function and our check accepts what it answers.
    auto s = enabled();
    s.window_bits = 9;
    auto const a = websocket::negotiate_deflate({websocket::make_deflate_offer(o)}, s);
    REQUIRE(a);
    CHECK(!websocket::check_deflate_response({a->response}, o, p));
    REQUIRE(p);
    CHECK(*p == a->params);
}
