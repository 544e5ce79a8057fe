#pragma once
// The server side of the opening handshake (RFC 6455 §4.2), sans I/O.
#include <rtmsg/detail/base64.hpp>
#include <rtmsg/detail/sha1.hpp>
#include <rtmsg/http/request.hpp>
#include <rtmsg/http/response.hpp>
#include <rtmsg/http/response_head.hpp>
#include <rtmsg/websocket/detail/random.hpp>
#include <rtmsg/websocket/error.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rtmsg::websocket {

/// The GUID every accept key is derived with (RFC 6455 §1.3).
inline constexpr std::string_view handshake_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
inline std::string accept_key(std::string_view key)
{
    rtmsg::detail::sha1 h;
    h.update(key);
    h.update(handshake_guid);
    auto const digest = h.finish();
    return rtmsg::detail::base64_encode(digest.data(), digest.size());
}

/// Is this request a WebSocket upgrade at all (Upgrade: websocket with Connection: upgrade)?
inline bool is_upgrade(http::request const& req)
{
    return req.is_upgrade("websocket");
}

/// Checks an upgrade request against RFC 6455 §4.2.1.  Returns the first problem, or {}.
inline std::error_code check_request(http::request const& req)
{
    if (req.method != "GET") return error::bad_method;
    if (req.version < 11) return error::bad_http_version;
    if (!req.headers.find("Host")) return error::no_host;
    if (!req.headers.has_token("Upgrade", "websocket")) return error::no_upgrade;
    if (!req.headers.has_token("Connection", "upgrade")) return error::no_connection_upgrade;
    auto const version = req.headers.find("Sec-WebSocket-Version");
    if (!version || *version != "13") return error::bad_version;
    if (req.headers.count("Sec-WebSocket-Key") != 1) return error::bad_key;
    auto const key = req.headers.find("Sec-WebSocket-Key");
    auto const decoded = rtmsg::detail::base64_decode(*key);
    if (!decoded || decoded->size() != 16) return error::bad_key;
    return {};
}

/// The subprotocols a client offered, in its order of preference.
inline std::vector<std::string_view> offered_subprotocols(http::request const& req)
{
    std::vector<std::string_view> out;
    for (auto value : req.headers.find_all("Sec-WebSocket-Protocol")) {
        while (!value.empty()) {
            auto const comma = value.find(',');
            auto item = value.substr(0, comma);
            while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
            while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
            if (!item.empty()) out.push_back(item);
            if (comma == std::string_view::npos) break;
            value.remove_prefix(comma + 1);
        }
    }
    return out;
}

/// The 101 response that accepts `req` (which must have passed check_request).
inline http::response accept_response(http::request const& req, std::string_view subprotocol = {})
{
    http::response res;
    res.code = http::status::switching_protocols;
    res.headers.add("Upgrade", "websocket");
    res.headers.add("Connection", "Upgrade");
    res.headers.add("Sec-WebSocket-Accept", accept_key(*req.headers.find("Sec-WebSocket-Key")));
    if (!subprotocol.empty()) res.headers.add("Sec-WebSocket-Protocol", std::string(subprotocol));
    return res;
}

/// The error response that refuses an upgrade; 426 carries Sec-WebSocket-Version: 13 (§4.4).
inline http::response refuse_response(std::error_code ec)
{
    auto const status = ec.category() == error_category()
                            ? static_cast<http::status>(http_status_for(static_cast<error>(ec.value())))
                            : http::status::bad_request;
    auto res = http::error_response(status, ec.message());
    if (status == http::status::upgrade_required) {
        res.headers.add("Sec-WebSocket-Version", "13");
        res.headers.add("Upgrade", "websocket");
    }
    if (status == http::status::method_not_allowed) res.headers.add("Allow", "GET");
    return res;
}

// ---- the client side of the opening handshake (RFC 6455 §4.1) ---------------------------

/// What a client asks for in its upgrade request.
struct client_handshake {
    std::string host;                      ///< the Host header: host[:port] (client::url::host_header())
    std::string target = "/";              ///< path and query
    std::vector<std::string> subprotocols; ///< offered, in order of preference (Sec-WebSocket-Protocol)
    http::fields headers;                  ///< extra fields: Authorization, Cookie, Origin, ...
};

/// A fresh Sec-WebSocket-Key: 16 bytes from the OS CSPRNG, base64-encoded (§4.1).
inline std::string make_client_key()
{
    unsigned char raw[16];
    detail::random_bytes(raw, sizeof raw);
    return rtmsg::detail::base64_encode(raw, sizeof raw);
}

/// Appends the upgrade request for `req` with `key` to `out`, offering `extensions` (a
/// Sec-WebSocket-Extensions value, see make_deflate_offer; empty: none).  Extra fields that
/// the handshake itself sets (Host, Upgrade, Connection, Sec-WebSocket-*) are not copied.
inline void write_client_request(client_handshake const& req, std::string_view key, std::string& out,
                                 std::string_view extensions = {})
{
    auto const field = [&out](std::string_view name, std::string_view value) {
        out.append(name);
        out.append(": ");
        http::append_field_value(out, value);
        out.append("\r\n");
    };
    out.append("GET ");
    out.append(req.target.empty() ? std::string_view("/") : std::string_view(req.target));
    out.append(" HTTP/1.1\r\n");
    field("Host", req.host);
    field("Upgrade", "websocket");
    field("Connection", "Upgrade");
    field("Sec-WebSocket-Key", key);
    field("Sec-WebSocket-Version", "13");
    if (!req.subprotocols.empty()) {
        std::string list;
        for (auto const& p : req.subprotocols) {
            if (!list.empty()) list += ", ";
            list += p;
        }
        field("Sec-WebSocket-Protocol", list);
    }
    if (!extensions.empty()) field("Sec-WebSocket-Extensions", extensions);
    for (auto const& f : req.headers) {
        if (!http::is_token(f.name)) continue;
        std::string_view const n = f.name;
        if (http::iequals(n, "Host") || http::iequals(n, "Upgrade") || http::iequals(n, "Connection") ||
            (n.size() >= 14 && http::iequals(n.substr(0, 14), "Sec-WebSocket-")))
            continue;
        field(n, f.value);
    }
    out.append("\r\n");
}

/** Checks the server's answer to an upgrade request sent with `key` and `offered`
    subprotocols (RFC 6455 §4.1, "the client MUST validate the server's response").
    With `extensions_offered`, Sec-WebSocket-Extensions is left to the extension's own check
    (check_deflate_response); without, any extension in the response is an error.
    Returns the first problem, or {}. */
inline std::error_code check_response(http::response_head const& res, std::string_view key,
                                      std::vector<std::string> const& offered, bool extensions_offered = false)
{
    if (res.status != 101 || res.version < 11) return error::bad_status;
    if (!res.headers.has_token("Upgrade", "websocket")) return error::no_upgrade;
    if (!res.headers.has_token("Connection", "upgrade")) return error::no_connection_upgrade;
    if (res.headers.count("Sec-WebSocket-Accept") != 1 || *res.headers.find("Sec-WebSocket-Accept") != accept_key(key))
        return error::bad_accept;
    if (auto const ext = res.headers.find("Sec-WebSocket-Extensions"); ext && !ext->empty() && !extensions_offered)
        return error::bad_response; // §4.1: an extension we did not offer
    if (res.headers.count("Sec-WebSocket-Protocol") > 1) return error::bad_subprotocol;
    if (auto const p = res.headers.find("Sec-WebSocket-Protocol")) {
        bool found = false;
        for (auto const& o : offered) found = found || o == *p;
        if (!found) return error::bad_subprotocol;
    }
    return {};
}

} // namespace rtmsg::websocket
