// The proxy's sshd_config: what sshd itself says it will enforce (sshd -T),
// and the real OpenSSH client trying every kind of forwarding against it.

#include "support/ssh_fixture.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>

using namespace nextprism::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> path_env{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp"};

std::vector<std::string> ssh_base()
{
    return {"/usr/bin/ssh", "-p", std::to_string(proxy_address().port),
            "-i", sshd_dir() + "/client_ed25519",
            "-o", "UserKnownHostsFile=" + sshd_dir() + "/known_hosts",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "ExitOnForwardFailure=yes",
            "-o", "ControlPath=none"};
}

process_result ssh(std::vector<std::string> extra)
{
    auto argv = ssh_base();
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, path_env);
}

/// Starts `ssh -N <forwarding>`, connects to the forwarded local end and
/// reports whether any byte came back before EOF; then stops ssh.
std::pair<bool, std::string> try_local_forward(std::vector<std::string> forwarding,
                                               const std::function<int()>& connect_local,
                                               const std::string& send)
{
    auto argv = ssh_base();
    argv.push_back("-N");
    argv.insert(argv.end(), forwarding.begin(), forwarding.end());
    argv.push_back("nextprism@127.0.0.1");
    auto p = spawn_process(argv, path_env);
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; ++i) {
        std::this_thread::sleep_for(50ms);
        fd = connect_local();
    }
    bool got = false;
    if (fd >= 0) {
        (void)!::write(fd, send.data(), send.size());
        pollfd pfd{fd, POLLIN, 0};
        char b[256];
        if (::poll(&pfd, 1, 3000) == 1) {
            const auto n = ::read(fd, b, sizeof b);
            // A SOCKS5 reply of "general failure" is a refusal too.
            got = n > 0 && !(send.size() > 3 && send[0] == 5 && n >= 2 && b[1] != 0);
        }
        ::close(fd);
    }
    ::kill(p.pid, SIGTERM);
    p.wait(10);
    return {got, p.finish()};
}

int connect_tcp(int port)
{
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int connect_unix(const std::string& path)
{
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

} // namespace

TEST_CASE("sshd -T: the hardened settings are what sshd enforces")
{
    auto r = run_process({"/usr/sbin/sshd", "-T", "-f", sshd_dir() + "/sshd_config"}, path_env);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::vector<std::string> expected = {
        "authenticationmethods publickey", "pubkeyauthentication yes",
        "passwordauthentication no", "kbdinteractiveauthentication no",
        "hostbasedauthentication no", "permitrootlogin no", "permitemptypasswords no",
        "disableforwarding yes", "allowtcpforwarding no", "allowstreamlocalforwarding no",
        "allowagentforwarding no", "x11forwarding no", "permittunnel no", "gatewayports no",
        "permittty no", "permituserrc no", "permituserenvironment no", "permitlisten none",
        "permitopen none", "exposeauthinfo yes", "maxsessions 8", "maxstartups 10:30:60",
        "persourcemaxstartups 8", "logingracetime 20", "clientaliveinterval 15",
        "clientalivecountmax 3", "unusedconnectiontimeout 300", "maxauthtries 2",
        "usepam no",
        "ciphers aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes128-ctr",
        "macs hmac-sha2-256,hmac-sha2-512",
        "hostkeyalgorithms ssh-ed25519", "pubkeyacceptedalgorithms ssh-ed25519",
        "kexalgorithms curve25519-sha256,curve25519-sha256@libssh.org", "allowusers nextprism",
    };
    for (const auto& line : expected) {
        INFO(line);
        CHECK(r.out.find("\n" + line + "\n") != std::string::npos);
    }
    // The validator's copy lives outside the build tree (tests/testbed/sshd.sh).
    const auto validator = read_file(sshd_dir() + "/validator");
    CHECK(validator.starts_with("/var/lib/nextprism-test/"));
    CHECK(r.out.find("\nforcecommand " + validator) != std::string::npos);
    CHECK(r.out.find("\nsubsystem") == std::string::npos);
    CHECK(r.out.find("\nacceptenv") == std::string::npos);
    CHECK(r.out.find("\nrevokedkeys /run/nextprism-tests/") != std::string::npos);
    // The shipped file carries the same settings (the test bed changes only paths).
    const auto shipped = read_file(NEXTPRISM_SOURCE_DIR "/proxy/sshd_config");
    for (const char* must : {"DisableForwarding yes", "PermitTTY no", "MaxSessions 8", "UsePAM no",
                             "RevokedKeys /etc/nextprism/revoked_keys", "MaxAuthTries 2",
                             "ExposeAuthInfo yes", "ForceCommand /usr/local/bin/nextprism-validate"})
        CHECK(shipped.find(must) != std::string::npos);
    // authorized_keys lines carry `restrict`.
    CHECK(read_file(sshd_dir() + "/authorized_keys").starts_with("restrict ssh-ed25519 "));
}

TEST_CASE("the OpenSSH client: a whitelisted command runs; shell syntax does not")
{
    auto r = ssh({"nextprism@127.0.0.1", "php occ files:scan --path='/alice/files/My Photos'"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.starts_with("Starting scan for user 1 out of 1 (alice)"));
    r = ssh({"nextprism@127.0.0.1", "php occ status; id"});
    CHECK(r.exit_code == 65);
    CHECK(r.err.find("nextprism: refused: ';'") != std::string::npos);
    r = ssh({"nextprism@127.0.0.1"}); // a shell request
    CHECK(r.exit_code == 65);
}

TEST_CASE("the OpenSSH client: every kind of forwarding is refused")
{
    SECTION("-W (stdio forwarding)")
    {
        auto r = ssh({"-W", "127.0.0.1:" + std::to_string(proxy_address().port), "nextprism@127.0.0.1"});
        CHECK(r.exit_code == 255);
        CHECK(r.out.find("SSH-2.0") == std::string::npos);
    }
    SECTION("-R (remote forwarding)")
    {
        auto r = ssh({"-N", "-R", "127.0.0.1:0:127.0.0.1:9", "nextprism@127.0.0.1"});
        CHECK(r.exit_code == 255);
        CHECK(r.err.find("forwarding failed") != std::string::npos);
    }
    SECTION("-L (local TCP forwarding to the proxy's own sshd)")
    {
        const int port = 22000 + std::rand() % 1000;
        auto [got, err] = try_local_forward(
            {"-L", "127.0.0.1:" + std::to_string(port) + ":127.0.0.1:" +
                       std::to_string(proxy_address().port)},
            [&] { return connect_tcp(port); }, "SSH-2.0-probe\r\n");
        CHECK_FALSE(got);
        CHECK(err.find("prohibited") != std::string::npos);
    }
    SECTION("-L (to a unix socket: the Docker socket)")
    {
        const std::string local = "/tmp/" + unique_name("np-fwd") + ".sock";
        auto [got, err] = try_local_forward({"-L", local + ":" + docker_host().substr(7)},
                                            [&] { return connect_unix(local); },
                                            "GET /_ping HTTP/1.0\r\n\r\n");
        CHECK_FALSE(got); // no answer from the engine came through
        CHECK(err.find("open failed") != std::string::npos);
        ::unlink(local.c_str());
    }
    SECTION("-D (dynamic SOCKS forwarding)")
    {
        const int port = 23000 + std::rand() % 1000;
        const int target = proxy_address().port;
        // SOCKS5: no-auth greeting, then CONNECT 127.0.0.1:<proxy port>.
        std::string request{"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01", 11};
        request.push_back(static_cast<char>(target >> 8));
        request.push_back(static_cast<char>(target & 0xff));
        auto argv = ssh_base();
        argv.insert(argv.end(), {"-N", "-D", "127.0.0.1:" + std::to_string(port), "nextprism@127.0.0.1"});
        auto p = spawn_process(argv, path_env);
        int fd = -1;
        for (int i = 0; i < 100 && fd < 0; ++i) {
            std::this_thread::sleep_for(50ms);
            fd = connect_tcp(port);
        }
        REQUIRE(fd >= 0);
        (void)!::write(fd, request.data(), request.size());
        std::string reply;
        char b[64];
        pollfd pfd{fd, POLLIN, 0};
        while (::poll(&pfd, 1, 3000) == 1) {
            const auto n = ::read(fd, b, sizeof b);
            if (n <= 0)
                break;
            reply.append(b, static_cast<std::size_t>(n));
        }
        ::close(fd);
        // Method selection (05 00) may come back; a successful CONNECT
        // reply (05 00 00 ...) must not.
        CHECK(reply.find(std::string("\x05\x00\x00", 3), 2) == std::string::npos);
        ::kill(p.pid, SIGTERM);
        p.wait(10);
        CHECK(p.finish().find("prohibited") != std::string::npos);
    }
    SECTION("-tt (a terminal)")
    {
        auto r = ssh({"-tt", "nextprism@127.0.0.1", "php occ status"});
        CHECK(r.err.find("PTY allocation request failed") != std::string::npos);
    }
    SECTION("-s sftp (a subsystem)")
    {
        auto r = ssh({"-s", "nextprism@127.0.0.1", "sftp"});
        CHECK(r.exit_code == 255); // no Subsystem configured: the request fails
        CHECK(r.err.find("subsystem request failed") != std::string::npos);
    }
    SECTION("-A (agent forwarding)")
    {
        // With an agent running, the client asks; sshd ignores the request
        // (DisableForwarding) and nothing in the session can reach it.
        auto agent = run_process({"/usr/bin/ssh-agent", "-s"}, path_env);
        const auto at = agent.out.find("SSH_AUTH_SOCK=");
        REQUIRE(at != std::string::npos);
        const auto sock = agent.out.substr(at + 14, agent.out.find(';', at) - at - 14);
        auto argv = ssh_base();
        argv.insert(argv.end(), {"-A", "-v", "nextprism@127.0.0.1", "php occ files:scan -v slow3"});
        auto env = path_env;
        env.push_back("SSH_AUTH_SOCK=" + sock);
        auto p = spawn_process(argv, env);
        std::string seen;
        REQUIRE(p.read_until("photo-1.jpg", 30, seen));
        // Were forwarding allowed, sshd would now hold a listening agent
        // socket in /tmp/ssh-XXXX, owned by the proxy user.
        const auto uid = std::stoi(trim(run_process({"/usr/bin/id", "-u", "nextprism"}, path_env).out));
        bool agent_socket = false;
        if (DIR* d = ::opendir("/tmp")) {
            while (dirent* e = ::readdir(d)) {
                struct stat st{};
                const std::string path = std::string("/tmp/") + e->d_name;
                if (std::string(e->d_name).rfind("ssh-", 0) == 0 && ::stat(path.c_str(), &st) == 0 &&
                    static_cast<int>(st.st_uid) == uid)
                    agent_socket = true;
            }
            ::closedir(d);
        }
        CHECK_FALSE(agent_socket);
        CHECK(p.wait(30) == 0);
        CHECK(p.finish().find("Requesting authentication agent forwarding") != std::string::npos);
        const auto pid_at = agent.out.find("SSH_AGENT_PID=");
        ::kill(std::atoi(agent.out.c_str() + pid_at + 14), SIGTERM);
    }
}

TEST_CASE("a revoked key is refused; the version banner names no distribution")
{
    const auto revoked = sshd_dir() + "/revoked_keys";
    struct restore
    {
        std::string path;
        ~restore() { std::ofstream(path, std::ios::trunc); }
    } guard{revoked};
    {
        std::ofstream out(revoked, std::ios::trunc);
        out << read_file(sshd_dir() + "/client_ed25519.pub");
    }
    auto r = ssh({"nextprism@127.0.0.1", "php occ status"});
    CHECK(r.exit_code == 255);
    CHECK(r.err.find("Permission denied (publickey)") != std::string::npos);
    std::ofstream(revoked, std::ios::trunc);
    r = ssh({"nextprism@127.0.0.1", "php occ status"});
    CHECK(r.exit_code == 0);

    const int fd = connect_tcp(proxy_address().port);
    REQUIRE(fd >= 0);
    char banner[256] = {};
    pollfd pfd{fd, POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 5000) == 1);
    const auto n = ::read(fd, banner, sizeof banner - 1);
    ::close(fd);
    REQUIRE(n > 0);
    const std::string line(banner, static_cast<std::size_t>(n));
    INFO(line);
    CHECK(line.starts_with("SSH-2.0-OpenSSH_"));
    CHECK(line.find("Debian") == std::string::npos);
}
