#pragma once
// Mapping request paths to files under a document root, safely, and guessing their media types.
#include <rtmsg/http/detail/url.hpp>
#include <rtmsg/http/fields.hpp>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace rtmsg::http {

namespace detail {

// Whether `p` is `base` or lies under it, compared component by component (so "/srv/www2" is not under
// "/srv/www", which a string prefix test would allow). Both must be absolute and normal.
inline bool path_is_within(std::filesystem::path const& base, std::filesystem::path const& p)
{
    auto b = base.begin();
    auto i = p.begin();
    for (; b != base.end(); ++b, ++i) {
        if (b->empty() && std::next(b) == base.end()) break; // a trailing separator in base
        if (i == p.end() || *b != *i) return false;
    }
    return true;
}

} // namespace detail

/** Maps a request path to a file under `root`, or nullopt if it could escape `root` or is malformed.

    Give it `request::path()`: still percent-encoded, starting with `/` (anything from a `?` on is ignored).
    The path is percent-decoded once and rejected if it:
    - does not start with `/`, or has malformed percent-encoding;
    - contains NUL, raw or as `%00`, any other control character, or a backslash, raw or as `%5C`;
    - has a `.` or `..` segment, raw or encoded (`%2e%2e`, `.%2E`, `..%2f`: `%2F` counts as `/`);
    - has an empty segment (`//etc/passwd`, `/a//b`): decoded, it would name an absolute path;
    - resolves, after following symbolic links (`std::filesystem::weakly_canonical`), outside `root`.

    `/`, a path ending in `/`, and a path naming an existing directory map to its `index.html`.
    The file need not exist: open it and answer 404 if that fails. Directories are never listed.
    Dot files (`/.env`) are not refused; keep them out of `root`.

    @param root        the document root; relative roots are taken relative to the current directory
    @param target_path the request path, e.g. `req.path()`
    @return the canonical path of the file to serve, inside the canonical `root`

    @par Example
    @code
    auto file = http::resolve_static_path("/srv/www", req.path());
    if (!file) return http::error_response(http::status::not_found, "");
    @endcode
*/
inline std::optional<std::filesystem::path> resolve_static_path(std::filesystem::path const& root,
                                                                std::string_view target_path)
{
    namespace fs = std::filesystem;
    target_path = target_path.substr(0, target_path.find('?'));
    if (target_path.empty() || target_path.front() != '/') return std::nullopt;

    std::string decoded;
    if (!detail::percent_decode(target_path, decoded, false)) return std::nullopt;
    // NUL would truncate the name in the C library; a backslash is a separator on Windows. Checking the
    // decoded form covers the raw and the encoded spellings at once.
    if (std::any_of(decoded.begin(), decoded.end(), [](char c) {
            auto const u = static_cast<unsigned char>(c);
            return u < 0x20 || u == 0x7F || c == '\\';
        }))
        return std::nullopt;

    fs::path relative;
    bool directory = decoded.back() == '/';
    std::string_view rest = std::string_view(decoded).substr(1);
    while (!rest.empty()) {
        auto const slash = rest.find('/');
        auto const segment = rest.substr(0, slash);
        if (segment.empty() || segment == "." || segment == "..") return std::nullopt;
        relative /= fs::path(segment);
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }

    std::error_code ec;
    fs::path const base = fs::weakly_canonical(root, ec);
    if (ec) return std::nullopt;
    fs::path candidate = base / relative;
    if (!directory) directory = fs::is_directory(candidate, ec);
    if (directory) candidate /= "index.html";
    // Follows symbolic links in the part that exists, so a link pointing out of root is caught below.
    fs::path const resolved = fs::weakly_canonical(candidate, ec);
    if (ec || !detail::path_is_within(base, resolved)) return std::nullopt;
    return resolved;
}

/** The media type to send as Content-Type for a file, from its extension (case-insensitive).

    Known: html/htm, css, js/mjs, json, map, svg, png, jpg/jpeg, gif, webp, ico, txt, xml, wasm, pdf,
    woff, woff2. Text types carry `; charset=utf-8`. Anything else is `application/octet-stream`.
*/
inline std::string_view mime_type(std::filesystem::path const& file)
{
    struct entry {
        std::string_view extension;
        std::string_view type;
    };
    static constexpr entry table[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, // RFC 9239
        {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"}, // RFC 8259 §11: no charset parameter
        {".map", "application/json"},  // source maps
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".xml", "text/xml; charset=utf-8"},
        {".wasm", "application/wasm"}, // needed by WebAssembly.instantiateStreaming
        {".pdf", "application/pdf"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
    };
    auto const ext = file.extension().string();
    for (auto const& e : table)
        if (iequals(ext, e.extension)) return e.type;
    return "application/octet-stream";
}

} // namespace rtmsg::http
