// What the agent's HTTP front costs a command (issue 21): the same executor
// the agent builds, driven in this process, against nextprism-agent serving
// it over HTTP, both against the benchmarks' dry-run proxy (run.sh's sshd,
// NEXTPRISM_SSHD_DIR / NEXTPRISM_SSHD_PORT). The command every row sends is
// {"php", "occ", "files:scan", "--path=/alice/files/My Photos"} to
// "nextcloud"; one configuration file (written here) serves both sides:
// "docker_host": null and a static proxy list, so tools::with_executor
// builds a static_executor over the SSH proxy transport, the pool shaped as
// ssh_transport.cpp's multiplexed rows (7 channels per connection, 5
// connections: 35 slots).
//
//   inprocess/k:K/n:N  the executor in this process, N commands with K in
//                      flight (a closed loop: each completion launches the
//                      next), its io_context on this thread as the agent's.
//   http/k:K/n:N       the agent (posix_spawn, stopped by PID at the row's
//                      end), N POST /v1/exec with K in flight from one
//                      io_context thread here, one TCP connection each (the
//                      agent closes after the stream); a command succeeded
//                      when its stream ends with a "finished" event with
//                      exit_code 0 and outcome "succeeded". Latency: from
//                      the request's launch (before the connect) to the
//                      stream's end.
//   burst/n:N          the agent, all N POSTs launched at once; the agent's
//                      peak RSS (VmHWM), its RSS idle before (after /healthz
//                      and one exec) and 2 s after the burst.
//
// Both sides warm untimed first: K commands in flight, which opens the
// pool's connections. Counters: latency.hpp's, and for the agent rows
// agent_idle_rss_kb and agent_cpu_ms_per_cmd (its user + system time over
// the timed commands, /proc/PID/stat). NEXTPRISM_BENCH_AGENT_N overrides
// every row's n (the smoke test); NEXTPRISM_AGENT_BIN the agent binary;
// NEXTPRISM_BENCH_AGENT_LOG where its stderr goes (default /dev/null).
#include "support.hpp"

#include <nextprism/tools/assembly.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>

extern char** environ;

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace tools = nextprism::tools;
using tcp = net::ip::tcp;
using clock_type = std::chrono::steady_clock;
using bench::env;

const std::vector<std::string> command{"php", "occ", "files:scan", "--path=/alice/files/My Photos"};

/// The row's n, or NEXTPRISM_BENCH_AGENT_N (the smoke test's few).
int row_n(benchmark::State& state, int arg)
{
    const char* v = std::getenv("NEXTPRISM_BENCH_AGENT_N");
    return v ? std::max(1, std::atoi(v)) : static_cast<int>(state.range(arg));
}

/// The executor configuration both sides load, in a temporary file that
/// goes with the object.
struct config_file
{
    std::string path;
    config_file()
    {
        char name[] = "/tmp/nextprism-bench-agent-XXXXXX";
        const int fd = ::mkstemp(name);
        if (fd < 0)
            throw std::runtime_error("mkstemp failed");
        ::close(fd);
        path = name;
        const auto dir = env("NEXTPRISM_SSHD_DIR");
        const auto port = env("NEXTPRISM_SSHD_PORT");
        nlohmann::json j{
            {"docker_host", nullptr},
            {"ssh", {{"user", "nextprism"}, {"private_key", dir + "/client_ed25519"},
                     {"known_hosts", dir + "/known_hosts"}, {"port", std::stoi(port)}}},
            {"pool", {{"max_connections_per_host", 5}, {"max_sessions", 7}}},
            {"discovery", {{"static", {{"nextcloud", {"127.0.0.1:" + port}}}}}},
        };
        std::ofstream(path) << j.dump(2) << "\n";
    }
    ~config_file() { ::unlink(path.c_str()); }
    config_file(const config_file&) = delete;
    config_file& operator=(const config_file&) = delete;
};

// ---- in-process -----------------------------------------------------------------------

/// n commands through `executor`, k in flight (closed loop), on `io`, run
/// here until the last completes.
template<class Executor>
void run_batch(net::io_context& io, Executor& executor, int n, int k, bench::recorder* rec)
{
    int started = 0, finished = 0;
    std::function<void()> launch = [&] {
        if (started >= n)
            return;
        ++started;
        const auto t0 = clock_type::now();
        executor.async_run(
            nextprism::command_request{"nextcloud", command},
            [](nextprism::output_stream, std::string_view) {},
            [](const nextprism::start_report&) {},
            [&, t0](nextprism::error_code ec, nextprism::command_result r) {
                if (rec)
                    rec->finish(t0, !ec && r.exit_code == 0);
                ++finished;
                launch();
            });
    };
    for (int i = 0; i < k; ++i)
        launch();
    tools::run_until(io, [&] { return finished == n; });
}

void inprocess(benchmark::State& state)
{
    const int k = static_cast<int>(state.range(0));
    const int n = row_n(state, 1);
    try {
        const config_file file;
        const auto config = tools::load_config(file.path);
        const auto rules = tools::load_whitelist(config.whitelist_file);
        net::io_context io;
        tools::with_executor(config, rules, io.get_executor(), tools::via::automatic, [&](auto& executor) {
            run_batch(io, executor, k, k, nullptr); // connect and warm, untimed
            bench::recorder rec(n);
            for (auto _ : state) {
                rec.start();
                run_batch(io, executor, n, k, &rec);
                rec.stop();
            }
            rec.publish(state, 0);
            return 0;
        });
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

// ---- the agent ------------------------------------------------------------------------

/// At least `want` descriptors for this process (and what it spawns).
void raise_nofile(rlim_t want)
{
    rlimit l{};
    if (::getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur >= want)
        return;
    l.rlim_cur = want;
    if (l.rlim_max != RLIM_INFINITY && l.rlim_max < want)
        l.rlim_max = want; // root may raise the hard limit
    ::setrlimit(RLIMIT_NOFILE, &l);
}

/// A loopback port nothing listens on (bound, then released).
std::uint16_t free_port()
{
    if (const char* v = std::getenv("NEXTPRISM_BENCH_AGENT_PORT"))
        return static_cast<std::uint16_t>(std::atoi(v));
    net::io_context io;
    tcp::acceptor a(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

/// User + system time of process `pid`, in seconds (/proc/PID/stat).
double process_cpu_seconds(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const auto close = text.rfind(')');
    if (close == std::string::npos)
        return 0;
    std::istringstream fields(text.substr(close + 2));
    std::string f;
    double utime = 0, stime = 0;
    for (int i = 3; fields >> f; ++i) { // field 3 is the state
        if (i == 14)
            utime = std::stod(f);
        if (i == 15) {
            stime = std::stod(f);
            break;
        }
    }
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

/// nextprism-agent on a free loopback port with `file`'s configuration,
/// stopped (SIGTERM, then SIGKILL after 5 s) and waited for by PID.
class agent_process
{
public:
    explicit agent_process(const std::string& config) : port_(free_port())
    {
        raise_nofile(8192); // before the spawn: the agent inherits it
        const char* bin_env = std::getenv("NEXTPRISM_AGENT_BIN");
        const std::string bin = bin_env ? bin_env : NEXTPRISM_AGENT_BIN;
        const std::string log = bench::env("NEXTPRISM_BENCH_AGENT_LOG", "/dev/null");
        std::vector<std::string> argv{bin, "--config", config, "--listen", "127.0.0.1:" + std::to_string(port_),
                                      "--max-connections", "4096", "--max-runs-per-caller", "4096"};
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot spawn " + bin + ": " + std::strerror(rc));
        }
    }
    ~agent_process()
    {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        for (int i = 0; i < 100; ++i) {
            if (::waitpid(pid_, &status, WNOHANG) == pid_)
                return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
    }
    agent_process(const agent_process&) = delete;
    agent_process& operator=(const agent_process&) = delete;

    pid_t pid() const { return pid_; }
    tcp::endpoint endpoint() const { return {net::ip::make_address("127.0.0.1"), port_}; }
    long status_kb(const char* key) const { return bench::proc_kb("/proc/" + std::to_string(pid_) + "/status", key); }
    /// Its proportional set size (shared library pages divided among their users).
    long pss_kb() const { return bench::proc_kb("/proc/" + std::to_string(pid_) + "/smaps_rollup", "Pss"); }
    double cpu_seconds() const { return process_cpu_seconds(pid_); }

    /// Until GET /healthz answers "ok" (10 s at most); false if it never does.
    bool wait_healthy() const
    {
        net::io_context io;
        for (int i = 0; i < 200; ++i) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_)
                return false; // it exited (its log says why)
            tcp::socket s(io);
            beast::error_code ec;
            s.connect(endpoint(), ec);
            if (!ec) {
                http::request<http::empty_body> req{http::verb::get, "/healthz", 11};
                req.set(http::field::host, "127.0.0.1");
                req.keep_alive(false);
                http::write(s, req, ec);
                beast::flat_buffer buf;
                http::response<http::string_body> res;
                if (!ec)
                    http::read(s, buf, res, ec);
                if (!ec && res.result() == http::status::ok && res.body().starts_with("ok"))
                    return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

private:
    std::uint16_t port_;
    pid_t pid_ = -1;
};

/// POST /v1/exec for the row's command, as the bytes on the wire.
const std::string& exec_request()
{
    static const std::string text = [] {
        const auto body = nlohmann::json{{"service", "nextcloud"}, {"argv", command}}.dump();
        return "POST /v1/exec HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    }();
    return text;
}

/// Whether a stream's last NDJSON line is a finished event with exit_code
/// 0 and outcome "succeeded".
bool stream_succeeded(const std::string& body)
{
    auto end = body.find_last_not_of("\r\n ");
    if (end == std::string::npos)
        return false;
    const auto start = body.rfind('\n', end);
    const auto line = body.substr(start == std::string::npos ? 0 : start + 1, end + 1 - (start == std::string::npos ? 0 : start + 1));
    const auto j = nlohmann::json::parse(line, nullptr, false);
    return j.is_object() && j.value("event", "") == "finished" && j.contains("exit_code") &&
           j["exit_code"].is_number_integer() && j["exit_code"].get<int>() == 0 &&
           j.value("outcome", "") == "succeeded";
}

/// One POST /v1/exec on its own connection: connect, write, read the
/// chunked stream to its end; `done(ok)` then.
class exec_call : public std::enable_shared_from_this<exec_call>
{
public:
    exec_call(net::io_context& io, std::function<void(bool)> done) : socket_(io), done_(std::move(done))
    {
        parser_.body_limit(16 * 1024 * 1024);
    }

    void start(const tcp::endpoint& at)
    {
        socket_.async_connect(at, [self = shared_from_this()](beast::error_code ec) {
            if (ec)
                return self->finish(false);
            net::async_write(self->socket_, net::buffer(exec_request()),
                             [self](beast::error_code ec, std::size_t) {
                                 if (ec)
                                     return self->finish(false);
                                 http::async_read(self->socket_, self->buffer_, self->parser_,
                                                  [self](beast::error_code ec, std::size_t) {
                                                      self->finish(!ec && self->parser_.get().result() ==
                                                                              http::status::ok &&
                                                                   stream_succeeded(self->parser_.get().body()));
                                                  });
                             });
        });
    }

private:
    void finish(bool ok)
    {
        beast::error_code ignored;
        socket_.close(ignored);
        done_(ok);
    }

    tcp::socket socket_;
    beast::flat_buffer buffer_;
    http::response_parser<http::string_body> parser_;
    std::function<void(bool)> done_;
};

/// n execs against the agent, k in flight (closed loop), or all n at once
/// (burst: latency from the burst's launch), on `io`, run here.
void http_batch(net::io_context& io, const tcp::endpoint& at, int n, int k, bool burst, bench::recorder* rec)
{
    int started = 0, finished = 0;
    const auto t_burst = clock_type::now();
    std::function<void()> launch = [&] {
        if (started >= n)
            return;
        ++started;
        const auto t0 = burst ? t_burst : clock_type::now();
        std::make_shared<exec_call>(io, [&, t0](bool ok) {
            if (rec)
                rec->finish(t0, ok);
            ++finished;
            if (!burst)
                launch();
        })->start(at);
    };
    for (int i = 0; i < (burst ? n : k); ++i)
        launch();
    tools::run_until(io, [&] { return finished == n; });
}

/// n execs through the agent, k in flight, or (burst) all n at once, with the
/// agent's memory before any exec, after the first, at its peak and (burst)
/// 2 s after, and its CPU per command.
void agent_row(benchmark::State& state, int k, int n, bool burst)
{
    try {
        const config_file file;
        agent_process agent(file.path);
        if (!agent.wait_healthy())
            return state.SkipWithError("the agent did not answer GET /healthz (NEXTPRISM_BENCH_AGENT_LOG)");
        net::io_context io;
        // Before any exec (no SSH connection yet), then after one (the pool keeps it).
        const long fresh_kb = agent.status_kb("VmRSS");
        const long fresh_pss_kb = agent.pss_kb();
        bench::recorder warm(k);
        http_batch(io, agent.endpoint(), 1, 1, false, &warm);
        const long idle_kb = agent.status_kb("VmRSS");
        const long idle_pss_kb = agent.pss_kb();
        if (!burst)
            http_batch(io, agent.endpoint(), k, k, false, &warm); // every connection, untimed
        bench::recorder rec(n);
        double cpu0 = 0, cpu1 = 0;
        for (auto _ : state) {
            cpu0 = agent.cpu_seconds();
            rec.start();
            http_batch(io, agent.endpoint(), n, k, burst, &rec);
            rec.stop();
            cpu1 = agent.cpu_seconds();
        }
        rec.publish(state, 0);
        state.counters["agent_fresh_rss_kb"] = static_cast<double>(fresh_kb);
        state.counters["agent_fresh_pss_kb"] = static_cast<double>(fresh_pss_kb);
        state.counters["agent_idle_rss_kb"] = static_cast<double>(idle_kb);
        state.counters["agent_idle_pss_kb"] = static_cast<double>(idle_pss_kb);
        state.counters["agent_peak_rss_kb"] = static_cast<double>(agent.status_kb("VmHWM"));
        state.counters["agent_cpu_ms_per_cmd"] = (cpu1 - cpu0) * 1000.0 / n;
        if (burst) {
            std::this_thread::sleep_for(std::chrono::seconds(2));
            state.counters["agent_idle_after_kb"] = static_cast<double>(agent.status_kb("VmRSS"));
        }
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
    }
}

/// Args k, n.
void http_row(benchmark::State& state)
{
    agent_row(state, static_cast<int>(state.range(0)), row_n(state, 1), false);
}

/// Arg n: all n launched at once.
void burst(benchmark::State& state)
{
    const int n = row_n(state, 0);
    agent_row(state, n, n, true);
}

} // namespace

#define NP_ROW ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond)
BENCHMARK(inprocess)->ArgNames({"k", "n"})->Args({1, 300})->Args({32, 1000}) NP_ROW;
BENCHMARK(http_row)->Name("http")->ArgNames({"k", "n"})->Args({1, 300})->Args({32, 1000}) NP_ROW;
BENCHMARK(burst)->ArgName("n")->Arg(1000) NP_ROW;
