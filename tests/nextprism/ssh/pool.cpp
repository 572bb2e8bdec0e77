#include <nextprism/ssh/pool.hpp> // first: the header is self-contained

#include <nextprism/transport/ssh.hpp>

#include "support/ssh_fixture.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <dirent.h>

using namespace nextprism;
using namespace nextprism::test;
using namespace std::chrono_literals;

static_assert(pooling_policy<exclusive>);
static_assert(pooling_policy<multiplexed>);

namespace {

template<class Pool>
std::pair<error_code, command_result> run(Pool& pool, std::vector<std::string> argv,
                                          std::string* out = nullptr,
                                          std::chrono::milliseconds timeout = 0ms,
                                          ssh::endpoint ep = proxy_address())
{
    return wait_for<command_result>([&](auto h) {
        pool.async_run(ep, std::move(argv),
                       [out](output_stream s, std::string_view d) {
                           if (out && s == output_stream::out)
                               out->append(d);
                       },
                       timeout, h);
    });
}

bool target_idle()
{
    auto r = docker_cli({"top", "np-ssh-nextcloud", "-o", "pid,args"});
    return count(r.out, "\n") == 2 && r.out.find("sleep 2147483647") != std::string::npos;
}

/// The stopped command is gone from the target within 5 s, and the pooled
/// connection still serves the next command.
void check_stopped_and_connection_kept(ssh_pool& pool)
{
    bool idle = false;
    for (int i = 0; i < 50 && !idle; ++i) {
        std::this_thread::sleep_for(100ms);
        idle = target_idle();
    }
    CHECK(idle);
    auto [ec, r] = run(pool, {"php", "occ", "status"});
    CHECK_FALSE(ec);
}

/// PIDs of sshd's per-connection processes for the proxy user.
std::vector<int> session_processes()
{
    std::vector<int> pids;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            const int pid = std::atoi(e->d_name);
            if (pid <= 0)
                continue;
            const auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
            if (cmdline.rfind("sshd: nextprism", 0) == 0)
                pids.push_back(pid);
        }
        ::closedir(d);
    }
    return pids;
}

} // namespace

TEST_CASE("ssh pool: a whitelisted command through the real proxy")
{
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    std::string out;
    auto [ec, r] = run(pool, {"php", "occ", "files:scan", "--path=/alice/files/My Photos"}, &out);
    REQUIRE_FALSE(ec);
    CHECK(r.exit_code == 0);
    CHECK(out.starts_with("Starting scan for user 1 out of 1 (alice)"));
    CHECK_FALSE(r.exit_signal);

    std::tie(ec, r) = run(pool, {"php", "occ", "files:scan", "ghost"});
    REQUIRE_FALSE(ec);
    CHECK(r.exit_code == 0); // occ's own failure is data (it exits 0 for an unknown user)

    std::tie(ec, r) = run(pool, {"php", "occ", "user:add", "eve"});
    REQUIRE_FALSE(ec);
    CHECK(r.exit_code == 65); // refused by the proxy

    std::tie(ec, r) = run(pool, {"php", "occ", "files:scan", "--path=/alice/files/Bob's"});
    CHECK(ec == error::unrepresentable); // never sent
}

TEST_CASE("ssh pool: one connection serves many commands")
{
    const auto logins_before = accepted_logins();
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    for (int i = 0; i < 20; ++i) {
        auto [ec, r] = run(pool, {"php", "occ", "status"});
        REQUIRE_FALSE(ec);
        REQUIRE(r.exit_code == 0);
    }
    const auto stats = pool.statistics(proxy_address());
    CHECK(stats.created == 1);
    CHECK(stats.reused == 19);
    CHECK(stats.commands == 20);
    CHECK(stats.connections == 1);
    CHECK(stats.idle == 1);
    CHECK(stats.bytes_received > 0);
    CHECK(stats.host_key.starts_with("SHA256:"));
    std::this_thread::sleep_for(200ms); // sshd writes its log line asynchronously
    CHECK(accepted_logins() - logins_before == 1);
}

TEMPLATE_TEST_CASE("ssh pool: 200 concurrent commands within the connection limit", "",
                   exclusive, multiplexed)
{
    io_thread io;
    auto options = pool_options();
    options.max_connections_per_host = 3;
    options.queue_timeout = 120s;
    basic_ssh_pool<TestType> pool(io.io.get_executor(), options);
    std::atomic<int> done{0}, ok{0};
    std::promise<void> all;
    std::mutex m;
    std::map<std::string, int> failures;
    for (int i = 0; i < 200; ++i)
        pool.async_run(proxy_address(), {"php", "occ", "status", "--output=json"}, nullptr, 0ms,
                       [&](error_code ec, command_result r) {
                           if (!ec && r.exit_code == 0)
                               ++ok;
                           else {
                               std::lock_guard l(m);
                               ++failures[ec ? ec.message() : "exit " + std::to_string(r.exit_code)];
                           }
                           if (++done == 200)
                               all.set_value();
                       });
    REQUIRE(all.get_future().wait_for(300s) == std::future_status::ready);
    for (const auto& [what, n] : failures)
        UNSCOPED_INFO(n << " x " << what);
    CHECK(ok == 200);
    const auto stats = pool.statistics(proxy_address());
    CHECK(stats.created <= 3);
    CHECK(stats.created >= 1);
    CHECK(stats.commands == 200);
}

TEST_CASE("ssh pool: idle connections are closed after the idle timeout")
{
    io_thread io;
    auto options = pool_options();
    options.idle_timeout = 300ms;
    ssh_pool pool(io.io.get_executor(), options);
    REQUIRE_FALSE(run(pool, {"php", "occ", "status"}).first);
    CHECK(pool.statistics(proxy_address()).connections == 1);
    std::this_thread::sleep_for(1500ms);
    CHECK(pool.statistics(proxy_address()).connections == 0);
    REQUIRE_FALSE(run(pool, {"php", "occ", "status"}).first); // and a new one when needed
    CHECK(pool.statistics(proxy_address()).created == 2);
}

TEST_CASE("ssh pool: host keys are verified, strictly by default")
{
    io_thread io;
    const auto dir = fs_temp(unique_name("np-kh"));
    SECTION("a changed host key is refused and named")
    {
        std::ofstream(dir + "/known_hosts")
            << "[127.0.0.1]:" << proxy_address().port
            << " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEIj9rp7bwFMTzs5cp+IQtyj22x4Lf5pSWZ07i476hi6\n";
        auto options = pool_options();
        options.credentials.known_hosts_file = dir + "/known_hosts";
        ssh_pool pool(io.io.get_executor(), options);
        auto [ec, r] = run(pool, {"php", "occ", "status"});
        CHECK(ec == error::host_key_mismatch);
        CHECK(ec != condition::transient); // never retried
        CHECK(pool.statistics(proxy_address()).host_key.starts_with("SHA256:"));
    }
    SECTION("an unknown host is refused; trust on first use only when asked")
    {
        auto options = pool_options();
        options.credentials.known_hosts_file = dir + "/empty_known_hosts";
        std::ofstream(options.credentials.known_hosts_file).flush();
        {
            ssh_pool pool(io.io.get_executor(), options);
            CHECK(run(pool, {"php", "occ", "status"}).first == error::host_key_unknown);
        }
        options.credentials.trust_on_first_use = true;
        {
            ssh_pool pool(io.io.get_executor(), options);
            CHECK_FALSE(run(pool, {"php", "occ", "status"}).first);
        }
        options.credentials.trust_on_first_use = false; // now it is known
        ssh_pool pool(io.io.get_executor(), options);
        CHECK_FALSE(run(pool, {"php", "occ", "status"}).first);
    }
    SECTION("a key the proxy does not know is a clear authentication error")
    {
        auto options = pool_options();
        options.credentials.private_key_file = sshd_dir() + "/other_ed25519";
        ssh_pool pool(io.io.get_executor(), options);
        auto [ec, r] = run(pool, {"php", "occ", "status"});
        CHECK(ec == error::authentication_failed);
        CHECK(ec == condition::permanent);
    }
    run_process({"/bin/rm", "-rf", dir}, {});
}

TEST_CASE("ssh pool: a command timeout stops the command in the target")
{
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    std::string out;
    auto [ec, r] = run(pool, {"php", "occ", "files:scan", "-v", "slow300"}, &out, 2500ms);
    CHECK(ec == error::timeout);
    CHECK(out.find("photo-1.jpg") != std::string::npos);
    check_stopped_and_connection_kept(pool); // after a timed-out channel
}

TEST_CASE("ssh pool: cancellation closes the channel and stops the command in the target")
{
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    boost::asio::cancellation_signal cancel;
    auto seen = std::make_shared<std::atomic<std::size_t>>(0);
    auto done = std::make_shared<std::promise<error_code>>();
    auto finished = done->get_future();
    boost::asio::post(pool.get_executor(), [&] {
        pool.async_run(proxy_address(), {"php", "occ", "files:scan", "slow300"},
                       [seen](output_stream, std::string_view d) { *seen += d.size(); }, 0ms,
                       boost::asio::bind_cancellation_slot(
                           cancel.slot(), [done](error_code ec, command_result) { done->set_value(ec); }));
    });
    for (int i = 0; i < 100 && *seen == 0; ++i)
        std::this_thread::sleep_for(50ms); // running: output arrives
    REQUIRE(*seen > 0);
    boost::asio::post(pool.get_executor(), [&] { cancel.emit(boost::asio::cancellation_type::terminal); });
    REQUIRE(finished.wait_for(30s) == std::future_status::ready);
    CHECK(finished.get() == error::cancelled);
    check_stopped_and_connection_kept(pool); // after a cancelled channel
    CHECK(pool.statistics(proxy_address()).created == 1);
}

TEST_CASE("ssh pool: cancellation ends the wait for a free slot")
{
    io_thread io;
    auto options = pool_options();
    options.max_connections_per_host = 1;
    exclusive_ssh_pool pool(io.io.get_executor(), options); // one command at a time
    auto seen = std::make_shared<std::atomic<std::size_t>>(0);
    auto scanned = std::make_shared<std::promise<std::pair<error_code, command_result>>>();
    auto busy = scanned->get_future();
    boost::asio::post(pool.get_executor(), [&] {
        pool.async_run(proxy_address(), {"php", "occ", "files:scan", "slow3"},
                       [seen](output_stream, std::string_view d) { *seen += d.size(); }, 0ms,
                       [scanned](error_code ec, command_result r) { scanned->set_value({ec, r}); });
    });
    for (int i = 0; i < 250 && *seen == 0; ++i)
        std::this_thread::sleep_for(20ms);
    REQUIRE(*seen > 0); // the scan runs and holds the only slot

    boost::asio::cancellation_signal cancel;
    auto done = std::make_shared<std::promise<error_code>>();
    auto queued = done->get_future();
    boost::asio::post(pool.get_executor(), [&] {
        pool.async_run(proxy_address(), {"php", "occ", "status"}, {}, 0ms,
                       boost::asio::bind_cancellation_slot(
                           cancel.slot(), [done](error_code ec, command_result) { done->set_value(ec); }));
    });
    std::this_thread::sleep_for(300ms); // queued behind the scan
    REQUIRE(queued.wait_for(0ms) == std::future_status::timeout);
    boost::asio::post(pool.get_executor(), [&] { cancel.emit(boost::asio::cancellation_type::terminal); });
    REQUIRE(queued.wait_for(10s) == std::future_status::ready);
    CHECK(queued.get() == error::cancelled);
    CHECK(busy.wait_for(0ms) == std::future_status::timeout); // the scan still runs
    auto [ec, r] = busy.get();
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
    CHECK(pool.statistics(proxy_address()).commands == 1); // the cancelled one never started
}

TEST_CASE("ssh pool: 100 MiB through SSH, byte for byte")
{
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    std::uint64_t bytes = 0;
    bool pattern = true;
    static constexpr std::string_view line = "0123456789abcde\n";
    std::size_t position = 0;
    bool past_header = false;
    auto [ec, r] = wait_for<command_result>([&](auto h) {
        pool.async_run(proxy_address(), {"php", "occ", "files:scan", "bigoutput"},
                       [&](output_stream s, std::string_view d) {
                           if (s != output_stream::out || bytes >= 104857600)
                               return;
                           if (!past_header) { // "Starting scan for user 1 out of 1 (bigoutput)\n"
                               const auto nl = d.find('\n');
                               if (nl == std::string_view::npos)
                                   return;
                               d.remove_prefix(nl + 1);
                               past_header = true;
                           }
                           const auto take = std::min<std::uint64_t>(d.size(), 104857600 - bytes);
                           for (std::size_t i = 0; i < take; ++i)
                               pattern = pattern && d[i] == line[position++ % line.size()];
                           bytes += take;
                       },
                       0ms, h);
    });
    REQUIRE_FALSE(ec);
    CHECK(r.exit_code == 0);
    CHECK(bytes == 104857600);
    CHECK(pattern);
    CHECK(r.stdout_bytes > 104857600); // plus the scan summary
}

TEST_CASE("ssh pool: sshd restarted between commands: the pool recovers")
{
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    REQUIRE_FALSE(run(pool, {"php", "occ", "status"}).first);
    // As when the proxy container restarts: the daemon and every connection.
    for (int pid : session_processes())
        ::kill(pid, SIGTERM);
    restart_sshd(); // the pooled connection is now dead
    auto [ec, r] = run(pool, {"php", "occ", "status"});
    CHECK_FALSE(ec);
    CHECK(r.exit_code == 0);
    const auto stats = pool.statistics(proxy_address());
    CHECK(stats.created == 2);
    CHECK(stats.retried == 1); // it had not started: retried once, on a fresh connection
}

TEST_CASE("ssh pool: a half-open connection is detected within the keepalive bound")
{
    io_thread io;
    auto options = pool_options();
    options.session.keepalive_interval = 500ms;
    options.session.keepalive_max_missed = 2;
    ssh_pool pool(io.io.get_executor(), options);
    const auto before = session_processes();
    REQUIRE_FALSE(run(pool, {"php", "occ", "status"}).first);
    std::vector<int> stopped;
    for (int pid : session_processes())
        if (std::find(before.begin(), before.end(), pid) == before.end()) {
            ::kill(pid, SIGSTOP); // the peer stops answering; TCP stays up
            stopped.push_back(pid);
        }
    REQUIRE_FALSE(stopped.empty());
    // Bound: up to two intervals before a probe starts (the command's own
    // traffic counts as life), two more for its answer; then some slack.
    host_statistics stats;
    for (int i = 0; i < 50; ++i) {
        std::this_thread::sleep_for(100ms);
        stats = pool.statistics(proxy_address());
        if (stats.connections == 0)
            break;
    }
    for (int pid : stopped)
        ::kill(pid, SIGCONT);
    CHECK(stats.connections == 0);
    CHECK_FALSE(run(pool, {"php", "occ", "status"}).first); // a fresh connection works
}

// ---- issue 10: bugs, each with a test ---------------------------------------

namespace {

/** This fixture's running ForceCommands: the direct child of an sshd
    session first (sshd reports how its own child ended: exit-status or
    exit-signal), then the rest. The proxy account's login shell is the
    validator (no /bin/sh -c in between), so the direct child is it. */
std::vector<int> validator_processes()
{
    std::vector<int> pids;
    const std::string port = env_or_fail("NEXTPRISM_SSHD_PORT");
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            const int pid = std::atoi(e->d_name);
            if (pid <= 0)
                continue;
            const std::string proc = "/proc/" + std::to_string(pid);
            const auto cmdline = read_file(proc + "/cmdline");
            if (cmdline.find("/nextprism-validate") == std::string::npos)
                continue;
            // SSH_CONNECTION=client port server port: this fixture's port only.
            const auto environ = read_file(proc + "/environ");
            const auto at = environ.find("SSH_CONNECTION=");
            if (at == std::string::npos)
                continue;
            const auto conn = environ.substr(at, environ.find('\0', at) - at);
            if (!conn.ends_with(" " + port))
                continue;
            const auto stat = read_file(proc + "/stat");
            const auto close = stat.rfind(')');
            int ppid = 0;
            if (close != std::string::npos)
                std::sscanf(stat.c_str() + close + 2, "%*c %d", &ppid);
            if (read_file("/proc/" + std::to_string(ppid) + "/cmdline").rfind("sshd: nextprism", 0) == 0)
                pids.insert(pids.begin(), pid);
            else
                pids.push_back(pid);
        }
        ::closedir(d);
    }
    return pids;
}

} // namespace

TEST_CASE("ssh pool: a proxy killed by a signal is outcome_unknown, never exit 0")
{
    io_thread io;
    ssh_pool pool(io.io.get_executor(), pool_options());
    auto scan = start_command(pool, {"php", "occ", "files:scan", "slow3"});
    REQUIRE(scan.wait_for_output()); // the validator runs the scan
    auto& finished = scan.finished;
    const auto validators = validator_processes();
    REQUIRE_FALSE(validators.empty());
    for (int pid : validators)
        ::kill(pid, SIGKILL); // as the OOM killer would
    REQUIRE(finished.wait_for(30s) == std::future_status::ready);
    auto [ec, r] = finished.get();
    CHECK(ec == error::outcome_unknown); // it may have run: never exit 0
    CHECK(ec != condition::transient);
    // The scan itself runs on in the target (no exec kill): let it end.
    for (int i = 0; i < 100 && !target_idle(); ++i)
        std::this_thread::sleep_for(100ms);
    auto [ec2, r2] = run(pool, {"php", "occ", "status"});
    CHECK_FALSE(ec2);
    CHECK(r2.exit_code == 0);
}

TEST_CASE("ssh pool: bursts of short commands on the exclusive pool: none stalls (lost wake-up)")
{
    io_thread io;
    auto options = pool_options();
    options.max_connections_per_host = 8;
    options.queue_timeout = 120s;
    exclusive_ssh_pool pool(io.io.get_executor(), options);
    constexpr int width = 8;   // a burst fits the pool: latency is the command's own
    constexpr int bursts = 40; // 320 measured commands
    std::vector<double> latencies;
    std::map<std::string, int> failures;
    for (int burst = -1; burst < bursts; ++burst) { // burst -1 opens the connections
        std::mutex m;
        std::promise<void> all;
        int left = width;
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < width; ++i)
            pool.async_run(proxy_address(), {"php", "occ", "status"}, nullptr, 0ms,
                           [&, t0](error_code ec, command_result r) {
                               std::lock_guard l(m);
                               if (burst >= 0)
                                   latencies.push_back(
                                       std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                               if (ec || r.exit_code != 0)
                                   ++failures[ec ? ec.message() : "exit " + std::to_string(r.exit_code)];
                               if (--left == 0)
                                   all.set_value();
                           });
        REQUIRE(all.get_future().wait_for(120s) == std::future_status::ready);
    }
    for (const auto& [what, n] : failures)
        UNSCOPED_INFO(n << " x " << what);
    CHECK(failures.empty());
    std::sort(latencies.begin(), latencies.end());
    const double median = latencies[latencies.size() / 2];
    INFO("median " << median << " s, max " << latencies.back() << " s");
    // A stall detector, not a latency target: the lost wake-up held a command
    // until the next keepalive probe (15 s by default, 25-28 s seen); load on
    // a shared machine adds seconds at most (median + 1 s failed at load 8-12).
    CHECK(latencies.back() <= median + options.session.keepalive_interval.count() / 2000.0);
}

TEST_CASE("ssh pool: a freed slot goes to the oldest waiter, never to a newcomer (32 in flight)")
{
    // Each completion issues its worker's next command at once, on the
    // pool's strand: it arrives exactly when a slot frees.
    auto closed_loop = [](std::size_t connections, int workers, int per_worker) {
        io_thread io;
        auto options = pool_options();
        options.max_connections_per_host = connections;
        options.queue_timeout = 120s;
        exclusive_ssh_pool pool(io.io.get_executor(), options);
        struct
        {
            int issued = 0;
            int remaining = 0;
            std::vector<int> completed; // issue numbers, in completion order
            std::vector<double> latencies;
            std::map<std::string, int> failures;
            std::promise<void> done;
        } sh;
        sh.remaining = workers;
        std::function<void(int)> issue = [&](int left) {
            const int seq = sh.issued++;
            const auto t0 = std::chrono::steady_clock::now();
            pool.async_run(
                proxy_address(), {"php", "occ", "status"}, nullptr, 0ms,
                boost::asio::bind_executor(pool.get_executor(), [&, left, seq, t0](error_code ec, command_result r) {
                    sh.completed.push_back(seq);
                    sh.latencies.push_back(
                        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
                    if (ec || r.exit_code != 0)
                        ++sh.failures[ec ? ec.message() : "exit " + std::to_string(r.exit_code)];
                    if (left > 1)
                        issue(left - 1);
                    else if (--sh.remaining == 0)
                        sh.done.set_value();
                }));
        };
        boost::asio::post(pool.get_executor(), [&] {
            for (int w = 0; w < workers; ++w)
                issue(per_worker);
        });
        REQUIRE(sh.done.get_future().wait_for(300s) == std::future_status::ready);
        for (const auto& [what, n] : sh.failures)
            UNSCOPED_INFO(n << " x " << what);
        CHECK(sh.failures.empty());
        return std::pair{sh.completed, sh.latencies};
    };

    SECTION("one connection: commands complete in the order they arrived")
    {
        auto [completed, latencies] = closed_loop(1, 16, 3);
        REQUIRE(completed.size() == 48);
        CHECK(std::is_sorted(completed.begin(), completed.end()));
    }
    SECTION("32 in flight on two connections: everyone waits about as long")
    {
        auto [completed, latencies] = closed_loop(2, 32, 5);
        REQUIRE(completed.size() == 160);
        std::sort(latencies.begin(), latencies.end());
        const double median = latencies[latencies.size() / 2];
        INFO("median " << median << " s, max " << latencies.back() << " s");
        // Starvation, not speed: unfair slots left the first waiters 38.6 s
        // against a 0.5 s median; the margin absorbs a loaded machine.
        CHECK(latencies.back() <= 2 * median + 5.0);
    }
}
