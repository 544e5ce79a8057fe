#pragma once
// rtmsg::cluster::redis_bridge: hubs on several nodes share topics through Redis.
//
// Needs hiredis (link rtmsg::redis) for the RESP protocol.  The sockets are the C++ clients'
// (<rtmsg/client/socket.hpp>), plain or TLS: link rtmsg::ssl as well, or define RTMSG_NO_TLS
// to build without OpenSSL (then only plain TCP).  The design and its guarantees: docs/cluster.md.
#include <rtmsg/cluster/detail/redis_connection.hpp>
#include <rtmsg/detail/base64.hpp>
#include <rtmsg/detail/sha1.hpp>
#include <rtmsg/hub/hub.hpp>

#include <asio/any_io_executor.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace rtmsg::cluster {

/// Settings of a redis_bridge.
struct redis_options {
    /// Redis's host name or address.
    std::string host = "127.0.0.1";
    /// Redis's port.
    std::uint16_t port = 6379;
    /// TLS to Redis (`rediss://`); verification as for every rtmsg client (connect.tls).
    bool tls = false;
    /// Connect timeout and TLS settings.
    client::connect_options connect{std::chrono::milliseconds(5'000), {}};
    /// AUTH: a password, and an ACL user name (Redis 6+) if not the default user.
    std::string username;
    /// The AUTH password; empty: no AUTH.
    std::string password;
    /// Prefix of every Redis key and channel; nodes that share topics share the prefix.
    /// Letters, digits, `_`, `-` and `:` only.
    std::string prefix = "rtmsg";
    /// This node's name in presence entries; empty: a random one.
    std::string node_id;
    /// Reconnection delays: from `reconnect_initial`, doubling up to `reconnect_max`, with jitter.
    std::chrono::milliseconds reconnect_initial{100};
    /// The longest reconnection delay (see reconnect_initial).
    std::chrono::milliseconds reconnect_max{5'000};
    /// A node's presence entries expire this long after its last refresh (it refreshes every
    /// third of it): a node that dies has its members leave within about this time.
    std::chrono::milliseconds presence_ttl{15'000};
    /// Local publishes waiting for Redis's answer; beyond, publishing fails with 503.
    std::size_t max_in_flight = 10'000;
};

/** Reads "HOST:PORT", "[V6]:PORT", "redis://HOST[:PORT]" or "rediss://HOST[:PORT]" (TLS)
    into `o`; false if it is none of these. */
inline bool parse_redis_address(std::string_view s, redis_options& o)
{
    bool tls = false;
    bool scheme = false;
    if (s.starts_with("redis://")) {
        s.remove_prefix(8);
        scheme = true;
    }
    else if (s.starts_with("rediss://")) {
        s.remove_prefix(9);
        tls = scheme = true;
    }
    if (!s.empty() && s.back() == '/') s.remove_suffix(1);
    std::string_view host = s, port;
    if (s.starts_with("[")) {
        auto const close = s.find(']');
        if (close == std::string_view::npos) return false;
        host = s.substr(1, close - 1);
        auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') return false;
            port = rest.substr(1);
        }
    }
    else if (auto const colon = s.rfind(':'); colon != std::string_view::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (host.empty() || host.find_first_of("/@ ") != std::string_view::npos) return false;
    std::uint16_t p = 6379;
    if (!port.empty()) {
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p == 0) return false;
    }
    else if (!scheme)
        return false;
    o.host.assign(host);
    o.port = p;
    o.tls = tls;
    return true;
}

/// What a bridge has done (redis_bridge::stats()).
struct redis_stats {
    /// Is Redis reachable now?
    bool connected = false;
    std::uint64_t connects = 0;         ///< successful connections (the first included)
    std::uint64_t published = 0;        ///< local publishes Redis numbered
    std::uint64_t publish_failures = 0; ///< local publishes answered 503
    std::uint64_t received = 0;         ///< messages received from Redis
};

namespace detail {

// The Lua scripts, one atomic step each.  Keys of a topic share the hash tag {topic}, so a
// Redis Cluster keeps them in one slot.  Each is loaded with the prelude's functions first.

/// topic_epoch(): the epoch of the topic whose meta hash is KEYS[1] and log KEYS[2]; a new
/// topic takes ARGV[1] and starts empty.  now_ms(): the Redis server's clock.
inline constexpr std::string_view lua_prelude = R"lua(
local function topic_epoch()
  local e = redis.call('HGET', KEYS[1], 'epoch')
  if not e then
    e = ARGV[1]
    redis.call('HSET', KEYS[1], 'epoch', e, 'last', 0)
    redis.call('DEL', KEYS[2])
  end
  return e
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
)lua";

/// KEYS: meta, log.  ARGV: epoch if new, history count, channel, header, payload.
inline constexpr std::string_view publish_body = R"lua(
local e = topic_epoch()
local o = redis.call('HINCRBY', KEYS[1], 'last', 1)
if tonumber(ARGV[2]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], o .. '-0', 'h', ARGV[4], 'd', ARGV[5])
end
redis.call('PUBLISH', ARGV[3], 'm ' .. e .. ' ' .. o .. ' ' .. ARGV[4] .. '\n' .. ARGV[5])
return {e, o}
)lua";

/// KEYS: meta, log, who.  ARGV: epoch if new, history count.  Returns {epoch, last, entries, members}.
inline constexpr std::string_view sync_body = R"lua(
local e = topic_epoch()
local last = redis.call('HGET', KEYS[1], 'last')
local h = {}
if tonumber(ARGV[2]) > 0 then h = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2]) end
return {e, last, h, redis.call('ZRANGEBYSCORE', KEYS[3], now_ms(), '+inf')}
)lua";

/// KEYS: who.  ARGV: node|identity, ttl ms, channel.  Adds or refreshes; announces if new.
inline constexpr std::string_view join_body = R"lua(
local added = redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
if added == 1 then redis.call('PUBLISH', ARGV[3], 'j ' .. ARGV[1]) end
return added
)lua";

/// KEYS: who.  ARGV: node|identity, channel.
inline constexpr std::string_view leave_body = R"lua(
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then redis.call('PUBLISH', ARGV[2], 'l ' .. ARGV[1]) end
return 1
)lua";

/// KEYS: who.  ARGV: channel.  Entries of dead nodes (expired) leave, announced once.
inline constexpr std::string_view sweep_body = R"lua(
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now_ms())
for _, m in ipairs(gone) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('PUBLISH', ARGV[1], 'l ' .. m)
end
return #gone
)lua";

/// The scripts as loaded, each with the prelude, in the order of `script`: publish, sync,
/// join, leave, sweep.
inline std::array<std::string, 5> const& lua_scripts()
{
    static std::array<std::string, 5> const all = [] {
        std::array<std::string, 5> a;
        std::size_t i = 0;
        for (auto body : {publish_body, sync_body, join_body, leave_body, sweep_body})
            a[i++] = std::string(lua_prelude).append(body);
        return a;
    }();
    return all;
}

inline std::string sha1_hex(std::string_view s)
{
    rtmsg::detail::sha1 h;
    h.update(s);
    auto const d = h.finish();
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (auto b : d) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 15]);
    }
    return out;
}

template <class T>
bool parse_number(std::string_view s, T& v)
{
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size();
}

/// An integer reply, or a string reply holding a decimal integer.
inline bool reply_u64(redisReply const* r, std::uint64_t& v)
{
    if (!r) return false;
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < 0) return false;
        v = static_cast<std::uint64_t>(r->integer);
        return true;
    }
    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && parse_number(reply_text(r), v);
}

/// The cluster_link of a hub, talking to Redis.  Everything runs on one strand.
class redis_link final : public rtmsg::detail::cluster_link, public std::enable_shared_from_this<redis_link> {
public:
    redis_link(asio::any_io_executor ex, std::shared_ptr<rtmsg::detail::hub_core> const& core, redis_options o)
        : strand_(asio::make_strand(std::move(ex))),
          core_(core),
          opt_(std::move(o)),
          reconnect_(strand_),
          heartbeat_(strand_)
    {
        if (opt_.node_id.empty()) {
            std::random_device rd;
            static constexpr char hex[] = "0123456789abcdef";
            for (int i = 0; i < 16; ++i) opt_.node_id.push_back(hex[rd() & 15]);
        }
        ep_.host = opt_.host;
        ep_.port = opt_.port;
        ep_.tls = opt_.tls;
        ep_.connect = opt_.connect;
        ep_.username = opt_.username;
        ep_.password = opt_.password;
        for (auto const& s : lua_scripts()) sha_.push_back(sha1_hex(s));
    }

    std::string const& node_id() const noexcept { return opt_.node_id; }

    void start()
    {
        asio::post(strand_, [self = shared_from_this()] { self->connect(); });
    }

    /// Leaves presence, then closes; `done` (may be empty) runs once Redis answered or the
    /// connection is gone.
    void stop(std::function<void()> done)
    {
        asio::post(strand_, [self = shared_from_this(), done = std::move(done)]() mutable {
            self->stopping_ = true;
            self->reconnect_.cancel();
            self->heartbeat_.cancel();
            auto finish = [self, done = std::move(done)](redisReply*) mutable {
                self->teardown(false);
                if (done) done();
            };
            if (!self->up_ || self->members_.empty()) return finish(nullptr);
            for (auto const& [topic, who] : self->members_) self->leave(topic, who);
            self->cmd_->command({"PING"}, std::move(finish)); // after every leave's reply
        });
    }

    redis_stats stats() const
    {
        std::lock_guard<std::mutex> lock(stats_mutex_);
        auto s = stats_;
        s.connected = up_.load();
        return s;
    }

    // ---- cluster_link (called by the hub, under its lock: record and post only) ----

    bool connected() const noexcept override { return up_.load(std::memory_order_acquire); }

    bool forward(std::shared_ptr<message const> m, bool echo, std::function<void(publish_result const&)> done) override
    {
        if (in_flight_.fetch_add(1) >= opt_.max_in_flight) {
            --in_flight_;
            return false;
        }
        asio::post(strand_, [self = shared_from_this(), m = std::move(m), echo, done = std::move(done)]() mutable {
            self->send_publish(*m, echo, std::move(done));
        });
        return true;
    }

    void interest(std::string const& name, bool on) override
    {
        asio::post(strand_, [self = shared_from_this(), name, on] { self->on_interest(name, on); });
    }

    void presence(std::string const& topic, std::string const& who, bool join) override
    {
        asio::post(strand_, [self = shared_from_this(), topic, who, join] {
            if (join) {
                self->members_.emplace(topic, who);
                if (self->up_) self->join(topic, who);
            }
            else {
                self->members_.erase({topic, who});
                if (self->up_) self->leave(topic, who);
            }
        });
    }

private:
    enum script { s_publish, s_sync, s_join, s_leave, s_sweep };
    /// Messages held per topic while its state is read (one round trip to Redis).
    static constexpr std::size_t max_held = 65'536;

    std::string meta_key(std::string_view t) const { return opt_.prefix + ":{" + std::string(t) + "}:meta"; }
    std::string log_key(std::string_view t) const { return opt_.prefix + ":{" + std::string(t) + "}:log"; }
    std::string who_key(std::string_view t) const { return opt_.prefix + ":{" + std::string(t) + "}:who"; }
    std::string channel(std::string_view t) const { return opt_.prefix + ":c:" + std::string(t); }
    /// A Redis glob no narrower than the pattern (`*` also crosses dots); the hub filters.
    std::string channel_glob(std::string_view pattern) const
    {
        std::string g = opt_.prefix + ":c:";
        for (char c : pattern) g.push_back(c == '>' ? '*' : c);
        return g;
    }

    std::size_t history_count(std::string_view topic) const
    {
        auto core = core_.lock();
        if (!core) return 0;
        return core->options().topic_config ? core->options().topic_config(topic).history_count
                                            : core->options().default_topic.history_count;
    }

    static std::string random_epoch()
    {
        std::random_device rd;
        std::uint64_t e = (std::uint64_t(rd()) << 32) ^ rd();
        return std::to_string(e ? e : 1);
    }

    void eval(script s, std::vector<std::string_view> keys_and_args, std::size_t nkeys,
              redis_connection::reply_handler h)
    {
        auto const nk = std::to_string(nkeys);
        std::vector<std::string_view> args{"EVALSHA", sha_[s], nk};
        args.insert(args.end(), keys_and_args.begin(), keys_and_args.end());
        cmd_->command(args, std::move(h));
    }

    // ---- connection life ----

    void connect()
    {
        if (stopping_) return;
        auto const gen = ++generation_;
        cmd_ = std::make_shared<redis_connection>(strand_);
        sub_ = std::make_shared<redis_connection>(strand_);
        // The connections' callbacks hold the link weakly: the link owns the connections.
        auto lost = [weak = weak_from_this(), gen](std::error_code) {
            if (auto self = weak.lock(); self && gen == self->generation_) self->teardown(true);
        };
        cmd_->on_lost(lost);
        sub_->on_lost(lost);
        sub_->on_push([weak = weak_from_this(), gen](redisReply* r) {
            if (auto self = weak.lock(); self && gen == self->generation_) self->on_push(r);
        });
        ready_ = 0;
        auto step = [self = shared_from_this(), gen](std::error_code ec) {
            if (gen != self->generation_) return;
            if (ec) return self->teardown(true);
            if (++self->ready_ == 2) self->on_ready();
        };
        cmd_->connect(ep_, [self = shared_from_this(), gen, step](std::error_code ec) {
            if (ec || gen != self->generation_) return step(ec);
            // Load the scripts (EVALSHA runs them by hash afterwards).
            auto left = std::make_shared<int>(5);
            for (auto const& s : lua_scripts())
                self->cmd_->command({"SCRIPT", "LOAD", s}, [step, left](redisReply* r) {
                    if (!r || r->type == REDIS_REPLY_ERROR) return step(asio::error::connection_aborted);
                    if (--*left == 0) step({});
                });
        });
        sub_->connect(ep_, step);
    }

    void on_ready()
    {
        up_.store(true, std::memory_order_release);
        attempt_ = 0;
        {
            std::lock_guard<std::mutex> lock(stats_mutex_);
            ++stats_.connects;
        }
        // Everything local, again: subscriptions (each topic resyncs), presence entries.
        if (auto core = core_.lock())
            for (auto const& name : core->cluster_interests()) interests_.insert(name);
        for (auto const& name : interests_) subscribe(name);
        refresh();
    }

    /// The connection is lost (or being stopped): fail what waits, serve locally, retry.
    void teardown(bool retry)
    {
        bool const was_up = up_.exchange(false);
        ++generation_;
        heartbeat_.cancel();
        if (cmd_) cmd_->close(); // in-flight publishes get nullptr: 503
        if (sub_) sub_->close();
        auto const syncing = std::move(syncing_);
        syncing_.clear();
        if (auto core = core_.lock())
            for (auto const& [topic, buffered] : syncing) core->cluster_release(topic);
        if (!retry || stopping_) return;
        // Exponential backoff with jitter: nodes that lost Redis together do not return together.
        auto const base = std::min<std::int64_t>(opt_.reconnect_max.count(), opt_.reconnect_initial.count()
                                                                                 << std::min(attempt_, 20u));
        ++attempt_;
        std::uniform_int_distribution<std::int64_t> jitter(base / 2, std::max<std::int64_t>(base, 1));
        auto const delay = std::chrono::milliseconds(was_up ? 0 : jitter(rng_));
        reconnect_.expires_after(delay);
        reconnect_.async_wait([self = shared_from_this()](std::error_code ec) {
            if (!ec) self->connect();
        });
    }

    // ---- topics ----

    void on_interest(std::string const& name, bool on)
    {
        if (on) {
            if (!interests_.insert(name).second) return;
            if (up_)
                subscribe(name);
            else if (!is_wildcard(name))
                if (auto core = core_.lock()) core->cluster_release(name);
            return;
        }
        if (!interests_.erase(name)) return;
        syncing_.erase(name);
        if (!up_) return;
        if (is_wildcard(name))
            sub_->push_command({"PUNSUBSCRIBE", channel_glob(name)});
        else
            sub_->push_command({"UNSUBSCRIBE", channel(name)});
    }

    void subscribe(std::string const& name)
    {
        if (is_wildcard(name)) return sub_->push_command({"PSUBSCRIBE", channel_glob(name)});
        syncing_[name]; // live messages wait until the topic's state is read
        sub_->push_command({"SUBSCRIBE", channel(name)});
    }

    /// Subscribed: read the topic's state in one step (anything newer arrives on the channel).
    void sync(std::string const& topic)
    {
        auto const epoch = random_epoch();
        auto const count = std::to_string(history_count(topic));
        auto const mk = meta_key(topic), lk = log_key(topic), wk = who_key(topic);
        eval(s_sync, {mk, lk, wk, epoch, count}, 3,
             [self = shared_from_this(), topic, gen = generation_](redisReply* r) {
                 if (gen != self->generation_) return;
                 auto it = self->syncing_.find(topic);
                 if (it == self->syncing_.end()) return; // no longer wanted
                 auto buffered = std::move(it->second);
                 self->syncing_.erase(it);
                 auto core = self->core_.lock();
                 if (!core) return;
                 rtmsg::detail::cluster_snapshot snap;
                 if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 4 || !reply_u64(r->element[0], snap.epoch) ||
                     !reply_u64(r->element[1], snap.last)) {
                     core->cluster_release(topic);
                 }
                 else {
                     auto const* h = r->element[2];
                     for (std::size_t i = h->elements; i-- > 0;) {
                         rtmsg::detail::cluster_message m;
                         if (self->parse_entry(topic, snap.epoch, h->element[i], m))
                             snap.history.push_back(std::move(m));
                     }
                     auto const* w = r->element[3];
                     for (std::size_t i = 0; i < w->elements; ++i) {
                         auto const member = reply_text(w->element[i]);
                         auto const bar = member.find('|');
                         if (bar == std::string_view::npos || member.substr(0, bar) == self->opt_.node_id) continue;
                         snap.members.emplace_back(member.substr(0, bar), member.substr(bar + 1));
                     }
                     core->cluster_sync(topic, snap);
                 }
                 for (auto const& m : buffered) core->cluster_deliver(m);
             });
    }

    /// "kind node conn echo [S | P ID INFO]" (the header the publishing node wrote): the
    /// sender is S (the server) or P with the peer's identity and information in base64
    /// ("-" when empty); a header without it (an older node) leaves the sender unknown.
    bool parse_header(std::string_view h, rtmsg::detail::cluster_message& m) const
    {
        std::string_view f[7];
        for (int i = 0; i < 7; ++i) {
            auto const sp = h.find(' ');
            f[i] = h.substr(0, sp);
            h = sp == std::string_view::npos ? std::string_view{} : h.substr(sp + 1);
        }
        int kind = 0;
        std::uint64_t conn = 0;
        if (!parse_number(f[0], kind) || kind < 0 || kind > 2 || !parse_number(f[2], conn)) return false;
        m.kind = static_cast<codec::data_kind>(kind);
        m.publisher = f[1] == opt_.node_id ? conn : 0;
        m.echo = f[3] != "0";
        m.origin = codec::origin::unknown;
        m.from = nullptr;
        if (f[4] == "S")
            m.origin = codec::origin::server;
        else if (f[4] == "P") {
            auto unbase = [](std::string_view b, std::string& out) {
                return b == "-" || rtmsg::detail::base64_decode_append(b, out);
            };
            std::string id, info;
            if (!unbase(f[5], id) || !unbase(f[6], info)) return false;
            m.origin = codec::origin::peer;
            m.from = make_peer_identity(std::move(id), std::move(info));
        }
        return true;
    }

    /// The sender part of a header (see parse_header).
    static void append_sender(std::string& header, message const& m)
    {
        if (m.origin == codec::origin::server) {
            header += " S";
            return;
        }
        if (m.origin != codec::origin::peer) return;
        auto base = [&](std::string_view v) {
            header += ' ';
            if (v.empty())
                header += '-';
            else
                rtmsg::detail::base64_append(header, v);
        };
        header += " P";
        base(m.from ? std::string_view(m.from->id) : std::string_view{});
        base(m.from ? std::string_view(m.from->info) : std::string_view{});
    }

    /// A log entry [id, [h, header, d, payload]] of stream XREVRANGE.
    bool parse_entry(std::string const& topic, std::uint64_t epoch, redisReply const* e,
                     rtmsg::detail::cluster_message& m) const
    {
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2) return false;
        auto const id = reply_text(e->element[0]);
        if (!parse_number(id.substr(0, id.find('-')), m.offset)) return false;
        auto const* f = e->element[1];
        if (!f || f->type != REDIS_REPLY_ARRAY) return false;
        bool has_header = false;
        for (std::size_t i = 0; i + 1 < f->elements; i += 2) {
            auto const k = reply_text(f->element[i]);
            if (k == "h")
                has_header = parse_header(reply_text(f->element[i + 1]), m);
            else if (k == "d")
                m.payload.assign(reply_text(f->element[i + 1]));
        }
        m.topic = topic;
        m.epoch = epoch;
        return has_header;
    }

    void on_push(redisReply* r)
    {
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
        auto const kind = reply_text(r->element[0]);
        std::string_view ch, payload;
        if (kind == "message") {
            ch = reply_text(r->element[1]);
            payload = reply_text(r->element[2]);
        }
        else if (kind == "pmessage" && r->elements == 4) {
            ch = reply_text(r->element[2]);
            payload = reply_text(r->element[3]);
        }
        else if (kind == "subscribe") {
            auto const prefix = opt_.prefix + ":c:";
            auto const c = reply_text(r->element[1]);
            if (c.starts_with(prefix)) {
                std::string topic(c.substr(prefix.size()));
                if (syncing_.contains(topic)) sync(topic);
            }
            return;
        }
        else
            return;
        auto const prefix = opt_.prefix + ":c:";
        if (!ch.starts_with(prefix) || payload.size() < 2) return;
        std::string topic(ch.substr(prefix.size()));
        auto core = core_.lock();
        if (!core) return;
        char const type = payload[0];
        payload.remove_prefix(2);
        if (type == 'j' || type == 'l') {
            auto const bar = payload.find('|');
            if (bar == std::string_view::npos) return;
            std::string node(payload.substr(0, bar));
            if (node == opt_.node_id) return; // our own members are known here already
            core->cluster_presence(topic, node, std::string(payload.substr(bar + 1)), type == 'j');
            return;
        }
        if (type != 'm') return;
        // "m EPOCH OFFSET HEADER\nPAYLOAD"
        auto const nl = payload.find('\n');
        if (nl == std::string_view::npos) return;
        auto head = payload.substr(0, nl);
        rtmsg::detail::cluster_message m;
        auto const sp1 = head.find(' ');
        auto const sp2 = head.find(' ', sp1 == std::string_view::npos ? sp1 : sp1 + 1);
        if (sp2 == std::string_view::npos || !parse_number(head.substr(0, sp1), m.epoch) ||
            !parse_number(head.substr(sp1 + 1, sp2 - sp1 - 1), m.offset) || !parse_header(head.substr(sp2 + 1), m))
            return;
        m.topic = topic;
        m.payload.assign(payload.substr(nl + 1));
        {
            std::lock_guard<std::mutex> lock(stats_mutex_);
            ++stats_.received;
        }
        if (auto it = syncing_.find(topic); it != syncing_.end()) {
            // Held until the topic's state arrives; bounded: beyond, the messages are left
            // out and the subscribers get a gap notice for them (the offsets jump).
            if (it->second.size() < max_held) it->second.push_back(std::move(m));
            return;
        }
        core->cluster_deliver(m);
    }

    // ---- publishing ----

    void send_publish(message const& m, bool echo, std::function<void(publish_result const&)> done)
    {
        auto fail = [this](std::function<void(publish_result const&)> const& d) {
            --in_flight_;
            {
                std::lock_guard<std::mutex> lock(stats_mutex_);
                ++stats_.publish_failures;
            }
            publish_result r;
            r.ec = hub_error::unavailable;
            if (d) d(r);
        };
        if (!up_) return fail(done);
        auto header = std::to_string(static_cast<int>(m.kind)) + " " + opt_.node_id + " " +
                      std::to_string(m.publisher) + (echo ? " 1" : " 0");
        append_sender(header, m);
        auto const mk = meta_key(m.topic), lk = log_key(m.topic), ch = channel(m.topic);
        auto const epoch = random_epoch();
        auto const count = std::to_string(history_count(m.topic));
        eval(s_publish, {mk, lk, epoch, count, ch, header, m.payload}, 2,
             [self = shared_from_this(), fail, done = std::move(done)](redisReply* r) {
                 publish_result res;
                 if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !reply_u64(r->element[0], res.epoch) ||
                     !reply_u64(r->element[1], res.offset))
                     return fail(done);
                 --self->in_flight_;
                 {
                     std::lock_guard<std::mutex> lock(self->stats_mutex_);
                     ++self->stats_.published;
                 }
                 if (done) done(res);
             });
    }

    // ---- presence ----

    void join(std::string const& topic, std::string const& who)
    {
        auto const wk = who_key(topic), member = opt_.node_id + "|" + who, ch = channel(topic);
        auto const ttl = std::to_string(opt_.presence_ttl.count());
        eval(s_join, {wk, member, ttl, ch}, 1, nullptr);
    }

    void leave(std::string const& topic, std::string const& who)
    {
        auto const wk = who_key(topic), member = opt_.node_id + "|" + who, ch = channel(topic);
        eval(s_leave, {wk, member, ch}, 1, nullptr);
    }

    /// Refreshes this node's presence entries and sweeps out those of dead nodes, every
    /// third of the TTL.
    void refresh()
    {
        if (!up_ || stopping_) return;
        for (auto const& [topic, who] : members_) join(topic, who);
        for (auto const& name : interests_) {
            if (is_wildcard(name)) continue;
            auto const wk = who_key(name), ch = channel(name);
            eval(s_sweep, {wk, ch}, 1, nullptr);
        }
        heartbeat_.expires_after(std::max(opt_.presence_ttl / 3, std::chrono::milliseconds(50)));
        heartbeat_.async_wait([self = shared_from_this(), gen = generation_](std::error_code ec) {
            if (!ec && gen == self->generation_) self->refresh();
        });
    }

    asio::strand<asio::any_io_executor> strand_;
    std::weak_ptr<rtmsg::detail::hub_core> core_;
    redis_options opt_;
    redis_endpoint ep_;
    std::vector<std::string> sha_;
    std::shared_ptr<redis_connection> cmd_, sub_;
    asio::steady_timer reconnect_, heartbeat_;
    std::atomic<bool> up_{false};
    std::atomic<std::size_t> in_flight_{0};
    std::uint64_t generation_ = 0;
    int ready_ = 0;
    unsigned attempt_ = 0;
    bool stopping_ = false;
    std::set<std::string> interests_;
    std::map<std::string, std::vector<rtmsg::detail::cluster_message>> syncing_;
    std::set<std::pair<std::string, std::string>> members_;
    std::minstd_rand rng_{std::random_device{}()};
    mutable std::mutex stats_mutex_;
    redis_stats stats_;
};

} // namespace detail

/** Shares a hub's topics with the hubs of other nodes through Redis.

    @code
    rtmsg::hub hub;
    rtmsg::cluster::redis_options ro;
    ro.host = "10.0.0.5";
    rtmsg::cluster::redis_bridge bridge(ioc.get_executor(), hub, ro); // connects, and reconnects
    server.routes().websocket("/ws", rtmsg::protocol_endpoint(hub));
    @endcode

    - **Publish**: a local publish goes to Redis, which numbers it (one Lua script: the
      topic's counter, a capped stream as history, PUBLISH), so offsets mean the same on every
      node; the publisher's ack carries the cluster's offset.
    - **Subscribe**: the node subscribes to a topic's Redis channel when the topic gets its
      first local subscriber (PSUBSCRIBE for patterns), reads the topic's state once, and
      unsubscribes after the last leaves.  History and resume use Redis's log, so a client
      resumes on any node with no gap and no duplicate.
    - **Presence**: members everywhere, in a sorted set per topic whose entries expire when
      their node stops refreshing them.
    - **Faults**: while Redis is out of reach the node keeps serving its own clients (local
      publishes in a local epoch), retries with backoff, then catches up and sends a gap
      notice for whatever Redis no longer has.  Nothing is buffered without bound: publishes
      waiting for Redis are capped (max_in_flight, then 503).

    The bridge runs on a strand of `ex`.  Destroy it before the hub's io_context stops to let
    it leave presence cleanly (stop()); destroyed otherwise, its presence entries expire.
*/
class redis_bridge {
public:
    /// Attaches to `h` and starts connecting to Redis on `ex` (the hub then numbers its messages
    /// through Redis).
    redis_bridge(asio::any_io_executor ex, hub& h, redis_options o = {})
        : core_(rtmsg::detail::hub_access::core(h)),
          link_(std::make_shared<detail::redis_link>(std::move(ex), rtmsg::detail::hub_access::core(h), std::move(o)))
    {
        core_->attach(link_);
        link_->start();
    }
    ~redis_bridge()
    {
        core_->attach(nullptr);
        link_->stop(nullptr);
    }
    redis_bridge(redis_bridge const&) = delete;
    redis_bridge& operator=(redis_bridge const&) = delete;

    /// Is Redis reachable now?
    bool connected() const noexcept { return link_->connected(); }
    /// This node's id in presence entries.
    std::string const& node_id() const noexcept { return link_->node_id(); }
    /// Counters of what the bridge has done (connections, publishes, messages received).
    redis_stats stats() const { return link_->stats(); }

    /** Leaves: presence entries are removed (other nodes see the members leave), then the
        connections close; the hub serves alone from now on.  `done` runs on the bridge's
        strand when finished.  Safe from any thread. */
    void stop(std::function<void()> done = nullptr)
    {
        core_->attach(nullptr);
        link_->stop(std::move(done));
    }

private:
    std::shared_ptr<rtmsg::detail::hub_core> core_;
    std::shared_ptr<detail::redis_link> link_;
};

} // namespace rtmsg::cluster
