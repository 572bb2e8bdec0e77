// nextprism-validate executing what it accepts, against the real dockerd
// and the stand-in images, run as sshd runs it (environment, no shell).

#include <nextprism/proxy_exit_code.hpp>

#include "support/docker_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
namespace exit_code = nextprism::proxy_exit_code;
using namespace nextprism::test;

namespace {

struct proxy_env
{
    scoped_container nextcloud{"nextprism/standin-nextcloud:test", "np-v-nc"};
    scoped_container photoprism{"nextprism/standin-photoprism:test", "np-v-pp"};
    fs::path dir = fs::temp_directory_path() / unique_name("nextprism-exec");

    proxy_env() { fs::create_directories(dir); }
    ~proxy_env() { fs::remove_all(dir); }

    std::vector<std::string> env(const std::string& command) const
    {
        return {"SSH_ORIGINAL_COMMAND=" + command,
                "DOCKER_HOST=" + docker_host(),
                "NEXTPRISM_AUDIT_LOG=" + (dir / "audit.log").string(),
                "NEXTPRISM_LOCK_DIR=" + dir.string(),
                "NEXTCLOUD_CONTAINER=" + nextcloud.name,
                "PHOTOPRISM_CONTAINER=" + photoprism.name};
    }

    process_result run(const std::string& service, const std::string& command,
                       std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> argv{NEXTPRISM_VALIDATE, "--service", service};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_process(argv, env(command));
    }

    spawned_process spawn(const std::string& service, const std::string& command) const
    {
        return spawn_process({NEXTPRISM_VALIDATE, "--service", service}, env(command));
    }

    std::vector<nlohmann::json> audit() const
    {
        std::vector<nlohmann::json> lines;
        std::ifstream in(dir / "audit.log");
        std::string line;
        while (std::getline(in, line))
            lines.push_back(nlohmann::json::parse(line));
        return lines;
    }

    bool idle(const scoped_container& c) const
    {
        const auto p = c.processes();
        return p.size() == 1 && p[0].find("sleep 2147483647") != std::string::npos;
    }
};

} // namespace

TEST_CASE("every whitelisted command runs in its container with its exit code")
{
    proxy_env p;
    struct expectation
    {
        std::string service, command, stdout_start;
        int exit;
        std::string stderr_has = {};
    };
    const std::vector<expectation> cases = {
        {"nextcloud", "php occ status", "  - installed: true", 0},
        {"nextcloud", "php occ status --output=json", "{\"installed\":true", 0},
        {"nextcloud", "php occ files:scan alice", "Starting scan for user 1 out of 1 (alice)", 0},
        {"nextcloud", "php occ files:scan --path='/alice/files/My Photos'",
         "Starting scan for user 1 out of 1 (alice)", 0},
        {"nextcloud", "php occ files:scan --generate-metadata bob",
         "Starting scan for user 1 out of 1 (bob)", 0},
        {"nextcloud", "php occ files:scan --all", "Starting scan for user 1 out of 2 (alice)", 0},
        {"nextcloud", "php occ files:scan ghost", "Unknown user 1 ghost", 0}, // occ: exit 0 anyway
        {"nextcloud", "php occ files:scan", "Please specify the user id to scan", 1},
        {"nextcloud", "php occ memories:index --user=alice --path=/Photos/", "Indexing user alice", 0},
        {"photoprism", "photoprism status", "operational", 0},
        {"photoprism", "photoprism index --cleanup '2024/Summer Trip'", "", 0},
        {"photoprism", "photoprism import --dest=phone upload", "", 0},
        {"photoprism", "photoprism index exit3", "", 3},
        // PhotoPrism logs the error and exits 0.
        {"photoprism", "photoprism index missing", "", 0,
         " level=error msg=\"index: directory /photoprism/originals/missing not found\""},
    };
    for (const auto& c : cases) {
        INFO(c.service << ": " << c.command);
        const auto r = p.run(c.service, c.command);
        INFO(r.err);
        CHECK(r.exit_code == c.exit);
        CHECK(r.out.starts_with(c.stdout_start));
        CHECK(r.err.find(c.stderr_has) != std::string::npos);
    }
    // occ ran as www-data: the stand-in refuses root like the real one.
    const auto audit = p.audit();
    CHECK(audit.size() == 2 * cases.size()); // a decision and a finish each
    CHECK(audit.back()["event"] == "finished");
    CHECK(audit.back()["exit_code"] == 0);
}

TEST_CASE("stdout and stderr stay apart through the validator")
{
    proxy_env p;
    const auto r = p.run("photoprism", "photoprism index interleave");
    CHECK(r.exit_code == 0);
    CHECK(r.out == "out 1\nout 2\nout 3\nout 4\nout 5\n");
    CHECK(r.err.find("err 1\nerr 2\nerr 3\nerr 4\nerr 5\n") != std::string::npos);
    CHECK(r.err.find("out") == std::string::npos);
}

TEST_CASE("100 MiB of output through the validator, byte for byte")
{
    proxy_env p;
    const auto r = p.run("photoprism", "photoprism index big-output");
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == 104857600);
    CHECK(r.out.substr(0, 32) == "0123456789abcde\n0123456789abcde\n");
}

TEST_CASE("a missing or stopped target has its own exit code")
{
    proxy_env p;
    auto env = p.env("photoprism status");
    env.back() = "PHOTOPRISM_CONTAINER=np-no-such-container";
    auto r = run_process({NEXTPRISM_VALIDATE, "--service", "photoprism"}, env);
    CHECK(r.exit_code == exit_code::target_missing);
    CHECK(r.err == "nextprism: error: target container not found (np-no-such-container)\n");

    docker_cli({"stop", "-t", "0", p.photoprism.name});
    r = p.run("photoprism", "photoprism status");
    CHECK(r.exit_code == exit_code::target_missing);
    CHECK(r.err.find("not running") != std::string::npos);
}

TEST_CASE("a timed-out command is stopped: nothing is left in the container")
{
    proxy_env p;
    const auto r = p.run("nextcloud", "php occ files:scan -v slow300", {"--timeout", "2"});
    CHECK(r.exit_code == exit_code::timeout);
    CHECK(r.out.find("\tFile\t/slow300/files/photo-1.jpg\n") != std::string::npos);
    CHECK(r.err == "nextprism: error: timed out after 2 s; the command was stopped\n");
    CHECK(p.idle(p.nextcloud));
}

TEST_CASE("single flight: a second scan is refused while one runs; status still runs")
{
    proxy_env p;
    auto first = p.spawn("nextcloud", "php occ files:scan -v slow6");
    std::string seen;
    REQUIRE(first.read_until("photo-1.jpg", 30, seen));

    auto second = p.run("nextcloud", "php occ memories:index");
    CHECK(second.exit_code == exit_code::busy);
    CHECK(second.err.starts_with("nextprism: busy: "));
    auto status = p.run("nextcloud", "php occ status");
    CHECK(status.exit_code == 0);
    auto other_service = p.run("photoprism", "photoprism index");
    CHECK(other_service.exit_code == 0);

    CHECK(first.wait(60) == 0);
    ::close(first.out);
    ::close(first.err);
    CHECK(p.run("nextcloud", "php occ files:scan alice").exit_code == 0); // free again
}

TEST_CASE("when the SSH client goes away, the command in the target stops")
{
    proxy_env p;
    SECTION("the channel closes (the validator's stdout reader is gone)")
    {
        auto v = p.spawn("nextcloud", "php occ files:scan -v slow300");
        std::string seen;
        REQUIRE(v.read_until("photo-1.jpg", 30, seen));
        ::close(v.out);
        ::close(v.err);
        CHECK(v.wait(30) != -2);
    }
    SECTION("sshd hangs up (SIGHUP)")
    {
        auto v = p.spawn("photoprism", "photoprism index slow300");
        std::string seen; // PhotoPrism logs its progress on stderr
        REQUIRE(v.read_until("photo-1.jpg", 30, seen, true));
        ::kill(v.pid, SIGHUP);
        CHECK(v.wait(30) != -2);
        ::close(v.out);
        ::close(v.err);
    }
    for (int i = 0; i < 50 && !(p.idle(p.nextcloud) && p.idle(p.photoprism)); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(p.idle(p.nextcloud));
    CHECK(p.idle(p.photoprism));
    const auto audit = p.audit();
    REQUIRE_FALSE(audit.empty());
    CHECK(audit.back()["reason"] == "client went away; command stopped");
}

TEST_CASE("the default target is found by its Swarm service label")
{
    const auto service = unique_name("np-nextcloud");
    auto r = docker_cli({"service", "create", "--detach", "--name", service, "--network", "host",
                         "nextprism/standin-nextcloud:test"});
    REQUIRE(r.exit_code == 0);
    struct cleanup { std::string n; ~cleanup() { docker_cli({"service", "rm", n}); } } guard{service};
    const auto dir = fs::temp_directory_path() / unique_name("nextprism-svc");
    fs::create_directories(dir);
    const std::vector<std::string> env = {
        "SSH_ORIGINAL_COMMAND=php occ status", "DOCKER_HOST=" + docker_host(),
        "NEXTPRISM_AUDIT_LOG=" + (dir / "audit.log").string(), "NEXTPRISM_LOCK_DIR=" + dir.string(),
        "NEXTCLOUD_CONTAINER=" + service};
    process_result v;
    for (int i = 0; i < 100; ++i) { // until the task's container runs
        v = run_process({NEXTPRISM_VALIDATE, "--service", "nextcloud"}, env);
        if (v.exit_code != exit_code::target_missing)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(v.exit_code == 0);
    CHECK(v.out.starts_with("  - installed: true"));
    fs::remove_all(dir);
}
