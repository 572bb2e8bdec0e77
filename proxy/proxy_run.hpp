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
#include "command_run.hpp"

#include <nextprism/proxy/audit_log.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <chrono>
#include <csignal>
#include <functional>

namespace nextprism::proxy_run {

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
