#include <nextprism/transport/direct.hpp> // first: the header is self-contained
#include <nextprism/whitelist.hpp>

#include "support/docker_fixture.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
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
    auto d = whitelist::builtin().check(service, argv);
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
    direct_transport t(io.io.get_executor(), engine(), {.targets = {{"nextcloud", nc.name}}, .output_gate = {}, .client = {}});

    std::string out;
    auto [ec, r] = run(t, authorized("nextcloud", {"php", "occ", "status", "--output=json"}), &out);
    REQUIRE_FALSE(ec);
    CHECK(r.exit_code == 0); // www-data: the stand-in refuses root
    CHECK(out.starts_with("{\"installed\":true"));
    CHECK(r.stdout_bytes == out.size());

    // Refused by the whitelist: there is no value for a transport to run.
    const auto refused = whitelist::builtin().check("nextcloud", std::vector<std::string>{"php", "occ", "user:add", "eve"});
    CHECK(refused.ec == error::command_not_allowed);
    CHECK(refused.ec == condition::rejected);
    CHECK(refused.command.argv.empty());
    std::tie(ec, r) = run(t, authorized("photoprism", {"photoprism", "status"}));
    CHECK(ec == error::target_not_found);
}

TEST_CASE("direct transport: the exec user is found in the target, as its entrypoint decides")
{
    io_thread io;
    struct target_case
    {
        std::string image;
        std::vector<std::string> run_options;
        int uid, gid;
        std::string as; // the start report's account of it
    };
    const std::string pp = "nextprism/standin-photoprism:test", nc = "nextprism/standin-nextcloud:test";
    const std::vector<target_case> cases{
        // PhotoPrism's image starts as root: root unless its variables say otherwise.
        {pp, {}, 0, 0, "the container's user (the container's)"},
        {pp, {"-e", "PHOTOPRISM_UID=1000", "-e", "PHOTOPRISM_GID=1000"}, 1000, 1000,
         "1000:1000 (PHOTOPRISM_UID:PHOTOPRISM_GID)"},
        {pp, {"-e", "PUID=1001", "-e", "PGID=1002"}, 1001, 1002, "1001:1002 (PUID:PGID)"},
        {pp, {"-e", "PHOTOPRISM_UID=1003"}, 1003, 1000, "1003:1000 (PHOTOPRISM_UID)"},
        {pp, {"-e", "PHOTOPRISM_UID=0", "-e", "PUID=1004"}, 0, 0, "the container's user (the container's)"},
        // Started as a user: the entrypoint's variables do not count, nor would they in the image.
        {pp, {"--user", "1234:1235", "-e", "PHOTOPRISM_UID=1000"}, 1234, 1235, "the container's user (Config.User)"},
        // Nextcloud's official image starts as root and serves as www-data, config.php's owner.
        {nc, {}, 33, 33, "www-data (otherwise)"},
        {nc, {"--user", "33:33"}, 33, 33, "the container's user (Config.User)"},
    };
    for (const auto& c : cases) {
        const std::string service = c.image == pp ? "photoprism" : "nextcloud";
        std::string options;
        for (const auto& o : c.run_options)
            options += o + " ";
        INFO(service << " run with " << options);
        scoped_container target(c.image, "np-d-user", true, c.run_options);
        direct_transport t(io.io.get_executor(), engine(),
                           {.targets = {{service, target.name}}, .output_gate = {}, .client = {}});
        std::string as;
        auto [ec, r] = wait_for<command_result>([&](auto h) {
            t.async_run(authorized(service, service == "photoprism" ? std::vector<std::string>{"photoprism", "status"}
                                                                    : std::vector<std::string>{"php", "occ", "status"}),
                        nullptr, [&](const start_report& at) { as = at.exec_user; }, h);
        });
        REQUIRE_FALSE(ec);
        CHECK(r.exit_code == 0);
        CHECK(as == c.as);
        const auto calls = target.standin_calls();
        REQUIRE(calls.size() == 1);
        CHECK(calls[0]["uid"] == c.uid);
        CHECK(calls[0]["gid"] == c.gid);
    }
}

TEST_CASE("direct transport: a single-flight command is busy while one of its group runs in the target, "
          "whoever started it")
{
    io_thread io;
    scoped_container nc("nextprism/standin-nextcloud:test", "np-d-busy");
    direct_transport t(io.io.get_executor(), engine(), {.targets = {{"nextcloud", nc.name}}, .output_gate = {}, .client = {}});
    // Started by hand beside any proxy (an operator's docker exec, or the
    // scan of a proxy process that died): the engine's list is what counts.
    REQUIRE(docker_cli({"exec", "-d", "-u", "33", nc.name, "php", "occ", "files:scan", "--", "slow6"}).exit_code == 0);
    bool running = false;
    for (int i = 0; i < 50 && !running; ++i) {
        running = docker_cli({"top", nc.name, "-o", "pid,args"}).out.find("slow6") != std::string::npos;
        if (!running)
            std::this_thread::sleep_for(100ms);
    }
    REQUIRE(running);

    auto [ec, r] = run(t, authorized("nextcloud", {"php", "occ", "files:scan", "--", "alice"}));
    CHECK(ec == error::busy);
    CHECK(r.started == false);
    INFO(r.reason);
    CHECK(r.reason.starts_with("php occ files:scan (exec "));
    CHECK(r.reason.find(" already runs in " + nc.name) != std::string::npos);
    // The group is the service's single-flight rules: memories:index too.
    std::tie(ec, r) = run(t, authorized("nextcloud", {"php", "occ", "memories:index"}));
    CHECK(ec == error::busy);
    // What is not single-flight runs beside it.
    std::tie(ec, r) = run(t, authorized("nextcloud", {"php", "occ", "status"}));
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
    // Once it has ended, the scan runs.
    for (int i = 0; i < 100 && running; ++i) {
        running = docker_cli({"top", nc.name, "-o", "pid,args"}).out.find("slow6") != std::string::npos;
        if (running)
            std::this_thread::sleep_for(100ms);
    }
    REQUIRE_FALSE(running);
    std::tie(ec, r) = run(t, authorized("nextcloud", {"php", "occ", "files:scan", "--", "alice"}));
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
}

TEST_CASE("direct transport: the start handler and started_in name the container and the exec")
{
    io_thread io;
    scoped_container nc("nextprism/standin-nextcloud:test", "np-d-start");
    direct_transport t(io.io.get_executor(), engine(), {.targets = {{"nextcloud", nc.name}}, .output_gate = {}, .client = {}});
    std::vector<std::string> events; // in the order they came, on the io thread
    auto [ec, r] = wait_for<command_result>([&](auto h) {
        t.async_run(authorized("nextcloud", {"php", "occ", "status", "--output=json"}),
                    [&](output_stream, std::string_view) {
                        if (events.empty() || events.back() != "output")
                            events.push_back("output");
                    },
                    [&](const start_report& at) {
                        CHECK(at.route.empty()); // the executor's to fill in
                        events.push_back("started " + at.container + " " + at.exec_id);
                    },
                    h);
    });
    REQUIRE_FALSE(ec);
    REQUIRE(events.size() == 2);
    CHECK(events[1] == "output"); // the start before any output
    REQUIRE(events[0].starts_with("started " + nc.name + " "));
    const std::string exec_id = events[0].substr(("started " + nc.name + " ").size());
    CHECK(exec_id.size() == 64); // the engine's full id
    CHECK(r.started == true);
    CHECK(r.started_in == started_in_label(nc.name, exec_id));
    CHECK(r.started_in == nc.name + " (exec " + exec_id.substr(0, 12) + ")");

    // No container: never started, and the result says so.
    std::tie(ec, r) = run(t, authorized("photoprism", {"photoprism", "status"}));
    CHECK(ec == error::target_not_found);
    CHECK(r.started == false);
    CHECK(r.started_in.empty());
}

TEST_CASE("direct transport: cancelled while the container is looked up, nothing starts")
{
    io_thread io;
    scoped_container pp("nextprism/standin-photoprism:test", "np-d-cancel");
    direct_transport t(io.io.get_executor(), engine(), {.targets = {{"photoprism", pp.name}}, .output_gate = {}, .client = {}});
    boost::asio::cancellation_signal cancel;
    bool started = false;
    auto [ec, r] = wait_for<command_result>([&](auto h) {
        // Emitted right after the initiation, on the io thread: the lookup
        // of the container is still in flight, no exec exists yet.
        boost::asio::post(io.io, [&, h]() mutable {
            t.async_run(authorized("photoprism", {"photoprism", "index", "slow300"}), nullptr,
                        [&](const start_report&) { started = true; },
                        boost::asio::bind_cancellation_slot(cancel.slot(), h));
            cancel.emit(boost::asio::cancellation_type::terminal);
        });
    });
    CHECK(ec == error::cancelled);
    CHECK_FALSE(started);
    CHECK(r.started == false);
    // Nothing ran: the stand-in has no exec process.
    auto top = docker_cli({"top", pp.name});
    CHECK(top.out.find("slow300") == std::string::npos);
}

TEST_CASE("direct transport works with use_future")
{
    io_thread io;
    scoped_container pp("nextprism/standin-photoprism:test", "np-d-pp");
    direct_transport t(io.io.get_executor(), engine(), {.targets = {{"photoprism", pp.name}}, .output_gate = {}, .client = {}});
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
    direct_transport t(io.io.get_executor(), address, {.targets = {{"photoprism", "np-crash"}}, .output_gate = {}, .client = {}});
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
