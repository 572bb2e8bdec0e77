#ifndef NEXTPRISM_EXEC_USER_HPP
#define NEXTPRISM_EXEC_USER_HPP

// Whom a command runs as, found in the target container's own
// configuration, the way its image's entrypoint decides whom to run as.

#include <nextprism/detail/config.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism {

/** A whitelist's `exec_user_from`: where a service's exec user comes from,
    tried in this order.

    - `container_user`: a container started as a user other than root
      (`Config.User`, a stack's `user:`) runs everything as that user, and
      so does the exec (its User left out). Nextcloud's config.php is then
      owned by that user; PhotoPrism's entrypoint ignores its variables.
    - `uid_env` / `gid_env`: the container's environment, as PhotoPrism's
      entrypoint reads it (scripts/dist/entrypoint.sh): the first variable
      of the list that is set decides (a value other than a number above 0
      means no id from the environment: PHOTOPRISM_UID=0 is root); a later
      one counts only when those before it are unset or empty and it holds
      a number above 0. A group without a uid is never used; a uid without
      a group takes `gid_otherwise` (PhotoPrism: 1000).
    - `otherwise`: when none of these decides (Nextcloud's official image
      starts as root and serves as www-data, the owner of config.php);
      absent: the container's own user (PhotoPrism started as root with no
      variable runs as root).

    A fixed `exec_user` in the whitelist is the override: a service has one
    or the other. */
struct exec_user_rule
{
    bool container_user = false;
    std::vector<std::string> uid_env;
    std::vector<std::string> gid_env;
    std::optional<std::string> gid_otherwise;
    std::optional<std::string> otherwise;

    bool operator==(const exec_user_rule&) const = default;
};

/// What the rule chose, and why (for the audit and `-v`).
struct exec_user_choice
{
    /// The exec's User; empty: left out, the container's own user.
    std::optional<std::string> user;
    /// "Config.User", "PHOTOPRISM_UID:PHOTOPRISM_GID", "otherwise", "exec_user", "the container's"
    std::string source;

    /// "1000:1000 (PHOTOPRISM_UID:PHOTOPRISM_GID)", "the container's user (Config.User)"
    std::string describe() const { return user.value_or("the container's user") + " (" + source + ")"; }
};

namespace detail {

/// The value of NAME in Docker's "NAME=value" list (the last one wins, as in a process's environment).
inline std::optional<std::string_view> env_value(std::span<const std::string> env, std::string_view name)
{
    std::optional<std::string_view> found;
    for (const auto& e : env)
        if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=')
            found = std::string_view(e).substr(name.size() + 1);
    return found;
}

/// A decimal id above 0, as the entrypoint's `^[0-9]+$` and `!= "0"` take it.
inline bool is_id_above_zero(std::string_view v)
{
    if (v.empty() || v.size() > 10)
        return false;
    bool nonzero = false;
    for (char c : v) {
        if (c < '0' || c > '9')
            return false;
        nonzero = nonzero || c != '0';
    }
    return nonzero;
}

/// The id `names` give (see exec_user_rule), and the variable it came from.
inline std::optional<std::pair<std::string, std::string>> id_from_env(std::span<const std::string> env,
                                                                      const std::vector<std::string>& names)
{
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto v = env_value(env, names[i]);
        if (!v || v->empty())
            continue;
        if (is_id_above_zero(*v))
            return std::pair{std::string(*v), names[i]};
        if (i == 0)
            return std::nullopt; // the first one set decides
    }
    return std::nullopt;
}

/// "root", "0", "0:0", "root:wheel": the part before ':' names root (or nothing is set).
inline bool is_root_user(std::string_view user)
{
    const auto name = user.substr(0, user.find(':'));
    return name.empty() || name == "root" || name.find_first_not_of('0') == std::string_view::npos;
}

} // namespace detail

/** The exec user for a container whose `Config.User` is `container_user`
    and whose `Config.Env` is `env`. */
inline exec_user_choice choose_exec_user(const exec_user_rule& rule, std::string_view container_user,
                                         std::span<const std::string> env)
{
    if (rule.container_user && !detail::is_root_user(container_user))
        return {std::nullopt, "Config.User"};
    if (const auto uid = detail::id_from_env(env, rule.uid_env)) {
        if (const auto gid = detail::id_from_env(env, rule.gid_env))
            return {uid->first + ":" + gid->first, uid->second + ":" + gid->second};
        if (rule.gid_otherwise)
            return {uid->first + ":" + *rule.gid_otherwise, uid->second};
        return {uid->first, uid->second};
    }
    if (rule.otherwise)
        return {rule.otherwise, "otherwise"};
    return {std::nullopt, "the container's"};
}

/// The rule in one line, for `nextprism check`: "Config.User when not root, else
/// PHOTOPRISM_UID|PUID[:PHOTOPRISM_GID|GID|PGID, else 1000], else the container's user".
inline std::string describe(const exec_user_rule& rule)
{
    const auto names = [](const std::vector<std::string>& v) {
        std::string out;
        for (const auto& n : v)
            out += (out.empty() ? "" : "|") + n;
        return out;
    };
    std::string out;
    const auto then = [&out](const std::string& part) { out += (out.empty() ? "" : ", else ") + part; };
    if (rule.container_user)
        then("Config.User when not root");
    if (!rule.uid_env.empty()) {
        std::string part = names(rule.uid_env);
        if (!rule.gid_env.empty() || rule.gid_otherwise)
            part += "[:" + names(rule.gid_env) +
                    (rule.gid_otherwise ? (rule.gid_env.empty() ? "" : ", else ") + *rule.gid_otherwise : "") + "]";
        then(part);
    }
    then(rule.otherwise.value_or("the container's user"));
    return out;
}

} // namespace nextprism

#endif
