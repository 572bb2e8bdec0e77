#ifndef NEXTPRISM_IMPL_WHITELIST_HPP
#define NEXTPRISM_IMPL_WHITELIST_HPP

#include <nextprism/detail/default_policy.hpp>
#include <nextprism/detail/utf8.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <utility>

namespace nextprism {
namespace detail {

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

// ---- the policy file loader -----------------------------------------------------

/// Raised inside the loader, turned into error::invalid_policy at its edge.
struct policy_error
{
    std::string reason;
};

class policy_reader
{
public:
    using json = nlohmann::json;

    static void only_keys(const json& j, const std::string& path,
                          std::initializer_list<std::string_view> keys)
    {
        if (!j.is_object())
            throw policy_error{path + ": expected an object"};
        for (const auto& [key, _] : j.items())
            if (std::find(keys.begin(), keys.end(), key) == keys.end())
                throw policy_error{path + "." + key + ": unknown key"};
    }

    static const json& array_at(const json& j, const std::string& path)
    {
        if (!j.is_array())
            throw policy_error{path + ": expected an array"};
        return j;
    }

    static std::string word(const json& j, const std::string& path)
    {
        if (!j.is_string())
            throw policy_error{path + ": expected a string"};
        auto s = j.get<std::string>();
        if (s.empty() || !std::all_of(s.begin(), s.end(), is_bare_character))
            throw policy_error{path + ": " + show(s) +
                               " must be a non-empty word of letters, digits and _-./:=@%+,"};
        return s;
    }

    static bool boolean(const json& j, std::string_view key, bool fallback, const std::string& path)
    {
        const auto it = j.find(key);
        if (it == j.end())
            return fallback;
        if (!it->is_boolean())
            throw policy_error{path + "." + std::string(key) + ": expected true or false"};
        return it->get<bool>();
    }

    static std::vector<std::string> words(const json& j, const std::string& path)
    {
        std::vector<std::string> out;
        std::size_t i = 0;
        for (const auto& w : array_at(j, path))
            out.push_back(word(w, path + "[" + std::to_string(i++) + "]"));
        return out;
    }

    static std::string option_name(const json& j, const std::string& path)
    {
        auto s = word(j, path);
        if (s.size() < 2 || s.front() != '-' || s.find('=') != std::string::npos || s == "--")
            throw policy_error{path + ": " + show(s) + " is not an option name (-x or --name)"};
        return s;
    }

    static value_type type(const json& j, const std::string& path)
    {
        if (!j.is_string())
            throw policy_error{path + ": expected a value type name"};
        const auto name = j.get<std::string>();
        if (auto t = value_type_from_string(name))
            return *t;
        std::string known;
        for (const auto& n : value_type_names)
            known += (known.empty() ? "" : ", ") + std::string(n.name);
        throw policy_error{path + ": unknown value type " + show(name) + " (known: " + known + ")"};
    }

    static option_rule option(const json& j, const std::string& path)
    {
        only_keys(j, path, {"name", "aliases", "value", "choices", "base", "idempotent"});
        if (!j.contains("name"))
            throw policy_error{path + ".name: missing"};
        option_rule rule;
        rule.name = option_name(j["name"], path + ".name");
        if (j.contains("aliases")) {
            std::size_t i = 0;
            for (const auto& a : array_at(j["aliases"], path + ".aliases"))
                rule.aliases.push_back(
                    option_name(a, path + ".aliases[" + std::to_string(i++) + "]"));
        }
        if (j.contains("value"))
            rule.value = type(j["value"], path + ".value");
        if (rule.value == value_type::choice) {
            if (!j.contains("choices"))
                throw policy_error{path + ".choices: missing (value is \"choice\")"};
            rule.choices = words(j["choices"], path + ".choices");
            if (rule.choices.empty())
                throw policy_error{path + ".choices: must not be empty"};
        } else if (j.contains("choices")) {
            throw policy_error{path + ".choices: only allowed with \"value\": \"choice\""};
        }
        rule.base = base(j, rule.value, path);
        rule.idempotent = boolean(j, "idempotent", true, path);
        return rule;
    }

    /// The optional "base" of a relative_path value.
    static std::optional<std::string> base(const json& j, value_type t, const std::string& path)
    {
        if (j.contains("base") && t != value_type::relative_path)
            throw policy_error{path + ".base: only allowed with \"value\": \"relative_path\""};
        return checked_string(j, "base", path, check_absolute_dir);
    }

    /// The optional string at `key`, checked by `check(value, reason)`.
    template<class Check>
    static std::optional<std::string> checked_string(const json& j, std::string_view key,
                                                     const std::string& path, Check check)
    {
        const auto it = j.find(key);
        if (it == j.end())
            return std::nullopt;
        std::string reason;
        if (!it->is_string() || !check(it->get<std::string>(), reason))
            throw policy_error{path + "." + std::string(key) + ": " +
                               (reason.empty() ? "expected a string" : reason)};
        return it->get<std::string>();
    }

    static failure_pattern failure(const json& j, const std::string& path)
    {
        only_keys(j, path, {"stream", "starts_with", "contains", "ends_with"});
        failure_pattern f;
        auto text = [&](std::string_view key) -> std::string {
            if (!j.contains(key))
                return {};
            if (!j[key].is_string() || j[key].get<std::string>().empty())
                throw policy_error{path + "." + std::string(key) + ": expected a non-empty string"};
            return j[key].get<std::string>();
        };
        f.starts_with = text("starts_with");
        f.contains = text("contains");
        f.ends_with = text("ends_with");
        if (f.starts_with.empty() && f.contains.empty() && f.ends_with.empty())
            throw policy_error{path + ": needs one of starts_with, contains, ends_with"};
        if (j.contains("stream")) {
            const auto& st = j["stream"];
            if (st == "any")
                f.stream = failure_pattern::stream_kind::any;
            else if (st == "stdout")
                f.stream = failure_pattern::stream_kind::out;
            else if (st == "stderr")
                f.stream = failure_pattern::stream_kind::err;
            else
                throw policy_error{path + ".stream: expected one of any, stdout, stderr"};
        }
        return f;
    }

    static forbidden_option forbidden(const json& j, const std::string& path)
    {
        only_keys(j, path, {"name", "aliases", "reason"});
        if (!j.contains("name"))
            throw policy_error{path + ".name: missing"};
        forbidden_option rule;
        rule.name = option_name(j["name"], path + ".name");
        if (j.contains("aliases")) {
            std::size_t i = 0;
            for (const auto& a : array_at(j["aliases"], path + ".aliases"))
                rule.aliases.push_back(
                    option_name(a, path + ".aliases[" + std::to_string(i++) + "]"));
        }
        if (!j.contains("reason") || !j["reason"].is_string())
            throw policy_error{path + ".reason: missing (a string shown to the caller)"};
        rule.reason = j["reason"].get<std::string>();
        return rule;
    }

    static command_rule command(const json& j, const std::string& path,
                                const std::vector<option_rule>& common)
    {
        only_keys(j, path,
                  {"argv", "options", "forbidden_options", "arguments", "single_flight",
                   "idempotent"});
        if (!j.contains("argv"))
            throw policy_error{path + ".argv: missing"};
        command_rule rule;
        rule.argv = words(j["argv"], path + ".argv");
        if (rule.argv.empty())
            throw policy_error{path + ".argv: must not be empty"};
        for (std::size_t i = 0; i < rule.argv.size(); ++i)
            if (rule.argv[i].front() == '-')
                throw policy_error{path + ".argv[" + std::to_string(i) +
                                   "]: fixed words must not be options"};
        // Common options come first in the canonical argv: older occ reads
        // --no-warnings only before the command's own options.
        rule.options = common;
        if (j.contains("options")) {
            std::size_t i = 0;
            for (const auto& o : array_at(j["options"], path + ".options"))
                rule.options.push_back(option(o, path + ".options[" + std::to_string(i++) + "]"));
        }
        if (j.contains("forbidden_options")) {
            std::size_t i = 0;
            for (const auto& o : array_at(j["forbidden_options"], path + ".forbidden_options"))
                rule.forbidden.push_back(
                    forbidden(o, path + ".forbidden_options[" + std::to_string(i++) + "]"));
        }
        if (j.contains("arguments")) {
            const auto& a = j["arguments"];
            const auto apath = path + ".arguments";
            only_keys(a, apath, {"value", "max", "base", "reserved"});
            if (!a.contains("value") || !a.contains("max"))
                throw policy_error{apath + ": needs \"value\" and \"max\""};
            rule.arguments.value = type(a["value"], apath + ".value");
            if (rule.arguments.value == value_type::none ||
                rule.arguments.value == value_type::choice)
                throw policy_error{apath + ".value: positional arguments need a path or id type"};
            if (!a["max"].is_number_unsigned() || a["max"].get<std::size_t>() < 1 ||
                a["max"].get<std::size_t>() > 64)
                throw policy_error{apath + ".max: expected an integer from 1 to 64"};
            rule.arguments.max = a["max"].get<std::size_t>();
            rule.arguments.base = base(a, rule.arguments.value, apath);
            if (a.contains("reserved"))
                rule.arguments.reserved = words(a["reserved"], apath + ".reserved");
        }
        rule.single_flight = boolean(j, "single_flight", false, path);
        rule.idempotent = boolean(j, "idempotent", true, path);

        // Every spelling must mean exactly one thing.
        std::vector<std::string> spellings;
        auto claim = [&](const std::string& s) {
            if (std::find(spellings.begin(), spellings.end(), s) != spellings.end())
                throw policy_error{path + ": option spelling " + show(s) + " is defined twice"};
            spellings.push_back(s);
        };
        for (const auto& o : rule.options) {
            claim(o.name);
            for (const auto& a : o.aliases)
                claim(a);
        }
        for (const auto& o : rule.forbidden) {
            claim(o.name);
            for (const auto& a : o.aliases)
                claim(a);
        }
        return rule;
    }

    static std::vector<service_rule> read(const json& root)
    {
        only_keys(root, "policy", {"services"});
        if (!root.contains("services") || !root["services"].is_object() ||
            root["services"].empty())
            throw policy_error{"policy.services: missing or empty (an object of services)"};
        std::vector<service_rule> services;
        for (const auto& [name, s] : root["services"].items()) {
            const std::string path = "services." + name;
            word(json(name), path);
            only_keys(s, path,
                      {"exec_user", "working_dir", "failure_lines", "common_options", "commands"});
            service_rule service;
            service.name = name;
            service.exec_user = checked_string(s, "exec_user", path, check_exec_user);
            service.working_dir = checked_string(s, "working_dir", path, check_absolute_dir);
            if (s.contains("failure_lines")) {
                std::size_t i = 0;
                for (const auto& f : array_at(s["failure_lines"], path + ".failure_lines"))
                    service.failures.push_back(
                        failure(f, path + ".failure_lines[" + std::to_string(i++) + "]"));
            }
            std::vector<option_rule> common;
            if (s.contains("common_options")) {
                std::size_t i = 0;
                for (const auto& o : array_at(s["common_options"], path + ".common_options"))
                    common.push_back(
                        option(o, path + ".common_options[" + std::to_string(i++) + "]"));
            }
            if (!s.contains("commands"))
                throw policy_error{path + ".commands: missing"};
            std::size_t i = 0;
            for (const auto& c : array_at(s["commands"], path + ".commands"))
                service.commands.push_back(
                    command(c, path + ".commands[" + std::to_string(i++) + "]", common));
            for (std::size_t a = 0; a < service.commands.size(); ++a)
                for (std::size_t b = a + 1; b < service.commands.size(); ++b)
                    if (service.commands[a].argv == service.commands[b].argv)
                        throw policy_error{path + ".commands[" + std::to_string(b) + "]: " +
                                           service.commands[b].name() + " is defined twice"};
            services.push_back(std::move(service));
        }
        return services;
    }
};

inline std::string line_and_column(std::string_view text, std::size_t byte)
{
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

/// The one-line reason for a JSON syntax error in `text`: where it is, in
/// lines and columns a person can find (policy and configuration files).
inline std::string json_syntax_error(std::string_view text, const nlohmann::json::parse_error& e)
{
    // e.byte is 1-based and points just past the offending character.
    return "JSON syntax error at " + line_and_column(text, e.byte > 0 ? e.byte - 1 : 0);
}

} // namespace detail

inline std::string_view to_string(value_type t) noexcept
{
    for (const auto& n : detail::value_type_names)
        if (n.type == t)
            return n.name;
    return "unknown";
}

inline std::optional<value_type> value_type_from_string(std::string_view name) noexcept
{
    for (const auto& n : detail::value_type_names)
        if (n.name == name)
            return n.type;
    return std::nullopt;
}

inline std::string command_rule::name() const
{
    return detail::join(argv);
}

inline bool failure_pattern::matches(output_stream s, std::string_view line) const noexcept
{
    if ((stream == stream_kind::out && s != output_stream::out) ||
        (stream == stream_kind::err && s != output_stream::err))
        return false;
    return line.starts_with(starts_with) && line.ends_with(ends_with) &&
           line.find(contains) != std::string_view::npos;
}

inline whitelist::whitelist(std::vector<service_rule> services)
    : services_(std::move(services))
{
}

inline whitelist whitelist::from_json(std::string_view text, error_code& ec,
                                                std::string& reason)
{
    ec = {};
    reason.clear();
    nlohmann::json root;
    try {
        root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        ec = error::invalid_policy;
        reason = detail::json_syntax_error(text, e);
        return {};
    }
    try {
        return whitelist(detail::policy_reader::read(root));
    } catch (const detail::policy_error& e) {
        ec = error::invalid_policy;
        reason = e.reason;
    } catch (const nlohmann::json::exception& e) {
        ec = error::invalid_policy;
        reason = e.what();
    }
    return {};
}

inline std::string_view whitelist::default_policy_json() noexcept
{
    return detail::default_policy_json;
}

inline const whitelist& whitelist::default_policy()
{
    static const whitelist instance = [] {
        error_code ec;
        std::string reason;
        auto p = from_json(detail::default_policy_json, ec, reason);
        if (ec) // a build of nextprism with a broken default must not start
            throw boost::system::system_error(ec, "nextprism default policy: " + reason);
        return p;
    }();
    return instance;
}

inline const service_rule* whitelist::find_service(std::string_view name) const noexcept
{
    for (const auto& s : services_)
        if (s.name == name)
            return &s;
    return nullptr;
}

inline decision whitelist::check(std::string_view service_name,
                                      std::span<const std::string> argv) const
{
    decision d;
    auto refuse = [&](error e, std::string reason) {
        d.ec = e;
        d.reason = std::move(reason);
        d.command = {};
        return d;
    };

    const service_rule* service = find_service(service_name);
    if (!service)
        return refuse(error::unknown_service,
                      "unknown service " + detail::show(service_name));
    if (argv.empty())
        return refuse(error::empty_command, "empty command");

    // The longest fixed prefix wins; command words are matched exactly:
    // no abbreviations, no case folding, no paths to the binary.
    const command_rule* matched = nullptr;
    for (const auto& c : service->commands)
        if (argv.size() >= c.argv.size() && std::equal(c.argv.begin(), c.argv.end(), argv.begin()))
            if (!matched || c.argv.size() > matched->argv.size())
                matched = &c;
    if (!matched) {
        std::string allowed;
        for (const auto& c : service->commands)
            allowed += (allowed.empty() ? "" : ", ") + c.name();
        std::size_t shown = std::min<std::size_t>(argv.size(), 3);
        return refuse(error::command_not_allowed,
                      "command " + detail::show(detail::join(argv.first(shown))) +
                          " is not allowed for " + service->name + " (allowed: " + allowed +
                          ")");
    }
    const command_rule& rule = *matched;
    const std::string command_name = rule.name();

    std::vector<std::pair<const option_rule*, std::string>> given;
    std::vector<std::string> positionals;
    bool only_positionals = false;
    std::string why;

    for (std::size_t i = rule.argv.size(); i < argv.size(); ++i) {
        const std::string& token = argv[i];
        if (!only_positionals && token == "--") {
            only_positionals = true;
            continue;
        }
        if (!only_positionals && token.size() > 1 && token.front() == '-') {
            const bool is_long = token.starts_with("--");
            const auto eq = token.find('=');
            const std::string name = eq == std::string::npos ? token : token.substr(0, eq);

            for (const auto& f : rule.forbidden)
                if (detail::spelled_as(f, name))
                    return refuse(error::option_forbidden,
                                  name + " is refused for " + command_name + ": " + f.reason);
            const auto it = std::find_if(rule.options.begin(), rule.options.end(),
                                         [&](const auto& o) { return detail::spelled_as(o, name); });
            if (it == rule.options.end()) {
                std::string allowed;
                for (const auto& o : rule.options)
                    allowed += (allowed.empty() ? "" : " ") + o.name;
                return refuse(error::option_not_allowed,
                              "option " + detail::show(name) + " is not allowed for " +
                                  command_name + (allowed.empty() ? "" : " (allowed: " + allowed + ")"));
            }
            const option_rule& option = *it;
            for (const auto& g : given)
                if (g.first == &option)
                    return refuse(error::duplicate_option,
                                  option.name + " is given twice for " + command_name);

            std::string value;
            if (option.value == value_type::none) {
                if (eq != std::string::npos)
                    return refuse(error::invalid_value, option.name + " takes no value");
            } else if (eq != std::string::npos) {
                if (!is_long)
                    return refuse(error::invalid_value,
                                  "write " + option.name + "=VALUE or " + name +
                                      " VALUE, not " + name + "=VALUE");
                value = token.substr(eq + 1);
            } else {
                if (i + 1 == argv.size() || (argv[i + 1].size() > 1 && argv[i + 1].front() == '-'))
                    return refuse(error::missing_value, option.name + " needs a value");
                value = argv[++i];
            }
            if (option.value != value_type::none &&
                !detail::check_value(option.value, option.choices, value, why))
                return refuse(error::invalid_value, option.name + ": " + why);
            given.emplace_back(&option, std::move(value));
            continue;
        }
        if (positionals.size() == rule.arguments.max)
            return refuse(error::too_many_positionals,
                          rule.arguments.max == 0
                              ? command_name + " takes no arguments, got " + detail::show(token)
                              : command_name + " takes at most " +
                                    std::to_string(rule.arguments.max) + " argument" +
                                    (rule.arguments.max == 1 ? "" : "s"));
        if (token.size() > 0 && token.front() == '-')
            return refuse(error::invalid_value,
                          "argument " + detail::show(token) + " must not start with '-'");
        if (!detail::check_value(rule.arguments.value, {}, token, why))
            return refuse(error::invalid_value, "argument: " + why);
        const auto first_segment = std::string_view(token).substr(0, token.find('/'));
        for (const auto& r : rule.arguments.reserved)
            if (first_segment == r)
                return refuse(error::invalid_value,
                              "argument: " + detail::show(token) + " starts with '" + r +
                                  "', which names another folder of " + service->name +
                                  (rule.arguments.base ? "; give a folder inside " + *rule.arguments.base
                                                       : std::string()));
        positionals.push_back(token);
    }

    // Canonical form: fixed words, options in policy order (common ones
    // first), `--`, arguments. The exec form is the same with every value
    // that has a base made absolute (and the base itself for no argument).
    authorized_command& a = d.command;
    a.service = service->name;
    a.rule = command_name;
    a.exec_user = service->exec_user;
    a.working_dir = service->working_dir;
    a.single_flight = rule.single_flight;
    a.failure_patterns = service->failures;
    a.argv = rule.argv;
    a.exec_argv = rule.argv;
    a.idempotent = rule.idempotent;
    for (const auto& o : rule.options)
        for (const auto& g : given)
            if (g.first == &o) {
                a.idempotent = a.idempotent && o.idempotent;
                if (o.value == value_type::none) {
                    a.argv.push_back(o.name);
                    a.exec_argv.push_back(o.name);
                } else {
                    a.argv.push_back(o.name + "=" + g.second);
                    a.exec_argv.push_back(
                        o.name + "=" + (o.base ? detail::join_base(*o.base, g.second) : g.second));
                }
            }
    if (!positionals.empty()) {
        a.argv.emplace_back("--");
        a.argv.insert(a.argv.end(), positionals.begin(), positionals.end());
    }
    if (const auto& base = rule.arguments.base) {
        a.exec_argv.emplace_back("--");
        if (positionals.empty())
            a.exec_argv.push_back(*base);
        for (const auto& p : positionals)
            a.exec_argv.push_back(detail::join_base(*base, p));
    } else if (!positionals.empty()) {
        a.exec_argv.emplace_back("--");
        a.exec_argv.insert(a.exec_argv.end(), positionals.begin(), positionals.end());
    }
    return d;
}

inline decision whitelist::check_command(std::string_view service,
                                              std::string_view command_string,
                                              const command_limits& limits) const
{
    decision d;
    auto argv = parse_command(command_string, d.ec, d.reason, limits);
    if (d.ec)
        return d;
    return check(service, argv);
}

} // namespace nextprism

#endif
