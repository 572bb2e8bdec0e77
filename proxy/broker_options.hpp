#ifndef NEXTPRISM_PROXY_BROKER_OPTIONS_HPP
#define NEXTPRISM_PROXY_BROKER_OPTIONS_HPP

// The broker's command line and environment, read once into `options`.

#include "proxy_run.hpp"

#include <nextprism/tools/command_line.hpp>

#include <pwd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace nextprism::broker {

namespace exit_code = nextprism::proxy_exit_code;

struct options
{
    std::string socket_path;
    std::string service;
    std::string whitelist_file;
    std::string audit_log = "/run/nextprism/audit.fifo";
    std::string authorized_keys = "/etc/nextprism/authorized_keys";
    std::set<uid_t> peer_uids;
    std::optional<gid_t> socket_group;
    std::string user;
    std::string helper_image = "auto";
    long stop_grace_ms = 3000;
    long max_children = 256;
    long drain_timeout_seconds = 20; ///< after SIGTERM, how long running commands may go on
    nextprism::proxy_run::run_config run;
    // --stop-tree
    int stop_pid = 0;
    std::string stop_container;
    long long not_before = 0;
};

[[noreturn]] inline void die(int code, std::string_view what, std::string_view detail = {})
{
    const std::string line = "nextprism-broker: " + std::string(what) + (detail.empty() ? "" : ": ") +
                             std::string(detail) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::exit(code);
}

/// What --help says of the broker.
inline tools::command_line::description broker_description()
{
    return {
        .program = "nextprism-broker",
        .synopsis = "--socket PATH --service SERVICE [OPTIONS]\n"
                    "--stop-tree PID --container ID --not-before EPOCH [--grace MS]",
        .summary = "The proxy's privileged half: the only process that reaches the Docker socket and the\n"
                   "audit log. Validators hand it their decisions over PATH; it records and runs them.",
        .exits = {{"0", "stopped by SIGTERM after its drain, or a stop helper's work done"},
                  {"64", "usage: a bad command line, or DOCKER_HOST is not an engine address"},
                  {"70", "internal error"},
                  {"74", "the audit log cannot be written"}},
        .notes = "Environment: DOCKER_HOST, <SERVICE>_CONTAINER (the target's Swarm service or container).\n"
                 "--helper-image auto (default): stop commands with a helper container of this container's\n"
                 "image; none: signal them from here (a broker in the host PID namespace).",
        .operands_allowed = false,
    };
}

/// Each option, bound to its place in `o`.
inline void declare_options(tools::command_line& cli, options& o)
{
    constexpr long week = 7 * 24 * 3600;
    cli.option("--socket", "PATH", "the unix socket validators connect to", o.socket_path)
        .option("--service", "SERVICE", "the target service", [&o](std::string_view v) {
            o.run.service = o.service = std::string(v);
            return std::string();
        })
        .option("--whitelist", "FILE", "a whitelist file instead of the compiled-in default", o.whitelist_file)
        .option("--audit-log", "FILE", "the audit sink (default /run/nextprism/audit.fifo)", o.audit_log)
        .option("--lock-dir", "DIR", "single-flight locks", o.run.lock_dir)
        .option("--authorized-keys", "FILE", "for the key's comment in the audit", o.authorized_keys)
        .number("--timeout", "SECONDS", "stop a command after this long", o.run.timeout_seconds, 0L, week)
        .number("--output-stall", "SECONDS", "the caller may read nothing this long (0: no limit)",
                o.run.output_stall_seconds, 0L, week)
        .number("--max-running", "N", "commands at once per service (0: no cap)", o.run.max_running, 0L, 1024L)
        .number("--max-per-key", "N", "commands at once per key (0: no cap)", o.run.max_per_key, 0L, 1024L)
        .option("--peer-uid", "UID", "a uid allowed to connect (repeatable; default: the account 'nextprism')",
                [&o](std::string_view v) {
                    const auto uid = tools::parse_number<uid_t>(v, 0, 0x7fffffff);
                    if (!uid)
                        return "'" + std::string(v) + "' is not a uid";
                    o.peer_uids.insert(*uid);
                    return std::string();
                })
        .option("--socket-group", "GID", "the socket's group, mode 0660 (default: that account's group)",
                [&o](std::string_view v) {
                    const auto gid = tools::parse_number<gid_t>(v, 0, 0x7fffffff);
                    if (!gid)
                        return "'" + std::string(v) + "' is not a gid";
                    o.socket_group = *gid;
                    return std::string();
                })
        .option("--user", "NAME", "run as this account once the socket is bound", o.user)
        .option("--helper-image", "IMAGE|auto|none", "how a command is stopped (see below)", o.helper_image)
        .number("--stop-grace, --grace", "MS", "SIGTERM to SIGKILL, milliseconds", o.stop_grace_ms, 0L, 600'000L)
        .number("--max-children", "N", "request children at once", o.max_children, 1L, 4096L)
        .number("--drain-timeout", "SECONDS", "after SIGTERM, how long running commands may go on",
                o.drain_timeout_seconds, 0L, 24L * 3600)
        .number("--stop-tree", "PID", "as the stop helper: stop this process tree", o.stop_pid, 1, 0x7fffffff)
        .option("--container", "ID", "the stop helper's container (full id)", o.stop_container)
        .number("--not-before", "EPOCH", "the stop helper waits until then", o.not_before, 0LL, 0x7fffffffffffLL);
}

/// The engine and the target, from the environment.
inline void read_environment(options& o)
{
    nextprism::error_code ec;
    o.run.engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec)
        die(exit_code::usage, "DOCKER_HOST is not a unix:// or tcp:// address");
    const char* target = std::getenv(nextprism::proxy_run::target_variable(o.service).c_str());
    o.run.container = target && *target ? target : o.service;
}

/// The peer uid and the socket's group, when not given: those of the account 'nextprism'.
inline void default_peer(options& o)
{
    if (!o.peer_uids.empty() && o.socket_group)
        return;
    const passwd* pw = ::getpwnam("nextprism");
    if (!pw)
        die(exit_code::usage, "no --peer-uid/--socket-group and no account 'nextprism'");
    if (o.peer_uids.empty())
        o.peer_uids.insert(pw->pw_uid);
    if (!o.socket_group)
        o.socket_group = pw->pw_gid;
}

/// The whole command line and environment, in one place.
inline options parse_options(int argc, char** argv)
{
    options o;
    tools::command_line cli(broker_description());
    declare_options(cli, o);
    cli.parse(argc, argv);
    if (o.stop_pid > 0) {
        if (o.stop_container.size() != 64)
            cli.usage_error("--stop-tree needs --container with a full container id");
        return o;
    }
    if (o.socket_path.empty() || o.service.empty())
        cli.usage_error("--socket and --service are required");
    read_environment(o);
    o.run.hold_until_ended = true;
    default_peer(o);
    return o;
}

} // namespace nextprism::broker

#endif
