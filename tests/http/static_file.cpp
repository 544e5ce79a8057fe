// Test that the header is self-contained.
#include <rtmsg/http/static_file.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>

namespace {

namespace http = rtmsg::http;
namespace fs = std::filesystem;
using namespace std::string_literals;

// A temporary site:
//   <tmp>/secret.txt            outside the root
//   <tmp>/www2/x.txt            a sibling whose name starts like the root's
//   <tmp>/www/index.html  a.txt  ...  sub/index.html  sub/page.html  empty/  .well-known/x
//   <tmp>/www/escape -> ../secret.txt,  www/inside -> a.txt,  www/up -> ..   (if symlinks work)
struct site {
    fs::path base;
    fs::path root;
    bool symlinks = true;

    site()
    {
        std::random_device rd;
        base = fs::temp_directory_path() / ("rtmsg_static_" + std::to_string(rd()) + std::to_string(rd()));
        root = base / "www";
        fs::create_directories(root / "sub");
        fs::create_directories(root / "empty");
        fs::create_directories(root / ".well-known");
        fs::create_directories(base / "www2");
        for (auto const& p :
             {base / "secret.txt", base / "www2" / "x.txt", root / "index.html", root / "a.txt",
              root / "sub" / "index.html", root / "sub" / "page.html", root / ".well-known" / "x", root / "..."})
            std::ofstream(p) << "content of " << p.filename().string();
        std::error_code ec;
        fs::create_symlink("../secret.txt", root / "escape", ec);
        fs::create_symlink("a.txt", root / "inside", ec);
        fs::create_directory_symlink("..", root / "up", ec);
        symlinks = !ec;
    }
    ~site()
    {
        std::error_code ec;
        fs::remove_all(base, ec);
    }
    site(site const&) = delete;
    site& operator=(site const&) = delete;

    fs::path canonical(fs::path const& relative) const { return fs::weakly_canonical(root / relative); }
};

} // namespace

TEST_CASE("http: static paths map to files under the root, and directories to index.html", "[http]")
{
    site const s;
    CHECK(http::resolve_static_path(s.root, "/") == s.canonical("index.html"));
    CHECK(http::resolve_static_path(s.root, "/a.txt") == s.canonical("a.txt"));
    CHECK(http::resolve_static_path(s.root, "/a.txt?download=1") == s.canonical("a.txt"));
    CHECK(http::resolve_static_path(s.root, "/a%2Etxt") == s.canonical("a.txt"));
    CHECK(http::resolve_static_path(s.root, "/sub/") == s.canonical("sub/index.html"));
    CHECK(http::resolve_static_path(s.root, "/sub") == s.canonical("sub/index.html"));
    CHECK(http::resolve_static_path(s.root, "/sub/page.html") == s.canonical("sub/page.html"));
    CHECK(http::resolve_static_path(s.root, "/empty") == s.canonical("empty/index.html")); // caller 404s
    CHECK(http::resolve_static_path(s.root, "/new%20file.txt") == s.canonical("new file.txt"));
    CHECK(http::resolve_static_path(s.root, "/.well-known/x") == s.canonical(".well-known/x"));
    CHECK(http::resolve_static_path(s.root, "/...") == s.canonical("...")); // a name, not a dot segment
    CHECK(http::resolve_static_path(s.root, "/a+b") == s.canonical("a+b")); // '+' is not a space in paths
    // A root given with a trailing separator or relative components works the same.
    CHECK(http::resolve_static_path(s.root / "", "/a.txt") == s.canonical("a.txt"));
    CHECK(http::resolve_static_path(s.root / "sub" / "..", "/a.txt") == s.canonical("a.txt"));
}

TEST_CASE("http: static paths cannot escape the root", "[http]")
{
    site const s;
    auto const attack =
        GENERATE(as<std::string>{},
                 // dot-dot, raw and encoded
                 "/..", "/../secret.txt", "/sub/../../secret.txt", "/sub/../a.txt", "/%2e%2e/secret.txt",
                 "/%2E%2e/secret.txt", "/.%2e/secret.txt", "/%2e./secret.txt", "/..%2fsecret.txt", "/..%2Fsecret.txt",
                 "/sub/..%2f..%2fsecret.txt", "/%2f../secret.txt", "/../www2/x.txt", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                 // dot segments
                 "/.", "/./a.txt", "/sub/./page.html", "/%2e/a.txt",
                 // absolute paths and empty segments
                 "//etc/passwd", "/%2fetc/passwd", "/%2Fetc%2Fpasswd", "/sub//page.html",
                 // NUL and control characters
                 "/a.txt%00.html", "/a.txt\0.html"s, "/a.txt\0"s, "/%0a", "/a%0d%0a",
                 // backslashes
                 "/..\\secret.txt", "/%5c..%5csecret.txt", "/sub\\page.html", "/%5C",
                 // malformed
                 "", "a.txt", "../secret.txt", "/%", "/%2", "/%zz", "/a%g0");
    INFO(std::string_view(attack).substr(0, 64));
    CHECK(http::resolve_static_path(s.root, attack) == std::nullopt);
}

TEST_CASE("http: symbolic links are followed only while they stay inside the root", "[http]")
{
    site const s;
    if (!s.symlinks) {
        WARN("symbolic links are not available here; skipped");
        return;
    }
    CHECK(http::resolve_static_path(s.root, "/inside") == s.canonical("a.txt"));
    CHECK(http::resolve_static_path(s.root, "/escape") == std::nullopt);
    CHECK(http::resolve_static_path(s.root, "/up/secret.txt") == std::nullopt);
    CHECK(http::resolve_static_path(s.root, "/up") == std::nullopt);
    // Out through a link and back in lands inside the root: served, since only the final file matters.
    CHECK(http::resolve_static_path(s.root, "/up/www/a.txt") == s.canonical("a.txt"));
    // A root that is itself a symbolic link is fine: containment is checked after resolving it.
    std::error_code ec;
    fs::create_directory_symlink(s.root, s.base / "link-to-www", ec);
    REQUIRE(!ec);
    CHECK(http::resolve_static_path(s.base / "link-to-www", "/a.txt") == s.canonical("a.txt"));
}

TEST_CASE("http: media types come from the file extension", "[http]")
{
    CHECK(http::mime_type("index.html") == "text/html; charset=utf-8");
    CHECK(http::mime_type("/srv/www/INDEX.HTM") == "text/html; charset=utf-8");
    CHECK(http::mime_type("style.css") == "text/css; charset=utf-8");
    CHECK(http::mime_type("app.js") == "text/javascript; charset=utf-8");
    CHECK(http::mime_type("mod.mjs") == "text/javascript; charset=utf-8");
    CHECK(http::mime_type("data.json") == "application/json");
    CHECK(http::mime_type("app.js.map") == "application/json");
    CHECK(http::mime_type("logo.svg") == "image/svg+xml");
    CHECK(http::mime_type("a.png") == "image/png");
    CHECK(http::mime_type("a.jpg") == "image/jpeg");
    CHECK(http::mime_type("a.JPEG") == "image/jpeg");
    CHECK(http::mime_type("favicon.ico") == "image/x-icon");
    CHECK(http::mime_type("notes.txt") == "text/plain; charset=utf-8");
    CHECK(http::mime_type("module.wasm") == "application/wasm");
    CHECK(http::mime_type("archive.tar.gz") == "application/octet-stream");
    CHECK(http::mime_type("Makefile") == "application/octet-stream");
    CHECK(http::mime_type(".html") == "application/octet-stream"); // a dot file, not an extension
}
