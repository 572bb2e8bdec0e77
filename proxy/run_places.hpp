#ifndef NEXTPRISM_PROXY_RUN_PLACES_HPP
#define NEXTPRISM_PROXY_RUN_PLACES_HPP

// The places a run takes before it starts: its running slots (per key, per
// service) and, for a single-flight command, the service's lock. Slots and
// the lock are flock'd files in the lock directory: the kernel gives them
// back when their holder exits, however it exits.

#include "run_config.hpp"

#include <nextprism/detail/sha256.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <unistd.h>

namespace nextprism::proxy_run::detail {

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

/// Why a run did not start (busy, misconfigured): its outcome on record,
/// its exit status and its stderr line.
struct refusal
{
    std::string_view outcome;
    int status;
    std::string what;
    std::string detail;
};

/** The running slots, for every command: at most max_per_key for one key
    (`key_fingerprint`), max_running for the service. Held until this
    process ends, output flush included, so the caps bound processes and
    memory too. */
inline std::optional<refusal> take_slots(const run_config& cfg, std::string_view key_fingerprint)
{
    std::string slot_error;
    if (cfg.max_per_key > 0) {
        const std::string key = key_fingerprint.empty() ? "none" : std::string(key_fingerprint);
        const std::string prefix = cfg.lock_dir + "/key." + nextprism::detail::sha256_hex(key).substr(0, 16) + ".slot.";
        const int fd = take_slot(prefix, cfg.max_per_key, slot_error);
        if (fd == -2)
            return refusal{"internal", exit_code::internal, "cannot open slot file", slot_error};
        if (fd < 0)
            return refusal{"busy", exit_code::busy, "busy",
                           std::to_string(cfg.max_per_key) + " commands running for this key (the proxy's " +
                               "per-key cap); try again shortly"};
    }
    if (cfg.max_running > 0) {
        const int fd = take_slot(cfg.lock_dir + "/" + cfg.service + ".slot.", cfg.max_running, slot_error);
        if (fd == -2)
            return refusal{"internal", exit_code::internal, "cannot open slot file", slot_error};
        if (fd < 0)
            return refusal{"busy", exit_code::busy, "busy",
                           std::to_string(cfg.max_running) + " commands running for " + cfg.service +
                               " (the proxy's cap); try again shortly"};
    }
    return std::nullopt;
}

/// The service's single-flight lock, for a single-flight command: `lock_fd`
/// holds it (left -1 for any other command).
inline std::optional<refusal> take_lock(const run_config& cfg, const authorized_command& cmd, int& lock_fd)
{
    if (!cmd.single_flight)
        return std::nullopt;
    const std::string path = cfg.lock_dir + "/" + cfg.service + ".lock";
    lock_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0) {
        std::string why = std::strerror(errno); // before anything else can change errno
        return refusal{"internal", exit_code::internal, "cannot open lock file " + path, std::move(why)};
    }
    if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0)
        return refusal{"busy", exit_code::busy, "busy",
                       "another " + cmd.rule + "-class command is running for " + cfg.service +
                           "; try again when it has finished"};
    return std::nullopt;
}

} // namespace nextprism::proxy_run::detail

#endif
