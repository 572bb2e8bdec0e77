#ifndef NEXTPRISM_COMMAND_HPP
#define NEXTPRISM_COMMAND_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>
#include <nextprism/output.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism {

/// One maintenance command to run in a service's container.
struct command_request
{
    std::string service;                 ///< "nextcloud" or "photoprism"
    std::vector<std::string> argv;       ///< {"php", "occ", "files:scan", "--all"}
    std::chrono::milliseconds timeout{0}; ///< the whole run's, retries included; 0: none
    /// Scan the output for the service's failure lines (failure_lines.hpp)
    /// and report them in command_result::failure_lines. Opt out for a
    /// command whose error lines the caller handles itself.
    bool detect_failures = true;
};

/// One attempt of a run, as the executor made it.
struct attempt_report
{
    std::string route; ///< the proxy ("10.0.1.3:2222"), "local", or empty: no route
    error_code ec;     ///< how it ended; empty: the command ran to its end there
};

/** How a command ended. A non-zero `exit_code` is data, not an error: a
    command that ran is never retried because it "failed". */
struct command_result
{
    int exit_code = -1;
    std::optional<std::string> exit_signal; ///< when killed by a signal (SSH reports it)
    std::uint64_t stdout_bytes = 0;
    std::uint64_t stderr_bytes = 0;
    /// Output lines that say the command failed although its exit status
    /// may be 0 (the whitelist's failure_lines; at most 8, each cut to 512
    /// bytes). The exit status stays the command's own.
    std::vector<std::string> failure_lines;
    /// It was to be stopped (deadline, cancellation) and the engine still
    /// reported it running afterwards: it may still be running.
    bool still_running = false;
    /// Where the command was started, "<container> (exec <id>)"
    /// (`started_in_label`): through a proxy from its start line, on this
    /// node from the engine; empty when it never started. Also set when the
    /// run failed after it had started.
    std::string started_in;
    /// Whether the command was started, where the transport knows it (a
    /// proxy that ended the run itself: its start line was there or not).
    /// Unset: the error's row of the table says (`may_have_started`).
    std::optional<bool> started;
    /// When the run ended with a refusal (`condition::rejected`): the rule
    /// that refused it, in one line, as the whitelist gave it. When it
    /// ended with `outcome_unknown` after retries: what the attempts met.
    /// When it was busy on this node: what runs there already
    /// ("php occ files:scan (exec 0123456789ab) already runs in C; ...").
    std::string reason;
    /// Every attempt of the run, in order (set by the Swarm-aware executor).
    std::vector<attempt_report> attempts;

    /// Whether the command ran and succeeded: exit 0, no signal, no
    /// failure line.
    bool succeeded() const noexcept
    {
        return exit_code == 0 && !exit_signal && failure_lines.empty();
    }
};

/// What `command_result::started_in` says for an exec: "<container> (exec
/// <first 12 of its id>)", the proxy's start line's words too.
inline std::string started_in_label(std::string_view container, std::string_view exec_id)
{
    std::string label(container);
    label += " (exec ";
    label += exec_id.substr(0, 12);
    label += ')';
    return label;
}

/// Where a command was started: reported once per attempt that starts it,
/// just before the engine is asked to start it (so before its output).
struct start_report
{
    std::string route;     ///< the executor's: the proxy ("10.0.1.3:2222") or "local"; empty from a transport
    std::string container; ///< the container's name
    std::string exec_id;   ///< the engine's exec id; through a proxy, its first 12 characters
    /// Whom it runs as and why ("1000:1000 (PHOTOPRISM_UID:PHOTOPRISM_GID)",
    /// exec_user.hpp); from a transport that sees the target, empty through a proxy.
    std::string exec_user;

    std::string label() const { return started_in_label(container, exec_id); }
};

/// Receives a `start_report`; called on the operation's executor. Never
/// called: the command was never started.
using start_handler = std::function<void(const start_report&)>;

/** One line for a run that failed with `ec`: the error, for which
    service, and what each proxy met (its last error, the health check's
    included), e.g. "no usable proxy for the target, and it does not run
    on this node (photoprism): 10.0.1.3:2222 Connection refused;
    10.0.1.4:2222 host key mismatch"; then the result's reason and where a
    proxy started it. */
inline std::string describe_failure(std::string_view service, const error_code& ec, const command_result& r)
{
    std::string line = ec.message();
    line += " (";
    line += service;
    line += ")";
    std::vector<const attempt_report*> last; // per route, its last attempt
    for (const auto& a : r.attempts) {
        if (a.route.empty() || !a.ec)
            continue;
        auto it = std::find_if(last.begin(), last.end(), [&](auto* p) { return p->route == a.route; });
        if (it == last.end())
            last.push_back(&a);
        else
            *it = &a;
    }
    for (std::size_t i = 0; i < last.size(); ++i) {
        line += i == 0 ? ": " : "; ";
        line += last[i]->route + " " + last[i]->ec.message();
    }
    if (!r.reason.empty())
        line += " (" + r.reason + ")";
    if (!r.started_in.empty())
        line += "; it was started in " + r.started_in;
    return line;
}

} // namespace nextprism

#endif
