#pragma once
// The negotiation of permessage-deflate (RFC 7692 §5, §7.1), sans I/O and without zlib:
// parsing Sec-WebSocket-Extensions offers, choosing the parameters, writing the response,
// and the client's check of that response.  <rtmsg/websocket/deflate.hpp> does the compression.
#include <rtmsg/websocket/error.hpp>
#include <rtmsg/websocket/option.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rtmsg::websocket {

/// The extension's name in Sec-WebSocket-Extensions.
inline constexpr std::string_view permessage_deflate_name = "permessage-deflate";

/** The parameters in force on a connection with permessage-deflate, in RFC 7692's terms:
    "server_*" is what the server compresses, "client_*" what the client compresses. */
struct deflate_params {
    bool server_no_context_takeover = false;  ///< the server compresses each message on its own
    bool client_no_context_takeover = false;  ///< the client compresses each message on its own
    std::uint8_t server_max_window_bits = 15; ///< LZ77 window of the server's compressor, 8..15
    std::uint8_t client_max_window_bits = 15; ///< LZ77 window of the client's compressor, 8..15

    /// Equal when every parameter is.
    bool operator==(deflate_params const&) const = default;
};

/// One element of a Sec-WebSocket-Extensions list (RFC 6455 §9.1): a name and its parameters.
struct extension_offer {
    /// One parameter of an element.
    struct param {
        std::string_view name;            ///< the parameter's name, as sent
        std::optional<std::string> value; ///< unquoted; absent for a bare parameter
    };
    std::string_view name;     ///< the extension's name
    std::vector<param> params; ///< its parameters, in order
};

namespace detail {

constexpr bool ext_tchar(char c) noexcept
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

constexpr bool ext_token(std::string_view s) noexcept
{
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return ext_tchar(c); });
}

constexpr bool ext_iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

/// Parses one list element `token *( OWS ";" OWS param )`; nullopt if it is malformed.
inline std::optional<extension_offer> parse_extension(std::string_view s)
{
    std::size_t i = 0;
    auto skip_ows = [&] {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    };
    auto token = [&] {
        auto const b = i;
        while (i < s.size() && ext_tchar(s[i])) ++i;
        return s.substr(b, i - b);
    };
    extension_offer out;
    skip_ows();
    out.name = token();
    if (out.name.empty()) return std::nullopt;
    skip_ows();
    while (i < s.size()) {
        if (s[i] != ';') return std::nullopt;
        ++i;
        skip_ows();
        extension_offer::param p;
        p.name = token();
        if (p.name.empty()) return std::nullopt;
        skip_ows();
        if (i < s.size() && s[i] == '=') {
            ++i;
            skip_ows();
            std::string v;
            if (i < s.size() && s[i] == '"') {
                // RFC 6455 §9.1: a quoted value must still be a token once unquoted.
                ++i;
                for (;;) {
                    if (i == s.size()) return std::nullopt;
                    char c = s[i++];
                    if (c == '"') break;
                    if (c == '\\') {
                        if (i == s.size()) return std::nullopt;
                        c = s[i++];
                    }
                    v.push_back(c);
                }
            }
            else
                v = std::string(token());
            if (!ext_token(v)) return std::nullopt;
            p.value = std::move(v);
            skip_ows();
        }
        out.params.push_back(std::move(p));
    }
    return out;
}

/// Splits header values on the commas that are not inside a quoted string.
inline std::vector<std::string_view> split_extension_list(std::vector<std::string_view> const& values)
{
    std::vector<std::string_view> out;
    for (auto v : values) {
        bool quoted = false;
        std::size_t start = 0;
        for (std::size_t i = 0; i <= v.size(); ++i) {
            if (i < v.size()) {
                if (v[i] == '\\' && quoted) {
                    ++i;
                    continue;
                }
                if (v[i] == '"') quoted = !quoted;
                if (v[i] != ',' || quoted) continue;
            }
            auto e = v.substr(start, i - start);
            while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
            if (!e.empty()) out.push_back(v.substr(start, i - start)); // empty elements are allowed (#rule)
            start = i + 1;
        }
    }
    return out;
}

/// RFC 7692 §7.1.2: a window size is "8".."15", with no leading zero or sign.
inline std::optional<std::uint8_t> parse_window_bits(std::string_view v) noexcept
{
    if (v.size() == 1 && v[0] >= '8' && v[0] <= '9') return static_cast<std::uint8_t>(v[0] - '0');
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return static_cast<std::uint8_t>(10 + v[1] - '0');
    return std::nullopt;
}

/// The parameters of one permessage-deflate element, checked: each known at most once, with a
/// value where one is needed and none where none is allowed (RFC 7692 §7.1).  Window sizes 0
/// mean "absent"; client_max_window_bits without a value is 16.
struct deflate_element {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::uint8_t server_max_window_bits = 0;
    std::uint8_t client_max_window_bits = 0;
};

inline std::optional<deflate_element> check_deflate_element(extension_offer const& e)
{
    deflate_element out;
    bool seen[4] = {};
    for (auto const& p : e.params) {
        int k;
        if (ext_iequals(p.name, "server_no_context_takeover"))
            k = 0;
        else if (ext_iequals(p.name, "client_no_context_takeover"))
            k = 1;
        else if (ext_iequals(p.name, "server_max_window_bits"))
            k = 2;
        else if (ext_iequals(p.name, "client_max_window_bits"))
            k = 3;
        else
            return std::nullopt;          // §7.1: an unknown parameter declines the offer
        if (seen[k]) return std::nullopt; // §7.1: a parameter at most once
        seen[k] = true;
        switch (k) {
        case 0:
        case 1:
            if (p.value) return std::nullopt;
            (k == 0 ? out.server_no_context_takeover : out.client_no_context_takeover) = true;
            break;
        case 2: {
            auto const bits = p.value ? parse_window_bits(*p.value) : std::nullopt;
            if (!bits) return std::nullopt; // §7.1.2.1: a value is required
            out.server_max_window_bits = *bits;
            break;
        }
        default:
            if (!p.value)
                out.client_max_window_bits = 16; // §7.1.2.2: "the client supports it"
            else if (auto const bits = parse_window_bits(*p.value))
                out.client_max_window_bits = *bits;
            else
                return std::nullopt;
        }
    }
    return out;
}

inline std::uint8_t clamp_bits(std::uint8_t bits, std::uint8_t lo) noexcept
{
    return std::clamp<std::uint8_t>(bits, lo, 15);
}

} // namespace detail

/// Parses Sec-WebSocket-Extensions values (one per header line) into their elements, in
/// order.  A malformed element is left out (it cannot be accepted), the others are kept.
inline std::vector<extension_offer> parse_extensions(std::vector<std::string_view> const& values)
{
    std::vector<extension_offer> out;
    for (auto e : detail::split_extension_list(values))
        if (auto x = detail::parse_extension(e)) out.push_back(std::move(*x));
    return out;
}

/// A server's answer to a permessage-deflate offer.
struct deflate_agreement {
    deflate_params params; ///< the parameters in force on the connection
    std::string response;  ///< the Sec-WebSocket-Extensions value of the 101 response
};

/** (Server) Chooses the first acceptable permessage-deflate offer in the client's
    Sec-WebSocket-Extensions `values` (RFC 7692 §5.1, §7.1), or nullopt: no compression.

    An offer with an unknown, duplicated or malformed parameter is declined and the next one
    tried.  The response carries client_max_window_bits only if the offer did (§7.1.2.2);
    server_no_context_takeover when the client asked for it, when `opt.no_context_takeover`,
    or when `over_budget` (the process-wide memory budget is spent), which then also asks
    client_no_context_takeover; server_max_window_bits when the client limited it or
    `opt.window_bits` is below 15. */
inline std::optional<deflate_agreement> negotiate_deflate(std::vector<std::string_view> const& values,
                                                          deflate_options const& opt, bool over_budget = false)
{
    if (!opt.enable) return std::nullopt;
    for (auto const& offer : parse_extensions(values)) {
        if (!detail::ext_iequals(offer.name, permessage_deflate_name)) continue;
        auto const e = detail::check_deflate_element(offer);
        if (!e) continue;
        deflate_agreement a;
        auto& p = a.params;
        p.server_no_context_takeover = e->server_no_context_takeover || opt.no_context_takeover || over_budget;
        p.client_no_context_takeover = e->client_no_context_takeover || opt.peer_no_context_takeover || over_budget;
        auto const own = detail::clamp_bits(opt.window_bits, 9);
        p.server_max_window_bits = e->server_max_window_bits ? std::min(e->server_max_window_bits, own) : own;
        bool const send_client_bits = e->client_max_window_bits != 0 && opt.peer_window_bits < 15;
        if (e->client_max_window_bits != 0)
            p.client_max_window_bits = std::min<std::uint8_t>(std::min<std::uint8_t>(e->client_max_window_bits, 15),
                                                              detail::clamp_bits(opt.peer_window_bits, 8));
        // A client that did not offer client_max_window_bits may use a 32 KiB window: we
        // cannot limit it (§7.1.2.2), so our inflater must take 15.
        else
            p.client_max_window_bits = 15;
        auto& r = a.response;
        r = permessage_deflate_name;
        if (p.server_no_context_takeover) r += "; server_no_context_takeover";
        if (p.client_no_context_takeover) r += "; client_no_context_takeover";
        if (e->server_max_window_bits != 0 || p.server_max_window_bits < 15)
            r += "; server_max_window_bits=" + std::to_string(p.server_max_window_bits);
        if (send_client_bits || (e->client_max_window_bits != 0 && e->client_max_window_bits <= 15))
            r += "; client_max_window_bits=" + std::to_string(p.client_max_window_bits);
        return a;
    }
    return std::nullopt;
}

/// (Client) The Sec-WebSocket-Extensions value that offers permessage-deflate with `opt`.
inline std::string make_deflate_offer(deflate_options const& opt)
{
    std::string r(permessage_deflate_name);
    if (opt.no_context_takeover) r += "; client_no_context_takeover";
    if (opt.peer_no_context_takeover) r += "; server_no_context_takeover";
    if (auto const bits = detail::clamp_bits(opt.peer_window_bits, 8); bits < 15)
        r += "; server_max_window_bits=" + std::to_string(bits);
    if (auto const bits = detail::clamp_bits(opt.window_bits, 9); bits < 15)
        r += "; client_max_window_bits=" + std::to_string(bits);
    else
        r += "; client_max_window_bits";
    return r;
}

/** (Client) Checks the server's Sec-WebSocket-Extensions `values` against the offer made
    with make_deflate_offer(`opt`) (`opt.enable` false: nothing was offered).  On success
    `out` holds the parameters in force, or nullopt when the server declined compression.
    Fails with error::bad_extension on an extension not offered, more than one element, an
    unknown, duplicated or malformed parameter, or a window larger than the one offered. */
inline std::error_code check_deflate_response(std::vector<std::string_view> const& values, deflate_options const& opt,
                                              std::optional<deflate_params>& out)
{
    out.reset();
    auto const elements = detail::split_extension_list(values);
    if (elements.empty()) return {};
    if (!opt.enable || elements.size() != 1) return error::bad_extension;
    auto const x = detail::parse_extension(elements.front());
    if (!x || !detail::ext_iequals(x->name, permessage_deflate_name)) return error::bad_extension;
    auto const e = detail::check_deflate_element(*x);
    if (!e || e->client_max_window_bits == 16) return error::bad_extension; // §7.1.2.2: a value in responses
    auto const own = detail::clamp_bits(opt.window_bits, 9);
    auto const peer = detail::clamp_bits(opt.peer_window_bits, 8);
    if (e->client_max_window_bits > own && own < 15) return error::bad_extension;
    if (e->server_max_window_bits > peer) return error::bad_extension;
    deflate_params p;
    // §7.1.1: the server may impose either regardless of what we asked, but must honour ours.
    p.server_no_context_takeover = e->server_no_context_takeover;
    if (opt.peer_no_context_takeover && !p.server_no_context_takeover) return error::bad_extension;
    p.client_no_context_takeover = e->client_no_context_takeover || opt.no_context_takeover;
    p.server_max_window_bits = e->server_max_window_bits ? e->server_max_window_bits : 15;
    if (peer < 15 && e->server_max_window_bits == 0) return error::bad_extension;
    p.client_max_window_bits = e->client_max_window_bits ? e->client_max_window_bits : own;
    out = p;
    return {};
}

} // namespace rtmsg::websocket
