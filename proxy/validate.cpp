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
#include "broker_protocol.hpp"
#include "session_record.hpp"
#include "validate_options.hpp"
#include "default_whitelist_table.hpp" // generated: the default whitelist as constants

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <csignal>
#include <cstdio>
#include <span>

namespace {

using namespace nextprism::validator;

/// The compiled-in default, or a whitelist file through the JSON loader;
/// only the one in use is built.
nextprism::whitelist load_rules(const options& opts)
{
    if (opts.whitelist_file.empty())
        return nextprism::whitelist_table::builtin();
    return nextprism::proxy_run::load_whitelist(
        opts.whitelist_file, [](int code, std::string_view what, std::string_view detail) { fail(code, what, detail); });
}

/// What sshd says of the session.
struct session_env
{
    const char* original;   ///< SSH_ORIGINAL_COMMAND; null: none given (interactive)
    std::string input;      ///< the same, "" when none
    const char* ssh_client; ///< SSH_CLIENT, or null
    std::string key_line;   ///< the public key SSH_USER_AUTH names
};

session_env read_session()
{
    const char* original = std::getenv("SSH_ORIGINAL_COMMAND");
    return {original, original ? original : "", env("SSH_CLIENT"),
            nextprism::read_ssh_user_auth_key(env("SSH_USER_AUTH"))};
}

nextprism::decision decide(const nextprism::whitelist& rules, const std::string& service, const session_env& s)
{
    nextprism::decision d;
    if (!s.original) {
        d.ec = nextprism::error::empty_command;
        d.reason = "no command given (interactive sessions are not offered)";
    } else {
        d = rules.check_command(service, s.input);
    }
    return d;
}

// ---- the broker protocol, the validator's side (broker_protocol.hpp) ----------------

/** Hands the session to the broker: every decision goes on record
    there, an allowed command runs there with this session's stdout and
    stderr. Waits for its answer and returns the exit status (having
    printed the line the broker asks for). The validator's own end of the
    connection going away (it is killed, sshd hangs it up) tells the
    broker to stop the command. */
int through_broker(const std::string& socket_path, long timeout_seconds, nextprism::broker_protocol::request req,
                          bool pass_output)
{
    namespace protocol = nextprism::broker_protocol;
    const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (sock < 0 || socket_path.size() >= sizeof addr.sun_path)
        fail(exit_code::internal, "cannot reach the proxy's broker", socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        // No broker listening: the proxy is stopping (its drain is over) or
        // still starting; the container ends or serves in a moment. Nothing
        // ran: busy (transient), so that callers retry.
        if (errno == ECONNREFUSED || errno == ENOENT)
            fail(exit_code::busy, "busy", "the proxy's broker is not running (the proxy is stopping or starting); try again shortly");
        fail(exit_code::internal, "cannot reach the proxy's broker " + socket_path, std::strerror(errno));
    }
    const int fds[] = {STDOUT_FILENO, STDERR_FILENO};
    const bool sent = protocol::send_message(sock, protocol::encode(req),
                                             pass_output ? std::span<const int>(fds) : std::span<const int>());
    const int send_errno = errno;
    // A broker that answers busy at once closes without reading: its
    // answer is waiting even when the send failed. The wait is bounded: a
    // run by --timeout (the broker's own deadline, as the entrypoint sets
    // both) and a minute for its stop, the rest by seconds; then this side
    // closes, which stops what the broker runs.
    const auto wait = !sent             ? std::chrono::seconds(2)
                      : req.op != "run" ? std::chrono::seconds(30)
                      : timeout_seconds > 0 ? std::chrono::seconds(timeout_seconds + 60)
                                                 : std::chrono::seconds(-1);
    std::string payload;
    std::vector<int> ignored;
    protocol::reply reply;
    if (!protocol::receive_message(sock, payload, ignored, std::chrono::duration_cast<std::chrono::milliseconds>(wait)) ||
        !protocol::decode(payload, reply)) {
        if (!sent)
            fail(exit_code::internal, "cannot send the request to the proxy's broker", std::strerror(send_errno));
        fail(exit_code::internal, "the proxy's broker ended without an answer");
    }
    if (!reply.line.empty())
        std::fwrite(reply.line.data(), 1, reply.line.size(), stderr);
    return reply.status;
}

/// As deployed: the broker records and runs; this process only decided.
int hand_to_broker(const options& opts, const nextprism::decision& d, const session_env& s)
{
    nextprism::broker_protocol::request req;
    req.op = !d ? "refused" : opts.dry_run ? "dry_run" : "run";
    req.service = opts.service;
    req.argv = d.command.argv;
    if (s.original)
        req.input = s.input;
    req.reason = d.reason;
    req.ssh_client = s.ssh_client ? s.ssh_client : "";
    req.key = s.key_line;
    const int status =
        through_broker(opts.broker, opts.timeout_seconds, std::move(req), d && !opts.dry_run);
    if (!d && status == exit_code::refused)
        fail(exit_code::refused, "refused", d.reason);
    if (d && opts.dry_run && status == 0)
        print(nlohmann::json(d.command.exec_argv).dump() + '\n');
    return status;
}

/// Direct mode's run configuration: this process reaches the engine itself.
nextprism::proxy_run::run_config direct_config(const options& opts)
{
    nextprism::proxy_run::run_config cfg;
    cfg.service = opts.service;
    nextprism::error_code ec;
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
    return cfg;
}

/// Without a broker: the audit line written here, then the dry run's argv or the run.
int run_direct(const options& opts, const nextprism::decision& d, const session_env& s)
{
    // Nothing runs unless its decision is on record.
    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(opts.audit_log, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot open audit log " + opts.audit_log, ec.message());
    // The key as sshd logs it ("SHA256:..."), with its authorized_keys comment.
    const nextprism::proxy_run::session_record session(
        opts.service, s.original ? std::optional<std::string>(s.input) : std::nullopt,
        s.ssh_client ? s.ssh_client : "", s.key_line, opts.authorized_keys);
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
    return nextprism::proxy_run::run(direct_config(opts), d, record, log, {});
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

    const nextprism::whitelist rules = load_rules(opts);
    const auto* rule = rules.find_service(opts.service);
    if (!rule)
        fail(exit_code::usage, "usage", "service '" + opts.service + "' is not in the whitelist");
    if (opts.check_whitelist) {
        print("nextprism-validate: whitelist " + (opts.whitelist_file.empty() ? "(compiled-in default)" : opts.whitelist_file) +
              ": " + std::to_string(rule->commands.size()) + " commands for " + opts.service + "\n");
        return 0;
    }

    const session_env session = read_session();
    const nextprism::decision d = decide(rules, opts.service, session);
    if (!opts.broker.empty())
        return hand_to_broker(opts, d, session);
    return run_direct(opts, d, session);
}
