#ifndef NEXTPRISM_PROXY_RUN_AUDIT_HPP
#define NEXTPRISM_PROXY_RUN_AUDIT_HPP

// A run's records after its decision: how it ended, and when the lock of
// one that could not be stopped went. A record the sink does not take is
// reported, never dropped unnoticed.

#include "run_config.hpp"

#include <nextprism/proxy/audit_log.hpp>

#include <chrono>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <unistd.h>

namespace nextprism::proxy_run::detail {

using std::chrono::steady_clock;

/// Milliseconds since `t`, for a record's duration.
inline double ms_since(steady_clock::time_point t)
{
    return std::chrono::duration<double, std::milli>(steady_clock::now() - t).count();
}

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

/// The run's records after its decision: how it ended ("finished") and,
/// for one that could not be stopped, when its lock went ("released").
class run_audit
{
public:
    run_audit(const std::string& lock_dir, audit_record record, audit_log& log)
        : lock_dir_(lock_dir), record_(std::move(record)), log_(log)
    {
    }

    run_audit(const run_audit&) = delete; // record_ views members
    run_audit& operator=(const run_audit&) = delete;

    /// Whom the run started as (its "finished" record says it).
    void started_as(std::string exec_user)
    {
        exec_user_ = std::move(exec_user);
        record_.exec_user = exec_user_;
    }

    /// An outcome without a run (busy, misconfigured) is on record too.
    void finished(std::string_view outcome, int status, std::string_view reason, double ms)
    {
        record_.event = "finished";
        record_.decision = {};
        record_.input.reset();
        record_.time = std::chrono::system_clock::now();
        record_.outcome = outcome;
        record_.exit_code = status;
        record_.reason = reason;
        record_.duration_ms = ms;
        write(); // what follows says the same either way
    }

    void released(double ms)
    {
        record_.event = "released";
        record_.time = std::chrono::system_clock::now();
        record_.outcome = "ended";
        record_.reason = "the command that could not be stopped has ended; its lock is released";
        record_.duration_ms = ms;
        write();
    }

private:
    void write()
    {
        error_code ec;
        log_.write(record_, ec);
        if (ec)
            report_dropped(lock_dir_, record_, ec);
    }

    const std::string& lock_dir_;
    audit_record record_;
    std::string exec_user_; // record_.exec_user views it
    audit_log& log_;
};

} // namespace nextprism::proxy_run::detail

#endif
