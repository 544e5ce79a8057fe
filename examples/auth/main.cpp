// rtmsg-auth: the wire protocol behind a bearer token.  The upgrade hook
// verifies an HMAC-SHA256 JWT (OpenSSL libcrypto) and attaches its subject as
// the identity; the hub's authorization hooks let each identity subscribe and
// publish only where its token says.
//
//   rtmsg-auth --key SECRET [--port 9001] [--origin https://app.example]
//   rtmsg-auth --key SECRET --token
//   '{"sub":"alice","exp":4102444800,"pub":["chat."]}'
//
// Clients send the token as `Authorization: Bearer <jwt>` or, from a browser
// (which cannot set headers on a WebSocket), as the `access_token` query
// parameter over wss.
#include "auth.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv)
{
    std::string key, token_claims, origin;
    unsigned short port = 9001;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string const k = argv[i];
        if (k == "--key")
            key = argv[i + 1];
        else if (k == "--port")
            port = static_cast<unsigned short>(std::stoul(argv[i + 1]));
        else if (k == "--token")
            token_claims = argv[i + 1];
        else if (k == "--origin")
            origin = argv[i + 1];
        else {
            std::cerr << "unknown option " << k << "\n";
            return 2;
        }
    }
    if (key.empty()) {
        std::cerr << "usage: rtmsg-auth --key SECRET [--port 9001] [--origin "
                     "ORIGIN] | --key SECRET --token CLAIMS\n";
        return 2;
    }
    if (!token_claims.empty()) {
        std::cout << auth_example::sign_hs256(token_claims, key) << "\n";
        return 0;
    }

    asio::io_context ioc;
    auth_example::secured_app app(ioc.get_executor(), key,
                                  origin.empty() ? std::vector<std::string>{} : std::vector<std::string>{origin});
    app.server.listen({asio::ip::make_address("127.0.0.1"), port});
    std::cout << "listening on 127.0.0.1:" << app.server.local_endpoint().port() << std::endl;
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](std::error_code, int) { app.server.stop(); });
    ioc.run();
}
