// The testbed command line shared by the peer servers.
#pragma once
#include <cstdlib>
#include <iostream>
#include <string>

namespace peer {

struct args {
    std::string host = "127.0.0.1";
    unsigned short port = 9001;
    unsigned threads = 1;
    std::size_t max_message = 16u << 20;
};

inline args parse(int argc, char** argv, char const* name)
{
    args a;
    auto usage = [&](int code) {
        (code ? std::cerr : std::cout) << "usage: " << name
                                       << " [--host 127.0.0.1] [--port 9001] [--threads 1] [--max-message N]\n";
        std::exit(code);
    };
    for (int i = 1; i < argc; ++i) {
        std::string const k = argv[i];
        if (k == "--help" || k == "-h") usage(0);
        if (i + 1 >= argc) usage(2);
        std::string const v = argv[++i];
        try {
            if (k == "--host")
                a.host = v;
            else if (k == "--port")
                a.port = static_cast<unsigned short>(std::stoul(v));
            else if (k == "--threads")
                a.threads = static_cast<unsigned>(std::stoul(v));
            else if (k == "--max-message")
                a.max_message = std::stoull(v);
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

} // namespace peer
