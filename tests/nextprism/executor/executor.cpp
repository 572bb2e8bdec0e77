#include <nextprism/swarm_executor.hpp> // first: the header is self-contained

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include <deque>

#include "support/docker_fixture.hpp"
#include "support/fake_clock.hpp"

using namespace nextprism;
using namespace std::chrono_literals;
using nextprism::test::fake_clock;
using nextprism::test::io_thread;
using nextprism::test::wait_for;

namespace {

/// What one scripted attempt answers.
struct step
{
    step() = default;
    step(error_code e, int code = 0, std::string o = {}, std::string err = {})
        : ec(e), exit_code(code), out(std::move(o)), err(std::move(err))
    {
    }

    error_code ec;
    int exit_code = 0;
    std::string out;
    std::string err; ///< written to stderr
};

/// Records the calls and answers from a script; an empty script succeeds.
struct script
{
    std::mutex mutex;
    std::deque<step> steps;
    std::vector<std::string> calls; // endpoint or "local"
    std::vector<std::chrono::milliseconds> timeouts; // each attempt's command.timeout

    step next(std::string where, std::chrono::milliseconds timeout)
    {
        std::lock_guard lock(mutex);
        calls.push_back(std::move(where));
        timeouts.push_back(timeout);
        if (steps.empty())
            return {};
        auto s = steps.front();
        steps.pop_front();
        return s;
    }
};

/// A scripted step as a run's answer; `proxied`: decoded as the SSH
/// transport decodes what a proxy wrote (its start line, its exit table).
template<class Token>
auto answer(net::any_io_executor ex, std::shared_ptr<script> s, std::string where,
            const authorized_command& command, output_handler out, bool proxied, Token&& token,
            start_handler on_started = {})
{
    return nextprism::async_spawn<command_result>(
        ex, std::forward<Token>(token),
        [s, where, out, proxied, on_started,
         timeout = command.timeout]() -> net::awaitable<nextprism::op_result<command_result>> {
            const auto st = s->next(where, timeout);
            proxy_reply reply(out, on_started);
            const output_handler raw = proxied ? output_handler(std::ref(reply)) : out;
            nextprism::op_result<command_result> r{st.ec, {}};
            if (!st.ec) {
                if (!st.err.empty() && raw)
                    raw(output_stream::err, st.err);
                if (!st.out.empty() && raw)
                    raw(output_stream::out, st.out);
                r.value.exit_code = st.exit_code;
                r.value.stdout_bytes = st.out.size();
                r.value.stderr_bytes = st.err.size();
            }
            if (proxied)
                r.ec = reply.finish(r.ec, r.value);
            co_return r;
        });
}

/// A proxy transport that answers from a script (a unit test of routing;
/// the real transports are tested against real sshd and dockerd).
struct scripted_proxy
{
    using executor_type = net::any_io_executor;
    executor_type ex;
    std::shared_ptr<script> s = std::make_shared<script>();
    executor_type get_executor() const { return ex; }

    template<class Token>
    auto async_run(const proxy_endpoint& ep, authorized_command command, output_handler out, Token&& token)
    {
        return answer(ex, s, ep.to_string(), command, std::move(out), true, std::forward<Token>(token));
    }

    /// It reports the start as the SSH transport does: from the start line.
    template<class Token>
    auto async_run(const proxy_endpoint& ep, authorized_command command, output_handler out,
                   start_handler on_started, Token&& token)
    {
        return answer(ex, s, ep.to_string(), command, std::move(out), true, std::forward<Token>(token),
                      std::move(on_started));
    }
};

struct scripted_local
{
    using executor_type = net::any_io_executor;
    executor_type ex;
    std::shared_ptr<script> s = std::make_shared<script>();
    executor_type get_executor() const { return ex; }

    template<class Token>
    auto async_run(authorized_command command, output_handler out, Token&& token)
    {
        return answer(ex, s, "local", command, std::move(out), false, std::forward<Token>(token));
    }
};

using fake_static_list = basic_cached_discovery<static_list_source, fake_clock>;

template<class Retry>
using test_executor = basic_swarm_executor<scripted_proxy, fake_static_list, Retry, scripted_local, fake_clock>;

const proxy_endpoint node_a{"10.0.0.1", 2222, {}};
const proxy_endpoint node_b{"10.0.0.2", 2222, {}};

/// Routing fixtures: discovery from a static list, no health check.
template<class Retry>
struct assembly
{
    io_thread io;
    scripted_proxy proxy{io.io.get_executor()};
    scripted_local local{io.io.get_executor()};
    std::optional<test_executor<Retry>> executor;

    explicit assembly(Retry retry, std::vector<proxy_endpoint> proxies = {node_a},
                      std::set<std::string> local_services = {}, swarm_executor_options opts = {},
                      bool with_local = true)
    {
        fake_clock::current = fake_clock::time_point{};
        discovery_options d;
        d.health = health_check::none;
        static_list_source::options s;
        s.endpoints["nextcloud"] = std::move(proxies);
        s.endpoints["photoprism"] = s.endpoints["nextcloud"];
        s.local_services = std::move(local_services);
        executor.emplace(io.io.get_executor(), proxy,
                         fake_static_list(io.io.get_executor(), d, std::move(s)), std::move(retry),
                         with_local ? std::optional<scripted_local>(local) : std::nullopt, opts);
    }

    std::pair<error_code, command_result> run(std::vector<std::string> argv, std::string service = "nextcloud",
                                              std::chrono::milliseconds timeout = 0ms)
    {
        return wait_for<command_result>([&](auto handler) {
            executor->async_run({service, std::move(argv), timeout}, {}, std::move(handler));
        });
    }
};

const std::vector<std::string> occ_status{"php", "occ", "status"};
const std::vector<std::string> import_files{"photoprism", "import"};

} // namespace

TEST_CASE("routing: local when Swarm is off or the target is here, else a proxy, else fallback")
{
    auto allow_all = [](const proxy_endpoint&) { return true; };
    auto allow_none = [](const proxy_endpoint&) { return false; };
    placement outside;
    outside.swarm_active = false;
    placement remote;
    remote.swarm_active = true;
    remote.target_local = false;
    remote.proxies = {node_a, node_b};
    placement here = remote;
    here.target_local = true;
    placement unknown; // DNS or a static list
    unknown.proxies = {node_a};

    using k = route::kind;
    CHECK(choose_route(swarm_mode::automatic, true, outside, true, allow_all).how == k::local);
    CHECK(choose_route(swarm_mode::automatic, true, outside, false, allow_all).how == k::none);
    CHECK(choose_route(swarm_mode::off, true, remote, true, allow_all).how == k::local);
    CHECK(choose_route(swarm_mode::off, true, remote, false, allow_all).how == k::none);
    CHECK(choose_route(swarm_mode::automatic, true, here, true, allow_all).how == k::local);
    CHECK_FALSE(choose_route(swarm_mode::automatic, true, here, true, allow_all).fallback);

    const auto via_proxy = choose_route(swarm_mode::automatic, false, here, true, allow_all);
    CHECK(via_proxy.how == k::proxy);
    CHECK(via_proxy.endpoint == node_a);
    const auto second = choose_route(swarm_mode::on, true, remote, true,
                                     [](const proxy_endpoint& ep) { return ep == node_b; });
    CHECK(second.how == k::proxy);
    CHECK(second.endpoint == node_b);

    // No usable proxy: local only if the target may be here.
    const auto fallback = choose_route(swarm_mode::automatic, false, here, true, allow_none);
    CHECK(fallback.how == k::local);
    CHECK(fallback.fallback);
    CHECK(choose_route(swarm_mode::automatic, true, remote, true, allow_none).how == k::none);
    CHECK(choose_route(swarm_mode::automatic, true, unknown, true, allow_none).how == k::local);
    CHECK(choose_route(swarm_mode::on, true, unknown, false, allow_none).how == k::none);
    // "on" routes by discovery even when the engine says Swarm is inactive.
    CHECK(choose_route(swarm_mode::on, true, outside, true, allow_all).how == k::local);
    outside.proxies = {node_a};
    CHECK(choose_route(swarm_mode::on, true, outside, true, allow_all).how == k::proxy);
}

TEST_CASE("executor: a whitelisted command runs through the proxy and streams its output")
{
    assembly<no_retry> a(no_retry{});
    a.proxy.s->steps.push_back({{}, 0, "installed: true\n"});
    std::string seen;
    auto [ec, result] = wait_for<command_result>([&](auto handler) {
        a.executor->async_run({"nextcloud", occ_status, 0ms},
                              [&](output_stream, std::string_view d) { seen += d; }, std::move(handler));
    });
    REQUIRE_FALSE(ec);
    CHECK(result.exit_code == 0);
    CHECK(seen == "installed: true\n");
    CHECK(a.proxy.s->calls == std::vector<std::string>{node_a.to_string()});
    CHECK(a.local.s->calls.empty());
    const auto st = a.executor->statistics();
    CHECK(st.runs == 1);
    CHECK(st.proxied == 1);
    CHECK(st.local == 0);
}

TEST_CASE("executor: a refused command never leaves the process and is not retried")
{
    assembly<fixed_retry> a(fixed_retry{0ms, 5});
    auto [ec, result] = a.run({"php", "occ", "maintenance:mode", "--on;id"});
    CHECK(ec == condition::rejected);
    CHECK(a.proxy.s->calls.empty());
    CHECK(a.local.s->calls.empty());
    auto [ec2, r2] = a.run({"sh", "-c", "id"});
    CHECK(ec2 == condition::rejected);
    CHECK(a.executor->statistics().attempts == 0);
    CHECK(a.executor->statistics().failures == 2);
}

TEST_CASE("executor: a command that ran and failed is data, not retried")
{
    assembly<fixed_retry> a(fixed_retry{0ms, 5});
    a.proxy.s->steps.push_back({{}, 1, "error\n"});
    auto [ec, result] = a.run(occ_status);
    REQUIRE_FALSE(ec);
    CHECK(result.exit_code == 1);
    CHECK(a.proxy.s->calls.size() == 1);
}

TEST_CASE("executor: transient failures are retried by the strategy; unknown outcomes only when idempotent")
{
    SECTION("connection lost before the start, then success: same proxy again")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 5});
        a.proxy.s->steps = {{error::pool_timeout}, {error::pool_timeout}, {}};
        auto [ec, result] = a.run(occ_status);
        REQUIRE_FALSE(ec);
        CHECK(a.proxy.s->calls.size() == 3);
        CHECK(a.executor->statistics().retries == 2);
    }
    SECTION("the strategy's attempts run out: the last error")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 3});
        a.proxy.s->steps = {{error::pool_timeout}, {error::pool_timeout}, {error::pool_timeout}, {}};
        auto [ec, result] = a.run(occ_status);
        CHECK(ec == error::pool_timeout);
        CHECK(a.proxy.s->calls.size() == 3);
    }
    SECTION("outcome unknown: occ status runs again, photoprism import never")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 5});
        a.proxy.s->steps = {{error::outcome_unknown}, {}};
        auto [ec, result] = a.run(occ_status);
        CHECK_FALSE(ec);
        CHECK(a.proxy.s->calls.size() == 2);

        a.proxy.s->calls.clear();
        a.proxy.s->steps = {{error::outcome_unknown}, {}};
        auto [ec2, r2] = a.run(import_files, "photoprism");
        CHECK(ec2 == error::outcome_unknown);
        CHECK(a.proxy.s->calls.size() == 1);
    }
    SECTION("a timeout of photoprism import is not retried either")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 5});
        a.proxy.s->steps = {{error::timeout}};
        auto [ec, result] = a.run(import_files, "photoprism");
        CHECK(ec == error::timeout);
        CHECK(a.proxy.s->calls.size() == 1);
    }
    SECTION("a host key mismatch is never retried")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 5}, {node_a}, {}, {}, false);
        a.proxy.s->steps = {{error::host_key_mismatch}, {}};
        auto [ec, result] = a.run(occ_status);
        CHECK(ec == error::host_key_mismatch);
        CHECK(a.proxy.s->calls.size() == 1);
    }
}

TEST_CASE("executor: the timeout bounds the whole run, its retries included")
{
    // 200 ms between attempts, 450 ms in all: attempts at 0, 200 and 400 ms
    // (two on a slow machine); the pause after the last would end past the
    // deadline, so no attempt follows it.
    assembly<fixed_retry> a(fixed_retry{200ms, 10});
    a.proxy.s->steps.assign(10, step{error::pool_timeout});
    const auto t0 = std::chrono::steady_clock::now();
    auto [ec, result] = a.run(occ_status, "nextcloud", 450ms);
    const auto took = std::chrono::steady_clock::now() - t0;
    CHECK(ec == error::pool_timeout);
    REQUIRE(a.proxy.s->calls.size() >= 2);
    CHECK(a.proxy.s->calls.size() <= 3);
    // Each attempt is given what is left of the run, never more.
    CHECK(a.proxy.s->timeouts.front() <= 450ms);
    CHECK(a.proxy.s->timeouts.front() > 200ms);
    for (std::size_t i = 1; i < a.proxy.s->timeouts.size(); ++i) {
        CHECK(a.proxy.s->timeouts[i] < a.proxy.s->timeouts[i - 1]);
        CHECK(a.proxy.s->timeouts[i] > 0ms);
    }
    // Not a timing assertion on the machine's speed: the retry budget (10
    // attempts, 1.8 s of pauses) is what would show, were it not bounded.
    CHECK(took < 1800ms);

    // No timeout: the strategy alone decides, every attempt unbounded.
    assembly<fixed_retry> b(fixed_retry{0ms, 3});
    b.proxy.s->steps.assign(3, step{error::pool_timeout});
    auto [ec2, r2] = b.run(occ_status);
    CHECK(ec2 == error::pool_timeout);
    CHECK(b.proxy.s->calls.size() == 3);
    CHECK(b.proxy.s->timeouts == std::vector<std::chrono::milliseconds>(3, 0ms));
}

TEST_CASE("executor: a request without a timeout gets its rule's, else the default; its own wins")
{
    swarm_executor_options opts;
    opts.default_timeout = 5000ms;
    opts.rule_timeouts = {{"php occ status", 800ms}, {"photoprism import", 0ms}};
    assembly<no_retry> a(no_retry{}, {node_a}, {}, opts);
    a.proxy.s->steps.assign(4, step{});
    REQUIRE_FALSE(a.run(occ_status).first);                          // the rule's
    REQUIRE_FALSE(a.run(import_files, "photoprism").first);          // the rule's: none
    REQUIRE_FALSE(a.run({"php", "occ", "files:scan", "--all"}).first); // not listed: the default
    REQUIRE_FALSE(a.run(occ_status, "nextcloud", 300ms).first);      // the request's own
    const auto& t = a.proxy.s->timeouts;
    REQUIRE(t.size() == 4);
    CHECK(t[0] <= 800ms);
    CHECK(t[0] > 400ms);
    CHECK(t[1] == 0ms);
    CHECK(t[2] <= 5000ms);
    CHECK(t[2] > 4000ms);
    CHECK(t[3] <= 300ms);
}

TEST_CASE("executor: an attempt that may have started the command is not hidden by a later 'no route'")
{
    // The connection drops mid-command (it may have run), the retry finds
    // the target gone from that node, and no other proxy serves.
    assembly<fixed_retry> a(fixed_retry{0ms, 5}, {node_a}, {}, {}, false);
    a.proxy.s->steps = {{error::connection_lost},
                        {{}, proxy_exit_code::target_missing, "",
                         "nextprism: error: target container not found (cloud_app)\n"}};
    auto [ec, result] = a.run(occ_status);
    CHECK(ec == error::outcome_unknown);
    CHECK(result.reason.find("attempt 1 may have started it (SSH connection lost)") != std::string::npos);
    CHECK(result.reason.find(error_code(error::no_route).message()) != std::string::npos);
    CHECK(a.proxy.s->calls.size() == 2);

    // Errors that all come before the start keep the last one.
    assembly<fixed_retry> b(fixed_retry{0ms, 2}, {node_a}, {}, {}, false);
    b.proxy.s->steps = {{error::pool_timeout}, {error::pool_timeout}};
    auto [ec2, r2] = b.run(occ_status);
    CHECK(ec2 == error::pool_timeout);
    CHECK(r2.reason.empty());
}

TEST_CASE("executor: a proxy whose node lacks the target (exit 69) is passed over for the next")
{
    assembly<fixed_retry> a(fixed_retry{0ms, 5}, {node_a, node_b}, {}, {}, false);
    a.proxy.s->steps = {{{}, proxy_exit_code::target_missing, "",
                         "nextprism: error: target container not found (cloud_app)\n"},
                        {}};
    auto [ec, result] = a.run(occ_status);
    REQUIRE_FALSE(ec);
    CHECK(a.proxy.s->calls == std::vector<std::string>{node_a.to_string(), node_b.to_string()});

    // Exit 69 after output is the command's own status: data.
    a.proxy.s->calls.clear();
    a.proxy.s->steps = {{{}, proxy_exit_code::target_missing, "something\n"}};
    auto [ec2, r2] = a.run(occ_status);
    REQUIRE_FALSE(ec2);
    CHECK(r2.exit_code == proxy_exit_code::target_missing);
    CHECK(a.proxy.s->calls.size() == 1);
}

TEST_CASE("executor: a proxy that refused the connection goes last, and is tried again when nothing else serves")
{
    // A restarting proxy (the only one on the target's node) answers again
    // a few seconds later: the run's retries must reach it.
    assembly<fixed_retry> a(fixed_retry{0ms, 5}, {node_a}, {}, {}, false);
    a.proxy.s->steps = {{boost::asio::error::connection_refused}, {boost::asio::error::connection_refused}, {}};
    auto [ec, result] = a.run(occ_status);
    REQUIRE_FALSE(ec);
    CHECK(a.proxy.s->calls.size() == 3);

    // With another proxy at hand, that one is tried first.
    assembly<fixed_retry> b(fixed_retry{0ms, 5}, {node_a, node_b}, {}, {}, false);
    b.proxy.s->steps = {{boost::asio::error::connection_refused}, {}};
    auto [ec2, r2] = b.run(occ_status);
    REQUIRE_FALSE(ec2);
    CHECK(b.proxy.s->calls == std::vector<std::string>{node_a.to_string(), node_b.to_string()});
}

TEST_CASE("executor: the result lists every attempt, and a failure names what each proxy met")
{
    // Two proxies, neither usable: refused, then a host key that does not
    // match; the run ends with the last error and its line names both.
    assembly<fixed_retry> a(fixed_retry{0ms, 3}, {node_a, node_b}, {}, {}, false);
    a.proxy.s->steps = {{boost::asio::error::connection_refused}, {error::host_key_mismatch},
                        {boost::asio::error::connection_refused}};
    auto [ec, r] = a.run(occ_status);
    REQUIRE(ec);
    REQUIRE(r.attempts.size() >= 2);
    CHECK(r.attempts[0].route == node_a.to_string());
    CHECK(r.attempts[0].ec == boost::asio::error::connection_refused);
    CHECK(r.attempts[1].route == node_b.to_string());
    CHECK(r.attempts[1].ec == error::host_key_mismatch);
    const auto line = describe_failure("nextcloud", ec, r);
    CHECK(line.find(" (nextcloud): ") != std::string::npos);
    CHECK(line.find(node_a.to_string() + " " + error_code(boost::asio::error::connection_refused).message()) !=
          std::string::npos);
    CHECK(line.find(node_b.to_string() + " " + error_code(error::host_key_mismatch).message()) != std::string::npos);

    // A run that succeeds says where: one attempt, on the proxy, no error.
    assembly<fixed_retry> b(fixed_retry{0ms, 3}, {node_a}, {}, {}, false);
    auto [ec2, r2] = b.run(occ_status);
    REQUIRE_FALSE(ec2);
    REQUIRE(r2.attempts.size() == 1);
    CHECK(r2.attempts[0].route == node_a.to_string());
    CHECK_FALSE(r2.attempts[0].ec);
}

TEST_CASE("executor: a proxy stopping under a pooled connection (busy, then the handshake dropped) falls back locally")
{
    // What a proxy's drain looks like to a caller with a pooled connection:
    // "busy" (it takes nothing new), then its port drops the handshake of a
    // new connection. Nothing ran: the run goes on locally, not as
    // "outcome unknown" after the proxy used up every attempt (Release
    // build of tests/nextprism/swarm_executor_stack.cpp:281).
    swarm_executor_options opts;
    opts.prefer_local = false;
    assembly<fixed_retry> a(fixed_retry{0ms, 4}, {node_a}, {"nextcloud"}, opts);
    a.proxy.s->steps = {{error::busy}, {error::connection_failed}, {error::connection_failed}};
    auto [ec, result] = a.run(occ_status);
    INFO(ec.message() << " " << result.reason);
    REQUIRE_FALSE(ec);
    CHECK(a.proxy.s->calls == std::vector<std::string>{node_a.to_string(), node_a.to_string()});
    CHECK(a.local.s->calls == std::vector<std::string>{"local"});
    CHECK(a.executor->statistics().fallbacks == 1);

    // A connection lost after the command was sent is another matter: an
    // import (not idempotent) is not run again anywhere.
    assembly<fixed_retry> b(fixed_retry{0ms, 4}, {node_a}, {"photoprism"}, opts);
    b.proxy.s->steps = {{error::connection_lost}};
    auto [ec2, r2] = b.run(import_files, "photoprism");
    CHECK(ec2 == error::connection_lost);
    CHECK(b.local.s->calls.empty());
}

TEST_CASE("executor: no proxy and no local engine is no_route")
{
    assembly<no_retry> a(no_retry{}, {}, {}, {}, false);
    auto [ec, result] = a.run(occ_status);
    CHECK(ec == error::no_route);
    CHECK(ec == condition::transient);
}

TEST_CASE("executor: swarm off never uses a proxy; a local target is run locally")
{
    swarm_executor_options off;
    off.mode = swarm_mode::off;
    assembly<no_retry> a(no_retry{}, {node_a}, {}, off);
    auto [ec, result] = a.run(occ_status);
    REQUIRE_FALSE(ec);
    CHECK(a.proxy.s->calls.empty());
    CHECK(a.local.s->calls.size() == 1);

    assembly<no_retry> b(no_retry{}, {node_a}, {"nextcloud"});
    auto [ec2, r2] = b.run(occ_status);
    REQUIRE_FALSE(ec2);
    CHECK(b.proxy.s->calls.empty());
    CHECK(b.local.s->calls.size() == 1);
    CHECK(b.executor->statistics().fallbacks == 0);
}

TEST_CASE("executor: the breaker opens after 3 failures, local serves, half-open probe closes it")
{
    using retry = fixed_retry;
    retry policy{0ms, 4};
    swarm_executor_options opts;
    opts.breaker = {3, 30s, 1};
    opts.prefer_local = false; // the proxy first, although the target is here
    assembly<retry> a(policy, {node_a}, {"nextcloud"}, opts);
    using state = basic_endpoint_health<fake_clock>::state;

    // The proxy's node is gone: its attempts time out; after the third the
    // breaker is open and the run's next attempt goes to the local engine.
    a.proxy.s->steps = {{error::timeout}, {error::timeout}, {error::timeout}};
    auto [ec0, r0] = a.run(occ_status);
    REQUIRE_FALSE(ec0);
    CHECK(a.proxy.s->calls.size() == 3);
    CHECK(a.local.s->calls.size() == 1);
    CHECK(a.executor->health().current(node_a) == state::open);
    CHECK(a.executor->statistics().fallbacks == 1);

    // Open: the proxy is not even tried.
    auto [ec, result] = a.run(occ_status);
    REQUIRE_FALSE(ec);
    CHECK(a.proxy.s->calls.size() == 3);
    CHECK(a.local.s->calls.size() == 2);

    // After open_for: half-open, one probe goes to the proxy, which is back.
    fake_clock::current += 29s;
    CHECK(a.executor->health().current(node_a) == state::open);
    fake_clock::current += 1s;
    CHECK(a.executor->health().current(node_a) == state::half_open);
    auto [ec2, r2] = a.run(occ_status);
    REQUIRE_FALSE(ec2);
    CHECK(a.proxy.s->calls.size() == 4);
    CHECK(a.executor->health().current(node_a) == state::closed);

    // A failed probe opens it again at once.
    a.proxy.s->steps = {{error::timeout}, {error::timeout}, {error::timeout}};
    (void)a.run(occ_status);
    REQUIRE(a.executor->health().current(node_a) == state::open);
    fake_clock::current += 30s;
    a.proxy.s->steps = {{error::timeout}};
    (void)a.run(occ_status);
    CHECK(a.executor->health().current(node_a) == state::open);
}

TEST_CASE("executor: a proxy that refuses while it restarts is never locked out")
{
    // Swarm restarts a proxy task in ~5 s; a busy caller meets many
    // refusals meanwhile. The first run after it is back goes to it.
    swarm_executor_options opts;
    opts.breaker = {3, 30s, 1};
    opts.prefer_local = false;
    assembly<fixed_retry> a(fixed_retry{0ms, 2}, {node_a}, {"nextcloud"}, opts);
    for (int run = 1; run <= 10; ++run) {
        a.proxy.s->steps.push_back({boost::asio::error::connection_refused});
        auto [ec, result] = a.run(occ_status);
        REQUIRE_FALSE(ec); // the local engine served
    }
    CHECK(a.executor->health().current(node_a) == basic_endpoint_health<fake_clock>::state::closed);
    auto [ec, result] = a.run(occ_status);
    REQUIRE_FALSE(ec);
    CHECK(a.proxy.s->calls.size() == 11); // back: used at once, no open_for wait
}

TEST_CASE("executor: cancellation stops the wait between attempts")
{
    assembly<fixed_retry> a(fixed_retry{60'000ms, 5}, {node_a}, {}, {}, false);
    a.proxy.s->steps = {{error::pool_timeout}};
    boost::asio::cancellation_signal cancel;
    auto promise = std::make_shared<std::promise<error_code>>();
    auto future = promise->get_future();
    boost::asio::post(a.io.io, [&] {
        a.executor->async_run({"nextcloud", occ_status, 0ms}, {},
                              boost::asio::bind_cancellation_slot(
                                  cancel.slot(), [promise](error_code ec, command_result) { promise->set_value(ec); }));
    });
    // Wait until the first attempt failed, then cancel on the io thread.
    for (int i = 0; i < 500 && a.executor->statistics().attempts < 1; ++i)
        std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(50ms);
    boost::asio::post(a.io.io, [&] { cancel.emit(boost::asio::cancellation_type::terminal); });
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    CHECK(future.get() == error::cancelled);
    CHECK(a.proxy.s->calls.size() == 1);
}

namespace {

/// A discovery whose every lookup takes 300 ms (and supports no
/// cancellation, as nextprism's own lookups), then offers node_a.
struct slow_discovery
{
    using executor_type = net::any_io_executor;
    executor_type ex;
    executor_type get_executor() const { return ex; }
    void invalidate(const std::string&) {}

    template<class Token>
    auto async_locate(std::string, Token&& token)
    {
        return nextprism::async_spawn<placement>(
            ex, std::forward<Token>(token), [ex = ex]() -> net::awaitable<nextprism::op_result<placement>> {
                net::steady_timer wait(ex, 300ms);
                co_await wait.async_wait(nextprism::use_tuple);
                nextprism::op_result<placement> r;
                r.value.proxies = {node_a};
                co_return r;
            });
    }
};

} // namespace

TEST_CASE("executor: a cancellation during the lookup ends the run before any transport")
{
    io_thread io;
    scripted_proxy proxy{io.io.get_executor()};
    basic_swarm_executor<scripted_proxy, slow_discovery, no_retry, scripted_local> executor(
        io.io.get_executor(), proxy, slow_discovery{io.io.get_executor()}, {}, std::nullopt);
    boost::asio::cancellation_signal cancel;
    auto promise = std::make_shared<std::promise<error_code>>();
    auto future = promise->get_future();
    boost::asio::post(io.io, [&] {
        executor.async_run({"nextcloud", occ_status, 0ms}, {},
                           boost::asio::bind_cancellation_slot(
                               cancel.slot(), [promise](error_code ec, command_result) { promise->set_value(ec); }));
    });
    std::this_thread::sleep_for(50ms); // inside the 300 ms lookup
    boost::asio::post(io.io, [&] { cancel.emit(boost::asio::cancellation_type::terminal); });
    REQUIRE(future.wait_for(10s) == std::future_status::ready);
    CHECK(future.get() == error::cancelled);
    CHECK(proxy.s->calls.empty()); // the command was never sent
}

TEST_CASE("blocking_executor: a synchronous call on an owned thread")
{
    using local_executor = basic_swarm_executor<no_proxy, local_only_discovery, no_retry, scripted_local>;
    auto calls = std::make_shared<script>();
    calls->steps.push_back({{}, 3, "out\n"});
    blocking_executor<local_executor> blocking([&](net::any_io_executor ex) {
        return local_executor(ex, no_proxy(ex), local_only_discovery(ex), {}, scripted_local{ex, calls});
    });
    std::string seen;
    auto outcome = blocking.run({"nextcloud", occ_status, 0ms},
                                [&](output_stream, std::string_view d) { seen += d; });
    REQUIRE_FALSE(outcome.ec);
    CHECK(outcome.result.exit_code == 3);
    CHECK(seen == "out\n");
    CHECK(calls->calls == std::vector<std::string>{"local"});
}

// ---- issue 10: bugs, each with a test that failed before its fix -------------

namespace {

/// Each run's delays, as the executor draws them.
struct recorded_delays
{
    std::mutex mutex;
    std::vector<std::vector<long>> runs;
};

/// Exponential backoff whose schedules record what they draw.
struct recording_backoff
{
    exponential_backoff inner;
    std::shared_ptr<recorded_delays> rec = std::make_shared<recorded_delays>();

    struct schedule
    {
        exponential_backoff::schedule inner;
        std::shared_ptr<recorded_delays> rec;
        std::size_t run;

        std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt)
        {
            auto d = inner.next_delay(attempt);
            std::lock_guard lock(rec->mutex);
            if (d)
                rec->runs[run].push_back(static_cast<long>(d->count()));
            return d;
        }
    };
    schedule start(std::uint64_t seed) const
    {
        std::lock_guard lock(rec->mutex);
        rec->runs.emplace_back();
        return {inner.start(seed), rec, rec->runs.size() - 1};
    }
};
static_assert(retry_policy<recording_backoff>);

} // namespace

TEST_CASE("executor: two runs in one process draw different jitter")
{
    recording_backoff policy;
    policy.inner.base = 30ms;
    policy.inner.cap = 30ms;
    policy.inner.max_attempts = 6;
    policy.inner.kind = jitter::full;
    auto rec = policy.rec;
    assembly<recording_backoff> a(policy, {node_a}, {}, {}, false);
    for (int run = 0; run < 2; ++run) {
        a.proxy.s->steps.assign(6, step{error::pool_timeout});
        auto [ec, result] = a.run(occ_status);
        CHECK(ec == error::pool_timeout);
    }
    std::lock_guard lock(rec->mutex);
    REQUIRE(rec->runs.size() == 2);
    REQUIRE(rec->runs[0].size() == 5);
    REQUIRE(rec->runs[1].size() == 5);
    CHECK(rec->runs[0] != rec->runs[1]); // 31^-5 odds of an honest match
}

TEST_CASE("executor: a half-open probe that is cancelled or refused gives its slot back (fake clock)")
{
    using retry = fixed_retry;
    retry policy{0ms, 3};
    swarm_executor_options opts;
    opts.breaker = {1, 30s, 1};
    opts.prefer_local = false;
    assembly<retry> a(policy, {node_a}, {"nextcloud"}, opts);
    using state = basic_endpoint_health<fake_clock>::state;

    for (const error_code outcome : {error_code(error::cancelled), error_code(error::command_not_allowed)}) {
        INFO(outcome.message());
        // One timeout opens the breaker; local serves the run.
        a.proxy.s->calls.clear();
        a.proxy.s->steps = {{error::timeout}};
        auto [ec, r] = a.run(occ_status);
        REQUIRE_FALSE(ec);
        REQUIRE(a.executor->health().current(node_a) == state::open);

        // Half-open: the probe ends neither in success nor in failure.
        fake_clock::current += 30s;
        a.proxy.s->steps = {{outcome}};
        auto [ec2, r2] = a.run(occ_status);
        CHECK(ec2 == outcome);
        CHECK(a.proxy.s->calls.size() == 2);
        CHECK(a.executor->health().current(node_a) == state::half_open);

        // The slot came back: the next run probes again, and closes it.
        auto [ec3, r3] = a.run(occ_status);
        REQUIRE_FALSE(ec3);
        CHECK(a.proxy.s->calls.size() == 3);
        CHECK(a.executor->health().current(node_a) == state::closed);
    }
}

TEST_CASE("executor: every proxy exit status is an error when it comes with the proxy's one stderr line")
{
    struct row
    {
        int status;
        error_code expected;
    };
    const row rows[] = {
        {64, error::proxy_misconfigured}, {65, error::proxy_refused},   {66, error::busy},
        {69, error::target_not_found},    {70, error::proxy_internal},  {74, error::audit_log_failed},
        {75, error::engine_error},        {124, error::timeout},
    };
    for (const auto& [status, expected] : rows) {
        INFO("exit " << status);
        assembly<no_retry> a(no_retry{}, {node_a}, {}, {}, false);
        a.proxy.s->steps = {{{}, status, "", "nextprism: error: something\n"}};
        auto [ec, result] = a.run(import_files, "photoprism");
        CHECK(ec == expected);
    }
    // refused is never retried, busy is (transient, nothing ran).
    assembly<fixed_retry> a(fixed_retry{0ms, 5}, {node_a}, {}, {}, false);
    a.proxy.s->steps = {{{}, 65, "", "nextprism: refused: no whitelisted command matches\n"}, {}};
    auto [ec, result] = a.run(occ_status);
    CHECK(ec == error::proxy_refused);
    CHECK(ec == condition::rejected);
    CHECK(a.proxy.s->calls.size() == 1);
    a.proxy.s->calls.clear();
    a.proxy.s->steps = {{{}, 66, "", "nextprism: busy: another index-class command is running\n"}, {}};
    auto [ec2, r2] = a.run(occ_status);
    CHECK_FALSE(ec2);
    CHECK(a.proxy.s->calls.size() == 2);
    // So is an audit sink that blocked (74): nothing ran, it recovers.
    a.proxy.s->calls.clear();
    a.proxy.s->steps = {{{}, 74, "", "nextprism: cannot write audit log /run/nextprism/audit.fifo: timed out\n"}, {}};
    auto [ec3, r3] = a.run(occ_status);
    CHECK_FALSE(ec3);
    CHECK(a.proxy.s->calls.size() == 2);
}

TEST_CASE("executor: the proxy's start line is taken out of stderr and makes the retry rule exact")
{
    const auto start = proxy_start_line("photoprism.1.xyz", "feedfacecafebeef0000");
    SECTION("taken out of the output, kept in the result")
    {
        assembly<no_retry> a(no_retry{}, {node_a}, {}, {}, false);
        a.proxy.s->steps = {{{}, 0, "ok\n", start + "level=info msg=done\n"}};
        std::string err;
        auto [ec, r] = wait_for<command_result>([&](auto handler) {
            a.executor->async_run({"photoprism", {"photoprism", "status"}, 0ms},
                                  [&err](output_stream s, std::string_view d) {
                                      if (s == output_stream::err)
                                          err += d;
                                  },
                                  std::move(handler));
        });
        REQUIRE_FALSE(ec);
        CHECK(err == "level=info msg=done\n");
        CHECK(r.started_in == "photoprism.1.xyz (exec feedfacecafe)");
        CHECK(r.stderr_bytes == err.size());
    }
    SECTION("each attempt's start is reported with its route, before its output")
    {
        static_assert(reports_start<scripted_proxy, proxy_endpoint>);
        static_assert(!reports_start<scripted_local>);
        // The first proxy answers busy (no start line), the second starts it.
        assembly<fixed_retry> a(fixed_retry{0ms, 3}, {node_a, node_b}, {}, {}, false);
        a.proxy.s->steps = {{{}, 66, "", "nextprism: busy: another index-class command is running\n"},
                            {{}, 0, "ok\n", start}};
        std::vector<std::string> events;
        auto [ec, r] = wait_for<command_result>([&](auto handler) {
            a.executor->async_run({"photoprism", {"photoprism", "status"}, 0ms},
                                  [&events](output_stream s, std::string_view d) {
                                      events.push_back((s == output_stream::out ? "out " : "err ") + std::string(d));
                                  },
                                  [&events](const start_report& at) {
                                      events.push_back("started " + at.route + " " + at.container + " " +
                                                       at.exec_id + " " + at.label());
                                  },
                                  std::move(handler));
        });
        REQUIRE_FALSE(ec);
        REQUIRE(a.proxy.s->calls.size() == 2);
        const std::string second = a.proxy.s->calls[1];
        // The busy attempt started nothing: its proxy's line, and no start.
        REQUIRE(events.size() == 3);
        CHECK(events[0].starts_with("err nextprism: busy"));
        CHECK(events[1] == "started " + second + " photoprism.1.xyz feedfacecafe photoprism.1.xyz (exec feedfacecafe)");
        CHECK(events[2] == "out ok\n");
        CHECK(r.started_in == "photoprism.1.xyz (exec feedfacecafe)");
    }
    SECTION("the start line read back: a container name with spaces and parentheses")
    {
        const auto at = proxy_reply::start_of("odd (name) (exec 0123456789ab)");
        CHECK(at.container == "odd (name)");
        CHECK(at.exec_id == "0123456789ab");
        CHECK(proxy_reply::start_of("no exec here").container == "no exec here");
    }
    SECTION("an engine error before the start: photoprism import is run again (nothing ran)")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 3}, {node_a}, {}, {}, false);
        a.proxy.s->steps = {{{}, 75, "", "nextprism: error: docker engine error\n"}, {}};
        auto [ec, r] = a.run(import_files, "photoprism");
        CHECK_FALSE(ec);
        CHECK(a.proxy.s->calls.size() == 2);
    }
    SECTION("the same error after the start line: never again")
    {
        assembly<fixed_retry> a(fixed_retry{0ms, 3}, {node_a}, {}, {}, false);
        a.proxy.s->steps = {{{}, 75, "", start + "nextprism: error: docker engine error\n"}, {}};
        auto [ec, r] = a.run(import_files, "photoprism");
        CHECK(ec == error::engine_error);
        CHECK(a.proxy.s->calls.size() == 1);
        CHECK_FALSE(r.started_in.empty());
    }
    SECTION("a timeout reported after the start line is the proxy's error")
    {
        assembly<no_retry> a(no_retry{}, {node_a}, {}, {}, false);
        a.proxy.s->steps = {{{}, 124, "", start + "nextprism: error: timed out after 5 s; the command was stopped\n"}};
        auto [ec, r] = a.run(import_files, "photoprism");
        CHECK(ec == error::timeout);
    }
}

TEST_CASE("executor: a target command that exits 66 or 69 itself is data, not a proxy refusal")
{
    // PhotoPrism logs only to stderr, so its stdout is empty too.
    const std::string photoprism_log =
        "time=\"2026-12-01T10:00:00Z\" level=error msg=\"index: database is locked\"\n";
    for (int status : {64, 65, 66, 69, 70, 74, 75, 124}) {
        INFO("exit " << status);
        assembly<fixed_retry> a(fixed_retry{0ms, 5}, {node_a, node_b}, {}, {}, false);
        a.proxy.s->steps = {{{}, status, "", photoprism_log}, {}};
        auto [ec, result] = a.run({"photoprism", "index"}, "photoprism");
        REQUIRE_FALSE(ec);
        CHECK(result.exit_code == status);
        CHECK(a.proxy.s->calls.size() == 1);

        // A "nextprism: " line that is not alone is not the proxy's either.
        a.proxy.s->calls.clear();
        a.proxy.s->steps = {{{}, status, "", "nextprism: x\n" + photoprism_log}, {}};
        auto [ec2, r2] = a.run({"photoprism", "index"}, "photoprism");
        REQUIRE_FALSE(ec2);
        CHECK(r2.exit_code == status);

        // Nor is one that comes with output on stdout.
        a.proxy.s->steps = {{{}, status, "done\n", "nextprism: x\n"}, {}};
        auto [ec3, r3] = a.run({"photoprism", "index"}, "photoprism");
        REQUIRE_FALSE(ec3);
        CHECK(r3.exit_code == status);
    }
}

TEST_CASE("executor: failure lines of an exit-0 command are reported, the exit status kept")
{
    assembly<no_retry> a(no_retry{});
    SECTION("PhotoPrism logs an error and exits 0, through a proxy")
    {
        a.proxy.s->steps.push_back(
            {{}, 0, "", "time=\"2025-01-02T03:04:05Z\" level=info msg=\"indexing\"\n"
                        "time=\"2025-01-02T03:04:05Z\" level=error msg=\"index: directory "
                        "/photoprism/originals/x not found\"\n"});
        auto [ec, r] = a.run({"photoprism", "index", "x"}, "photoprism");
        REQUIRE_FALSE(ec);
        CHECK(r.exit_code == 0);
        REQUIRE(r.failure_lines.size() == 1);
        CHECK(r.failure_lines[0].find("level=error") != std::string::npos);
        CHECK_FALSE(r.succeeded());
    }
    SECTION("occ files:scan with an unknown user, on the local engine")
    {
        assembly<no_retry> here(no_retry{}, {node_a}, {"nextcloud"});
        here.local.s->steps.push_back({{}, 0, "Unknown user 1 ghost\n"});
        auto [ec, r] = here.run({"php", "occ", "files:scan", "ghost"});
        REQUIRE_FALSE(ec);
        CHECK(here.local.s->calls == std::vector<std::string>{"local"});
        CHECK(r.failure_lines == std::vector<std::string>{"Unknown user 1 ghost"});
    }
    SECTION("opted out per call")
    {
        a.proxy.s->steps.push_back({{}, 0, "", "ERRO[0000] x\n"});
        command_request request{"photoprism", {"photoprism", "index"}, 0ms};
        request.detect_failures = false;
        auto [ec, r] = wait_for<command_result>(
            [&](auto handler) { a.executor->async_run(request, {}, std::move(handler)); });
        REQUIRE_FALSE(ec);
        CHECK(r.failure_lines.empty());
        CHECK(r.succeeded());
    }
    SECTION("a clean run has none")
    {
        a.proxy.s->steps.push_back({{}, 0, "operational\n"});
        auto [ec, r] = a.run({"photoprism", "status"}, "photoprism");
        REQUIRE_FALSE(ec);
        CHECK(r.failure_lines.empty());
    }
}

TEST_CASE("executor: photoprism index --cleanup is never re-run after an unknown outcome")
{
    assembly<fixed_retry> a(fixed_retry{0ms, 3});
    a.proxy.s->steps = {{error::outcome_unknown}, {}};
    auto [ec, r] = a.run({"photoprism", "index", "--cleanup"}, "photoprism");
    CHECK(ec == error::outcome_unknown);
    CHECK(a.proxy.s->calls.size() == 1);
    // Without --cleanup the same outcome is retried: index is idempotent.
    a.proxy.s->steps = {{error::outcome_unknown}, {}};
    a.proxy.s->calls.clear();
    auto [ec2, r2] = a.run({"photoprism", "index"}, "photoprism");
    CHECK_FALSE(ec2);
    CHECK(a.proxy.s->calls.size() == 2);
}
