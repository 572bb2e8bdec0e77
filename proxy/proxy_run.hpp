#ifndef NEXTPRISM_PROXY_PROXY_RUN_HPP
#define NEXTPRISM_PROXY_PROXY_RUN_HPP

// Running one accepted command in the target container, as the proxy does
// it: the running slots (per key, per service), the single-flight lock, the
// exec through the Docker client, the caller's output written without ever
// blocking, the deadline, the stop, the audit record of how it ended.
//
// Used by the broker (proxy/broker.cpp: one forked child per validator
// session, output written straight into the session's pipes passed to it)
// and by the validator's direct mode (tests on the host, no broker). The
// exec itself is the library's direct transport: one exec path for the
// executor's local route and the proxy.
// Proxy-specific: it lives in proxy/, not in the library.

#include <nextprism/detail/config.hpp>
#include "output_pump.hpp"

#include <nextprism/proxy/audit_log.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/detail/sha256.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/transport/direct.hpp>
#include <nextprism/docker/output_gate.hpp>
#include <nextprism/wire/exit_status.hpp>
#include <nextprism/tools/fd_io.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <optional>
#include <poll.h>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <unistd.h>

namespace nextprism::proxy_run {

namespace exit_code = nextprism::proxy_exit_code;

/// The environment variable naming a service's target (Swarm service or
/// container): `photo-prism` -> PHOTO_PRISM_CONTAINER.
inline std::string target_variable(std::string_view service)
{
    std::string name;
    for (const char c : service)
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name + "_CONTAINER";
}

using tools::write_all;

/// The proxy's own exit: its one stderr line and status (wire/exit_status.hpp).
[[noreturn]] inline void fail(int code, std::string_view what, std::string_view detail = {})
{
    write_all(STDERR_FILENO, proxy_exit_line(what, detail));
    std::exit(code);
}

/// Whether the reader of `fd` went away (sshd closed the channel).
inline bool reader_gone(int fd)
{
    pollfd p{fd, 0, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

/// How the proxy runs what it accepted (the broker's or the validator's configuration).
struct run_config
{
    std::string service;
    std::string container;   ///< the target's Swarm service or container name
    docker::engine_address engine;
    std::string lock_dir = "/run/nextprism";
    long timeout_seconds = 4 * 3600;
    long output_stall_seconds = 300; ///< the caller read nothing for this long: stop
    /// Commands running at once for this service, every command counted
    /// (status too); 0: no cap. 40 = what the client pool sends one proxy
    /// at most by default (max_connections_per_host 5 x MaxSessions 8).
    long max_running = 40;
    /// Commands running at once for one key (its SHA256 fingerprint); 0: no
    /// cap. 32: one key can hold at most 32 of the 40 service slots, 8 stay
    /// for every other key.
    long max_per_key = 32;
    /// Keep the single-flight lock (and the slots) after a stop that did
    /// not work, until the engine says the exec ended (the broker). The
    /// validator's direct mode cannot: sshd waits for its exit.
    bool hold_until_ended = false;
    /// Sets the Docker client's options (the broker: its stop helper).
    std::function<void(boost::asio::any_io_executor, docker::client::options&)> configure_client;
};

/// The file descriptors of one run.
struct run_io
{
    int out = STDOUT_FILENO;
    int err = STDERR_FILENO;
    int peer = -1; ///< the validator's connection (broker): its end stops the command
};

namespace detail {

/** A record the audit sink did not take (it blocked past its wait, or
    failed): one line on stderr (the container's log, beside sshd's) and
    one line in `lock_dir/audit-dropped`, whose line count is the tally of
    dropped records. Nothing is dropped unnoticed. */
inline void report_dropped(const std::string& lock_dir, const audit_record& r, const error_code& ec)
{
    const std::string line = "nextprism: audit record dropped: event=" + std::string(r.event) +
                             " outcome=" + std::string(r.outcome) + " service=" + std::string(r.service) +
                             " pid=" + std::to_string(::getpid()) + ": " + ec.message() + "\n";
    write_all(STDERR_FILENO, line);
    const int fd = ::open((lock_dir + "/audit-dropped").c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        write_all(fd, line); // one write below PIPE_BUF: lines of several children do not mix
        ::close(fd);
    }
}

/// A flock'd slot among `count` files PREFIX.I; the fd (kept open: the lock
/// goes with the process) or -1 when all are taken, -2 when a file cannot be opened.
inline int take_slot(const std::string& prefix, long count, std::string& error)
{
    // Start at a PID-dependent slot: fewer failed tries when many arrive at once.
    const long first = static_cast<long>(::getpid()) % count;
    for (long i = 0; i < count; ++i) {
        const std::string path = prefix + std::to_string((first + i) % count);
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            error = path + ": " + std::strerror(errno);
            return -2;
        }
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        ::close(fd);
    }
    return -1;
}

} // namespace detail

/** Runs the accepted command `d` in the target container and passes its
    output and exit status through `io`. Single-flight commands take the
    service's lock first. A caller that goes away (closed pipe, the peer's
    connection closed, SIGHUP) or stops reading for longer than the
    output-stall limit stops the command in the container; so does SIGTERM
    (the proxy is stopping), the caller still getting its output. Writes the
    "finished" record; every refusal here (busy, internal) writes one too
    and its one stderr line. Returns the exit status for the caller.

    `after_output` is called once the caller's output is complete (before
    a hold: the broker closes the pipes and answers the validator there). */
inline int run(const run_config& cfg, const decision& d, audit_record record, audit_log& log, run_io io,
               const std::function<void(int status)>& after_output = {})
{
    namespace net = boost::asio;
    using namespace std::chrono;

    const auto started = steady_clock::now();
    // The whitelist's value, run as it is, under the proxy's deadline (or
    // the rule's, when shorter).
    authorized_command cmd = d.command;
    if (cfg.timeout_seconds > 0 && (cmd.timeout.count() == 0 || cmd.timeout > seconds(cfg.timeout_seconds)))
        cmd.timeout = seconds(cfg.timeout_seconds);
    const std::string timeout_text = std::to_string(duration_cast<seconds>(cmd.timeout).count()) + " s";
    auto finish_record = [&](std::string_view outcome, int status, std::string_view reason, double ms) {
        record.event = "finished";
        record.decision = {};
        record.input.reset();
        record.time = system_clock::now();
        record.outcome = outcome;
        record.exit_code = status;
        record.reason = reason;
        record.duration_ms = ms;
        error_code wec;
        log.write(record, wec); // what follows says the same either way
        if (wec)
            detail::report_dropped(cfg.lock_dir, record, wec);
    };
    // An outcome without a run (busy, misconfigured) is on record too.
    auto refuse = [&](std::string_view outcome, int status, std::string_view what, const std::string& detail) {
        finish_record(outcome, status, detail, duration<double, std::milli>(steady_clock::now() - started).count());
        write_all(io.err, proxy_exit_line(what, detail));
        if (after_output)
            after_output(status);
        return status;
    };

    // Running slots first, for every command: at most max_per_key for one
    // key, max_running for the service. Slots are flock'd files in the lock
    // directory: the kernel gives a slot back when its holder exits, however
    // it exits. Held until this process ends, output flush included, so the
    // caps bound processes and memory too.
    std::string slot_error;
    if (cfg.max_per_key > 0) {
        const std::string key = record.key_fingerprint.empty() ? "none" : std::string(record.key_fingerprint);
        const std::string prefix = cfg.lock_dir + "/key." + nextprism::detail::sha256_hex(key).substr(0, 16) + ".slot.";
        const int fd = detail::take_slot(prefix, cfg.max_per_key, slot_error);
        if (fd == -2)
            return refuse("internal", exit_code::internal, "cannot open slot file", slot_error);
        if (fd < 0)
            return refuse("busy", exit_code::busy, "busy",
                          std::to_string(cfg.max_per_key) + " commands running for this key (the proxy's " +
                              "per-key cap); try again shortly");
    }
    if (cfg.max_running > 0) {
        const int fd = detail::take_slot(cfg.lock_dir + "/" + cfg.service + ".slot.", cfg.max_running, slot_error);
        if (fd == -2)
            return refuse("internal", exit_code::internal, "cannot open slot file", slot_error);
        if (fd < 0)
            return refuse("busy", exit_code::busy, "busy",
                          std::to_string(cfg.max_running) + " commands running for " + cfg.service +
                              " (the proxy's cap); try again shortly");
    }
    int lock_fd = -1;
    if (cmd.single_flight) {
        const std::string path = cfg.lock_dir + "/" + cfg.service + ".lock";
        lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock_fd < 0)
            return refuse("internal", exit_code::internal, "cannot open lock file " + path, std::strerror(errno));
        if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
            return refuse("busy", exit_code::busy, "busy",
                          "another " + cmd.rule + "-class command is running for " + cfg.service +
                              "; try again when it has finished");
    }

    net::io_context ioc;
    auto gate = std::make_shared<docker::output_gate>(ioc.get_executor());
    direct_transport::options transport_options;
    transport_options.targets = {{cmd.service, cfg.container}};
    transport_options.output_gate = gate;
    if (cfg.configure_client)
        cfg.configure_client(ioc.get_executor(), transport_options.client);
    direct_transport transport(ioc.get_executor(), cfg.engine, std::move(transport_options));

    ::signal(SIGPIPE, SIG_IGN);
    output_pump pump(ioc, gate, io.out, io.err);
    net::cancellation_signal cancel;
    std::string stop_reason; // why the proxy stopped the command, if it did
    bool finished = false;   // the command has ended (the engine said so)
    bool stopped = false;    // ... because it was stopped (deadline, caller)
    bool hold = false;       // it could not be stopped: keep the lock until it ends
    std::string exec_id;
    auto stop = [&](std::string why) {
        if (stop_reason.empty() && !finished) {
            stop_reason = std::move(why);
            cancel.emit(net::cancellation_type::terminal);
        }
    };
    pump.on_reader_gone = [&] { stop("client went away"); };

    net::signal_set signals(ioc, SIGHUP, SIGTERM, SIGINT);
    signals.async_wait([&](error_code e, int signo) {
        if (e)
            return;
        if (signo == SIGTERM) { // the broker drains (it is being stopped): the caller still reads
            stop("the proxy is stopping");
            return;
        }
        stop("client went away");
        pump.abandon(); // nobody is left to read it
    });
    // The validator's end of the broker connection: it never writes after
    // its request, so readable means it is gone (killed, SIGHUP, sshd).
    std::optional<net::posix::stream_descriptor> peer;
    if (io.peer >= 0) {
        peer.emplace(ioc, ::dup(io.peer));
        peer->async_wait(net::posix::stream_descriptor::wait_read, [&](error_code e) {
            if (e)
                return;
            stop("client went away");
            pump.abandon();
        });
    }

    // Twice a second: the reader's end (sshd closed the channel while no
    // output flows), the output stall, and after the end the flush.
    const auto stall_limit = seconds(cfg.output_stall_seconds);
    constexpr auto flush_after_stop = seconds(2); // after a stop, what is queued gets this long
    steady_clock::time_point ended;
    net::steady_timer watch(ioc);
    std::function<void()> watch_tick = [&] {
        watch.expires_after(milliseconds(500));
        watch.async_wait([&](error_code e) {
            if (e)
                return;
            if (finished && pump.idle())
                return; // all written: ioc.run() may return
            if (!pump.failed() && reader_gone(io.out)) {
                stop("client went away");
                pump.abandon();
            } else if (stall_limit.count() > 0 && pump.stalled() > stall_limit) {
                stop("client stopped reading for " + std::to_string(cfg.output_stall_seconds) + " s");
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
            watch.cancel(); // nothing left to watch: let ioc.run() return
    };

    int status = 0;
    // A finished line's duration: from holding the slots and lock to the end.
    const auto run_started = steady_clock::now();
    auto on_output = [&](output_stream s, std::string_view data) {
        pump.push(s == output_stream::err, data);
    };
    auto complete = [&](error_code run_ec, int exit_status, bool still_running) {
        finished = true;
        ended = steady_clock::now();
        signals.cancel();
        if (peer)
            peer->cancel();
        hold = still_running && cfg.hold_until_ended;
        // The command has ended: the next single-flight run may start while
        // what is queued still goes out. Not when it could not be stopped.
        if (lock_fd >= 0 && !still_running) {
            ::close(lock_fd);
            lock_fd = -1;
        }
        status = exit_status;
        std::string reason;
        std::string_view outcome = "exited";
        if (run_ec) {
            reason = run_ec.message();
            status = to_exit_status(run_ec); // the contract's table
            outcome = status == exit_code::target_missing ? "target_missing"
                      : status == exit_code::timeout      ? "timeout"
                      : status == exit_code::refused      ? "refused"
                      : status == exit_code::internal     ? "internal"
                                                          : "engine_error";
        }
        stopped = run_ec == error::timeout || !stop_reason.empty();
        if (!stop_reason.empty()) {
            reason = stop_reason + "; command stopped";
            outcome = "stopped";
            if (status != exit_code::timeout && run_ec == error::cancelled)
                status = exit_code::timeout;
        }
        if (still_running) {
            // "Stopped" only when it is true: the engine still says it runs.
            outcome = "could_not_stop";
            status = exit_code::not_stopped;
            reason = (stop_reason.empty() ? "timed out after " + timeout_text : stop_reason) +
                     "; the command could not be stopped and may still run in the target" +
                     (hold ? " (single-flight lock held until it ends)" : "");
        }
        finish_record(outcome, status, reason, duration<double, std::milli>(steady_clock::now() - run_started).count());

        if (still_running) {
            pump.push(true, proxy_exit_line("error", reason));
        } else if (run_ec && stop_reason.empty()) {
            std::string what =
                run_ec == error::timeout ? "timed out after " + timeout_text + "; the command was stopped" : run_ec.message();
            if (status == exit_code::target_missing)
                what += " (" + cfg.container + ")";
            pump.push(true, proxy_exit_line("error", what));
        } else if (!stop_reason.empty()) {
            pump.push(true, proxy_exit_line("error", reason));
        }
        if (pump.idle())
            watch.cancel();
    };

    // The library's direct transport finds the target and runs the argv
    // the decision made canonical, as the service's user, in its working
    // directory, under the deadline; the stop reaches it through `cancel`.
    // The start line goes out before the engine is asked to start it:
    // without it the caller knows that nothing ran (wire/exit_status.hpp).
    auto on_started = [&](const start_report& at) {
        exec_id = at.exec_id;
        pump.push(true, proxy_start_line(at.container, at.exec_id));
    };
    transport.async_run(cmd, on_output, on_started,
                        net::bind_cancellation_slot(cancel.slot(), [&](error_code ec, command_result result) {
                            complete(ec, result.exit_code, result.still_running);
                        }));
    ioc.run();
    if (after_output)
        after_output(status);
    if (!hold)
        return status;

    // Could not be stopped: the lock and slots stay taken until the engine
    // says the exec ended (polled every 2 s), so that nobody starts a second.
    ioc.restart();
    net::steady_timer pause(ioc);
    bool running = true;
    std::function<void()> poll_exec = [&] {
        transport.engine().async_request(boost::beast::http::verb::get, "/exec/" + exec_id + "/json", {},
                             [&](error_code ec, docker::client::response res) {
                                 if (!ec && res.result_int() == 404)
                                     running = false; // the exec is gone with its container
                                 else if (!ec && res.result_int() == 200) {
                                     const auto j = nlohmann::json::parse(res.body(), nullptr, false);
                                     running = !j.is_object() || j.value("Running", true);
                                 }
                                 if (!running)
                                     return;
                                 pause.expires_after(seconds(2));
                                 pause.async_wait([&](error_code) { poll_exec(); });
                             });
    };
    poll_exec();
    ioc.run();
    record.event = "released";
    record.time = system_clock::now();
    record.outcome = "ended";
    record.reason = "the command that could not be stopped has ended; its lock is released";
    record.duration_ms = duration<double, std::milli>(steady_clock::now() - run_started).count();
    error_code wec;
    log.write(record, wec);
    if (wec)
        detail::report_dropped(cfg.lock_dir, record, wec);
    return status;
}

/** Reads a whitelist file; `fail(code, what, detail)` (which does not return)
    on a file that cannot be read or is not a valid whitelist. The validator
    and the broker load the same file the same way. */
template<class Fail>
whitelist load_whitelist(const std::string& path, Fail&& fail)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail(exit_code::usage, "cannot read whitelist file", path);
    std::stringstream text;
    text << in.rdbuf();
    error_code ec;
    std::string reason;
    auto rules = whitelist::from_json(text.str(), ec, reason);
    if (ec)
        fail(exit_code::usage, "invalid whitelist file " + path, reason);
    return rules;
}

} // namespace nextprism::proxy_run

#endif
