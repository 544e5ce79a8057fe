// peer-beast: /echo and /broadcast of the testbed contract with Boost.Beast, written the way
// Beast's own examples do it (advanced_server, websocket-chat-multi), tuned for speed:
// plain tcp::socket (no tcp_stream timers), TCP_NODELAY, no auto-fragmentation, no
// permessage-deflate, one strand-free io_context per thread count 1, broadcast messages
// shared between sessions (one std::string per message, a queue of shared_ptrs per session).
#include "common.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

class session;

struct shared_state {
    std::mutex m;
    std::unordered_set<session*> members;
    std::size_t max_message = 0;
    void join(session* s)
    {
        std::lock_guard<std::mutex> l(m);
        members.insert(s);
    }
    void leave(session* s)
    {
        std::lock_guard<std::mutex> l(m);
        members.erase(s);
    }
    void broadcast(std::shared_ptr<std::string const> const& msg, bool text);
};

struct out_msg {
    std::shared_ptr<std::string const> data;
    bool text;
};

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& s, std::shared_ptr<shared_state> st) : ws_(std::move(s)), state_(std::move(st)) {}
    ~session()
    {
        if (broadcast_) state_->leave(this);
    }

    void run()
    {
        http::async_read(ws_.next_layer(), buffer_, req_,
                         [self = shared_from_this()](error_code ec, std::size_t) { self->on_request(ec); });
    }

    /// Queues a shared broadcast message (from any thread).
    void send(std::shared_ptr<std::string const> const& msg, bool text)
    {
        net::post(ws_.get_executor(), [self = shared_from_this(), msg, text] {
            self->queue_.push_back({msg, text});
            if (self->queue_.size() == 1) self->write_next();
        });
    }

private:
    void on_request(error_code ec)
    {
        if (ec || !websocket::is_upgrade(req_)) return;
        auto const target = req_.target();
        if (target == "/echo")
            broadcast_ = false;
        else if (target == "/broadcast")
            broadcast_ = true;
        else
            return;
        ws_.auto_fragment(false);
        ws_.read_message_max(state_->max_message);
        ws_.async_accept(req_, [self = shared_from_this()](error_code ec) {
            if (ec) return;
            if (self->broadcast_) self->state_->join(self.get());
            self->read();
        });
    }

    void read()
    {
        ws_.async_read(buffer_, [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
    }

    void on_read(error_code ec, std::size_t)
    {
        if (ec) return;
        if (!broadcast_) {
            // Echo: write the message back from the read buffer, then read the next one.
            ws_.text(ws_.got_text());
            ws_.async_write(buffer_.data(), [self = shared_from_this()](error_code ec, std::size_t) {
                if (ec) return;
                self->buffer_.clear();
                self->read();
            });
            return;
        }
        auto msg = std::make_shared<std::string const>(beast::buffers_to_string(buffer_.data()));
        buffer_.clear();
        state_->broadcast(msg, ws_.got_text());
        read();
    }

    void write_next()
    {
        ws_.text(queue_.front().text);
        ws_.async_write(net::buffer(*queue_.front().data), [self = shared_from_this()](error_code ec, std::size_t) {
            if (ec) return;
            self->queue_.pop_front();
            if (!self->queue_.empty()) self->write_next();
        });
    }

    websocket::stream<tcp::socket> ws_;
    std::shared_ptr<shared_state> state_;
    beast::flat_buffer buffer_;
    http::request<http::string_body> req_;
    std::deque<out_msg> queue_;
    bool broadcast_ = false;
};

void shared_state::broadcast(std::shared_ptr<std::string const> const& msg, bool text)
{
    // Keep the sessions alive while sending, outside the lock.
    std::vector<std::weak_ptr<session>> targets;
    {
        std::lock_guard<std::mutex> l(m);
        targets.reserve(members.size());
        for (auto* s : members) targets.push_back(s->weak_from_this());
    }
    for (auto const& w : targets)
        if (auto s = w.lock()) s->send(msg, text);
}

class listener : public std::enable_shared_from_this<listener> {
public:
    listener(net::io_context& ioc, tcp::endpoint ep, std::shared_ptr<shared_state> st)
        : ioc_(ioc), acceptor_(ioc), state_(std::move(st))
    {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(net::socket_base::max_listen_connections);
    }
    tcp::endpoint local() const { return acceptor_.local_endpoint(); }
    void run() { accept(); }

private:
    void accept()
    {
        acceptor_.async_accept(net::make_strand(ioc_), [self = shared_from_this()](error_code ec, tcp::socket s) {
            if (!ec) {
                s.set_option(tcp::no_delay(true), ec);
                std::make_shared<session>(std::move(s), self->state_)->run();
            }
            self->accept();
        });
    }
    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    std::shared_ptr<shared_state> state_;
};

} // namespace

int main(int argc, char** argv)
{
    auto const a = peer::parse(argc, argv, "peer-beast");
    net::io_context ioc(static_cast<int>(a.threads));
    auto state = std::make_shared<shared_state>();
    state->max_message = a.max_message;
    auto l = std::make_shared<listener>(ioc, tcp::endpoint(net::ip::make_address(a.host), a.port), state);
    l->run();
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](error_code, int) { ioc.stop(); });
    auto const ep = l->local();
    std::cout << "listening on " << ep.address().to_string() << ":" << ep.port() << std::endl;
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < a.threads; ++i) pool.emplace_back([&] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
}
