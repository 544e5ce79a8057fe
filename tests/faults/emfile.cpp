// Running out of file descriptors (RLIMIT_NOFILE): the server neither crashes
// nor spins, and serves again as soon as descriptors free up.
#include <rtmsg/server/server.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

#include "support.hpp"

using namespace fault_test;

namespace {

/// Lowers the soft descriptor limit for the life of the object.
struct nofile_limit {
    explicit nofile_limit(rlim_t soft)
    {
        ::getrlimit(RLIMIT_NOFILE, &old);
        rlimit l = old;
        l.rlim_cur = std::min(soft, old.rlim_max);
        ok = ::setrlimit(RLIMIT_NOFILE, &l) == 0;
    }
    ~nofile_limit() { ::setrlimit(RLIMIT_NOFILE, &old); }
    rlimit old{};
    bool ok = false;
};

/// Holds every free descriptor (copies of /dev/null) until released.
struct fd_hog {
    fd_hog()
    {
        for (;;) {
            int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd < 0) {
                exhausted = errno == EMFILE;
                break;
            }
            fds.push_back(fd);
        }
    }
    void release(std::size_t n)
    {
        while (n-- && !fds.empty()) {
            ::close(fds.back());
            fds.pop_back();
        }
    }
    ~fd_hog() { release(fds.size()); }
    std::vector<int> fds;
    bool exhausted = false;
};

std::size_t open_descriptors()
{
    std::size_t n = 0;
    for ([[maybe_unused]] auto const& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

/// Reads until eof, for at most `limit` (a server that never accepts must not
/// hang the test).
std::string read_all_within(tcp::socket& sock, std::chrono::milliseconds limit)
{
    sock.non_blocking(true);
    std::string got;
    auto const end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        char tmp[512];
        std::error_code ec;
        auto n = sock.read_some(asio::buffer(tmp), ec);
        if (ec == asio::error::would_block) {
            std::this_thread::sleep_for(5ms);
            continue;
        }
        if (ec) break;
        got.append(tmp, n);
    }
    return got;
}

} // namespace

TEST_CASE("faults: out of descriptors, new connections get 503 at once and the server recovers", "[faults][emfile]")
{
    running_server s;
    s.server.routes().get("/x", [](auto const&, auto& res) { res.body = "served"; });
    s.start();
    // Sockets made before the limit bites, connected after.
    client warm(s.port);
    warm.send(get("/x"));
    REQUIRE(warm.response().ends_with("served")); // accepted before the limit bites
    asio::io_context cio;
    std::vector<tcp::socket> late;
    for (int i = 0; i < 3; ++i) {
        late.emplace_back(cio);
        late.back().open(tcp::v4());
    }
    nofile_limit limit(open_descriptors() + 64);
    REQUIRE(limit.ok);
    {
        fd_hog hog;
        REQUIRE(hog.exhausted);
        // The kernel completes these handshakes; the server cannot accept them (EMFILE), so
        // it refuses them through its reserve descriptor: 503 and close, at once.
        for (auto& sock : late) {
            sock.connect({asio::ip::make_address("127.0.0.1"), s.port});
            asio::write(sock, asio::buffer(get("/x", "Connection: close\r\n")));
        }
        for (auto& sock : late) {
            auto const answer = read_all_within(sock, 5s);
            CHECK(answer.starts_with("HTTP/1.1 503 "));
            CHECK(answer.find("Retry-After: 1") != std::string::npos);
        }
        // An open connection is still served: no descriptor needed.
        warm.send(get("/x"));
        CHECK(warm.response().ends_with("served"));
        hog.release(16);
    }
    // Descriptors free up: new connections are served again.
    client after(s.port);
    after.send(get("/x"));
    CHECK(after.response().ends_with("served"));
}
