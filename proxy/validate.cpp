// nextprism-validate: the proxy's ForceCommand.
//
// sshd runs it for every session, with the client's command line in
// SSH_ORIGINAL_COMMAND. It splits that string by the wire grammar (no
// shell), checks it against the whitelist, writes one audit line, and then
// either prints the canonical argv (--dry-run) or runs it in the target
// container. Everything it refuses gets one stderr line and a distinct exit
// code (nextprism/proxy_exit_code.hpp). Its start-up path stays lean: it
// runs once per command.

#include <nextprism/proxy/audit_log.hpp>
#include <nextprism/detail/sha256.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/transport/direct.hpp>
#include <nextprism/docker/output_gate.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>

namespace {

namespace exit_code = nextprism::proxy_exit_code;

constexpr std::string_view usage_text =
    "usage: nextprism-validate [--service nextcloud|photoprism] [--policy FILE]\n"
    "                          [--audit-log FILE] [--timeout SECONDS]\n"
    "                          [--output-stall SECONDS] [--max-running N] [--dry-run]\n"
    "       nextprism-validate --print-default-policy\n"
    "       nextprism-validate --audit-drain FIFO [--audit-file FILE]\n"
    "                          [--audit-file-max-bytes N] [--audit-file-keep K]\n"
    "The command comes from SSH_ORIGINAL_COMMAND (set by sshd for a ForceCommand).\n"
    "Environment: NEXTPRISM_SERVICE, NEXTPRISM_POLICY, NEXTPRISM_AUDIT_LOG\n"
    "(default /var/log/nextprism/audit.log), NEXTPRISM_TIMEOUT (seconds, default\n"
    "14400), NEXTPRISM_OUTPUT_STALL (seconds the caller may read nothing, default 300,\n"
    "0: no limit), NEXTPRISM_MAX_RUNNING (commands at once per service, default 40, 0: no\n"
    "cap), NEXTPRISM_LOCK_DIR (default /run/nextprism), NEXTPRISM_DRY_RUN=1, DOCKER_HOST,\n"
    "<SERVICE>_CONTAINER (Swarm service or container name; default: the service).\n";

struct options
{
    std::string service;
    std::string policy_file;
    std::string audit_log = "/var/log/nextprism/audit.log";
    std::string lock_dir = "/run/nextprism";
    long timeout_seconds = 4 * 3600;
    long output_stall_seconds = 300; ///< the caller read nothing for this long: stop
    /// Commands running at once for this service, every command counted
    /// (status too); 0: no cap. 40 = what the client pool sends one proxy
    /// at most by default (max_connections_per_host 5 x MaxSessions 8), so
    /// that a caller's own pool is never refused busy; lower both together.
    long max_running = 40;
    bool dry_run = false;
    std::string authorized_keys = "/etc/nextprism/authorized_keys"; ///< for the key's comment
    // The drainer (--audit-drain FIFO): the audit FIFO to the container's
    // stdout and an optional rotated file.
    std::string audit_drain;
    std::string audit_file;
    std::uint64_t audit_file_max_bytes = 10 * 1024 * 1024;
    unsigned audit_file_keep = 5;
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
    if (auto v = env("NEXTPRISM_AUTHORIZED_KEYS"))
        o.authorized_keys = v;
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
    if (auto v = env("NEXTPRISM_OUTPUT_STALL"))
        o.output_stall_seconds = seconds(v);
    auto slots = [](std::string_view text) {
        char* end = nullptr;
        const std::string s(text);
        const long v = std::strtol(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || v < 0 || v > 1024)
            fail(exit_code::usage, "usage", "max running must be 0 to 1024, got '" + s + "'");
        return v;
    };
    if (auto v = env("NEXTPRISM_MAX_RUNNING"))
        o.max_running = slots(v);
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
        else if (arg == "--audit-drain")
            o.audit_drain = value();
        else if (arg == "--audit-file")
            o.audit_file = value();
        else if (arg == "--audit-file-max-bytes" || arg == "--audit-file-keep") {
            const std::string v = value();
            char* end = nullptr;
            const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || (arg == "--audit-file-keep" && n > 100) ||
                (arg == "--audit-file-max-bytes" && n < 4096))
                fail(exit_code::usage, "usage", std::string(arg) + ": bad value '" + v + "'");
            if (arg == "--audit-file-keep")
                o.audit_file_keep = static_cast<unsigned>(n);
            else
                o.audit_file_max_bytes = n;
        }
        else if (arg == "--timeout")
            o.timeout_seconds = seconds(value());
        else if (arg == "--output-stall")
            o.output_stall_seconds = seconds(value());
        else if (arg == "--max-running")
            o.max_running = slots(value());
        else if (arg == "--print-default-policy") {
            std::cout << nextprism::whitelist::default_policy_json() << '\n';
            std::exit(0);
        } else if (arg == "--help" || arg == "-h") {
            std::cout << usage_text;
            std::exit(0);
        } else {
            // One line only, the contract's (the usage text is behind --help).
            fail(exit_code::usage, "usage", "unknown argument " + std::string(arg) + " (see --help)");
        }
    }
    if (o.service.empty() && o.audit_drain.empty())
        fail(exit_code::usage, "usage", "no service: pass --service or set NEXTPRISM_SERVICE");
    return o;
}

nextprism::whitelist load_policy(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail(exit_code::usage, "cannot read policy file", path);
    std::stringstream text;
    text << in.rdbuf();
    nextprism::error_code ec;
    std::string reason;
    auto policy = nextprism::whitelist::from_json(text.str(), ec, reason);
    if (ec)
        fail(exit_code::usage, "invalid policy file " + path, reason);
    return policy;
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

/** The validator's stdout and stderr, written through Asio so that a caller
    who stops reading can never block the event loop (the deadline, the
    signals and the engine's stream all live on it).

    Output waits in one bounded queue per stream. Above `high_water` bytes
    in all, the exec's gate closes: the client stops reading from the engine
    (back-pressure: the process in the target blocks on its own stdout, the
    validator's memory stays at the queue plus one 64 KiB read). Below
    `low_water` it opens again. Once the command is being stopped the gate
    is latched open and output beyond `hard_limit` is dropped (counted).
    A write that fails (the reader is gone) drops everything queued and
    calls `on_reader_gone`. */
class output_pump
{
public:
    static constexpr std::size_t high_water = 256 * 1024;
    static constexpr std::size_t low_water = 64 * 1024;
    static constexpr std::size_t hard_limit = 1024 * 1024;

    output_pump(boost::asio::io_context& io, std::shared_ptr<nextprism::docker::output_gate> gate)
        : gate_(std::move(gate)), streams_{stream(io, STDOUT_FILENO), stream(io, STDERR_FILENO)}
    {
    }

    ~output_pump()
    {
        for (auto& s : streams_) {
            boost::system::error_code ignored;
            s.descriptor.cancel(ignored);
            ::fcntl(s.descriptor.release(), F_SETFL, s.flags); // back to what we were given
        }
    }

    std::function<void()> on_reader_gone;
    std::function<void()> on_drained; ///< the queue became empty

    void push(int fd, std::string_view data)
    {
        if (failed_ || data.empty())
            return;
        if (queued_ + data.size() > hard_limit && gate_->latched()) {
            dropped_ += data.size();
            return;
        }
        auto& s = streams_[fd == STDOUT_FILENO ? 0 : 1];
        if (queued_ == 0)
            progress_ = std::chrono::steady_clock::now();
        // Small pieces are coalesced: one write(2) per 64 KiB, not per frame.
        if (!s.queue.empty() && (s.queue.size() > 1 || !s.writing) && s.queue.back().size() < 64 * 1024)
            s.queue.back().append(data);
        else
            s.queue.emplace_back(data);
        queued_ += data.size();
        if (queued_ >= high_water)
            gate_->close();
        start(s);
    }

    bool idle() const noexcept { return queued_ == 0; }
    bool failed() const noexcept { return failed_; }
    std::size_t queued() const noexcept { return queued_; }
    std::uint64_t dropped() const noexcept { return dropped_; }

    /// How long output has waited without a byte getting out; zero when idle.
    std::chrono::steady_clock::duration stalled() const
    {
        return idle() ? std::chrono::steady_clock::duration::zero()
                      : std::chrono::steady_clock::now() - progress_;
    }

    /// Gives up on whatever is queued (the caller will not read it).
    void abandon()
    {
        dropped_ += queued_;
        queued_ = 0;
        failed_ = true;
        for (auto& s : streams_) {
            s.queue.clear();
            boost::system::error_code ignored;
            s.descriptor.cancel(ignored);
        }
        gate_->latch_open();
    }

private:
    struct stream_state
    {
        boost::asio::posix::stream_descriptor descriptor;
        int flags;
        std::deque<std::string> queue;
        bool writing = false;
    };

    static stream_state stream(boost::asio::io_context& io, int fd)
    {
        const int flags = ::fcntl(fd, F_GETFL);
        // Non-blocking, so that Asio never blocks in write(2). The flag is
        // on the open file description: restored in the destructor.
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        return stream_state{boost::asio::posix::stream_descriptor(io, fd), flags, {}, false};
    }

    void start(stream_state& s)
    {
        if (s.writing || s.queue.empty() || failed_)
            return;
        s.writing = true;
        boost::asio::async_write(
            s.descriptor, boost::asio::buffer(s.queue.front()),
            [this, &s](boost::system::error_code ec, std::size_t n) {
                s.writing = false;
                if (ec) {
                    if (ec == boost::asio::error::operation_aborted || failed_)
                        return;
                    abandon();
                    if (on_reader_gone)
                        on_reader_gone();
                    return;
                }
                queued_ -= n;
                s.queue.pop_front();
                progress_ = std::chrono::steady_clock::now();
                if (queued_ <= low_water)
                    gate_->open();
                start(s);
                if (queued_ == 0 && on_drained)
                    on_drained();
            });
    }

    std::shared_ptr<nextprism::docker::output_gate> gate_;
    stream_state streams_[2];
    std::size_t queued_ = 0;
    std::uint64_t dropped_ = 0;
    bool failed_ = false;
    std::chrono::steady_clock::time_point progress_ = std::chrono::steady_clock::now();
};

/** The proxy's audit drainer (root, beside sshd, started by the
    entrypoint): reads the lines validators write into the audit FIFO and
    writes each to stdout, which is the container's: `docker service logs`
    and any logging driver get them. With --audit-file, also appends them
    to that file, rotated by size. The validator's uid can write the FIFO
    but not read it, nor touch the file.

    The FIFO is held open for writing too, so that it never reads end of
    file between validators. A line longer than max_audit_line (no
    validator writes one) is cut. Any failure to write a sink ends the
    drainer with 74: the entrypoint then stops the container, validators
    find no reader (ENXIO) and refuse to run anything (fail closed). */
int drain_audit(const options& opts)
{
    const int fd = ::open(opts.audit_drain.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
        fail(exit_code::audit_failed, "cannot open audit FIFO " + opts.audit_drain,
             fd < 0 ? std::strerror(errno) : "not a FIFO");
    nextprism::audit_log file;
    nextprism::error_code ec;
    if (!opts.audit_file.empty()) {
        file.open(opts.audit_file, ec);
        if (ec)
            fail(exit_code::audit_failed, "cannot open audit file " + opts.audit_file, ec.message());
        file.rotate_at(opts.audit_file_max_bytes, opts.audit_file_keep);
    }
    std::string pending;
    char buffer[8192];
    for (;;) {
        const auto n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail(exit_code::audit_failed, "cannot read audit FIFO " + opts.audit_drain,
                 n < 0 ? std::strerror(errno) : "end of file");
        pending.append(buffer, static_cast<std::size_t>(n));
        std::size_t start = 0;
        for (;;) {
            auto end = pending.find('\n', start);
            if (end == std::string::npos && pending.size() - start < nextprism::max_audit_line)
                break;
            if (end == std::string::npos || end - start >= nextprism::max_audit_line)
                end = start + nextprism::max_audit_line - 1; // cut: no validator writes this
            std::string line = pending.substr(start, end - start);
            line += '\n';
            start = end + (pending[end] == '\n' ? 1 : 0);
            std::size_t done = 0;
            while (done < line.size()) {
                const auto w = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0)
                    fail(exit_code::audit_failed, "cannot write audit lines to stdout", std::strerror(errno));
                done += static_cast<std::size_t>(w);
            }
            if (file.is_open()) {
                file.write_line(line, ec);
                if (ec)
                    fail(exit_code::audit_failed, "cannot write audit file " + opts.audit_file, ec.message());
            }
        }
        pending.erase(0, start);
    }
}

/** Runs the accepted command in the target container and passes its
    output and exit status through. Single-flight commands take the
    service's lock first. A client that goes away (closed pipe, SIGHUP,
    SIGTERM) or stops reading for longer than the output-stall limit
    cancels the command, which stops it in the container. */
int execute(const options& opts, const nextprism::whitelist& policy,
            const nextprism::decision& d, nextprism::audit_record record, nextprism::audit_log& log)
{
    namespace net = boost::asio;
    using namespace std::chrono;

    const auto started = steady_clock::now();
    // An outcome without a run (busy, misconfigured) is on record too.
    auto refuse = [&](std::string_view outcome, int status, std::string_view what, std::string detail) {
        record.event = "finished";
        record.decision = {};
        record.input.reset();
        record.time = system_clock::now();
        record.outcome = outcome;
        record.exit_code = status;
        record.reason = detail;
        record.duration_ms = duration<double, std::milli>(steady_clock::now() - started).count();
        nextprism::error_code wec;
        log.write(record, wec); // nothing ran: the failure below says why either way
        fail(status, what, detail);
    };

    // A running slot first, for every command: at most max_running run at
    // once per service. Slots are flock'd files (SERVICE.slot.I in the lock
    // directory): the kernel gives a slot back when its holder exits, however
    // it exits. Held until this process ends, output flush included, so the
    // cap bounds processes and memory too.
    if (opts.max_running > 0) {
        // Start at a PID-dependent slot: fewer failed tries when many arrive at once.
        const long first = static_cast<long>(::getpid()) % opts.max_running;
        int slot_fd = -1;
        for (long i = 0; i < opts.max_running && slot_fd < 0; ++i) {
            const long n = (first + i) % opts.max_running;
            const std::string path = opts.lock_dir + "/" + opts.service + ".slot." + std::to_string(n);
            const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0)
                refuse("internal", exit_code::internal, "cannot open slot file " + path, std::strerror(errno));
            if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
                slot_fd = fd; // kept open (and locked) until exit
            else
                ::close(fd);
        }
        if (slot_fd < 0)
            refuse("busy", exit_code::busy, "busy",
                   std::to_string(opts.max_running) + " commands running for " + opts.service +
                       " (the proxy's cap); try again shortly");
    }

    int lock_fd = -1;
    if (d.command.single_flight) {
        const std::string path = opts.lock_dir + "/" + opts.service + ".lock";
        lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock_fd < 0)
            refuse("internal", exit_code::internal, "cannot open lock file " + path, std::strerror(errno));
        if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
            refuse("busy", exit_code::busy, "busy",
                   "another " + d.command.rule + "-class command is running for " + opts.service +
                       "; try again when it has finished");
    }

    nextprism::error_code ec;
    const auto engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec)
        refuse("internal", exit_code::usage, "usage", "DOCKER_HOST is not a unix:// or tcp:// address");
    net::io_context io;
    nextprism::direct_transport::options transport_options;
    if (auto v = env((upper(opts.service) + "_CONTAINER").c_str()))
        transport_options.containers[opts.service] = v;
    transport_options.output_gate = std::make_shared<nextprism::docker::output_gate>(io.get_executor());

    ::signal(SIGPIPE, SIG_IGN);
    output_pump pump(io, transport_options.output_gate);
    nextprism::direct_transport transport(io.get_executor(), engine, transport_options);
    net::cancellation_signal cancel;
    std::string stop_reason; // why the validator stopped the command, if it did
    bool finished = false;   // the command has ended (the engine said so)
    bool stopped = false;    // ... because it was stopped (deadline, caller)
    auto stop = [&](std::string why) {
        if (stop_reason.empty() && !finished) {
            stop_reason = std::move(why);
            cancel.emit(net::cancellation_type::terminal);
        }
    };
    pump.on_reader_gone = [&] { stop("client went away"); };

    net::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
    signals.async_wait([&](nextprism::error_code e, int) {
        if (e)
            return;
        stop("client went away");
        pump.abandon(); // nobody is left to read it
    });

    // Once a second: the reader's end (sshd closed the channel while no
    // output flows), the output stall, and after the end the flush.
    const auto stall_limit = seconds(opts.output_stall_seconds);
    // After a stop, what is queued gets this long to get out.
    constexpr auto flush_after_stop = seconds(2);
    steady_clock::time_point ended;
    net::steady_timer watch(io);
    std::function<void()> watch_tick = [&] {
        watch.expires_after(milliseconds(500));
        watch.async_wait([&](nextprism::error_code e) {
            if (e)
                return;
            if (finished && pump.idle())
                return; // all written: io.run() may return
            if (!pump.failed() && reader_gone(STDOUT_FILENO)) {
                stop("client went away");
                pump.abandon();
            } else if (stall_limit.count() > 0 && pump.stalled() > stall_limit) {
                stop("client stopped reading for " + std::to_string(opts.output_stall_seconds) + " s");
                pump.abandon();
            } else if (finished && stopped && steady_clock::now() - ended > flush_after_stop) {
                pump.abandon();
            }
            if (finished && pump.idle())
                return;
            watch_tick();
        });
    };
    watch_tick();
    pump.on_drained = [&] {
        if (finished)
            watch.cancel(); // nothing left to watch: let io.run() return
    };

    // Checked once, above: the transport runs the whitelist's value as it is.
    nextprism::authorized_command command = d.command;
    command.timeout = seconds(opts.timeout_seconds);
    int status = 0;
    // A finished line's duration: from holding the slot and lock to the end.
    const auto run_started = steady_clock::now();
    transport.async_run(
        std::move(command),
        [&](nextprism::output_stream s, std::string_view data) {
            pump.push(s == nextprism::output_stream::out ? STDOUT_FILENO : STDERR_FILENO, data);
        },
        net::bind_cancellation_slot(cancel.slot(), [&](nextprism::error_code run_ec,
                                                       nextprism::command_result result) {
            finished = true;
            ended = steady_clock::now();
            signals.cancel();
            // The command has ended: the next single-flight run may start
            // while what is queued still goes out.
            if (lock_fd >= 0)
                ::close(lock_fd);
            lock_fd = -1;

            status = result.exit_code;
            std::string reason;
            std::string_view outcome = "exited";
            if (run_ec) {
                reason = run_ec.message();
                status = nextprism::to_exit_status(run_ec); // the contract's table
                outcome = status == exit_code::target_missing ? "target_missing"
                          : status == exit_code::timeout      ? "timeout"
                          : status == exit_code::refused      ? "refused"
                          : status == exit_code::internal     ? "internal"
                                                              : "engine_error";
            }
            stopped = run_ec == nextprism::error::timeout || !stop_reason.empty();
            if (!stop_reason.empty()) {
                reason = stop_reason + "; command stopped";
                outcome = "stopped";
                if (status != exit_code::timeout && run_ec == nextprism::error::cancelled)
                    status = exit_code::timeout;
            }
            if (result.still_running) {
                // "Stopped" only when it is true (as deployed without the
                // right to signal it, the stop does not work).
                outcome = "could_not_stop";
                reason = (stop_reason.empty() ? std::string("timed out") : stop_reason) +
                         "; the command could not be stopped and may still run in the target";
            }
            record.event = "finished";
            record.decision = {};
            record.input.reset();
            record.time = system_clock::now();
            record.outcome = outcome;
            record.exit_code = status;
            record.reason = reason;
            record.duration_ms = duration<double, std::milli>(steady_clock::now() - run_started).count();
            nextprism::error_code wec;
            log.write(record, wec); // the command ran: a failed write here changes nothing

            if (result.still_running) {
                pump.push(STDERR_FILENO, nextprism::proxy_exit_line("error", reason));
            } else if (run_ec && stop_reason.empty()) {
                std::string what = run_ec == nextprism::error::timeout
                                       ? "timed out after " + std::to_string(opts.timeout_seconds) +
                                             " s; the command was stopped"
                                       : run_ec.message();
                if (status == exit_code::target_missing)
                    what += " (" + transport.container_for(opts.service) + ")";
                pump.push(STDERR_FILENO, nextprism::proxy_exit_line("error", what));
            } else if (!stop_reason.empty()) {
                pump.push(STDERR_FILENO, nextprism::proxy_exit_line("error", reason));
            }
            if (pump.idle())
                watch.cancel();
        }));
    io.run();
    return status;
}

} // namespace

int main(int argc, char** argv)
{
    // A writer whose reader is gone (the audit FIFO's drainer, the SSH
    // channel) gets EPIPE, handled where it happens, not a fatal signal.
    ::signal(SIGPIPE, SIG_IGN);
    const options opts = parse_options(argc, argv);
    if (!opts.audit_drain.empty())
        return drain_audit(opts);

    nextprism::whitelist loaded;
    const nextprism::whitelist* policy = &nextprism::whitelist::default_policy();
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
    // The key as sshd logs it ("SHA256:..."), with its authorized_keys comment.
    const auto key = nextprism::detail::fingerprint_of(
        nextprism::read_ssh_user_auth_key(env("SSH_USER_AUTH")));
    const auto key_comment = nextprism::authorized_key_comment(opts.authorized_keys, key.blob);
    const auto input_sha256 = nextprism::detail::sha256_hex(input);

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
    record.argv = d.command.exec_argv; // what runs in the container
    record.input = input;
    record.input_sha256 = input_sha256;
    record.reason = d.reason;
    if (!d) {
        record.outcome = "refused";
        record.exit_code = exit_code::refused;
    }
    record.ssh_client = ssh_client ? ssh_client : "";
    record.key_type = key.type;
    record.key_fingerprint = key.fingerprint;
    record.key_comment = key_comment;
    log.write(record, ec);
    if (ec)
        fail(exit_code::audit_failed, "cannot write audit log " + opts.audit_log, ec.message());

    if (!d)
        fail(exit_code::refused, "refused", d.reason);

    if (opts.dry_run) {
        std::cout << nlohmann::json(d.command.exec_argv).dump() << '\n';
        return 0;
    }
    return execute(opts, *policy, d, record, log);
}
