#pragma once
// The sans-I/O Server-Sent Events encoder (WHATWG HTML §9.2 "Server-sent events").
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rtmsg::sse {

/** One event.  Every field is optional; an event with no data is still dispatched by
    browsers only if it has data, so send at least an empty `data`. */
struct event {
    std::string_view data;  ///< any bytes; CR, LF and CRLF split it into several `data:` lines
    std::string_view id;    ///< becomes the client's Last-Event-ID; must not contain CR, LF or NUL
    std::string_view type;  ///< the `event:` field (DOM event type); empty means "message"
    std::uint32_t retry = 0; ///< reconnection time in ms the client should use; 0: not sent
};

namespace detail {
/// Appends one field line, dropping CR/LF/NUL from single-line fields so that a value
/// can never start a new field or end the event.
inline void append_field(std::string& out, std::string_view name, std::string_view value)
{
    out.append(name);
    out.append(": ");
    for (char c : value)
        if (c != '\r' && c != '\n' && c != '\0') out += c;
    out += '\n';
}
/// The position of the first CR or LF in `d` (npos if none).  memchr is vectorized, where
/// string_view::find_first_of tests every byte against each delimiter in turn.
inline std::size_t find_line_end(std::string_view d) noexcept
{
    if (d.empty()) return std::string_view::npos; // memchr needs a valid pointer
    auto const* p = d.data();
    auto const* lf = static_cast<char const*>(std::memchr(p, '\n', d.size()));
    auto const n = lf ? static_cast<std::size_t>(lf - p) : d.size();
    auto const* cr = static_cast<char const*>(std::memchr(p, '\r', n));
    if (cr) return static_cast<std::size_t>(cr - p);
    return lf ? n : std::string_view::npos;
}
} // namespace detail

/** Appends `ev` in event-stream format to `out`.

    The data is split at every CR, LF and CRLF (the three line endings the parser
    recognises), each piece written as its own `data:` line, so that the browser's
    reassembly (lines joined with LF) gives back the payload with LF line endings — and no
    byte of the payload can begin another field or end the event early.  `id` and `type`
    are single-line fields: CR, LF and NUL are removed from them (an id containing NUL would
    be ignored by clients).
*/
inline void format_event(std::string& out, event const& ev)
{
    if (!ev.id.empty()) detail::append_field(out, "id", ev.id);
    if (!ev.type.empty()) detail::append_field(out, "event", ev.type);
    if (ev.retry != 0) {
        out.append("retry: ");
        out.append(std::to_string(ev.retry));
        out += '\n';
    }
    std::string_view d = ev.data;
    out.reserve(out.size() + d.size() + 16);
    for (;;) {
        auto const end = detail::find_line_end(d);
        out.append("data: ");
        out.append(d.substr(0, end));
        out += '\n';
        if (end == std::string_view::npos) break;
        auto skip = (d[end] == '\r' && end + 1 < d.size() && d[end + 1] == '\n') ? 2 : 1;
        d.remove_prefix(end + static_cast<std::size_t>(skip));
    }
    out += '\n';
}

/// Appends a comment line (ignored by clients; keeps proxies and idle timers from closing the stream).
inline void format_comment(std::string& out, std::string_view text = {})
{
    out += ':';
    if (!text.empty()) {
        out += ' ';
        for (char c : text)
            if (c != '\r' && c != '\n') out += c;
    }
    out.append("\n\n");
}

} // namespace rtmsg::sse
