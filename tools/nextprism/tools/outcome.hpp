#ifndef NEXTPRISM_TOOLS_OUTCOME_HPP
#define NEXTPRISM_TOOLS_OUTCOME_HPP

// How a run ended, as the tools report it: one outcome name (the CLI's
// --json, the agent's `finished` event and its metrics) and one exit
// status (the CLI's table, which a command's own status cannot be read
// as alone). One table, so the CLI and the agent say the same thing.

#include <nextprism/command.hpp>
#include <nextprism/error.hpp>
#include <nextprism/failure_lines.hpp>
#include <nextprism/progress.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace nextprism::tools {

namespace tool_exit {
inline constexpr int refused = 65;       ///< the whitelist refused it (here or at the proxy)
inline constexpr int unreachable = 69;   ///< no route: no usable proxy, target not found
inline constexpr int failed = 70;        ///< another failure, nothing known to have run
inline constexpr int config = 78;        ///< a configuration or whitelist file is wrong
inline constexpr int timed_out = 124;    ///< the deadline passed; the command was stopped
inline constexpr int may_have_run = 125; ///< it may have run (or may still run): check before repeating
inline constexpr int cancelled = 130;    ///< Ctrl-C / SIGTERM / DELETE: the command was stopped
} // namespace tool_exit

/// Every outcome name, in the order the metrics list them.
inline const std::vector<std::string>& outcome_names()
{
    static const std::vector<std::string> names = {"succeeded", "exited",    "refused",     "unreachable",
                                                   "timed_out", "cancelled", "may_have_run", "failed"};
    return names;
}

struct outcome
{
    const char* name;
    int status;
};

/// The run's outcome: one name, one status for the shell.
inline outcome outcome_of(const error_code& ec, const command_result& r)
{
    if (!ec)
        return {r.succeeded() ? "succeeded" : "exited", caller_exit_status(r)};
    if (ec == condition::rejected)
        return {"refused", tool_exit::refused};
    if (ec == error::cancelled)
        return {"cancelled", tool_exit::cancelled};
    if (ec == error::timeout)
        return {r.still_running ? "may_have_run" : "timed_out",
                r.still_running ? tool_exit::may_have_run : tool_exit::timed_out};
    if (ec == error::outcome_unknown || ec == error::command_not_stopped)
        return {"may_have_run", tool_exit::may_have_run};
    if (ec == error::no_route || ec == error::target_not_found || ec == error::target_not_running ||
        ec == condition::unreachable)
        return {"unreachable", tool_exit::unreachable};
    return {"failed", tool_exit::failed};
}

/** The summary of a finished run, as one JSON object: the CLI's --json
    (and its `finished` event), the agent's `finished` event and its
    GET /v1/runs entries. */
inline nlohmann::ordered_json run_summary(const std::string& service, const std::vector<std::string>& argv,
                                          const error_code& ec, const command_result& r, const progress& p,
                                          std::chrono::milliseconds duration)
{
    const auto o = outcome_of(ec, r);
    nlohmann::ordered_json j;
    j["service"] = service;
    j["argv"] = argv;
    j["outcome"] = o.name;
    j["status"] = o.status;
    if (!ec) {
        j["exit_code"] = r.exit_code;
        if (r.exit_signal)
            j["signal"] = *r.exit_signal;
    } else {
        j["error"] = ec.message();
        j["message"] = ec == condition::rejected && !r.reason.empty() ? r.reason : describe_failure(service, ec, r);
    }
    if (!r.started_in.empty())
        j["started_in"] = r.started_in;
    j["failure_lines"] = r.failure_lines;
    auto attempts = nlohmann::ordered_json::array();
    for (const auto& a : r.attempts)
        attempts.push_back({{"route", a.route.empty() ? "none" : a.route}, {"error", a.ec ? a.ec.message() : ""}});
    j["attempts"] = std::move(attempts);
    j["route"] = r.attempts.empty() ? "none" : r.attempts.back().route;
    j["files"] = p.files;
    j["folders"] = p.folders;
    j["duration_ms"] = duration.count();
    return j;
}

} // namespace nextprism::tools

#endif
