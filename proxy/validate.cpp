// nextprism-validate: the proxy's ForceCommand.
//
// sshd runs it for every session, with the client's command line in
// SSH_ORIGINAL_COMMAND. It splits that string by the wire grammar (no
// shell) and checks it against the whitelist. Then, as deployed, it hands
// the decision to the proxy's broker (proxy/broker.cpp) over its unix
// socket: the broker writes the audit record, runs what was allowed in the
// target container with the session's own stdout/stderr (passed to it),
// and answers the exit status, which the validator exits with. The
// validator itself never reaches the Docker socket nor the audit log.
//
// Without a broker (NEXTPRISM_BROKER unset: the host test bed, benchmarks)
// it writes the audit line itself and either prints the canonical argv
// (--dry-run) or runs the command through the Docker socket it is given
// (proxy_run.hpp, the same code the broker runs).
//
// Everything it refuses gets one stderr line and a distinct exit code
// (nextprism/wire/exit_status.hpp). Its start-up path stays lean: it runs
// once per command. So the default whitelist is compiled in as constants (no
// JSON parse), and output goes through stdio, not iostreams (no static
// iostream and locale set-up).

#include "proxy_run.hpp" // first: it includes nextprism's config first
#include "audit_drain.hpp"
#include "broker_client.hpp"
#include "session_record.hpp"
#include "default_whitelist_table.hpp" // generated: the default whitelist as constants

#include <nextprism/tools/command_line.hpp>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <csignal>
#include <cstdio>
#include <span>

namespace {

namespace exit_code = nextprism::proxy_exit_code;

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
void print(std::string_view text)
{
    std::fwrite(text.data(), 1, text.size(), stdout);
}

using nextprism::proxy_run::fail;

const char* env(const char* name)
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
int shell_invocation(int argc, char** argv)
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

options parse_options(int argc, char** argv)
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




} // namespace

int main(int argc, char** argv)
{
    // A writer whose reader is gone (the audit FIFO's drainer, the SSH
    // channel) gets EPIPE, handled where it happens, not a fatal signal.
    ::signal(SIGPIPE, SIG_IGN);
    const options opts = parse_options(shell_invocation(argc, argv), argv);
    if (!opts.audit_drain.empty())
        return nextprism::proxy_run::drain_audit(
            {opts.audit_drain, opts.audit_file, opts.audit_file_max_bytes, opts.audit_file_keep});

    // The compiled-in default, or a whitelist file through the JSON loader;
    // only the one in use is built.
    const nextprism::whitelist whitelist_in_use =
        opts.whitelist_file.empty()
            ? nextprism::whitelist_table::builtin()
            : nextprism::proxy_run::load_whitelist(opts.whitelist_file, [](int code, std::string_view what, std::string_view detail) { fail(code, what, detail); });
    const nextprism::whitelist* rules = &whitelist_in_use;
    const auto* rule = rules->find_service(opts.service);
    if (!rule)
        fail(exit_code::usage, "usage", "service '" + opts.service + "' is not in the whitelist");
    if (opts.check_whitelist) {
        print("nextprism-validate: whitelist " + (opts.whitelist_file.empty() ? "(compiled-in default)" : opts.whitelist_file) +
              ": " + std::to_string(rule->commands.size()) + " commands for " + opts.service + "\n");
        return 0;
    }

    const char* original = std::getenv("SSH_ORIGINAL_COMMAND");
    const std::string input = original ? original : "";
    const char* ssh_client = env("SSH_CLIENT");
    const std::string key_line = nextprism::read_ssh_user_auth_key(env("SSH_USER_AUTH"));

    nextprism::decision d;
    if (!original) {
        d.ec = nextprism::error::empty_command;
        d.reason = "no command given (interactive sessions are not offered)";
    } else {
        d = rules->check_command(opts.service, input);
    }

    if (!opts.broker.empty()) {
        // As deployed: the broker records and runs; this process only decided.
        nextprism::broker_protocol::request req;
        req.op = !d ? "refused" : opts.dry_run ? "dry_run" : "run";
        req.service = opts.service;
        req.argv = d.command.argv;
        if (original)
            req.input = input;
        req.reason = d.reason;
        req.ssh_client = ssh_client ? ssh_client : "";
        req.key = key_line;
        const int status =
            nextprism::proxy_run::through_broker(opts.broker, opts.timeout_seconds, std::move(req), d && !opts.dry_run);
        if (!d && status == exit_code::refused)
            fail(exit_code::refused, "refused", d.reason);
        if (d && opts.dry_run && status == 0)
            print(nlohmann::json(d.command.exec_argv).dump() + '\n');
        return status;
    }

    // Nothing runs unless its decision is on record.
    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(opts.audit_log, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot open audit log " + opts.audit_log, ec.message());
    // The key as sshd logs it ("SHA256:..."), with its authorized_keys comment.
    const nextprism::proxy_run::session_record session(
        opts.service, original ? std::optional<std::string>(input) : std::nullopt, ssh_client ? ssh_client : "",
        key_line, opts.authorized_keys);
    const auto record = session.decided(d);
    log.write(record, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot write audit log " + opts.audit_log, ec.message());

    if (!d)
        fail(exit_code::refused, "refused", d.reason);

    if (opts.dry_run) {
        print(nlohmann::json(d.command.exec_argv).dump() + '\n');
        return 0;
    }
    // Direct mode: this process reaches the engine itself.
    nextprism::proxy_run::run_config cfg;
    cfg.service = opts.service;
    const auto engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec)
        fail(exit_code::usage, "usage", "DOCKER_HOST is not a unix:// or tcp:// address");
    cfg.engine = engine;
    const char* target = env(nextprism::proxy_run::target_variable(opts.service).c_str());
    cfg.container = target ? target : opts.service;
    cfg.lock_dir = opts.lock_dir;
    cfg.timeout_seconds = opts.timeout_seconds;
    cfg.output_stall_seconds = opts.output_stall_seconds;
    cfg.max_running = opts.max_running;
    cfg.max_per_key = opts.max_per_key;
    return nextprism::proxy_run::run(cfg, d, record, log, {});
}
