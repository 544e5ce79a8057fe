#pragma once
// What the examples' main() functions do alike: read `--flag value` arguments and turn --host /
// --port into an endpoint, with the same messages everywhere.  Example code, not library API.
#include <asio/ip/tcp.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg_example {

/** Reads the command line: `on(flag, value)` handles one argument, calling `value()` for the
    word after the flag if it takes one, and returns false for a flag it does not know.
    `--help` calls `usage(0)`; an unknown flag, a missing value or one that does not parse (an
    exception from `on`, such as std::stoul's) calls `usage(2)`, which must not return. */
template <class Usage, class Handler>
void parse_flags(int argc, char** argv, Usage&& usage, Handler&& on)
{
    auto quit = [&](int code) {
        usage(code);
        std::exit(code); // in case it returned
    };
    for (int i = 1; i < argc; ++i) {
        std::string const flag = argv[i];
        if (flag == "--help" || flag == "-h") quit(0);
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) quit(2);
            return argv[++i];
        };
        bool known = false;
        try {
            known = on(flag, value);
        }
        catch (std::exception const&) {
            quit(2);
        }
        if (!known) quit(2);
    }
}

/// The endpoint of `--host` and `--port`; on a bad host, says so as `program` and exits 2.
inline asio::ip::tcp::endpoint endpoint_of(std::string_view program, std::string const& host, unsigned short port)
{
    std::error_code ec;
    auto const address = asio::ip::make_address(host, ec);
    if (ec) {
        std::cerr << program << ": bad --host '" << host << "': " << ec.message() << "\n";
        std::exit(2);
    }
    return {address, port};
}

/// Says why listening failed, as `program`; returns the exit code (1).
inline int cannot_listen(std::string_view program, std::string const& host, unsigned short port, std::error_code ec)
{
    std::cerr << program << ": cannot listen on " << host << ":" << port << ": " << ec.message() << "\n";
    return 1;
}

} // namespace rtmsg_example
