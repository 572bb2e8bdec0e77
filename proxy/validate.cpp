// nextprism-validate: the proxy's ForceCommand.
//
// sshd runs it for every session, with the client's command line in
// SSH_ORIGINAL_COMMAND. It splits that string by the wire grammar (no
// shell), checks it against the whitelist, writes one audit line, and then
// either prints the canonical argv (--dry-run) or runs it in the target
// container. Everything it refuses gets one stderr line and a distinct exit
// code (nextprism/proxy_exit_code.hpp). Its start-up path stays lean: it
// runs once per command.

#include <nextprism/audit_log.hpp>
#include <nextprism/command_policy.hpp>
#include <nextprism/direct_transport.hpp>
#include <nextprism/proxy_exit_code.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace exit_code = nextprism::proxy_exit_code;

constexpr std::string_view usage_text =
    "usage: nextprism-validate [--service nextcloud|photoprism] [--policy FILE]\n"
    "                          [--audit-log FILE] [--timeout SECONDS] [--dry-run]\n"
    "       nextprism-validate --print-default-policy\n"
    "The command comes from SSH_ORIGINAL_COMMAND (set by sshd for a ForceCommand).\n"
    "Environment: NEXTPRISM_SERVICE, NEXTPRISM_POLICY, NEXTPRISM_AUDIT_LOG\n"
    "(default /var/log/nextprism/audit.log), NEXTPRISM_TIMEOUT (seconds, default\n"
    "14400), NEXTPRISM_LOCK_DIR (default /run/nextprism), NEXTPRISM_DRY_RUN=1, DOCKER_HOST,\n"
    "<SERVICE>_CONTAINER (Swarm service or container name; default: the service).\n";

struct options
{
    std::string service;
    std::string policy_file;
    std::string audit_log = "/var/log/nextprism/audit.log";
    std::string lock_dir = "/run/nextprism";
    long timeout_seconds = 4 * 3600;
    bool dry_run = false;
};

/// The proxy's own exit: its one stderr line and status (proxy_exit_code.hpp).
[[noreturn]] void fail(int code, std::string_view what, std::string_view detail = {})
{
    const std::string line = nextprism::proxy_exit_line(what, detail);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::exit(code);
}

const char* env(const char* name)
{
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

options parse_options(int argc, char** argv)
{
    options o;
    if (auto v = env("NEXTPRISM_SERVICE"))
        o.service = v;
    if (auto v = env("NEXTPRISM_POLICY"))
        o.policy_file = v;
    if (auto v = env("NEXTPRISM_AUDIT_LOG"))
        o.audit_log = v;
    if (auto v = env("NEXTPRISM_LOCK_DIR"))
        o.lock_dir = v;
    if (auto v = env("NEXTPRISM_DRY_RUN"))
        o.dry_run = std::string_view(v) == "1";
    auto seconds = [](std::string_view text) {
        char* end = nullptr;
        const std::string s(text);
        const long v = std::strtol(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || v < 0 || v > 7 * 24 * 3600)
            fail(exit_code::usage, "usage", "timeout must be 0 to 604800 seconds, got '" + s + "'");
        return v;
    };
    if (auto v = env("NEXTPRISM_TIMEOUT"))
        o.timeout_seconds = seconds(v);
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                fail(exit_code::usage, "usage", std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--service")
            o.service = value();
        else if (arg == "--policy")
            o.policy_file = value();
        else if (arg == "--audit-log")
            o.audit_log = value();
        else if (arg == "--dry-run")
            o.dry_run = true;
        else if (arg == "--timeout")
            o.timeout_seconds = seconds(value());
        else if (arg == "--print-default-policy") {
            std::cout << nextprism::command_policy::default_policy_json() << '\n';
            std::exit(0);
        } else if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else {
            // One line only, the contract's (the usage text is behind --help).
            fail(exit_code::usage, "usage", "unknown argument " + std::string(arg) + " (see --help)");
        }
    }
    if (o.service.empty())
        fail(exit_code::usage, "usage", "no service: pass --service or set NEXTPRISM_SERVICE");
    return o;
}

nextprism::command_policy load_policy(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail(exit_code::usage, "cannot read policy file", path);
    std::stringstream text;
    text << in.rdbuf();
    nextprism::error_code ec;
    std::string reason;
    auto policy = nextprism::command_policy::from_json(text.str(), ec, reason);
    if (ec)
        fail(exit_code::usage, "invalid policy file " + path, reason);
    return policy;
}


/// Writes all of `data` to `fd`; false when the reader is gone.
bool write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

/// Whether the reader of `fd` went away (sshd closed the channel).
bool reader_gone(int fd)
{
    pollfd p{fd, 0, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

std::string upper(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

/** Runs the accepted command in the target container and passes its
    output and exit status through. Single-flight commands take the
    service's lock first. A client that goes away (closed pipe, SIGHUP,
    SIGTERM) cancels the command, which stops it in the container. */
int execute(const options& opts, const nextprism::command_policy& policy,
            const nextprism::decision& d, nextprism::audit_record record, nextprism::audit_log& log)
{
    namespace net = boost::asio;
    using namespace std::chrono;

    int lock_fd = -1;
    if (d.command->single_flight) {
        const std::string path = opts.lock_dir + "/" + opts.service + ".lock";
        lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock_fd < 0)
            fail(exit_code::internal, "cannot open lock file " + path, std::strerror(errno));
        if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
            fail(exit_code::busy, "busy",
                 "another " + d.command->name() + "-class command is running for " + opts.service +
                     "; try again when it has finished");
    }

    nextprism::error_code ec;
    const auto engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec)
        fail(exit_code::usage, "usage", "DOCKER_HOST is not a unix:// or tcp:// address");
    nextprism::direct_transport::options transport_options;
    if (auto v = env((upper(opts.service) + "_CONTAINER").c_str()))
        transport_options.containers[opts.service] = v;

    net::io_context io;
    nextprism::direct_transport transport(io.get_executor(), engine, policy, transport_options);
    net::cancellation_signal cancel;
    bool client_gone = false;
    auto stop = [&] {
        if (!client_gone) {
            client_gone = true;
            cancel.emit(net::cancellation_type::terminal);
        }
    };

    ::signal(SIGPIPE, SIG_IGN);
    net::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
    signals.async_wait([&](nextprism::error_code e, int) {
        if (!e)
            stop();
    });
    // Set when the command has ended. Cancelling a timer cannot take back a
    // handler that already expired and waits in the queue: without this
    // flag such a handler re-armed the watch and io.run() never returned.
    bool finished = false;
    net::steady_timer watch(io);
    std::function<void()> watch_reader = [&] {
        watch.expires_after(milliseconds(500));
        watch.async_wait([&](nextprism::error_code e) {
            if (e || finished)
                return;
            if (reader_gone(STDOUT_FILENO))
                stop();
            else
                watch_reader();
        });
    };
    watch_reader();

    nextprism::command_request request{opts.service, d.argv, seconds(opts.timeout_seconds)};
    const auto started = steady_clock::now();
    nextprism::error_code run_ec;
    nextprism::command_result result;
    transport.async_run(
        request,
        [&](nextprism::output_stream s, std::string_view data) {
            const int fd = s == nextprism::output_stream::out ? STDOUT_FILENO : STDERR_FILENO;
            if (!client_gone && !write_all(fd, data))
                stop();
        },
        net::bind_cancellation_slot(cancel.slot(),
                                    [&](nextprism::error_code e, nextprism::command_result r) {
                                        finished = true;
                                        run_ec = e;
                                        result = r;
                                        signals.cancel();
                                        watch.cancel();
                                    }));
    io.run();

    int status = result.exit_code;
    std::string reason;
    if (run_ec) {
        reason = run_ec.message();
        status = nextprism::to_exit_status(run_ec);
    }
    record.event = "finished";
    record.decision = {};
    record.input.reset();
    record.time = system_clock::now();
    record.exit_code = status;
    if (client_gone)
        reason = "client went away; command stopped";
    record.reason = reason;
    record.duration_ms = duration<double, std::milli>(steady_clock::now() - started).count();
    log.write(record, ec); // the command ran: a failed write here changes nothing

    if (run_ec && !client_gone) {
        std::string what = run_ec == nextprism::error::timeout
                               ? "timed out after " + std::to_string(opts.timeout_seconds) +
                                     " s; the command was stopped"
                               : run_ec.message();
        if (status == exit_code::target_missing)
            what += " (" + transport.container_for(opts.service) + ")";
        fail(status, "error", what);
    }
    if (lock_fd >= 0)
        ::close(lock_fd);
    return status;
}

} // namespace

int main(int argc, char** argv)
{
    const options opts = parse_options(argc, argv);

    nextprism::command_policy loaded;
    const nextprism::command_policy* policy = &nextprism::command_policy::default_policy();
    if (!opts.policy_file.empty()) {
        loaded = load_policy(opts.policy_file);
        policy = &loaded;
    }
    if (!policy->find_service(opts.service))
        fail(exit_code::usage, "usage", "service '" + opts.service + "' is not in the policy");

    // Nothing runs unless its decision is on record.
    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(opts.audit_log, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot open audit log " + opts.audit_log, ec.message());

    const char* original = std::getenv("SSH_ORIGINAL_COMMAND");
    const std::string input = original ? original : "";
    const char* ssh_client = env("SSH_CLIENT");
    const std::string key = nextprism::read_ssh_user_auth_key(env("SSH_USER_AUTH"));

    nextprism::decision d;
    if (!original) {
        d.ec = nextprism::error::empty_command;
        d.reason = "no command given (interactive sessions are not offered)";
    } else {
        d = policy->check_command(opts.service, input);
    }

    nextprism::audit_record record;
    record.service = opts.service;
    record.decision = d ? "allowed" : "refused";
    record.argv = d.exec_argv; // what runs in the container
    record.input = input;
    record.reason = d.reason;
    record.ssh_client = ssh_client ? ssh_client : "";
    record.ssh_key = key;
    log.write(record, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot write audit log " + opts.audit_log, ec.message());

    if (!d)
        fail(exit_code::refused, "refused", d.reason);

    if (opts.dry_run) {
        std::cout << nlohmann::json(d.exec_argv).dump() << '\n';
        return 0;
    }
    return execute(opts, *policy, d, record, log);
}
