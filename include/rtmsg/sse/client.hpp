#pragma once
// The Server-Sent Events client: a reconnecting client over rtmsg::client::socket (http:// and
// https://), reading with the sans-I/O event parser of <rtmsg/sse/event.hpp>.
#include <rtmsg/client/response.hpp>
#include <rtmsg/client/socket.hpp>
#include <rtmsg/client/url.hpp>
#include <rtmsg/error.hpp>
#include <rtmsg/http/chunked.hpp>
#include <rtmsg/http/fields.hpp>
#include <rtmsg/sse/error.hpp>
#include <rtmsg/sse/event.hpp>

#include <asio/compose.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg::sse {

/// The chunked-body decoder the client uses (http::chunked_decoder).
using http::chunked_decoder;

/// The state of an SSE client, as WHATWG's EventSource readyState plus `reconnecting`.
enum class client_state { connecting, open, reconnecting, closed };

/// Settings of an SSE client.
struct client_options {
    /// The request method.  EventSource only sends GET; streaming APIs that take a request
    /// body (an OpenAI-compatible `POST /v1/chat/completions` with `stream: true`) need POST.
    std::string method = "GET";
    /// The request body, sent with its Content-Length on every connection (set the
    /// Content-Type in `headers`).  A non-idempotent request is usually not to be repeated:
    /// set `reconnect` to false with POST.
    std::string body;
    http::fields headers;                   ///< extra request fields (Authorization, Content-Type, Cookie)
    std::string last_event_id;              ///< resume after this id on the first connection
    std::chrono::milliseconds retry{3'000}; ///< reconnection delay until the server sends retry:
    bool reconnect = true;                  ///< reconnect after a network error or end of stream

    /// Treat the stream as dead after this long without any byte (servers send heartbeat
    /// comments); the client then reconnects.  Zero: never.
    std::chrono::milliseconds idle_timeout{0};
    std::size_t max_event_size = 1u << 20;  ///< larger lines or events fail with event_too_big
    rtmsg::client::connect_options connect; ///< connect timeout and TLS settings

    /// Called on every state change (on the client's executor).
    std::function<void(client_state)> on_state;
};

namespace detail {

struct sse_client_impl : std::enable_shared_from_this<sse_client_impl> {
    sse_client_impl(asio::any_io_executor ex, client_options o)
        : opt(std::move(o)), sock(ex), timer(ex), idle(ex), events(opt.max_event_size)
    {
        events.last_event_id(opt.last_event_id);
        retry = opt.retry;
    }

    client_options opt;
    rtmsg::client::url url;
    rtmsg::client::socket sock;
    asio::steady_timer timer;
    asio::steady_timer idle;
    parser events;
    chunked_decoder chunks;
    std::deque<received_event> ready;
    client_state state = client_state::connecting;
    std::chrono::milliseconds retry;
    std::string request, in, body;
    std::unique_ptr<char[]> buf = std::make_unique<char[]>(16 * 1024);
    rtmsg::client::response_head head;
    bool connected = false;
    bool chunked = false;
    bool has_length = false;
    std::uint64_t remaining = 0;
    bool user_closed = false;
    bool idle_fired = false;
    std::size_t connections = 0;

    void set_state(client_state s)
    {
        if (state == s) return;
        state = s;
        if (opt.on_state) opt.on_state(s);
    }

    void arm_idle()
    {
        if (opt.idle_timeout.count() == 0) return;
        idle.expires_after(opt.idle_timeout);
        idle.async_wait([w = weak_from_this()](std::error_code ec) {
            auto self = w.lock();
            if (ec || !self || !self->connected) return;
            self->idle_fired = true;
            std::error_code ignored;
            self->sock.next_layer().close(ignored);
        });
    }
};

struct sse_read_op {
    std::shared_ptr<sse_client_impl> impl;
    received_event& out;
    enum class step { start, posted, connecting, writing, reading_head, reading_body, waiting } at = step::start;

    template <class Self>
    void operator()(Self& self, std::error_code ec = {}, std::size_t n = 0)
    {
        auto& s = *impl;
        switch (at) {
        case step::start:
            if (s.user_closed || s.state == client_state::closed || !s.ready.empty()) {
                at = step::posted;
                return asio::post(s.sock.get_executor(), std::move(self));
            }
            if (s.connected) return read_body(self);
            return connect(self);
        case step::posted:
            if (!s.ready.empty()) return deliver(self);
            return self.complete(make_error_code(error::closed));
        case step::connecting:
            if (s.user_closed) return self.complete(error::closed);
            if (ec) return network_error(self, ec);
            s.request.clear();
            build_request(s);
            at = step::writing;
            return asio::async_write(s.sock, asio::buffer(s.request), std::move(self));
        case step::writing:
            if (ec) return network_error(self, ec);
            s.in.clear();
            at = step::reading_head;
            s.arm_idle();
            return s.sock.async_read_some(asio::buffer(s.buf.get(), 16 * 1024), std::move(self));
        case step::reading_head: {
            if (ec) return network_error(self, ec);
            s.in.append(s.buf.get(), n);
            std::size_t used = 0;
            switch (rtmsg::client::parse_response_head(s.in, s.head, used)) {
            case rtmsg::client::parse_result::need_more:
                return s.sock.async_read_some(asio::buffer(s.buf.get(), 16 * 1024), std::move(self));
            case rtmsg::client::parse_result::bad: return fail(self, error::bad_response);
            case rtmsg::client::parse_result::done: break;
            }
            // WHATWG "announce the connection" only for 200 + text/event-stream; any other
            // answer fails the connection for good (no reconnection).
            if (s.head.status != 200) return fail(self, error::bad_status);
            auto const type = s.head.headers.find("Content-Type").value_or("");
            auto const essence = http::trim_ows(type.substr(0, type.find(';')));
            if (!http::iequals(essence, "text/event-stream")) return fail(self, error::bad_content_type);
            s.chunked = s.head.headers.has_token("Transfer-Encoding", "chunked");
            s.has_length = false;
            if (!s.chunked) {
                if (auto cl = s.head.headers.find("Content-Length")) {
                    s.has_length = true;
                    s.remaining = 0;
                    std::from_chars(cl->data(), cl->data() + cl->size(), s.remaining);
                }
            }
            s.chunks = chunked_decoder{};
            s.events.reset_connection();
            s.connected = true;
            ++s.connections;
            s.set_state(client_state::open);
            auto rest = s.in.substr(used);
            s.in.clear();
            if (auto e = consume(s, rest)) return fail(self, e);
            if (!s.ready.empty()) return deliver(self);
            if (ended(s)) return network_error(self, asio::error::eof);
            return read_body(self);
        }
        case step::reading_body:
            if (ec) return network_error(self, ec);
            s.arm_idle();
            if (auto e = consume(s, std::string_view(s.buf.get(), n))) return fail(self, e);
            if (!s.ready.empty()) return deliver(self);
            if (ended(s)) return network_error(self, asio::error::eof);
            return read_body(self);
        case step::waiting:
            if (s.user_closed) return self.complete(error::closed);
            return connect(self);
        }
    }

    static void build_request(sse_client_impl& s)
    {
        auto& r = s.request;
        // The method is a token (RFC 9110 §9.1); anything else falls back to GET.
        auto const& method = http::is_token(s.opt.method) ? s.opt.method : std::string("GET");
        r = method + " " + s.url.target + " HTTP/1.1\r\nHost: " + s.url.host_header() +
            "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n";
        if (!s.opt.body.empty() || method != "GET")
            r += "Content-Length: " + std::to_string(s.opt.body.size()) + "\r\n";
        // WHATWG: Last-Event-ID is sent when the last event ID is not empty.
        if (!s.events.last_event_id().empty()) r += "Last-Event-ID: " + s.events.last_event_id() + "\r\n";
        for (auto const& f : s.opt.headers) {
            if (!http::is_token(f.name) || http::iequals(f.name, "Host") || http::iequals(f.name, "Last-Event-ID") ||
                http::iequals(f.name, "Content-Length") || http::iequals(f.name, "Transfer-Encoding"))
                continue;
            r += f.name;
            r += ": ";
            for (char c : f.value) r += (c == '\r' || c == '\n' || c == '\0') ? ' ' : c;
            r += "\r\n";
        }
        r += "\r\n";
        r += s.opt.body;
    }

    /// Decodes body bytes and parses events into `ready`.
    static std::error_code consume(sse_client_impl& s, std::string_view bytes)
    {
        std::string_view data = bytes;
        if (s.chunked) {
            s.body.clear();
            if (!s.chunks.feed(bytes, s.body)) return error::bad_response;
            data = s.body;
        }
        else if (s.has_length) {
            data = data.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(s.remaining, data.size())));
            s.remaining -= data.size();
        }
        return s.events.feed(data, [&s](received_event&& ev) { s.ready.push_back(std::move(ev)); });
    }

    static bool ended(sse_client_impl const& s)
    {
        return (s.chunked && s.chunks.done()) || (s.has_length && s.remaining == 0);
    }

    template <class Self>
    void read_body(Self& self)
    {
        at = step::reading_body;
        impl->sock.async_read_some(asio::buffer(impl->buf.get(), 16 * 1024), std::move(self));
    }

    template <class Self>
    void connect(Self& self)
    {
        auto& s = *impl;
        at = step::connecting;
        s.set_state(s.connections == 0 ? client_state::connecting : client_state::reconnecting);
        rtmsg::client::async_connect(s.sock, s.url, s.opt.connect, std::move(self));
    }

    template <class Self>
    void deliver(Self& self)
    {
        out = std::move(impl->ready.front());
        impl->ready.pop_front();
        self.complete({});
    }

    /// The connection is gone: reconnect after the retry delay (WHATWG "reestablish").
    template <class Self>
    void network_error(Self& self, std::error_code ec)
    {
        auto& s = *impl;
        s.connected = false;
        s.idle.cancel();
        s.sock.reset();
        if (s.idle_fired) {
            s.idle_fired = false;
            ec = rtmsg::error::timeout;
        }
        if (s.user_closed) return self.complete(error::closed);
        if (!s.opt.reconnect) {
            s.set_state(client_state::closed);
            return self.complete(ec);
        }
        if (auto r = s.events.retry()) s.retry = std::chrono::milliseconds(*r);
        s.set_state(client_state::reconnecting);
        at = step::waiting;
        s.timer.expires_after(s.retry);
        s.timer.async_wait(std::move(self));
    }

    template <class Self>
    void fail(Self& self, std::error_code ec)
    {
        auto& s = *impl;
        s.connected = false;
        s.idle.cancel();
        s.sock.reset();
        s.set_state(client_state::closed);
        self.complete(ec);
    }
};

} // namespace detail

/** A reconnecting Server-Sent Events client (the C++ counterpart of EventSource).

    @code
    rtmsg::sse::client es(ioc.get_executor(), "http://127.0.0.1:9001/sse?topic=prices.*");
    rtmsg::sse::received_event ev;
    es.async_read(ev, [&](std::error_code ec) { if (!ec) std::cout << ev.data << "\n"; });
    @endcode

    Connecting and each reconnection send `Accept: text/event-stream`, `Cache-Control:
    no-cache` and, once an id has been seen, `Last-Event-ID`.  A network error or the end
    of the stream makes the client wait the reconnection time (client_options::retry, or
    what the server last sent as `retry:`) and reconnect, inside the pending async_read; a
    status other than 200 or a content type other than text/event-stream fails for good
    (error::bad_status / bad_content_type), as in WHATWG's "fail the connection";
    response() then tells the status.

    Streaming APIs that take a request body work too (client_options::method, body,
    headers), e.g. an OpenAI-compatible chat completion:
    @code
    rtmsg::sse::client_options o;
    o.method = "POST";
    o.body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})";
    o.headers.add("Content-Type", "application/json");
    o.headers.add("Authorization", "Bearer " + key);
    o.reconnect = false;  // a POST is not repeated
    rtmsg::sse::client es(ex, "http://127.0.0.1:11434/v1/chat/completions", o);
    @endcode

    @par Thread safety
    Distinct objects: Safe.  Shared objects: Unsafe.  Use a strand executor when the
    io_context runs on several threads.
*/
class client {
public:
    /// The executor the client runs on.
    using executor_type = asio::any_io_executor;

    /// A client of the event stream at `url` (`http://` or `https://`); it connects on the first read.
    client(executor_type ex, std::string_view url, client_options opt = {})
        : impl_(std::make_shared<detail::sse_client_impl>(ex, std::move(opt)))
    {
        url_error_ = rtmsg::client::parse_url(url, impl_->url);
    }
    /// Closes the stream.  client_options::on_state is not called after the destructor.
    ~client()
    {
        if (!impl_) return;
        asio::dispatch(impl_->sock.get_executor(), [impl = impl_] { impl->opt.on_state = nullptr; });
        close();
    }
    /// Moves the client; the moved-from object must not be used again.
    client(client&&) noexcept = default;
    /// Moves the client; the moved-from object must not be used again.
    client& operator=(client&&) noexcept = default;

    /// The client's executor: its callbacks run there.
    executor_type get_executor() const noexcept { return impl_->sock.get_executor(); }

    /** Reads the next event into `ev`, connecting or reconnecting as needed.

        @par Completion signature  `void(std::error_code ec)`: error::closed after
        close(), a fatal response error, or (with reconnect off) the network error.
        Only one read may be pending.  `ev` must stay valid until completion. */
    template <asio::completion_token_for<void(std::error_code)> CompletionToken =
                  asio::default_completion_token_t<executor_type>>
    auto async_read(received_event& ev, CompletionToken&& token = CompletionToken{})
    {
        if (url_error_) {
            return asio::async_compose<CompletionToken, void(std::error_code)>(
                [ec = url_error_, ex = impl_->sock.get_executor(), posted = false](auto& self) mutable {
                    if (!posted) {
                        posted = true;
                        return asio::post(ex, std::move(self));
                    }
                    self.complete(ec);
                },
                token, impl_->sock);
        }
        return asio::async_compose<CompletionToken, void(std::error_code)>(detail::sse_read_op{impl_, ev}, token,
                                                                           impl_->sock);
    }

    /// Ends the stream; a pending read completes with error::closed.
    void close()
    {
        asio::dispatch(impl_->sock.get_executor(), [impl = impl_] {
            impl->user_closed = true;
            impl->timer.cancel();
            impl->idle.cancel();
            impl->connected = false;
            std::error_code ignored;
            impl->sock.next_layer().close(ignored);
            impl->set_state(client_state::closed);
        });
    }

    /// The current state (connecting, open, reconnecting, closed).
    client_state state() const noexcept { return impl_->state; }
    /// The id sent as Last-Event-ID on the next reconnection.
    std::string const& last_event_id() const noexcept { return impl_->events.last_event_id(); }
    /// The current reconnection delay.
    std::chrono::milliseconds retry() const noexcept { return impl_->retry; }
    /// How many times a connection was established (1 + reconnections).
    std::size_t connections() const noexcept { return impl_->connections; }
    /** The head of the last response read (status 0 before any): after error::bad_status
        it tells which status the server answered, e.g. 401 or 429 from an API. */
    rtmsg::client::response_head const& response() const noexcept { return impl_->head; }

private:
    std::shared_ptr<detail::sse_client_impl> impl_;
    std::error_code url_error_;
};

} // namespace rtmsg::sse
