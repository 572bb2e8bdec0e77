#ifndef NEXTPRISM_IMPL_WHITELIST_HPP
#define NEXTPRISM_IMPL_WHITELIST_HPP

#include <nextprism/detail/value_checks.hpp>
#include <nextprism/impl/whitelist_json.hpp>

#include <algorithm>
#include <optional>
#include <utility>

namespace nextprism {

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

inline whitelist::whitelist(std::vector<service_rule> services)
    : services_(std::move(services))
{
}

inline const service_rule* whitelist::find_service(std::string_view name) const noexcept
{
    for (const auto& s : services_)
        if (s.name == name)
            return &s;
    return nullptr;
}

namespace detail {

// The steps of whitelist::check. They refuse or fill in an authorized_command
// the whitelist made; none can make one.

/// Why a command line is refused.
struct refusal
{
    error ec;
    std::string reason;
};

/// What a command line gave after its fixed words, options in the order given.
struct given_arguments
{
    std::vector<std::pair<const option_rule*, std::string>> options;
    std::vector<std::string> positionals;
};

/// The longest fixed prefix wins; command words are matched exactly:
/// no abbreviations, no case folding, no paths to the binary.
inline const command_rule* longest_match(const service_rule& service,
                                         std::span<const std::string> argv)
{
    const command_rule* matched = nullptr;
    for (const auto& c : service.commands)
        if (argv.size() >= c.argv.size() && std::equal(c.argv.begin(), c.argv.end(), argv.begin()))
            if (!matched || c.argv.size() > matched->argv.size())
                matched = &c;
    return matched;
}

inline refusal command_not_allowed(const service_rule& service, std::span<const std::string> argv)
{
    std::string allowed;
    for (const auto& c : service.commands)
        allowed += (allowed.empty() ? "" : ", ") + c.name();
    std::size_t shown = std::min<std::size_t>(argv.size(), 3);
    return {error::command_not_allowed, "command " + show(join(argv.first(shown))) +
                                            " is not allowed for " + service.name +
                                            " (allowed: " + allowed + ")"};
}

inline refusal option_not_allowed(const command_rule& rule, const std::string& command_name,
                                  const std::string& name)
{
    std::string allowed;
    for (const auto& o : rule.options)
        allowed += (allowed.empty() ? "" : " ") + o.name;
    return {error::option_not_allowed, "option " + show(name) + " is not allowed for " +
                                           command_name +
                                           (allowed.empty() ? "" : " (allowed: " + allowed + ")")};
}

/// The value of `option`, spelt `name` in argv[i]: after '=' (long names
/// only) or the next word, which `i` then steps over.
inline std::optional<refusal> option_value(const option_rule& option, const std::string& name,
                                           std::span<const std::string> argv, std::size_t& i,
                                           std::string& value)
{
    const std::string& token = argv[i];
    const auto eq = token.find('=');
    if (option.value == value_type::none) {
        if (eq != std::string::npos)
            return refusal{error::invalid_value, option.name + " takes no value"};
        return std::nullopt;
    }
    if (eq != std::string::npos) {
        if (!token.starts_with("--"))
            return refusal{error::invalid_value, "write " + option.name + "=VALUE or " + name +
                                                     " VALUE, not " + name + "=VALUE"};
        value = token.substr(eq + 1);
    } else {
        if (i + 1 == argv.size() || (argv[i + 1].size() > 1 && argv[i + 1].front() == '-'))
            return refusal{error::missing_value, option.name + " needs a value"};
        value = argv[++i];
    }
    std::string why;
    if (!check_value(option.value, option.choices, value, why))
        return refusal{error::invalid_value, option.name + ": " + why};
    return std::nullopt;
}

/// The option in argv[i] (and its value), unless forbidden, unknown or repeated.
inline std::optional<refusal> read_option(const command_rule& rule, const std::string& command_name,
                                          std::span<const std::string> argv, std::size_t& i,
                                          given_arguments& given)
{
    const std::string& token = argv[i];
    const std::string name = token.substr(0, token.find('='));
    for (const auto& f : rule.forbidden)
        if (spelled_as(f, name))
            return refusal{error::option_forbidden,
                           name + " is refused for " + command_name + ": " + f.reason};
    const auto it = std::find_if(rule.options.begin(), rule.options.end(),
                                 [&](const auto& o) { return spelled_as(o, name); });
    if (it == rule.options.end())
        return option_not_allowed(rule, command_name, name);
    const option_rule& option = *it;
    for (const auto& g : given.options)
        if (g.first == &option)
            return refusal{error::duplicate_option, option.name + " is given twice for " + command_name};
    std::string value;
    if (auto r = option_value(option, name, argv, i, value))
        return r;
    given.options.emplace_back(&option, std::move(value));
    return std::nullopt;
}

/// One positional argument, unless one too many, not a value of the
/// rule's type, or inside another folder of the service.
inline std::optional<refusal> read_positional(const service_rule& service, const command_rule& rule,
                                              const std::string& command_name,
                                              const std::string& token, given_arguments& given)
{
    const argument_rule& arguments = rule.arguments;
    if (given.positionals.size() == arguments.max)
        return refusal{error::too_many_positionals,
                       arguments.max == 0
                           ? command_name + " takes no arguments, got " + show(token)
                           : command_name + " takes at most " + std::to_string(arguments.max) +
                                 " argument" + (arguments.max == 1 ? "" : "s")};
    if (token.size() > 0 && token.front() == '-')
        return refusal{error::invalid_value, "argument " + show(token) + " must not start with '-'"};
    std::string why;
    if (!check_value(arguments.value, {}, token, why))
        return refusal{error::invalid_value, "argument: " + why};
    const auto first_segment = std::string_view(token).substr(0, token.find('/'));
    for (const auto& r : arguments.reserved)
        if (first_segment == r)
            return refusal{error::invalid_value,
                           "argument: " + show(token) + " starts with '" + r +
                               "', which names another folder of " + service.name +
                               (arguments.base ? "; give a folder inside " + *arguments.base
                                               : std::string())};
    given.positionals.push_back(token);
    return std::nullopt;
}

/// Everything after the fixed words: options until `--`, positional arguments.
inline std::optional<refusal> read_arguments(const service_rule& service, const command_rule& rule,
                                             const std::string& command_name,
                                             std::span<const std::string> argv,
                                             given_arguments& given)
{
    bool only_positionals = false;
    for (std::size_t i = rule.argv.size(); i < argv.size(); ++i) {
        const std::string& token = argv[i];
        if (!only_positionals && token == "--") {
            only_positionals = true;
            continue;
        }
        auto r = !only_positionals && token.size() > 1 && token.front() == '-'
                     ? read_option(rule, command_name, argv, i, given)
                     : read_positional(service, rule, command_name, token, given);
        if (r)
            return r;
    }
    return std::nullopt;
}

/// Options in whitelist order (common ones first), whatever order they were given in.
inline void append_options(authorized_command& a, const command_rule& rule,
                           const given_arguments& given)
{
    for (const auto& o : rule.options)
        for (const auto& g : given.options)
            if (g.first == &o) {
                a.idempotent = a.idempotent && o.idempotent;
                if (o.value == value_type::none) {
                    a.argv.push_back(o.name);
                    a.exec_argv.push_back(o.name);
                } else {
                    a.argv.push_back(o.name + "=" + g.second);
                    a.exec_argv.push_back(
                        o.name + "=" + (o.base ? join_base(*o.base, g.second) : g.second));
                }
            }
}

/// `--` and the arguments; in the exec form each made absolute under the
/// rule's base (and the base itself for no argument).
inline void append_positionals(authorized_command& a, const argument_rule& arguments,
                               const std::vector<std::string>& positionals)
{
    if (!positionals.empty()) {
        a.argv.emplace_back("--");
        a.argv.insert(a.argv.end(), positionals.begin(), positionals.end());
    }
    if (const auto& base = arguments.base) {
        a.exec_argv.emplace_back("--");
        if (positionals.empty())
            a.exec_argv.push_back(*base);
        for (const auto& p : positionals)
            a.exec_argv.push_back(join_base(*base, p));
    } else if (!positionals.empty()) {
        a.exec_argv.emplace_back("--");
        a.exec_argv.insert(a.exec_argv.end(), positionals.begin(), positionals.end());
    }
}

/// Canonical form: fixed words, options, `--`, arguments; the exec form is
/// the same with every value that has a base made absolute.
inline void fill_command(authorized_command& a, const service_rule& service,
                         const command_rule& rule, const std::string& command_name,
                         const given_arguments& given)
{
    a.service = service.name;
    a.rule = command_name;
    a.exec_user = service.exec_user;
    a.exec_user_from = service.exec_user_from;
    a.working_dir = service.working_dir;
    a.single_flight = rule.single_flight;
    if (rule.single_flight)
        for (const auto& other : service.commands)
            if (other.single_flight)
                a.single_flight_group.push_back(other.argv);
    a.failure_patterns = service.failures;
    a.argv = rule.argv;
    a.exec_argv = rule.argv;
    a.idempotent = rule.idempotent;
    append_options(a, rule, given);
    append_positionals(a, rule.arguments, given.positionals);
}

} // namespace detail

inline decision whitelist::check(std::string_view service_name,
                                 std::span<const std::string> argv) const
{
    decision d;
    auto refuse = [&](detail::refusal r) {
        d.ec = r.ec;
        d.reason = std::move(r.reason);
        return d;
    };
    const service_rule* service = find_service(service_name);
    if (!service)
        return refuse({error::unknown_service, "unknown service " + detail::show(service_name)});
    if (argv.empty())
        return refuse({error::empty_command, "empty command"});
    const command_rule* rule = detail::longest_match(*service, argv);
    if (!rule)
        return refuse(detail::command_not_allowed(*service, argv));
    const std::string command_name = rule->name();
    detail::given_arguments given;
    if (auto r = detail::read_arguments(*service, *rule, command_name, argv, given))
        return refuse(std::move(*r));
    // Only now, with every word checked, is the command filled in.
    detail::fill_command(d.command, *service, *rule, command_name, given);
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
