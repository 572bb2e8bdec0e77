#ifndef NEXTPRISM_TESTS_SUPPORT_SSH_FIXTURE_HPP
#define NEXTPRISM_TESTS_SUPPORT_SSH_FIXTURE_HPP

// The test proxy that tests/testbed/sshd.sh started (ctest fixture "sshd"):
// a real sshd on 127.0.0.1 with proxy/sshd_config, serving the stand-in
// Nextcloud container np-ssh-nextcloud.

#include "support/docker_fixture.hpp"

#include <nextprism/ssh/pool.hpp>

#include <boost/asio/post.hpp>

#include <atomic>
#include <fstream>
#include <future>
#include <thread>
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

/** A command started through `pool` on the proxy, left running: `finished`
    completes with its outcome; `wait_for_output` waits until the first
    bytes came (its process tree is then up in the target). */
struct background_command
{
    std::shared_ptr<std::atomic<std::size_t>> seen = std::make_shared<std::atomic<std::size_t>>(0);
    std::future<std::pair<error_code, command_result>> finished;

    bool wait_for_output(std::chrono::milliseconds limit = std::chrono::seconds(5)) const
    {
        for (auto waited = std::chrono::milliseconds(0); *seen == 0 && waited < limit;
             waited += std::chrono::milliseconds(20))
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return *seen > 0;
    }
};

inline background_command start_command(ssh_pool& pool, std::vector<std::string> argv)
{
    background_command c;
    auto done = std::make_shared<std::promise<std::pair<error_code, command_result>>>();
    c.finished = done->get_future();
    boost::asio::post(pool.get_executor(), [&pool, argv = std::move(argv), seen = c.seen, done] {
        pool.async_run(proxy_address(), argv, [seen](output_stream, std::string_view d) { *seen += d.size(); },
                       std::chrono::milliseconds(0),
                       [done](error_code ec, command_result r) { done->set_value({ec, r}); });
    });
    return c;
}

} // namespace nextprism::test

#endif
