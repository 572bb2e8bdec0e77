#include <nextprism/executor/config.hpp> // first: the header is self-contained

#include <nextprism/whitelist.hpp>
#include <nextprism/wire/command_string.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>

#include "support/docker_fixture.hpp"

// The executor on a real 3-node Swarm (tests/testbed/swarm.sh, ctest
// fixture "swarm"): dockerds A (manager), B and C (workers) in their own
// network namespaces; the stand-in Nextcloud on B, PhotoPrism on C, placed
// by node labels; the proxies deployed with stacks/nextcloud-proxy.yaml and
// stacks/photoprism-proxy.yaml on the nodes that may run their target (B,
// C), the agent (stacks/agent.yaml) on a worker.
// This test runs inside node A's network namespace, as a caller on A
// would: DOCKER_HOST is A's engine, the proxies are reached at B's and C's
// addresses. Every figure it measures is printed as "measured: …".

using namespace nextprism;
using namespace std::chrono_literals;
using namespace nextprism::test;

namespace {

std::string env_or_fail(const char* name)
{
    const char* v = std::getenv(name);
    if (!v || !*v)
        FAIL(std::string(name) + " is not set: run through ctest (fixture swarm)");
    return v;
}

std::string swarm_dir() { return env_or_fail("NEXTPRISM_SWARM_DIR"); }
std::string net() { return env_or_fail("NEXTPRISM_SWARM_NET"); }
std::string address(char node) { return net() + "." + std::to_string(node - 'a' + 1); }
std::string socket_of(char node) { return swarm_dir() + "/" + char(node - 'a' + 'A') + "/docker.sock"; }

process_result docker_on(char node, std::vector<std::string> args)
{
    args.insert(args.begin(), "/usr/bin/docker");
    return run_process(args, {"DOCKER_HOST=unix://" + socket_of(node), "PATH=/usr/bin:/bin:/usr/sbin:/sbin"});
}

std::string node_id(char node) { return trim(docker_on(node, {"info", "-f", "{{.Swarm.NodeID}}"}).out); }

const target_names targets{{"nextcloud", "nptargets_nextcloud"},
                             {"photoprism", "nptargets_photoprism"}};

/// The configuration a caller on node A would write (nextprism-run's
/// JSON), defaults everywhere else.
executor_config config(const std::string& extra = "", std::string key = "")
{
    const std::string keys = swarm_dir() + "/keys";
    if (key.empty())
        key = keys + "/client_ed25519";
    const std::string text = R"({"docker_host": "unix://)" + socket_of('a') + R"(",
        "targets": {"nextcloud": "nptargets_nextcloud", "photoprism": "nptargets_photoprism"},
        "ssh": {"private_key": ")" + key + R"(", "known_hosts": ")" + keys +
                             R"(/known_hosts"})" + extra + "}";
    error_code ec;
    std::string reason;
    auto c = executor_config::from_json(text, ec, reason);
    INFO(reason);
    REQUIRE_FALSE(ec);
    return c;
}

direct_transport::options with_targets(const target_names& names)
{
    direct_transport::options o;
    o.targets = names;
    return o;
}

/// examples/assemblies.cpp's make_swarm.
swarm_executor make_swarm(net::any_io_executor ex, const executor_config& c)
{
    return {ex,
            ssh_proxy_transport(ex, c.pool, c.ssh_user),
            swarm_labels(ex, c.discovery, c.swarm),
            c.retry(),
            direct_transport(ex, *c.engine, with_targets(c.targets)),
            c.executor_options(default_whitelist())};
}

struct captured
{
    error_code ec;
    command_result result;
    std::string out, err;
};

template<class Executor>
captured run(Executor& e, const std::string& service, std::vector<std::string> argv,
             std::chrono::milliseconds timeout = 60s) // 0: the configuration's command_timeout_ms
{
    auto out = std::make_shared<std::string>(), err = std::make_shared<std::string>();
    auto [ec, result] = wait_for<command_result>([&](auto h) {
        e.async_run({service, std::move(argv), timeout},
                    [out, err](output_stream s, std::string_view d) { (s == output_stream::out ? out : err)->append(d); },
                    std::move(h));
    });
    return {ec, result, *out, *err};
}

/// What the stand-in prints, run on its own node's engine directly.
captured reference(char node, const std::string& service, std::vector<std::string> argv)
{
    io_thread io;
    error_code ec;
    auto b = docker::parse_engine_address("unix://" + socket_of(node), ec);
    REQUIRE_FALSE(ec);
    direct_executor direct(io.io.get_executor(), no_proxy(io.io.get_executor()),
                           local_only_discovery(io.io.get_executor()), no_retry{},
                           direct_transport(io.io.get_executor(), b, with_targets(targets)),
                           swarm_executor_options{});
    return run(direct, service, std::move(argv));
}

/// The audit records of a proxy service's running task on one node (the
/// proxy's drainer writes them to the container's output).
std::string audit_log(char node, const std::string& proxy_service)
{
    const auto id = trim(docker_on(node, {"ps", "-q", "--filter",
                                          "label=com.docker.swarm.service.name=npproxy_" + proxy_service})
                             .out);
    if (id.empty())
        return {};
    const auto logs = docker_on(node, {"logs", id});
    std::string records;
    std::istringstream in(logs.out);
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("{") && line.find("\"decision\"") != std::string::npos)
            records += line + "\n";
    return records;
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

bool greets(const std::string& host, int port)
{
    auto r = run_process({"/usr/bin/timeout", "2", "/bin/bash", "-c",
                          "exec 3<>/dev/tcp/" + host + "/" + std::to_string(port) + " && head -c 8 <&3"},
                         {});
    return r.out == "SSH-2.0-";
}

/// The nodes that run a service's running tasks.
std::vector<std::string> task_nodes(const std::string& service)
{
    auto ids = docker_on('a', {"service", "ps", "-q", "--filter", "desired-state=running", service});
    std::vector<std::string> nodes;
    std::istringstream in(ids.out);
    for (std::string id; in >> id;) {
        auto r = docker_on('a', {"inspect", "-f", "{{.Status.State}} {{.NodeID}}", id});
        auto t = trim(r.out);
        if (t.starts_with("running "))
            nodes.push_back(t.substr(8));
    }
    return nodes;
}

double seconds_since(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

const std::vector<std::string> occ_status{"php", "occ", "status"};
const std::vector<std::string> photoprism_status{"photoprism", "status"};

} // namespace

TEST_CASE("3 nodes: swarm_labels on A finds the proxy on each target's node")
{
    io_thread io;
    const auto c = config();
    swarm_labels discovery(io.io.get_executor(), c.discovery, c.swarm);
    auto [ec, p] = wait_for<placement>([&](auto h) { discovery.async_locate("nextcloud", std::move(h)); });
    REQUIRE_FALSE(ec);
    CHECK(p.swarm_active);
    CHECK(p.target_local == false);
    REQUIRE(p.proxies.size() == 1);
    CHECK(p.proxies[0].host == address('b'));
    CHECK(p.proxies[0].port == 2222);
    CHECK(p.proxies[0].node_id == node_id('b'));
    REQUIRE(p.proxy_services.size() == 1);
    CHECK(p.proxy_services[0].running == 1); // one per node that may run Nextcloud: B

    auto [ec2, q] = wait_for<placement>([&](auto h) { discovery.async_locate("photoprism", std::move(h)); });
    REQUIRE_FALSE(ec2);
    CHECK(q.target_local == false);
    REQUIRE(q.proxies.size() == 1);
    CHECK(q.proxies[0].host == address('c'));
    CHECK(q.proxies[0].port == 2223);
}

TEST_CASE("3 nodes: occ status runs on B through B's proxy, photoprism status on C through C's")
{
    const auto b_before = lines(audit_log('b', "nextcloud-proxy"));
    const auto c_before = lines(audit_log('c', "photoprism-proxy"));
    const auto a_before = lines(audit_log('a', "nextcloud-proxy")) + lines(audit_log('a', "photoprism-proxy"));
    {
        io_thread io;
        const auto c = config();
        auto executor = make_swarm(io.io.get_executor(), c);

        const auto occ = run(executor, "nextcloud", occ_status);
        INFO(occ.ec.message() << " " << occ.err);
        REQUIRE_FALSE(occ.ec);
        const auto occ_ref = reference('b', "nextcloud", occ_status);
        REQUIRE_FALSE(occ_ref.ec);
        CHECK(occ.result.exit_code == occ_ref.result.exit_code);
        CHECK(occ.out == occ_ref.out);
        CHECK(occ.err == occ_ref.err);
        CHECK(occ.out.find("productname: Nextcloud") != std::string::npos);

        const auto photo = run(executor, "photoprism", photoprism_status);
        INFO(photo.ec.message() << " " << photo.err);
        REQUIRE_FALSE(photo.ec);
        const auto photo_ref = reference('c', "photoprism", photoprism_status);
        REQUIRE_FALSE(photo_ref.ec);
        CHECK(photo.result.exit_code == 0);
        CHECK(photo.out == photo_ref.out);
        CHECK(photo.out == "operational\n");

        CHECK(executor.statistics().proxied == 2);
        CHECK(executor.statistics().local == 0);
        CHECK(executor.statistics().retries == 0);
    }
    // Each command went through the proxy on its target's node, none through A's.
    const auto b_log = audit_log('b', "nextcloud-proxy");
    const auto c_log = audit_log('c', "photoprism-proxy");
    CHECK(lines(b_log) > b_before);
    CHECK(lines(c_log) > c_before);
    CHECK(b_log.find(R"("php","occ","status")") != std::string::npos);
    CHECK(c_log.find(R"("photoprism","status")") != std::string::npos);
    // SSH_CLIENT: the caller on A, or (the bed's engines run without
    // iptables: host-mode ports go through docker-proxy) the address of
    // B's docker_gwbridge; never another node's.
    CHECK((b_log.find(address('a')) != std::string::npos || b_log.find("\"172.") != std::string::npos));
    CHECK(b_log.find(address('c')) == std::string::npos);
    CHECK(lines(audit_log('a', "nextcloud-proxy")) + lines(audit_log('a', "photoprism-proxy")) == a_before);
}

TEST_CASE("3 nodes: a refused command is refused by the executor and by B's validator, with the reason")
{
    const std::vector<std::string> bad{"php", "occ", "config:list"};
    const auto expected = whitelist::builtin().check("nextcloud", bad);
    REQUIRE_FALSE(expected);
    REQUIRE_FALSE(expected.reason.empty());

    io_thread io;
    const auto c = config();
    auto executor = make_swarm(io.io.get_executor(), c);
    const auto refused = run(executor, "nextcloud", bad);
    CHECK(refused.ec == condition::rejected);
    CHECK(executor.statistics().proxied == 0); // nothing left this process

    // The same words sent to B's proxy as they are, below the transport
    // (which only takes what a whitelist authorized): its validator refuses them.
    ssh_proxy_transport transport(io.io.get_executor(), c.pool, c.ssh_user);
    auto out = std::make_shared<std::string>(), err = std::make_shared<std::string>();
    auto [ec, result] = wait_for<command_result>([&](auto h) {
        transport.pool().async_run(transport.ssh_endpoint(proxy_endpoint{address('b'), 2222, {}}), bad,
                                   [out, err](output_stream s, std::string_view d) {
                                       (s == output_stream::out ? out : err)->append(d);
                                   },
                                   30s, std::move(h));
    });
    REQUIRE_FALSE(ec);
    CHECK(result.exit_code == 65);
    CHECK(out->empty());
    CHECK(*err == proxy_exit_line("refused", expected.reason));
}

TEST_CASE("3 nodes: the proxy task on C killed: Swarm replaces it, the executor recovers")
{
    io_thread io;
    const auto c = config();
    auto executor = make_swarm(io.io.get_executor(), c); // long-lived: its cache is warm
    REQUIRE_FALSE(run(executor, "photoprism", photoprism_status).ec);

    const auto old_id = trim(docker_on('c', {"ps", "-q", "--filter",
                                             "label=com.docker.swarm.service.name=npproxy_photoprism-proxy"})
                                 .out);
    REQUIRE_FALSE(old_id.empty());
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(docker_on('c', {"kill", old_id}).exit_code == 0);

    // When C's sshd greets again, watched from the side.
    std::atomic<double> back{-1};
    std::thread watch([&] {
        while (back < 0 && seconds_since(t0) < 120) {
            if (greets(address('c'), 2223))
                back = seconds_since(t0);
            else
                std::this_thread::sleep_for(100ms);
        }
    });
    // Calls in a loop, as an application would make them, until one succeeds.
    double first_ok = -1;
    std::size_t failed = 0, calls = 0;
    while (seconds_since(t0) < 120) {
        const auto r = run(executor, "photoprism", photoprism_status);
        ++calls;
        if (!r.ec && r.out == "operational\n") {
            first_ok = seconds_since(t0);
            break;
        }
        ++failed;
        std::cout << "  call " << calls << " failed after " << seconds_since(t0) << " s: " << r.ec.message()
                  << "\n";
        std::this_thread::sleep_for(200ms);
    }
    watch.join();
    std::cout << "measured: proxy task on C killed: sshd greets again after " << back.load()
              << " s; first successful call after " << first_ok << " s (" << failed << " of " << calls
              << " calls failed, retries " << executor.statistics().retries << ")\n";
    REQUIRE(first_ok >= 0);
    // The default retries outlast the restart: no call fails.
    CHECK(failed == 0);
    CHECK(docker_on('c', {"ps", "-q", "--filter", "label=com.docker.swarm.service.name=npproxy_photoprism-proxy"}).out !=
          old_id + "\n");
}

TEST_CASE("3 nodes: node C drained: PhotoPrism and its proxy move to B, discovery follows")
{
    io_thread io;
    const auto c = config();
    auto executor = make_swarm(io.io.get_executor(), c);
    REQUIRE_FALSE(run(executor, "photoprism", photoprism_status).ec);
    const auto b = node_id('b'), cn = node_id('c');

    // The operator makes B eligible for PhotoPrism, then drains C.
    REQUIRE(docker_on('a', {"node", "update", "--label-add", "io.nextprism.photoprism=true", b}).exit_code == 0);
    const auto b_before = lines(audit_log('b', "photoprism-proxy"));
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE(docker_on('a', {"node", "update", "--availability", "drain", cn}).exit_code == 0);

    double moved = -1, first_ok = -1;
    std::size_t failed = 0, calls = 0;
    while (seconds_since(t0) < 120) {
        if (moved < 0 && task_nodes("nptargets_photoprism") == std::vector<std::string>{b})
            moved = seconds_since(t0);
        const auto r = run(executor, "photoprism", photoprism_status);
        ++calls;
        // A call may still land on C's proxy before the drain took it away.
        if (!r.ec && r.out == "operational\n" && moved >= 0) {
            first_ok = seconds_since(t0);
            break;
        }
        if (r.ec) {
            ++failed;
            std::cout << "  call " << calls << " failed after " << seconds_since(t0) << " s: " << r.ec.message()
                      << "\n";
        }
        std::this_thread::sleep_for(200ms);
    }
    std::cout << "measured: node C drained: PhotoPrism running on B after " << moved
              << " s; first successful call through B after " << first_ok << " s (" << failed << " of "
              << calls << " calls failed)\n";
    CHECK(first_ok >= 0);
    CHECK(failed == 0); // the default retries outlast the move
    CHECK(lines(audit_log('b', "photoprism-proxy")) > b_before);

    // Back as the fixture set it up: C active, PhotoPrism on C.
    REQUIRE(docker_on('a', {"node", "update", "--availability", "active", cn}).exit_code == 0);
    REQUIRE(docker_on('a', {"node", "update", "--label-rm", "io.nextprism.photoprism", b}).exit_code == 0);
    REQUIRE(docker_on('a', {"service", "update", "--detach", "--force", "nptargets_photoprism"}).exit_code == 0);
    bool restored = false;
    for (int i = 0; i < 300 && !restored; ++i) {
        std::this_thread::sleep_for(200ms);
        restored = task_nodes("nptargets_photoprism") == std::vector<std::string>{cn} && greets(address('c'), 2223);
    }
    CHECK(restored);
}

namespace {

std::string source_dir() { return env_or_fail("NEXTPRISM_SOURCE_DIR"); }

/// The overlay's addresses (swarm.sh: the /24 after the nodes'), "10.231.1."
std::string overlay_prefix()
{
    const auto n = net();
    const auto dot = n.rfind('.');
    return n.substr(0, dot + 1) + std::to_string(std::stoi(n.substr(dot + 1)) + 1) + ".";
}

/// The node (a, b or c) a service's one running task is on.
char node_of_task(const std::string& service)
{
    const auto nodes = task_nodes(service);
    REQUIRE(nodes.size() == 1);
    for (char n : {'a', 'b', 'c'})
        if (node_id(n) == nodes[0])
            return n;
    FAIL("no node has the ID " + nodes[0]);
    return 0;
}

/// `nextprism exec` in the agent's container (the image ships the CLI), by
/// `docker exec` on its node: its configuration has no engine, so the
/// proxies are found by Swarm's DNS.
process_result from_caller(std::vector<std::string> args)
{
    const char n = node_of_task("npcaller_agent");
    const auto id = trim(docker_on(n, {"ps", "-q", "--filter", "label=com.docker.swarm.service.name=npcaller_agent"}).out);
    REQUIRE_FALSE(id.empty());
    args.insert(args.begin() + 1, "--");
    args.insert(args.begin(), {"exec", id, "nextprism", "exec", "--config", "/etc/nextprism/nextprism.json"});
    return docker_on(n, std::move(args));
}

/// Runs `total` commands, alternately occ status on B and photoprism status
/// on C, keeping `in_flight` running at once through one executor (one
/// pool); each must exit 0 with the stand-in's output.
struct load_outcome
{
    std::size_t ok = 0, failed = 0;
    std::map<std::string, std::size_t> errors;
    double seconds = 0;
};

template<class Executor>
load_outcome run_load(io_thread& io, Executor& e, std::size_t total, std::size_t in_flight,
                      const std::string& nextcloud_out, const std::string& photoprism_out)
{
    std::mutex m;
    std::condition_variable cv;
    std::size_t started = 0, done = 0; // started: only on the io thread
    load_outcome r;
    const auto t0 = std::chrono::steady_clock::now();
    std::function<void()> launch = [&] {
        const bool nc = started++ % 2 == 0;
        auto out = std::make_shared<std::string>();
        e.async_run({nc ? "nextcloud" : "photoprism", nc ? occ_status : photoprism_status, 60s},
                    [out](output_stream s, std::string_view d) {
                        if (s == output_stream::out)
                            out->append(d);
                    },
                    [&, nc, out](error_code ec, command_result res) {
                        const bool good = !ec && res.exit_code == 0 && *out == (nc ? nextcloud_out : photoprism_out);
                        if (started < total)
                            launch();
                        std::lock_guard lock(m);
                        good ? ++r.ok : ++r.failed;
                        if (!good) {
                            ++r.errors[ec ? ec.message() : "exit " + std::to_string(res.exit_code) + " or other output"];
                            std::cout << "  " << (nc ? "occ" : "photoprism") << " failed at " << seconds_since(t0)
                                      << " s: " << (ec ? ec.message() : "exit " + std::to_string(res.exit_code))
                                      << "\n";
                        }
                        ++done;
                        cv.notify_all();
                    });
    };
    net::post(io.io, [&] {
        for (std::size_t k = 0; k < in_flight && started < total; ++k)
            launch();
    });
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, 600s, [&] { return done == total; }));
    r.seconds = seconds_since(t0);
    return r;
}

/// Restarts what a test stopped: swarm.sh start reuses what still runs.
void restore_swarm()
{
    auto r = run_process({source_dir() + "/tests/testbed/swarm.sh", "start", swarm_dir(),
                          env_or_fail("NEXTPRISM_SWARM_SOURCE")},
                         {"PATH=/usr/bin:/bin:/usr/sbin:/sbin", "NEXTPRISM_SWARM_NET=" + net(),
                          "NEXTPRISM_SWARM_QUIET=1"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
}

/// Calls occ status until one succeeds; the seconds since t0 then.
template<class Executor>
double first_good_occ(Executor& e, std::chrono::steady_clock::time_point t0, std::size_t& failed)
{
    while (seconds_since(t0) < 180) {
        const auto r = run(e, "nextcloud", occ_status);
        if (!r.ec && r.result.exit_code == 0)
            return seconds_since(t0);
        ++failed;
        std::this_thread::sleep_for(200ms);
    }
    return -1;
}

} // namespace

TEST_CASE("3 nodes: a caller on a worker reaches both targets by Swarm's DNS over the overlay")
{
    // The agent's container (stacks/agent.yaml) runs on a worker: no
    // manager API there, so it finds the proxies as tasks.<target>-proxy on
    // nextprism_network (the `dns` discovery).
    const char caller_node = node_of_task("npcaller_agent");
    CHECK(caller_node != 'a');
    const auto role = docker_on('a', {"node", "inspect", "-f", "{{.Spec.Role}}", node_id(caller_node)});
    CHECK(trim(role.out) == "worker");

    const auto c_before = lines(audit_log('c', "photoprism-proxy"));
    const auto photo = from_caller({"photoprism", "photoprism", "status"});
    INFO(photo.err);
    CHECK(photo.exit_code == 0);
    const auto photo_ref = reference('c', "photoprism", photoprism_status);
    CHECK(photo.out == photo_ref.out);

    const auto occ = from_caller({"nextcloud", "php", "occ", "status"});
    INFO(occ.err);
    CHECK(occ.exit_code == 0);
    const auto occ_ref = reference('b', "nextcloud", occ_status);
    CHECK(occ.out == occ_ref.out);

    // It went over the overlay: C's proxy saw the caller's overlay address.
    const auto c_log = audit_log('c', "photoprism-proxy");
    CHECK(lines(c_log) > c_before);
    CHECK(c_log.find("\"" + overlay_prefix()) != std::string::npos);

    // A refusal from there says the rule; a target without a proxy task is
    // an error, not a hang.
    const auto refused = from_caller({"nextcloud", "php", "occ", "config:list"});
    CHECK(refused.exit_code == 65);
    CHECK(refused.err.find("refused") != std::string::npos);
}

/// The testbed's agent token (DIR/agent-tokens: "NAME TOKEN").
std::string agent_token()
{
    std::ifstream in(swarm_dir() + "/agent-tokens");
    std::string name, token;
    in >> name >> token;
    REQUIRE(token.size() >= 16);
    return token;
}

/// curl to the agent on its node; `-w` appends the HTTP status on a last line.
process_result agent_call(const std::string& url, const std::string& token, std::vector<std::string> extra = {})
{
    std::vector<std::string> args{"/usr/bin/curl", "-sN", "-m", "60", "-w", "\n%{http_code}"};
    if (!token.empty())
        args.insert(args.end(), {"-H", "Authorization: Bearer " + token});
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url);
    return run_process(args, {});
}

/// The body's lines and, from the last line, the status.
std::pair<std::vector<std::string>, std::string> split_status(const std::string& out)
{
    std::vector<std::string> body;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) // the -w line starts with a newline of its own
            body.push_back(line);
    std::string status = body.empty() ? "" : body.back();
    if (!body.empty())
        body.pop_back();
    return {body, status};
}

TEST_CASE("3 nodes: the agent on a worker: curl → agent → the target's proxy on another node")
{
    const char n = node_of_task("npcaller_agent");
    CHECK(n != 'a');
    const std::string url = "http://" + address(n) + ":8087";
    const auto token = agent_token();
    // Published in host mode on its node; it may still be starting.
    for (int i = 0; i < 100 && split_status(agent_call(url + "/readyz", "").out).second != "200"; ++i)
        std::this_thread::sleep_for(200ms);
    REQUIRE(split_status(agent_call(url + "/readyz", "").out).second == "200");

    const auto c_before = lines(audit_log('c', "photoprism-proxy"));
    const auto [events, status] = split_status(
        agent_call(url + "/v1/exec", token, {"-d", R"({"service":"photoprism","argv":["photoprism","status"]})"}).out);
    REQUIRE(status == "200");
    std::string out;
    nlohmann::json finished;
    for (const auto& line : events) {
        const auto e = nlohmann::json::parse(line);
        if (e["event"] == "stdout")
            out += e["data"].get<std::string>();
        if (e["event"] == "finished")
            finished = e;
    }
    INFO(finished.dump());
    REQUIRE(finished.is_object());
    CHECK(finished["outcome"] == "succeeded");
    CHECK(finished["route"] != "local");                      // through a proxy
    CHECK(finished["started_in"].get<std::string>().find("nptargets_photoprism") == 0);
    CHECK(out == reference('c', "photoprism", photoprism_status).out);
    // C's proxy saw it, from the agent's overlay address.
    const auto c_log = audit_log('c', "photoprism-proxy");
    CHECK(lines(c_log) > c_before);
    CHECK(c_log.find("\"" + overlay_prefix()) != std::string::npos);

    // No token: 401; a refusal: 403 and nothing sent; the run is listed.
    CHECK(split_status(agent_call(url + "/v1/runs", "").out).second == "401");
    const auto refused = split_status(
        agent_call(url + "/v1/exec", token, {"-d", R"({"service":"nextcloud","argv":["php","occ","config:list"]})"}).out);
    CHECK(refused.second == "403");
    const auto runs = split_status(agent_call(url + "/v1/runs", token).out);
    REQUIRE(runs.second == "200");
    REQUIRE(runs.first.size() == 1);
    CHECK(nlohmann::json::parse(runs.first[0]).at(0)["outcome"] == "succeeded");

    // The status page in headless Chromium, from node A's network (this
    // test's namespace): the token in the address's fragment, which the
    // browser never sends; the page passes it as a bearer header. Its DOM
    // shows the proxy the run went through, the placement discovery cached
    // and the run with its outcome; the screenshot is kept in the build tree
    // (docs/agent-status.png is a copy).
    const std::string profile = swarm_dir() + "/chromium-profile";
    const std::string shot = swarm_dir() + "/agent-status-swarm.png";
    std::vector<std::string> chromium{"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                      "--no-first-run", "--disable-background-networking",
                                      "--disable-component-update", "--disable-sync", "--disable-default-apps",
                                      "--user-data-dir=" + profile, "--virtual-time-budget=5000",
                                      "--window-size=1280,800"};
    const std::string page = url + "/#token=" + token;
    auto dump = chromium;
    dump.insert(dump.end(), {"--dump-dom", page});
    const auto dom = run_process(dump, {"HOME=" + profile, "PATH=/usr/bin:/bin"});
    INFO(dom.err.substr(0, 2000));
    REQUIRE(dom.exit_code == 0);
    CHECK(dom.out.find("photoprism status") != std::string::npos);      // the run
    CHECK(dom.out.find("class=\"succeeded\"") != std::string::npos);  // its outcome
    const auto table = [&](const std::string& id) { // one tbody of the page
        const auto at = dom.out.find("id=\"" + id + "\"");
        return at == std::string::npos ? std::string() : dom.out.substr(at, dom.out.find("</tbody>", at) - at);
    };
    CHECK(table("endpoints").find(":2222</code>") != std::string::npos); // the proxy it went through
    CHECK(table("cache").find("<td>photoprism</td>") != std::string::npos); // its placement, cached
    auto screenshot = chromium;
    screenshot.insert(screenshot.end(), {"--screenshot=" + shot, page});
    ::unlink(shot.c_str());
    run_process(screenshot, {"HOME=" + profile, "PATH=/usr/bin:/bin"});
    std::ifstream png(shot, std::ios::binary | std::ios::ate);
    CHECK(png.tellg() > 10000);
}

TEST_CASE("3 nodes: node B's dockerd stopped mid-command: a clear error within the timeout, then back")
{
    io_thread io;
    const auto c = config(R"(, "command_timeout_ms": 20000)");
    auto executor = make_swarm(io.io.get_executor(), c);
    REQUIRE_FALSE(run(executor, "nextcloud", occ_status).ec);

    // files:scan slow30: the stand-in takes 30 s; B's dockerd goes at 2 s.
    std::atomic<bool> finished{false};
    captured slow;
    const auto t0 = std::chrono::steady_clock::now();
    std::thread call([&] {
        io_thread own;
        auto e = make_swarm(own.io.get_executor(), c);
        slow = run(e, "nextcloud", {"php", "occ", "files:scan", "slow30"}, 0ms);
        finished = true;
    });
    std::this_thread::sleep_for(2s);
    const auto pid = trim(run_process({"/bin/cat", swarm_dir() + "/B/dockerd.pid"}, {}).out);
    REQUIRE_FALSE(pid.empty());
    REQUIRE(run_process({"/bin/kill", pid}, {}).exit_code == 0);
    call.join();
    const double ended = seconds_since(t0);
    std::cout << "measured: B's dockerd stopped mid-command: the call ended after " << ended << " s with '"
              << (slow.ec ? slow.ec.message() : "exit " + std::to_string(slow.result.exit_code)) << "'\n";
    CHECK(finished);
    // Not a success: the command was cut. Two true reports race in the
    // engine's shutdown: the proxy loses the exec's stream first (an error:
    // the outcome unknown), or the target is killed first (its stop
    // timeout, 10 s, is shorter than the draining proxy's) and the proxy
    // reports the exit status the engine saw, 137 (SIGKILL).
    CHECK((slow.ec || slow.result.exit_code == 128 + SIGKILL));
    if (slow.ec)
        CHECK_FALSE(slow.ec.message().empty());
    // Nothing hangs: the configured timeout (20 s) bounds the whole call,
    // retries included; the margin is for the start (discovery, connect).
    CHECK(ended < 20 + 15);

    // The old dockerd may still be stopping its containers (the proxy
    // drains for up to 20 s): swarm.sh would take it for a running one.
    const auto gone = [&] { return ::kill(std::stoi(pid), 0) != 0; };
    for (int i = 0; i < 600 && !gone(); ++i)
        std::this_thread::sleep_for(100ms);
    REQUIRE(gone());

    const auto t1 = std::chrono::steady_clock::now();
    restore_swarm();
    std::size_t failed = 0;
    const double back = first_good_occ(executor, t1, failed);
    std::cout << "measured: B's dockerd restarted (swarm.sh start): first good call after " << back << " s ("
              << failed << " failed calls before)\n";
    CHECK(back >= 0);
}

TEST_CASE("3 nodes: the link to node B cut mid-command: a clear error within the timeout, then back")
{
    io_thread io;
    const auto c = config(R"(, "command_timeout_ms": 10000)");
    auto executor = make_swarm(io.io.get_executor(), c);
    REQUIRE_FALSE(run(executor, "nextcloud", occ_status).ec);

    const auto ns = std::string("npswarm-b");
    const auto t0 = std::chrono::steady_clock::now();
    captured slow;
    std::thread call([&] {
        io_thread own;
        auto e = make_swarm(own.io.get_executor(), c);
        slow = run(e, "nextcloud", {"php", "occ", "files:scan", "slow30"}, 0ms);
    });
    std::this_thread::sleep_for(2s);
    REQUIRE(run_process({"/usr/sbin/ip", "-n", ns, "link", "set", "eth0", "down"}, {}).exit_code == 0);
    call.join();
    const double ended = seconds_since(t0);
    std::cout << "measured: link to B cut mid-command: the call ended after " << ended << " s with '"
              << (slow.ec ? slow.ec.message() : "exit " + std::to_string(slow.result.exit_code)) << "'\n";
    CHECK(slow.ec);
    // Within the configured timeout (10 s): a dead link does not hold the
    // call until the keepalive gives up (it did: 60 s).
    CHECK(ended < 10 + 15);

    const auto t1 = std::chrono::steady_clock::now();
    REQUIRE(run_process({"/usr/sbin/ip", "-n", ns, "link", "set", "eth0", "up"}, {}).exit_code == 0);
    std::size_t failed = 0;
    const double back = first_good_occ(executor, t1, failed);
    std::cout << "measured: link to B back up: first good call after " << back << " s (" << failed
              << " failed calls before)\n";
    CHECK(back >= 0);
    restore_swarm(); // B rejoined and its tasks run as deployed
}

TEST_CASE("3 nodes: 1,000 commands from A spread over B and C through the pool, none fails")
{
    io_thread io;
    const auto c = config();
    auto executor = make_swarm(io.io.get_executor(), c);
    const auto occ_ref = reference('b', "nextcloud", occ_status);
    const auto photo_ref = reference('c', "photoprism", photoprism_status);
    REQUIRE_FALSE(run(executor, "nextcloud", occ_status).ec);
    const auto b_before = lines(audit_log('b', "nextcloud-proxy"));
    const auto c_before = lines(audit_log('c', "photoprism-proxy"));

    const auto r = run_load(io, executor, 1000, 8, occ_ref.out, photo_ref.out);
    std::cout << "measured: 1000 commands from A (500 on B, 500 on C, 8 in flight, one pool): " << r.seconds
              << " s, " << r.ok << " ok, " << r.failed << " failed";
    for (const auto& [what, n] : r.errors)
        std::cout << "; " << n << "x " << what;
    std::cout << "\n";
    CHECK(r.ok == 1000);
    CHECK(r.failed == 0);
    // Each proxy ran its half (a record when each starts and ends).
    CHECK(lines(audit_log('b', "nextcloud-proxy")) >= b_before + 500);
    CHECK(lines(audit_log('c', "photoprism-proxy")) >= c_before + 500);
}

namespace {

/// Calls in a loop, both targets in turn, each through a new executor
/// (an application's calls), with the key at `key`, until `stop`.
struct call_loop
{
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> ok{0}, failed{0};
    std::string key_;
    executor_config config_;
    std::thread thread;

    // The configuration is made here: Catch2's assertions are for the test's thread.
    call_loop(const std::string& key) : key_(key), config_(config("", key))
    {
        thread = std::thread([this] {
            io_thread io;
            auto e = make_swarm(io.io.get_executor(), config_);
            for (std::size_t i = 0; !stop; ++i) {
                const bool nc = i % 2 == 0;
                const auto r = run(e, nc ? "nextcloud" : "photoprism", nc ? occ_status : photoprism_status);
                if (!r.ec && r.result.exit_code == 0) {
                    ++ok;
                } else {
                    ++failed;
                    std::cout << "  call with " << key_ << " failed: " << r.ec.message() << " " << r.err << "\n";
                }
                std::this_thread::sleep_for(100ms);
            }
        });
    }
    void finish()
    {
        stop = true;
        thread.join();
    }
};

process_result keys_tool(std::vector<std::string> args)
{
    args.insert(args.begin(), {source_dir() + "/scripts/nextprism-keys", "--dir", swarm_dir() + "/keys", "--yes",
                               "--swarm", "--apply"});
    return run_process(args, {"DOCKER_HOST=unix://" + socket_of('a'), "PATH=/usr/bin:/bin:/usr/sbin:/sbin"});
}

} // namespace

TEST_CASE("3 nodes: the client key rotated while commands run: both keys meanwhile, no call fails")
{
    const auto keys = swarm_dir() + "/keys";
    const auto old_key = swarm_dir() + "/rotation-old-key", new_key = swarm_dir() + "/rotation-new-key";
    REQUIRE(run_process({"/usr/bin/install", "-m", "0600", keys + "/client_ed25519", old_key}, {}).exit_code == 0);

    const auto t0 = std::chrono::steady_clock::now();
    call_loop old_caller(old_key);
    std::this_thread::sleep_for(1s);
    // 1. A new key, accepted beside the old one (the proxies restart, node by node).
    const auto rotate = keys_tool({"rotate-client"});
    INFO(rotate.out << rotate.err);
    REQUIRE(rotate.exit_code == 0);
    const double rotated = seconds_since(t0);
    REQUIRE(run_process({"/usr/bin/install", "-m", "0600", keys + "/client_ed25519.next", new_key}, {}).exit_code ==
            0);
    // 2. The callers move to it: both keys work now.
    call_loop new_caller(new_key);
    std::this_thread::sleep_for(3s);
    old_caller.finish();
    // 3. The old key retired (the proxies restart again).
    const auto retire = keys_tool({"retire-client"});
    INFO(retire.out << retire.err);
    REQUIRE(retire.exit_code == 0);
    const double retired = seconds_since(t0);
    std::this_thread::sleep_for(2s);
    new_caller.finish();
    std::cout << "measured: client key rotation: rotate-client --apply done after " << rotated
              << " s, retire-client --apply after " << retired << " s; old key " << old_caller.ok << " ok / "
              << old_caller.failed << " failed, new key " << new_caller.ok << " ok / " << new_caller.failed
              << " failed\n";
    CHECK(old_caller.failed == 0);
    CHECK(new_caller.failed == 0);
    CHECK(old_caller.ok > 0);
    CHECK(new_caller.ok > 0);

    // The old key is refused now, the new one is the key in the directory.
    {
        io_thread io;
        const auto c = config(R"(, "retry": {"strategy": "none"})", old_key);
        auto e = make_swarm(io.io.get_executor(), c);
        const auto r = run(e, "nextcloud", occ_status);
        CHECK(r.ec);
        std::cout << "  the retired key now: " << r.ec.message() << "\n";
    }
    CHECK(run_process({"/usr/bin/cmp", "-s", new_key, keys + "/client_ed25519"}, {}).exit_code == 0);
    // The agent's stack takes the new client key secret.
    restore_swarm();
    const auto photo = from_caller({"photoprism", "photoprism", "status"});
    INFO(photo.err);
    CHECK(photo.exit_code == 0);
}

TEST_CASE("3 nodes: the nextcloud proxies' host key rotated while commands run: both trusted meanwhile, "
          "the old one @revoked after, no call fails")
{
    const auto keys = swarm_dir() + "/keys";
    const auto first_line = [](const std::string& path) {
        std::ifstream in(path);
        std::string type, blob;
        in >> type >> blob;
        return type + " " + blob;
    };
    const auto old_key = first_line(keys + "/host_nextcloud_ed25519.pub");
    REQUIRE(old_key.starts_with("ssh-ed25519 "));

    const auto t0 = std::chrono::steady_clock::now();
    call_loop caller(keys + "/client_ed25519");
    std::this_thread::sleep_for(1s);
    // 1. known_hosts trusts both keys (the callers' config first), then the
    //    nextcloud proxies present the new one (node by node).
    const auto rotate = keys_tool({"rotate-host", "nextcloud"});
    INFO(rotate.out << rotate.err);
    REQUIRE(rotate.exit_code == 0);
    const double rotated = seconds_since(t0);
    const auto new_key = first_line(keys + "/host_nextcloud_ed25519.next.pub");
    REQUIRE(new_key != old_key);
    std::this_thread::sleep_for(3s);
    // 2. The old key retired: known_hosts has the new one and "@revoked * old".
    const auto retire = keys_tool({"retire-host", "nextcloud"});
    INFO(retire.out << retire.err);
    REQUIRE(retire.exit_code == 0);
    const double retired = seconds_since(t0);
    std::this_thread::sleep_for(3s);
    caller.finish();
    std::cout << "measured: nextcloud host key rotation: rotate-host --apply done after " << rotated
              << " s, retire-host --apply after " << retired << " s; " << caller.ok << " calls ok, "
              << caller.failed << " failed\n";
    CHECK(caller.failed == 0);
    CHECK(caller.ok > 0);

    std::ifstream in(keys + "/known_hosts");
    const std::string known((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(known.find("@revoked * " + old_key + "\n") != std::string::npos);
    CHECK(known.find(" " + new_key + "\n") != std::string::npos);
    CHECK(first_line(keys + "/host_nextcloud_ed25519.pub") == new_key);
    // A new connection, with only the new key trusted: the proxies present it.
    {
        io_thread io;
        auto e = make_swarm(io.io.get_executor(), config(R"(, "retry": {"strategy": "none"})"));
        const auto r = run(e, "nextcloud", occ_status);
        INFO(r.ec.message() << " " << r.err);
        CHECK_FALSE(r.ec);
    }
    // The agent on a worker got the new known_hosts config, and a redeploy
    // from stack.env (the test bed's restore) keeps the new host key.
    const auto occ = from_caller({"nextcloud", "php", "occ", "status"});
    INFO(occ.out << occ.err);
    CHECK(occ.exit_code == 0);
    restore_swarm();
    const auto again = from_caller({"nextcloud", "php", "occ", "status"});
    INFO(again.out << again.err);
    CHECK(again.exit_code == 0);
}
