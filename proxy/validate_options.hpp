#ifndef NEXTPRISM_PROXY_VALIDATE_OPTIONS_HPP
#define NEXTPRISM_PROXY_VALIDATE_OPTIONS_HPP

// The validator's command line and environment, read once into `options`,
// and how sshd starts it (as the account's login shell). Output goes
// through stdio, not iostreams: the start-up path stays lean.

#include "run_config.hpp"

#include <nextprism/whitelist.hpp>
#include <nextprism/tools/command_line.hpp>

#include <sys/auxv.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

namespace nextprism::validator {

namespace exit_code = nextprism::proxy_exit_code;

/// The validator's command line and environment, read once.
struct options
{
    std::string service;
    std::string whitelist_file;
    std::string audit_log = "/var/log/nextprism/audit.log";
    std::string lock_dir = "/run/nextprism";
    long timeout_seconds = 4 * 3600;
    long output_stall_seconds = 300; ///< the caller read nothing for this long: stop
    /// Commands running at once for this service, every command counted
    /// (status too); 0: no cap. 40 = what the client pool sends one proxy
    /// at most by default (max_connections_per_host 5 x MaxSessions 8), so
    /// that a caller's own pool is never refused busy; lower both together.
    long max_running = 40;
    long max_per_key = 32; ///< see proxy_run::run_config
    bool dry_run = false;
    bool check_whitelist = false; ///< load the whitelist, say what it holds, run nothing
    std::string broker; ///< the broker's socket: it audits and runs (as deployed)
    std::string authorized_keys = "/etc/nextprism/authorized_keys"; ///< for the key's comment
    // The drainer (--audit-drain FIFO): the audit FIFO to the container's
    // stdout and an optional rotated file.
    std::string audit_drain;
    std::string audit_file;
    std::uint64_t audit_file_max_bytes = 10 * 1024 * 1024;
    unsigned audit_file_keep = 5;
};

/// Writes `text` to stdout (buffered; flushed at exit).
inline void print(std::string_view text)
{
    std::fwrite(text.data(), 1, text.size(), stdout);
}

using nextprism::proxy_run::fail;

/// An environment variable; null when unset or empty.
inline const char* env(const char* name)
{
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

/** sshd runs a session's command as `<login shell> -c <ForceCommand>`
    (openssh-portable session.c, do_child: argv = {basename of the shell,
    "-c", command}; with a ForceCommand the command is always that line).
    The proxy account's login shell is this program and the ForceCommand is
    its own path, so that no shell sits between sshd and the validator: it
    accepts `-c` with exactly the path it was executed as (AT_EXECFN: what
    sshd passed to execve, the account's shell) and nothing else. Anything
    else after `-c` (a configuration that lost its ForceCommand hands the
    client's command here) and a login-shell start (argv[0] "-...") are
    refused. Returns the argc whose arguments are options (1: none). */
inline int shell_invocation(int argc, char** argv)
{
    if (argc >= 1 && argv[0] && argv[0][0] == '-')
        fail(exit_code::usage, "usage", "not a login shell: sshd starts the validator as the ForceCommand");
    if (argc < 2 || std::string_view(argv[1]) != "-c")
        return argc;
    const auto* self = reinterpret_cast<const char*>(::getauxval(AT_EXECFN));
    if (argc != 3 || !self || std::string_view(argv[2]) != self)
        fail(exit_code::usage, "usage",
             std::string("as a login shell, only -c ") + (self ? self : "(its own path)") +
                 " is accepted: set ForceCommand to the validator's path");
    return 1;
}

inline options parse_options(int argc, char** argv)
{
    namespace tools = nextprism::tools;
    options o;
    if (auto v = env("NEXTPRISM_LOCK_DIR"))
        o.lock_dir = v;
    if (auto v = env("NEXTPRISM_AUTHORIZED_KEYS"))
        o.authorized_keys = v;
    if (auto v = env("NEXTPRISM_DRY_RUN"))
        o.dry_run = std::string_view(v) == "1";
    bool print_whitelist = false;
    tools::command_line cli({
        .program = "nextprism-validate",
        .synopsis = "[--service nextcloud|photoprism] [--whitelist FILE] [OPTIONS]   (sshd: -c ITS-OWN-PATH)\n"
                    "--print-default-whitelist\n"
                    "--check-whitelist [--whitelist FILE] --service NAME\n"
                    "--audit-drain FIFO [--audit-file FILE] [--audit-file-max-bytes N] [--audit-file-keep K]",
        .summary = "The proxy's ForceCommand: splits SSH_ORIGINAL_COMMAND by the wire grammar (no shell),\n"
                   "checks it against the whitelist and, as deployed, hands the decision to the broker\n"
                   "(NEXTPRISM_BROKER), which records and runs it; the exit status is the command's.",
        .exits = {{"0-255", "the command's own exit status"},
                  {"64", "usage: the proxy is misconfigured (service, whitelist file, options)"},
                  {"65", "refused: not on the whitelist"},
                  {"66", "busy: a single-flight command already runs"},
                  {"69", "no running target container"},
                  {"70", "internal error"},
                  {"74", "the audit cannot be written: nothing ran"},
                  {"75", "the Docker engine failed or is unreachable"},
                  {"76", "a stop was tried and the engine says it still runs"},
                  {"124", "the command exceeded its deadline and was stopped"}},
        .notes = "Also: NEXTPRISM_LOCK_DIR (default /run/nextprism), NEXTPRISM_DRY_RUN=1, DOCKER_HOST,\n"
                 "NEXTPRISM_AUTHORIZED_KEYS, <SERVICE>_CONTAINER (Swarm service or container name;\n"
                 "default: the service). With a broker, the service, whitelist and dry run are the broker's.\n"
                 "Each error is one stderr line, `nextprism: ...` (nextprism/wire/exit_status.hpp).",
        .operands_allowed = false,
    });
    // One line only, the contract's.
    cli.on_usage_error([](const std::string& what) { fail(exit_code::usage, "usage", what); });
    constexpr long week = 7 * 24 * 3600;
    cli.option("--service", "NAME", "the target service", o.service, "NEXTPRISM_SERVICE")
        .option("--whitelist", "FILE", "a whitelist file instead of the compiled-in default", o.whitelist_file,
                "NEXTPRISM_WHITELIST")
        .option("--audit-log", "FILE", "the audit log (default /var/log/nextprism/audit.log)", o.audit_log,
                "NEXTPRISM_AUDIT_LOG")
        .number("--timeout", "SECONDS", "stop a command after this long (default 14400; a broker's answer: +60 s)", o.timeout_seconds, 0L,
                week, "NEXTPRISM_TIMEOUT")
        .number("--output-stall", "SECONDS", "the caller may read nothing this long (default 300; 0: no limit)",
                o.output_stall_seconds, 0L, week, "NEXTPRISM_OUTPUT_STALL")
        .number("--max-running", "N", "commands at once per service (default 40; 0: no cap)", o.max_running, 0L,
                1024L, "NEXTPRISM_MAX_RUNNING")
        .number("--max-per-key", "N", "commands at once per key (default 32; 0: no cap)", o.max_per_key, 0L,
                1024L, "NEXTPRISM_MAX_PER_KEY")
        .option("--broker", "SOCKET", "the broker's socket: it audits and runs", o.broker, "NEXTPRISM_BROKER")
        .flag("--dry-run", "decide and print the argv; run nothing", o.dry_run)
        .flag("--print-default-whitelist", "print the compiled-in whitelist as JSON", print_whitelist)
        .flag("--check-whitelist", "load the whitelist, print what it holds for --service, run nothing (bad file: 64)", o.check_whitelist)
        .option("--audit-drain", "FIFO", "run as the audit drainer of this FIFO", o.audit_drain)
        .option("--audit-file", "FILE", "the drainer's rotated file", o.audit_file)
        .number("--audit-file-max-bytes", "N", "rotate at this size (at least 4096)", o.audit_file_max_bytes,
                std::uint64_t{4096}, std::numeric_limits<std::uint64_t>::max())
        .number("--audit-file-keep", "K", "rotated files kept (0-100)", o.audit_file_keep, 0U, 100U);
    cli.parse(argc, argv);
    if (print_whitelist) {
        print(nextprism::whitelist::builtin_json());
        print("\n");
        std::exit(0);
    }
    if (o.service.empty() && o.audit_drain.empty())
        fail(exit_code::usage, "usage", "no service: pass --service or set NEXTPRISM_SERVICE");
    return o;
}

} // namespace nextprism::validator

#endif
