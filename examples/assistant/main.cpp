// rtmsg-assistant: an AI token-streaming gateway with its own browser UI (examples/assistant/www).
//
// A user asks; the answer streams into the hub token by token and every tab of that user
// shows it as it arrives.  What it shows of the library:
//   - the hub as the fan-out and the memory of a stream: each conversation is a topic whose
//     history holds the whole conversation, so a reload or a dropped connection resumes at
//     the exact offset (js/rtmsg.js resubscribes with `since`), no token lost or repeated;
//   - hub_options::can_subscribe / can_publish: a user sees and drives only their own topics;
//   - bounded queues: a tab that cannot keep up is disconnected (slow_consumer_policy::
//     disconnect) and resumes from history, so generation never waits for it;
//   - rtmsg::sse::client as the upstream client: `POST /v1/chat/completions` with
//     `stream: true` to any OpenAI-compatible server (Ollama, llama.cpp, vLLM, OpenAI), and
//     close() as the Stop button: the upstream sees its request's connection close.
//
//   rtmsg-assistant [--host 127.0.0.1] [--port 8080] [--upstream URL [--model NAME] [--api-key KEY]]
//                   [--timeout-ms 60000] [--demo-delay-ms 40] [--demo-text FILE] [--www DIR] [--js DIR]
//
// Without --upstream a deterministic demo model answers: a word-level Markov chain over a
// public-domain text (Alice's Adventures in Wonderland), labelled as a demo in the page.
//
// Topics (USER is the identity from /ws?user=USER; CONV is chosen by the page):
//   ask.USER            the page's commands: {"op":"ask","conv","text"} and {"op":"stop","conv"}
//   assistant.USER.CONV the conversation: {"t":"q",turn,text}, {"t":"start",turn,model},
//                       {"t":"tok",turn,text} per token, {"t":"end",turn,reason[,error]}
//   convs.USER          the user's conversation list, newest first (its last message is current)
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>
#include <rtmsg/sse/client.hpp>

#include "../common/cli.hpp"

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <simdjson.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#ifndef RTMSG_ASSISTANT_SOURCE_DIR
#define RTMSG_ASSISTANT_SOURCE_DIR "."
#endif

namespace {

using namespace std::chrono_literals;
constexpr std::size_t max_question = 4000;     // bytes; the page says so, the hub enforces max_payload
constexpr std::size_t max_conversations = 50;  // per user: the gateway keeps them in memory
constexpr std::size_t max_answer = 256 * 1024; // bytes of one answer; longer ones are stopped there

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 8080;
    std::string upstream, model = "default", api_key;
    std::chrono::milliseconds timeout{60'000};
    std::chrono::milliseconds demo_delay{40};
    std::string demo_text = RTMSG_ASSISTANT_SOURCE_DIR "/demo-text.txt";
    std::string www = RTMSG_ASSISTANT_SOURCE_DIR "/www";
    std::string js = RTMSG_ASSISTANT_SOURCE_DIR "/../../js";
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-assistant [--host 127.0.0.1] [--port 8080] [--upstream URL [--model NAME] [--api-key KEY]]\n"
           "                       [--timeout-ms 60000] [--demo-delay-ms 40] [--demo-text FILE] [--www DIR] [--js "
           "DIR]\n"
           "  --upstream URL   an OpenAI-compatible server, e.g. http://127.0.0.1:11434 (Ollama); the path\n"
           "                   /v1/chat/completions is added unless the URL has one.  Without it: a demo model.\n"
           "  --api-key KEY    sent as 'Authorization: Bearer KEY' (default: $OPENAI_API_KEY if set)\n";
    std::exit(code);
}

args parse(int argc, char** argv)
{
    args a;
    if (char const* k = std::getenv("OPENAI_API_KEY")) a.api_key = k;
    rtmsg_example::parse_flags(argc, argv, usage, [&](std::string const& k, auto& value) {
        if (k == "--host")
            a.host = value();
        else if (k == "--port")
            a.port = static_cast<unsigned short>(std::stoul(value()));
        else if (k == "--upstream")
            a.upstream = value();
        else if (k == "--model")
            a.model = value();
        else if (k == "--api-key")
            a.api_key = value();
        else if (k == "--timeout-ms")
            a.timeout = std::chrono::milliseconds(std::stoul(value()));
        else if (k == "--demo-delay-ms")
            a.demo_delay = std::chrono::milliseconds(std::stoul(value()));
        else if (k == "--demo-text")
            a.demo_text = value();
        else if (k == "--www")
            a.www = value();
        else if (k == "--js")
            a.js = value();
        else
            return false;
        return true;
    });
    return a;
}

/// A topic level: 1 to 32 of [A-Za-z0-9_-] (user names and conversation ids).
bool valid_level(std::string_view s)
{
    if (s.empty() || s.size() > 32) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

/// `s` as a JSON string (RFC 8259 §7), quotes included.
std::string quote(std::string_view s)
{
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            }
            else
                out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

/// The first `n` bytes of `s`, not cutting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, std::size_t n)
{
    if (s.size() <= n) return s;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
}

/// The deterministic demo model: an order-2 word Markov chain over a text, seeded by the
/// question, so the same question always gets the same answer (and tests can compare).
class markov {
public:
    explicit markov(std::string const& text)
    {
        std::istringstream lines(text);
        for (std::string line; std::getline(lines, line);) {
            if (line.starts_with("#")) continue; // a comment: the source and its licence
            std::istringstream in(line);
            for (std::string w; in >> w;) words_.push_back(w);
        }
        for (std::size_t i = 0; i + 2 < words_.size(); ++i) next_[words_[i] + " " + words_[i + 1]].push_back(i + 2);
        for (std::size_t i = 0; i + 1 < words_.size(); ++i)
            if (std::isupper(static_cast<unsigned char>(words_[i][0])) && i > 0 && ends_sentence(words_[i - 1]))
                starts_.push_back(i);
    }
    bool empty() const noexcept { return starts_.empty(); }

    /// The answer's tokens: words with their leading space, and "\n\n" between paragraphs.
    /// A question that mentions code also gets a fenced code block, to show its rendering.
    std::vector<std::string> answer(std::string_view question) const
    {
        std::uint64_t h = 1469598103934665603ull; // FNV-1a
        for (unsigned char c : question) h = (h ^ c) * 1099511628211ull;
        auto rnd = [&h] {
            h ^= h << 13;
            h ^= h >> 7;
            h ^= h << 17;
            return h;
        };
        std::vector<std::string> out;
        out.push_back("(Demo");
        out.push_back(" model:");
        out.push_back(" a");
        out.push_back(" Markov");
        out.push_back(" chain,");
        out.push_back(" not");
        out.push_back(" an");
        out.push_back(" AI.)");
        out.push_back("\n\n");
        auto const paragraphs = 2 + rnd() % 2;
        for (std::uint64_t p = 0; p < paragraphs; ++p) {
            if (p) out.push_back("\n\n");
            auto i = starts_[rnd() % starts_.size()];
            std::string a = words_[i], b = words_[i + 1];
            out.push_back(a);
            out.push_back(" " + b);
            for (std::size_t n = 2; n < 90; ++n) {
                if (n > 25 && ends_sentence(b)) break;
                auto it = next_.find(a + " " + b);
                if (it == next_.end()) break;
                auto const& w = words_[it->second[rnd() % it->second.size()]];
                out.push_back(" " + w);
                a = std::move(b);
                b = w;
            }
        }
        if (question.find("code") != std::string_view::npos) {
            for (auto const* t : {"\n\n", "Here", " is", " how", " a", " page", " follows", " a", " conversation:",
                                  "\n\n```js\n", "const sub = client.subscribe(", "'assistant.alice.c1',", " (ev) =>",
                                  " render(ev),", " { history: 20000 });", "\n```"})
                out.emplace_back(t);
        }
        return out;
    }

private:
    static bool ends_sentence(std::string const& w)
    {
        auto const c = w.back();
        return c == '.' || c == '!' || c == '?';
    }
    std::vector<std::string> words_;
    std::vector<std::size_t> starts_;
    std::map<std::string, std::vector<std::size_t>> next_;
};

/// One turn being generated; stop() ends it early.  Everything runs on the one I/O thread.
struct generation {
    virtual ~generation() = default;
    virtual void stop() = 0;
};

/// The gateway: conversations, their generations, and the topics they publish to.
class gateway {
public:
    gateway(asio::io_context& ioc, rtmsg::hub& hub, args const& a, markov const* demo)
        : ioc_(ioc), hub_(hub), a_(a), demo_(demo)
    {
        // --upstream http://host:port (or .../v1) means its /v1/chat/completions.
        upstream_ = a.upstream;
        rtmsg::client::url u;
        if (!upstream_.empty() && !rtmsg::client::parse_url(upstream_, u) &&
            (u.target == "/" || u.target == "/v1" || u.target == "/v1/")) {
            if (u.target != "/") upstream_.resize(upstream_.size() - u.target.size());
            while (upstream_.ends_with("/")) upstream_.pop_back();
            upstream_ += "/v1/chat/completions";
        }
    }
    std::string const& upstream() const noexcept { return upstream_; }

    /// Stops every generation (at exit): upstream requests are closed, demo timers cancelled.
    void stop_all()
    {
        for (auto& [user, list] : convs_)
            for (auto& [id, c] : list)
                if (auto g = c.running) g->stop();
    }

    /// A command from ask.USER (the topic attests the user: only they may publish to it).
    void command(std::string const& user, std::string_view payload)
    {
        simdjson::ondemand::parser parser;
        simdjson::padded_string const json(payload);
        simdjson::ondemand::document doc;
        std::string_view op, conv_id, text;
        if (parser.iterate(json).get(doc) || doc["op"].get_string().get(op) || doc["conv"].get_string().get(conv_id) ||
            !valid_level(conv_id))
            return log(user, "-", "ignored a malformed command");
        auto& mine = convs_[user];
        auto it = mine.find(conv_id);
        if (op == "stop") {
            if (it != mine.end() && it->second.running) it->second.running->stop();
            return;
        }
        if (op != "ask" || doc["text"].get_string().get(text) || text.empty()) return;
        if (it == mine.end()) {
            if (mine.size() >= max_conversations) return log(user, conv_id, "refused: too many conversations");
            it = mine.emplace(std::string(conv_id), conversation{}).first;
        }
        auto& c = it->second;
        if (c.running) return; // one answer at a time per conversation: the page disables Ask
        if (c.turns.empty()) {
            c.title = std::string(utf8_prefix(text, 60));
            order_[user].insert(order_[user].begin(), std::string(conv_id));
            publish_list(user);
        }
        auto const topic = "assistant." + user + "." + std::string(conv_id);
        auto const turn = c.turns.size();
        c.turns.push_back({std::string(utf8_prefix(text, max_question)), {}});
        publish(topic,
                R"({"t":"q","turn":)" + std::to_string(turn) + R"(,"text":)" + quote(c.turns.back().question) + "}");
        publish(topic, R"({"t":"start","turn":)" + std::to_string(turn) + R"(,"model":)" +
                           quote(upstream_.empty() ? "demo (Markov chain)" : a_.model) + "}");
        auto on_token = [this, user, id = std::string(conv_id), topic, turn](std::string_view tok) {
            auto& cv = convs_[user][id];
            auto& answer = cv.turns[turn].answer;
            if (answer.size() + tok.size() > max_answer) { // a runaway upstream: end the turn there
                if (cv.running) cv.running->stop();
                return;
            }
            answer += tok;
            publish(topic, R"({"t":"tok","turn":)" + std::to_string(turn) + R"(,"text":)" + quote(tok) + "}");
        };
        auto on_end = [this, user, id = std::string(conv_id), topic, turn](std::string_view reason,
                                                                           std::string_view error) {
            auto& cv = convs_[user][id];
            cv.running.reset();
            std::string e = R"({"t":"end","turn":)" + std::to_string(turn) + R"(,"reason":)" + quote(reason);
            if (!error.empty()) e += R"(,"error":)" + quote(error);
            publish(topic, e + "}");
            log(user, id,
                "turn " + std::to_string(turn) + " ended: " + std::string(reason) +
                    (error.empty() ? "" : " (" + std::string(error) + ")"));
        };
        c.running = upstream_.empty() ? start_demo(text, on_token, on_end) : start_upstream(c, on_token, on_end);
    }

private:
    struct turn {
        std::string question, answer;
    };
    struct conversation {
        std::string title;
        std::vector<turn> turns;
        std::shared_ptr<generation> running;
    };
    using token_fn = std::function<void(std::string_view)>;
    using end_fn = std::function<void(std::string_view reason, std::string_view error)>;

    void publish(std::string const& topic, std::string const& json)
    {
        if (auto r = hub_.publish(topic, json, rtmsg::codec::data_kind::json); r.ec)
            std::cerr << "rtmsg-assistant: publish to " << topic << " failed: " << r.ec.message() << std::endl;
    }

    void publish_list(std::string const& user)
    {
        std::string list = "[";
        for (auto const& id : order_[user])
            list += (list.size() > 1 ? "," : "") + std::string(R"({"id":)") + quote(id) + R"(,"title":)" +
                    quote(convs_[user][id].title) + "}";
        publish("convs." + user, list + "]");
    }

    static void log(std::string_view user, std::string_view conv, std::string_view what)
    {
        std::cout << "rtmsg-assistant: " << user << "/" << conv << ": " << what << std::endl;
    }

    /// The demo model: the answer's tokens on a timer.
    std::shared_ptr<generation> start_demo(std::string_view question, token_fn on_token, end_fn on_end)
    {
        struct demo_gen final : generation, std::enable_shared_from_this<demo_gen> {
            asio::steady_timer timer;
            std::vector<std::string> tokens;
            std::size_t next = 0;
            std::chrono::milliseconds delay;
            token_fn on_token;
            end_fn on_end;
            bool over = false, stopped = false;
            explicit demo_gen(asio::io_context& ioc) : timer(ioc) {}
            void step()
            {
                timer.expires_after(delay);
                timer.async_wait([self = shared_from_this()](std::error_code ec) {
                    if (self->over) return;
                    if (ec || self->stopped) return self->finish("cancelled");
                    self->on_token(self->tokens[self->next++]);
                    if (self->stopped) return self->finish("cancelled");
                    if (self->next == self->tokens.size()) return self->finish("stop");
                    self->step();
                });
            }
            void finish(std::string_view reason)
            {
                over = true;
                auto end = std::move(on_end);
                end(reason, {});
            }
            void stop() override
            {
                stopped = true;
                timer.cancel();
            }
        };
        auto g = std::make_shared<demo_gen>(ioc_);
        g->tokens = demo_->answer(question);
        g->delay = a_.demo_delay;
        g->on_token = std::move(on_token);
        g->on_end = std::move(on_end);
        g->step();
        return g;
    }

    /// An OpenAI-compatible upstream: POST the conversation with stream:true, read the
    /// chat.completion.chunk events until `data: [DONE]`.
    std::shared_ptr<generation> start_upstream(conversation const& c, token_fn on_token, end_fn on_end)
    {
        struct upstream_gen final : generation, std::enable_shared_from_this<upstream_gen> {
            std::optional<rtmsg::sse::client> es;
            rtmsg::sse::received_event ev;
            token_fn on_token;
            end_fn on_end;
            std::size_t tokens = 0;
            bool stopped = false, over = false;
            std::chrono::milliseconds timeout{};
            void read()
            {
                es->async_read(ev, [self = shared_from_this()](std::error_code ec) { self->on_event(ec); });
            }
            void on_event(std::error_code ec)
            {
                if (over) return;
                if (stopped) return finish("cancelled", {});
                if (ec) return finish("error", describe(ec));
                if (ev.data == "[DONE]") {
                    es->close();
                    return finish("stop", {});
                }
                simdjson::ondemand::parser parser;
                simdjson::padded_string const json(ev.data);
                simdjson::ondemand::document doc;
                if (parser.iterate(json).get(doc)) return fail("the upstream sent an event that is not JSON");
                simdjson::ondemand::object obj;
                if (doc.get_object().get(obj)) return fail("the upstream sent an event that is not a JSON object");
                simdjson::ondemand::value err;
                if (!obj["error"].get(err)) { // some servers report errors inside the stream
                    std::string_view message;
                    if (err["message"].get_string().get(message)) message = "(no message)";
                    return fail("the upstream reported an error: " + std::string(message));
                }
                simdjson::ondemand::array choices;
                if (!obj["choices"].get_array().get(choices)) {
                    for (auto choice : choices) {
                        std::string_view content; // absent or null in the role and finish chunks
                        if (!choice["delta"]["content"].get_string().get(content) && !content.empty()) {
                            ++tokens;
                            on_token(content);
                        }
                        break; // n = 1: the first choice is the answer
                    }
                }
                read();
            }
            std::string describe(std::error_code ec) const
            {
                auto const& head = es->response();
                if (ec == rtmsg::sse::error::bad_status)
                    return "the upstream answered HTTP " + std::to_string(head.status) + " " + head.reason;
                if (ec == rtmsg::sse::error::bad_content_type) return "the upstream's answer is not an event stream";
                if (ec == rtmsg::error::timeout)
                    return "the upstream timed out (nothing for " + std::to_string(timeout.count()) + " ms)";
                if (head.status == 0) return "cannot reach the upstream: " + ec.message();
                return "the upstream stream broke after " + std::to_string(tokens) + " tokens: " + ec.message();
            }
            void fail(std::string const& why)
            {
                es->close();
                finish("error", why);
            }
            void finish(std::string_view reason, std::string const& error)
            {
                over = true;
                auto end = std::move(on_end);
                end(reason, error);
            }
            void stop() override
            {
                stopped = true;
                es->close(); // the upstream sees its request's connection close: generation stops there
            }
        };
        std::string body = R"({"model":)" + quote(a_.model) + R"(,"stream":true,"messages":[)";
        body += R"({"role":"system","content":"You are a helpful assistant. Answer in Markdown."})";
        for (auto const& t : c.turns) {
            body += R"(,{"role":"user","content":)" + quote(t.question) + "}";
            if (&t != &c.turns.back()) body += R"(,{"role":"assistant","content":)" + quote(t.answer) + "}";
        }
        body += "]}";
        rtmsg::sse::client_options o;
        o.method = "POST";
        o.body = std::move(body);
        o.headers.add("Content-Type", "application/json");
        if (!a_.api_key.empty()) o.headers.add("Authorization", "Bearer " + a_.api_key);
        o.reconnect = false; // a completion is not repeated: a broken stream is an error
        o.idle_timeout = a_.timeout;
        o.connect.connect_timeout = a_.timeout;
        auto g = std::make_shared<upstream_gen>();
        g->es.emplace(ioc_.get_executor(), upstream_, std::move(o));
        g->on_token = std::move(on_token);
        g->on_end = std::move(on_end);
        g->timeout = a_.timeout;
        g->read();
        return g;
    }

    asio::io_context& ioc_;
    rtmsg::hub& hub_;
    args const& a_;
    markov const* demo_;
    std::string upstream_;
    std::map<std::string, std::map<std::string, conversation, std::less<>>> convs_; // user -> id -> conversation
    std::map<std::string, std::vector<std::string>> order_;                         // user -> ids, newest first
};

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);
    std::optional<markov> demo;
    if (a.upstream.empty()) {
        std::ifstream in(a.demo_text);
        std::stringstream text;
        text << in.rdbuf();
        demo.emplace(text.str());
        if (demo->empty()) {
            std::cerr << "rtmsg-assistant: cannot read the demo model's text " << a.demo_text << "\n";
            return 2;
        }
    }

    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());

    rtmsg::hub_options opt;
    opt.topic_config = [](std::string_view topic) {
        rtmsg::topic_options t;
        if (topic.starts_with("assistant.")) {
            // The whole conversation stays in history: a new tab, a reload or a reconnection
            // replays it from its first message (or resumes after the last offset it saw).
            t.history_count = 20'000;
            // A tab that cannot keep up is cut off rather than fed a gap: it reconnects and
            // resumes from history, and the generation never waits for it.
            t.policy = rtmsg::slow_consumer_policy::disconnect;
        }
        else if (topic.starts_with("convs."))
            t.history_count = 1; // the latest list
        else
            t.history_count = 0; // ask.USER: commands are acted on, not kept
        return t;
    };
    // Each user sees only their own topics (the identity comes from the upgrade below).
    opt.can_subscribe = [](rtmsg::peer_info const& p, std::string_view pattern) {
        if (p.identity.empty()) return false;
        auto const own = "assistant." + std::string(p.identity) + ".";
        return pattern == "convs." + std::string(p.identity) ||
               (pattern.starts_with(own) && pattern.size() > own.size());
    };
    opt.can_publish = [](rtmsg::peer_info const& p, std::string_view topic) {
        return !p.identity.empty() && topic == "ask." + std::string(p.identity);
    };
    opt.max_payload = max_question * 2 + 200; // escaped text plus the envelope: error 413
    opt.publish_messages = rtmsg::rate_limit{5, 20};
    rtmsg::hub hub(opt);

    gateway gw(ioc, hub, a, demo ? &*demo : nullptr);
    // Commands arrive on the publishing connection's thread; the gateway lives on the I/O thread.
    auto commands = hub.subscribe("ask.*", [&](rtmsg::message const& m) {
        if (m.op != rtmsg::codec::op::message) return;
        asio::post(ioc, [&gw, user = m.topic.substr(4), payload = m.payload] { gw.command(user, payload); });
    });

    // The WebSocket endpoint: /ws?user=alice.  The name is the identity (a demo: a real
    // deployment takes it from a session cookie or token in on_upgrade).
    rtmsg::websocket::behavior ws;
    ws.options.max_message_size = 64 * 1024;
    ws.on_upgrade = [](rtmsg::websocket::upgrade_request const& u) {
        auto user = u.request.query_param("user");
        if (!user || !valid_level(*user))
            return rtmsg::websocket::upgrade_decision::refuse(rtmsg::http::status::bad_request,
                                                              "user: 1 to 32 letters, digits, _ or -");
        return rtmsg::websocket::upgrade_decision::accept_as(std::string(*user));
    };
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub, ws));
    server.routes().get("/config.json", [&a, &gw](rtmsg::http::request const&, rtmsg::http::response& res) {
        res.headers.add("Content-Type", "application/json");
        res.body = std::string(R"({"demo":)") + (gw.upstream().empty() ? "true" : "false") + R"(,"model":)" +
                   quote(gw.upstream().empty() ? "demo (Markov chain)" : a.model) + R"(,"maxChars":)" +
                   std::to_string(max_question) + "}";
    });
    server.routes().static_files("/js", std::filesystem::weakly_canonical(a.js)); // /js/rtmsg.js
    server.routes().static_files("/", std::filesystem::weakly_canonical(a.www));

    std::error_code ec;
    auto const ep = rtmsg_example::endpoint_of("rtmsg-assistant", a.host, a.port);
    server.listen(ep, ec);
    if (ec) return rtmsg_example::cannot_listen("rtmsg-assistant", a.host, a.port, ec);
    // Ctrl-C: pages get a 1001 close, generations stop (upstream requests are closed), and
    // run() returns once the last connection is gone.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
        server.stop();
        commands.unsubscribe();
        asio::post(ioc, [&gw] { gw.stop_all(); });
    });
    auto const local = server.local_endpoint();
    if (gw.upstream().empty())
        std::cout << "rtmsg-assistant: demo model (no --upstream)" << std::endl;
    else
        std::cout << "rtmsg-assistant: upstream " << gw.upstream() << " model " << a.model << std::endl;
    std::cout << "rtmsg-assistant: open http://" << local.address().to_string() << ":" << local.port() << "/"
              << std::endl;
    ioc.run();
    return 0;
}
