#include <nextprism/executor/config.hpp> // first: the header is self-contained

#include <nextprism/whitelist.hpp>
#include <nextprism/wire/command_string.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "support/docker_fixture.hpp"

// The executor on a real 3-node Swarm (tests/testbed/swarm.sh, ctest
// fixture "swarm"): dockerds A (manager), B and C (workers) in their own
// network namespaces; the stand-in Nextcloud on B, PhotoPrism on C, placed
// by node labels; the proxies deployed with proxy/stack.yml on every node.
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

const std::map<std::string, std::string> containers{{"nextcloud", "nptargets_nextcloud"},
                                                    {"photoprism", "nptargets_photoprism"}};

/// The configuration a caller on node A would write (nextprism-run's
/// JSON), defaults everywhere else.
executor_config config(const std::string& extra = "")
{
    const std::string keys = swarm_dir() + "/keys";
    const std::string text = R"({"docker_host": "unix://)" + socket_of('a') + R"(",
        "containers": {"nextcloud": "nptargets_nextcloud", "photoprism": "nptargets_photoprism"},
        "ssh": {"private_key": ")" + keys + R"(/client_ed25519", "known_hosts": ")" + keys +
                             R"(/known_hosts"})" + extra + "}";
    error_code ec;
    std::string reason;
    auto c = executor_config::from_json(text, ec, reason);
    INFO(reason);
    REQUIRE_FALSE(ec);
    return c;
}

direct_transport::options with_containers(const std::map<std::string, std::string>& m)
{
    direct_transport::options o;
    o.containers = m;
    return o;
}

/// examples/assemblies.cpp's make_swarm.
swarm_executor make_swarm(net::any_io_executor ex, const executor_config& c)
{
    return {ex,
            ssh_proxy_transport(ex, c.pool, c.ssh_user),
            swarm_labels(ex, c.discovery, c.swarm),
            c.retry(),
            direct_transport(ex, *c.engine, with_containers(c.containers)),
            c.executor_options(default_whitelist())};
}

struct captured
{
    error_code ec;
    command_result result;
    std::string out, err;
};

template<class Executor>
captured run(Executor& e, const std::string& service, std::vector<std::string> argv)
{
    auto out = std::make_shared<std::string>(), err = std::make_shared<std::string>();
    auto [ec, result] = wait_for<command_result>([&](auto h) {
        e.async_run({service, std::move(argv), 60s},
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
                           direct_transport(io.io.get_executor(), b, with_containers(containers)),
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
    CHECK(p.proxy_services[0].running == 3); // global: one per node

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
    CHECK(b_log.find(address('a')) != std::string::npos); // SSH_CLIENT: the caller on A
    CHECK(lines(audit_log('a', "nextcloud-proxy")) + lines(audit_log('a', "photoprism-proxy")) == a_before);
}

TEST_CASE("3 nodes: a refused command is refused by the executor and by B's validator, with the reason")
{
    const std::vector<std::string> bad{"php", "occ", "config:list"};
    const auto expected = whitelist::default_policy().check("nextcloud", bad);
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
