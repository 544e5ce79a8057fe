#pragma once
// Server-Sent Events, sans I/O (WHATWG HTML §9.2 "Server-sent events"): the encoder a server
// writes with and the event-stream parser a client reads with.
#include <rtmsg/sse/error.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace rtmsg::sse {

/** One event.  Every field is optional; an event with no data is still dispatched by
    browsers only if it has data, so send at least an empty `data`. */
struct event {
    std::string_view data;   ///< any bytes; CR, LF and CRLF split it into several `data:` lines
    std::string_view id;     ///< becomes the client's Last-Event-ID; must not contain CR, LF or NUL
    std::string_view type;   ///< the `event:` field (DOM event type); empty means "message"
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

/// An event as the client receives it (WHATWG HTML §9.2.6 "dispatch the event").
struct received_event {
    std::string type = "message"; ///< the `event:` field, or "message"
    std::string data;             ///< the `data:` lines joined with LF
    std::string id;               ///< the last event ID at dispatch time
};

/** The event-stream parser of WHATWG HTML §9.2.6, sans I/O.

    feed() takes the response body in any chunking.  It skips one leading UTF-8 BOM,
    splits lines at CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of
    the next are one line ending), ignores comments (`:`) and unknown fields, strips one
    space after the colon, appends `data` lines (joined by LF), takes `event`, takes `id`
    unless it contains NUL, takes `retry` only if it is all ASCII digits, and dispatches on
    a blank line — only if some data arrived, and with the trailing LF removed.  The last
    event ID persists across events (and across reconnections: keep the parser).
*/
class parser {
public:
    /// A parser that fails an event or line longer than `max_event_size` bytes with event_too_big.
    explicit parser(std::size_t max_event_size = 1u << 20) : max_(max_event_size) {}

    /// Feeds bytes; calls `on_event(received_event&&)` for each dispatched event.  Returns
    /// error::event_too_big if a line or an event grows beyond the limit.
    template <class OnEvent>
    std::error_code feed(std::string_view in, OnEvent&& on_event)
    {
        std::size_t i = 0;
        if (bom_pending_) {
            // The BOM may itself arrive split.
            static constexpr std::string_view bom = "\xEF\xBB\xBF";
            while (i < in.size() && bom_seen_ < 3 && in[i] == bom[bom_seen_]) {
                ++i;
                ++bom_seen_;
            }
            if (bom_seen_ == 3 || (i < in.size())) {
                if (bom_seen_ != 3 && bom_seen_ != 0) line_.assign(bom.substr(0, bom_seen_)); // not a BOM after all
                bom_pending_ = false;
            }
        }
        while (i < in.size()) {
            if (after_cr_ && in[i] == '\n') {
                after_cr_ = false;
                ++i;
                continue;
            }
            after_cr_ = false;
            auto const end = in.find_first_of("\r\n", i);
            if (end == std::string_view::npos) {
                line_.append(in.substr(i));
                if (line_.size() > max_) return error::event_too_big;
                return {};
            }
            line_.append(in.substr(i, end - i));
            if (line_.size() > max_) return error::event_too_big;
            after_cr_ = in[end] == '\r';
            i = end + 1;
            if (auto ec = on_line(on_event)) return ec;
            line_.clear();
        }
        return {};
    }

    /// The last event ID (sent as Last-Event-ID when reconnecting).
    std::string const& last_event_id() const noexcept { return last_id_; }
    /// Sets the last event ID (to resume from a stored id).
    void last_event_id(std::string id) { last_id_ = std::move(id); }
    /// The reconnection time the server asked for with `retry:`, if it did.
    std::optional<std::uint64_t> retry() const noexcept { return retry_; }
    /// Forgets a partial line and event (the connection ended: WHATWG discards them).
    void reset_connection() noexcept
    {
        line_.clear();
        data_.clear();
        type_.clear();
        after_cr_ = false;
        bom_pending_ = true;
        bom_seen_ = 0;
    }

private:
    template <class OnEvent>
    std::error_code on_line(OnEvent& on_event)
    {
        std::string_view line = line_;
        if (line.empty()) {
            if (data_.empty()) {
                type_.clear();
                return {};
            }
            received_event ev;
            if (!type_.empty()) ev.type = std::move(type_);
            data_.pop_back(); // the LF after the last data line
            ev.data = std::move(data_);
            ev.id = last_id_;
            data_.clear();
            type_.clear();
            on_event(std::move(ev));
            return {};
        }
        if (line.front() == ':') return {};
        auto const colon = line.find(':');
        auto const field = line.substr(0, colon);
        std::string_view value;
        if (colon != std::string_view::npos) {
            value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        }
        if (field == "data") {
            if (data_.size() + value.size() + 1 > max_) return error::event_too_big;
            data_.append(value);
            data_ += '\n';
        }
        else if (field == "event")
            type_.assign(value);
        else if (field == "id") {
            if (value.find('\0') == std::string_view::npos) last_id_.assign(value);
        }
        else if (field == "retry") {
            std::uint64_t v = 0;
            auto const r = std::from_chars(value.data(), value.data() + value.size(), v);
            if (!value.empty() && r.ec == std::errc{} && r.ptr == value.data() + value.size()) retry_ = v;
        }
        return {};
    }

    std::size_t max_;
    std::string line_, data_, type_, last_id_;
    std::optional<std::uint64_t> retry_;
    bool after_cr_ = false;
    bool bom_pending_ = true;
    std::size_t bom_seen_ = 0;
};

} // namespace rtmsg::sse
