#ifndef NEXTPRISM_DETAIL_VALUE_CHECKS_HPP
#define NEXTPRISM_DETAIL_VALUE_CHECKS_HPP

// The whitelist's closed set of value types, checked (included by
// impl/whitelist.hpp after the rule types are declared).

#include <nextprism/detail/utf8.hpp>

#include <array>
#include <span>
#include <string>
#include <string_view>

namespace nextprism::detail {

struct value_type_name
{
    value_type type;
    std::string_view name;
};

inline constexpr std::array<value_type_name, 7> value_type_names{{
    {value_type::none, "none"},
    {value_type::user_id, "user_id"},
    {value_type::group_id, "group_id"},
    {value_type::user_files_path, "user_files_path"},
    {value_type::user_folder, "user_folder"},
    {value_type::relative_path, "relative_path"},
    {value_type::choice, "choice"},
}};

inline std::string join(std::span<const std::string> words, std::string_view separator = " ")
{
    std::string out;
    for (const auto& w : words) {
        if (!out.empty())
            out += separator;
        out += w;
    }
    return out;
}

/// Quotes a caller's token for a reason line: visible, bounded, escaped.
inline std::string show(std::string_view token)
{
    constexpr std::size_t max = 80;
    std::string out = "'";
    out.append(token.substr(0, max));
    if (token.size() > max)
        out += "...";
    out += "'";
    return out;
}

inline bool is_id_character(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '@' || c == '-';
}

inline bool check_id(std::string_view v, std::string_view what, std::string& reason)
{
    if (v.empty() || v.size() > 64) {
        reason = std::string(what) + " must be 1 to 64 characters";
        return false;
    }
    if (v.front() == '-' || v.front() == '.') {
        reason = std::string(what) + " " + show(v) + " must not start with '-' or '.'";
        return false;
    }
    for (char c : v)
        if (!is_id_character(c)) {
            reason = std::string(what) + " " + show(v) +
                     " may contain only letters, digits, '_', '.', '@' and '-'";
            return false;
        }
    return true;
}

/** Unicode White_Space, as Go's unicode.IsSpace sees it (PhotoPrism trims
    its path arguments with strings.TrimSpace, which uses it). */
constexpr bool is_unicode_space(char32_t c) noexcept
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/// Whether `s` begins or ends with white space (undecodable bytes are not
/// space: the wire grammar refuses invalid UTF-8 before this runs).
inline bool has_outer_space(std::string_view s) noexcept
{
    if (s.empty())
        return false;
    if (const auto first = decode_utf8(s, 0); first && is_unicode_space(first->value))
        return true;
    // The last code point starts at the last byte that is not a continuation.
    std::size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
        --start;
    const auto last = decode_utf8(s, start);
    return last && is_unicode_space(last->value);
}

/** Checks the slash-separated segments of `v`: none empty, `.` or `..`, none
    with leading or trailing white space (a CLI that trims would turn " .."
    into ".."), no backslash. */
inline bool check_segments(std::string_view v, std::string& reason)
{
    constexpr std::size_t max_path = 1024;
    if (v.size() > max_path) {
        reason = "path longer than " + std::to_string(max_path) + " bytes";
        return false;
    }
    std::size_t start = 0;
    while (true) {
        const auto end = v.find('/', start);
        const auto segment = v.substr(start, end == std::string_view::npos ? end : end - start);
        if (segment.empty()) {
            reason = "path " + show(v) + " has an empty segment ('//')";
            return false;
        }
        if (segment == "." || segment == "..") {
            reason = "path " + show(v) + " contains a '" + std::string(segment) + "' segment";
            return false;
        }
        if (has_outer_space(segment)) {
            reason = "path " + show(v) + " has a segment that begins or ends with white space";
            return false;
        }
        if (segment.size() > 255) {
            reason = "path segment longer than 255 bytes";
            return false;
        }
        if (segment.find('\\') != std::string_view::npos) {
            reason = "path " + show(v) + " contains a backslash";
            return false;
        }
        if (end == std::string_view::npos)
            return true;
        start = end + 1;
    }
}

inline bool check_value(value_type type, std::span<const std::string> choices, std::string_view v,
                        std::string& reason)
{
    switch (type) {
    case value_type::none:
        reason = "takes no value";
        return false;
    case value_type::user_id:
        return check_id(v, "user id", reason);
    case value_type::group_id:
        return check_id(v, "group id", reason);
    case value_type::choice:
        if (std::find(choices.begin(), choices.end(), v) != choices.end())
            return true;
        reason = "value " + show(v) + " is not one of: " + join(choices, ", ");
        return false;
    case value_type::relative_path: {
        if (v.empty()) {
            reason = "empty path";
            return false;
        }
        if (v.front() == '/') {
            reason = "path " + show(v) + " must be relative, not absolute";
            return false;
        }
        if (v.front() == '-') {
            reason = "path " + show(v) + " must not start with '-'";
            return false;
        }
        if (v.back() == '/')
            v.remove_suffix(1);
        return check_segments(v, reason);
    }
    case value_type::user_folder: {
        if (v == "/")
            return true;
        if (v.empty()) {
            reason = "empty folder";
            return false;
        }
        if (v.front() == '-') {
            reason = "folder " + show(v) + " must not start with '-'";
            return false;
        }
        if (v.front() == '/')
            v.remove_prefix(1);
        if (!v.empty() && v.back() == '/')
            v.remove_suffix(1);
        return check_segments(v, reason);
    }
    case value_type::user_files_path: {
        const std::string_view original = v;
        if (v.empty() || v.front() != '/') {
            reason = "path " + show(original) + " must start with /<user id>/files";
            return false;
        }
        v.remove_prefix(1);
        if (!v.empty() && v.back() == '/')
            v.remove_suffix(1);
        if (!check_segments(v, reason))
            return false;
        const auto slash = v.find('/');
        if (!check_id(v.substr(0, slash), "user id in path", reason))
            return false;
        const auto rest = slash == std::string_view::npos ? std::string_view{} : v.substr(slash + 1);
        if (rest.substr(0, rest.find('/')) != "files") {
            reason = "path " + show(original) + " must start with /<user id>/files";
            return false;
        }
        return true;
    }
    }
    reason = "unknown value type";
    return false;
}

/** An exec user: `name`, `uid`, `name:group` or `uid:gid`, each part as
    check_id allows (Docker's exec User field). */
inline bool check_exec_user(std::string_view v, std::string& reason)
{
    const auto colon = v.find(':');
    if (!check_id(v.substr(0, colon), "exec_user", reason))
        return false;
    return colon == std::string_view::npos || check_id(v.substr(colon + 1), "exec_user group", reason);
}

/// An absolute, clean directory: "/" or "/a/b" with checked segments.
inline bool check_absolute_dir(std::string_view v, std::string& reason)
{
    if (v == "/")
        return true;
    if (v.empty() || v.front() != '/' || v.back() == '/') {
        reason = "expected an absolute path without a trailing '/', got " + show(v);
        return false;
    }
    return check_segments(v.substr(1), reason);
}

/// base/value for a relative path value (a trailing '/' of value dropped).
inline std::string join_base(std::string_view base, std::string_view value)
{
    if (!value.empty() && value.back() == '/')
        value.remove_suffix(1);
    std::string out(base == "/" ? "" : base);
    out += '/';
    out += value;
    return out;
}

template<class Rule>
bool spelled_as(const Rule& rule, std::string_view name)
{
    return rule.name == name ||
           std::find(rule.aliases.begin(), rule.aliases.end(), name) != rule.aliases.end();
}

} // namespace nextprism::detail

#endif
