#pragma once
// Topic names and wildcard patterns.
//
// A topic name is 1-255 bytes of dot-separated levels; each level is one or more of
// [A-Za-z0-9_-:].  A pattern may use `*` as a whole level (exactly one level) and `>` as
// its last level (one or more levels): `prices.*` matches `prices.AAPL` but not
// `prices.us.AAPL`; `prices.>` matches both, but not `prices` itself.
#include <string_view>

namespace rtmsg {

namespace detail {
constexpr bool is_topic_char(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == ':';
}

template <class F>
constexpr bool for_each_level(std::string_view s, F&& f) noexcept
{
    std::size_t start = 0;
    for (;;) {
        auto const dot = s.find('.', start);
        auto const level = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        bool const last = dot == std::string_view::npos;
        if (!f(level, last)) return false;
        if (last) return true;
        start = dot + 1;
    }
}
} // namespace detail

inline constexpr std::size_t max_topic_length = 255;

/// Is `name` a valid topic name (no wildcards)?
constexpr bool is_valid_topic(std::string_view name) noexcept
{
    if (name.empty() || name.size() > max_topic_length) return false;
    return detail::for_each_level(name, [](std::string_view level, bool) {
        if (level.empty()) return false;
        for (char c : level)
            if (!detail::is_topic_char(c)) return false;
        return true;
    });
}

/// Is `pattern` a valid subscription: a topic name, or one with `*` levels and/or a final `>`?
constexpr bool is_valid_pattern(std::string_view pattern) noexcept
{
    if (pattern.empty() || pattern.size() > max_topic_length) return false;
    return detail::for_each_level(pattern, [](std::string_view level, bool last) {
        if (level == "*") return true;
        if (level == ">") return last;
        if (level.empty()) return false;
        for (char c : level)
            if (!detail::is_topic_char(c)) return false;
        return true;
    });
}

/// Does the pattern contain wildcards?
constexpr bool is_wildcard(std::string_view pattern) noexcept
{
    bool wild = false;
    detail::for_each_level(pattern, [&](std::string_view level, bool) {
        if (level == "*" || level == ">") wild = true;
        return true;
    });
    return wild;
}

/// Does `topic` match `pattern`?  Both must be valid.
constexpr bool topic_matches(std::string_view pattern, std::string_view topic) noexcept
{
    for (;;) {
        auto const pd = pattern.find('.');
        auto const td = topic.find('.');
        auto const pl = pattern.substr(0, pd);
        auto const tl = topic.substr(0, td);
        if (pl == ">") return true; // one or more levels remain in topic (tl is non-empty)
        if (pl != "*" && pl != tl) return false;
        bool const p_end = pd == std::string_view::npos;
        bool const t_end = td == std::string_view::npos;
        if (p_end || t_end) return p_end && t_end;
        pattern.remove_prefix(pd + 1);
        topic.remove_prefix(td + 1);
    }
}

} // namespace rtmsg
