#ifndef NEXTPRISM_PROXY_AUDIT_DRAIN_HPP
#define NEXTPRISM_PROXY_AUDIT_DRAIN_HPP

// nextprism-validate --audit-drain: the reader of the audit FIFO.

#include "proxy_run.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <string>

namespace nextprism::proxy_run {

struct audit_drain_config
{
    std::string fifo;  ///< the audit FIFO validators write
    std::string file;  ///< also append here, rotated (empty: stdout only)
    std::uint64_t file_max_bytes = 10 * 1024 * 1024;
    unsigned file_keep = 5;
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
inline int drain_audit(const audit_drain_config& opts)
{
    const int fd = ::open(opts.fifo.c_str(), O_RDWR | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode))
        fail(exit_code::audit_failed, "cannot open audit FIFO " + opts.fifo,
             fd < 0 ? std::strerror(errno) : "not a FIFO");
    nextprism::audit_log file;
    nextprism::error_code ec;
    if (!opts.file.empty()) {
        file.open(opts.file, ec);
        if (ec)
            fail(exit_code::audit_failed, "cannot open audit file " + opts.file, ec.message());
        file.rotate_at(opts.file_max_bytes, opts.file_keep);
    }
    // SIGTERM (the entrypoint, once the broker has ended): what is in the
    // FIFO still goes out, then the drainer ends. No SA_RESTART: the
    // blocking read returns EINTR.
    static volatile std::sig_atomic_t stopping = 0;
    struct sigaction term {};
    term.sa_handler = [](int) { stopping = 1; };
    ::sigemptyset(&term.sa_mask);
    ::sigaction(SIGTERM, &term, nullptr);
    std::string pending;
    char buffer[8192];
    for (bool nonblocking = false;;) {
        if (stopping && !nonblocking) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
            nonblocking = true;
        }
        const auto n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && nonblocking) {
            // All read: a last line without its newline goes out too, then the end.
            if (pending.empty())
                return 0;
            pending += '\n';
        } else if (n <= 0) {
            fail(exit_code::audit_failed, "cannot read audit FIFO " + opts.fifo,
                 n < 0 ? std::strerror(errno) : "end of file");
        } else {
            pending.append(buffer, static_cast<std::size_t>(n));
        }
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
                    fail(exit_code::audit_failed, "cannot write audit file " + opts.file, ec.message());
            }
        }
        pending.erase(0, start);
    }
}

} // namespace nextprism::proxy_run

#endif
