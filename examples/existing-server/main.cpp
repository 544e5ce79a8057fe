// existing-server: a Boost.Beast HTTP server that already exists (a page, a small JSON API,
// POST /publish) and hands /echo, /broadcast, /sse and /ws to rtmsg on the same port, over
// plain TCP or TLS.  It follows the testbed contract (shared/testbed.md), so the testbed's
// conformance suites drive it too:
//
//   rtmsg-existing-server [--host 127.0.0.1] [--port 9001] [--threads 1] [--max-message N] [--tls CERT KEY]
//
// Beast runs on Boost.Asio and rtmsg on standalone Asio: two libraries, two io_contexts, and
// two translation units (this one has no standalone Asio; rtmsg_side.cpp has no Boost).  Beast
// reads each request; for rtmsg's paths it hands over the connection with the request and the
// bytes it read past it (server::serve).  Plain TCP: the socket's descriptor moves to a
// standalone-Asio socket.  TLS: the Boost TLS stream stays where it is and rtmsg reads and
// writes it through a foreign_io (boost_io below).
#include "rtmsg_side.hpp"

#include <rtmsg/http/beast.hpp>
#include <rtmsg/transport/foreign_io.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace bnet = boost::asio;
namespace bhttp = boost::beast::http;
using btcp = bnet::ip::tcp;

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 9001;
    unsigned threads = 1;
    std::size_t max_message = 16u << 20;
    std::string tls_cert, tls_key;
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout) << "usage: rtmsg-existing-server [--host 127.0.0.1] [--port 9001] [--threads 1]"
                                      " [--max-message 16777216] [--tls CERT KEY]\n";
    std::exit(code);
}

args parse(int argc, char** argv)
{
    args a;
    for (int i = 1; i < argc; ++i) {
        std::string const k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        try {
            if (k == "--host")
                a.host = value();
            else if (k == "--port")
                a.port = static_cast<unsigned short>(std::stoul(value()));
            else if (k == "--threads")
                a.threads = static_cast<unsigned>(std::stoul(value()));
            else if (k == "--max-message")
                a.max_message = std::stoull(value());
            else if (k == "--tls") {
                a.tls_cert = value();
                a.tls_key = value();
            }
            else if (k == "--help" || k == "-h")
                usage(0);
            else
                usage(2);
        }
        catch (std::exception const&) {
            usage(2);
        }
    }
    if (a.threads == 0) a.threads = 1;
    return a;
}

/// What the host shares with its sessions.
struct app {
    rtmsg_side& rt;
    std::atomic<std::uint64_t> handed_over{0};
};

/** A Boost.Asio stream as rtmsg reads and writes it.  Every operation starts on the stream's
    own executor (the host's one I/O thread), so TLS state is never touched from rtmsg's threads. */
template <class Stream>
class boost_io final : public rtmsg::foreign_io, public std::enable_shared_from_this<boost_io<Stream>> {
public:
    explicit boost_io(Stream s) : s_(std::move(s)) {}

    void read_some(void* data, std::size_t size, io_handler done) override
    {
        bnet::post(s_.get_executor(), [self = this->shared_from_this(), data, size, done = std::move(done)]() mutable {
            self->s_.async_read_some(
                bnet::buffer(data, size),
                [self, done = std::move(done)](boost::system::error_code ec, std::size_t n) { done(to_std(ec), n); });
        });
    }
    void write_some(void const* data, std::size_t size, io_handler done) override
    {
        bnet::post(s_.get_executor(), [self = this->shared_from_this(), data, size, done = std::move(done)]() mutable {
            self->s_.async_write_some(
                bnet::buffer(data, size),
                [self, done = std::move(done)](boost::system::error_code ec, std::size_t n) { done(to_std(ec), n); });
        });
    }
    void shutdown(std::function<void()> done) override
    {
        bnet::post(s_.get_executor(), [self = this->shared_from_this(), done = std::move(done)]() mutable {
            self->s_.async_shutdown([self, done = std::move(done)](boost::system::error_code) mutable {
                // Then FIN, and read to the peer's FIN before closing: closing with unread input
                // (a client still sending a message rtmsg refused) would reset the connection,
                // and the client could lose the close frame.
                boost::system::error_code ignored;
                self->s_.lowest_layer().shutdown(btcp::socket::shutdown_send, ignored);
                self->drain(std::move(done));
            });
        });
    }
    void close() noexcept override
    {
        bnet::post(s_.get_executor(), [self = this->shared_from_this()] { self->close_here(); });
    }

private:
    void drain(std::function<void()> done)
    {
        s_.next_layer().async_read_some(bnet::buffer(discard_),
                                        [self = this->shared_from_this(),
                                         done = std::move(done)](boost::system::error_code ec, std::size_t) mutable {
                                            if (!ec) return self->drain(std::move(done));
                                            self->close_here();
                                            done();
                                        });
    }
    void close_here()
    {
        boost::system::error_code ignored;
        s_.lowest_layer().shutdown(btcp::socket::shutdown_both, ignored);
        s_.lowest_layer().close(ignored);
    }
    static std::error_code to_std(boost::system::error_code const& ec)
    {
        if (!ec) return {};
        if (ec == bnet::error::eof) return rtmsg::foreign_error::eof;
        if (ec == bnet::error::operation_aborted) return rtmsg::foreign_error::aborted;
        if (ec.category() == boost::system::system_category()) return {ec.value(), std::system_category()};
        return std::make_error_code(std::errc::connection_reset); // a TLS alert, a truncated stream
    }

    Stream s_;
    char discard_[512];
};

constexpr std::string_view page = R"(<!doctype html>
<title>existing server</title>
<h1>An existing Beast server</h1>
<p>Its own routes: this page, <a href="/api/stats">/api/stats</a>, POST /publish.
rtmsg serves /echo, /broadcast, /ws (WebSocket) and /sse on the same port.</p>
)";

/// One HTTP connection of the host: Beast reads requests until one belongs to rtmsg.
template <class Stream>
class session : public std::enable_shared_from_this<session<Stream>> {
public:
    session(Stream s, app& a) : stream_(std::move(s)), app_(a) {}

    void start()
    {
        if constexpr (std::is_same_v<Stream, btcp::socket>)
            read();
        else
            stream_.async_handshake(bnet::ssl::stream_base::server,
                                    [self = this->shared_from_this()](boost::system::error_code ec) {
                                        if (!ec) self->read();
                                    });
    }

private:
    void read()
    {
        parser_.emplace();
        parser_->header_limit(16 * 1024);
        parser_->body_limit(1 << 20);
        bhttp::async_read(
            stream_, buffer_, *parser_,
            [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(boost::system::error_code ec)
    {
        if (ec == bhttp::error::end_of_stream || ec == bnet::error::eof) return;
        if (ec) {
            auto const st = ec == bhttp::error::header_limit ? bhttp::status::request_header_fields_too_large
                            : ec == bhttp::error::body_limit ? bhttp::status::payload_too_large
                                                             : bhttp::status::bad_request;
            return reply(text(st, "bad request\n", 11), false);
        }
        auto& req = parser_->get();
        auto const target = std::string_view(req.target().data(), req.target().size());
        auto const path = target.substr(0, target.find('?'));
        if (path == "/echo" || path == "/broadcast" || path == "/sse" || path == "/ws") return hand_over();
        bool const keep = req.keep_alive();
        if (path == "/" || path == "/api/stats") {
            if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head)
                return reply(not_allowed("GET, HEAD", req.version()), keep);
            if (path == "/") {
                auto res = text(bhttp::status::ok, std::string(page), req.version());
                res.set(bhttp::field::content_type, "text/html; charset=utf-8");
                return reply(std::move(res), keep);
            }
            auto res = text(bhttp::status::ok,
                            "{\"rtmsg_connections\":" + std::to_string(app_.rt.connections()) +
                                ",\"handed_over\":" + std::to_string(app_.handed_over.load()) + "}",
                            req.version());
            res.set(bhttp::field::content_type, "application/json");
            return reply(std::move(res), keep);
        }
        if (path == "/publish") {
            if (req.method() != bhttp::verb::post) return reply(not_allowed("POST", req.version()), keep);
            // The host publishes into rtmsg's hub: /broadcast WebSockets and /sse streams get it.
            bool const ok = app_.rt.publish(req.body());
            bhttp::response<bhttp::string_body> res{ok ? bhttp::status::no_content : bhttp::status::bad_request,
                                                    req.version()};
            return reply(std::move(res), keep);
        }
        reply(text(bhttp::status::not_found, "no such resource\n", req.version()), keep);
    }

    /// rtmsg takes the connection, the request Beast parsed and what Beast read past it.
    void hand_over()
    {
        auto const rest = buffer_.data();
        std::string_view const already_read(static_cast<char const*>(rest.data()), rest.size());
        auto req = rtmsg::http::from_beast(parser_->get());
        ++app_.handed_over;
        if constexpr (std::is_same_v<Stream, btcp::socket>) {
            // Plain TCP: the descriptor itself moves to a standalone-Asio socket.
            boost::system::error_code ec;
            auto const v6 = stream_.local_endpoint(ec).address().is_v6();
            auto const fd = stream_.release(ec);
            if (ec) return;
            app_.rt.serve_fd(fd, v6, std::move(req), already_read);
        }
        else
            app_.rt.serve_foreign(std::make_shared<boost_io<Stream>>(std::move(stream_)), std::move(req), already_read);
    }

    static bhttp::response<bhttp::string_body> text(bhttp::status st, std::string body, unsigned version)
    {
        bhttp::response<bhttp::string_body> res{st, version};
        res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
        res.body() = std::move(body);
        return res;
    }
    static bhttp::response<bhttp::string_body> not_allowed(char const* allow, unsigned version)
    {
        auto res = text(bhttp::status::method_not_allowed, "method not allowed\n", version);
        res.set(bhttp::field::allow, allow);
        return res;
    }

    void reply(bhttp::response<bhttp::string_body> res, bool keep)
    {
        res.keep_alive(keep);
        res.prepare_payload();
        res_ = std::move(res);
        bhttp::async_write(stream_, res_,
                           [self = this->shared_from_this(), keep](boost::system::error_code ec, std::size_t) {
                               if (!ec && keep) return self->read();
                               boost::system::error_code ignored;
                               self->stream_.lowest_layer().shutdown(btcp::socket::shutdown_send, ignored);
                           });
    }

    Stream stream_;
    app& app_;
    boost::beast::flat_buffer buffer_;
    std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
    bhttp::response<bhttp::string_body> res_;
};

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);

    // The host: Beast on Boost.Asio, one thread (so each connection's handlers are serialized).
    bnet::io_context ioc(1);
    std::optional<bnet::ssl::context> tls;
    if (!a.tls_cert.empty()) {
        boost::system::error_code ec;
        tls.emplace(bnet::ssl::context::tls_server);
        tls->use_certificate_chain_file(a.tls_cert, ec);
        if (!ec) tls->use_private_key_file(a.tls_key, bnet::ssl::context::pem, ec);
        if (ec) {
            std::cerr << "rtmsg-existing-server: cannot load TLS certificate/key: " << ec.message() << "\n";
            return 2;
        }
    }
    boost::system::error_code ec;
    btcp::endpoint const ep(bnet::ip::make_address(a.host, ec), a.port);
    if (ec) {
        std::cerr << "rtmsg-existing-server: bad --host '" << a.host << "'\n";
        return 2;
    }
    btcp::acceptor acceptor(ioc);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(bnet::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(bnet::socket_base::max_listen_connections, ec);
    if (ec) {
        std::cerr << "rtmsg-existing-server: cannot listen on " << a.host << ":" << a.port << ": " << ec.message()
                  << "\n";
        return 1;
    }

    // rtmsg: its own io_context and threads, no listening socket.
    rtmsg_side rt(a.threads, a.max_message);
    app shared{rt};

    std::function<void()> accept = [&] {
        acceptor.async_accept([&](boost::system::error_code e, btcp::socket s) {
            if (e == bnet::error::operation_aborted || !acceptor.is_open()) return;
            if (!e) {
                s.set_option(btcp::no_delay(true), e);
                if (tls)
                    std::make_shared<session<bnet::ssl::stream<btcp::socket>>>(
                        bnet::ssl::stream<btcp::socket>(std::move(s), *tls), shared)
                        ->start();
                else
                    std::make_shared<session<btcp::socket>>(std::move(s), shared)->start();
            }
            accept();
        });
    };
    accept();

    // SIGINT/SIGTERM: stop accepting; rtmsg closes its connections (1001, end of SSE) while
    // the host's io_context still runs (TLS connections write through it), then the host stops.
    bnet::signal_set signals(ioc, SIGINT, SIGTERM);
    std::thread stopper;
    signals.async_wait([&](boost::system::error_code, int) {
        acceptor.close();
        stopper = std::thread([&] {
            rt.stop_and_wait();
            ioc.stop(); // the host's idle keep-alive connections go with it
        });
    });

    auto const local = acceptor.local_endpoint();
    std::cout << "listening on " << local.address().to_string() << ":" << local.port() << std::endl;
    ioc.run();
    if (stopper.joinable()) stopper.join();
    return 0;
}
