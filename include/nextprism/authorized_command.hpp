#ifndef NEXTPRISM_AUTHORIZED_COMMAND_HPP
#define NEXTPRISM_AUTHORIZED_COMMAND_HPP

// What a transport takes: a command the whitelist allowed. No JSON, no
// whitelist loader: a transport includes this, not whitelist.hpp.

#include <nextprism/detail/config.hpp>
#include <nextprism/exec_user.hpp>
#include <nextprism/output.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism {

/** How a service's CLI shows a failure when its exit status does not
    (PhotoPrism exits 0 on almost every error; occ's files:scan exits 0 for
    an unknown user). A line of output matches when every given part does. */
struct failure_pattern
{
    enum class stream_kind { any, out, err };
    stream_kind stream = stream_kind::any;
    std::string starts_with;
    std::string contains;
    std::string ends_with;

    bool matches(output_stream s, std::string_view line) const noexcept
    {
        if ((stream == stream_kind::out && s != output_stream::out) ||
            (stream == stream_kind::err && s != output_stream::err))
            return false;
        return line.starts_with(starts_with) && line.ends_with(ends_with) &&
               line.find(contains) != std::string_view::npos;
    }
    bool operator==(const failure_pattern&) const = default;
};

struct authorized_command;
class whitelist;
struct decision;

namespace testing {
/// For tests only: a command that no whitelist checked, e.g. to send a
/// proxy what the executor would have refused (the proxy must refuse it).
authorized_command unchecked_command(std::string service, std::vector<std::string> argv);
} // namespace testing

/** A command the whitelist allowed, as a value that owns everything the
    rest of the way needs: it is made once (`whitelist::check`) and
    travels, so transports run it without checking it again and nothing
    points back into the whitelist. */
struct authorized_command
{
    std::string service;                    ///< "nextcloud"
    /// The matched rule's name ("php occ files:scan"): the single-flight group.
    std::string rule;
    /// Canonical argv: what a caller sends (check(argv) == argv, so the
    /// executor's check and the proxy's agree).
    std::vector<std::string> argv;
    /// What runs in the container: argv with each path that has a `base`
    /// made absolute under it (PhotoPrism's import source).
    std::vector<std::string> exec_argv;
    std::optional<std::string> exec_user;   ///< the exec's User (fixed by the whitelist)
    /// Or where the transport finds it in the target's configuration (exec_user.hpp).
    std::optional<exec_user_rule> exec_user_from;
    std::optional<std::string> working_dir; ///< the exec's WorkingDir
    /// The command and every option given are safe to run again after an
    /// unknown outcome (an option such as photoprism's --cleanup is not).
    bool idempotent = false;
    bool single_flight = false;             ///< at most one run per service at a time
    /// When single_flight: the fixed words of every single-flight rule of
    /// the service ({"php", "occ", "files:scan"}, ...). An exec running one
    /// of them in the target, whoever started it, makes this one busy: the
    /// engine's list of running execs outlives any proxy process.
    std::vector<std::vector<std::string>> single_flight_group;
    /// Output lines that mean "it failed" although it exits 0 (empty: not scanned).
    std::vector<failure_pattern> failure_patterns;
    std::chrono::milliseconds timeout{0};   ///< 0: none

private:
    // Made by the whitelist's check only (and a test's unchecked_command).
    authorized_command() = default;
    friend class whitelist;
    friend struct decision;
    friend authorized_command testing::unchecked_command(std::string, std::vector<std::string>);
};

namespace testing {
inline authorized_command unchecked_command(std::string service, std::vector<std::string> argv)
{
    authorized_command c;
    c.service = std::move(service);
    c.exec_argv = argv;
    c.argv = std::move(argv);
    return c;
}
} // namespace testing

} // namespace nextprism

#endif
