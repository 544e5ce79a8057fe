// peer-websocketpp: /echo and /broadcast of the testbed contract with websocketpp 0.8
// (config::asio, no TLS), written as its echo_server and broadcast_server examples, tuned for
// speed: all logging channels off, TCP_NODELAY, one io_service thread by default.
#include "common.hpp"

#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <set>
#include <thread>
#include <vector>

using server = websocketpp::server<websocketpp::config::asio>;
using websocketpp::connection_hdl;

int main(int argc, char** argv)
{
    auto const a = peer::parse(argc, argv, "peer-websocketpp");
    server s;
    s.clear_access_channels(websocketpp::log::alevel::all);
    s.clear_error_channels(websocketpp::log::elevel::all);
    s.init_asio();
    s.set_reuse_addr(true);
    s.set_max_message_size(a.max_message);
    s.set_listen_backlog(4096);

    std::mutex m;
    std::set<connection_hdl, std::owner_less<connection_hdl>> members;

    s.set_socket_init_handler([](connection_hdl, boost::asio::ip::tcp::socket& sock) {
        boost::system::error_code ec;
        sock.set_option(boost::asio::ip::tcp::no_delay(true), ec);
    });
    s.set_validate_handler([&](connection_hdl h) {
        auto const r = s.get_con_from_hdl(h)->get_resource();
        return r == "/echo" || r == "/broadcast";
    });
    s.set_open_handler([&](connection_hdl h) {
        if (s.get_con_from_hdl(h)->get_resource() == "/broadcast") {
            std::lock_guard<std::mutex> l(m);
            members.insert(h);
        }
    });
    s.set_close_handler([&](connection_hdl h) {
        std::lock_guard<std::mutex> l(m);
        members.erase(h);
    });
    s.set_fail_handler([&](connection_hdl h) {
        std::lock_guard<std::mutex> l(m);
        members.erase(h);
    });
    s.set_message_handler([&](connection_hdl h, server::message_ptr msg) {
        auto con = s.get_con_from_hdl(h);
        websocketpp::lib::error_code ec;
        if (con->get_resource() == "/echo") {
            con->send(msg->get_payload(), msg->get_opcode());
            return;
        }
        std::vector<connection_hdl> targets;
        {
            std::lock_guard<std::mutex> l(m);
            targets.assign(members.begin(), members.end());
        }
        for (auto const& t : targets) s.send(t, msg->get_payload(), msg->get_opcode(), ec);
    });

    boost::asio::ip::tcp::endpoint ep(boost::asio::ip::make_address(a.host), a.port);
    s.listen(ep);
    s.start_accept();
    boost::system::error_code ec;
    auto const local = s.get_local_endpoint(ec);
    boost::asio::signal_set signals(s.get_io_service(), SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code const&, int) { s.stop(); });
    std::cout << "listening on " << local.address().to_string() << ":" << local.port() << std::endl;
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < a.threads; ++i) pool.emplace_back([&] { s.run(); });
    s.run();
    for (auto& t : pool) t.join();
}
