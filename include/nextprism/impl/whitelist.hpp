#ifndef NEXTPRISM_IMPL_WHITELIST_HPP
#define NEXTPRISM_IMPL_WHITELIST_HPP

#include <nextprism/detail/value_checks.hpp>
#include <nextprism/impl/whitelist_json.hpp>

#include <algorithm>
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

    // Canonical form: fixed words, options in whitelist order (common ones
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
