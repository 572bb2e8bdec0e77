#include <nextprism/swarm_executor.hpp> // first: the header is self-contained

#include <nextprism/wire/command_string.hpp>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>

#include "support/corpus.hpp"
#include "support/docker_fixture.hpp"
#include "support/stack_fixture.hpp"

// The executor on a real single-node Swarm: stand-in targets and the
// proxies deployed with `docker stack deploy` (tests/testbed/stack.sh,
// ctest fixture "stack"), reached over real SSH, found by their labels.

using namespace nextprism;
using namespace std::chrono_literals;
using namespace nextprism::test;

namespace {

const proxy_endpoint nextcloud_proxy{"127.0.0.1", 22622, {}};
const std::string& proxy_service = nextcloud_proxy_service;

ssh_pool_options pool_options()
{
    ssh_pool_options o;
    o.credentials.private_key_file = stack_dir() + "/client_ed25519";
    o.credentials.known_hosts_file = stack_dir() + "/known_hosts";
    o.session.connect_timeout = 10s;
    o.max_connections_per_host = 2;
    return o;
}

const target_names stack_targets{{"nextcloud", "nptargets_nextcloud"},
                                                       {"photoprism", "nptargets_photoprism"}};

swarm_label_source::options label_options()
{
    swarm_label_source::options o;
    o.engine = engine();
    o.targets = stack_targets;
    return o;
}

swarm_executor make_swarm_executor(net::any_io_executor ex, bool prefer_local)
{
    swarm_executor_options opts;
    opts.prefer_local = prefer_local;
    exponential_backoff backoff;
    backoff.base = 100ms;
    backoff.max_attempts = 3;
    return swarm_executor(ex, ssh_proxy_transport(ex, pool_options()),
                          swarm_labels(ex, discovery_options{}, label_options()), any_retry(backoff),
                          direct_transport(ex, engine(), {.targets = stack_targets, .output_gate = {}, .client = {}}), opts);
}

/// Output with PhotoPrism's log timestamps (time="...") and durations
/// blanked: two runs straddle a second and never take the same time.
std::string without_times(const std::string& s)
{
    static const std::regex stamp(R"(time="[^"]*")");
    static const std::regex duration(R"([0-9]+(\.[0-9]+)?(ns|µs|us|ms|s)\b)");
    return std::regex_replace(std::regex_replace(s, stamp, "time=T"), duration, "D");
}

struct captured
{
    error_code ec;
    command_result result;
    std::string output;
};

template<class Executor>
captured run(Executor& e, const std::string& service, std::vector<std::string> argv,
             std::chrono::milliseconds timeout = 60s)
{
    auto output = std::make_shared<std::string>();
    auto [ec, result] = wait_for<command_result>([&](auto h) {
        e.async_run({service, std::move(argv), timeout},
                    [output](output_stream, std::string_view d) { output->append(d); }, std::move(h));
    });
    return {ec, result, *output};
}

/// Waits until the proxy's sshd greets (or stops greeting).
bool proxy_answers(std::uint16_t port)
{
    auto r = run_process({"/usr/bin/timeout", "2", "/bin/bash", "-c",
                          "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(port) + " && head -c 8 <&3"},
                         {});
    return r.out == "SSH-2.0-";
}

void wait_proxy(bool up)
{
    for (int i = 0; i < 600; ++i) {
        if (proxy_answers(22622) == up)
            return;
        std::this_thread::sleep_for(100ms);
    }
    FAIL("the nextcloud proxy did not " << (up ? "come back" : "stop") << " in 60 s");
}

/// Stops the proxy service's task (a global service cannot be scaled: a
/// constraint no node meets), or lets it run again.
void set_proxy_running(bool running)
{
    auto r = docker_cli({"service", "update", "--detach", running ? "--constraint-rm" : "--constraint-add",
                         "node.hostname==nextprism-nowhere", proxy_service});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
}

} // namespace

TEST_CASE("swarm_labels: finds the deployed proxies, the target's node and the replica counts")
{
    io_thread io;
    swarm_labels discovery(io.io.get_executor(), discovery_options{}, label_options());
    auto [ec, p] = wait_for<placement>([&](auto h) { discovery.async_locate("nextcloud", std::move(h)); });
    REQUIRE_FALSE(ec);
    CHECK(p.swarm_active == true);
    CHECK(p.target_local == true);
    REQUIRE(p.proxies.size() == 1);
    CHECK(p.proxies[0] == nextcloud_proxy);
    CHECK_FALSE(p.proxies[0].node_id.empty());
    REQUIRE(p.proxy_services.size() == 1);
    CHECK(p.proxy_services[0].name == proxy_service);
    CHECK(p.proxy_services[0].running == 1);
    CHECK_FALSE(p.proxy_services[0].desired.has_value()); // global

    // The first lookup: /_ping (twice if the events stream negotiated at
    // the same moment), /info (the engine's identity, kept), then
    // services, tasks and nodes.
    const auto first = discovery.source().engine().stats();
    CHECK(first.requests >= 5);
    CHECK(first.requests <= 6);

    auto [ec2, photo] = wait_for<placement>([&](auto h) { discovery.async_locate("photoprism", std::move(h)); });
    REQUIRE_FALSE(ec2);
    REQUIRE(photo.proxies.size() == 1);
    CHECK(photo.proxies[0].port == 22623);
    // Uncached, identity known: three GETs, on the connection kept from the first.
    const auto second = discovery.source().engine().stats();
    CHECK(second.requests - first.requests == 3);
    CHECK(second.connections == first.connections);

    // A target that runs nowhere: no proxy can reach it, and it is not here.
    swarm_label_source::options o = label_options();
    o.targets.set("nextcloud", "nptargets_nosuch");
    swarm_labels elsewhere(io.io.get_executor(), discovery_options{}, o);
    auto [ec3, none] = wait_for<placement>([&](auto h) { elsewhere.async_locate("nextcloud", std::move(h)); });
    REQUIRE_FALSE(ec3);
    CHECK(none.target_local == false);
    CHECK(none.proxies.empty());
}

TEST_CASE("swarm_labels: a service event from the engine invalidates the cache")
{
    io_thread io;
    swarm_labels discovery(io.io.get_executor(), discovery_options{}, label_options());
    auto locate = [&] {
        return wait_for<placement>([&](auto h) { discovery.async_locate("nextcloud", std::move(h)); });
    };
    REQUIRE_FALSE(locate().first);
    REQUIRE_FALSE(locate().first);
    CHECK(discovery.source_lookups() == 1); // cached
    std::this_thread::sleep_for(500ms);      // the event stream is open
    auto r = docker_cli({"service", "update", "--detach", "--label-add",
                         "io.nextprism.test.touched=" + unique_name("t"), proxy_service});
    REQUIRE(r.exit_code == 0);
    bool refreshed = false;
    for (int i = 0; i < 100 && !refreshed; ++i) {
        std::this_thread::sleep_for(100ms);
        REQUIRE_FALSE(locate().first);
        refreshed = discovery.source_lookups() > 1;
    }
    CHECK(refreshed);
    // Leave the proxy as found: wait until its task runs (healthy) again,
    // should the update have replaced it.
    bool running = false;
    for (int i = 0; i < 300 && !running; ++i) {
        const auto ps = docker_cli({"service", "ps", "--filter", "desired-state=running", "--format",
                                    "{{.CurrentState}}", proxy_service});
        running = ps.out.starts_with("Running") && ps.out.find("\n") + 1 == ps.out.size();
        if (!running)
            std::this_thread::sleep_for(100ms);
    }
    CHECK(running);
}

TEST_CASE("executor: every whitelisted command through the proxy and directly, same output")
{
    io_thread io;
    auto proxied = make_swarm_executor(io.io.get_executor(), false);
    auto direct = make_swarm_executor(io.io.get_executor(), true);
    std::size_t n = 0;
    for (const auto& c : load_corpus()) {
        if (c.expectation != "ok")
            continue;
        error_code pec;
        auto argv = parse_command(c.input, pec);
        REQUIRE_FALSE(pec);
        INFO("corpus line " << c.line << ": " << c.input);
        const auto via_proxy = run(proxied, c.service, argv);
        const auto via_engine = run(direct, c.service, argv);
        REQUIRE_FALSE(via_proxy.ec);
        REQUIRE_FALSE(via_engine.ec);
        CHECK(via_proxy.result.exit_code == via_engine.result.exit_code);
        CHECK(via_proxy.result.failure_lines.size() == via_engine.result.failure_lines.size());
        if (argv.size() > 1 && argv[0] == "photoprism" && argv[1] == "import") {
            // import moves what it finds: the second run finds what the first left.
            CHECK(via_proxy.output.find("moving media files from /photoprism/import") != std::string::npos);
            CHECK(via_engine.output.find("moving media files from /photoprism/import") != std::string::npos);
        } else {
            CHECK(without_times(via_proxy.output) == without_times(via_engine.output));
        }
        ++n;
    }
    REQUIRE(n >= 30);
    CHECK(proxied.statistics().proxied == n);
    CHECK(proxied.statistics().local == 0);
    CHECK(direct.statistics().local == n);
    CHECK(direct.statistics().proxied == 0);

    // The proxy's audit saw them: its lines are on the container's stdout
    // (the drainer), what `docker logs` / `docker service logs` show. (The
    // container's: `docker service logs` without --follow can hang here.)
    auto id = trim(docker_cli({"ps", "-q", "--filter", "label=com.docker.swarm.service.name=" + proxy_service}).out);
    auto log = docker_cli({"logs", id});
    REQUIRE(log.exit_code == 0);
    CHECK(log.out.find("\"event\":\"finished\"") != std::string::npos);
}

TEST_CASE("executor: proxy stopped mid-run → the scan finishes there (drain); down: local; back: used again")
{
    io_thread io;
    auto ex = io.io.get_executor();
    using static_ssh_executor = basic_swarm_executor<ssh_proxy_transport, static_list, fixed_retry, direct_transport>;
    // 4: while the task stops, the host-mode port's docker-proxy (engines
    // without iptables) still accepts once and drops the handshake.
    fixed_retry retry{100ms, 4};
    discovery_options d;
    d.health = health_check::none; // keep offering the endpoint: the breaker decides
    swarm_executor_options opts;
    opts.prefer_local = false;
    opts.breaker = {3, 3s, 1};
    static_ssh_executor executor(
        ex, ssh_proxy_transport(ex, pool_options()),
        static_list(ex, d, static_list_source::options{{{"nextcloud", {nextcloud_proxy}}}, {"nextcloud"}}),
        retry, direct_transport(ex, engine(), {.targets = stack_targets, .output_gate = {}, .client = {}}), opts);
    using state = endpoint_health::state;
    const std::vector<std::string> status{"php", "occ", "status"};

    REQUIRE_FALSE(run(executor, "nextcloud", status).ec);
    REQUIRE(executor.statistics().proxied == 1);

    // A 6-second scan through the proxy; the proxy is stopped under it: it
    // drains (proxy/entrypoint.sh), the scan finishes there.
    auto scan = std::async(std::launch::async, [&] {
        return run(executor, "nextcloud", {"php", "occ", "files:scan", "slow6"});
    });
    std::this_thread::sleep_for(1500ms);
    set_proxy_running(false);
    const auto scanned = scan.get();
    INFO(scanned.ec.message());
    REQUIRE_FALSE(scanned.ec);
    CHECK(scanned.result.exit_code == 0);
    CHECK_FALSE(scanned.result.started_in.empty()); // where the proxy started it
    CHECK(executor.statistics().fallbacks == 0);    // it was not run again
    wait_proxy(false);

    // Down: runs keep working, locally (a refused connection is neutral;
    // handshakes the host-mode port's docker-proxy drops count as failures).
    for (int i = 0; i < 5; ++i)
        REQUIRE_FALSE(run(executor, "nextcloud", status).ec);
    CHECK(executor.statistics().fallbacks >= 5);

    // The Swarm-label executor meanwhile finds no proxy and runs locally.
    auto labelled = make_swarm_executor(ex, false);
    const auto fallback = run(labelled, "nextcloud", status);
    REQUIRE_FALSE(fallback.ec);
    CHECK(labelled.statistics().local == 1);

    // Back: the proxy is used again, at the latest once an open breaker
    // (open_for 3 s) lets its probe through; then the breaker is closed.
    set_proxy_running(true);
    wait_proxy(true);
    const auto proxied_before = executor.statistics().proxied;
    const auto back = std::chrono::steady_clock::now();
    bool through_proxy = false;
    for (int i = 0; i < 100 && !through_proxy; ++i) {
        const auto attempt_before = executor.statistics().proxied;
        REQUIRE_FALSE(run(executor, "nextcloud", status).ec);
        through_proxy = executor.statistics().proxied > attempt_before &&
                        executor.health().current(nextcloud_proxy) == state::closed;
        if (!through_proxy)
            std::this_thread::sleep_for(200ms);
    }
    std::cout << "measured: the restarted proxy was used again "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - back).count()
              << " s after it answered (" << executor.statistics().proxied - proxied_before << " proxied attempts)\n";
    CHECK(through_proxy);
    CHECK(executor.health().current(nextcloud_proxy) == state::closed);
}
