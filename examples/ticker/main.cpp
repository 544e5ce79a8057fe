// rtmsg-ticker: a simulated market-data feed with its own browser UI (examples/ticker/www).
//
// What it shows of the library:
//   - hub.publish from C++: a price engine on an Asio timer publishes ~200 updates/s to one
//     topic per symbol (prices.AAPL, prices.MSFT, ...);
//   - sse_endpoint with a wildcard: GET /sse streams `prices.*` to EventSource; a reconnect
//     (Last-Event-ID) resumes after the last event seen;
//   - protocol_endpoint: the same topics over WebSocket for rtmsg.js (`subscribe('prices.*')`);
//   - topic_options: keep-latest for prices, so a slow or backgrounded tab gets the newest
//     price of each symbol, never a growing backlog.
//
//   rtmsg-ticker [--host 127.0.0.1] [--port 8090] [--rate 200] [--www DIR] [--js DIR]
#include <rtmsg/server/server.hpp>
#include <rtmsg/server/hub_protocol.hpp>

#include "../common/cli.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#ifndef RTMSG_TICKER_SOURCE_DIR
#define RTMSG_TICKER_SOURCE_DIR "."
#endif

namespace {

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 8090;
    unsigned rate = 200; // updates per second, across all symbols
    std::string www = RTMSG_TICKER_SOURCE_DIR "/www";
    std::string js = RTMSG_TICKER_SOURCE_DIR "/../../js";
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-ticker [--host 127.0.0.1] [--port 8090] [--rate 200] [--www DIR] [--js DIR]\n";
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
        else if (k == "--rate")
            a.rate = static_cast<unsigned>(std::stoul(value()));
        else if (k == "--www")
            a.www = value();
        else if (k == "--js")
            a.js = value();
        else
            return false;
        return true;
    });
    if (a.rate == 0) a.rate = 1;
    return a;
}

/// A random walk per symbol; every tick moves a few of them and publishes each move.
class price_engine {
public:
    price_engine(asio::io_context& ioc, rtmsg::hub& hub, unsigned rate) : timer_(ioc), hub_(hub), rate_(rate)
    {
        char const* names[] = {"AAPL", "MSFT", "GOOG", "AMZN", "META", "NVDA", "TSLA", "AMD",  "INTC", "ORCL",
                               "IBM",  "CSCO", "ADBE", "CRM",  "NFLX", "PYPL", "QCOM", "TXN",  "AVGO", "MU",
                               "SHOP", "UBER", "LYFT", "SNAP", "PINS", "SQ",   "COIN", "PLTR", "SNOW", "NET",
                               "DDOG", "ZM",   "DOCU", "TWLO", "OKTA", "CRWD", "PANW", "FTNT", "ABNB", "DASH",
                               "RBLX", "U",    "SPOT", "SONY", "TM",   "BABA", "JD",   "NIO",  "ARM",  "ASML"};
        std::uniform_real_distribution<double> start(20, 500);
        for (auto const* n : names) symbols_.push_back({n, start(rng_), 0});
        for (auto& s : symbols_) s.open = s.price;
    }

    void start() { tick(std::chrono::steady_clock::now()); }
    void stop() { timer_.cancel(); }

    /// The symbols, for the page's table before the first update arrives.
    std::string symbols_json() const
    {
        std::string out = "[";
        for (auto const& s : symbols_) out += (out.size() > 1 ? ",\"" : "\"") + s.name + "\"";
        return out + "]";
    }

private:
    struct symbol {
        std::string name;
        double price, open;
    };

    // Every 10 ms, publish rate/100 updates (at least one): 200/s by default.
    void tick(std::chrono::steady_clock::time_point when)
    {
        auto const per_tick = std::max(1u, rate_ / 100);
        std::uniform_int_distribution<std::size_t> pick(0, symbols_.size() - 1);
        std::normal_distribution<double> move(0, 0.0008); // 0.08% per move
        auto const now_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        for (unsigned i = 0; i < per_tick; ++i) {
            auto& s = symbols_[pick(rng_)];
            s.price = std::max(1.0, s.price * (1 + move(rng_)));
            char payload[160];
            std::snprintf(payload, sizeof payload, R"({"s":"%s","p":%.2f,"o":%.2f,"t":%lld})", s.name.c_str(), s.price,
                          s.open, static_cast<long long>(now_ms));
            hub_.publish("prices." + s.name, payload, rtmsg::codec::data_kind::json);
        }
        when += std::chrono::milliseconds(rate_ >= 100 ? 10 : 1000 / rate_);
        timer_.expires_at(when);
        timer_.async_wait([this, when](std::error_code ec) {
            if (!ec) tick(when);
        });
    }

    asio::steady_timer timer_;
    rtmsg::hub& hub_;
    unsigned rate_;
    std::mt19937 rng_{std::random_device{}()};
    std::vector<symbol> symbols_;
};

} // namespace

int main(int argc, char** argv)
{
    auto const a = parse(argc, argv);
    asio::io_context ioc;
    rtmsg::http::server server(ioc.get_executor());

    rtmsg::hub_options opt;
    opt.topic_config = [](std::string_view) {
        rtmsg::topic_options t;
        t.history_count = 1; // the latest price: what a (re)connecting page needs
        t.policy = rtmsg::slow_consumer_policy::keep_latest;
        return t;
    };
    opt.queue.max_messages = 256; // a tab that falls this far behind gets coalesced prices
    opt.can_publish = [](rtmsg::peer_info const&, std::string_view) { return false; }; // read-only
    rtmsg::hub hub(opt);
    price_engine engine(ioc, hub, a.rate);

    // SSE: every price as {"op":"msg","topic":"prices.AAPL","data":{...},"offset":..,"epoch":..};
    // `id:` orders all topics, so Last-Event-ID resumes the whole stream.
    rtmsg::sse_endpoint_options prices;
    prices.topic = "prices.*";
    server.routes().sse("/sse", rtmsg::sse_endpoint(hub, prices));
    // WebSocket: the rtmsg protocol; the page subscribes to prices.* with rtmsg.js.
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    server.routes().get("/symbols.json", [&](rtmsg::http::request const&, rtmsg::http::response& res) {
        res.headers.add("Content-Type", "application/json");
        res.body = engine.symbols_json();
    });
    server.routes().get("/metrics", rtmsg::metrics_handler(hub));
    server.routes().static_files("/js", std::filesystem::weakly_canonical(a.js)); // /js/rtmsg.js
    server.routes().static_files("/", std::filesystem::weakly_canonical(a.www));

    std::error_code ec;
    server.listen(rtmsg_example::endpoint_of("rtmsg-ticker", a.host, a.port), ec);
    if (ec) return rtmsg_example::cannot_listen("rtmsg-ticker", a.host, a.port, ec);
    engine.start();

    // Ctrl-C: stop the engine and the server (SSE streams end), then run() returns.
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) {
        engine.stop();
        server.stop();
    });

    auto const local = server.local_endpoint();
    std::cout << "rtmsg-ticker: open http://" << local.address().to_string() << ":" << local.port() << "/" << std::endl;
    ioc.run();
    return 0;
}
