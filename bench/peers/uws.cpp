// peer-uws: the testbed contract (shared/testbed.md) with uWebSockets (uWS v20 + uSockets,
// plain TCP, epoll): /echo, /broadcast, /sse, POST /publish.  Written for this repository on
// uWS's public API, the way its documentation recommends using it for speed:
//   - one uWS::App (one event loop) per --threads; the threads share the port (SO_REUSEPORT,
//     the uSockets default) and a broadcast published on one thread is deferred to the others;
//   - /broadcast is uWS's own pub/sub (ws->subscribe + app.publish: the sender is included,
//     each message queued once and drained per subscriber, corked, after the event loop turn);
//   - no permessage-deflate; maxBackpressure 64 MiB (rtmsg's send_queue_hard_limit: messages
//     above it are dropped for that subscriber, as rtmsg refuses them); uWS's default idle
//     timeout with automatic pings (rtmsg's testbed pings every 30 s too).
// uWS has no Server-Sent Events: /sse keeps its own list of open responses per loop; the events
// published during one loop turn are formatted once, in one string, and written to every
// stream as one HTTP/1.1 chunk (uWS's res->write uses chunked encoding) in a post-loop handler,
// each response corked, so one send() per stream per turn, like uWS's own topic drain.
#include "common.hpp"

#include <App.h>
#include <libusockets.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using response = uWS::HttpResponse<false>;

constexpr unsigned sse_heartbeat_ms = 15'000;
constexpr std::size_t sse_retained = 1000;         // rtmsg's hub: history_count = 1000
constexpr std::size_t sse_queue_limit = 16u << 20; // rtmsg's sse send_queue_hard_limit
constexpr unsigned ws_backpressure = 64u << 20;    // rtmsg's websocket send_queue_hard_limit

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_signal(int)
{
    g_stop = 1;
}

/// One Server-Sent Event for `payload` (one `data:` line per line of the payload).
void format_event(std::string& out, std::uint64_t id, std::string_view payload)
{
    out.append("id: ").append(std::to_string(id)).push_back('\n');
    std::size_t start = 0;
    for (;;) {
        auto const nl = payload.find_first_of("\r\n", start);
        out.append("data: ").append(payload.substr(start, nl - start)).push_back('\n');
        if (nl == std::string_view::npos) break;
        start = nl + (payload[nl] == '\r' && nl + 1 < payload.size() && payload[nl + 1] == '\n' ? 2 : 1);
    }
    out.push_back('\n');
}

/// The `broadcast` topic's event ids and its retained events (shared by the threads).
struct topic_log {
    std::mutex m;
    std::uint64_t next_id = 1;
    std::deque<std::pair<std::uint64_t, std::string>> retained;

    /// Assigns the next id and retains the formatted event; returns it.
    std::string add(std::string_view payload)
    {
        std::lock_guard<std::mutex> l(m);
        std::string ev;
        format_event(ev, next_id, payload);
        retained.emplace_back(next_id++, ev);
        if (retained.size() > sse_retained) retained.pop_front();
        return ev;
    }
    /// The retained events after `last` (Last-Event-ID), concatenated.
    std::string since(std::uint64_t last)
    {
        std::lock_guard<std::mutex> l(m);
        std::string out;
        for (auto const& [id, ev] : retained)
            if (id > last) out += ev;
        return out;
    }
};

/// Bytes a response has queued in uWS (AsyncSocket::getBufferedAmount is protected; a pointer
/// to the member taken through a derived class reaches it without casting the object).
struct buffered_access : uWS::AsyncSocket<false> {
    static constexpr auto get = &buffered_access::getBufferedAmount;
};
std::size_t buffered(response* r)
{
    return (static_cast<uWS::AsyncSocket<false>*>(r)->*buffered_access::get)();
}

struct ws_data;

/// One event loop (thread) and what it owns.
struct worker {
    uWS::App* app = nullptr;
    uWS::Loop* loop = nullptr;
    us_listen_socket_t* listener = nullptr;
    us_timer_t* stop_timer = nullptr;
    us_timer_t* heartbeat = nullptr;
    ws_data* sockets = nullptr;     // every open WebSocket (intrusive list), for the 1001 close
    std::vector<response*> streams; // open /sse responses
    std::string pending;            // events published in this loop turn, not yet written
    bool draining = false;          // an abort during the drain only clears its slot
    bool output_since_heartbeat = false;
    bool stopping = false;
};

struct ws_data {
    uWS::WebSocket<false, true, ws_data>* ws = nullptr;
    ws_data* prev = nullptr;
    ws_data* next = nullptr;
};
using websocket = uWS::WebSocket<false, true, ws_data>;

struct server {
    peer::args a;
    topic_log log;
    std::vector<std::unique_ptr<worker>> workers;
    std::atomic<int> port{0};

    /// Everything published to `broadcast` (from /broadcast or POST /publish) on worker `w`.
    void publish(worker& w, std::string_view msg, uWS::OpCode op)
    {
        std::string ev = log.add(msg);
        deliver(w, msg, op, ev);
        if (workers.size() > 1)
            for (auto& o : workers) {
                if (o.get() == &w) continue;
                o->loop->defer([this, t = o.get(), m = std::string(msg), op, ev] { deliver(*t, m, op, ev); });
            }
    }
    static void deliver(worker& w, std::string_view msg, uWS::OpCode op, std::string_view ev)
    {
        w.app->publish("broadcast", msg, op);
        if (!w.streams.empty()) w.pending.append(ev);
    }

    /// Post-loop handler: writes this turn's events to every stream, one chunk each.
    static void drain(worker& w)
    {
        if (w.pending.empty()) return;
        w.draining = true;
        for (auto& r : w.streams) {
            if (!r) continue;
            if (buffered(r) > sse_queue_limit) continue; // slow consumer: its events are dropped
            r->cork([r, &w] { r->write(w.pending); });
        }
        w.draining = false;
        std::erase(w.streams, nullptr);
        w.pending.clear();
        w.output_since_heartbeat = true;
    }

    /// SIGINT/SIGTERM: stop accepting, 1001 to every WebSocket, end every stream, then close.
    static void shutdown(worker& w)
    {
        if (w.stopping) return;
        w.stopping = true;
        if (w.listener) us_listen_socket_close(0, w.listener);
        w.listener = nullptr;
        for (auto* d = w.sockets; d;) {
            auto* const next = d->next;
            d->ws->end(1001, "server shutting down");
            d = next;
        }
        auto streams = std::move(w.streams);
        w.streams.clear();
        for (auto* r : streams)
            if (r) r->end();
        // The close frames and last chunks are written (or queued) by now; uWS v20 does not
        // close WebSocket contexts with App::close(), and peers may never answer the close
        // frame, so the process ends 300 ms later instead of waiting for every socket.
        us_timer_set(
            w.stop_timer, [](us_timer_t*) { std::_Exit(0); }, 300, 0);
    }

    void run_worker(worker& w, bool first, std::atomic<int>& ready)
    {
        uWS::App app;
        w.app = &app;
        w.loop = uWS::Loop::get();
        auto* const loop = reinterpret_cast<us_loop_t*>(w.loop);

        uWS::App::WebSocketBehavior<ws_data> echo;
        echo.compression = uWS::DISABLED;
        echo.maxPayloadLength = static_cast<unsigned>(std::min<std::size_t>(a.max_message, 0x7fffffff));
        echo.maxBackpressure = ws_backpressure;
        echo.open = [&w](websocket* ws) { link(w, ws); };
        echo.close = [&w](websocket* ws, int, std::string_view) { unlink(w, ws); };
        echo.message = [](websocket* ws, std::string_view m, uWS::OpCode op) { ws->send(m, op); };

        uWS::App::WebSocketBehavior<ws_data> bc;
        bc.compression = uWS::DISABLED;
        bc.maxPayloadLength = echo.maxPayloadLength;
        bc.maxBackpressure = ws_backpressure;
        bc.open = [&w](websocket* ws) {
            link(w, ws);
            ws->subscribe("broadcast");
        };
        bc.close = [&w](websocket* ws, int, std::string_view) { unlink(w, ws); };
        bc.message = [this, &w](websocket*, std::string_view m, uWS::OpCode op) { publish(w, m, op); };

        app.ws<ws_data>("/echo", std::move(echo));
        app.ws<ws_data>("/broadcast", std::move(bc));
        app.get("/sse", [this, &w](response* res, uWS::HttpRequest* req) { open_stream(w, res, req); });
        app.post("/publish", [this, &w](response* res, uWS::HttpRequest*) { read_publish(w, res); });
        app.any("/publish", [](response* res, uWS::HttpRequest*) {
            res->writeStatus("405 Method Not Allowed")->writeHeader("Allow", "POST")->end("method not allowed\n");
        });
        w.loop->addPostHandler(&w, [&w](uWS::Loop*) { drain(w); });

        // Signals: a timer looks at the flag (uWS has no signal handling of its own).
        thread_local worker* self = nullptr;
        self = &w;
        w.stop_timer = us_create_timer(loop, 1, 0);
        w.heartbeat = us_create_timer(loop, 1, 0);
        us_timer_set(
            w.stop_timer,
            [](us_timer_t*) {
                if (g_stop) shutdown(*self);
            },
            200, 200);
        us_timer_set(
            w.heartbeat,
            [](us_timer_t*) {
                // A `:` comment when no event went out for a whole period (rtmsg: 15 s idle).
                if (!self->output_since_heartbeat) {
                    self->draining = true; // an abort meanwhile only clears its slot
                    for (auto* r : self->streams)
                        if (r) r->cork([r] { r->write(":\n\n"); });
                    self->draining = false;
                    std::erase(self->streams, nullptr);
                }
                self->output_since_heartbeat = false;
            },
            static_cast<int>(sse_heartbeat_ms), static_cast<int>(sse_heartbeat_ms));

        // The first thread binds (possibly port 0); the others then share its port.  uSockets
        // sets SO_REUSEPORT only for a nonzero port: with --port 0 and more than one thread the
        // first thread learns a free port, closes it and binds that port again, shareable.
        if (!first)
            while (port.load() == 0) std::this_thread::yield();
        int want = first ? a.port : port.load();
        if (first && want == 0 && a.threads > 1)
            app.listen(a.host, 0, [&](us_listen_socket_t* ls) {
                if (!ls) return;
                want = us_socket_local_port(0, reinterpret_cast<us_socket_t*>(ls));
                us_listen_socket_close(0, ls);
            });
        app.listen(a.host, want, [&](us_listen_socket_t* ls) {
            w.listener = ls;
            if (ls && first) port = us_socket_local_port(0, reinterpret_cast<us_socket_t*>(ls));
        });
        if (!w.listener) {
            if (first) port = -1;
            std::cerr << "peer-uws: cannot listen on " << a.host << ":" << want << "\n";
            us_timer_close(w.stop_timer);
            us_timer_close(w.heartbeat);
            ready.fetch_add(1);
            return;
        }
        ready.fetch_add(1);
        app.run();
        w.loop->removePostHandler(&w);
        w.app = nullptr;
    }

    static void link(worker& w, websocket* ws)
    {
        auto* d = ws->getUserData();
        d->ws = ws;
        d->next = w.sockets;
        if (w.sockets) w.sockets->prev = d;
        w.sockets = d;
    }
    static void unlink(worker& w, websocket* ws)
    {
        auto* d = ws->getUserData();
        if (d->prev)
            d->prev->next = d->next;
        else if (w.sockets == d)
            w.sockets = d->next;
        if (d->next) d->next->prev = d->prev;
        d->prev = d->next = nullptr;
    }

    void open_stream(worker& w, response* res, uWS::HttpRequest* req)
    {
        std::uint64_t last = 0;
        bool resume = false;
        if (auto const h = req->getHeader("last-event-id"); !h.empty()) {
            resume = true;
            for (char c : h) {
                if (c < '0' || c > '9') {
                    resume = false;
                    break;
                }
                last = last * 10 + static_cast<std::uint64_t>(c - '0');
            }
        }
        res->onAborted([&w, res] {
            auto it = std::find(w.streams.begin(), w.streams.end(), res);
            if (it == w.streams.end()) return;
            if (w.draining)
                *it = nullptr;
            else {
                *it = w.streams.back();
                w.streams.pop_back();
            }
        });
        res->writeStatus("200 OK")
            ->writeHeader("Content-Type", "text/event-stream")
            ->writeHeader("Cache-Control", "no-cache");
        std::string first = resume ? log.since(last) : std::string();
        if (first.empty()) first = ":\n\n"; // opens the body (and the chunked stream) at once
        res->write(first);
        w.streams.push_back(res);
    }

    void read_publish(worker& w, response* res)
    {
        auto body = std::make_shared<std::string>();
        auto aborted = std::make_shared<bool>(false);
        res->onAborted([aborted] { *aborted = true; });
        res->onData([this, &w, res, body, aborted](std::string_view chunk, bool last) {
            if (*aborted) return;
            if (body->size() + chunk.size() > a.max_message) {
                *aborted = true;
                res->writeStatus("413 Payload Too Large")->end("message too large\n", true);
                return;
            }
            body->append(chunk);
            if (!last) return;
            publish(w, *body, uWS::OpCode::TEXT); // the contract: one text message
            res->writeStatus("204 No Content")->endWithoutBody();
        });
    }
};

} // namespace

int main(int argc, char** argv)
{
    server s;
    s.a = peer::parse(argc, argv, "peer-uws");
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);

    for (unsigned i = 0; i < s.a.threads; ++i) s.workers.push_back(std::make_unique<worker>());
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < s.a.threads; ++i)
        pool.emplace_back([&s, &ready, i] { s.run_worker(*s.workers[i], false, ready); });
    std::thread announce([&] {
        while (ready.load() < static_cast<int>(s.a.threads)) std::this_thread::yield();
        if (s.port.load() > 0) std::cout << "listening on " << s.a.host << ":" << s.port.load() << std::endl;
    });
    s.run_worker(*s.workers[0], true, ready);
    announce.join();
    for (auto& t : pool) t.join();
    return s.port.load() > 0 ? 0 : 1;
}
