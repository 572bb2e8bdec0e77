// Cost of one command through the proxy, by client, side by side against
// one sshd: nextprism's pools (multiplexed, exclusive) at k commands in
// flight, a fresh connection per command, OpenSSH's client with and without
// ControlMaster, paramiko. The proxy is the real sshd with
// proxy/sshd_config and nextprism-validate in dry-run mode, so what is
// measured is the transport and the proxy's decision, not docker exec.
// Run by benchmarks/run.sh (rows interleaved across rounds, one row per
// process), which starts that proxy; the floor these rows are compared to is
// benchmarks/floor.cpp. Every row times n commands once (Iterations(1)) and
// publishes per-command latency counters (latency.hpp). The memory rows
// (pooled_memory) open conns connections, run a command on each and
// publish what they cost this process and the sshd (support.hpp).
#include "io_runner.hpp"
#include "support.hpp"

#include <nextprism/ssh/pool.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include <fcntl.h>
#include <future>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace {

using clock_type = std::chrono::steady_clock;

using bench::env;

nextprism::ssh::endpoint endpoint()
{
    return {"127.0.0.1", static_cast<std::uint16_t>(std::stoi(env("NEXTPRISM_SSHD_PORT"))), "nextprism"};
}

nextprism::ssh_pool_options options()
{
    nextprism::ssh_pool_options o;
    o.credentials.private_key_file = env("NEXTPRISM_SSHD_DIR") + "/client_ed25519";
    o.credentials.known_hosts_file = env("NEXTPRISM_SSHD_DIR") + "/known_hosts";
    return o;
}

const std::vector<std::string> command{"php", "occ", "files:scan", "--path=/alice/files/My Photos"};

using runner = bench::io_runner;

/// n commands, k in flight (a closed loop: each completion launches the
/// next); burst: all n launched at once, latency counted from the launch.
template<class Pool>
void run_batch(Pool& pool, int n, int k, bool burst, bench::recorder* rec,
               const std::vector<std::string>& argv = command)
{
    std::atomic<int> started{0}, finished{0};
    std::promise<void> done;
    const auto t_burst = clock_type::now();
    std::function<void()> launch = [&] {
        if (started++ >= n)
            return;
        const auto t0 = burst ? t_burst : clock_type::now();
        pool.async_run(endpoint(), argv, nullptr, std::chrono::milliseconds(0),
                       [&, t0](nextprism::error_code ec, nextprism::command_result r) {
                           if (rec)
                               rec->finish(t0, !ec && r.exit_code == 0);
                           if (++finished == n)
                               done.set_value();
                           else if (!burst)
                               launch();
                       });
    };
    for (int i = 0; i < (burst ? n : k); ++i)
        launch();
    done.get_future().wait();
}

/// Args k, n, burst. The multiplexed pool gets the floor loop's shape:
/// 7 channels per connection, ceil(k / 7) connections; the exclusive pool
/// k connections (burst: 35, the slots the floor's burst row has).
template<class Strategy>
void pooled(benchmark::State& state)
{
    const int k = static_cast<int>(state.range(0));
    const int n = static_cast<int>(state.range(1));
    const bool burst = state.range(2) != 0;
    auto o = options();
    constexpr bool multiplexed = std::is_same_v<Strategy, nextprism::multiplexed>;
    if (multiplexed) {
        o.max_sessions = 7;
        o.max_connections_per_host = static_cast<std::size_t>((k + 6) / 7);
    } else {
        o.max_connections_per_host = static_cast<std::size_t>(k);
    }
    runner r;
    nextprism::basic_ssh_pool<Strategy> pool(r.io.get_executor(), o);
    run_batch(pool, k, k, false, nullptr); // connect and warm every connection, untimed
    bench::recorder rec(n);
    for (auto _ : state) {
        rec.start();
        run_batch(pool, n, k, burst, &rec);
        rec.stop();
    }
    rec.publish(state, static_cast<double>(pool.statistics(endpoint()).created));
}

/// A new pool (connect, authenticate, warm-up probe) for every command.
void fresh_connection(benchmark::State& state)
{
    const int n = static_cast<int>(state.range(1));
    runner r;
    bench::one_at_a_time(state, n, n, [&] {
        nextprism::ssh_pool pool(r.io.get_executor(), options());
        return bench::completed_ok([&](auto done) {
            pool.async_run(endpoint(), command, nullptr, std::chrono::milliseconds(0), done);
        });
    });
}

/// Args conns. What conns kept connections cost, each with a command run
/// (the multiplexed pool: 7 channels on each at once, its max_sessions;
/// the exclusive pool one): this process's RSS and the sshd's PSS, after
/// minus before, per connection. The before is taken with the I/O thread
/// running and nothing connected, so one-time set-up (crypto, libssh2)
/// is in it: report.py also gives the slope between two counts. The
/// command is NEXTPRISM_BENCH_HOLD (run.sh: `sleep 2` through a plain
/// shell): a dry-run decision ends before the next connection is up and
/// the pool reuses the freed one, so conns would not all be opened.
template<class Strategy>
void pooled_memory(benchmark::State& state)
{
    const int conns = static_cast<int>(state.range(0));
    constexpr bool multiplexed = std::is_same_v<Strategy, nextprism::multiplexed>;
    const int per_conn = multiplexed ? 7 : 1;
    const char* held = std::getenv("NEXTPRISM_BENCH_HOLD"); // unset: the dry-run proxy's command (the smoke test)
    const auto hold = held ? std::vector<std::string>{"/bin/sh", "-c", held} : command;
    auto o = options();
    o.max_sessions = static_cast<std::size_t>(per_conn);
    o.max_connections_per_host = static_cast<std::size_t>(conns);
    runner r;
    const bench::memory_probe probe;
    nextprism::basic_ssh_pool<Strategy> pool(r.io.get_executor(), o);
    bench::recorder rec(conns * per_conn);
    for (auto _ : state) {
        rec.start();
        run_batch(pool, conns * per_conn, conns * per_conn, false, &rec, hold);
        rec.stop();
    }
    rec.publish(state, 0);
    const auto created = static_cast<double>(pool.statistics(endpoint()).created);
    probe.publish(state, created > 0 ? created : conns, state.counters["failures"]);
}

int spawn_wait(const std::vector<std::string>& argv)
{
    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    char* envp[] = {nullptr};
    posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// How long the ControlMaster outlives its last command (the smoke test: 2 s).
std::string persist()
{
    const char* v = std::getenv("NEXTPRISM_BENCH_CONTROLPERSIST");
    return v ? v : "120";
}

std::vector<std::string> openssh(bool master)
{
    const auto dir = env("NEXTPRISM_SSHD_DIR");
    std::vector<std::string> argv{"/usr/bin/ssh", "-p", env("NEXTPRISM_SSHD_PORT"), "-i", dir + "/client_ed25519",
                                  "-o", "UserKnownHostsFile=" + dir + "/known_hosts", "-o", "BatchMode=yes",
                                  "-o", "IdentitiesOnly=yes"};
    if (master) {
        argv.insert(argv.end(), {"-o", "ControlMaster=auto", "-o", "ControlPath=" + dir + "/cm-%C",
                                 "-o", "ControlPersist=" + persist()});
    } else {
        argv.insert(argv.end(), {"-o", "ControlPath=none"});
    }
    argv.insert(argv.end(), {"nextprism@127.0.0.1", "php occ files:scan '--path=/alice/files/My Photos'"});
    return argv;
}

/// One spawned `ssh` per command; master: a ControlMaster started by the
/// untimed warm-up, that every command goes through.
void openssh_row(benchmark::State& state, bool master)
{
    const auto argv = openssh(master);
    const int n = static_cast<int>(state.range(1));
    bench::one_at_a_time(state, n, master ? 1 : n, [&] { return spawn_wait(argv) == 0; });
}

/// A paramiko client in a python3 process, driven one command per line.
class paramiko_peer
{
public:
    explicit paramiko_peer(const std::string& mode)
    {
        const auto dir = env("NEXTPRISM_SSHD_DIR");
        std::vector<std::string> argv{"/usr/bin/python3", NEXTPRISM_SOURCE_DIR "/benchmarks/paramiko_peer.py",
                                      "127.0.0.1", env("NEXTPRISM_SSHD_PORT"), "nextprism",
                                      dir + "/client_ed25519", dir + "/known_hosts", mode,
                                      "php occ files:scan '--path=/alice/files/My Photos'"};
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        int to_child[2], from_child[2];
        if (::pipe(to_child) != 0 || ::pipe(from_child) != 0)
            return;
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, to_child[0], 0);
        posix_spawn_file_actions_adddup2(&actions, from_child[1], 1);
        posix_spawn_file_actions_addclose(&actions, to_child[1]);
        posix_spawn_file_actions_addclose(&actions, from_child[0]);
        char* envp[] = {nullptr};
        if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp) != 0)
            pid_ = -1;
        posix_spawn_file_actions_destroy(&actions);
        ::close(to_child[0]);
        ::close(from_child[1]);
        in_ = to_child[1];
        out_ = from_child[0];
    }
    ~paramiko_peer()
    {
        ::close(in_);
        ::close(out_);
        int status = 0;
        if (pid_ > 0)
            waitpid(pid_, &status, 0);
    }

    /// One command; false when the peer is gone or the command failed.
    bool run()
    {
        if (::write(in_, "\n", 1) != 1)
            return false;
        std::string line;
        char c;
        while (::read(out_, &c, 1) == 1 && c != '\n')
            line += c;
        return line == "ok 0";
    }

private:
    pid_t pid_ = -1;
    int in_ = -1;
    int out_ = -1;
};

/// paramiko's round trip (its own CPU is in the peer, not in cpu_ms_per_cmd).
void paramiko(benchmark::State& state, const char* mode)
{
    const int n = static_cast<int>(state.range(1));
    paramiko_peer peer(mode);
    if (!peer.run()) { // connects (reused) and warms up, outside the timing
        state.SkipWithError("paramiko failed: is python3-paramiko installed?");
        return;
    }
    bench::recorder rec(n);
    for (auto _ : state) {
        rec.start();
        for (int i = 0; i < n; ++i) {
            const auto t0 = clock_type::now();
            const bool ok = peer.run();
            rec.finish(t0, ok);
            if (!ok) { // the peer has exited (its stderr says why): stop the row
                state.SkipWithError(("paramiko failed at command " + std::to_string(i)).c_str());
                return;
            }
        }
        rec.stop();
    }
    rec.publish(state, std::string(mode) == "reused" ? 1 : n);
}

} // namespace

// Args: k (commands in flight), n (commands timed), burst. One iteration of
// n commands per process; benchmarks/run.sh picks rows with --benchmark_filter.
#define NP_ROW ->ArgNames({"k", "n", "burst"})->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond)
BENCHMARK_TEMPLATE(pooled, nextprism::multiplexed) NP_ROW
    ->Args({1, 300, 0})->Args({8, 800, 0})->Args({32, 1000, 0})->Args({128, 1000, 0})->Args({35, 1000, 1})
    ->Args({2, 4, 0});
BENCHMARK_TEMPLATE(pooled, nextprism::exclusive) NP_ROW
    ->Args({1, 300, 0})->Args({8, 800, 0})->Args({32, 1000, 0})->Args({35, 1000, 1})->Args({2, 4, 0});
BENCHMARK_TEMPLATE(pooled_memory, nextprism::multiplexed)
    ->ArgName("conns")->Arg(1)->Arg(8)->Arg(32)->Arg(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(pooled_memory, nextprism::exclusive)
    ->ArgName("conns")->Arg(1)->Arg(8)->Arg(32)->Arg(2)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(fresh_connection) NP_ROW
    ->Args({1, 20, 0})->Args({1, 1, 0});
BENCHMARK_CAPTURE(openssh_row, controlmaster, true) NP_ROW
    ->Args({1, 100, 0})->Args({1, 1, 0});
BENCHMARK_CAPTURE(openssh_row, fresh, false) NP_ROW
    ->Args({1, 20, 0})->Args({1, 1, 0});
BENCHMARK_CAPTURE(paramiko, reused_connection, "reused") NP_ROW
    ->Args({1, 200, 0})->Args({1, 1, 0});
BENCHMARK_CAPTURE(paramiko, fresh_connection, "fresh") NP_ROW
    ->Args({1, 20, 0})->Args({1, 1, 0});
