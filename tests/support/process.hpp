#ifndef NEXTPRISM_TESTS_SUPPORT_PROCESS_HPP
#define NEXTPRISM_TESTS_SUPPORT_PROCESS_HPP

// Runs a program (no shell) with a given environment and captures its
// stdout, stderr and exit status. For tests of the command-line tools.

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace nextprism::test {

struct process_result
{
    int exit_code = -1; ///< -1 when killed by a signal
    std::string out;
    std::string err;
};

/// A started process whose stdout/stderr the test reads (or closes) itself.
struct spawned_process
{
    pid_t pid = -1;
    int out = -1; ///< read end of its stdout
    int err = -1; ///< read end of its stderr

    /// Reads stdout (or stderr) until `needle` appears or `seconds` pass.
    bool read_until(const std::string& needle, int seconds, std::string& seen, bool from_stderr = false)
    {
        char buffer[4096];
        const int fd = from_stderr ? err : out;
        for (int waited = 0; waited < seconds * 10;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 100) == 1) {
                const auto n = ::read(fd, buffer, sizeof buffer);
                if (n <= 0)
                    return false;
                seen.append(buffer, static_cast<std::size_t>(n));
                if (seen.find(needle) != std::string::npos)
                    return true;
            } else {
                ++waited;
            }
        }
        return false;
    }

    /// After the exit: what is left on stderr; closes both pipes.
    std::string finish()
    {
        std::string err;
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(this->err, buffer, sizeof buffer)) > 0)
            err.append(buffer, static_cast<std::size_t>(n));
        ::close(out);
        ::close(this->err);
        return err;
    }

    /// Waits up to `seconds` for the exit; -1 on signal, -2 on time-out.
    int wait(int seconds)
    {
        for (int i = 0; i < seconds * 20; ++i) {
            int status = 0;
            if (::waitpid(pid, &status, WNOHANG) == pid)
                return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            ::usleep(50000);
        }
        return -2;
    }
};

inline spawned_process spawn_process(const std::vector<std::string>& argv,
                                     const std::vector<std::string>& environment)
{
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args, env;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : environment)
        env.push_back(const_cast<char*>(e.c_str()));
    env.push_back(nullptr);
    spawned_process p;
    const int rc = posix_spawn(&p.pid, args[0], &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    if (rc != 0)
        throw std::runtime_error(std::string("posix_spawn: ") + std::strerror(rc));
    p.out = out_pipe[0];
    p.err = err_pipe[0];
    return p;
}

inline process_result run_process(const std::vector<std::string>& argv,
                                  const std::vector<std::string>& environment)
{
    spawned_process p = spawn_process(argv, environment);
    process_result result;
    pollfd fds[2] = {{p.out, POLLIN, 0}, {p.err, POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    int open = 2;
    char buffer[65536];
    while (open > 0) {
        if (::poll(fds, 2, -1) < 0)
            continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            const auto n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0) {
                sinks[i]->append(buffer, static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    int status = 0;
    ::waitpid(p.pid, &status, 0);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

} // namespace nextprism::test

#endif
