// The package's consumer: the server, the hub with its endpoints, the JSON codec (simdjson) and,
// where the package has them, TLS (rtmsg::ssl) and the Redis bridge (rtmsg::redis).
#include <rtmsg/codec/json.hpp>
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>
#include <rtmsg/version.hpp>
#if defined(RTMSG_TEST_SSL)
#include <rtmsg/transport/ssl.hpp>
#endif
#if defined(RTMSG_TEST_REDIS)
#include <rtmsg/cluster/redis.hpp>
#endif

#include <asio/io_context.hpp>
#include <asio/version.hpp>
#include <simdjson.h>

#include <iostream>
#include <string>

int main()
{
    // The JSON codec: encode a publish and decode it back; decode keys in another order, with an escape.
    rtmsg::codec::json codec;
    rtmsg::codec::envelope in;
    in.op = rtmsg::codec::op::publish;
    in.id = 7;
    in.topic = "chat.lobby";
    in.data = R"({"text":"hi"})";
    std::string bytes;
    rtmsg::codec::envelope out;
    if (codec.encode(in, bytes) || codec.decode_unpadded(bytes, out) || out.op != in.op || out.id != 7 ||
        out.topic != in.topic || out.data != in.data) {
        std::cerr << "json codec round trip failed: " << bytes << "\n";
        return 1;
    }
    if (codec.decode_unpadded(R"({"topic":"t\u0041","op":"sub","id":1})", out) || out.topic != "tA") {
        std::cerr << "json codec decode failed\n";
        return 1;
    }

    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());
    rtmsg::hub hub;
    server.routes().get("/health", [](rtmsg::http::request const&, rtmsg::http::response& res) { res.body = "ok"; });
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    rtmsg::sse_endpoint_options news;
    news.topic = "news";
    server.routes().sse("/news", rtmsg::sse_endpoint(hub, news));
    server.listen({asio::ip::make_address("127.0.0.1"), 0});
    hub.publish("news", R"({"title":"hello"})", rtmsg::codec::data_kind::json);
#if defined(RTMSG_TEST_SSL)
    asio::ssl::context tls(asio::ssl::context::tls_server);
#endif
#if defined(RTMSG_TEST_REDIS)
    rtmsg::cluster::redis_options redis;
    if (!rtmsg::cluster::parse_redis_address("redis://127.0.0.1:6380", redis) || redis.port != 6380) {
        std::cerr << "parse_redis_address failed\n";
        return 1;
    }
#endif
    std::cout << "rtmsg " << rtmsg::version_string << " (simdjson " << int(simdjson::SIMDJSON_VERSION_MAJOR) << "."
              << int(simdjson::SIMDJSON_VERSION_MINOR) << "." << int(simdjson::SIMDJSON_VERSION_REVISION) << ", Asio "
              << ASIO_VERSION / 100000 << "." << ASIO_VERSION / 100 % 1000 << "." << ASIO_VERSION % 100
              << "): listening on port " << server.local_endpoint().port() << "\n";
    server.stop();
    ioc.run();
    return 0;
}
