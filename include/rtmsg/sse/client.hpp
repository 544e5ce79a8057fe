#pragma once
// The Server-Sent Events client: the WHATWG event-stream parser (sans I/O) and a reconnecting
// client over rtmsg::client::socket (http:// and https://).
#include <rtmsg/client/response.hpp>
#include <rtmsg/client/socket.hpp>
#include <rtmsg/client/url.hpp>
#include <rtmsg/error.hpp>
#include <rtmsg/http/fields.hpp>

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

/// Errors of the SSE client (category "rtmsg.sse.client").  Append only.
enum class client_error {
    bad_status = 1,    ///< the server answered with a status other than 200 (WHATWG: fail, no reconnect)
    bad_content_type,  ///< the response is not text/event-stream (WHATWG: fail, no reconnect)
    bad_response,      ///< the response head or its chunked framing is malformed
    event_too_big,     ///< an event or a line exceeded client_options::max_event_size
    closed,            ///< close() was called
};

namespace detail {
class client_category final : public std::error_category {
public:
    char const* name() const noexcept override { return "rtmsg.sse.client"; }
    std::string message(int ev) const override
    {
        switch (static_cast<client_error>(ev)) {
        case client_error::bad_status: return "the event stream's response status is not 200";
        case client_error::bad_content_type: return "the response is not text/event-stream";
        case client_error::bad_response: return "the event stream's response is malformed";
        case client_error::event_too_big: return "an event exceeds the maximum event size";
        case client_error::closed: return "the event stream was closed";
        }
        return "unknown rtmsg.sse.client error";
    }
};
} // namespace detail

inline std::error_category const& client_category() noexcept
{
    static detail::client_category const cat;
    return cat;
}
inline std::error_code make_error_code(client_error e) noexcept { return {static_cast<int>(e), client_category()}; }

} // namespace rtmsg::sse

template <>
struct std::is_error_code_enum<rtmsg::sse::client_error> : std::true_type {};

namespace rtmsg::sse {

/// An event as the client receives it (WHATWG HTML §9.2.6 "dispatch the event").
struct received_event {
    std::string type = "message"; ///< the `event:` field, or "message"
    std::string data;             ///< the `data:` lines joined with LF
    std::string id;               ///< the last event ID at dispatch time
};

/** The event-stream parser of WHATWG HTML §9.2.6, sans I/O.

    feed() takes the response body in any chunking.  It skips one leading UTF-8 BOM,
    splits lines at CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of
    the next are one line ending), ignores comments (`:`) and unknown fields, strips one
    space after the colon, appends `data` lines (joined by LF), takes `event`, takes `id`
    unless it contains NUL, takes `retry` only if it is all ASCII digits, and dispatches on
    a blank line — only if some data arrived, and with the trailing LF removed.  The last
    event ID persists across events (and across reconnections: keep the parser).
*/
class parser {
public:
    /// A parser that fails an event or line longer than `max_event_size` bytes with event_too_big.
    explicit parser(std::size_t max_event_size = 1u << 20) : max_(max_event_size) {}

    /// Feeds bytes; calls `on_event(received_event&&)` for each dispatched event.  Returns
    /// client_error::event_too_big if a line or an event grows beyond the limit.
    template <class OnEvent>
    std::error_code feed(std::string_view in, OnEvent&& on_event)
    {
        std::size_t i = 0;
        if (bom_pending_) {
            // The BOM may itself arrive split.
            static constexpr std::string_view bom = "\xEF\xBB\xBF";
            while (i < in.size() && bom_seen_ < 3 && in[i] == bom[bom_seen_]) {
                ++i;
                ++bom_seen_;
            }
            if (bom_seen_ == 3 || (i < in.size())) {
                if (bom_seen_ != 3 && bom_seen_ != 0) line_.assign(bom.substr(0, bom_seen_)); // not a BOM after all
                bom_pending_ = false;
            }
        }
        while (i < in.size()) {
            if (after_cr_ && in[i] == '\n') {
                after_cr_ = false;
                ++i;
                continue;
            }
            after_cr_ = false;
            auto const end = in.find_first_of("\r\n", i);
            if (end == std::string_view::npos) {
                line_.append(in.substr(i));
                if (line_.size() > max_) return client_error::event_too_big;
                return {};
            }
            line_.append(in.substr(i, end - i));
            if (line_.size() > max_) return client_error::event_too_big;
            after_cr_ = in[end] == '\r';
            i = end + 1;
            if (auto ec = on_line(on_event)) return ec;
            line_.clear();
        }
        return {};
    }

    /// The last event ID (sent as Last-Event-ID when reconnecting).
    std::string const& last_event_id() const noexcept { return last_id_; }
    /// Sets the last event ID (to resume from a stored id).
    void last_event_id(std::string id) { last_id_ = std::move(id); }
    /// The reconnection time the server asked for with `retry:`, if it did.
    std::optional<std::uint64_t> retry() const noexcept { return retry_; }
    /// Forgets a partial line and event (the connection ended: WHATWG discards them).
    void reset_connection() noexcept
    {
        line_.clear();
        data_.clear();
        type_.clear();
        after_cr_ = false;
        bom_pending_ = true;
        bom_seen_ = 0;
    }

private:
    template <class OnEvent>
    std::error_code on_line(OnEvent& on_event)
    {
        std::string_view line = line_;
        if (line.empty()) {
            if (data_.empty()) {
                type_.clear();
                return {};
            }
            received_event ev;
            if (!type_.empty()) ev.type = std::move(type_);
            data_.pop_back(); // the LF after the last data line
            ev.data = std::move(data_);
            ev.id = last_id_;
            data_.clear();
            type_.clear();
            on_event(std::move(ev));
            return {};
        }
        if (line.front() == ':') return {};
        auto const colon = line.find(':');
        auto const field = line.substr(0, colon);
        std::string_view value;
        if (colon != std::string_view::npos) {
            value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        }
        if (field == "data") {
            if (data_.size() + value.size() + 1 > max_) return client_error::event_too_big;
            data_.append(value);
            data_ += '\n';
        }
        else if (field == "event")
            type_.assign(value);
        else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
        }
        else if (field == "retry") {
            std::uint64_t v = 0;
            auto const r = std::from_chars(value.data(), value.data() + value.size(), v);
            if (!value.empty() && r.ec == std::errc{} && r.ptr == value.data() + value.size()) retry_ = v;
        }
        return {};
    }

    std::size_t max_;
    std::string line_, data_, type_, last_id_;
    std::optional<std::uint64_t> retry_;
    bool after_cr_ = false;
    bool bom_pending_ = true;
    std::size_t bom_seen_ = 0;
};

/** A decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1), sans I/O.  Chunk
    extensions and trailer fields are skipped. */
class chunked_decoder {
public:
    /// Appends the data in `in` to `out`.  Returns false on malformed framing.
    bool feed(std::string_view in, std::string& out)
    {
        for (std::size_t i = 0; i < in.size();) {
            char const c = in[i];
            switch (st_) {
            case st::size:
                if (c == '\n') {
                    if (!have_digit_) return false;
                    st_ = size_ == 0 ? st::trailer : st::data;
                    trailer_empty_ = true;
                }
                else if (c == ';' || c == ' ' || c == '\t') st_ = st::ext;
                else if (c != '\r') {
                    int const d = hex(c);
                    if (d < 0 || size_ > (std::uint64_t(1) << 40)) return false;
                    size_ = size_ * 16 + static_cast<std::uint64_t>(d);
                    have_digit_ = true;
                }
                ++i;
                break;
            case st::ext:
                if (c == '\n') {
                    if (!have_digit_) return false;
                    st_ = size_ == 0 ? st::trailer : st::data;
                    trailer_empty_ = true;
                }
                ++i;
                break;
            case st::data: {
                auto const n = static_cast<std::size_t>(std::min<std::uint64_t>(size_, in.size() - i));
                out.append(in.substr(i, n));
                size_ -= n;
                i += n;
                if (size_ == 0) st_ = st::data_end;
                break;
            }
            case st::data_end:
                if (c == '\n') {
                    st_ = st::size;
                    have_digit_ = false;
                }
                else if (c != '\r') return false;
                ++i;
                break;
            case st::trailer:
                if (c == '\n') {
                    if (trailer_empty_) st_ = st::done;
                    trailer_empty_ = true;
                }
                else if (c != '\r') trailer_empty_ = false;
                ++i;
                break;
            case st::done: return true;
            }
        }
        return true;
    }
    /// The last chunk and the trailer have been read.
    bool done() const noexcept { return st_ == st::done; }

private:
    static int hex(char c) noexcept
    {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }
    enum class st { size, ext, data, data_end, trailer, done } st_ = st::size;
    std::uint64_t size_ = 0;
    bool have_digit_ = false;
    bool trailer_empty_ = true;
};

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
    http::fields headers;                        ///< extra request fields (Authorization, Content-Type, Cookie)
    std::string last_event_id;                   ///< resume after this id on the first connection
    std::chrono::milliseconds retry{3'000};      ///< reconnection delay until the server sends retry:
    bool reconnect = true;                       ///< reconnect after a network error or end of stream

    /// Treat the stream as dead after this long without any byte (servers send heartbeat
    /// comments); the client then reconnects.  Zero: never.
    std::chrono::milliseconds idle_timeout{0};
    std::size_t max_event_size = 1u << 20;       ///< larger lines or events fail with event_too_big
    rtmsg::client::connect_options connect;      ///< connect timeout and TLS settings

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
            return self.complete(make_error_code(client_error::closed));
        case step::connecting:
            if (s.user_closed) return self.complete(client_error::closed);
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
            case rtmsg::client::parse_result::bad: return fail(self, client_error::bad_response);
            case rtmsg::client::parse_result::done: break;
            }
            // WHATWG "announce the connection" only for 200 + text/event-stream; any other
            // answer fails the connection for good (no reconnection).
            if (s.head.status != 200) return fail(self, client_error::bad_status);
            auto const type = s.head.headers.find("Content-Type").value_or("");
            auto const essence = http::trim_ows(type.substr(0, type.find(';')));
            if (!http::iequals(essence, "text/event-stream")) return fail(self, client_error::bad_content_type);
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
            if (s.user_closed) return self.complete(client_error::closed);
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
        if (!s.opt.body.empty() || method != "GET") r += "Content-Length: " + std::to_string(s.opt.body.size()) + "\r\n";
        // WHATWG: Last-Event-ID is sent when the last event ID is not empty.
        if (!s.events.last_event_id().empty()) r += "Last-Event-ID: " + s.events.last_event_id() + "\r\n";
        for (auto const& f : s.opt.headers) {
            if (!http::is_token(f.name) || http::iequals(f.name, "Host") ||
                http::iequals(f.name, "Last-Event-ID") || http::iequals(f.name, "Content-Length") ||
                http::iequals(f.name, "Transfer-Encoding"))
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
            if (!s.chunks.feed(bytes, s.body)) return client_error::bad_response;
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
        if (s.user_closed) return self.complete(client_error::closed);
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
    (client_error::bad_status / bad_content_type), as in WHATWG's "fail the connection";
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

        @par Completion signature  `void(std::error_code ec)`: client_error::closed after
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

    /// Ends the stream; a pending read completes with client_error::closed.
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
    /** The head of the last response read (status 0 before any): after client_error::bad_status
        it tells which status the server answered, e.g. 401 or 429 from an API. */
    rtmsg::client::response_head const& response() const noexcept { return impl_->head; }

private:
    std::shared_ptr<detail::sse_client_impl> impl_;
    std::error_code url_error_;
};

} // namespace rtmsg::sse
