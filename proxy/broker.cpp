// nextprism-broker: the privileged half of the proxy.
//
// The validator (the SSH session's process, the proxy account's uid) never
// reaches the Docker socket nor the audit log. This broker, started by the
// entrypoint beside sshd, does both for it, and nothing else: it listens on
// a unix socket that only the validator's group can reach, accepts only the
// uids it was told to (SO_PEERCRED), and forks one child per request. The
// child checks the request against the whitelist again (the library's
// check of the argv, not a second parser), writes the audit records, takes
// the slots and the single-flight lock, runs the command through the
// library's Docker client and writes its output straight into the
// session's pipes (passed with SCM_RIGHTS), then answers the exit status.
// A timeout, the caller going away or the validator's end closing stops
// the command through a helper container (broker_stop.hpp); the lock is
// held until the engine says the exec ended.
//
// The parent does nothing but fork and reap: a child's failure (or a bug
// reached by a hostile request) ends that child only. Each child builds
// its own io_context. One child, the spare, is forked before any request
// and waits for the next connection, so that no fork is on a request's
// path; once it takes one, the parent forks the next spare. The parent
// accepts only to answer busy (the cap reached, the drain).
//
// SIGTERM (the container is stopped, a rolling update): drain. Requests
// already running go on; new ones are answered busy ("the proxy is
// stopping": nothing ran, the caller retries); after --drain-timeout the
// children still running are told to stop their commands (SIGTERM: the
// same verified stop as a caller going away); the broker exits when the
// last child has ended.
//
// Also `--stop-tree PID ...`: the stop helper's command, in its own
// container (broker_stop.hpp).

#include "proxy_run.hpp" // first: it includes nextprism's config first
#include "broker_children.hpp"
#include "default_whitelist_table.hpp" // generated: the default whitelist as constants

#include <nextprism/tools/command_line.hpp>

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <span>
#include <sstream>

namespace {

using namespace nextprism::broker;

/// Binds the socket: owner this process, group `group`, mode 0660, so
/// that only that group's members (the validator) reach it.
int listen_on(const std::string& path, gid_t group)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        die(exit_code::usage, "socket path too long", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    // Non-blocking: the spare and the parent may both see a connection
    // when the spare retires; the one that does not get it must not block.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die(exit_code::internal, "socket", std::strerror(errno));
    ::unlink(path.c_str());
    const mode_t old = ::umask(0177); // never reachable by others, not even for a moment
    const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (bound != 0)
        die(exit_code::internal, "cannot bind " + path, std::strerror(errno));
    if (::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0 || ::chmod(path.c_str(), 0660) != 0)
        die(exit_code::internal, "cannot give " + path + " to group " + std::to_string(group),
            std::strerror(errno));
    if (::listen(fd, 128) != 0)
        die(exit_code::internal, "listen", std::strerror(errno));
    return fd;
}

/// Becomes `user` (its uid, gid and supplementary groups) for good.
void become(const std::string& user)
{
    const passwd* pw = ::getpwnam(user.c_str());
    if (!pw)
        die(exit_code::usage, "no account " + user);
    if (::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0)
        die(exit_code::internal, "cannot become " + user, std::strerror(errno));
    if (pw->pw_uid != 0 && ::setuid(0) == 0)
        die(exit_code::internal, "could regain root after becoming " + user);
}

int stop_tree_main(const options& o)
{
    return nextprism::broker_stop::stop_tree(o.stop_pid, o.stop_container, o.not_before,
                                             std::chrono::milliseconds(o.stop_grace_ms));
}

} // namespace

int main(int argc, char** argv)
{
    ::signal(SIGPIPE, SIG_IGN);
    options opts = parse_options(argc, argv);
    if (opts.stop_pid > 0)
        return stop_tree_main(opts);

    // The same compiled-in default as the validator's (or a whitelist file).
    const nextprism::whitelist whitelist_in_use =
        opts.whitelist_file.empty()
            ? nextprism::whitelist_table::builtin()
            : nextprism::proxy_run::load_whitelist(opts.whitelist_file, [](int code, std::string_view what, std::string_view detail) { die(code, what, detail); });
    const nextprism::whitelist* rules = &whitelist_in_use;
    if (!rules->find_service(opts.service))
        die(exit_code::usage, "service '" + opts.service + "' is not in the whitelist");

    const int listener = listen_on(opts.socket_path, *opts.socket_group);
    if (!opts.user.empty())
        become(opts.user);
    if (opts.helper_image == "auto") {
        // The proxy's own image, for the stop helper; outside a container
        // (the host tests) the broker signals from the host PID namespace.
        const auto self = nextprism::broker_stop::own_container_id();
        opts.helper_image = self.empty() ? "none" : nextprism::broker_stop::image_of(opts.run.engine, self);
        if (opts.helper_image.empty())
            die(exit_code::engine_error, "cannot read this container's image from the engine (for the stop helper)");
    }
    std::fprintf(stderr, "nextprism-broker: serving %s on %s (uid %u), stop helper %s\n", opts.service.c_str(),
                 opts.socket_path.c_str(), ::getuid(), opts.helper_image.c_str());

    return supervise(opts, rules, listener);
}
