// nextprism-broker: the privileged half of the proxy.
//
// The validator (the SSH session's process, the proxy account's uid) never
// reaches the Docker socket nor the audit log. This broker, started by the
// entrypoint beside sshd, does both for it, and nothing else: it listens on
// a unix socket that only the validator's group can reach, accepts only the
// uids it was told to (SO_PEERCRED), and forks one child per request. The
// child checks the request against the whitelist again (the library's
// check of the argv, not a second parser), writes the audit records, takes
// the slots and the single-flight lock, runs the command through the
// library's Docker client and writes its output straight into the
// session's pipes (passed with SCM_RIGHTS), then answers the exit status.
// A timeout, the caller going away or the validator's end closing stops
// the command through a helper container (broker_stop.hpp); the lock is
// held until the engine says the exec ended.
//
// The parent does nothing but fork and reap: a child's failure (or a bug
// reached by a hostile request) ends that child only. Each child builds
// its own io_context. One child, the spare, is forked before any request
// and waits for the next connection, so that no fork is on a request's
// path; once it takes one, the parent forks the next spare. The parent
// accepts only to answer busy (the cap reached, the drain).
//
// SIGTERM (the container is stopped, a rolling update): drain. Requests
// already running go on; new ones are answered busy ("the proxy is
// stopping": nothing ran, the caller retries); after --drain-timeout the
// children still running are told to stop their commands (SIGTERM: the
// same verified stop as a caller going away); the broker exits when the
// last child has ended.
//
// Also `--stop-tree PID ...`: the stop helper's command, in its own
// container (broker_stop.hpp).

#include "proxy_run.hpp" // first: it includes nextprism's config first
#include "broker_protocol.hpp"
#include "broker_stop.hpp"
#include "default_policy_table.hpp" // generated: the default policy as constants

#include <nextprism/tools/command_line.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <span>
#include <sstream>

namespace {

volatile std::sig_atomic_t drain_requested = 0; // SIGTERM: see the drain above

namespace exit_code = nextprism::proxy_exit_code;
namespace protocol = nextprism::broker_protocol;

struct options
{
    std::string socket_path;
    std::string service;
    std::string policy_file;
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

[[noreturn]] void die(int code, std::string_view what, std::string_view detail = {})
{
    const std::string line = "nextprism-broker: " + std::string(what) + (detail.empty() ? "" : ": ") +
                             std::string(detail) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::exit(code);
}

/// The whole command line and environment, in one place.
options parse_options(int argc, char** argv)
{
    namespace tools = nextprism::tools;
    options o;
    tools::command_line cli({
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
    });
    constexpr long week = 7 * 24 * 3600;
    cli.option("--socket", "PATH", "the unix socket validators connect to", o.socket_path)
        .option("--service", "SERVICE", "the target service", [&o](std::string_view v) {
            o.run.service = o.service = std::string(v);
            return std::string();
        })
        .option("--policy", "FILE", "a whitelist file instead of the compiled-in default", o.policy_file)
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
    cli.parse(argc, argv);
    if (o.stop_pid > 0) {
        if (o.stop_container.size() != 64)
            cli.usage_error("--stop-tree needs --container with a full container id");
        return o;
    }
    if (o.socket_path.empty() || o.service.empty())
        cli.usage_error("--socket and --service are required");
    nextprism::error_code ec;
    o.run.engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec)
        die(exit_code::usage, "DOCKER_HOST is not a unix:// or tcp:// address");
    const char* target = std::getenv(nextprism::proxy_run::target_variable(o.service).c_str());
    o.run.container = target && *target ? target : o.service;
    o.run.hold_until_ended = true;
    if (o.peer_uids.empty() || !o.socket_group) {
        const passwd* pw = ::getpwnam("nextprism");
        if (!pw)
            die(exit_code::usage, "no --peer-uid/--socket-group and no account 'nextprism'");
        if (o.peer_uids.empty())
            o.peer_uids.insert(pw->pw_uid);
        if (!o.socket_group)
            o.socket_group = pw->pw_gid;
    }
    return o;
}


/// Binds the socket: owner this process, group `group`, mode 0660, so
/// that only that group's members (the validator) reach it.
int listen_on(const std::string& path, gid_t group)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        die(exit_code::usage, "socket path too long", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    // Non-blocking: the spare and the parent may both see a connection
    // when the spare retires; the one that does not get it must not block.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die(exit_code::internal, "socket", std::strerror(errno));
    ::unlink(path.c_str());
    const mode_t old = ::umask(0177); // never reachable by others, not even for a moment
    const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (bound != 0)
        die(exit_code::internal, "cannot bind " + path, std::strerror(errno));
    if (::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0 || ::chmod(path.c_str(), 0660) != 0)
        die(exit_code::internal, "cannot give " + path + " to group " + std::to_string(group),
            std::strerror(errno));
    if (::listen(fd, 128) != 0)
        die(exit_code::internal, "listen", std::strerror(errno));
    return fd;
}

/// Becomes `user` (its uid, gid and supplementary groups) for good.
void become(const std::string& user)
{
    const passwd* pw = ::getpwnam(user.c_str());
    if (!pw)
        die(exit_code::usage, "no account " + user);
    if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
        die(exit_code::internal, "cannot become " + user, std::strerror(errno));
    if (pw->pw_uid != 0 && ::setuid(0) == 0)
        die(exit_code::internal, "could regain root after becoming " + user);
}

/** The validator's own check, on the argv it sent: written back in the
    wire grammar (whose character rules refuse control, formatting and
    malformed bytes, also inside quotes) and checked as the command string
    an SSH session would carry. One check on both sides: a forged argv the
    grammar cannot carry (`--path=a\nb`) is refused here too. */
nextprism::decision check_as_sent(const nextprism::whitelist& policy, const std::string& service,
                                  std::span<const std::string> argv)
{
    nextprism::decision d;
    const auto command = nextprism::format_command(argv, d.ec);
    if (d.ec) {
        d.reason = "the argv cannot be written as an SSH command string (" + d.ec.message() + ")";
        return d;
    }
    return policy.check_command(service, command);
}

/// Answers the validator and ends this child.
[[noreturn]] void answer(int conn, int status, std::string line = {})
{
    protocol::send_message(conn, protocol::encode(protocol::reply{status, std::move(line)}));
    ::close(conn);
    std::exit(0);
}

/** One validator's request, in its own child. */
[[noreturn]] void serve(const options& opts, const nextprism::whitelist& policy, int conn)
{
    using nextprism::proxy_exit_line;
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || !opts.peer_uids.count(peer.uid))
        std::exit(0); // not the validator: no answer
    const auto not_before = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    std::string payload;
    std::vector<int> fds;
    protocol::request req;
    const bool received = protocol::receive_message(conn, payload, fds, std::chrono::seconds(10));
    if (!received || !protocol::decode(payload, req))
        answer(conn, exit_code::internal, proxy_exit_line("internal error", "malformed request to the broker"));

    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(opts.audit_log, ec);
    if (ec)
        answer(conn, exit_code::audit_failed,
               proxy_exit_line("cannot open audit log " + opts.audit_log, ec.message()));

    // The record, from what the broker derives itself where it can: the
    // fingerprint and comment from the key line, its own service.
    const auto key = nextprism::detail::fingerprint_of(req.key);
    const auto key_comment = nextprism::authorized_key_comment(opts.authorized_keys, key.blob);
    const auto input_sha256 = req.input ? nextprism::detail::sha256_hex(*req.input) : std::string();
    nextprism::audit_record record;
    record.service = opts.service;
    if (req.input)
        record.input = std::string_view(*req.input);
    record.input_sha256 = input_sha256;
    record.ssh_client = req.ssh_client;
    record.key_type = key.type;
    record.key_fingerprint = key.fingerprint;
    record.key_comment = key_comment;

    nextprism::decision d;
    const bool runs = req.op == "run" || req.op == "dry_run";
    if (runs && key.fingerprint.empty()) {
        // sshd names the key in SSH_USER_AUTH (ExposeAuthInfo): a session
        // without one is no session of ours, and nobody would be on record.
        d.ec = nextprism::error::authentication_failed;
        d.reason = "no client key on record (the session has no SSH_USER_AUTH public key)";
    } else if (req.service != opts.service) {
        d.ec = nextprism::error::unknown_service;
        d.reason = "this proxy serves " + opts.service + ", not '" + req.service + "'";
    } else if (req.op == "refused") {
        d.ec = nextprism::error::empty_command; // any refusal: the validator's reason is on record
        d.reason = req.reason;
    } else if (runs) {
        d = check_as_sent(policy, opts.service, req.argv); // the grammar and the whitelist again
    } else {
        answer(conn, exit_code::internal, proxy_exit_line("internal error", "unknown broker request"));
    }
    record.decision = d ? "allowed" : "refused";
    record.argv = d.command.exec_argv;
    record.reason = d.reason;
    if (!d) {
        record.outcome = "refused";
        record.exit_code = exit_code::refused;
    }
    log.write(record, ec);
    if (ec)
        answer(conn, exit_code::audit_failed,
               proxy_exit_line("cannot write audit log " + opts.audit_log, ec.message()));
    if (!d) // the validator prints its own refusal; one it did not see gets the broker's
        answer(conn, exit_code::refused, req.op == "refused" ? "" : proxy_exit_line("refused", d.reason));
    if (req.op == "dry_run")
        answer(conn, 0);
    if (fds.size() != 2)
        answer(conn, exit_code::internal, proxy_exit_line("internal error", "no output descriptors passed"));

    auto cfg = opts.run;
    if (opts.helper_image != "none") {
        nextprism::broker_stop::helper_config helper;
        helper.image = opts.helper_image;
        helper.grace = std::chrono::milliseconds(opts.stop_grace_ms);
        helper.not_before = not_before;
        cfg.configure_client = [helper, engine = cfg.engine](boost::asio::any_io_executor ex,
                                                             nextprism::docker::client::options& o) {
            o.stop_processes = nextprism::broker_stop::helper_stopper(ex, engine, helper);
        };
    } else {
        cfg.configure_client = [grace = opts.stop_grace_ms](boost::asio::any_io_executor,
                                                           nextprism::docker::client::options& o) {
            o.stop_grace = std::chrono::milliseconds(grace);
        };
    }
    bool answered = false;
    nextprism::proxy_run::run(cfg, d, record, log, {fds[0], fds[1], conn}, [&](int status) {
        if (answered)
            return;
        answered = true;
        // The output is complete: sshd sees its end once the validator exits.
        ::close(fds[0]);
        ::close(fds[1]);
        protocol::send_message(conn, protocol::encode(protocol::reply{status, {}}));
        ::shutdown(conn, SHUT_RDWR);
    });
    std::exit(0);
}

/** The spare: a child forked before any request, blocked until the next
    connection. The parent keeps exactly one while it may serve more. */
struct spare_child
{
    pid_t pid = 0;
    int retire = -1; ///< the parent's end of the spare's pipe: closing it ends a spare that took nothing

    explicit operator bool() const { return pid > 0; }
};

/// Forks the spare. It takes one connection, says so by writing its pid to
/// `taken` (one atomic write), and serves it like any child; it ends when
/// the parent closes its end of `retire` (or the parent dies) first.
spare_child fork_spare(const options& opts, const nextprism::whitelist& policy, int listener, int taken_read,
                       int taken_write)
{
    int retire[2];
    if (::pipe2(retire, O_CLOEXEC) != 0)
        return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(retire[1]);
        ::close(taken_read);
        struct sigaction dfl {};
        dfl.sa_handler = SIG_DFL;
        ::sigaction(SIGTERM, &dfl, nullptr); // the child's own io_context handles it
        for (;;) {
            pollfd p[2] = {{retire[0], POLLIN, 0}, {listener, POLLIN, 0}};
            if (::poll(p, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                std::_Exit(0);
            }
            if (p[0].revents)
                std::_Exit(0); // retired (or the parent is gone): nothing taken
            const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (conn < 0)
                continue; // the parent took it (the drain) or the caller gave up
            ::close(listener);
            ::close(retire[0]);
            const pid_t self = ::getpid();
            [[maybe_unused]] const auto n = ::write(taken_write, &self, sizeof self);
            ::close(taken_write);
            serve(opts, policy, conn);
        }
    }
    ::close(retire[0]);
    if (pid < 0) {
        ::close(retire[1]);
        return {};
    }
    return {pid, retire[1]};
}

int stop_tree_main(const options& o)
{
    return nextprism::broker_stop::stop_tree(o.stop_pid, o.stop_container, o.not_before,
                                             std::chrono::milliseconds(o.stop_grace_ms));
}

} // namespace

int main(int argc, char** argv)
{
    ::signal(SIGPIPE, SIG_IGN);
    options opts = parse_options(argc, argv);
    if (opts.stop_pid > 0)
        return stop_tree_main(opts);

    // The same compiled-in default as the validator's (or a policy file).
    const nextprism::whitelist policy_in_use =
        opts.policy_file.empty()
            ? nextprism::policy_table::default_policy()
            : nextprism::proxy_run::load_policy(opts.policy_file, [](int code, std::string_view what, std::string_view detail) { die(code, what, detail); });
    const nextprism::whitelist* policy = &policy_in_use;
    if (!policy->find_service(opts.service))
        die(exit_code::usage, "service '" + opts.service + "' is not in the policy");

    const int listener = listen_on(opts.socket_path, *opts.socket_group);
    if (!opts.user.empty())
        become(opts.user);
    if (opts.helper_image == "auto") {
        // The proxy's own image, for the stop helper; outside a container
        // (the host tests) the broker signals from the host PID namespace.
        const auto self = nextprism::broker_stop::own_container_id();
        opts.helper_image = self.empty() ? "none" : nextprism::broker_stop::image_of(opts.run.engine, self);
        if (opts.helper_image.empty())
            die(exit_code::engine_error, "cannot read this container's image from the engine (for the stop helper)");
    }
    std::fprintf(stderr, "nextprism-broker: serving %s on %s (uid %u), stop helper %s\n", opts.service.c_str(),
                 opts.socket_path.c_str(), ::getuid(), opts.helper_image.c_str());

    // Fork and reap; the spare accepts. SIGTERM interrupts the poll (no
    // SA_RESTART) and starts the drain.
    struct sigaction term {};
    term.sa_handler = [](int) { drain_requested = 1; };
    ::sigemptyset(&term.sa_mask);
    ::sigaction(SIGTERM, &term, nullptr);
    int taken[2]; // spares that took a connection write their pid here
    if (::pipe2(taken, O_CLOEXEC | O_NONBLOCK) != 0)
        die(exit_code::internal, "pipe", std::strerror(errno));
    std::set<pid_t> serving; // children that took a connection
    std::set<pid_t> leaving; // spares told to end, not yet reaped
    spare_child spare;
    const auto retire = [&] {
        ::close(spare.retire);
        spare = {};
    };
    std::optional<std::chrono::steady_clock::time_point> drain_until;
    bool told_to_stop = false;
    // Answered at once and unread: the parent never waits on a peer (it
    // read each refused request for up to 2 s, so 4 idle connections held
    // a valid request 8 s). The reply fits an empty socket buffer; the
    // validator reads it even when its own send then fails (EPIPE).
    const auto refuse = [](int conn, std::string detail) {
        protocol::send_message(conn, protocol::encode(protocol::reply{
                                         exit_code::busy, nextprism::proxy_exit_line("busy", detail)}));
        ::close(conn);
    };
    // Taken before reaped: a spare writes its pid before it can end, so a
    // pid read here that is already reaped is in no set and ignored.
    const auto settle = [&] {
        for (pid_t p; ::read(taken[0], &p, sizeof p) == static_cast<ssize_t>(sizeof p);) {
            if (spare && p == spare.pid) {
                serving.insert(p);
                retire();
            } else if (leaving.erase(p)) {
                serving.insert(p); // took one just as it was told to end: it serves it
            }
        }
        int status;
        for (pid_t done; (done = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            serving.erase(done);
            leaving.erase(done);
            if (spare && done == spare.pid)
                retire(); // it died idle: a new one is forked
        }
    };
    int fork_error = 0;
    // A spare while the broker may serve one more; false: answer busy.
    const auto have_spare = [&] {
        if (drain_until || static_cast<long>(serving.size()) >= opts.max_children)
            return false;
        if (!spare) {
            spare = fork_spare(opts, *policy, listener, taken[0], taken[1]);
            fork_error = spare ? 0 : errno;
        }
        return bool(spare);
    };
    for (;;) {
        settle();
        if (drain_requested && !drain_until) {
            drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(opts.drain_timeout_seconds);
            if (spare) {
                leaving.insert(spare.pid);
                retire();
            }
            std::fprintf(stderr, "nextprism-broker: stopping: %zu command(s) running, %ld s to finish\n",
                         serving.size(), opts.drain_timeout_seconds);
        }
        if (drain_until) {
            if (serving.empty() && leaving.empty()) {
                std::fprintf(stderr, "nextprism-broker: stopped, nothing running\n");
                return 0;
            }
            if (!told_to_stop && std::chrono::steady_clock::now() >= *drain_until) {
                // Each child stops its command as if its caller had gone
                // (verified in the target, on record); the lock goes when it ended.
                std::fprintf(stderr, "nextprism-broker: stopping the %zu command(s) still running\n",
                             serving.size());
                for (const pid_t child : serving)
                    ::kill(child, SIGTERM);
                told_to_stop = true;
            }
        }
        // With a spare the parent does not accept: the spare wakes alone.
        const bool spare_waits = have_spare();
        pollfd p[2] = {{taken[0], POLLIN, 0}, {listener, POLLIN, 0}};
        if (::poll(p, spare_waits ? 1 : 2, drain_until ? 200 : 1000) <= 0 || spare_waits ||
            !(p[1].revents & POLLIN))
            continue;
        settle(); // a child that ended while the parent waited frees a place:
        if (have_spare())
            continue; // the spare takes this connection
        const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn < 0)
            continue;
        if (drain_until)
            refuse(conn, "the proxy is stopping; try again shortly");
        else if (static_cast<long>(serving.size()) >= opts.max_children)
            refuse(conn, "the proxy's broker serves " + std::to_string(serving.size()) +
                             " sessions; try again shortly");
        else
            refuse(conn, std::string("the proxy's broker cannot start a worker (") + std::strerror(fork_error) +
                             "); try again shortly");
    }
}
