#ifndef NEXTPRISM_IMPL_WHITELIST_JSON_HPP
#define NEXTPRISM_IMPL_WHITELIST_JSON_HPP

// Whitelist files: the JSON schema, read strictly by detail/schema.hpp
// (unknown keys are errors), and the compiled-in default read by the same
// loader.

#include <nextprism/detail/builtin_whitelist.hpp>
#include <nextprism/detail/schema.hpp>
#include <nextprism/detail/value_checks.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <utility>

namespace nextprism {
namespace detail {

// ---- the whitelist file loader -----------------------------------------------------

/** The whitelist schema on top of the shared reader: each object's keys
    are checked up front, then its values by the domain's own rules. */
class whitelist_reader
{
public:
    using json = nlohmann::json;

    static std::vector<service_rule> read(const json& root)
    {
        schema_object top(root, {});
        top.only({"services"});
        const json* services = top.find("services");
        if (!services || !services->is_object() || services->empty())
            top.fail("services", "missing or empty (an object of services)");
        std::vector<service_rule> out;
        for (const auto& [name, s] : services->items())
            out.push_back(service(name, s, top.at("services") / name));
        return out;
    }

private:
    // ---- values

    static std::string word(const json& j, const key_path& path)
    {
        if (!j.is_string())
            schema_fail(path, "expected a string");
        auto s = j.get<std::string>();
        if (s.empty() || !std::all_of(s.begin(), s.end(), is_bare_character))
            schema_fail(path, show(s) + " must be a non-empty word of letters, digits and _-./:=@%+,");
        return s;
    }

    static std::vector<std::string> words(const json& j, const key_path& path)
    {
        std::vector<std::string> out;
        each_element(j, path, [&](const json& w, const key_path& at) { out.push_back(word(w, at)); });
        return out;
    }

    static std::string option_name(const json& j, const key_path& path)
    {
        auto s = word(j, path);
        if (s.size() < 2 || s.front() != '-' || s.find('=') != std::string::npos || s == "--")
            schema_fail(path, show(s) + " is not an option name (-x or --name)");
        return s;
    }

    static value_type type(const json& j, const key_path& path)
    {
        if (!j.is_string())
            schema_fail(path, "expected a value type name");
        const auto name = j.get<std::string>();
        if (auto t = value_type_from_string(name))
            return *t;
        std::string known;
        for (const auto& n : value_type_names)
            known += (known.empty() ? "" : ", ") + std::string(n.name);
        schema_fail(path, "unknown value type " + show(name) + " (known: " + known + ")");
    }

    /// The optional string at `key`, checked by `check(value, reason)`.
    template<class Check>
    static std::optional<std::string> checked_string(schema_object& o, std::string_view key,
                                                     Check check)
    {
        const json* v = o.find(key);
        if (!v)
            return std::nullopt;
        std::string reason;
        if (!v->is_string() || !check(v->get<std::string>(), reason))
            o.fail(key, reason.empty() ? "expected a string" : reason);
        return v->get<std::string>();
    }

    /// The optional array at `key`, each element read by `read(element, path)`.
    template<class T, class Read>
    static void append(schema_object& o, std::string_view key, std::vector<T>& out, Read read)
    {
        if (const json* v = o.find(key))
            each_element(*v, o.at(key),
                         [&](const json& e, const key_path& at) { out.push_back(read(e, at)); });
    }

    // ---- options

    /// An option's other spellings ("aliases": ["-f"]), each checked like its name.
    static std::vector<std::string> aliases(schema_object& o)
    {
        std::vector<std::string> out;
        append(o, "aliases", out, option_name);
        return out;
    }

    /// The "choices" of a value, there exactly when the type is "choice".
    static std::vector<std::string> choices(schema_object& o, value_type t)
    {
        if (t != value_type::choice) {
            if (o.find("choices"))
                o.fail("choices", "only allowed with \"value\": \"choice\"");
            return {};
        }
        auto out = words(o.required("choices", "value is \"choice\""), o.at("choices"));
        if (out.empty())
            o.fail("choices", "must not be empty");
        return out;
    }

    /// The optional "base" of a relative_path value.
    static std::optional<std::string> base(schema_object& o, value_type t)
    {
        if (o.find("base") && t != value_type::relative_path)
            o.fail("base", "only allowed with \"value\": \"relative_path\"");
        return checked_string(o, "base", check_absolute_dir);
    }

    static option_rule option(const json& j, const key_path& path)
    {
        schema_object o(j, path);
        o.only({"name", "aliases", "value", "choices", "base", "idempotent"});
        option_rule rule;
        rule.name = option_name(o.required("name"), o.at("name"));
        rule.aliases = aliases(o);
        if (const json* v = o.find("value"))
            rule.value = type(*v, o.at("value"));
        rule.choices = choices(o, rule.value);
        rule.base = base(o, rule.value);
        o.read("idempotent", rule.idempotent);
        return rule;
    }

    static forbidden_option forbidden(const json& j, const key_path& path)
    {
        schema_object o(j, path);
        o.only({"name", "aliases", "reason"});
        forbidden_option rule;
        rule.name = option_name(o.required("name"), o.at("name"));
        rule.aliases = aliases(o);
        const json* reason = o.find("reason");
        if (!reason || !reason->is_string())
            o.fail("reason", "missing (a string shown to the caller)");
        rule.reason = reason->get<std::string>();
        return rule;
    }

    // ---- commands

    /// The fixed words of "argv": at least one, none an option.
    static std::vector<std::string> fixed_words(schema_object& o)
    {
        const auto path = o.at("argv");
        auto argv = words(o.required("argv"), path);
        if (argv.empty())
            schema_fail(path, "must not be empty");
        for (std::size_t i = 0; i < argv.size(); ++i)
            if (argv[i].front() == '-')
                schema_fail(path[i], "fixed words must not be options");
        return argv;
    }

    static argument_rule arguments(const json& j, const key_path& path)
    {
        schema_object o(j, path);
        o.only({"value", "max", "base", "reserved"});
        const json* value = o.find("value");
        const json* max = o.find("max");
        if (!value || !max)
            schema_fail(path, "needs \"value\" and \"max\"");
        argument_rule rule;
        rule.value = type(*value, o.at("value"));
        if (rule.value == value_type::none || rule.value == value_type::choice)
            o.fail("value", "positional arguments need a path or id type");
        if (!max->is_number_unsigned() || max->get<std::size_t>() < 1 || max->get<std::size_t>() > 64)
            o.fail("max", "expected an integer from 1 to 64");
        rule.max = max->get<std::size_t>();
        rule.base = base(o, rule.value);
        if (const json* r = o.find("reserved"))
            rule.reserved = words(*r, o.at("reserved"));
        return rule;
    }

    /// Every spelling, allowed or forbidden, must mean exactly one thing.
    static void refuse_double_spellings(const command_rule& rule, const key_path& path)
    {
        std::vector<std::string> spellings;
        auto claim = [&](const std::string& s) {
            if (std::find(spellings.begin(), spellings.end(), s) != spellings.end())
                schema_fail(path, "option spelling " + show(s) + " is defined twice");
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
    }

    static command_rule command(const json& j, const key_path& path,
                                const std::vector<option_rule>& common)
    {
        schema_object o(j, path);
        o.only({"argv", "options", "forbidden_options", "arguments", "single_flight", "idempotent"});
        command_rule rule;
        rule.argv = fixed_words(o);
        // Common options come first in the canonical argv: older occ reads
        // --no-warnings only before the command's own options.
        rule.options = common;
        append(o, "options", rule.options, option);
        append(o, "forbidden_options", rule.forbidden, forbidden);
        if (const json* a = o.find("arguments"))
            rule.arguments = arguments(*a, o.at("arguments"));
        o.read("single_flight", rule.single_flight);
        o.read("idempotent", rule.idempotent);
        refuse_double_spellings(rule, path);
        return rule;
    }

    // ---- services

    static failure_pattern::stream_kind stream(const json& j, const key_path& path)
    {
        if (j == "any")
            return failure_pattern::stream_kind::any;
        if (j == "stdout")
            return failure_pattern::stream_kind::out;
        if (j == "stderr")
            return failure_pattern::stream_kind::err;
        schema_fail(path, "expected one of any, stdout, stderr");
    }

    static failure_pattern failure(const json& j, const key_path& path)
    {
        schema_object o(j, path);
        o.only({"stream", "starts_with", "contains", "ends_with"});
        auto text = [&](std::string_view key) -> std::string {
            const json* v = o.find(key);
            if (!v)
                return {};
            if (!v->is_string() || v->get<std::string>().empty())
                o.fail(key, "expected a non-empty string");
            return v->get<std::string>();
        };
        failure_pattern f;
        f.starts_with = text("starts_with");
        f.contains = text("contains");
        f.ends_with = text("ends_with");
        if (f.starts_with.empty() && f.contains.empty() && f.ends_with.empty())
            schema_fail(path, "needs one of starts_with, contains, ends_with");
        if (const json* st = o.find("stream"))
            f.stream = stream(*st, o.at("stream"));
        return f;
    }

    /// Two commands with the same fixed words would make the match ambiguous.
    static void refuse_duplicate_commands(const std::vector<command_rule>& commands,
                                          const key_path& path)
    {
        for (std::size_t a = 0; a < commands.size(); ++a)
            for (std::size_t b = a + 1; b < commands.size(); ++b)
                if (commands[a].argv == commands[b].argv)
                    schema_fail(path[b], commands[b].name() + " is defined twice");
    }

    // ---- the exec user

    /// An environment variable's name, as a POSIX shell reads one.
    static std::string variable_name(const json& j, const key_path& path)
    {
        if (!j.is_string())
            schema_fail(path, "expected a string");
        const auto s = j.get<std::string>();
        const bool ok = !s.empty() && s.size() <= 64 && !(s.front() >= '0' && s.front() <= '9') &&
                        std::all_of(s.begin(), s.end(), [](char c) {
                            return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                                   (c >= '0' && c <= '9');
                        });
        if (!ok)
            schema_fail(path, show(s) + " is not an environment variable name");
        return s;
    }

    static exec_user_rule exec_user_from(const json& j, const key_path& path)
    {
        schema_object o(j, path);
        o.only({"container_user", "uid_env", "gid_env", "gid_otherwise", "otherwise"});
        exec_user_rule rule;
        o.read("container_user", rule.container_user);
        append(o, "uid_env", rule.uid_env, variable_name);
        append(o, "gid_env", rule.gid_env, variable_name);
        rule.gid_otherwise = checked_string(o, "gid_otherwise", [](std::string_view v, std::string& reason) {
            return check_id(v, "gid_otherwise", reason);
        });
        if (rule.gid_otherwise && rule.uid_env.empty())
            o.fail("gid_otherwise", "needs uid_env (it is the group of a uid from the environment)");
        rule.otherwise = checked_string(o, "otherwise", check_exec_user);
        if (rule == exec_user_rule{})
            schema_fail(path, "says nothing (leave it out: the container's own user)");
        return rule;
    }

    static service_rule service(const std::string& name, const json& j, const key_path& path)
    {
        word(json(name), path);
        schema_object o(j, path);
        o.only({"exec_user", "exec_user_from", "working_dir", "failure_lines", "common_options", "commands"});
        service_rule rule;
        rule.name = name;
        rule.exec_user = checked_string(o, "exec_user", check_exec_user);
        if (const json* from = o.find("exec_user_from")) {
            if (rule.exec_user)
                o.fail("exec_user_from", "a service has exec_user (the override) or exec_user_from, not both");
            rule.exec_user_from = exec_user_from(*from, o.at("exec_user_from"));
        }
        rule.working_dir = checked_string(o, "working_dir", check_absolute_dir);
        append(o, "failure_lines", rule.failures, failure);
        std::vector<option_rule> common;
        append(o, "common_options", common, option);
        each_element(o.required("commands"), o.at("commands"), [&](const json& c, const key_path& at) {
            rule.commands.push_back(command(c, at, common));
        });
        refuse_duplicate_commands(rule.commands, o.at("commands"));
        return rule;
    }
};

} // namespace detail

inline whitelist whitelist::from_json(std::string_view text, error_code& ec, std::string& reason)
{
    return detail::read_json(text, error::invalid_whitelist, ec, reason, [](const nlohmann::json& root) {
        return whitelist(detail::whitelist_reader::read(root));
    });
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
