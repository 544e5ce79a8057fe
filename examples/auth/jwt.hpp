#pragma once
// A minimal HS256 JSON Web Token (RFC 7519) verifier and signer over OpenSSL's
// libcrypto, for the auth example.  It accepts only alg HS256 (never "none",
// never a key-type confusion), compares signatures in constant time, and checks
// exp / nbf with a leeway.
#include <simdjson.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace auth_example {

/// What a verified token says about its bearer.
struct claims {
    std::string subject;                ///< "sub": the identity (presence, authorization)
    std::vector<std::string> publish;   ///< "pub": topic prefixes the bearer may publish to
    std::vector<std::string> subscribe; ///< "sub_topics": prefixes it may subscribe to
    std::int64_t expires = 0;           ///< "exp", seconds since the epoch (required)
};

enum class jwt_error { none, malformed, bad_header, bad_signature, expired, not_yet_valid, bad_claims };

inline char const* to_string(jwt_error e)
{
    switch (e) {
    case jwt_error::none: return "ok";
    case jwt_error::malformed: return "malformed token";
    case jwt_error::bad_header: return "unsupported token header (only alg HS256)";
    case jwt_error::bad_signature: return "bad signature";
    case jwt_error::expired: return "token expired";
    case jwt_error::not_yet_valid: return "token not yet valid";
    case jwt_error::bad_claims: return "missing or malformed claims";
    }
    return "?";
}

namespace detail {

inline std::optional<std::string> base64url_decode(std::string_view in)
{
    // RFC 7515 §2: base64url without padding.
    if (in.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        int v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '-')
            v = 62;
        else if (c == '_')
            v = 63;
        else
            return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // Leftover bits must be zero (canonical encoding).
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

inline std::string base64url_encode(std::string_view in)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 0x3F]);
        }
    }
    if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 0x3F]);
    return out;
}

inline std::string hmac_sha256(std::string_view key, std::string_view data)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<unsigned char const*>(data.data()),
         data.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
}

inline bool string_array(simdjson::ondemand::object& obj, std::string_view key, std::vector<std::string>& out)
{
    simdjson::ondemand::array arr;
    auto err = obj.find_field_unordered(key).get_array().get(arr);
    if (err == simdjson::NO_SUCH_FIELD) return true;
    if (err) return false;
    for (auto v : arr) {
        std::string_view s;
        if (v.get_string().get(s)) return false;
        out.emplace_back(s);
    }
    return true;
}

} // namespace detail

/// Verifies `token` (header.payload.signature) with `key`; fills `out` on
/// success.
inline jwt_error verify_hs256(std::string_view token, std::string_view key, claims& out,
                              std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                              std::chrono::seconds leeway = std::chrono::seconds(30))
{
    if (token.size() > 8192) return jwt_error::malformed;
    auto const d1 = token.find('.');
    auto const d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
    if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) return jwt_error::malformed;
    auto const signing_input = token.substr(0, d2);
    auto const sig = detail::base64url_decode(token.substr(d2 + 1));
    auto const header = detail::base64url_decode(token.substr(0, d1));
    auto const payload = detail::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
    if (!sig || !header || !payload) return jwt_error::malformed;

    // The signature first: nothing in an unauthenticated payload is looked at.
    auto const mac = detail::hmac_sha256(key, signing_input);
    if (sig->size() != mac.size() || CRYPTO_memcmp(sig->data(), mac.data(), mac.size()) != 0)
        return jwt_error::bad_signature;

    simdjson::ondemand::parser parser;
    {
        simdjson::padded_string h(*header);
        simdjson::ondemand::document doc;
        simdjson::ondemand::object obj;
        std::string_view alg;
        if (parser.iterate(h).get(doc) || doc.get_object().get(obj) || obj["alg"].get_string().get(alg) ||
            alg != "HS256")
            return jwt_error::bad_header;
    }
    simdjson::padded_string p(*payload);
    simdjson::ondemand::document doc;
    simdjson::ondemand::object obj;
    if (parser.iterate(p).get(doc) || doc.get_object().get(obj)) return jwt_error::bad_claims;
    claims c;
    std::string_view sub;
    if (obj.find_field_unordered("sub").get_string().get(sub) || sub.empty() || sub.size() > 256)
        return jwt_error::bad_claims;
    c.subject = std::string(sub);
    if (obj.find_field_unordered("exp").get_int64().get(c.expires)) return jwt_error::bad_claims;
    std::int64_t nbf = 0;
    auto const nbf_err = obj.find_field_unordered("nbf").get_int64().get(nbf);
    if (nbf_err && nbf_err != simdjson::NO_SUCH_FIELD) return jwt_error::bad_claims;
    if (!detail::string_array(obj, "pub", c.publish) || !detail::string_array(obj, "sub_topics", c.subscribe))
        return jwt_error::bad_claims;
    auto const t = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    if (t > c.expires + leeway.count()) return jwt_error::expired;
    if (!nbf_err && t + leeway.count() < nbf) return jwt_error::not_yet_valid;
    out = std::move(c);
    return jwt_error::none;
}

/// Signs `payload_json` as an HS256 token (for tests and the example's --token
/// option).
inline std::string sign_hs256(std::string_view payload_json, std::string_view key)
{
    auto input =
        detail::base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + '.' + detail::base64url_encode(payload_json);
    auto const mac = detail::hmac_sha256(key, input);
    return input + '.' + detail::base64url_encode(mac);
}

} // namespace auth_example
