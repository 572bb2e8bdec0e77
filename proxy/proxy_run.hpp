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

#include "run_config.hpp" // first: it includes nextprism's config first
#include "run_places.hpp"
#include "run_audit.hpp"
#include "output_pump.hpp"

#include <nextprism/docker/client.hpp>
#include <nextprism/docker/output_gate.hpp>
#include <nextprism/proxy/audit_log.hpp>
#include <nextprism/transport/direct.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace nextprism::proxy_run {

// ---- one started command: its event loop --------------------------------------------

/// Whether the reader of `fd` went away (sshd closed the channel).
inline bool reader_gone(int fd)
{
    pollfd p{fd, 0, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

namespace detail {

namespace net = boost::asio;

/** One started command's event loop: the exec, the caller's output, the
    stops (signals, the peer's end, the reader gone, the stall), how it
    ended; then, when it could not be stopped, the hold until it ends. */
class command_run
{
public:
    command_run(const run_config& cfg, const authorized_command& cmd, run_audit& audit, run_io io, int lock_fd)
        : cfg_(cfg), cmd_(cmd), audit_(audit), io_(io), lock_fd_(lock_fd),
          timeout_text_(std::to_string(std::chrono::duration_cast<std::chrono::seconds>(cmd.timeout).count()) + " s"),
          gate_(std::make_shared<docker::output_gate>(ioc_.get_executor())),
          transport_(ioc_.get_executor(), cfg.engine, transport_options()), pump_(ioc_, gate_, io.out, io.err),
          signals_(ioc_, SIGHUP, SIGTERM, SIGINT), watch_(ioc_)
    {
    }

    /// Runs the command until its output is out; returns the caller's exit status.
    int run_to_end()
    {
        pump_.on_reader_gone = [this] { stop("client went away"); };
        watch_signals();
        watch_peer();
        watch_tick();
        pump_.on_drained = [this] {
            if (finished_)
                watch_.cancel(); // nothing left to watch: let ioc_.run() return
        };
        // A finished line's duration: from holding the slots and lock to the end.
        run_started_ = steady_clock::now();
        start();
        ioc_.run();
        // The caller's output is complete: its descriptors go back before
        // the owner closes them (after_output), not when this object goes.
        pump_.release();
        return status_;
    }

    /// It could not be stopped and the lock is to be kept until it ends.
    bool holds() const noexcept { return hold_; }

    /// Could not be stopped: the lock and slots stay taken until the engine
    /// says the exec ended (polled every 2 s), so that nobody starts a second.
    void hold_until_ended()
    {
        ioc_.restart();
        net::steady_timer pause(ioc_);
        bool running = true;
        std::function<void()> poll_exec = [&] {
            transport_.engine().async_request(
                boost::beast::http::verb::get, "/exec/" + exec_id_ + "/json", {},
                [&](error_code ec, docker::client::response res) {
                    if (!ec && res.result_int() == 404)
                        running = false; // the exec is gone with its container
                    else if (!ec && res.result_int() == 200) {
                        const auto j = nlohmann::json::parse(res.body(), nullptr, false);
                        running = !j.is_object() || j.value("Running", true);
                    }
                    if (!running)
                        return;
                    pause.expires_after(std::chrono::seconds(2));
                    pause.async_wait([&](error_code) { poll_exec(); });
                });
        };
        poll_exec();
        ioc_.run();
        audit_.released(ms_since(run_started_));
    }

private:
    direct_transport::options transport_options()
    {
        direct_transport::options o;
        o.targets = {{cmd_.service, cfg_.container}};
        o.output_gate = gate_;
        if (cfg_.configure_client)
            cfg_.configure_client(ioc_.get_executor(), o.client);
        return o;
    }

    void stop(std::string why)
    {
        if (stop_reason_.empty() && !finished_) {
            stop_reason_ = std::move(why);
            cancel_.emit(net::cancellation_type::terminal);
        }
    }

    void watch_signals()
    {
        signals_.async_wait([this](error_code e, int signo) {
            if (e)
                return;
            if (signo == SIGTERM) { // the broker drains (it is being stopped): the caller still reads
                stop("the proxy is stopping");
                return;
            }
            stop("client went away");
            pump_.abandon(); // nobody is left to read it
        });
    }

    // The validator's end of the broker connection: it never writes after
    // its request, so readable means it is gone (killed, SIGHUP, sshd).
    void watch_peer()
    {
        if (io_.peer < 0)
            return;
        peer_.emplace(ioc_, ::dup(io_.peer));
        peer_->async_wait(net::posix::stream_descriptor::wait_read, [this](error_code e) {
            if (e)
                return;
            stop("client went away");
            pump_.abandon();
        });
    }

    // Twice a second: the reader's end (sshd closed the channel while no
    // output flows), the output stall, and after the end the flush.
    void watch_tick()
    {
        watch_.expires_after(std::chrono::milliseconds(500));
        watch_.async_wait([this](error_code e) {
            if (e)
                return;
            if (finished_ && pump_.idle())
                return; // all written: ioc_.run() may return
            const auto stall_limit = std::chrono::seconds(cfg_.output_stall_seconds);
            constexpr auto flush_after_stop = std::chrono::seconds(2); // after a stop, what is queued gets this long
            if (!pump_.failed() && reader_gone(io_.out)) {
                stop("client went away");
                pump_.abandon();
            } else if (stall_limit.count() > 0 && pump_.stalled() > stall_limit) {
                stop("client stopped reading for " + std::to_string(cfg_.output_stall_seconds) + " s");
                pump_.abandon();
            } else if (finished_ && stopped_ && steady_clock::now() - ended_ > flush_after_stop) {
                pump_.abandon();
            }
            if (finished_ && pump_.idle())
                return;
            watch_tick();
        });
    }

    // The library's direct transport finds the target and runs the argv
    // the decision made canonical, as the service's user, in its working
    // directory, under the deadline; the stop reaches it through `cancel_`.
    // The start line goes out before the engine is asked to start it:
    // without it the caller knows that nothing ran (wire/exit_status.hpp).
    void start()
    {
        auto on_output = [this](output_stream s, std::string_view data) { pump_.push(s == output_stream::err, data); };
        auto on_started = [this](const start_report& at) {
            exec_id_ = at.exec_id;
            audit_.started_as(at.exec_user);
            pump_.push(true, proxy_start_line(at.container, at.exec_id));
        };
        transport_.async_run(cmd_, on_output, on_started,
                             net::bind_cancellation_slot(cancel_.slot(), [this](error_code ec, command_result result) {
                                 run_detail_ = std::move(result.reason);
                                 complete(ec, result.exit_code, result.still_running);
                             }));
    }

    void complete(error_code run_ec, int exit_status, bool still_running)
    {
        finished_ = true;
        ended_ = steady_clock::now();
        signals_.cancel();
        if (peer_)
            peer_->cancel();
        hold_ = still_running && cfg_.hold_until_ended;
        // The command has ended: the next single-flight run may start while
        // what is queued still goes out. Not when it could not be stopped.
        if (lock_fd_ >= 0 && !still_running) {
            ::close(lock_fd_);
            lock_fd_ = -1;
        }
        status_ = exit_status;
        const ending e = settle(run_ec, still_running);
        audit_.finished(e.outcome, status_, e.reason, ms_since(run_started_));
        tell_caller(run_ec, still_running, e.reason);
        if (pump_.idle())
            watch_.cancel();
    }

    struct ending
    {
        std::string_view outcome = "exited";
        std::string reason;
    };

    /// How it ended, for the record; sets the caller's status and whether it was stopped.
    ending settle(error_code run_ec, bool still_running)
    {
        ending e;
        if (run_ec) {
            e.reason = run_ec.message() + (run_detail_.empty() ? "" : ": " + run_detail_);
            status_ = to_exit_status(run_ec); // the contract's table
            e.outcome = status_ == exit_code::target_missing ? "target_missing"
                        : status_ == exit_code::busy         ? "busy"
                        : status_ == exit_code::timeout      ? "timeout"
                        : status_ == exit_code::refused      ? "refused"
                        : status_ == exit_code::internal     ? "internal"
                                                             : "engine_error";
        }
        stopped_ = run_ec == error::timeout || !stop_reason_.empty();
        if (!stop_reason_.empty()) {
            e.reason = stop_reason_ + "; command stopped";
            e.outcome = "stopped";
            if (status_ != exit_code::timeout && run_ec == error::cancelled)
                status_ = exit_code::timeout;
        }
        if (still_running) {
            // "Stopped" only when it is true: the engine still says it runs.
            e.outcome = "could_not_stop";
            status_ = exit_code::not_stopped;
            e.reason = (stop_reason_.empty() ? "timed out after " + timeout_text_ : stop_reason_) +
                       "; the command could not be stopped and may still run in the target" +
                       (hold_ ? " (single-flight lock held until it ends)" : "");
        }
        return e;
    }

    /// The proxy's own line after the command's output, when it has one.
    void tell_caller(error_code run_ec, bool still_running, const std::string& reason)
    {
        if (still_running) {
            pump_.push(true, proxy_exit_line("error", reason));
        } else if (run_ec && stop_reason_.empty()) {
            std::string what = run_ec == error::timeout ? "timed out after " + timeout_text_ + "; the command was stopped"
                                                        : reason;
            if (status_ == exit_code::target_missing)
                what += " (" + cfg_.container + ")";
            pump_.push(true, proxy_exit_line(status_ == exit_code::busy ? "busy" : "error", what));
        } else if (!stop_reason_.empty()) {
            pump_.push(true, proxy_exit_line("error", reason));
        }
    }

    const run_config& cfg_;
    const authorized_command& cmd_;
    run_audit& audit_;
    const run_io io_;
    int lock_fd_; ///< the single-flight lock, or -1; not closed on a hold: it goes with the process
    const std::string timeout_text_;
    net::io_context ioc_;
    std::shared_ptr<docker::output_gate> gate_;
    direct_transport transport_;
    output_pump pump_;
    net::cancellation_signal cancel_;
    std::string stop_reason_; // why the proxy stopped the command, if it did
    bool finished_ = false;   // the command has ended (the engine said so)
    bool stopped_ = false;    // ... because it was stopped (deadline, caller)
    bool hold_ = false;       // it could not be stopped: keep the lock until it ends
    std::string exec_id_;
    std::string run_detail_; // what the transport said of how it ended (command_result::reason)
    net::signal_set signals_;
    std::optional<net::posix::stream_descriptor> peer_;
    net::steady_timer watch_;
    steady_clock::time_point ended_;
    steady_clock::time_point run_started_;
    int status_ = 0;
};

} // namespace detail

// ---- the steps of a run ---------------------------------------------------------------


namespace detail {

/// The whitelist's value, run as it is, under the proxy's deadline (or the
/// rule's, when shorter).
inline authorized_command under_deadline(authorized_command cmd, long timeout_seconds)
{
    using std::chrono::seconds;
    if (timeout_seconds > 0 && (cmd.timeout.count() == 0 || cmd.timeout > seconds(timeout_seconds)))
        cmd.timeout = seconds(timeout_seconds);
    return cmd;
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
    const auto started = detail::steady_clock::now();
    const authorized_command cmd = detail::under_deadline(d.command, cfg.timeout_seconds);
    detail::run_audit audit(cfg.lock_dir, record, log);
    int lock_fd = -1;
    auto refused = detail::take_slots(cfg, record.key_fingerprint);
    if (!refused)
        refused = detail::take_lock(cfg, cmd, lock_fd);
    if (refused) {
        audit.finished(refused->outcome, refused->status, refused->detail, detail::ms_since(started));
        write_all(io.err, proxy_exit_line(refused->what, refused->detail));
        if (after_output)
            after_output(refused->status);
        return refused->status;
    }

    ::signal(SIGPIPE, SIG_IGN); // a caller gone mid-write is an EPIPE, handled where it happens
    detail::command_run command(cfg, cmd, audit, io, lock_fd);
    const int status = command.run_to_end();
    if (after_output)
        after_output(status);
    if (command.holds())
        command.hold_until_ended();
    return status;
}

} // namespace nextprism::proxy_run

#endif
