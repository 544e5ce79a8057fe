// rtmsg-client: a command-line client for rtmsg servers.
//
//   rtmsg-client subscribe ws://127.0.0.1:9001/ws 'prices.*' [more topics...]   print messages
//   rtmsg-client publish   ws://127.0.0.1:9001/ws chat.lobby 'hello'            publish, print the offset
//   rtmsg-client sse       'http://127.0.0.1:9001/sse?topic=prices.*'           print SSE events
//
// Options (before the command): --binary (rtmsg.binary codec), --json (publish the text as
// JSON data), --ca FILE (trust this CA for wss/https), --insecure (no certificate checks),
// --count N (subscribe/sse: exit after N messages).  It reconnects and resumes by itself.
#include <rtmsg/hub/client.hpp>
#include <rtmsg/sse/client.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace {

struct args {
    bool binary = false;
    bool json = false;
    long count = -1;
    rtmsg::client::tls_options tls;
    std::vector<std::string> rest;
};

int usage()
{
    std::cerr << "usage: rtmsg-client [--binary] [--json] [--ca FILE] [--insecure] [--count N]\n"
                 "                    subscribe URL TOPIC... | publish URL TOPIC TEXT | sse URL\n";
    return 2;
}

template <class Codec>
int run_hub(asio::io_context& ioc, args const& a)
{
    rtmsg::hub_client_options o;
    o.ws.connect.tls = a.tls;
    o.on_state = [](rtmsg::hub_client_state s) {
        static char const* const names[] = {"idle", "connecting", "open", "reconnecting", "closed"};
        std::cerr << "[" << names[static_cast<int>(s)] << "]\n";
    };
    o.on_gap = [](rtmsg::hub_gap const& g) {
        std::cerr << "[gap " << g.topic << " " << g.from << ".." << g.to << "]\n";
    };
    o.on_error = [](std::error_code ec, std::string_view what) {
        std::cerr << "[" << what << ": " << ec.message() << "]\n";
    };
    rtmsg::hub_client<Codec> client(ioc.get_executor(), a.rest[1], o);
    int status = 0;
    long seen = 0;
    if (a.rest[0] == "subscribe") {
        for (std::size_t i = 2; i < a.rest.size(); ++i) {
            client.async_subscribe(
                a.rest[i],
                [&](rtmsg::hub_client_message const& m) {
                    std::cout << m.topic << " " << m.offset << " " << m.data << std::endl;
                    if (a.count > 0 && ++seen >= a.count) client.close();
                },
                {},
                [&, topic = a.rest[i]](std::error_code ec, rtmsg::hub_subscribed) {
                    if (!ec) return;
                    std::cerr << "subscribe " << topic << ": " << ec.message() << "\n";
                    status = 1;
                    client.close();
                });
        }
    }
    else {
        rtmsg::hub_publish_options po;
        po.kind = a.json ? rtmsg::codec::data_kind::json : rtmsg::codec::data_kind::text;
        client.async_publish(a.rest[2], a.rest[3], po, [&](std::error_code ec, std::uint64_t offset) {
            if (ec) {
                std::cerr << "publish: " << ec.message() << "\n";
                status = 1;
            }
            else
                std::cout << "published " << a.rest[2] << " offset " << offset << std::endl;
            client.close();
        });
    }
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { client.close(); });
    client.start();
    while (client.state() != rtmsg::hub_client_state::closed && ioc.run_one()) {}
    signals.cancel();
    return status;
}

int run_sse(asio::io_context& ioc, args const& a)
{
    rtmsg::sse::client_options o;
    o.connect.tls = a.tls;
    rtmsg::sse::client client(ioc.get_executor(), a.rest[1], o);
    rtmsg::sse::received_event ev;
    long seen = 0;
    int status = 0;
    std::function<void(std::error_code)> on_event = [&](std::error_code ec) {
        if (ec) {
            if (ec != rtmsg::sse::error::closed) {
                std::cerr << "sse: " << ec.message() << "\n";
                status = 1;
            }
            return;
        }
        std::cout << (ev.id.empty() ? "-" : ev.id) << " " << ev.type << " " << ev.data << std::endl;
        if (a.count > 0 && ++seen >= a.count) return client.close();
        client.async_read(ev, on_event);
    };
    client.async_read(ev, on_event);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { client.close(); });
    while (client.state() != rtmsg::sse::client_state::closed && ioc.run_one()) {}
    signals.cancel();
    ioc.poll();
    return status;
}

} // namespace

int main(int argc, char** argv)
{
    args a;
    for (int i = 1; i < argc; ++i) {
        std::string const s = argv[i];
        if (s == "--binary")
            a.binary = true;
        else if (s == "--json")
            a.json = true;
        else if (s == "--insecure") {
            a.tls.insecure_skip_verification = true;
            std::cerr << "WARNING: --insecure: the server's certificate is not verified\n";
        }
        else if (s == "--ca" && i + 1 < argc)
            a.tls.ca_file = argv[++i];
        else if (s == "--count" && i + 1 < argc)
            a.count = std::stol(argv[++i]);
        else
            a.rest.push_back(s);
    }
    if (a.rest.size() < 2) return usage();
    asio::io_context ioc;
    auto const& cmd = a.rest[0];
    if (cmd == "sse" && a.rest.size() == 2) return run_sse(ioc, a);
    if ((cmd == "subscribe" && a.rest.size() >= 3) || (cmd == "publish" && a.rest.size() == 4))
        return a.binary ? run_hub<rtmsg::codec::binary>(ioc, a) : run_hub<rtmsg::codec::json>(ioc, a);
    return usage();
}
