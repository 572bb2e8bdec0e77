// `php occ status` in the stand-in Nextcloud container, two ways on the
// same node: the direct transport in this process (Docker Engine API over
// the engine's unix socket) and through the proxy (a kept multiplexed SSH
// connection to sshd, the validator executing the command through the same
// engine). One command in flight; n commands per process, rows interleaved
// by benchmarks/run.sh (NEXTPRISM_BENCH_DOCKER=1), which starts the engine
// and the proxy. Also, for reference, an exec's own cost: `true` through
// the library's Docker client directly (create, start + stream, inspect),
// with the create phase timed apart. Environment: DOCKER_HOST (the
// engine), NEXTPRISM_SSHD_DIR, NEXTPRISM_SSHD_PORT.
#include "io_runner.hpp"
#include "support.hpp"

#include <nextprism/docker/client.hpp>
#include <nextprism/transport/direct.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/ssh/pool.hpp>

#include <benchmark/benchmark.h>

namespace {

const std::vector<std::string> command{"php", "occ", "status"};
constexpr const char* standin = "np-ssh-nextcloud"; // tests/testbed/sshd.sh's stand-in

void direct(benchmark::State& state)
{
    bench::io_runner r;
    nextprism::error_code ec;
    nextprism::direct_transport::options o;
    o.targets.set("nextcloud", standin);
    nextprism::direct_transport transport(r.io.get_executor(), nextprism::docker::engine_address_from_environment(ec), o);
    const auto allowed = nextprism::whitelist::builtin().check("nextcloud", command).command;
    bench::one_at_a_time(state, static_cast<int>(state.range(0)), 1, [&] {
        return bench::completed_ok([&](auto done) { transport.async_run(allowed, nullptr, done); });
    });
}

void proxied(benchmark::State& state)
{
    bench::io_runner r;
    nextprism::ssh_pool_options o;
    o.credentials.private_key_file = bench::env("NEXTPRISM_SSHD_DIR") + "/client_ed25519";
    o.credentials.known_hosts_file = bench::env("NEXTPRISM_SSHD_DIR") + "/known_hosts";
    const nextprism::ssh::endpoint ep{"127.0.0.1", static_cast<std::uint16_t>(std::stoi(bench::env("NEXTPRISM_SSHD_PORT"))),
                                      "nextprism"};
    nextprism::ssh_pool pool(r.io.get_executor(), o);
    bench::one_at_a_time(state, static_cast<int>(state.range(0)), 1, [&] {
        return bench::completed_ok([&](auto done) {
            pool.async_run(ep, command, nullptr, std::chrono::milliseconds(0), done);
        });
    });
}

/// `true` by the Docker client itself: no whitelist, no transport, no
/// lookup (the container's id is resolved once, untimed). The create phase
/// ends where the client reports the exec created (on_starting); the rest
/// is start, the (empty) stream and the inspect for the exit code.
void exec_true(benchmark::State& state)
{
    using clock_type = bench::recorder::clock_type;
    bench::io_runner r;
    nextprism::error_code ec;
    nextprism::docker::client docker(r.io.get_executor(), nextprism::docker::engine_address_from_environment(ec));
    std::promise<std::string> id;
    docker.async_inspect_container(standin, [&](nextprism::error_code e, nextprism::docker::container_info c) {
        id.set_value(e ? std::string() : c.id);
    });
    const std::string container = id.get_future().get();
    if (container.empty()) {
        state.SkipWithError("the stand-in container is not there");
        return;
    }
    std::vector<double> create_ms;
    const auto run_one = [&] {
        nextprism::docker::exec_spec spec;
        spec.argv = {"true"};
        const auto t0 = clock_type::now();
        spec.on_starting = [&, t0](std::string_view) {
            create_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
        };
        return bench::completed_ok([&](auto done) {
            docker.async_exec(container, std::move(spec), [](nextprism::output_stream, std::string_view) {},
                              std::chrono::milliseconds(0), done);
        });
    };
    bench::one_at_a_time(state, static_cast<int>(state.range(0)), 1, run_one);
    if (create_ms.size() > 1) { // the warm-up's is the first: left out
        create_ms.erase(create_ms.begin());
        std::sort(create_ms.begin(), create_ms.end());
        state.counters["create_p50_ms"] = create_ms[create_ms.size() / 2];
    }
}

} // namespace

BENCHMARK(direct)->ArgName("n")->Arg(30)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(proxied)->ArgName("n")->Arg(30)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(exec_true)->ArgName("n")->Arg(30)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
