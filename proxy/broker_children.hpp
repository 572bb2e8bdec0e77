#ifndef NEXTPRISM_PROXY_BROKER_CHILDREN_HPP
#define NEXTPRISM_PROXY_BROKER_CHILDREN_HPP

// The broker's parent: it forks (one spare child waits for the next
// connection, so no fork is on a request's path) and reaps, answers busy
// when it must, and drains on SIGTERM. A child's failure ends that child only.

#include "broker_serve.hpp"

#include <poll.h>
#include <sys/wait.h>

#include <csignal>
#include <optional>
#include <set>

namespace nextprism::broker {

inline volatile std::sig_atomic_t drain_requested = 0; // SIGTERM: see broker.cpp's drain

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
inline spare_child fork_spare(const options& opts, const nextprism::whitelist& rules, int listener, int taken_read,
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
            serve(opts, rules, conn);
        }
    }
    ::close(retire[0]);
    if (pid < 0) {
        ::close(retire[1]);
        return {};
    }
    return {pid, retire[1]};
}

/** The parent's state: the children that serve, the spares told to end,
    the spare, the drain. One owner: only the parent's loop touches it. */
class supervisor
{
public:
    supervisor(const options& opts, const nextprism::whitelist& rules, int listener)
        : opts_(opts), rules_(rules), listener_(listener)
    {
        // Spares that took a connection write their pid here; it lives as long as the parent.
        if (::pipe2(taken_, O_CLOEXEC | O_NONBLOCK) != 0)
            die(exit_code::internal, "pipe", std::strerror(errno));
    }

    /// Forks and reaps until the drain ends; returns the exit status.
    int run()
    {
        for (;;) {
            settle();
            if (drain_requested && !drain_until_)
                start_drain();
            if (drain_until_) {
                if (serving_.empty() && leaving_.empty()) {
                    std::fprintf(stderr, "nextprism-broker: stopped, nothing running\n");
                    return 0;
                }
                if (!told_to_stop_ && std::chrono::steady_clock::now() >= *drain_until_)
                    stop_the_rest();
            }
            wait_for_connection();
        }
    }

private:
    void retire()
    {
        ::close(spare_.retire);
        spare_ = {};
    }

    // Taken before reaped: a spare writes its pid before it can end, so a
    // pid read here that is already reaped is in no set and ignored.
    void settle()
    {
        for (pid_t p; ::read(taken_[0], &p, sizeof p) == static_cast<ssize_t>(sizeof p);) {
            if (spare_ && p == spare_.pid) {
                serving_.insert(p);
                retire();
            } else if (leaving_.erase(p)) {
                serving_.insert(p); // took one just as it was told to end: it serves it
            }
        }
        int status;
        for (pid_t done; (done = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            serving_.erase(done);
            leaving_.erase(done);
            if (spare_ && done == spare_.pid)
                retire(); // it died idle: a new one is forked
        }
    }

    // A spare while the broker may serve one more; false: answer busy.
    bool have_spare()
    {
        if (drain_until_ || static_cast<long>(serving_.size()) >= opts_.max_children)
            return false;
        if (!spare_) {
            spare_ = fork_spare(opts_, rules_, listener_, taken_[0], taken_[1]);
            fork_error_ = spare_ ? 0 : errno;
        }
        return bool(spare_);
    }

    void start_drain()
    {
        drain_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(opts_.drain_timeout_seconds);
        if (spare_) {
            leaving_.insert(spare_.pid);
            retire();
        }
        std::fprintf(stderr, "nextprism-broker: stopping: %zu command(s) running, %ld s to finish\n",
                     serving_.size(), opts_.drain_timeout_seconds);
    }

    // Each child stops its command as if its caller had gone (verified in
    // the target, on record); the lock goes when it ended.
    void stop_the_rest()
    {
        std::fprintf(stderr, "nextprism-broker: stopping the %zu command(s) still running\n", serving_.size());
        for (const pid_t child : serving_)
            ::kill(child, SIGTERM);
        told_to_stop_ = true;
    }

    // SIGTERM interrupts the poll (no SA_RESTART). With a spare the parent
    // does not accept: the spare wakes alone.
    void wait_for_connection()
    {
        const bool spare_waits = have_spare();
        pollfd p[2] = {{taken_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
        if (::poll(p, spare_waits ? 1 : 2, drain_until_ ? 200 : 1000) <= 0 || spare_waits ||
            !(p[1].revents & POLLIN))
            return;
        settle(); // a child that ended while the parent waited frees a place:
        if (have_spare())
            return; // the spare takes this connection
        const int conn = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (conn >= 0)
            refuse(conn, busy_reason());
    }

    std::string busy_reason() const
    {
        if (drain_until_)
            return "the proxy is stopping; try again shortly";
        if (static_cast<long>(serving_.size()) >= opts_.max_children)
            return "the proxy's broker serves " + std::to_string(serving_.size()) + " sessions; try again shortly";
        return std::string("the proxy's broker cannot start a worker (") + std::strerror(fork_error_) +
               "); try again shortly";
    }

    // Answered at once and unread: the parent never waits on a peer (it
    // read each refused request for up to 2 s, so 4 idle connections held
    // a valid request 8 s). The reply fits an empty socket buffer; the
    // validator reads it even when its own send then fails (EPIPE).
    static void refuse(int conn, std::string detail)
    {
        protocol::send_message(conn, protocol::encode(protocol::reply{
                                         exit_code::busy, nextprism::proxy_exit_line("busy", detail)}));
        ::close(conn);
    }

    const options& opts_;
    const nextprism::whitelist& rules_;
    const int listener_;
    int taken_[2];
    std::set<pid_t> serving_; // children that took a connection
    std::set<pid_t> leaving_; // spares told to end, not yet reaped
    spare_child spare_;
    std::optional<std::chrono::steady_clock::time_point> drain_until_;
    bool told_to_stop_ = false;
    int fork_error_ = 0;
};

/// The parent's loop until the drain ends; returns the exit status.
inline int supervise(const options& opts, const nextprism::whitelist* rules, int listener)
{
    // SIGTERM starts the drain.
    struct sigaction term {};
    term.sa_handler = [](int) { drain_requested = 1; };
    ::sigemptyset(&term.sa_mask);
    ::sigaction(SIGTERM, &term, nullptr);
    supervisor parent(opts, *rules, listener);
    return parent.run();
}

} // namespace nextprism::broker

#endif
