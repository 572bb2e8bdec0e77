#ifndef NEXTPRISM_TESTS_SUPPORT_SSH_FIXTURE_HPP
#define NEXTPRISM_TESTS_SUPPORT_SSH_FIXTURE_HPP

// The test proxy that tests/testbed/sshd.sh started (ctest fixture "sshd"):
// a real sshd on 127.0.0.1 with proxy/sshd_config, serving the stand-in
// Nextcloud container np-ssh-nextcloud.

#include "support/docker_fixture.hpp"

#include <nextprism/ssh/pool.hpp>

#include <fstream>
#include <sstream>

namespace nextprism::test {

inline std::string env_or_fail(const char* name)
{
    const char* v = std::getenv(name);
    if (!v || !*v)
        FAIL(std::string(name) + " is not set: run through ctest (fixture sshd)");
    return v;
}

inline std::string fs_temp(const std::string& name)
{
    const std::string dir = "/tmp/" + name;
    run_process({"/bin/mkdir", "-p", dir}, {});
    return dir;
}

inline std::string sshd_dir() { return env_or_fail("NEXTPRISM_SSHD_DIR"); }

inline ssh::endpoint proxy_address()
{
    ssh::endpoint ep;
    ep.host = "127.0.0.1";
    ep.port = static_cast<std::uint16_t>(std::stoi(env_or_fail("NEXTPRISM_SSHD_PORT")));
    ep.user = "nextprism";
    return ep;
}

inline ssh_pool_options pool_options()
{
    ssh_pool_options o;
    o.credentials.private_key_file = sshd_dir() + "/client_ed25519";
    o.credentials.known_hosts_file = sshd_dir() + "/known_hosts";
    return o;
}

inline std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::size_t count(const std::string& text, const std::string& needle)
{
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
        ++n;
    return n;
}

/// Accepted logins so far, from sshd's own log.
inline std::size_t accepted_logins() { return count(read_file(sshd_dir() + "/sshd.log"), "Accepted publickey"); }

/// (Re)starts the test proxy with the same keys.
inline void restart_sshd()
{
    auto r = run_process({"/bin/bash", env_or_fail("NEXTPRISM_SSHD_SCRIPT"), "start", sshd_dir(),
                          env_or_fail("NEXTPRISM_SSHD_PORT"), env_or_fail("NEXTPRISM_VALIDATE"),
                          docker_host().substr(7)},
                         {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
}

} // namespace nextprism::test

#endif
