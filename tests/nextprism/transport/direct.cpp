#include <nextprism/transport/direct.hpp> // first: the header is self-contained
#include <nextprism/whitelist.hpp>

#include "support/docker_fixture.hpp"

#include <boost/asio/use_future.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>

using namespace nextprism;
using namespace nextprism::test;
using namespace std::chrono_literals;

static_assert(transport_policy<direct_transport>);

namespace {

/// What the whitelist authorized: the only thing a transport takes.
authorized_command authorized(std::string service, std::vector<std::string> argv)
{
    auto d = whitelist::default_policy().check(service, argv);
    INFO(d.reason);
    REQUIRE(d.allowed());
    return std::move(d.command);
}

std::pair<error_code, command_result> run(direct_transport& t, authorized_command command,
                                          std::string* out = nullptr)
{
    return wait_for<command_result>([&](auto h) {
        t.async_run(std::move(command),
                    [out](output_stream s, std::string_view d) {
                        if (out && s == output_stream::out)
                            out->append(d);
                    },
                    h);
    });
}

} // namespace

TEST_CASE("direct transport: runs what the whitelist authorized, as the service's user")
{
    io_thread io;
    scoped_container nc("nextprism/standin-nextcloud:test", "np-d-nc");
    direct_transport t(io.io.get_executor(), engine(), {.containers = {{"nextcloud", nc.name}}, .output_gate = {}});
    CHECK(t.container_for("nextcloud") == nc.name);
    CHECK(t.container_for("photoprism") == "photoprism");

    std::string out;
    auto [ec, r] = run(t, authorized("nextcloud", {"php", "occ", "status", "--output=json"}), &out);
    REQUIRE_FALSE(ec);
    CHECK(r.exit_code == 0); // www-data: the stand-in refuses root
    CHECK(out.starts_with("{\"installed\":true"));
    CHECK(r.stdout_bytes == out.size());

    // Refused by the whitelist: there is no value for a transport to run.
    const auto refused = whitelist::default_policy().check("nextcloud", std::vector<std::string>{"php", "occ", "user:add", "eve"});
    CHECK(refused.ec == error::command_not_allowed);
    CHECK(refused.ec == condition::rejected);
    CHECK(refused.command.argv.empty());
    std::tie(ec, r) = run(t, authorized("photoprism", {"photoprism", "status"}));
    CHECK(ec == error::target_not_found);
}

TEST_CASE("direct transport works with use_future")
{
    io_thread io;
    scoped_container pp("nextprism/standin-photoprism:test", "np-d-pp");
    direct_transport t(io.io.get_executor(), engine(), {.containers = {{"photoprism", pp.name}}, .output_gate = {}});
    auto f = t.async_run(authorized("photoprism", {"photoprism", "index", "exit5"}), nullptr,
                         boost::asio::use_future);
    REQUIRE(f.wait_for(60s) == std::future_status::ready);
    CHECK(f.get().exit_code == 5);
}

TEST_CASE("dockerd killed mid-stream: an error, not a hang")
{
    // Its own engine: killing the shared one would break the other tests.
    const std::string dir = std::string(std::getenv("NEXTPRISM_TESTBED")) + "/crash";
    const std::string script = NEXTPRISM_SOURCE_DIR "/tests/testbed/dockerd.sh";
    const std::vector<std::string> env{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "NEXTPRISM_NO_SWARM=1",
                                       "NEXTPRISM_STANDINS=photoprism"};
    auto started = run_process({"/bin/bash", script, "start", dir}, env);
    INFO(started.err);
    REQUIRE(started.exit_code == 0);
    struct stop { std::vector<std::string> argv, env; ~stop() { run_process(argv, env); } } guard{
        {"/bin/bash", script, "stop", dir}, env};
    const std::vector<std::string> cli{"/usr/bin/docker", "-H", "unix://" + dir + "/docker.sock"};
    auto argv = cli;
    for (const char* a : {"run", "-d", "--rm", "--network", "none", "--name", "np-crash",
                          "nextprism/standin-photoprism:test"})
        argv.emplace_back(a);
    auto r = run_process(argv, env);
    REQUIRE(r.exit_code == 0);

    io_thread io;
    docker::engine_address address;
    address.path = dir + "/docker.sock";
    direct_transport t(io.io.get_executor(), address, {.containers = {{"photoprism", "np-crash"}}, .output_gate = {}});
    std::atomic<bool> streaming{false};
    auto promise = std::make_shared<std::promise<std::pair<error_code, command_result>>>();
    auto future = promise->get_future();
    t.async_run(authorized("photoprism", {"photoprism", "index", "slow300"}),
                [&](output_stream, std::string_view) { streaming = true; },
                [promise](error_code ec, command_result res) { promise->set_value({ec, res}); });
    for (int i = 0; i < 200 && !streaming; ++i)
        std::this_thread::sleep_for(50ms);
    REQUIRE(streaming);
    std::ifstream pidfile(dir + "/dockerd.pid");
    int pid = 0;
    pidfile >> pid;
    REQUIRE(pid > 0);
    ::kill(pid, SIGKILL);
    REQUIRE(future.wait_for(60s) == std::future_status::ready);
    auto [ec, res] = future.get();
    CHECK(ec);
    CHECK(ec != condition::rejected);
    // The stream broke with the command still running: whether it finished
    // cannot be known, and the caller must not read it as success.
    CHECK(ec == error::outcome_unknown);
}
