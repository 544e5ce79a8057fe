// rtmsg-board: a live collaboration board (sticky notes and everyone's cursor) served with
// its own browser UI (examples/board/www).
//
// What it shows of the library:
//   - on_upgrade: the user's name becomes the connection's identity (accept_as); the hub
//     attests it as the sender (meta.from.id) of every edit and cursor position, so the
//     pages know whose they are and no page can move another user's cursor;
//   - topic_options per topic: edits keep their history (a newcomer or a reload rebuilds
//     the board by replaying it in offset order), cursors keep none and use the keep-latest
//     policy (a slow page gets each user's newest position, never a backlog);
//   - can_subscribe / can_publish and an on_publish hook that bounds a board's history;
//   - GET /metrics: the hub's counters (rtmsg_dropped_total counts the coalesced cursors).
//
//   rtmsg-board [--host 127.0.0.1] [--port 8070] [--max-ops 10000] [--www DIR] [--js DIR]
//
// Topics, for a board <b> ([a-z0-9-], 1 to 32 characters; the page's ?board=, default "main"):
//   board.<b>.ops            the edits, JSON: {t:"add", id, x, y, text} {t:"move", id, x, y}
//                            {t:"edit", id, text} {t:"del", id}.  Every page applies them in
//                            offset order, so all of them end with the same board; of two
//                            concurrent moves of a note, the one with the higher offset wins.
//   board.<b>.cursor.<name>  one topic per user, {x, y} (or {gone:true}), ~30 per second at
//                            most; pages subscribe to board.<b>.cursor.* .  One topic per user
//                            because keep-latest replaces a queued message of the same topic.
//
// History bound: a board keeps all of its edits, up to --max-ops (default 10000).  Past that
// the server refuses further edits of that board (error 403 "this board is full"), so a
// newcomer always replays the whole board and every page agrees; start another board then.
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include "../common/cli.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#ifndef RTMSG_BOARD_SOURCE_DIR
#define RTMSG_BOARD_SOURCE_DIR "."
#endif

namespace {

constexpr std::size_t max_text = 280; // characters of a note, shown by the page

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 8070;
    std::size_t max_ops = 10000;                         // edits a board keeps (and accepts)
    std::string www = RTMSG_BOARD_SOURCE_DIR "/www";     // index.html, board.js, board.css
    std::string js = RTMSG_BOARD_SOURCE_DIR "/../../js"; // rtmsg.js
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-board [--host 127.0.0.1] [--port 8070] [--max-ops 10000] [--www DIR] [--js DIR]\n";
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
        else if (k == "--max-ops")
            a.max_ops = std::stoul(value());
        else if (k == "--www")
            a.www = value();
        else if (k == "--js")
            a.js = value();
        else
            return false;
        return true;
    });
    if (a.max_ops == 0) a.max_ops = 1;
    return a;
}

/// 1 to `max` characters of [a-z0-9-], and also A-Z and _ if `upper`: one topic level.
bool valid_level(std::string_view s, std::size_t max, bool upper = true)
{
    if (s.empty() || s.size() > max) return false;
    for (char c : s) {
        bool const ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                        (upper && ((c >= 'A' && c <= 'Z') || c == '_'));
        if (!ok) return false;
    }
    return true;
}

/// A user name is a topic level (it names the user's cursor topic): 1 to 24 of [A-Za-z0-9_-].
bool valid_name(std::string_view n)
{
    return valid_level(n, 24);
}
bool valid_board(std::string_view b)
{
    return valid_level(b, 32, false);
}

/// What a topic of this example is: board.<b>.ops or board.<b>.cursor.<name-or-*>.
struct board_topic {
    std::string_view board, kind, user;
};

bool split(std::string_view topic, board_topic& out)
{
    if (!topic.starts_with("board.")) return false;
    topic.remove_prefix(6);
    auto const dot = topic.find('.');
    if (dot == std::string_view::npos) return false;
    out.board = topic.substr(0, dot);
    auto rest = topic.substr(dot + 1);
    if (!valid_board(out.board)) return false;
    if (rest == "ops") {
        out.kind = rest;
        return true;
    }
    if (!rest.starts_with("cursor.")) return false;
    out.kind = "cursor";
    out.user = rest.substr(7);
    return true;
}

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);
    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());

    rtmsg::hub_options opt;
    opt.topic_config = [max = a.max_ops](std::string_view topic) {
        rtmsg::topic_options t;
        board_topic b;
        if (split(topic, b) && b.kind == "ops") {
            t.history_count = max; // the whole board: see "History bound" above
            // A page that falls a full queue (4096 edits) behind is disconnected; rtmsg.js
            // reconnects and resumes from the history, so it misses nothing.
            t.policy = rtmsg::slow_consumer_policy::disconnect;
        }
        else {
            t.history_count = 0; // cursors: only the newest position matters
            t.policy = rtmsg::slow_consumer_policy::keep_latest;
        }
        return t;
    };
    // Pages may read a board's edits and cursors ...
    opt.can_subscribe = [](rtmsg::peer_info const&, std::string_view pattern) {
        board_topic t;
        return split(pattern, t) && (t.kind == "ops" || t.user == "*" || valid_name(t.user));
    };
    // ... edit it, and move their own cursor only.
    opt.can_publish = [](rtmsg::peer_info const& peer, std::string_view topic) {
        board_topic t;
        return split(topic, t) && (t.kind == "ops" || t.user == peer.identity);
    };
    // The history bound: a board accepts max_ops edits (the hub numbers them from 1, and only
    // clients publish edits).  Refused edits are not counted.
    struct counts {
        std::mutex m;
        std::map<std::string, std::size_t, std::less<>> ops;
    } ops_count;
    opt.on_publish = [&ops_count, max = a.max_ops](rtmsg::peer_info const&, rtmsg::publish_request const& p) {
        board_topic b;
        if (!split(p.topic, b) || b.kind != "ops") return rtmsg::publish_verdict::accept();
        if (p.kind != rtmsg::codec::data_kind::json)
            return rtmsg::publish_verdict::reject(rtmsg::hub_error::bad_request, "edits are JSON");
        std::lock_guard<std::mutex> lock(ops_count.m);
        auto it = ops_count.ops.find(p.topic);
        if (it == ops_count.ops.end()) it = ops_count.ops.emplace(std::string(p.topic), 0).first;
        if (it->second >= max)
            return rtmsg::publish_verdict::reject(rtmsg::hub_error::not_allowed, "this board is full (" +
                                                                                     std::to_string(max) +
                                                                                     " edits): start another board");
        ++it->second;
        return rtmsg::publish_verdict::accept();
    };
    opt.max_payload = 4 * max_text + 200;              // worst-case UTF-8 of a note plus the op: error 413
    opt.publish_messages = rtmsg::rate_limit{60, 120}; // per connection: 30 cursors/s and edits: error 429
    opt.publish_messages_per_identity = rtmsg::rate_limit{120, 240}; // all of a user's tabs together
    rtmsg::hub hub(opt);

    // The WebSocket endpoint: /ws?name=alice.  The name is the identity the hub attests.
    rtmsg::websocket::behavior ws;
    ws.options.max_message_size = 16 * 1024;
    ws.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        auto name = u.request.query_param("name");
        if (!name || !valid_name(*name))
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::bad_request,
                                                              "bad name: 1 to 24 letters, digits, _ or -");
        return rtmsg::websocket::upgrade_decision::accept_as(std::string(*name));
    };
    ws = rtmsg::protocol_endpoint(hub, ws);
    server.routes().websocket("/ws", ws);
    server.routes().get("/config.json", [&a](rtmsg::http::request const&, rtmsg::http::response& res) {
        res.headers.add("Content-Type", "application/json");
        res.body = "{\"maxText\":" + std::to_string(max_text) + ",\"maxOps\":" + std::to_string(a.max_ops) + "}";
    });
    server.routes().get("/metrics", rtmsg::metrics_handler(hub)); // Prometheus text: rtmsg_dropped_total, ...
    server.routes().static_files("/js", std::filesystem::weakly_canonical(a.js)); // /js/rtmsg.js
    server.routes().static_files("/", std::filesystem::weakly_canonical(a.www));

    std::error_code ec;
    auto const ep = rtmsg_example::endpoint_of("rtmsg-board", a.host, a.port);
    server.listen(ep, ec);
    if (ec) return rtmsg_example::cannot_listen("rtmsg-board", a.host, a.port, ec);
    // Ctrl-C: WebSockets get a 1001 close, then run() returns.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { server.stop(); });

    auto const local = server.local_endpoint();
    std::cout << "rtmsg-board: open http://" << local.address().to_string() << ":" << local.port() << "/" << std::endl;
    ioc.run();
    return 0;
}
