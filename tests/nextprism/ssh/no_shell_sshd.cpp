// No shell between sshd and the validator (tests/testbed/sshd.sh, the real
// sshd): the proxy account's login shell is the validator itself, so the
// process sshd starts for a session is the validator, with exactly the
// argv sshd builds (`<shell basename> -c <ForceCommand>`); and run as a
// shell, the validator accepts nothing but `-c` + its own path.

#include <nextprism/ssh/pool.hpp>

#include "support/ssh_fixture.hpp"

#include <dirent.h>

#include <atomic>
#include <future>

using namespace nextprism;
using namespace nextprism::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> split_nul(const std::string& s)
{
    std::vector<std::string> out;
    for (std::size_t at = 0; at < s.size();) {
        const auto end = s.find('\0', at);
        out.push_back(s.substr(at, end - at));
        if (end == std::string::npos)
            break;
        at = end + 1;
    }
    return out;
}

int parent_of(int pid)
{
    const auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    int ppid = 0;
    if (close != std::string::npos)
        std::sscanf(stat.c_str() + close + 2, "%*c %d", &ppid);
    return ppid;
}

std::vector<int> children_of(int parent)
{
    std::vector<int> pids;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            const int pid = std::atoi(e->d_name);
            if (pid > 0 && parent_of(pid) == parent)
                pids.push_back(pid);
        }
        ::closedir(d);
    }
    return pids;
}

/// Processes whose environment says they serve a session on this
/// fixture's port (SSH_CONNECTION ends with " PORT").
std::vector<int> session_commands()
{
    std::vector<int> pids;
    const std::string port = env_or_fail("NEXTPRISM_SSHD_PORT");
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            const int pid = std::atoi(e->d_name);
            if (pid <= 0)
                continue;
            for (const auto& var : split_nul(read_file("/proc/" + std::to_string(pid) + "/environ")))
                if (var.starts_with("SSH_CONNECTION=") && var.ends_with(" " + port))
                    pids.push_back(pid);
        }
        ::closedir(d);
    }
    return pids;
}

/// Runs `path` with this argv (argv[0] included) and environment.
std::pair<int, std::string> run_as(const std::string& path, const std::vector<std::string>& argv,
                                   const std::vector<std::string>& environment)
{
    int err_pipe[2];
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    std::vector<char*> args, env;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& v : environment)
        env.push_back(const_cast<char*>(v.c_str()));
    env.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, args.data(), env.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(err_pipe[1]);
    REQUIRE(rc == 0);
    std::string err;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(err_pipe[0], buffer, sizeof buffer)) > 0)
        err.append(buffer, static_cast<std::size_t>(n));
    ::close(err_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, err};
}

} // namespace

TEST_CASE("no shell between sshd and the validator: sshd's session process starts the validator itself")
{
    const auto validator = [] {
        auto v = read_file(sshd_dir() + "/validator");
        while (!v.empty() && v.back() == '\n')
            v.pop_back();
        return v;
    }();
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    auto scan = start_command(pool, {"php", "occ", "files:scan", "slow3"});
    REQUIRE(scan.wait_for_output()); // the command runs: its process tree is up
    auto& finished = scan.finished;

    const auto commands = session_commands();
    REQUIRE(commands.size() == 1); // one process carries the session: the validator
    const int pid = commands.front();
    const auto argv = split_nul(read_file("/proc/" + std::to_string(pid) + "/cmdline"));
    // do_child's argv: basename of the login shell, -c, the ForceCommand.
    CHECK(argv == std::vector<std::string>{"nextprism-validate", "-c", validator});
    char exe[4096] = {};
    REQUIRE(::readlink(("/proc/" + std::to_string(pid) + "/exe").c_str(), exe, sizeof exe - 1) > 0);
    CHECK(std::string(exe) == validator);
    // Its parent is sshd's session process for the proxy user, whose only
    // child it is: nothing (no /bin/sh -c) in between, nothing beside it.
    const int parent = parent_of(pid);
    CHECK(read_file("/proc/" + std::to_string(parent) + "/cmdline").starts_with("sshd: nextprism"));
    CHECK(children_of(parent) == std::vector<int>{pid});

    REQUIRE(finished.wait_for(60s) == std::future_status::ready);
    auto [ec, r] = finished.get();
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
}

TEST_CASE("the validator as a login shell accepts only -c and its own path")
{
    const std::string validator = env_or_fail("NEXTPRISM_VALIDATE");
    const auto dir = fs_temp(unique_name("np-noshell"));
    const std::vector<std::string> env{"SSH_ORIGINAL_COMMAND=php occ status", "NEXTPRISM_SERVICE=nextcloud",
                                       "NEXTPRISM_DRY_RUN=1", "NEXTPRISM_AUDIT_LOG=" + dir + "/audit.log",
                                       "NEXTPRISM_LOCK_DIR=" + dir};
    // As sshd starts it: accepted, and the command is SSH_ORIGINAL_COMMAND's.
    auto [code, err] = run_as(validator, {"nextprism-validate", "-c", validator}, env);
    INFO(err);
    CHECK(code == 0);
    // Anything else after -c (a lost ForceCommand hands the client's command
    // here): refused before anything is read or run, as a misconfiguration.
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
             {"nextprism-validate", "-c", "/bin/sh"},
             {"nextprism-validate", "-c", "php occ status"},
             {"nextprism-validate", "-c", "exec " + validator},
             {"nextprism-validate", "-c", validator + " ; sh"},
             {"nextprism-validate", "-c", validator, "extra"},
             {"nextprism-validate", "-c"},
             {"-nextprism-validate"}, // a login shell (no ForceCommand, a shell request)
         }) {
        auto [c, e] = run_as(validator, argv, env);
        INFO(argv.back() << ": " << e);
        CHECK(c == 64);
        CHECK(e.starts_with("nextprism: usage: "));
    }
    // Nothing of those reached the audit log: only the one accepted run.
    CHECK(count(read_file(dir + "/audit.log"), "\n") == 1);
}
