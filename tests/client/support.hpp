#pragma once
// Helpers for the client tests: drive an io_context until an operation completes, run
// third-party peers as child processes, raw loopback servers, a throw-away test CA.
#include <rtmsg/websocket/client.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/write.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace client_test {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

/// Runs `ioc` until `done()` or until `limit` passes; returns done().
template <class Pred>
bool run_until(asio::io_context& ioc, Pred done, std::chrono::milliseconds limit = 10s)
{
    auto const deadline = std::chrono::steady_clock::now() + limit;
    ioc.restart();
    while (!done() && std::chrono::steady_clock::now() < deadline) ioc.run_one_for(20ms);
    return done();
}

/// Starts `start(handler)` and runs `ioc` until the handler ran; returns its error code.
template <class Start>
std::error_code wait(asio::io_context& ioc, Start start, std::chrono::milliseconds limit = 10s)
{
    std::optional<std::error_code> r;
    start([&r](std::error_code ec, auto&&...) { r = ec; });
    REQUIRE(run_until(
        ioc, [&] { return r.has_value(); }, limit));
    return *r;
}

/// Reads one message from `ws` into a string.
inline std::error_code read_message(asio::io_context& ioc, rtmsg::websocket::client_stream& ws, std::string& out)
{
    out.clear();
    return wait(ioc, [&](auto h) {
        auto b = asio::dynamic_buffer(out);
        ws.async_read(b, std::move(h));
    });
}

/// A child process (a peer server) whose first stdout line is read; killed on destruction.
class child {
public:
    explicit child(std::vector<std::string> argv, std::vector<std::string> env = {})
    {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::dup2(fds[1], 1);
            ::close(fds[0]);
            ::close(fds[1]);
            for (auto& e : env) ::putenv(e.data());
            std::vector<char*> args;
            for (auto& a : argv) args.push_back(a.data());
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        out_ = fds[0];
    }
    ~child() { stop(); }
    child(child const&) = delete;
    child& operator=(child const&) = delete;

    /// The next line the child printed (waits up to `limit`); empty on timeout or EOF.
    std::string line(std::chrono::milliseconds limit = 20s)
    {
        auto const deadline = std::chrono::steady_clock::now() + limit;
        for (;;) {
            if (auto nl = buf_.find('\n'); nl != std::string::npos) {
                auto l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return l;
            }
            auto const left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return {};
            pollfd p{out_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
            char tmp[512];
            auto const n = ::read(out_, tmp, sizeof tmp);
            if (n <= 0) return {};
            buf_.append(tmp, static_cast<std::size_t>(n));
        }
    }
    /// Suspends (SIGSTOP) or resumes (SIGCONT) the child: a server that stops answering.
    void pause() { ::kill(pid_, SIGSTOP); }
    void resume() { ::kill(pid_, SIGCONT); }
    void stop()
    {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGCONT);
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        ::close(out_);
        pid_ = -1;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    std::string buf_;
};

/** Stops `srv` (a net_test::running_server) the way a server shuts down, and waits until
    `hub` has let go of every connection, so that the hub can outlive the server.  (Destroying
    a running server outright leaves its connections registered in the hub: see the report.) */
template <class Server, class Hub>
void stop_server(Server& srv, Hub& hub, asio::io_context* pump = nullptr)
{
    // The clients of `pump` must keep running meanwhile, to answer the server's close frames.
    auto idle = [pump] {
        if (!pump) return std::this_thread::sleep_for(10ms);
        pump->restart();
        if (pump->run_for(10ms) == 0) std::this_thread::sleep_for(10ms); // nothing to do yet
    };
    std::promise<void> stopped;
    auto done = stopped.get_future();
    asio::post(srv.ioc, [&] {
        srv.server.stop();
        stopped.set_value();
    });
    while (done.wait_for(0ms) != std::future_status::ready) idle();
    for (int i = 0; i < 500 && hub.metrics().connections != 0; ++i) idle();
    CHECK(hub.metrics().connections == 0); // CHECK: this also runs in destructors
}

/// A peer script under tests/client/peers.
inline std::string peer(std::string const& name)
{
    return std::string(RTMSG_TEST_PEERS_DIR) + "/" + name;
}

/// A raw loopback server: runs `session(socket)` (blocking I/O) for each of `count`
/// connections on its own thread.
class raw_server {
public:
    explicit raw_server(std::function<void(tcp::socket&)> session, int count = 1)
        : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0})
    {
        port = acceptor_.local_endpoint().port();
        thread_ = std::thread([this, session = std::move(session), count] {
            for (int i = 0; i < count; ++i) {
                tcp::socket s(ioc_);
                std::error_code ec;
                acceptor_.accept(s, ec);
                if (ec) return;
                try {
                    session(s);
                }
                catch (std::exception const&) {
                }
            }
        });
    }
    ~raw_server()
    {
        std::error_code ignored;
        acceptor_.close(ignored);
        // Wake a blocked accept() by connecting to it.
        {
            tcp::socket s(ioc_);
            s.connect({asio::ip::make_address("127.0.0.1"), port}, ignored);
        }
        if (thread_.joinable()) thread_.join();
    }
    /// Waits until the sessions are over (what they wrote may then be read).
    void join()
    {
        if (thread_.joinable()) thread_.join();
    }
    unsigned short port = 0;
    std::string url(std::string_view path = "/") const
    {
        return "ws://127.0.0.1:" + std::to_string(port) + std::string(path);
    }

private:
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::thread thread_;
};

/// Reads a request head from `s`; returns it (including the blank line).
inline std::string read_head(tcp::socket& s, std::string& buf)
{
    auto const n = asio::read_until(s, asio::dynamic_buffer(buf), "\r\n\r\n");
    auto head = buf.substr(0, n);
    buf.erase(0, n);
    return head;
}

/// The value of header `name` (exact case) in `head`.
inline std::string header(std::string const& head, std::string const& name)
{
    auto p = head.find(name + ": ");
    if (p == std::string::npos) return {};
    p += name.size() + 2;
    return head.substr(p, head.find("\r\n", p) - p);
}

/// A 101 answer to `head` (correct unless told otherwise).
inline std::string upgrade_response(std::string const& head, std::string extra = {})
{
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
           rtmsg::websocket::accept_key(header(head, "Sec-WebSocket-Key")) + "\r\n" + extra + "\r\n";
}

/// A throw-away CA and a server certificate for "localhost" only, made with the openssl CLI.
struct test_pki {
    std::filesystem::path dir;
    std::string ca, cert, key;

    test_pki()
    {
        char tmpl[] = "/tmp/rtmsg-client-pki-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
        auto const d = dir.string();
        std::string const o = RTMSG_TEST_OPENSSL;
        REQUIRE(!o.empty());
        auto run = [](std::string const& cmd) { REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0); };
        run(o +
            " req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=rtmsg-test-ca"
            " -keyout " +
            d + "/ca.key -out " + d + "/ca.pem");
        run(o + " req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -keyout " + d +
            "/srv.key -out " + d + "/srv.csr");
        run("printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > " + d + "/ext");
        run(o + " x509 -req -days 2 -in " + d + "/srv.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -extfile " + d + "/ext -out " + d + "/srv.pem");
        ca = d + "/ca.pem";
        cert = d + "/srv.pem";
        key = d + "/srv.key";
    }
    ~test_pki()
    {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
    }
};

} // namespace client_test
