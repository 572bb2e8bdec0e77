// `php occ status` in the stand-in Nextcloud container, two ways on the
// same node: the direct transport in this process (Docker Engine API over
// the engine's unix socket) and through the proxy (a kept multiplexed SSH
// connection to sshd, the validator executing the command through the same
// engine). One command in flight; n commands per process, rows interleaved
// by benchmarks/run.sh (NEXTPRISM_BENCH_DOCKER=1), which starts the engine
// and the proxy. Environment: DOCKER_HOST (the engine), NEXTPRISM_SSHD_DIR,
// NEXTPRISM_SSHD_PORT.
#include "latency.hpp"

#include <nextprism/transport/direct.hpp>
#include <nextprism/ssh/pool.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include <future>
#include <thread>

namespace {

using clock_type = std::chrono::steady_clock;

std::string env(const char* name)
{
    const char* v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " not set: use benchmarks/run.sh");
    return v;
}

const std::vector<std::string> command{"php", "occ", "status"};

struct runner
{
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~runner()
    {
        work.reset();
        thread.join();
    }
};

template<class Run>
void rows(benchmark::State& state, Run run_one)
{
    const int n = static_cast<int>(state.range(0));
    if (!run_one()) { // connect / warm, untimed
        state.SkipWithError("warm-up command failed");
        return;
    }
    bench::recorder rec(n);
    for (auto _ : state) {
        rec.start();
        for (int i = 0; i < n; ++i) {
            const auto t0 = clock_type::now();
            rec.finish(t0, run_one());
        }
        rec.stop();
    }
    rec.publish(state, 1);
}

void direct(benchmark::State& state)
{
    runner r;
    nextprism::error_code ec;
    nextprism::direct_transport::options o;
    o.containers["nextcloud"] = "np-ssh-nextcloud"; // tests/testbed/sshd.sh's stand-in
    nextprism::direct_transport transport(r.io.get_executor(), nextprism::docker::engine_address_from_environment(ec), o);
    const auto allowed = nextprism::whitelist::default_policy().check("nextcloud", command).command;
    rows(state, [&] {
        std::promise<bool> ok;
        transport.async_run(allowed, nullptr,
                            [&](nextprism::error_code e, nextprism::command_result res) {
                                ok.set_value(!e && res.exit_code == 0);
                            });
        return ok.get_future().get();
    });
}

void proxied(benchmark::State& state)
{
    runner r;
    nextprism::ssh_pool_options o;
    o.credentials.private_key_file = env("NEXTPRISM_SSHD_DIR") + "/client_ed25519";
    o.credentials.known_hosts_file = env("NEXTPRISM_SSHD_DIR") + "/known_hosts";
    const nextprism::ssh::endpoint ep{"127.0.0.1", static_cast<std::uint16_t>(std::stoi(env("NEXTPRISM_SSHD_PORT"))),
                                      "nextprism"};
    nextprism::ssh_pool pool(r.io.get_executor(), o);
    rows(state, [&] {
        std::promise<bool> ok;
        pool.async_run(ep, command, nullptr, std::chrono::milliseconds(0),
                       [&](nextprism::error_code e, nextprism::command_result res) {
                           ok.set_value(!e && res.exit_code == 0);
                       });
        return ok.get_future().get();
    });
}

} // namespace

BENCHMARK(direct)->ArgName("n")->Arg(30)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(proxied)->ArgName("n")->Arg(30)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
