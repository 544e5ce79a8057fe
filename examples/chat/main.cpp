// rtmsg-chat: a multi-room chat served with its own browser UI (examples/chat/www).
//
// What it shows of the library:
//   - protocol_endpoint: the rtmsg wire protocol over WebSocket, which js/rtmsg.js speaks;
//   - on_upgrade: the display name becomes the connection's identity (accept_as), used for
//     presence and attested by the server as the sender of everything the page publishes;
//   - hub_options: per-topic history (rooms keep their last 200 messages, typing keeps
//     none), a payload limit, and publish rate limits per connection and per user (all of
//     a user's tabs together), answered with clear errors;
//   - an in-process subscription (hub.subscribe) that keeps the room list up to date;
//   - with --redis HOST:PORT (built with rtmsg::redis), a redis_bridge: several chat servers
//     share rooms, history and presence through Redis.
//
//   rtmsg-chat [--host 127.0.0.1] [--port 8080] [--www DIR] [--js DIR] [--tls CERT KEY]
//              [--redis HOST:PORT [--redis-prefix P]] [--test-hooks]
//
// Topics: `chat.<room>` carries messages {cid, text, ts}; `typing.<room>` carries
// typing notices (published with echo:false, so the typer never sees its own); `rooms`
// holds the list of rooms (its last message is the current list).
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>
#if defined(RTMSG_EXAMPLES_WITH_SSL)
#include <rtmsg/transport/ssl.hpp>
#endif

#if defined(RTMSG_CHAT_WITH_REDIS)
#include <rtmsg/cluster/redis.hpp>
#endif

#include "../common/cli.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#ifndef RTMSG_CHAT_SOURCE_DIR
#define RTMSG_CHAT_SOURCE_DIR "."
#endif

namespace {

constexpr std::size_t max_chars = 500; // shown by the page; the hub enforces max_payload below

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 8080;
    std::string www = RTMSG_CHAT_SOURCE_DIR "/www";     // index.html, chat.js, chat.css
    std::string js = RTMSG_CHAT_SOURCE_DIR "/../../js"; // rtmsg.js
    std::string tls_cert, tls_key;
    std::string redis, redis_prefix; // --redis HOST:PORT [--redis-prefix P]: rooms shared through Redis
    bool test_hooks = false;
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout) << "usage: rtmsg-chat [--host 127.0.0.1] [--port 8080] [--www DIR] [--js DIR]"
#if defined(RTMSG_EXAMPLES_WITH_SSL)
                                      " [--tls CERT KEY]"
#endif
                                      " [--redis HOST:PORT [--redis-prefix P]] [--test-hooks]\n";
    std::exit(code);
}

args parse(int argc, char** argv)
{
    args a;
    rtmsg_example::parse_flags(argc, argv, usage, [&](std::string const& k, auto& value) {
        if (k == "--host")
            a.host = value();
        else if (k == "--port")
            a.port = static_cast<unsigned short>(std::stoul(value()));
        else if (k == "--www")
            a.www = value();
        else if (k == "--js")
            a.js = value();
#if defined(RTMSG_EXAMPLES_WITH_SSL)
        else if (k == "--tls") {
            a.tls_cert = value();
            a.tls_key = value();
        }
#endif
        else if (k == "--redis")
            a.redis = value();
        else if (k == "--redis-prefix")
            a.redis_prefix = value();
        else if (k == "--test-hooks")
            a.test_hooks = true;
        else
            return false;
        return true;
    });
    return a;
}

/// A display name: 1 to 96 bytes (the page allows 24 characters), no control characters;
/// rendering it safely is the page's job.
bool valid_name(std::string_view n)
{
    if (n.empty() || n.size() > 96) return false;
    for (unsigned char c : n)
        if (c < 0x20 || c == 0x7f) return false;
    return true;
}

/// The room list as a JSON array: room names are topic levels ([A-Za-z0-9_-:]), no escaping needed.
std::string rooms_json(std::set<std::string> const& rooms)
{
    std::string out = "[";
    for (auto const& r : rooms) out += (out.size() > 1 ? ",\"" : "\"") + r + "\"";
    return out + "]";
}

/// The room names of a room list (rooms_json's output): no escapes to handle.
std::set<std::string> parse_rooms(std::string_view json)
{
    std::set<std::string> out;
    for (auto open = json.find('"'); open != std::string_view::npos; open = json.find('"', open)) {
        auto const close = json.find('"', open + 1);
        if (close == std::string_view::npos) break;
        out.emplace(json.substr(open + 1, close - open - 1));
        open = close + 1;
    }
    return out;
}

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);
    bool const clustered = !a.redis.empty();
    if (!clustered && !a.redis_prefix.empty()) {
        std::cerr << "rtmsg-chat: --redis-prefix needs --redis HOST:PORT\n";
        return 2;
    }
#if defined(RTMSG_CHAT_WITH_REDIS)
    // --redis HOST:PORT: chat servers that share a Redis (and a prefix) share rooms, history
    // and presence.  Nodes that share topics share the prefix.
    rtmsg::cluster::redis_options ro;
    ro.prefix = a.redis_prefix.empty() ? "rtmsg-chat" : a.redis_prefix;
    if (clustered) {
        if (!rtmsg::cluster::parse_redis_address(a.redis, ro)) {
            std::cerr << "rtmsg-chat: bad --redis '" << a.redis
                      << "': expected HOST:PORT, [IPv6]:PORT, redis://HOST[:PORT] or rediss://HOST[:PORT]\n";
            return 2;
        }
#if defined(RTMSG_NO_TLS)
        if (ro.tls) {
            std::cerr << "rtmsg-chat: rediss:// needs TLS, and this rtmsg-chat was built without OpenSSL\n";
            return 2;
        }
#endif
        if (ro.prefix.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-:") !=
            std::string::npos) {
            std::cerr << "rtmsg-chat: bad --redis-prefix '" << ro.prefix << "': letters, digits, _, - and : only\n";
            return 2;
        }
    }
    std::string const redis_where = (ro.tls ? "rediss://" : "") +
                                    (ro.host.find(':') != std::string::npos ? "[" + ro.host + "]" : ro.host) + ":" +
                                    std::to_string(ro.port);
#else
    if (clustered) {
        std::cerr << "rtmsg-chat: --redis: this rtmsg-chat was built without Redis support "
                     "(configure rtmsg with -DRTMSG_WITH_HIREDIS=ON; needs libhiredis-dev)\n";
        return 2;
    }
#endif
    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());

    rtmsg::hub_options opt;
    opt.topic_config = [](std::string_view topic) {
        rtmsg::topic_options t;
        if (topic.starts_with("chat."))
            t.history_count = 200; // history for joiners and reloads
        else if (topic.starts_with("typing."))
            t.history_count = 0;
        else
            t.history_count = 1; // "rooms": the latest list is all a joiner needs
        return t;
    };
    // Clients may publish to rooms and typing notices only; the server owns "rooms".
    opt.can_publish = [](rtmsg::peer_info const&, std::string_view topic) {
        return topic.starts_with("chat.") || topic.starts_with("typing.");
    };
    opt.max_payload = 4 * max_chars + 200;            // worst-case UTF-8 plus the envelope: error 413
    opt.publish_messages = rtmsg::rate_limit{10, 20}; // per connection, a backstop: error 429
    // Per user, over all of a user's tabs: messages and typing notices (one per 2 s at most)
    // together, 3 per second with bursts of 10: error 429 "rate limit exceeded for this user".
    opt.publish_messages_per_identity = rtmsg::rate_limit{3, 10};
    rtmsg::hub hub(opt);

    // The room list: a room exists once somebody posts to it.  Callbacks run on the
    // publisher's thread, outside the hub's lock, so publishing from one is fine.  (The
    // mutex is recursive: a publish may call the "rooms" callback below on this thread.)
    std::recursive_mutex rooms_mutex;
    std::set<std::string> rooms{"lobby", "random"};
    hub.publish("rooms", rooms_json(rooms), rtmsg::codec::data_kind::json);
    auto room_watch = hub.subscribe("chat.*", [&](rtmsg::message const& m) {
        std::lock_guard<std::recursive_mutex> lock(rooms_mutex);
        if (rooms.insert(m.topic.substr(5)).second)
            hub.publish("rooms", rooms_json(rooms), rtmsg::codec::data_kind::json);
    });
    // Clustered, every server keeps its own set: a list from another server that lacks some
    // of this one's rooms is answered with the union, so the latest list (what a joiner
    // gets) names every room.  Sets only grow, so this settles.
    rtmsg::subscription rooms_watch;
    if (clustered)
        rooms_watch = hub.subscribe("rooms", [&](rtmsg::message const& m) {
            if (m.op != rtmsg::codec::op::message) return;
            auto const theirs = parse_rooms(m.payload);
            std::lock_guard<std::recursive_mutex> lock(rooms_mutex);
            rooms.insert(theirs.begin(), theirs.end());
            if (rooms.size() > theirs.size()) hub.publish("rooms", rooms_json(rooms), rtmsg::codec::data_kind::json);
        });

    // --test-hooks (for the browser tests): POST /test/drop?name=bob&ms=2000 closes bob's
    // connections and refuses his reconnections for 2 s, as a network outage would.
    struct outage {
        std::mutex m;
        std::multimap<std::string, std::weak_ptr<rtmsg::websocket::connection>> conns;
        std::map<std::string, std::chrono::steady_clock::time_point> until;
    };
    auto const test = a.test_hooks ? std::make_shared<outage>() : nullptr;

    // The WebSocket endpoint: /ws?name=alice.  The name is the identity that presence reports.
    rtmsg::websocket::behavior ws;
    ws.options.max_message_size = 64 * 1024;
    ws.on_upgrade = [test](rtmsg::websocket::upgrade_request const& u) {
        auto name = u.request.query_param("name");
        if (!name || !valid_name(*name))
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::bad_request, "bad name");
        if (test) {
            std::lock_guard<std::mutex> lock(test->m);
            if (auto it = test->until.find(*name);
                it != test->until.end() && std::chrono::steady_clock::now() < it->second)
                return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::service_unavailable);
        }
        return rtmsg::websocket::upgrade_decision::accept_as(std::string(*name));
    };
    ws = rtmsg::protocol_endpoint(hub, ws);

    if (test) {
        ws.on_open = [open = ws.on_open, test](rtmsg::websocket::connection_ptr const& c) {
            open(c);
            std::lock_guard<std::mutex> lock(test->m);
            test->conns.emplace(std::string(c->identity()), c);
        };
        server.routes().post("/test/drop", [test](rtmsg::http::request const& req, rtmsg::http::response& res) {
            auto const name = req.query_param("name").value_or("");
            std::lock_guard<std::mutex> lock(test->m);
            auto const ms = std::strtoul(req.query_param("ms").value_or("0").c_str(), nullptr, 10);
            test->until[name] = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
            auto const [first, last] = test->conns.equal_range(name);
            for (auto it = first; it != last; ++it)
                if (auto c = it->second.lock()) c->close(rtmsg::websocket::close_code::going_away, "dropped by test");
            test->conns.erase(first, last);
            res.code = rtmsg::http::status::no_content;
        });
    }
    server.routes().websocket("/ws", ws);
    server.routes().get("/config.json", [](rtmsg::http::request const&, rtmsg::http::response& res) {
        res.headers.add("Content-Type", "application/json");
        res.body = "{\"maxChars\":" + std::to_string(max_chars) + "}";
    });
    // The page and the client library, from the source tree unless --www / --js say otherwise.
    server.routes().static_files("/js", std::filesystem::weakly_canonical(a.js)); // /js/rtmsg.js
    server.routes().static_files("/", std::filesystem::weakly_canonical(a.www));

    std::error_code ec;
    auto const ep = rtmsg_example::endpoint_of("rtmsg-chat", a.host, a.port);
    std::string scheme = "http";
#if defined(RTMSG_EXAMPLES_WITH_SSL)
    std::optional<asio::ssl::context> tls;
    if (!a.tls_cert.empty()) {
        tls.emplace(asio::ssl::context::tls_server);
        tls->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1);
        tls->use_certificate_chain_file(a.tls_cert, ec);
        if (!ec) tls->use_private_key_file(a.tls_key, asio::ssl::context::pem, ec);
        if (ec) {
            std::cerr << "rtmsg-chat: cannot load TLS certificate/key: " << ec.message() << "\n";
            return 2;
        }
        server.listen(ep, rtmsg::tls_layer{*tls}, ec);
        scheme = "https";
    }
    else
#endif
        server.listen(ep, ec);
    if (ec) return rtmsg_example::cannot_listen("rtmsg-chat", a.host, a.port, ec);

#if defined(RTMSG_CHAT_WITH_REDIS)
    // The bridge connects (and reconnects) by itself; while Redis is out of reach this
    // server's users still chat among themselves.  After each connection the server
    // publishes its room list through Redis (a fresh Redis has none; see rooms_watch).
    std::optional<rtmsg::cluster::redis_bridge> bridge;
    asio::steady_timer redis_watch(ioc), redis_deadline(ioc);
    std::uint64_t connects = 0;
    bool redis_up = false;
    std::function<void()> watch_redis = [&] {
        redis_watch.expires_after(std::chrono::milliseconds(200));
        redis_watch.async_wait([&](std::error_code e) {
            if (e) return;
            auto const s = bridge->stats();
            if (s.connected != redis_up) {
                redis_up = s.connected;
                if (redis_up)
                    std::cout << "rtmsg-chat: connected to Redis at " << redis_where << std::endl;
                else
                    std::cout << "rtmsg-chat: lost Redis at " << redis_where << "; reconnecting" << std::endl;
            }
            if (s.connected && s.connects != connects) {
                connects = s.connects;
                std::string list;
                {
                    std::lock_guard<std::recursive_mutex> lock(rooms_mutex);
                    list = rooms_json(rooms);
                }
                hub.publish("rooms", list, rtmsg::codec::data_kind::json);
            }
            watch_redis();
        });
    };
    if (clustered) {
        bridge.emplace(ioc.get_executor(), hub, ro);
        watch_redis();
    }
#endif

    // Ctrl-C: WebSockets get a 1001 close, the Redis bridge (if any) leaves presence and
    // closes, then run() returns.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
        server.stop();
#if defined(RTMSG_CHAT_WITH_REDIS)
        if (bridge) {
            redis_watch.cancel();
            // Other servers see this one's users leave.  A Redis that does not answer gets 3 s.
            redis_deadline.expires_after(std::chrono::seconds(3));
            redis_deadline.async_wait([&](std::error_code e) {
                if (!e) ioc.stop();
            });
            bridge->stop([&] { asio::post(ioc, [&] { redis_deadline.cancel(); }); });
        }
#endif
    });

    auto const local = server.local_endpoint();
#if defined(RTMSG_CHAT_WITH_REDIS)
    if (clustered)
        std::cout << "rtmsg-chat: clustered through Redis at " << redis_where << " (prefix " << ro.prefix << ")"
                  << std::endl;
#endif
    std::cout << "rtmsg-chat: open " << scheme << "://" << local.address().to_string() << ":" << local.port() << "/"
              << std::endl;
    ioc.run();
    return 0;
}
