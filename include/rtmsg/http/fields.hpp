#pragma once
// An ordered list of HTTP header fields with case-insensitive look-up (RFC 9110 §5).
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtmsg::http {

namespace detail {

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" /
// "~" / DIGIT / ALPHA.  A table keeps the parser's hot loops to one load per byte.
struct tchar_table {
    bool value[256] = {};
    constexpr tchar_table()
    {
        for (int c = '0'; c <= '9'; ++c) value[c] = true;
        for (int c = 'a'; c <= 'z'; ++c) value[c] = true;
        for (int c = 'A'; c <= 'Z'; ++c) value[c] = true;
        for (char c : std::string_view("!#$%&'*+-.^_`|~")) value[static_cast<unsigned char>(c)] = true;
    }
};
inline constexpr tchar_table tchars{};

} // namespace detail

// The lexical rules of RFC 9110 that every HTTP-speaking layer above (the WebSocket handshake,
// the clients) shares.

/// True for a tchar (RFC 9110 §5.6.2).
constexpr bool is_tchar(char c) noexcept
{
    return detail::tchars.value[static_cast<unsigned char>(c)];
}

/// True for a non-empty token (RFC 9110 §5.6.2): a method, a field name, a list element.
constexpr bool is_token(std::string_view s) noexcept
{
    if (s.empty()) return false;
    for (char c : s)
        if (!is_tchar(c)) return false;
    return true;
}

/// `c` in lower case if it is an ASCII capital letter.
constexpr char ascii_lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

/// ASCII case-insensitive equality; field names and most tokens are case-insensitive (RFC 9110 §5.1).
constexpr bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

/// Strips optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
constexpr std::string_view trim_ows(std::string_view s) noexcept
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/** Calls `f(element)` for each non-empty element of a comma-separated list (RFC 9110 §5.6.1), trimmed of
    OWS. Stops early and returns true as soon as `f` returns true. Quoted strings are not special-cased: the
    lists this is used for (Connection, Upgrade, Transfer-Encoding) hold tokens. */
template <class F>
constexpr bool for_each_list_element(std::string_view list, F&& f)
{
    while (true) {
        auto const comma = list.find(',');
        auto const element = trim_ows(list.substr(0, comma));
        if (!element.empty() && f(element)) return true;
        if (comma == std::string_view::npos) return false;
        list.remove_prefix(comma + 1);
    }
}

/// One header field line: the name as received (compare it case-insensitively) and the OWS-trimmed value.
struct field {
    /// The field name as received (compare with iequals: names are case-insensitive).
    std::string name;
    /// The field value, without surrounding whitespace.
    std::string value;
};

/** The header fields of a request or response, in the order they were received or added.

    Repeated fields are kept as separate entries, as they arrived (RFC 9110 §5.3 lets a recipient combine
    them with commas, but Set-Cookie cannot be combined). Look-ups compare names ASCII case-insensitively.
    Look-ups are linear: header sections are short, and a vector of pairs beats a map at these sizes.

    Names and values are stored as given. The parser only stores names that are tokens and values without
    control characters; `serialize` defends against response splitting for fields you add yourself.

    @par Thread safety
    Distinct objects: Safe. Shared objects: Unsafe.
*/
class fields {
public:
    /// Each element is one field (name and value).
    using value_type = field;
    /// Iterates the fields in the order received or added.
    using const_iterator = std::vector<field>::const_iterator;
    /// The fields are read-only through iterators.
    using iterator = const_iterator;
    /// The type of a count of fields.
    using size_type = std::size_t;

    /// Appends a field line, keeping any existing ones with the same name.
    void add(std::string_view name, std::string_view value)
    {
        list_.push_back({std::string(name), std::string(value)});
    }

    /** Replaces every field named `name` (case-insensitively) by one field with `value`.

        The new field takes the position of the first old one, or goes at the end if there was none.
    */
    void set(std::string_view name, std::string_view value)
    {
        auto const first = find_it(name);
        if (first == list_.end()) {
            add(name, value);
            return;
        }
        first->name.assign(name);
        first->value.assign(value);
        list_.erase(
            std::remove_if(std::next(first), list_.end(), [&](field const& f) { return iequals(f.name, name); }),
            list_.end());
    }

    /// Removes every field named `name`; returns how many were removed.
    std::size_t erase(std::string_view name)
    {
        auto const it =
            std::remove_if(list_.begin(), list_.end(), [&](field const& f) { return iequals(f.name, name); });
        auto const removed = static_cast<std::size_t>(list_.end() - it);
        list_.erase(it, list_.end());
        return removed;
    }

    /// Removes every field.
    void clear() noexcept { list_.clear(); }

    /** The value of the first field named `name`, or nullopt.

        The view points into this object and is invalidated by any modification.
    */
    std::optional<std::string_view> find(std::string_view name) const
    {
        for (auto const& f : list_)
            if (iequals(f.name, name)) return std::string_view(f.value);
        return std::nullopt;
    }

    /// The values of every field named `name`, in order. The views are invalidated by any modification.
    std::vector<std::string_view> find_all(std::string_view name) const
    {
        std::vector<std::string_view> values;
        for (auto const& f : list_)
            if (iequals(f.name, name)) values.emplace_back(f.value);
        return values;
    }

    /// How many field lines are named `name`.
    std::size_t count(std::string_view name) const noexcept
    {
        return static_cast<std::size_t>(
            std::count_if(list_.begin(), list_.end(), [&](field const& f) { return iequals(f.name, name); }));
    }

    /// Whether at least one field is named `name`.
    bool contains(std::string_view name) const noexcept
    {
        return std::any_of(list_.begin(), list_.end(), [&](field const& f) { return iequals(f.name, name); });
    }

    /** Whether the comma-separated lists of every field named `name` contain `token`.

        Elements are trimmed of OWS and compared case-insensitively, and all repeated field lines count, so
        `Connection: keep-alive, Upgrade` and two lines `Connection: keep-alive` / `Connection: upgrade`
        both have the token "upgrade" (RFC 9110 §5.3, §7.6.1).

        @par Example
        @code
        if (req.headers.has_token("Connection", "close")) ...
        @endcode
    */
    bool has_token(std::string_view name, std::string_view token) const noexcept
    {
        for (auto const& f : list_) {
            if (!iequals(f.name, name)) continue;
            if (for_each_list_element(f.value, [&](std::string_view e) { return iequals(e, token); })) return true;
        }
        return false;
    }

    /// Number of field lines.
    std::size_t size() const noexcept { return list_.size(); }
    /// Whether there are no field lines.
    bool empty() const noexcept { return list_.empty(); }
    /// Reserves room for `n` field lines.
    void reserve(std::size_t n) { list_.reserve(n); }
    /// Gives back room for field lines that were never used (a request kept for a long time).
    void shrink_to_fit() { list_.shrink_to_fit(); }

    /// Iteration over `field`s in order.
    const_iterator begin() const noexcept { return list_.begin(); }
    /// The end of the fields.
    const_iterator end() const noexcept { return list_.end(); }

private:
    std::vector<field>::iterator find_it(std::string_view name)
    {
        return std::find_if(list_.begin(), list_.end(), [&](field const& f) { return iequals(f.name, name); });
    }

    std::vector<field> list_;
};

} // namespace rtmsg::http
