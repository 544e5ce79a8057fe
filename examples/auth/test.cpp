// Tests of the auth example: the JWT verifier on its own, then the server end
// to end.
#include "auth.hpp"

#include <catch2/catch.hpp>

#include "support/net.hpp"

using namespace auth_example;
using namespace net_test;

namespace {
constexpr std::string_view key = "correct horse battery staple";
std::string token(std::string_view claims_json, std::string_view k = key)
{
    return sign_hs256(claims_json, k);
}
} // namespace

TEST_CASE("auth: HS256 tokens are verified", "[auth][jwt]")
{
    claims c;
    auto const good = token(R"({"sub":"alice","exp":4102444800,"pub":["chat."],"sub_topics":["ops."]})");
    REQUIRE(verify_hs256(good, key, c) == jwt_error::none);
    CHECK(c.subject == "alice");
    CHECK(c.publish == std::vector<std::string>{"chat."});
    CHECK(c.subscribe == std::vector<std::string>{"ops."});

    CHECK(verify_hs256(token(R"({"sub":"alice","exp":4102444800})", "other key"), key, c) == jwt_error::bad_signature);
    CHECK(verify_hs256(token(R"({"sub":"alice","exp":1000})"), key, c) == jwt_error::expired);
    CHECK(verify_hs256(token(R"({"sub":"alice","exp":4102444800,"nbf":4102444000})"), key, c) ==
          jwt_error::not_yet_valid);
    CHECK(verify_hs256(token(R"({"exp":4102444800})"), key, c) == jwt_error::bad_claims);
    CHECK(verify_hs256(token(R"({"sub":"alice"})"), key, c) == jwt_error::bad_claims);
    CHECK(verify_hs256("", key, c) == jwt_error::malformed);
    CHECK(verify_hs256("a.b", key, c) == jwt_error::malformed);
    CHECK(verify_hs256(good + ".x", key, c) == jwt_error::malformed);

    // A flipped signature byte, and a payload swapped under a valid signature.
    auto tampered = good;
    tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
    CHECK(verify_hs256(tampered, key, c) != jwt_error::none);
    auto const other = token(R"({"sub":"mallory","exp":4102444800,"pub":[""]})");
    auto const swapped = good.substr(0, good.find('.')) +
                         other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                         good.substr(good.rfind('.'));
    CHECK(verify_hs256(swapped, key, c) == jwt_error::bad_signature);

    // alg "none" (no signature) and another algorithm are refused even if
    // "signed".
    auto const none = detail::base64url_encode(R"({"alg":"none"})") + '.' +
                      detail::base64url_encode(R"({"sub":"alice","exp":4102444800})") + '.';
    CHECK(verify_hs256(none, key, c) != jwt_error::none);
    auto const input = detail::base64url_encode(R"({"alg":"HS512"})") + '.' +
                       detail::base64url_encode(R"({"sub":"alice","exp":4102444800})");
    CHECK(verify_hs256(input + '.' + detail::base64url_encode(detail::hmac_sha256(key, input)), key, c) ==
          jwt_error::bad_header);
}

namespace {

struct app_server {
    app_server() : app(ioc.get_executor(), std::string(key), {"https://app.example"})
    {
        app.server.listen({asio::ip::make_address("127.0.0.1"), 0});
        port = app.server.local_endpoint().port();
        thread = std::thread([this] { ioc.run(); });
    }
    ~app_server()
    {
        asio::post(ioc, [this] { app.server.stop(); });
        guard.reset();
        ioc.stop();
        thread.join();
    }
    asio::io_context ioc;
    asio::executor_work_guard<asio::io_context::executor_type> guard{ioc.get_executor()};
    secured_app app;
    unsigned short port = 0;
    std::thread thread;
};

std::string request(std::string_view target, std::string_view extra)
{
    return upgrade_bytes(target, std::string("Origin: https://app.example\r\n").append(extra));
}

std::string call(client& c, std::string_view json)
{
    c.send(ws_test::client_frame(ws_test::op_text, json));
    return read_frame(c.socket, c.buf).second;
}

} // namespace

TEST_CASE("auth: the server admits valid bearer tokens and enforces per-topic rights", "[auth][server]")
{
    app_server s;
    {
        client c(s.port);
        c.send(request("/ws", ""));
        auto const r = c.response();
        CHECK(r.starts_with("HTTP/1.1 401 "));
        CHECK(r.find("WWW-Authenticate: Bearer") != std::string::npos);
    }
    {
        client c(s.port);
        c.send(request("/ws", "Authorization: Bearer " + token(R"({"sub":"eve","exp":4102444800})", "guess") + "\r\n"));
        CHECK(c.response().starts_with("HTTP/1.1 401 "));
    }
    {
        client c(s.port); // right token, wrong origin
        c.send(upgrade_bytes("/ws", "Origin: https://evil.example\r\nAuthorization: Bearer " +
                                        token(R"({"sub":"alice","exp":4102444800})") + "\r\n"));
        CHECK(c.response().starts_with("HTTP/1.1 403 "));
    }
    client alice(s.port), bob(s.port);
    alice.send(request("/ws", "Authorization: Bearer " + token(R"({"sub":"alice","exp":4102444800,"pub":["chat."]})") +
                                  "\r\n"));
    REQUIRE(alice.response().starts_with("HTTP/1.1 101 "));
    bob.send(request("/ws?access_token=" + token(R"({"sub":"bob","exp":4102444800})"), ""));
    REQUIRE(bob.response().starts_with("HTTP/1.1 101 "));

    CHECK(call(bob, R"({"op":"sub","id":1,"topic":"public.chat.x"})").find(R"("op":"ack")") != std::string::npos);
    CHECK(call(bob, R"({"op":"sub","id":2,"topic":"user.bob.inbox"})").find(R"("op":"ack")") != std::string::npos);
    auto const denied = call(bob, R"({"op":"sub","id":3,"topic":"user.alice.inbox"})");
    CHECK(denied.find(R"("op":"error")") != std::string::npos);
    CHECK(denied.find(R"("code":403)") != std::string::npos);
    auto const no_pub = call(bob, R"({"op":"pub","id":4,"topic":"chat.x","data":1,"ack":true})");
    CHECK(no_pub.find(R"("code":403)") != std::string::npos);

    CHECK(call(alice, R"({"op":"pub","id":5,"topic":"chat.x","data":1,"ack":true})").find(R"("op":"ack")") !=
          std::string::npos);
    CHECK(call(alice,
               R"({"op":"pub","id":6,"topic":"public.chat.x","data":{"hi":"bob"},"ack":true})")
              .find(R"("code":403)") != std::string::npos); // alice may publish to chat.* only
}
