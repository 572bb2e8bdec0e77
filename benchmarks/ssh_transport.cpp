// Cost of one command through the proxy, by transport, side by side in one
// run: nextprism's pool (multiplexed, exclusive), a fresh libssh2
// connection per command, and OpenSSH's client with and without its own
// connection multiplexing (ControlMaster). The proxy is the real sshd with
// proxy/sshd_config and nextprism-validate in dry-run mode, so what is
// measured is the transport, not docker exec. Run by
// benchmarks/run-ssh-benchmark.sh, which starts that proxy.
#include <nextprism/ssh_pool.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include <future>
#include <spawn.h>
#include <sys/wait.h>
#include <thread>

namespace {

std::string env(const char* name)
{
    const char* v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " not set: use run-ssh-benchmark.sh");
    return v;
}

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

template<class Pool>
void run_batch(Pool& pool, int total, int in_flight, benchmark::State& state)
{
    std::atomic<int> started{0}, finished{0};
    std::promise<void> done;
    std::function<void()> launch = [&] {
        if (started++ >= total)
            return;
        pool.async_run(endpoint(), command, nullptr, std::chrono::milliseconds(0),
                       [&](nextprism::error_code ec, nextprism::command_result r) {
                           if (ec || r.exit_code != 0)
                               state.SkipWithError("command failed");
                           if (++finished == total)
                               done.set_value();
                           else
                               launch();
                       });
    };
    for (int i = 0; i < in_flight; ++i)
        launch();
    done.get_future().wait();
}

template<class Strategy>
void pooled(benchmark::State& state)
{
    runner r;
    nextprism::basic_ssh_pool<Strategy> pool(r.io.get_executor(), options());
    run_batch(pool, 1, 1, state); // connect and warm outside the timing
    const int in_flight = static_cast<int>(state.range(0));
    for (auto _ : state)
        run_batch(pool, in_flight, in_flight, state);
    state.SetItemsProcessed(state.iterations() * in_flight);
    state.counters["connections"] = static_cast<double>(pool.statistics(endpoint()).created);
}

void fresh_connection(benchmark::State& state)
{
    runner r;
    for (auto _ : state) {
        nextprism::ssh_pool pool(r.io.get_executor(), options());
        run_batch(pool, 1, 1, state);
    }
    state.SetItemsProcessed(state.iterations());
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

std::vector<std::string> openssh(bool master)
{
    const auto dir = env("NEXTPRISM_SSHD_DIR");
    std::vector<std::string> argv{"/usr/bin/ssh", "-p", env("NEXTPRISM_SSHD_PORT"), "-i", dir + "/client_ed25519",
                                  "-o", "UserKnownHostsFile=" + dir + "/known_hosts", "-o", "BatchMode=yes",
                                  "-o", "IdentitiesOnly=yes"};
    if (master) {
        argv.insert(argv.end(), {"-o", "ControlMaster=auto", "-o", "ControlPath=" + dir + "/cm-%C",
                                 "-o", "ControlPersist=120"});
    } else {
        argv.insert(argv.end(), {"-o", "ControlPath=none"});
    }
    argv.insert(argv.end(), {"nextprism@127.0.0.1", "php occ files:scan '--path=/alice/files/My Photos'"});
    return argv;
}

void openssh_controlmaster(benchmark::State& state)
{
    const auto argv = openssh(true);
    spawn_wait(argv); // start the master outside the timing
    for (auto _ : state)
        if (spawn_wait(argv) != 0)
            state.SkipWithError("ssh failed");
    state.SetItemsProcessed(state.iterations());
}

void openssh_fresh(benchmark::State& state)
{
    const auto argv = openssh(false);
    for (auto _ : state)
        if (spawn_wait(argv) != 0)
            state.SkipWithError("ssh failed");
    state.SetItemsProcessed(state.iterations());
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

void paramiko(benchmark::State& state, const char* mode)
{
    paramiko_peer peer(mode);
    if (!peer.run()) { // connects (reused) and warms up, outside the timing
        state.SkipWithError("paramiko failed: is python3-paramiko installed?");
        return;
    }
    for (auto _ : state)
        if (!peer.run()) {
            state.SkipWithError("paramiko command failed");
            return;
        }
    state.SetItemsProcessed(state.iterations());
}

} // namespace

BENCHMARK_CAPTURE(paramiko, reused_connection, "reused")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(paramiko, fresh_connection, "fresh")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(pooled, nextprism::multiplexed)->Arg(1)->Arg(8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(pooled, nextprism::exclusive)->Arg(1)->Arg(8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(fresh_connection)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(openssh_controlmaster)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(openssh_fresh)->UseRealTime()->Unit(benchmark::kMillisecond);
