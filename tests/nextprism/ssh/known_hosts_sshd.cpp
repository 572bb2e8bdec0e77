// known_hosts against the real test proxy (tests/testbed/sshd.sh): first
// use fails closed on a file it cannot read or parse and leaves it as it
// was; a @revoked host key is refused and named; a bare host entry does not
// vouch for the proxy's port; hashed names are understood.

#include <nextprism/ssh/pool.hpp>

#include "support/ssh_fixture.hpp"

#include <filesystem>

using namespace nextprism;
using namespace nextprism::test;

namespace {

error_code connect_once(const std::string& known_hosts, bool trust_on_first_use, std::string* message = nullptr)
{
    io_thread io;
    auto options = pool_options();
    options.credentials.known_hosts_file = known_hosts;
    options.credentials.trust_on_first_use = trust_on_first_use;
    ssh_pool pool(io.io.get_executor(), options);
    auto [ec, r] = wait_for<command_result>([&](auto h) {
        pool.async_run(proxy_address(), {"php", "occ", "status"}, [](output_stream, std::string_view) {},
                       std::chrono::milliseconds(0), h);
    });
    if (message)
        *message = pool.statistics(proxy_address()).host_key_message;
    return ec;
}

std::string host_key() // "ssh-ed25519 AAAA..." of the test proxy
{
    const auto pub = read_file(sshd_dir() + "/host_ed25519_key.pub");
    return pub.substr(0, pub.find(' ', pub.find(' ') + 1));
}

} // namespace

TEST_CASE("known_hosts through the pool: fail closed, @revoked, exact ports, hashed names")
{
    const auto dir = fs_temp(unique_name("np-khs"));
    const auto path = dir + "/known_hosts";
    const std::string name = "[127.0.0.1]:" + std::to_string(proxy_address().port);
    SECTION("half-parsable known_hosts with first use: refused, file unchanged")
    {
        const std::string before = "[192.0.2.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER\nnot a line\n";
        std::ofstream(path) << before;
        std::string message;
        CHECK(connect_once(path, true, &message) == error::host_key_unknown);
        CHECK(read_file(path) == before);
        CHECK(message.find("line 2") != std::string::npos);
    }
    SECTION("unreadable known_hosts with first use: refused, nothing written")
    {
        std::filesystem::create_directories(path); // a directory: read fails with EISDIR
        CHECK(connect_once(path, true) == error::host_key_unknown);
        CHECK(std::filesystem::is_directory(path));
    }
    SECTION("a @revoked host key is refused and named, even with first use")
    {
        std::ofstream(path) << name << " " << host_key() << "\n@revoked * " << host_key() << "\n";
        std::string message;
        CHECK(connect_once(path, true, &message) == error::host_key_mismatch);
        INFO(message);
        CHECK(message.find("@revoked") != std::string::npos);
        CHECK(message.find("SHA256:") != std::string::npos);
    }
    SECTION("a bare host entry does not vouch for the proxy's port")
    {
        std::ofstream(path) << "127.0.0.1 " << host_key() << "\n";
        CHECK(connect_once(path, false) == error::host_key_unknown);
    }
    SECTION("first use on a missing file: trusted, written, then known")
    {
        CHECK_FALSE(connect_once(path, true));
        CHECK(read_file(path) == name + " " + host_key() + "\n");
        CHECK_FALSE(connect_once(path, false));
    }
    SECTION("hashed names (ssh-keygen -H) are understood")
    {
        std::ofstream(path) << name << " " << host_key() << "\n";
        REQUIRE(run_process({"/usr/bin/ssh-keygen", "-H", "-f", path}, {}).exit_code == 0);
        REQUIRE(read_file(path).starts_with("|1|"));
        CHECK_FALSE(connect_once(path, false));
    }
    run_process({"/bin/rm", "-rf", dir}, {});
}
