#ifndef NEXTPRISM_WHITELIST_HPP
#define NEXTPRISM_WHITELIST_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/authorized_command.hpp>
#include <nextprism/wire/command_string.hpp>
#include <nextprism/output.hpp>
#include <nextprism/error.hpp>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism {

/** The whitelist: which commands may run in which service, and every
    option and value they may carry.

    A whitelist is data: the compiled-in default (`builtin()`, the table
    in README.md) or a JSON file of the same schema (`from_json`). Value
    types are a closed set implemented here, never patterns from the file,
    so a whitelist file can narrow or widen the whitelist but cannot introduce
    a new way to parse a value.

    `check` never trusts the caller's spelling: it rebuilds the argv from
    the rule (canonical option names, `--name=value`, `--` before the
    positional arguments), so that an option taking an optional value can
    never swallow a positional argument.

    Paths are built, not passed through: a segment with leading or trailing
    white space (ASCII or Unicode, which Go's `strings.TrimSpace` in
    PhotoPrism removes) is refused, so no segment can become `.` or `..`
    in the target; a value with a `base` reaches the CLI as the absolute
    path `base/value`, so it cannot be resolved against the process's
    working directory.
*/
enum class value_type {
    none,            ///< a flag
    user_id,         ///< a Nextcloud user id: [A-Za-z0-9_.@-], 1..64, not starting with - or .
    group_id,        ///< a Nextcloud group id, same characters as user_id
    user_files_path, ///< /<user_id>/files[/relative path]
    user_folder,     ///< a folder under the user's root: [/]relative path[/], or /
    relative_path,   ///< relative path: no leading /, no . or .. segments
    choice,          ///< one of a fixed list of words
};

/// The name used for a value type in whitelist files ("user_id", ...).
std::string_view to_string(value_type t) noexcept;
std::optional<value_type> value_type_from_string(std::string_view name) noexcept;

struct option_rule
{
    std::string name;                  ///< canonical spelling, e.g. "--path"
    std::vector<std::string> aliases;  ///< accepted spellings, e.g. "-p"
    value_type value = value_type::none;
    std::vector<std::string> choices;  ///< for value_type::choice
    std::optional<std::string> base;   ///< relative_path only: emitted as base/value
    bool idempotent = true;            ///< false: a command carrying it is never re-run

    bool operator==(const option_rule&) const = default;
};

/** Where the positional arguments of a command come from. */
struct argument_rule
{
    value_type value = value_type::none; ///< none: the command takes no arguments
    std::size_t max = 0;
    /// relative_path only: each argument is emitted as base/argument, and
    /// no argument at all is emitted as base itself.
    std::optional<std::string> base;
    /// First segments refused because a caller would mean another folder
    /// by them (PhotoPrism's "originals", "storage", "import").
    std::vector<std::string> reserved;

    bool operator==(const argument_rule&) const = default;
};

struct forbidden_option
{
    std::string name;
    std::vector<std::string> aliases;
    std::string reason;                ///< shown to the caller

    bool operator==(const forbidden_option&) const = default;
};

struct command_rule
{
    std::vector<std::string> argv;     ///< fixed words, e.g. {"php", "occ", "files:scan"}
    std::vector<option_rule> options;
    std::vector<forbidden_option> forbidden;
    argument_rule arguments;           ///< the positional arguments
    bool single_flight = false;        ///< at most one run per service at a time
    bool idempotent = true;            ///< safe to run again after an unknown outcome

    /// "php occ files:scan"
    std::string name() const;
    bool operator==(const command_rule&) const = default;
};

struct service_rule
{
    std::string name;                     ///< "nextcloud"
    std::optional<std::string> exec_user; ///< user[:group] or uid[:gid] to run as: the override
    std::optional<exec_user_rule> exec_user_from; ///< or found in the target (exec_user.hpp)
    std::optional<std::string> working_dir; ///< absolute; the exec's WorkingDir
    std::vector<failure_pattern> failures; ///< output lines that mean "it failed"
    std::vector<command_rule> commands;

    bool operator==(const service_rule&) const = default;
};

/// The outcome of `whitelist::check`: an authorized command, or why not.
struct decision
{
    error_code ec;              ///< empty when the command is allowed
    std::string reason;         ///< one line, when refused
    authorized_command command; ///< when allowed

    bool allowed() const noexcept { return !ec; }
    explicit operator bool() const noexcept { return allowed(); }
};

class whitelist
{
public:
    whitelist() = default;
    explicit whitelist(std::vector<service_rule> services);

    /** Loads a whitelist from JSON text.

        @param ec     set to `error::invalid_whitelist` on failure
        @param reason names the line and column (syntax) or the key path
                      (schema) of the first problem
    */
    static whitelist from_json(std::string_view text, error_code& ec, std::string& reason);

    /** The compiled-in default: the whitelist table of README.md, read
        from `builtin_json()` at first use. (The proxy's binaries use
        the same rules compiled to constants at build time, see
        proxy/whitelist_table.cpp.) */
    static const whitelist& builtin();

    /// The JSON text of the compiled-in default.
    static std::string_view builtin_json() noexcept;

    const std::vector<service_rule>& services() const noexcept { return services_; }
    const service_rule* find_service(std::string_view name) const noexcept;

    /// Checks an argv against the rules of `service`.
    decision check(std::string_view service, std::span<const std::string> argv) const;

    /// Parses an SSH command string, then checks it.
    decision check_command(std::string_view service, std::string_view command_string,
                           const command_limits& limits = {}) const;

    /// Same services with the same rules, in the same order.
    bool operator==(const whitelist&) const = default;

private:
    std::vector<service_rule> services_;
};

} // namespace nextprism

#include <nextprism/impl/whitelist.hpp>

#endif
