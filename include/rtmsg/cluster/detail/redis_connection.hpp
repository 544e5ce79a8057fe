#pragma once
// One connection to Redis over an Asio socket (plain TCP or TLS): commands are formatted and
// replies parsed by hiredis (its RESP reader and command formatter), never by hand.
#include <rtmsg/client/socket.hpp>

#include <hiredis/hiredis.h>

#include <asio/post.hpp>
#include <asio/write.hpp>

#include <array>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rtmsg::cluster::detail {

/// Where and how to reach Redis (a subset of redis_options).
struct redis_endpoint {
    std::string host;
    std::uint16_t port = 6379;
    bool tls = false;
    client::connect_options connect;
    std::string username;
    std::string password;
};

/// Reads a reply's string (status, string, error or integer as text).
inline std::string_view reply_text(redisReply const* r) noexcept
{
    if (!r || !r->str) return {};
    return {r->str, r->len};
}

/** A Redis connection.  Commands are pipelined; each reply goes to its command's handler in
    order, or, in push mode (a subscriber connection), to the push handler.  A handler gets
    nullptr when the connection is lost before its reply.  Not thread safe: use it on one
    strand, its executor's. */
class redis_connection : public std::enable_shared_from_this<redis_connection> {
public:
    using reply_handler = std::function<void(redisReply*)>;

    explicit redis_connection(asio::any_io_executor ex) : sock_(std::move(ex)), reader_(redisReaderCreate()) {}
    ~redis_connection()
    {
        if (reader_) redisReaderFree(reader_);
    }
    redis_connection(redis_connection const&) = delete;
    redis_connection& operator=(redis_connection const&) = delete;

    /// Replies that no command waits for (subscriber connections: messages, confirmations).
    void on_push(reply_handler h) { push_ = std::move(h); }
    /// The connection failed or was closed by the peer (once).
    void on_lost(std::function<void(std::error_code)> h) { lost_ = std::move(h); }

    /// Connects, then authenticates if a password is set; `done` gets the outcome.
    void connect(redis_endpoint const& ep, std::function<void(std::error_code)> done)
    {
        client::url u;
        u.scheme = ep.tls ? "wss" : "ws"; // only `secure` and the host matter to async_connect
        u.host = ep.host;
        u.port = ep.port;
        u.secure = ep.tls;
        u_ = u;
        client::async_connect(sock_, u_, ep.connect,
                              [self = shared_from_this(), ep, done = std::move(done)](std::error_code ec) mutable {
                                  if (ec || self->closed_) return done(ec ? ec : asio::error::operation_aborted);
                                  self->read();
                                  if (ep.password.empty()) return done({});
                                  std::vector<std::string_view> args{"AUTH"};
                                  if (!ep.username.empty()) args.push_back(ep.username);
                                  args.push_back(ep.password);
                                  self->command(args, [done = std::move(done)](redisReply* r) {
                                      if (!r) return done(asio::error::connection_aborted);
                                      if (r->type == REDIS_REPLY_ERROR) return done(asio::error::access_denied);
                                      done({});
                                  });
                              });
    }

    /// Sends a command; `h` (may be empty) gets its reply.  Formats with hiredis.
    void command(std::vector<std::string_view> const& args, reply_handler h) { send(args, std::move(h), true); }

    /// Sends a command whose replies arrive as pushes (SUBSCRIBE and friends).
    void push_command(std::vector<std::string_view> const& args) { send(args, nullptr, false); }

    bool is_open() const noexcept { return !closed_ && sock_.next_layer().is_open(); }

    /// Closes now; handlers still waiting get nullptr.
    void close()
    {
        if (closed_) return;
        closed_ = true;
        // Close the TCP socket only: pending operations complete with operation_aborted and
        // still use the TLS state, which goes with this object (their handlers own it).
        std::error_code ignored;
        sock_.next_layer().close(ignored);
        push_ = nullptr; // they may own the connection's owner
        lost_ = nullptr;
        fail_waiting();
    }

private:
    void send(std::vector<std::string_view> const& args, reply_handler h, bool expect_reply)
    {
        if (closed_) {
            if (h) asio::post(sock_.get_executor(), [h = std::move(h)] { h(nullptr); });
            return;
        }
        std::vector<char const*> argv;
        std::vector<std::size_t> lens;
        argv.reserve(args.size());
        lens.reserve(args.size());
        for (auto a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        char* cmd = nullptr;
        int const n = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
        if (n < 0 || !cmd) {
            if (h) asio::post(sock_.get_executor(), [h = std::move(h)] { h(nullptr); });
            return;
        }
        pending_.append(cmd, static_cast<std::size_t>(n));
        redisFreeCommand(cmd);
        if (expect_reply) {
            waiting_.push_back(std::move(h));
            ++expected_;
        }
        write();
    }

    void write()
    {
        if (writing_ || pending_.empty() || closed_) return;
        writing_ = true;
        out_.swap(pending_);
        pending_.clear();
        asio::async_write(sock_, asio::buffer(out_), [self = shared_from_this()](std::error_code ec, std::size_t) {
            self->writing_ = false;
            self->out_.clear();
            if (ec) return self->lose(ec);
            self->write();
        });
    }

    void read()
    {
        if (closed_) return;
        sock_.async_read_some(asio::buffer(in_), [self = shared_from_this()](std::error_code ec, std::size_t n) {
            if (ec) return self->lose(ec);
            if (self->closed_) return;
            if (redisReaderFeed(self->reader_, self->in_.data(), n) != REDIS_OK)
                return self->lose(asio::error::invalid_argument);
            for (;;) {
                void* reply = nullptr;
                if (redisReaderGetReply(self->reader_, &reply) != REDIS_OK)
                    return self->lose(asio::error::invalid_argument);
                if (!reply) break;
                std::unique_ptr<redisReply, void (*)(void*)> r(static_cast<redisReply*>(reply), freeReplyObject);
                if (self->expected_ > 0) {
                    --self->expected_;
                    auto h = std::move(self->waiting_.front());
                    self->waiting_.pop_front();
                    if (h) h(r.get());
                }
                else if (self->push_)
                    self->push_(r.get());
                if (self->closed_) return;
            }
            self->read();
        });
    }

    void lose(std::error_code ec)
    {
        if (closed_) return;
        auto l = std::move(lost_);
        close();
        if (l) l(ec);
    }

    void fail_waiting()
    {
        auto w = std::move(waiting_);
        waiting_.clear();
        expected_ = 0;
        for (auto& h : w)
            if (h) h(nullptr);
    }

    client::socket sock_;
    client::url u_;
    redisReader* reader_;
    std::array<char, 64 * 1024> in_{};
    std::string pending_, out_;
    bool writing_ = false;
    bool closed_ = false;
    std::deque<reply_handler> waiting_;
    std::size_t expected_ = 0;
    reply_handler push_;
    std::function<void(std::error_code)> lost_;
};

} // namespace rtmsg::cluster::detail
