#ifndef NEXTPRISM_IMPL_WHITELIST_JSON_HPP
#define NEXTPRISM_IMPL_WHITELIST_JSON_HPP

// Whitelist files: the JSON schema, read strictly (unknown keys are errors),
// and the compiled-in default read by the same loader.

#include <nextprism/detail/builtin_whitelist.hpp>
#include <nextprism/detail/json.hpp>
#include <nextprism/detail/value_checks.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

namespace nextprism {
namespace detail {

// ---- the whitelist file loader -----------------------------------------------------

/// Raised inside the loader, turned into error::invalid_whitelist at its edge.
struct whitelist_error
{
    std::string reason;
};

class whitelist_reader
{
public:
    using json = nlohmann::json;

    static void only_keys(const json& j, const std::string& path,
                          std::initializer_list<std::string_view> keys)
    {
        if (!j.is_object())
            throw whitelist_error{path + ": expected an object"};
        for (const auto& [key, _] : j.items())
            if (std::find(keys.begin(), keys.end(), key) == keys.end())
                throw whitelist_error{path + "." + key + ": unknown key"};
    }

    static const json& array_at(const json& j, const std::string& path)
    {
        if (!j.is_array())
            throw whitelist_error{path + ": expected an array"};
        return j;
    }

    static std::string word(const json& j, const std::string& path)
    {
        if (!j.is_string())
            throw whitelist_error{path + ": expected a string"};
        auto s = j.get<std::string>();
        if (s.empty() || !std::all_of(s.begin(), s.end(), is_bare_character))
            throw whitelist_error{path + ": " + show(s) +
                               " must be a non-empty word of letters, digits and _-./:=@%+,"};
        return s;
    }

    static bool boolean(const json& j, std::string_view key, bool fallback, const std::string& path)
    {
        const auto it = j.find(key);
        if (it == j.end())
            return fallback;
        if (!it->is_boolean())
            throw whitelist_error{path + "." + std::string(key) + ": expected true or false"};
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
            throw whitelist_error{path + ": " + show(s) + " is not an option name (-x or --name)"};
        return s;
    }

    static value_type type(const json& j, const std::string& path)
    {
        if (!j.is_string())
            throw whitelist_error{path + ": expected a value type name"};
        const auto name = j.get<std::string>();
        if (auto t = value_type_from_string(name))
            return *t;
        std::string known;
        for (const auto& n : value_type_names)
            known += (known.empty() ? "" : ", ") + std::string(n.name);
        throw whitelist_error{path + ": unknown value type " + show(name) + " (known: " + known + ")"};
    }

    /// An option's other spellings ("aliases": ["-f"]), each checked like its name.
    static std::vector<std::string> aliases(const json& j, const std::string& path)
    {
        std::vector<std::string> out;
        if (j.contains("aliases")) {
            std::size_t i = 0;
            for (const auto& a : array_at(j["aliases"], path + ".aliases"))
                out.push_back(option_name(a, path + ".aliases[" + std::to_string(i++) + "]"));
        }
        return out;
    }

    static option_rule option(const json& j, const std::string& path)
    {
        only_keys(j, path, {"name", "aliases", "value", "choices", "base", "idempotent"});
        if (!j.contains("name"))
            throw whitelist_error{path + ".name: missing"};
        option_rule rule;
        rule.name = option_name(j["name"], path + ".name");
        rule.aliases = aliases(j, path);
        if (j.contains("value"))
            rule.value = type(j["value"], path + ".value");
        if (rule.value == value_type::choice) {
            if (!j.contains("choices"))
                throw whitelist_error{path + ".choices: missing (value is \"choice\")"};
            rule.choices = words(j["choices"], path + ".choices");
            if (rule.choices.empty())
                throw whitelist_error{path + ".choices: must not be empty"};
        } else if (j.contains("choices")) {
            throw whitelist_error{path + ".choices: only allowed with \"value\": \"choice\""};
        }
        rule.base = base(j, rule.value, path);
        rule.idempotent = boolean(j, "idempotent", true, path);
        return rule;
    }

    /// The optional "base" of a relative_path value.
    static std::optional<std::string> base(const json& j, value_type t, const std::string& path)
    {
        if (j.contains("base") && t != value_type::relative_path)
            throw whitelist_error{path + ".base: only allowed with \"value\": \"relative_path\""};
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
            throw whitelist_error{path + "." + std::string(key) + ": " +
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
                throw whitelist_error{path + "." + std::string(key) + ": expected a non-empty string"};
            return j[key].get<std::string>();
        };
        f.starts_with = text("starts_with");
        f.contains = text("contains");
        f.ends_with = text("ends_with");
        if (f.starts_with.empty() && f.contains.empty() && f.ends_with.empty())
            throw whitelist_error{path + ": needs one of starts_with, contains, ends_with"};
        if (j.contains("stream")) {
            const auto& st = j["stream"];
            if (st == "any")
                f.stream = failure_pattern::stream_kind::any;
            else if (st == "stdout")
                f.stream = failure_pattern::stream_kind::out;
            else if (st == "stderr")
                f.stream = failure_pattern::stream_kind::err;
            else
                throw whitelist_error{path + ".stream: expected one of any, stdout, stderr"};
        }
        return f;
    }

    static forbidden_option forbidden(const json& j, const std::string& path)
    {
        only_keys(j, path, {"name", "aliases", "reason"});
        if (!j.contains("name"))
            throw whitelist_error{path + ".name: missing"};
        forbidden_option rule;
        rule.name = option_name(j["name"], path + ".name");
        rule.aliases = aliases(j, path);
        if (!j.contains("reason") || !j["reason"].is_string())
            throw whitelist_error{path + ".reason: missing (a string shown to the caller)"};
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
            throw whitelist_error{path + ".argv: missing"};
        command_rule rule;
        rule.argv = words(j["argv"], path + ".argv");
        if (rule.argv.empty())
            throw whitelist_error{path + ".argv: must not be empty"};
        for (std::size_t i = 0; i < rule.argv.size(); ++i)
            if (rule.argv[i].front() == '-')
                throw whitelist_error{path + ".argv[" + std::to_string(i) +
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
                throw whitelist_error{apath + ": needs \"value\" and \"max\""};
            rule.arguments.value = type(a["value"], apath + ".value");
            if (rule.arguments.value == value_type::none ||
                rule.arguments.value == value_type::choice)
                throw whitelist_error{apath + ".value: positional arguments need a path or id type"};
            if (!a["max"].is_number_unsigned() || a["max"].get<std::size_t>() < 1 ||
                a["max"].get<std::size_t>() > 64)
                throw whitelist_error{apath + ".max: expected an integer from 1 to 64"};
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
                throw whitelist_error{path + ": option spelling " + show(s) + " is defined twice"};
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
        only_keys(root, "whitelist", {"services"});
        if (!root.contains("services") || !root["services"].is_object() ||
            root["services"].empty())
            throw whitelist_error{"whitelist.services: missing or empty (an object of services)"};
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
                throw whitelist_error{path + ".commands: missing"};
            std::size_t i = 0;
            for (const auto& c : array_at(s["commands"], path + ".commands"))
                service.commands.push_back(
                    command(c, path + ".commands[" + std::to_string(i++) + "]", common));
            for (std::size_t a = 0; a < service.commands.size(); ++a)
                for (std::size_t b = a + 1; b < service.commands.size(); ++b)
                    if (service.commands[a].argv == service.commands[b].argv)
                        throw whitelist_error{path + ".commands[" + std::to_string(b) + "]: " +
                                           service.commands[b].name() + " is defined twice"};
            services.push_back(std::move(service));
        }
        return services;
    }
};

} // namespace detail

inline whitelist whitelist::from_json(std::string_view text, error_code& ec,
                                                std::string& reason)
{
    ec = {};
    reason.clear();
    const auto root = detail::parse_json(text, error::invalid_whitelist, ec, reason);
    if (!root)
        return {};
    try {
        return whitelist(detail::whitelist_reader::read(*root));
    } catch (const detail::whitelist_error& e) {
        ec = error::invalid_whitelist;
        reason = e.reason;
    } catch (const nlohmann::json::exception& e) {
        ec = error::invalid_whitelist;
        reason = e.what();
    }
    return {};
}

inline std::string_view whitelist::builtin_json() noexcept
{
    return detail::builtin_json;
}

inline const whitelist& whitelist::builtin()
{
    static const whitelist instance = [] {
        error_code ec;
        std::string reason;
        auto p = from_json(detail::builtin_json, ec, reason);
        if (ec) // a build of nextprism with a broken default must not start
            throw boost::system::system_error(ec, "nextprism default whitelist: " + reason);
        return p;
    }();
    return instance;
}

} // namespace nextprism

#endif
