#ifndef NEXTPRISM_DOCKER_DETAIL_PROCESS_TREE_HPP
#define NEXTPRISM_DOCKER_DETAIL_PROCESS_TREE_HPP

// Signalling an exec's processes by their host PIDs, safely against PID
// reuse: each process is held by a pidfd first, then checked (its cgroup
// names the container, it started no earlier than the exec), then the
// pidfd is signalled once to prove that what was checked in /proc is the
// pidfd's process (a process reaped and replaced between pidfd_open and
// the reads would make that first signal fail with ESRCH). Every later
// signal goes through the pidfd: it can only reach that process.
//
// Used by the Docker client's local stop (the caller sits in the host PID
// namespace) and by the proxy's stop helper container (PidMode host,
// CAP_KILL only).

#include <nextprism/detail/config.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <map>
#include <poll.h>
#include <sstream>
#include <string>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <vector>

namespace nextprism::docker::detail::process_tree {

/// What /proc/PID/stat says of a process that matters here.
struct process_stat
{
    int ppid = -1;
    unsigned long long start_ticks = 0; ///< clock ticks after boot (field 22)
    bool valid = false;
};

inline process_stat stat_of(int pid)
{
    process_stat s;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    // The command name (field 2) may contain spaces and ')': parse after the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos)
        return s;
    std::istringstream rest(stat.substr(close + 1));
    char state;
    rest >> state >> s.ppid;
    std::string skip;
    for (int field = 5; field < 22 && rest; ++field) // pgrp .. itrealvalue
        rest >> skip;
    rest >> s.start_ticks;
    s.valid = static_cast<bool>(rest);
    return s;
}

/// Parent pid of `pid` from /proc/PID/stat, or -1.
inline int parent_of(int pid)
{
    return stat_of(pid).ppid;
}

/// Whether /proc/PID/cgroup names the container (its full id).
inline bool in_container(int pid, const std::string& container_id)
{
    if (container_id.size() < 12)
        return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    while (std::getline(in, line))
        if (line.find(container_id) != std::string::npos)
            return true;
    return false;
}

/// The boot time as seconds since the epoch (/proc/stat btime), 0 if unknown.
inline long long boot_time()
{
    std::ifstream in("/proc/stat");
    std::string key;
    long long value = 0;
    while (in >> key) {
        if (key == "btime" && in >> value)
            return value;
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

/// A start time in clock ticks after boot, from seconds since the epoch.
inline unsigned long long ticks_since_boot(long long epoch_seconds)
{
    const long long boot = boot_time();
    const long hz = ::sysconf(_SC_CLK_TCK);
    if (boot == 0 || hz <= 0 || epoch_seconds <= boot)
        return 0;
    return static_cast<unsigned long long>(epoch_seconds - boot) * static_cast<unsigned long long>(hz);
}

/// `root` and all its descendants, parents first.
inline std::vector<int> tree(int root)
{
    std::multimap<int, int> children;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            char* end = nullptr;
            const long pid = std::strtol(e->d_name, &end, 10);
            if (*end == '\0' && pid > 0)
                children.emplace(parent_of(static_cast<int>(pid)), static_cast<int>(pid));
        }
        ::closedir(d);
    }
    std::vector<int> out{root};
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto [first, last] = children.equal_range(out[i]);
        for (auto it = first; it != last; ++it)
            out.push_back(it->second);
    }
    return out;
}

inline int pidfd_open(int pid)
{
#ifdef SYS_pidfd_open
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
    errno = ENOSYS;
    return -1;
#endif
}

inline int pidfd_send_signal(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
#else
    errno = ENOSYS;
    return -1;
#endif
}

/** Processes of one exec, each held by a pidfd (closed on destruction). */
class held_tree
{
public:
    held_tree() = default;
    held_tree(const held_tree&) = delete;
    held_tree& operator=(const held_tree&) = delete;
    held_tree(held_tree&& other) noexcept : held_(std::move(other.held_)) { other.held_.clear(); }
    ~held_tree()
    {
        for (const auto& h : held_)
            ::close(h.fd);
    }

    /** Adds `root` and its descendants that pass the checks: in the
        container, started at `not_before_ticks` or later (the root) or no
        earlier than the root (its descendants). Processes already held are
        skipped. Returns how many were added. */
    int hold(int root, const std::string& container_id, unsigned long long not_before_ticks)
    {
        int added = 0;
        unsigned long long root_start = not_before_ticks;
        for (const int pid : tree(root)) {
            if (holds(pid))
                continue;
            const int fd = pidfd_open(pid); // first: from here the process cannot be replaced
            if (fd < 0)
                continue;
            const auto st = stat_of(pid);
            const bool ok = st.valid && in_container(pid, container_id) &&
                            st.start_ticks >= (pid == root ? not_before_ticks : root_start) &&
                            pidfd_send_signal(fd, 0) == 0; // what /proc showed is this pidfd's process
            if (!ok) {
                ::close(fd);
                if (pid == root)
                    return added; // the root is not the exec's: neither are its children
                continue;
            }
            if (pid == root)
                root_start = st.start_ticks;
            held_.push_back({pid, fd});
            ++added;
        }
        return added;
    }

    /// Sends `sig` to every held process still alive; returns how many got it.
    int signal(int sig) const
    {
        int count = 0;
        for (const auto& h : held_)
            if (pidfd_send_signal(h.fd, sig) == 0)
                ++count;
        return count;
    }

    /// Held processes that have not exited.
    int alive() const
    {
        int count = 0;
        for (const auto& h : held_) {
            pollfd p{h.fd, POLLIN, 0}; // a pidfd reads ready once its process exited
            if (::poll(&p, 1, 0) == 0)
                ++count;
        }
        return count;
    }

    /// Waits until every held process has exited or `limit` passed; true if all exited.
    bool wait_exited(std::chrono::milliseconds limit) const
    {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (alive() > 0) {
            if (std::chrono::steady_clock::now() >= end)
                return false;
            ::usleep(20'000);
        }
        return true;
    }

    std::size_t size() const noexcept { return held_.size(); }

private:
    struct held
    {
        int pid;
        int fd;
    };

    bool holds(int pid) const
    {
        for (const auto& h : held_)
            if (h.pid == pid)
                return true;
        return false;
    }

    std::vector<held> held_;
};

/** Sends `sig` to `root` and its descendants that run in the container.
    The cgroup check, done on a held pidfd, guards against a reused PID: a
    process outside the container is never signalled. Falls back to kill(2)
    after the same checks on kernels without pidfds (before 5.3). Returns
    how many were signalled. */
inline int signal(int root, const std::string& container_id, int sig)
{
    held_tree held;
    errno = 0;
    if (held.hold(root, container_id, 0) > 0 || errno != ENOSYS)
        return held.signal(sig);
    int count = 0;
    for (int pid : tree(root))
        if (in_container(pid, container_id) && ::kill(pid, sig) == 0)
            ++count;
    return count;
}

} // namespace nextprism::docker::detail::process_tree

#endif
