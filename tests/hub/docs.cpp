// docs/protocol.md shows what each endpoint sends in blocks marked `<!-- check: NAME -->`.
// Each test here runs scenario NAME against a real server over loopback sockets, writes down
// what went over the wire in the block's notation, and compares it with the block, byte for
// byte after one rule: a topic's epoch is random per run, so every epoch the server sent is
// written as 1700000000000123 (JSON: the decimal string; rtmsg.binary: its varint bytes).
// Notation (also explained in docs/protocol.md, "How the examples are checked"):
//   host: TEXT       what the host did (C++), kept in step with the code below
//   → TEXT           a WebSocket message the client sent; ← one the server sent
//   → / ← [binary] HEX   a binary message, its bytes in hex
//   ← [close] CODE REASON   a close frame
//   SSE blocks: the bytes of the event stream as sent, after the response head.
#include <rtmsg/server/hub_protocol.hpp>

#include <catch2/catch.hpp>

#include "support/net.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace net_test;
using namespace std::chrono_literals;

constexpr std::uint64_t doc_epoch = 1700000000000123;

/// The block that follows `<!-- check: NAME -->` in docs/protocol.md.  With RTMSG_DOCS_OUT=DIR
/// in the environment, what the server really sent is also written to DIR/NAME.txt (to update
/// the documentation after a deliberate change of the wire format).
std::string documented(std::string const& name, std::string const& actual)
{
    if (auto const* dir = std::getenv("RTMSG_DOCS_OUT"))
        std::ofstream(std::string(dir) + "/" + name + ".txt") << actual;
    std::ifstream in(RTMSG_SOURCE_DIR "/docs/protocol.md");
    REQUIRE(in);
    std::string line, block;
    bool found = false, inside = false;
    while (std::getline(in, line)) {
        if (!found) {
            found = line == "<!-- check: " + name + " -->";
            continue;
        }
        if (!inside) {
            REQUIRE(line.starts_with("```")); // the fence right after the marker
            inside = true;
            continue;
        }
        if (line == "```") return block;
        block += line + "\n";
    }
    FAIL("docs/protocol.md has no complete block marked check: " << name);
    return {};
}

std::string hex(std::string_view bytes)
{
    static char const digits[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : bytes) {
        if (!out.empty()) out += ' ';
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string varint(std::uint64_t v)
{
    std::string out;
    do {
        auto b = static_cast<unsigned char>(v & 0x7F);
        v >>= 7;
        if (v) b |= 0x80;
        out += static_cast<char>(b);
    } while (v);
    return out;
}

void replace_all(std::string& s, std::string const& from, std::string const& to)
{
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

/// The documentation rule: each topic's real epoch is written as doc_epoch.
std::string normalise(std::string text, rtmsg::hub const& hub, std::vector<std::string> const& topics)
{
    for (auto const& t : topics) {
        auto const e = hub.position(t).first;
        if (e == 0) continue;
        replace_all(text, "\"epoch\":\"" + std::to_string(e) + "\"", "\"epoch\":\"" + std::to_string(doc_epoch) + "\"");
        replace_all(text, hex("\x07" + varint(e)), hex("\x07" + varint(doc_epoch)));
    }
    return text;
}

/// A WebSocket client over a raw socket that writes the transcript as it goes.
struct ws_transcript {
    ws_transcript(unsigned short port, std::string_view target, std::string_view subprotocol) : c(port)
    {
        std::string extra;
        if (!subprotocol.empty()) extra = "Sec-WebSocket-Protocol: " + std::string(subprotocol) + "\r\n";
        c.send(upgrade_bytes(target, extra));
        auto const head = c.response();
        REQUIRE(head.starts_with("HTTP/1.1 101"));
    }
    void host(std::string_view what) { text.append("host: ").append(what).append("\n"); }
    void send_text(std::string_view body)
    {
        c.send(ws_test::client_frame(ws_test::op_text, body));
        text.append("→ ").append(body).append("\n");
    }
    void send_binary(std::string_view body)
    {
        c.send(ws_test::client_frame(ws_test::op_binary, body));
        text.append("→ [binary] ").append(hex(body)).append("\n");
    }
    void receive(int n = 1)
    {
        for (int i = 0; i < n; ++i) {
            auto f = read_frame(c.socket, c.buf);
            if (f.first == 1)
                text.append("← ").append(f.second).append("\n");
            else if (f.first == 2)
                text.append("← [binary] ").append(hex(f.second)).append("\n");
            else if (f.first == 8) {
                REQUIRE(f.second.size() >= 2);
                auto const code =
                    static_cast<unsigned char>(f.second[0]) << 8 | static_cast<unsigned char>(f.second[1]);
                text.append("← [close] ")
                    .append(std::to_string(code))
                    .append(" ")
                    .append(f.second.substr(2))
                    .append("\n");
            }
            else
                FAIL("unexpected opcode " << f.first);
        }
    }
    client c;
    std::string text;
};

/// The raw bytes of an SSE response after its head, read until `events` events have come.
struct sse_transcript {
    sse_transcript(unsigned short port, std::string_view request) : c(port)
    {
        c.send(request);
        asio::read_until(c.socket, asio::dynamic_buffer(c.buf), "\r\n\r\n");
        auto const end = c.buf.find("\r\n\r\n");
        head = c.buf.substr(0, end + 4);
        c.buf.erase(0, end + 4);
    }
    std::string read_events(int events)
    {
        auto count = [&] {
            int n = 0;
            for (auto p = c.buf.find("\n\n"); p != std::string::npos; p = c.buf.find("\n\n", p + 2)) ++n;
            return n;
        };
        while (count() < events) {
            char tmp[4096];
            auto n = c.socket.read_some(asio::buffer(tmp));
            c.buf.append(tmp, n);
        }
        return std::exchange(c.buf, {});
    }
    client c;
    std::string head;
};

template <class Pred>
void wait_for(Pred p)
{
    for (int i = 0; i < 500 && !p(); ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(p());
}

} // namespace

TEST_CASE("docs: protocol_endpoint over rtmsg.json sends what docs/protocol.md shows", "[hub][docs]")
{
    running_server s;
    rtmsg::hub hub;
    rtmsg::websocket::behavior base; // the server's upgrade hook says who the client is
    base.on_upgrade = [](rtmsg::websocket::upgrade_request const&) {
        return rtmsg::websocket::upgrade_decision::accept_as("alice", R"({"name":"Alice"})");
    };
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, base));
    s.start();
    hub.publish("chat.lobby", R"({"text":"earlier"})", rtmsg::codec::data_kind::json);
    ws_transcript t(s.port, "/ws", "rtmsg.json");
    t.host(R"x(hub.publish("chat.lobby", R"({"text":"earlier"})", rtmsg::codec::data_kind::json))x");
    t.send_text(R"({"op":"sub","id":1,"topic":"chat.lobby","history":10})");
    t.receive(2);
    t.send_text(R"({"op":"pub","id":2,"topic":"chat.lobby","data":{"text":"hi"},"ack":true})");
    t.receive(2);
    t.host(R"x(hub.publish("chat.lobby", "plain text", rtmsg::codec::data_kind::text))x");
    hub.publish("chat.lobby", "plain text", rtmsg::codec::data_kind::text);
    t.receive();
    t.send_text(R"({"op":"pub","id":3,"topic":"chat..lobby","data":1})");
    t.receive();
    t.send_text(R"({"op":"presence","id":4,"topic":"chat.lobby"})");
    t.receive();
    {
        auto const actual = normalise(t.text, hub, {"chat.lobby"});
        CHECK(actual == documented("ws-json", actual));
    }
}

TEST_CASE("docs: protocol_endpoint over rtmsg.binary sends what docs/protocol.md shows", "[hub][docs]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    s.start();
    ws_transcript t(s.port, "/ws", "rtmsg.binary");
    // sub id 1, topic "chat"
    t.send_binary(std::string("\x01\x01\x01\x01\x02\x04"
                              "chat",
                              10));
    t.receive();
    t.host(R"x(hub.publish("chat", R"({"a":1})", rtmsg::codec::data_kind::json))x");
    hub.publish("chat", R"({"a":1})", rtmsg::codec::data_kind::json);
    t.receive();
    {
        auto const actual = normalise(t.text, hub, {"chat"});
        CHECK(actual == documented("ws-binary", actual));
    }
}

TEST_CASE("docs: raw_endpoint sends what docs/protocol.md shows", "[hub][docs]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().websocket("/ticks", rtmsg::raw_endpoint(hub, "ticks"));
    s.start();
    ws_transcript t(s.port, "/ticks", "");
    wait_for([&] { return hub.metrics().subscriptions == 1; });
    t.host(R"x(hub.publish("ticks", R"({"n":6})", rtmsg::codec::data_kind::json))x");
    hub.publish("ticks", R"({"n":6})", rtmsg::codec::data_kind::json);
    t.host(R"x(hub.publish("ticks", "six", rtmsg::codec::data_kind::text))x");
    hub.publish("ticks", "six", rtmsg::codec::data_kind::text);
    t.host(R"x(hub.publish("ticks", std::string("\x00\x06", 2), rtmsg::codec::data_kind::binary))x");
    hub.publish("ticks", std::string("\x00\x06", 2), rtmsg::codec::data_kind::binary);
    t.receive(3);
    t.send_text("hello");
    t.receive();
    {
        auto const actual = normalise(t.text, hub, {"ticks"});
        CHECK(actual == documented("raw", actual));
    }
}

TEST_CASE("docs: a one-topic sse_endpoint sends what docs/protocol.md shows", "[hub][docs][sse]")
{
    running_server s;
    rtmsg::hub hub;
    rtmsg::sse_endpoint_options o;
    o.topic = "news";
    s.server.routes().sse("/news", rtmsg::sse_endpoint(hub, o));
    s.start();
    sse_transcript t(s.port, get("/news"));
    CHECK(t.head.starts_with("HTTP/1.1 200"));
    CHECK(t.head.find("Content-Type: text/event-stream") != std::string::npos);
    wait_for([&] { return hub.metrics().subscriptions == 1; });
    hub.publish("news", R"({"title":"hello"})", rtmsg::codec::data_kind::json);
    hub.publish("news", "line one\nline two", rtmsg::codec::data_kind::text);
    hub.publish("news", "AB", rtmsg::codec::data_kind::binary);
    {
        auto const actual = normalise(t.read_events(3), hub, {"news"});
        CHECK(actual == documented("sse-topic", actual));
    }
    // Resuming with Last-Event-ID: 2 replays offset 3 onwards.
    sse_transcript again(s.port, get("/news", "Last-Event-ID: 2\r\n"));
    {
        auto const actual = normalise(again.read_events(1), hub, {"news"});
        CHECK(actual == documented("sse-topic-resume", actual));
    }
}

TEST_CASE("docs: a pattern sse_endpoint sends what docs/protocol.md shows", "[hub][docs][sse]")
{
    running_server s;
    rtmsg::hub hub;
    s.server.routes().sse("/events", rtmsg::sse_endpoint(hub));
    s.start();
    sse_transcript t(s.port, get("/events?topic=prices.*"));
    wait_for([&] { return hub.metrics().subscriptions == 1; });
    hub.publish("prices.AAPL", R"({"bid":189.2})", rtmsg::codec::data_kind::json);
    hub.publish("news.x", "not matched", rtmsg::codec::data_kind::text);
    hub.publish("prices.MSFT", "402.1", rtmsg::codec::data_kind::text);
    {
        auto const actual = normalise(t.read_events(2), hub, {"prices.AAPL", "prices.MSFT", "news.x"});
        CHECK(actual == documented("sse-pattern", actual));
    }
}

TEST_CASE("docs: every example marked in docs/protocol.md is checked by a test here", "[hub][docs]")
{
    // The scenarios of this file; a marker with another name would be a block nothing checks.
    std::vector<std::string> const checked{"ws-json",   "ws-binary",        "raw",
                                           "sse-topic", "sse-topic-resume", "sse-pattern"};
    std::ifstream in(RTMSG_SOURCE_DIR "/docs/protocol.md");
    REQUIRE(in);
    std::string line;
    std::vector<std::string> marked;
    while (std::getline(in, line))
        if (line.starts_with("<!-- check: ") && line.ends_with(" -->"))
            marked.push_back(line.substr(12, line.size() - 12 - 4));
    std::sort(marked.begin(), marked.end());
    auto expected = checked;
    std::sort(expected.begin(), expected.end());
    CHECK(marked == expected);
}
