// rtmsg-load: a load generator for any server that implements the testbed contract
// (../shared/testbed.md): /echo, /broadcast, /sse.  One thread, raw Asio sockets (echo: its
// own level-triggered epoll loop over the open sockets, Linux) and a minimal client-side
// framing (pre-masked frames written by gathered writes, reads of up to 256 KiB parsed in
// place), so that on one core it outruns the server it measures; it reports its own CPU use
// (client_cpu) so that a saturated client is visible.
//
//   rtmsg-load echo     --port 9001 --conns 100 --depth 16 --size 32 --duration 5
//   rtmsg-load fanout   --port 9001 --conns 1000 --publishers 1 --size 64 [--rate 0] [--window 64]
//   rtmsg-load fanout   --port 9002 --pub-port 9001 --conns 1000 ...   (cross-node: see below)
//   rtmsg-load sse      --port 9001 --conns 1000 --publishers 1 --size 64
//   rtmsg-load connrate --port 9001 --count 20000 --conns 64
//   rtmsg-load idle     --port 9001 --count 10000 --path /echo|/sse --server-pid PID
//
// permessage-deflate (built with zlib): --deflate makes the WebSocket connections offer it
// (as a browser does: `permessage-deflate; client_max_window_bits`) and inflate what comes
// back compressed; fanout then reports the bytes on the wire per delivered message
// (wire_bytes_per_msg).  --ticker fills them with market-data updates instead; --json fills fan-out payloads with chat-like JSON text (different
// words per message) instead of 'x' padding, which compresses as real traffic does.  idle
// --deflate --size N: every connection first echoes one compressed message of N bytes, so
// that the server holds whatever compression state it keeps for an idle connection;
// --settle SEC waits that long before measuring (the server gives state back on keepalive ticks).
//
// Every scenario is bounded in time (--duration, plus --timeout for setup) and count, and
// connects to --host (loopback by default).  With --server-pid the server's CPU time
// (/proc/PID/stat utime+stime) over the measured window is reported, per delivered message.
// The last line of output is `RESULT key=value ...` for scripts.
//
// Cross-node fan-out (fanout and sse with --pub-port, optionally --pub-host): the subscribers
// connect to --host:--port (node B) while the publishers are separate /broadcast connections
// to --pub-host:--pub-port (node A), e.g. two rtmsg-testbed --redis sharing one Redis.  Every
// figure is measured as in the single-node scenario (delivered/s, send-to-receive latency,
// lost/dup per subscriber); flat out, publisher p's window is closed by subscriber p on B
// seeing its messages (single node: by the publisher seeing its own).  --server-pid is B,
// --pub-server-pid A (reported as pub_server_cpu).
#include <asio/connect.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#if defined(RTMSG_LOAD_WITH_ZLIB)
#include <zlib.h>
#endif

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

std::uint64_t now_ns()
{
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch()).count());
}

// ---- options ------------------------------------------------------------------------------

struct options {
    std::string scenario;
    std::string host = "127.0.0.1";
    unsigned short port = 9001;
    std::string path;      // default per scenario
    int conns = 100;       // connections (echo), subscribers (fanout, sse), concurrency (connrate)
    int depth = 1;         // echo: messages in flight per connection
    std::size_t size = 32; // payload bytes
    bool text = false;     // echo: text frames (default binary)
    bool deflate = false;  // offer permessage-deflate, inflate compressed frames
    bool json = false;     // fanout: chat-like JSON padding
    bool ticker = false;   // fanout: ticker-update JSON padding
    double settle = 1.0;   // idle: seconds between the last connection and the measurement
    int publishers = 1;    // fanout/sse
    double rate = 0;       // fanout/sse: total messages per second; 0: flat out (windowed)
    int window = 64;       // fanout/sse flat out: published-but-not-seen-by-publisher bound
    int count = 10000;     // connrate: handshakes; idle: connections
    double duration = 5;   // measured seconds
    double warmup = 1;     // seconds before measuring
    double timeout = 60;   // bound on setup (connecting) and draining
    int server_pid = 0;
    int connect_concurrency = 256;
    std::string pub_host;        // fanout/sse cross-node: publishers' server (default: --host)
    unsigned short pub_port = 0; // fanout/sse cross-node: publishers' port; 0: same server as subscribers
    int pub_server_pid = 0;      // cross-node: the publishers' server, for pub_server_cpu
};

[[noreturn]] void usage(int code)
{
    (code ? std::cerr : std::cout)
        << "usage: rtmsg-load echo|fanout|sse|connrate|idle [--host H] [--port P] [--path P] [--conns N]\n"
           "         [--depth D] [--size S] [--text] [--publishers P] [--rate R] [--window W] [--count N]\n"
           "         [--duration SEC] [--warmup SEC] [--timeout SEC] [--server-pid PID]\n"
           "         fanout|sse cross-node: [--pub-host H] --pub-port P [--pub-server-pid PID]\n"
           "         [--deflate] [--json|--ticker] idle: [--settle SEC]\n";
    std::exit(code);
}

options parse(int argc, char** argv)
{
    if (argc < 2) usage(2);
    options o;
    o.scenario = argv[1];
    if (o.scenario == "--help" || o.scenario == "-h") usage(0);
    for (int i = 2; i < argc; ++i) {
        std::string const k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(2);
            return argv[++i];
        };
        try {
            if (k == "--host")
                o.host = value();
            else if (k == "--port")
                o.port = static_cast<unsigned short>(std::stoul(value()));
            else if (k == "--path")
                o.path = value();
            else if (k == "--conns")
                o.conns = std::stoi(value());
            else if (k == "--depth")
                o.depth = std::stoi(value());
            else if (k == "--size")
                o.size = std::stoull(value());
            else if (k == "--text")
                o.text = true;
            else if (k == "--deflate")
                o.deflate = true;
            else if (k == "--json")
                o.json = true;
            else if (k == "--ticker")
                o.ticker = true;
            else if (k == "--settle")
                o.settle = std::stod(value());
            else if (k == "--publishers")
                o.publishers = std::stoi(value());
            else if (k == "--rate")
                o.rate = std::stod(value());
            else if (k == "--window")
                o.window = std::stoi(value());
            else if (k == "--count")
                o.count = std::stoi(value());
            else if (k == "--duration")
                o.duration = std::stod(value());
            else if (k == "--warmup")
                o.warmup = std::stod(value());
            else if (k == "--timeout")
                o.timeout = std::stod(value());
            else if (k == "--server-pid")
                o.server_pid = std::stoi(value());
            else if (k == "--pub-host")
                o.pub_host = value();
            else if (k == "--pub-port")
                o.pub_port = static_cast<unsigned short>(std::stoul(value()));
            else if (k == "--pub-server-pid")
                o.pub_server_pid = std::stoi(value());
            else
                usage(2);
        }
        catch (std::exception const&) {
            usage(2);
        }
    }
    if (o.conns < 1 || o.depth < 1 || o.publishers < 1 || o.window < 1 || o.count < 1) usage(2);
    if (o.pub_host.empty()) o.pub_host = o.host;
#if !defined(RTMSG_LOAD_WITH_ZLIB)
    if (o.deflate) {
        std::cerr << "rtmsg-load: --deflate: built without zlib (install zlib1g-dev and reconfigure)\n";
        std::exit(2);
    }
#endif
    if (o.deflate && o.scenario != "fanout" && o.scenario != "idle") {
        std::cerr << "rtmsg-load: --deflate is for fanout and idle\n";
        std::exit(2);
    }
    if ((o.pub_port != 0 || o.pub_server_pid != 0 || o.pub_host != o.host) && o.scenario != "fanout" &&
        o.scenario != "sse") {
        std::cerr << "rtmsg-load: --pub-host/--pub-port/--pub-server-pid are for fanout and sse only\n";
        std::exit(2);
    }
    if (o.pub_host != o.host && o.pub_port == 0) {
        std::cerr << "rtmsg-load: --pub-host needs --pub-port\n";
        std::exit(2);
    }
    return o;
}

// ---- measurement helpers ----------------------------------------------------------------

/// Log-linear latency histogram (64 sub-buckets per power of two: ~1.6% resolution).
class histogram {
public:
    void add(std::uint64_t v)
    {
        ++counts_[index(v)];
        ++n_;
    }
    std::uint64_t count() const noexcept { return n_; }
    /// The value at quantile q (upper bound of its bucket), in ns.
    std::uint64_t quantile(double q) const
    {
        if (n_ == 0) return 0;
        auto const want = static_cast<std::uint64_t>(q * static_cast<double>(n_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= want) return upper(i);
        }
        return upper(counts_.size() - 1);
    }

private:
    static std::size_t index(std::uint64_t v)
    {
        if (v < 128) return static_cast<std::size_t>(v);
        int const e = 63 - std::countl_zero(v);
        int const shift = e - 6;
        return 128 + static_cast<std::size_t>(e - 7) * 64 + static_cast<std::size_t>((v >> shift) - 64);
    }
    static std::uint64_t upper(std::size_t i)
    {
        if (i < 128) return i;
        auto const e = (i - 128) / 64 + 7;
        auto const sub = (i - 128) % 64 + 64;
        return ((sub + 1) << (e - 6)) - 1;
    }
    std::array<std::uint64_t, 128 + 57 * 64> counts_{};
    std::uint64_t n_ = 0;
};

/// utime + stime of a process, in ns (0 if unknown).
std::uint64_t process_cpu_ns(int pid)
{
    if (pid <= 0) return 0;
    std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
    std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto const p = s.rfind(')');
    if (p == std::string::npos) return 0;
    std::istringstream in(s.substr(p + 2));
    std::string field;
    std::uint64_t ut = 0, st = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) ut = std::stoull(field);
        if (i == 15) st = std::stoull(field);
    }
    auto const hz = static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK));
    return (ut + st) * 1'000'000'000ull / hz;
}

/// VmRSS of a process in bytes (0 if unknown).
std::uint64_t process_rss(int pid)
{
    if (pid <= 0) return 0;
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

std::uint64_t self_cpu_ns()
{
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto tv = [](timeval t) { return std::uint64_t(t.tv_sec) * 1'000'000'000ull + std::uint64_t(t.tv_usec) * 1000; };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

void raise_fd_limit()
{
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/// Accumulates `key=value` pairs for the RESULT line.
struct report {
    std::ostringstream line;
    template <class T>
    void operator()(std::string_view key, T const& v)
    {
        line << ' ' << key << '=' << v;
    }
};

// ---- client framing -----------------------------------------------------------------------

constexpr std::array<std::uint8_t, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};

/// A masked client frame of `payload` (the key is fixed: the server's unmasking work does
/// not depend on the key, and a fixed key lets us build frames once).
std::string client_frame(std::uint8_t opcode, std::string_view payload)
{
    std::string f;
    f += static_cast<char>(0x80 | opcode);
    auto const n = payload.size();
    if (n < 126)
        f += static_cast<char>(0x80 | n);
    else if (n < 65536) {
        f += static_cast<char>(0x80 | 126);
        f += static_cast<char>(n >> 8);
        f += static_cast<char>(n & 0xff);
    }
    else {
        f += static_cast<char>(0x80 | 127);
        for (int i = 7; i >= 0; --i) f += static_cast<char>((n >> (8 * i)) & 0xff);
    }
    for (auto k : mask_key) f += static_cast<char>(k);
    for (std::size_t i = 0; i < n; ++i) f += static_cast<char>(payload[i] ^ static_cast<char>(mask_key[i % 4]));
    return f;
}

/// Parses unmasked server frames in [p, p+n); calls fn(opcode, payload, rsv1) per complete frame;
/// returns the bytes consumed.  `need` is set to the size of an incomplete frame, if known.
template <class Fn>
std::size_t parse_frames(char const* p, std::size_t n, std::size_t& need, Fn&& fn)
{
    std::size_t pos = 0;
    need = 0;
    while (n - pos >= 2) {
        auto const b0 = static_cast<std::uint8_t>(p[pos]);
        auto const b1 = static_cast<std::uint8_t>(p[pos + 1]);
        std::size_t h = 2;
        std::uint64_t len = b1 & 0x7f;
        if (len == 126) {
            if (n - pos < 4) break;
            len = (std::uint64_t(std::uint8_t(p[pos + 2])) << 8) | std::uint8_t(p[pos + 3]);
            h = 4;
        }
        else if (len == 127) {
            if (n - pos < 10) break;
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | std::uint8_t(p[pos + 2 + static_cast<std::size_t>(i)]);
            h = 10;
        }
        if (b1 & 0x80) h += 4; // servers do not mask, but be tolerant
        if (n - pos < h + len) {
            need = h + static_cast<std::size_t>(len);
            break;
        }
        fn(static_cast<std::uint8_t>(b0 & 0x0f), std::string_view(p + pos + h, static_cast<std::size_t>(len)),
           (b0 & 0x40) != 0);
        pos += h + static_cast<std::size_t>(len);
    }
    return pos;
}

/// Payload of fan-out messages (ASCII, so text frames and SSE carry it unchanged):
/// 16 hex digits sequence, 16 hex digits send time (ns), 4 hex digits publisher, 'x' padding.
constexpr std::size_t stamp_size = 36;

void put_hex(char* out, std::uint64_t v, int digits)
{
    static constexpr char hex[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; --i, v >>= 4) out[i] = hex[v & 15];
}

bool get_hex(char const* in, int digits, std::uint64_t& v)
{
    v = 0;
    for (int i = 0; i < digits; ++i) {
        char const c = in[i];
        std::uint64_t d;
        if (c >= '0' && c <= '9')
            d = std::uint64_t(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = std::uint64_t(c - 'a' + 10);
        else
            return false;
        v = (v << 4) | d;
    }
    return true;
}

/// --deflate: WebSocket upgrades offer permessage-deflate.
bool g_offer_deflate = false;
/// Bytes read by every connection after its response head (wire_bytes_per_msg).
std::uint64_t g_wire_in = 0;

/// Chat-like JSON text for fan-out payloads (--json): words chosen by `seed`, so that every
/// message differs as real ones do.
void fill_json(char* out, std::size_t n, std::uint64_t seed)
{
    static constexpr std::string_view words[] = {
        "the",      "market", "opens",  "at",     "nine",  "and",    "we",      "will",   "see",
        "you",      "in",     "room",   "lobby",  "price", "update", "hello",   "thanks", "meeting",
        "tomorrow", "please", "review", "ticket", "done",  "deploy", "shipped", "great",  "work",
        "team",     "coffee", "later",  "alice",  "bob",   "carol",  "dave"};
    static constexpr std::string_view head = R"(,"user":"alice","room":"lobby","text":")";
    std::size_t at = 0;
    for (std::size_t i = 0; i < head.size() && at < n; ++i) out[at++] = head[i];
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    while (at < n) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        auto const w = words[x % std::size(words)];
        for (std::size_t i = 0; i < w.size() && at < n; ++i) out[at++] = w[i];
        if (at < n) out[at++] = ' ';
    }
    if (n > 2) {
        out[n - 2] = '"';
        out[n - 1] = '}';
    }
}

/// A market-data update (--ticker), as examples/ticker publishes them: symbol, price, open.
void fill_ticker(char* out, std::size_t n, std::uint64_t seed)
{
    static constexpr std::string_view syms[] = {"ACME",  "GLOBX", "INITECH", "UMBRL",
                                                "HOOLI", "STARK", "WAYNE",   "CYBRD"};
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
    x ^= x >> 29;
    char buf[128];
    int const len = std::snprintf(
        buf, sizeof buf, R"(,"s":"%s","p":%u.%02u,"o":%u.%02u})", std::string(syms[x % std::size(syms)]).c_str(),
        unsigned(100 + x % 900), unsigned((x >> 12) % 100), unsigned(100 + (x >> 20) % 900), unsigned((x >> 32) % 100));
    std::size_t at = 0;
    while (at < n) {
        for (int i = 0; i < len && at < n; ++i) out[at++] = buf[i];
    }
}

#if defined(RTMSG_LOAD_WITH_ZLIB)
/// A raw DEFLATE stream (RFC 7692 §7.2): inflates one connection's compressed messages, or
/// compresses the client's (each message alone: a client may always do without context).
class zstream {
public:
    explicit zstream(bool inflate) : inflate_(inflate)
    {
        if (inflate_)
            ::inflateInit2(&z_, -15);
        else
            ::deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    }
    ~zstream() { inflate_ ? ::inflateEnd(&z_) : ::deflateEnd(&z_); }
    zstream(zstream const&) = delete;
    zstream& operator=(zstream const&) = delete;

    /// Inflates one message into `out`; `reset`: the peer compresses each message alone.
    bool inflate(std::string_view in, std::string& out, bool reset)
    {
        static constexpr unsigned char tail[4] = {0, 0, 0xff, 0xff};
        out.clear();
        for (int part = 0; part < 2; ++part) {
            z_.next_in = part == 0 ? reinterpret_cast<Bytef*>(const_cast<char*>(in.data())) : const_cast<Bytef*>(tail);
            z_.avail_in = part == 0 ? static_cast<uInt>(in.size()) : 4u;
            do {
                char buf[16384];
                z_.next_out = reinterpret_cast<Bytef*>(buf);
                z_.avail_out = sizeof buf;
                int const rc = ::inflate(&z_, Z_SYNC_FLUSH);
                if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
                out.append(buf, sizeof buf - z_.avail_out);
            } while (z_.avail_out == 0);
        }
        if (reset) ::inflateReset(&z_);
        return true;
    }

    /// The compressed form of `in`, without the 00 00 ff ff tail.
    std::string deflate(std::string_view in)
    {
        std::string out(::deflateBound(&z_, static_cast<uLong>(in.size())) + 16, '\0');
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        z_.next_out = reinterpret_cast<Bytef*>(out.data());
        z_.avail_out = static_cast<uInt>(out.size());
        ::deflate(&z_, Z_SYNC_FLUSH);
        out.resize(out.size() - z_.avail_out - 4);
        ::deflateReset(&z_);
        return out;
    }

private:
    z_stream z_{};
    bool inflate_;
};
#endif

#if defined(RTMSG_LOAD_WITH_ZLIB)
/// Compressed bytes -> inflated bytes of recent messages compressed without context.
std::vector<std::pair<std::string, std::string>>& inflate_cache()
{
    static std::vector<std::pair<std::string, std::string>> c(1024);
    return c;
}
#endif

std::string upgrade_request(std::string_view host, unsigned short port, std::string_view path, bool sse)
{
    std::string r = "GET ";
    r.append(path).append(" HTTP/1.1\r\nHost: ").append(host).append(":").append(std::to_string(port));
    if (sse)
        r.append("\r\nAccept: text/event-stream\r\n\r\n");
    else {
        r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n");
        if (g_offer_deflate) r.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
        r.append("\r\n");
    }
    return r;
}

std::string upgrade_request(options const& o, std::string_view path, bool sse)
{
    return upgrade_request(o.host, o.port, path, sse);
}

// ---- connections --------------------------------------------------------------------------

struct run_state;

/** One client connection: connects, sends the upgrade (or SSE) request, reads the response
    head, then hands every frame (or SSE data line) to on_payload. */
class conn : public std::enable_shared_from_this<conn> {
public:
    conn(run_state& rs, int index, bool sse) : rs_(rs), sock_(ioc()), index_(index), sse_(sse) {}

    int index() const noexcept { return index_; }
    bool open() const noexcept { return open_; }
    /// The socket, for a scenario that drives it itself (echo) once it is open.
    int native_handle() { return sock_.native_handle(); }
    /// Bytes read after the response head and not yet parsed.
    std::string_view buffered() const noexcept { return {buf_.data(), have_}; }

    void start(tcp::endpoint ep, std::string request, std::function<void(conn&, bool ok)> on_ready)
    {
        request_ = std::move(request);
        on_ready_ = std::move(on_ready);
        sock_.async_connect(ep, [self = shared_from_this()](std::error_code ec) {
            if (ec) return self->ready(false);
            self->sock_.set_option(tcp::no_delay(true));
            asio::async_write(self->sock_, asio::buffer(self->request_), [self](std::error_code ec, std::size_t) {
                if (ec) return self->ready(false);
                self->buf_.resize(4096);
                self->read_head();
            });
        });
    }

    /// Reads and parses until close; `read` false: leave the socket alone after the head (idle).
    void start_reading(std::size_t buffer_size)
    {
        buf_.resize(std::max(buffer_size, have_ + 1));
        read_more();
    }

    /// Queues bytes (copied), written together with anything else pending.
    void send_bytes(std::string_view bytes)
    {
        if (!open_) return;
        out_pending_.append(bytes);
        if (!writing_) flush();
    }

    void abort()
    {
        if (!open_ && !sock_.is_open()) return;
        open_ = false;
        std::error_code ec;
        sock_.set_option(asio::socket_base::linger(true, 0), ec); // RST: no TIME_WAIT on either side
        sock_.close(ec);
    }

    std::function<void(conn&, std::uint8_t op, std::string_view payload)> on_payload;
    /// Frames that arrived compressed, and those that did not inflate.
    std::uint64_t compressed = 0, bad_deflate = 0;
    /// Did the server agree on permessage-deflate?
    bool compressing() const noexcept { return compressing_; }

private:
    static asio::io_context& ioc();

    void ready(bool ok)
    {
        if (!ok)
            abort();
        else
            open_ = true;
        auto f = std::move(on_ready_);
        on_ready_ = nullptr;
        if (f) f(*this, ok);
    }

    void read_head()
    {
        sock_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                              [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                  if (ec) return self->ready(false);
                                  self->have_ += n;
                                  std::string_view const v(self->buf_.data(), self->have_);
                                  auto const end = v.find("\r\n\r\n");
                                  if (end == std::string_view::npos) {
                                      if (self->have_ == self->buf_.size()) return self->ready(false);
                                      return self->read_head();
                                  }
                                  bool const ok = v.rfind(self->sse_ ? "HTTP/1.1 200" : "HTTP/1.1 101", 0) == 0;
                                  auto const head = v.substr(0, end);
                                  self->compressing_ =
                                      !self->sse_ && head.find("permessage-deflate") != std::string_view::npos;
                                  self->reset_each_ = head.find("server_no_context_takeover") != std::string_view::npos;
                                  std::memmove(self->buf_.data(), self->buf_.data() + end + 4, self->have_ - end - 4);
                                  self->have_ -= end + 4;
                                  std::string().swap(self->request_);
                                  self->ready(ok);
                              });
    }

    void read_more()
    {
        if (!open_) return;
        sock_.async_read_some(asio::buffer(buf_.data() + have_, buf_.size() - have_),
                              [self = shared_from_this()](std::error_code ec, std::size_t n) {
                                  if (ec) {
                                      self->open_ = false;
                                      return;
                                  }
                                  self->have_ += n;
                                  g_wire_in += n;
                                  self->consume();
                                  self->read_more();
                              });
    }

    void consume();

    void flush()
    {
        if (out_pending_.empty()) return;
        out_writing_.swap(out_pending_);
        out_pending_.clear();
        writing_ = true;
        asio::async_write(sock_, asio::buffer(out_writing_),
                          [self = shared_from_this()](std::error_code ec, std::size_t) {
                              self->writing_ = false;
                              if (ec) {
                                  self->open_ = false;
                                  return;
                              }
                              self->flush();
                          });
    }

    run_state& rs_;
    tcp::socket sock_;
    int index_;
    bool sse_;
    bool open_ = false;
    bool writing_ = false;
    std::string request_;
    std::function<void(conn&, bool)> on_ready_;
    std::vector<char> buf_;
    std::size_t have_ = 0;
    std::string out_pending_, out_writing_;
    bool compressing_ = false, reset_each_ = false;
#if defined(RTMSG_LOAD_WITH_ZLIB)
    std::unique_ptr<zstream> inflater_;
    std::string inflated_;
#endif
};

struct run_state {
    asio::io_context ioc{1};
    // Keeps run_one_*() from stopping the context between phases, when no I/O is pending.
    asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
    options opt;
    tcp::endpoint ep;
    tcp::endpoint pub_ep; // cross-node fan-out: the publishers' server (== ep otherwise)
};

run_state* g_state = nullptr;
asio::io_context& conn::ioc()
{
    return g_state->ioc;
}

void conn::consume()
{
    char* const p = buf_.data();
    std::size_t used = 0;
    if (!sse_) {
        std::size_t need = 0;
        used = parse_frames(p, have_, need, [&](std::uint8_t op, std::string_view payload, bool rsv1) {
            if (op == 0x8) { // close
                open_ = false;
                return;
            }
            if (rsv1) {
                ++compressed;
#if defined(RTMSG_LOAD_WITH_ZLIB)
                if (!compressing_) {
                    ++bad_deflate;
                    return;
                }
                if (reset_each_) {
                    // Without context, equal bytes inflate to equal bytes: a fan-out's shared
                    // frame is inflated once for all the subscribers (else the load tool, not
                    // the server, is the limit); every subscriber still checks its stamp.
                    auto& cache = inflate_cache();
                    auto const slot = std::hash<std::string_view>{}(payload) % cache.size();
                    auto& e = cache[slot];
                    if (e.first != payload) {
                        if (!inflater_) inflater_ = std::make_unique<zstream>(true);
                        if (!inflater_->inflate(payload, e.second, true)) {
                            e.first.clear();
                            ++bad_deflate;
                            return;
                        }
                        e.first.assign(payload);
                    }
                    payload = e.second;
                }
                else {
                    if (!inflater_) inflater_ = std::make_unique<zstream>(true);
                    if (!inflater_->inflate(payload, inflated_, false)) {
                        ++bad_deflate;
                        return;
                    }
                    payload = inflated_;
                }
#else
                ++bad_deflate;
                return;
#endif
            }
            if (on_payload && op != 0x9 && op != 0xA) on_payload(*this, op, payload);
        });
        if (need > buf_.size()) buf_.resize(need);
    }
    else {
        // Events end with a blank line; the payload is on the `data:` line.
        std::string_view v(p, have_);
        for (;;) {
            auto const end = v.find("\n\n", used);
            if (end == std::string_view::npos) break;
            auto ev = v.substr(used, end - used);
            used = end + 2;
            for (std::size_t ls = 0; ls < ev.size();) {
                auto le = ev.find('\n', ls);
                if (le == std::string_view::npos) le = ev.size();
                auto line = ev.substr(ls, le - ls);
                if (line.rfind("data:", 0) == 0) {
                    line.remove_prefix(5);
                    if (!line.empty() && line[0] == ' ') line.remove_prefix(1);
                    if (on_payload) on_payload(*this, 1, line);
                }
                ls = le + 1;
            }
        }
        if (have_ - used == buf_.size()) buf_.resize(buf_.size() * 2);
    }
    if (used != 0) {
        std::memmove(p, p + used, have_ - used);
        have_ -= used;
    }
}

/// Opens `n` connections to `ep` (default: --host:--port), at most opt.connect_concurrency
/// handshaking at once.
class connector {
public:
    connector(run_state& rs, int n, std::function<std::string(int)> request, bool sse)
        : connector(rs, n, std::move(request), sse, rs.ep)
    {
    }
    connector(run_state& rs, int n, std::function<std::string(int)> request, bool sse, tcp::endpoint ep)
        : rs_(rs), n_(n), request_(std::move(request)), sse_(sse), ep_(ep)
    {
        conns.resize(static_cast<std::size_t>(n));
    }

    std::vector<std::shared_ptr<conn>> conns;
    int ok = 0, failed = 0;

    /// Runs the io_context until all are open (or failed) or the timeout passes.
    bool run(double timeout)
    {
        for (int i = 0; i < std::min(n_, rs_.opt.connect_concurrency); ++i) next();
        auto const deadline = clock_type::now() +
                              std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(timeout));
        while (ok + failed < n_ && clock_type::now() < deadline) rs_.ioc.run_one_for(std::chrono::milliseconds(100));
        return ok == n_;
    }

private:
    void next()
    {
        if (started_ >= n_) return;
        auto const i = started_++;
        auto c = std::make_shared<conn>(rs_, i, sse_);
        conns[static_cast<std::size_t>(i)] = c;
        c->start(ep_, request_(i), [this](conn&, bool good) {
            good ? ++ok : ++failed;
            next();
        });
    }

    run_state& rs_;
    int n_;
    std::function<std::string(int)> request_;
    bool sse_;
    tcp::endpoint ep_;
    int started_ = 0;
};

void run_for(run_state& rs, double seconds)
{
    auto const deadline =
        clock_type::now() + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    while (clock_type::now() < deadline) rs.ioc.run_one_until(deadline);
}

/// Measures a window: wall time, server CPU, client CPU.
struct window {
    std::uint64_t t0 = 0, t1 = 0, srv0 = 0, srv1 = 0, cli0 = 0, cli1 = 0;
    void begin(int pid)
    {
        t0 = now_ns();
        srv0 = process_cpu_ns(pid);
        cli0 = self_cpu_ns();
    }
    void end(int pid)
    {
        t1 = now_ns();
        srv1 = process_cpu_ns(pid);
        cli1 = self_cpu_ns();
    }
    double seconds() const { return double(t1 - t0) / 1e9; }
    void put(report& r, int pid, double items) const
    {
        auto const wall = double(t1 - t0);
        r("client_cpu", std::round(1000.0 * double(cli1 - cli0) / wall) / 1000.0);
        if (pid > 0) {
            r("server_cpu", std::round(1000.0 * double(srv1 - srv0) / wall) / 1000.0);
            if (items > 0) r("server_ns_per_msg", std::round(10.0 * double(srv1 - srv0) / items) / 10.0);
        }
    }
};

void put_latency(report& r, histogram const& h)
{
    r("lat_samples", h.count());
    r("p50_us", double(h.quantile(0.50)) / 1000.0);
    r("p99_us", double(h.quantile(0.99)) / 1000.0);
    r("p999_us", double(h.quantile(0.999)) / 1000.0);
}

// ---- scenarios ----------------------------------------------------------------------------

/// Echo drives its open sockets with level-triggered epoll of its own rather than through
/// Asio: per readable socket one `recv` and one `send` of every reply it produced (Asio's
/// edge-triggered reactor costs a `recv` that finds nothing after each read, and a reply
/// written at once then splits a batch into two writes).  On this VM every system call is
/// expensive, and with the Asio client the load tool, not the server, saturated its core.
class echo_driver {
public:
    struct peer {
        int fd = -1;
        std::vector<char> in;
        std::size_t have = 0;
        std::string out;
        std::size_t out_off = 0;
        bool want_out = false, open = true;
        std::vector<std::uint64_t> sent; // ring of send times
        std::size_t head = 0, inflight = 0;
    };

    echo_driver(options const& o, std::string frame, std::size_t payload_size)
        : depth_(static_cast<std::size_t>(o.depth)),
          frame_(std::move(frame)),
          payload_size_(payload_size),
          ep_(::epoll_create1(EPOLL_CLOEXEC))
    {
    }
    ~echo_driver()
    {
        if (ep_ >= 0) ::close(ep_);
    }
    echo_driver(echo_driver const&) = delete;
    echo_driver& operator=(echo_driver const&) = delete;

    bool add(int fd, std::string_view buffered, std::size_t buffer_size)
    {
        auto& p = peers_.emplace_back();
        p.fd = fd;
        p.in.resize(std::max(buffer_size, buffered.size() + 1));
        std::memcpy(p.in.data(), buffered.data(), buffered.size());
        p.have = buffered.size();
        p.sent.assign(depth_, 0);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = peers_.size() - 1;
        return ep_ >= 0 && ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev) == 0;
    }

    /// Puts `depth` messages in flight on every connection.
    void start()
    {
        auto const t = now_ns();
        for (auto& p : peers_) {
            for (std::size_t i = 0; i < depth_; ++i) {
                p.sent[i] = t;
                p.out += frame_;
            }
            p.inflight = depth_;
            flush(p, &p - peers_.data());
        }
    }

    /// Runs until `deadline` (steady clock, ns).
    void run_until(std::uint64_t deadline)
    {
        std::array<epoll_event, 256> evs;
        for (;;) {
            auto const now = now_ns();
            if (now >= deadline) return;
            auto const ms = static_cast<int>(std::min<std::uint64_t>((deadline - now) / 1'000'000 + 1, 100));
            int const n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), ms);
            for (int i = 0; i < n; ++i) {
                auto const k = static_cast<std::size_t>(evs[static_cast<std::size_t>(i)].data.u64);
                auto& p = peers_[k];
                if (!p.open) continue;
                if (evs[static_cast<std::size_t>(i)].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) read(p);
                if (p.open) flush(p, k);
            }
        }
    }

    bool measuring = false, stopping = false;
    histogram h;
    std::uint64_t msgs = 0, bytes = 0, bad = 0;

    int closed() const
    {
        int c = 0;
        for (auto const& p : peers_) c += p.open ? 0 : 1;
        return c;
    }

private:
    void fail(peer& p)
    {
        p.open = false;
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, p.fd, nullptr);
    }

    void read(peer& p)
    {
        auto const r = ::recv(p.fd, p.in.data() + p.have, p.in.size() - p.have, 0);
        if (r <= 0) {
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
            return fail(p);
        }
        p.have += static_cast<std::size_t>(r);
        auto const t = now_ns();
        std::size_t need = 0;
        auto const used = parse_frames(p.in.data(), p.have, need, [&](std::uint8_t op, std::string_view payload, bool) {
            if (op == 0x8) return fail(p);
            if (op == 0x9 || op == 0xA) return;
            if (p.inflight == 0 || payload.size() != payload_size_) {
                ++bad;
                return;
            }
            auto const sent = p.sent[p.head];
            p.head = (p.head + 1) % depth_;
            --p.inflight;
            if (measuring) {
                h.add(t - sent);
                ++msgs;
                bytes += payload.size();
            }
            if (stopping) return;
            p.sent[(p.head + p.inflight) % depth_] = t;
            ++p.inflight;
            p.out += frame_;
        });
        if (used != 0) {
            std::memmove(p.in.data(), p.in.data() + used, p.have - used);
            p.have -= used;
        }
        if (need > p.in.size()) p.in.resize(need);
    }

    /// Sends what is queued; what the socket does not take waits for EPOLLOUT.
    void flush(peer& p, std::size_t k)
    {
        while (p.open && p.out_off < p.out.size()) {
            auto const r = ::send(p.fd, p.out.data() + p.out_off, p.out.size() - p.out_off, MSG_NOSIGNAL);
            if (r < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN) return fail(p);
                break;
            }
            p.out_off += static_cast<std::size_t>(r);
        }
        if (!p.open) return;
        bool const rest = p.out_off < p.out.size();
        if (!rest) {
            p.out.clear();
            p.out_off = 0;
        }
        if (rest != p.want_out) {
            p.want_out = rest;
            epoll_event ev{};
            ev.events = EPOLLIN | (rest ? EPOLLOUT : 0u);
            ev.data.u64 = k;
            ::epoll_ctl(ep_, EPOLL_CTL_MOD, p.fd, &ev);
        }
    }

    std::size_t depth_;
    std::string frame_;
    std::size_t payload_size_;
    int ep_;
    std::vector<peer> peers_;
};

int echo(run_state& rs, report& r)
{
    auto const& o = rs.opt;
    std::string const path = o.path.empty() ? "/echo" : o.path;
    std::string const payload(o.size, 'a');
    connector cx(
        rs, o.conns, [&](int) { return upgrade_request(o, path, false); }, false);
    if (!cx.run(o.timeout)) {
        std::cerr << "rtmsg-load: only " << cx.ok << " of " << o.conns << " connections opened\n";
        return 1;
    }
    echo_driver d(o, client_frame(o.text ? 0x1 : 0x2, payload), payload.size());
    for (auto& c : cx.conns)
        if (!d.add(c->native_handle(), c->buffered(), o.size * static_cast<std::size_t>(o.depth) + 64 * 1024)) {
            std::cerr << "rtmsg-load: epoll: " << std::strerror(errno) << "\n";
            return 1;
        }
    auto const seconds_ns = [](double s) { return static_cast<std::uint64_t>(s * 1e9); };
    d.start();
    d.run_until(now_ns() + seconds_ns(o.warmup));
    window w;
    d.measuring = true;
    w.begin(o.server_pid);
    d.run_until(now_ns() + seconds_ns(o.duration));
    w.end(o.server_pid);
    d.measuring = false;
    d.stopping = true;
    auto const secs = w.seconds();
    r("rtt_per_s", std::round(double(d.msgs) / secs));
    r("mb_per_s", std::round(100.0 * 2.0 * double(d.bytes) / secs / 1e6) / 100.0); // both directions
    put_latency(r, d.h);
    w.put(r, o.server_pid, double(d.msgs));
    r("errors", d.bad + static_cast<std::uint64_t>(d.closed()));
    for (auto& c : cx.conns) c->abort();
    return d.msgs > 0 ? 0 : 1;
}

/// WebSocket (/broadcast) or SSE (/sse) fan-out.  Publishers are WebSocket connections on
/// /broadcast (in the single-node WebSocket scenario they are also among the subscribers).
/// Cross-node (--pub-port): the publishers are separate connections to the other server.
int fanout(run_state& rs, report& r, bool sse)
{
    auto const& o = rs.opt;
    bool const cross = o.pub_port != 0;
    std::string const sub_path = o.path.empty() ? (sse ? "/sse" : "/broadcast") : o.path;
    auto const P = static_cast<std::size_t>(o.publishers);
    auto const N = static_cast<std::size_t>(o.conns);
    std::size_t const size = std::max(o.size, stamp_size);

    std::vector<std::shared_ptr<conn>> pubs;
    std::shared_ptr<connector> pubx;
    auto connect_publishers = [&] {
        pubx = std::make_shared<connector>(
            rs, o.publishers,
            [&](int) {
                return cross ? upgrade_request(o.pub_host, o.pub_port, "/broadcast", false)
                             : upgrade_request(o, "/broadcast", false);
            },
            false, rs.pub_ep);
        if (!pubx->run(o.timeout)) return false;
        pubs = pubx->conns;
        return true;
    };
    // Single-node SSE: the publishers join the topic before the subscribers, as in the
    // WebSocket scenario (where the first subscribers publish), so that a publisher sees its
    // own message at the same point of each fan-out pass and its window reopens alike.
    if (sse && !cross && !connect_publishers()) {
        std::cerr << "rtmsg-load: publishers did not connect\n";
        return 1;
    }
    connector subs(
        rs, o.conns, [&](int) { return upgrade_request(o, sub_path, sse); }, sse);
    if (!subs.run(o.timeout)) {
        std::cerr << "rtmsg-load: only " << subs.ok << " of " << o.conns << " subscribers connected\n";
        return 1;
    }
    if (cross && !connect_publishers()) {
        std::cerr << "rtmsg-load: publishers did not connect\n";
        return 1;
    }
    if (!sse && !cross)
        pubs.assign(subs.conns.begin(), subs.conns.begin() + static_cast<std::ptrdiff_t>(std::min(P, N)));

    struct pub_state {
        std::uint64_t sent = 0, seen = 0; // published, and seen back by the publisher itself
        std::uint64_t last_sent_in_window = 0;
    };
    std::vector<pub_state> ps(P);
    // Per subscriber and publisher: next expected sequence number.
    std::vector<std::uint64_t> expect(N * P, 1);
    std::vector<std::uint64_t> lost(N, 0), dup(N, 0);
    histogram h;
    bool measuring = false, stopping = false;
    std::uint64_t delivered = 0, malformed = 0;

    std::string msg(size, 'x');
    auto publish = [&](std::size_t pi, std::size_t k) {
        auto& c = *pubs[pi];
        std::string batch;
        batch.reserve(k * (size + 14));
        for (std::size_t i = 0; i < k; ++i) {
            auto const seq = ++ps[pi].sent;
            put_hex(msg.data(), seq, 16);
            put_hex(msg.data() + 16, now_ns(), 16);
            put_hex(msg.data() + 32, pi, 4);
            if (o.json)
                fill_json(msg.data() + stamp_size, size - stamp_size, seq * 131 + pi);
            else if (o.ticker)
                fill_ticker(msg.data() + stamp_size, size - stamp_size, seq * 131 + pi);
            batch += client_frame(0x1, msg);
        }
        c.send_bytes(batch);
    };
    auto decode = [&](std::string_view p, std::uint64_t& seq, std::uint64_t& ts, std::uint64_t& pub) {
        return p.size() >= stamp_size && get_hex(p.data(), 16, seq) && get_hex(p.data() + 16, 16, ts) &&
               get_hex(p.data() + 32, 4, pub) && pub < P;
    };
    auto const window_size = static_cast<std::uint64_t>(o.rate > 0 ? 1'000'000 : o.window);
    auto on_publisher_echo = [&](std::size_t pi, std::uint64_t seq) {
        auto& s = ps[pi];
        s.seen = std::max(s.seen, seq);
        if (stopping || o.rate > 0) return;
        if (s.sent - s.seen < window_size) publish(pi, static_cast<std::size_t>(window_size - (s.sent - s.seen)));
    };
    for (auto& c : subs.conns) {
        c->on_payload = [&](conn& c, std::uint8_t, std::string_view p) {
            auto const t = now_ns();
            std::uint64_t seq, ts, pub;
            if (!decode(p, seq, ts, pub)) {
                ++malformed;
                return;
            }
            auto const i = static_cast<std::size_t>(c.index());
            auto& e = expect[i * P + pub];
            if (seq == e)
                ++e;
            else if (seq > e) {
                lost[i] += seq - e;
                e = seq + 1;
            }
            else
                ++dup[i];
            if (measuring) {
                ++delivered;
                h.add(t - ts);
            }
            // Flow control (flat out): publisher p's window closes when it sees its own message
            // (single node), or when subscriber p on the other node does (cross-node).
            if (cross ? pub % N == i : !sse && i < P && pub == i) on_publisher_echo(pub, seq);
        };
        c->start_reading(256 * 1024);
    }
    if (sse || cross)
        for (std::size_t pi = 0; pi < P; ++pi) {
            // Cross-node: the publishers still read (and drop) their node's copies, so that
            // node A does not hold them back as slow consumers.
            pubs[pi]->on_payload = [&, pi](conn&, std::uint8_t, std::string_view p) {
                std::uint64_t seq, ts, pub;
                if (!cross && decode(p, seq, ts, pub) && pub == pi) on_publisher_echo(pi, seq);
            };
            pubs[pi]->start_reading(256 * 1024);
        }
    // Subscribers are attached to the topic when their handshake completes; give the server
    // a moment to finish on_open for the last ones.
    run_for(rs, 0.2);

    // Publishing: windowed (flat out) or paced by a 1 ms timer.
    asio::steady_timer pacer(rs.ioc);
    auto const start = clock_type::now();
    std::function<void()> tick = [&] {
        if (stopping) return;
        auto const elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
        auto const due = static_cast<std::uint64_t>(elapsed * o.rate / double(P));
        for (std::size_t pi = 0; pi < P; ++pi)
            if (ps[pi].sent < due)
                publish(pi, static_cast<std::size_t>(std::min<std::uint64_t>(due - ps[pi].sent, 10000)));
        pacer.expires_after(std::chrono::milliseconds(1));
        pacer.async_wait([&](std::error_code ec) {
            if (!ec) tick();
        });
    };
    if (o.rate > 0)
        tick();
    else
        for (std::size_t pi = 0; pi < P; ++pi) publish(pi, static_cast<std::size_t>(window_size));

    run_for(rs, o.warmup);
    window w;
    measuring = true;
    w.begin(o.server_pid);
    auto const wire0 = g_wire_in;
    auto const pub_srv0 = process_cpu_ns(o.pub_server_pid);
    run_for(rs, o.duration);
    auto const pub_srv1 = process_cpu_ns(o.pub_server_pid);
    auto const wire1 = g_wire_in;
    w.end(o.server_pid);
    measuring = false;
    stopping = true;
    pacer.cancel();
    std::uint64_t published = 0;
    for (auto& s : ps) published += s.sent;

    // Drain: wait until every open subscriber has seen the last message of every publisher.
    auto caught_up = [&] {
        for (std::size_t i = 0; i < N; ++i) {
            if (!subs.conns[i]->open()) continue;
            for (std::size_t pi = 0; pi < P; ++pi)
                if (expect[i * P + pi] <= ps[pi].sent) return false;
        }
        return true;
    };
    auto const drain_deadline = clock_type::now() + std::chrono::seconds(5);
    while (!caught_up() && clock_type::now() < drain_deadline) rs.ioc.run_one_for(std::chrono::milliseconds(10));
    std::uint64_t lost_total = 0, dup_total = 0, lossy_subs = 0, closed = 0;
    for (std::size_t i = 0; i < N; ++i) {
        std::uint64_t tail = 0;
        for (std::size_t pi = 0; pi < P; ++pi) tail += ps[pi].sent + 1 - expect[i * P + pi];
        auto const l = lost[i] + tail;
        lost_total += l;
        dup_total += dup[i];
        lossy_subs += (l || dup[i]) ? 1 : 0;
        closed += subs.conns[i]->open() ? 0 : 1;
    }
    auto const secs = w.seconds();
    r("delivered_per_s", std::round(double(delivered) / secs));
    r("published", published);
    put_latency(r, h);
    w.put(r, o.server_pid, double(delivered));
    if (cross && o.pub_server_pid > 0)
        r("pub_server_cpu", std::round(1000.0 * double(pub_srv1 - pub_srv0) / double(w.t1 - w.t0)) / 1000.0);
    r("lost", lost_total);
    r("dup", dup_total);
    r("lossy_subs", lossy_subs);
    r("closed_subs", closed);
    r("malformed", malformed);
    if (delivered > 0) r("wire_bytes_per_msg", std::round(10.0 * double(wire1 - wire0) / double(delivered)) / 10.0);
    if (o.deflate) {
        std::uint64_t compressing = 0, compressed = 0, bad = 0;
        for (auto& c : subs.conns) {
            compressing += c->compressing() ? 1 : 0;
            compressed += c->compressed;
            bad += c->bad_deflate;
        }
        r("deflate_subs", compressing);
        r("compressed_frames", compressed);
        r("bad_deflate", bad);
    }
    for (auto& c : subs.conns) c->abort();
    for (auto& c : pubs) c->abort();
    return delivered > 0 ? 0 : 1;
}

int connrate(run_state& rs, report& r)
{
    auto const& o = rs.opt;
    std::string const path = o.path.empty() ? "/echo" : o.path;
    std::string const req = upgrade_request(o, path, false);
    int started = 0, ok = 0, failed = 0;
    bool stop = false;
    std::function<void()> next = [&] {
        if (stop || started >= o.count) return;
        ++started;
        auto c = std::make_shared<conn>(rs, started, false);
        c->start(rs.ep, req, [&, c](conn& cc, bool good) {
            good ? ++ok : ++failed;
            cc.abort();
            next();
        });
    };
    window w;
    w.begin(o.server_pid);
    for (int i = 0; i < std::min(o.conns, o.count); ++i) next();
    auto const deadline =
        clock_type::now() + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.duration));
    while (ok + failed < started && clock_type::now() < deadline) rs.ioc.run_one_until(deadline);
    stop = true;
    w.end(o.server_pid);
    auto const secs = w.seconds();
    r("handshakes_per_s", std::round(double(ok) / secs));
    r("handshakes", ok);
    r("failed", failed);
    w.put(r, o.server_pid, double(ok));
    // Let the aborted sockets and pending completions go.
    run_for(rs, 0.1);
    return ok > 0 ? 0 : 1;
}

int idle(run_state& rs, report& r)
{
    auto const& o = rs.opt;
    std::string const path = o.path.empty() ? "/echo" : o.path;
    bool const sse = path.find("sse") != std::string::npos;
    if (o.server_pid <= 0) {
        std::cerr << "rtmsg-load: idle needs --server-pid\n";
        return 2;
    }
    run_for(rs, 0.2);
    auto const before = process_rss(o.server_pid);
    connector cx(
        rs, o.count, [&](int) { return upgrade_request(o, path, sse); }, sse);
    bool all = cx.run(o.timeout);
#if defined(RTMSG_LOAD_WITH_ZLIB)
    if (o.deflate && o.size > 0) {
        // One compressed message each way per connection, so that the server made its
        // compression state; then it idles.
        zstream z(false);
        std::string text(std::max<std::size_t>(o.size, 8), ' ');
        fill_json(text.data(), text.size(), 1);
        auto frame = client_frame(0x1, z.deflate(text));
        frame[0] = static_cast<char>(frame[0] | 0x40);
        std::size_t echoed = 0, compressed_back = 0, sent = 0;
        std::vector<char> seen(cx.conns.size(), 0);
        for (auto& c : cx.conns) {
            if (!c || !c->open()) continue;
            c->on_payload = [&](conn& cc, std::uint8_t, std::string_view p) {
                auto& once = seen[static_cast<std::size_t>(cc.index())];
                if (once) return;
                once = 1;
                ++echoed;
                if (p != text) all = false;
                compressed_back += cc.compressed;
            };
            c->start_reading(std::max<std::size_t>(64 * 1024, o.size * 2));
            c->send_bytes(frame);
            ++sent;
        }
        auto const deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                      std::chrono::duration<double>(o.timeout));
        while (echoed < sent && clock_type::now() < deadline) rs.ioc.run_one_for(std::chrono::milliseconds(10));
        r("echoed", echoed);
        r("echoed_compressed", compressed_back);
        if (echoed < sent) all = false;
    }
#endif
    run_for(rs, o.settle); // let the server settle (handshake buffers freed, queues drained)
    auto const after = process_rss(o.server_pid);
    r("connections", cx.ok);
    r("failed", cx.failed);
    r("rss_before_kb", before / 1024);
    r("rss_after_kb", after / 1024);
    if (cx.ok > 0) r("bytes_per_conn", std::round(double(after > before ? after - before : 0) / double(cx.ok)));
    for (auto& c : cx.conns)
        if (c) c->abort();
    run_for(rs, 0.2);
    return all ? 0 : 1;
}

} // namespace

int main(int argc, char** argv)
{
    run_state rs;
    g_state = &rs;
    rs.opt = parse(argc, argv);
    raise_fd_limit();
    std::error_code ec;
    rs.ep = tcp::endpoint(asio::ip::make_address(rs.opt.host, ec), rs.opt.port);
    if (ec) {
        std::cerr << "rtmsg-load: bad --host\n";
        return 2;
    }
    rs.pub_ep = rs.ep;
    if (rs.opt.pub_port != 0) {
        rs.pub_ep = tcp::endpoint(asio::ip::make_address(rs.opt.pub_host, ec), rs.opt.pub_port);
        if (ec) {
            std::cerr << "rtmsg-load: bad --pub-host\n";
            return 2;
        }
    }
    g_offer_deflate = rs.opt.deflate;
    report r;
    r("scenario", rs.opt.scenario);
    if (rs.opt.deflate) r("deflate", 1);
    int rc = 2;
    if (rs.opt.scenario == "echo") {
        r("conns", rs.opt.conns), r("depth", rs.opt.depth), r("size", rs.opt.size);
        rc = echo(rs, r);
    }
    else if (rs.opt.scenario == "fanout" || rs.opt.scenario == "sse") {
        r("subs", rs.opt.conns), r("publishers", rs.opt.publishers), r("size", rs.opt.size), r("rate", rs.opt.rate);
        if (rs.opt.pub_port != 0) r("pub_port", rs.opt.pub_port); // cross-node
        rc = fanout(rs, r, rs.opt.scenario == "sse");
    }
    else if (rs.opt.scenario == "connrate") {
        r("concurrency", rs.opt.conns);
        rc = connrate(rs, r);
    }
    else if (rs.opt.scenario == "idle") {
        r("path", rs.opt.path.empty() ? "/echo" : rs.opt.path);
        rc = idle(rs, r);
    }
    else
        usage(2);
    r("rc", rc);
    std::cout << "RESULT" << r.line.str() << std::endl;
    return rc;
}
