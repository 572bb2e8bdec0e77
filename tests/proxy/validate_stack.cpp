// Commands that really stop, on the proxy as deployed: the proxies of the
// stack file on the single-node test Swarm (tests/testbed/stack.sh, ctest
// fixture "stack"), reached over real SSH. The proxy is a Swarm task: it
// cannot join the host PID namespace, its validator has no Docker socket;
// the broker stops commands through a helper container. For a caller's
// timeout (its channel closes), a killed client and a validator hung up
// (SIGHUP): the caller gets its
// error, `docker top` of the target shows nothing of the command within
// 10 s, a second single-flight command is refused busy only while the
// first still ran and runs once it has ended (the proxy's own audit
// records, read from the container's stdout, give the order).

#include <nextprism/transport/ssh.hpp>

#include <nextprism/wire/exit_status.hpp>

#include "support/docker_fixture.hpp"
#include "support/stack_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <optional>
#include <thread>

using namespace nextprism;
using namespace nextprism::test;
using namespace std::chrono_literals;
namespace exit_code = nextprism::proxy_exit_code;

namespace {

const std::string& proxy_service = nextcloud_proxy_service;
const std::string target_service = "nptargets_nextcloud";

std::string trimmed(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

std::string container_of(const std::string& service)
{
    return trimmed(docker_cli({"ps", "-q", "--filter", "label=com.docker.swarm.service.name=" + service}).out);
}

/// Whether the target runs anything with `marker` in its command line.
bool target_runs(const std::string& marker)
{
    const auto top = docker_cli({"top", container_of(target_service), "-o", "pid,args"});
    return top.out.find(marker) != std::string::npos;
}

/// The proxy's audit records (the drainer writes them to the container's stdout).
std::vector<nlohmann::json> proxy_audit()
{
    std::vector<nlohmann::json> out;
    const auto log = docker_cli({"logs", container_of(proxy_service)});
    std::size_t start = 0;
    while (start < log.out.size()) {
        auto end = log.out.find('\n', start);
        if (end == std::string::npos)
            end = log.out.size();
        const auto line = log.out.substr(start, end - start);
        if (line.starts_with("{\"time\""))
            out.push_back(nlohmann::json::parse(line));
        start = end + 1;
    }
    return out;
}

/// Milliseconds of the day from an audit time ("...THH:MM:SS.mmmZ").
double ms_of(const nlohmann::json& j)
{
    const auto t = j["time"].get<std::string>();
    return std::stod(t.substr(11, 2)) * 3600e3 + std::stod(t.substr(14, 2)) * 60e3 + std::stod(t.substr(17, 6)) * 1e3;
}

ssh_pool_options pool_options()
{
    ssh_pool_options o;
    o.credentials.private_key_file = stack_dir() + "/client_ed25519";
    o.credentials.known_hosts_file = stack_dir() + "/known_hosts";
    o.session.connect_timeout = 10s;
    o.max_connections_per_host = 2;
    return o;
}

struct outcome
{
    error_code ec;
    command_result result;
};

outcome run(ssh_proxy_transport& t, std::vector<std::string> argv, std::chrono::milliseconds timeout = 60s)
{
    auto [ec, result] = wait_for<command_result>([&](auto h) {
        // The proxy checks it; here the argv goes out as given (the executor would check first).
        auto command = testing::unchecked_command("nextcloud", std::move(argv));
        command.timeout = timeout;
        t.async_run(proxy_endpoint{"127.0.0.1", 22622, {}}, std::move(command), [](output_stream, std::string_view) {},
                    std::move(h));
    });
    return {ec, result};
}

/// Watches the engine for stop helper containers starting (the engine
/// keeps only its last 256 events: watch live, do not ask afterwards).
spawned_process watch_helpers()
{
    auto w = spawn_process({"/usr/bin/docker", "events", "--filter", "label=io.nextprism.stop-helper", "--filter",
                            "event=start", "--format", "helper {{.Action}}"},
                           {"DOCKER_HOST=" + docker_host(), "PATH=/usr/bin:/bin"});
    std::this_thread::sleep_for(500ms); // subscribed before anything happens
    return w;
}

void check_helper_ran(spawned_process& watcher)
{
    std::string seen;
    CHECK(watcher.read_until("helper start", 10, seen));
    ::kill(watcher.pid, SIGTERM);
    watcher.wait(5);
    watcher.finish();
}

/** After the first command (input `first`) was abandoned by its caller:
    it is gone from the target within 10 s, and a single-flight command
    tried meanwhile is busy only while the first ran and runs after it. */
void check_stopped_and_next_runs(ssh_proxy_transport& t, const std::string& marker, const std::string& first)
{
    const auto abandoned = std::chrono::steady_clock::now();
    // The audit's clock: milliseconds of the UTC day, a second of slack.
    const double abandoned_ms =
        static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count() %
                            86'400'000) -
        1000;
    std::vector<outcome> tries;
    bool ran = false;
    while (!ran && std::chrono::steady_clock::now() - abandoned < 20s) {
        tries.push_back(run(t, {"php", "occ", "files:scan", "--", "alice"}));
        ran = !tries.back().ec && tries.back().result.exit_code == 0;
        if (!ran) {
            INFO(tries.back().ec.message() << ", exit " << tries.back().result.exit_code);
            // The transport decodes the proxy's own exit (66 with its one line): busy.
            CHECK(tries.back().ec == error::busy);
            CHECK(tries.back().result.exit_code == exit_code::busy);
            CHECK(tries.back().result.started == false); // known: it never started
            std::this_thread::sleep_for(200ms);
        }
    }
    CHECK(ran);
    bool gone = false;
    while (!gone && std::chrono::steady_clock::now() - abandoned < 10s) {
        gone = !target_runs(marker);
        if (!gone)
            std::this_thread::sleep_for(200ms);
    }
    const double gone_after = std::chrono::duration<double>(std::chrono::steady_clock::now() - abandoned).count();
    INFO("gone after " << gone_after << " s");
    CHECK(gone);
    WARN(first << ": gone from the target " << gone_after << " s after the caller left, " << tries.size() - 1
                << " busy answer(s) meanwhile");

    // The proxy's own account of the order.
    std::optional<nlohmann::json> stopped;
    for (int i = 0; i < 50 && !stopped; ++i) {
        for (const auto& j : proxy_audit())
            if (j["event"] == "finished" && j.contains("argv") && j["argv"].dump().find(marker) != std::string::npos)
                stopped = j;
        if (!stopped)
            std::this_thread::sleep_for(100ms);
    }
    REQUIRE(stopped);
    INFO(stopped->dump());
    CHECK((*stopped)["outcome"] == "stopped");
    CHECK((*stopped)["reason"] == "client went away; command stopped");
    const double first_end = ms_of(*stopped);
    int busy = 0, after = 0;
    for (const auto& j : proxy_audit()) {
        if (j["event"] != "finished" || !j.contains("argv") || j["argv"].dump().find("alice") == std::string::npos ||
            ms_of(j) < abandoned_ms)
            continue;
        if (j["outcome"] == "busy") {
            ++busy;
            CHECK(ms_of(j) <= first_end + 1); // refused only while the first still ran
        } else if (j["outcome"] == "exited" && ms_of(j) >= first_end) {
            ++after;
            CHECK(ms_of(j) - j["duration_ms"].get<double>() >= first_end - 1); // it started after the first ended
        }
    }
    CHECK(after >= 1);
    CHECK(busy == static_cast<int>(tries.size()) - 1);
}

} // namespace

TEST_CASE("deployed proxy: a caller's 3 s timeout stops the command in the target")
{
    io_thread io;
    ssh_proxy_transport t(io.io.get_executor(), pool_options());
    REQUIRE(run(t, {"php", "occ", "status"}).result.exit_code == 0);
    auto helpers = watch_helpers();
    const auto start = std::chrono::steady_clock::now();
    auto r = run(t, {"php", "occ", "files:scan", "--verbose", "--", "slow301"}, 3s);
    CHECK(r.ec == error::timeout);
    CHECK(std::chrono::steady_clock::now() - start < 10s);
    check_stopped_and_next_runs(t, "slow301", "timeout");
    check_helper_ran(helpers); // the stop went through the helper container
}

TEST_CASE("deployed proxy: a killed ssh client's command is stopped in the target")
{
    const auto dir = stack_dir();
    auto client = spawn_process({"/usr/bin/ssh", "-p", "22622", "-i", dir + "/client_ed25519", "-o",
                                 "UserKnownHostsFile=" + dir + "/known_hosts", "-o", "StrictHostKeyChecking=yes",
                                 "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ControlPath=none",
                                 "nextprism@127.0.0.1", "php occ files:scan -v slow302"},
                                {"PATH=/usr/bin:/bin"});
    std::string seen;
    REQUIRE(client.read_until("photo-1.jpg", 30, seen));
    REQUIRE(target_runs("slow302"));
    auto helpers = watch_helpers();
    ::kill(client.pid, SIGKILL);
    client.wait(5);
    client.finish();
    io_thread io;
    ssh_proxy_transport t(io.io.get_executor(), pool_options());
    check_stopped_and_next_runs(t, "slow302", "killed client");
    check_helper_ran(helpers);
}

TEST_CASE("deployed proxy: a validator hung up (SIGHUP) has its command stopped in the target")
{
    const auto dir = stack_dir();
    auto client = spawn_process({"/usr/bin/ssh", "-p", "22622", "-i", dir + "/client_ed25519", "-o",
                                 "UserKnownHostsFile=" + dir + "/known_hosts", "-o", "StrictHostKeyChecking=yes",
                                 "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ControlPath=none",
                                 "nextprism@127.0.0.1", "php occ files:scan -v slow303"},
                                {"PATH=/usr/bin:/bin"});
    std::string seen;
    REQUIRE(client.read_until("photo-1.jpg", 30, seen));
    // The session's validator in the proxy container (not the audit drainer).
    const auto proxy = container_of(proxy_service);
    const auto pids = docker_cli({"exec", proxy, "sh", "-c",
                                  "for d in /proc/[0-9]*; do [ \"$(cat $d/comm 2>/dev/null)\" = nextprism-valid ] && "
                                  "! grep -q audit-drain $d/cmdline && echo ${d#/proc/}; done; true"});
    const auto pid = trimmed(pids.out);
    REQUIRE_FALSE(pid.empty());
    REQUIRE(pid.find('\n') == std::string::npos); // one session, one validator
    auto helpers = watch_helpers();
    REQUIRE(docker_cli({"exec", proxy, "kill", "-HUP", pid}).exit_code == 0);
    CHECK(client.wait(15) != -2); // the session ends
    client.finish();
    io_thread io;
    ssh_proxy_transport t(io.io.get_executor(), pool_options());
    check_stopped_and_next_runs(t, "slow303", "SIGHUP");
    check_helper_ran(helpers);
}

TEST_CASE("deployed proxy: the broker's children killed (SIGKILL) mid-scan: the scan runs on in the target and "
          "the next one is busy until it has ended")
{
    io_thread io;
    ssh_proxy_transport t(io.io.get_executor(), pool_options());
    REQUIRE(run(t, {"php", "occ", "status"}).result.exit_code == 0);
    // A scan of 10 s, its caller waiting in a thread of its own.
    std::thread first([] {
        io_thread io2;
        ssh_proxy_transport t2(io2.io.get_executor(), pool_options());
        run(t2, {"php", "occ", "files:scan", "--", "slow10"});
    });
    struct joined { std::thread& t; ~joined() { t.join(); } } join_first{first};
    bool running = false;
    for (int i = 0; i < 100 && !running; ++i) {
        running = target_runs("slow10");
        if (!running)
            std::this_thread::sleep_for(100ms);
    }
    REQUIRE(running);
    // Every child of the broker (the scan's request child, the spare): as
    // an OOM kill or a crash would end them. Its flock goes with it.
    const auto proxy = container_of(proxy_service);
    const auto killed = docker_cli({"exec", proxy, "sh", "-c",
                                    "p=$(cat /run/nextprism/broker.pid); for d in /proc/[0-9]*; do "
                                    "[ \"$(cut -d' ' -f4 $d/stat 2>/dev/null)\" = \"$p\" ] && kill -KILL ${d#/proc/} && "
                                    "echo ${d#/proc/}; done; true"});
    INFO(killed.out << killed.err);
    REQUIRE_FALSE(trimmed(killed.out).empty());
    REQUIRE(target_runs("slow10")); // the scan runs on, unstopped

    // Busy while it runs (the engine lists its exec), then the next runs, never beside it.
    int busy = 0;
    bool ran = false;
    const auto t0 = std::chrono::steady_clock::now();
    while (!ran && std::chrono::steady_clock::now() - t0 < 30s) {
        const auto r = run(t, {"php", "occ", "files:scan", "--", "alice"});
        if (!r.ec && r.result.exit_code == 0) {
            ran = true;
            CHECK_FALSE(target_runs("slow10")); // it ran after the first had ended
        } else {
            INFO(r.ec.message() << ", exit " << r.result.exit_code);
            CHECK(r.ec == error::busy);
            ++busy;
            std::this_thread::sleep_for(300ms);
        }
    }
    CHECK(ran);
    CHECK(busy >= 1);
    WARN("broker children killed mid-scan: " << busy << " busy answer(s) until the orphaned scan ended");
    bool recorded = false;
    for (const auto& j : proxy_audit())
        recorded = recorded || (j["event"] == "finished" && j["outcome"] == "busy" &&
                                j.value("reason", "").find("php occ files:scan (exec ") != std::string::npos);
    CHECK(recorded); // the record names the exec that runs on
}

TEST_CASE("deployed proxy: the validator cannot reach the Docker socket, the broker can")
{
    const auto proxy = container_of(proxy_service);
    const auto gid = trimmed(docker_cli({"exec", proxy, "stat", "-c", "%g", "/var/run/docker.sock"}).out);
    // As the proxy account with the groups sshd's initgroups gives it: setpriv
    // in the container. `docker exec -u nextprism` cannot: the daemon resolves
    // the name on its side of the file system, where /etc/passwd's link into
    // the container's /run leads nowhere.
    const auto as_validator = [&](std::vector<std::string> argv) {
        std::vector<std::string> a{"exec", proxy, "setpriv", "--reuid=nextprism", "--regid=nextprism",
                                   "--init-groups", "--"};
        a.insert(a.end(), argv.begin(), argv.end());
        return docker_cli(a);
    };
    const auto groups = as_validator({"id", "-G"});
    REQUIRE(groups.exit_code == 0);
    CHECK(trimmed(as_validator({"id", "-u"}).out) == "1000");
    CHECK((" " + trimmed(groups.out) + " ").find(" " + gid + " ") == std::string::npos);
    // The validator binary as the validator's account, told to use the socket itself.
    const auto direct = as_validator({"env", "SSH_ORIGINAL_COMMAND=php occ status",
                                      "DOCKER_HOST=unix:///var/run/docker.sock", "NEXTPRISM_AUDIT_LOG=/dev/null",
                                      "NEXTPRISM_LOCK_DIR=/tmp", "/usr/local/bin/nextprism-validate", "--service",
                                      "nextcloud"});
    CHECK(direct.exit_code == exit_code::engine_error);
    CHECK(direct.err == "nextprism: error: Permission denied\n");
    // The audit FIFO: not writable by the proxy account.
    const auto forged = as_validator({"sh", "-c", "echo forged >/run/nextprism/audit.fifo"});
    CHECK(forged.exit_code != 0);
    CHECK(forged.err.find("ermission denied") != std::string::npos);
    CHECK(trimmed(docker_cli({"exec", proxy, "stat", "-c", "%U:%G %a", "/run/nextprism/audit.fifo"}).out) ==
          "root:nextprism-broker 620");
}
