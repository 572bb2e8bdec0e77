#include <nextprism/executor/endpoint_health.hpp> // first: the header is self-contained

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include "support/fake_clock.hpp"

using namespace nextprism;
using namespace std::chrono_literals;
using nextprism::test::fake_clock;
using breaker_state = circuit_breaker<fake_clock>::state;

TEST_CASE("circuit breaker: closed, open, half-open, closed again (fake clock)")
{
    circuit_breaker<fake_clock> breaker({3, 30s, 1});
    using state = breaker_state;
    auto& now = fake_clock::current;
    now = fake_clock::time_point{};

    CHECK(breaker.allow(now));
    breaker.record_failure(now);
    breaker.record_failure(now);
    CHECK(breaker.current(now) == state::closed);
    breaker.record_failure(now);
    CHECK(breaker.current(now) == state::open);
    CHECK_FALSE(breaker.allow(now));

    now += 29s;
    CHECK_FALSE(breaker.allow(now));
    now += 1s;
    CHECK(breaker.current(now) == state::half_open);
    CHECK(breaker.allow(now));        // the one probe
    CHECK_FALSE(breaker.allow(now));  // no second one while it runs
    breaker.record_failure(now);      // the probe failed: open again
    CHECK(breaker.current(now) == state::open);
    CHECK_FALSE(breaker.allow(now + 10s));

    now += 30s;
    CHECK(breaker.allow(now));
    breaker.record_success(now);      // the probe succeeded: closed
    CHECK(breaker.current(now) == state::closed);
    CHECK(breaker.allow(now));
    breaker.record_failure(now);      // failures count again from zero
    CHECK(breaker.current(now) == state::closed);
}

TEST_CASE("circuit breaker: a probe given back without an outcome frees its slot, once (fake clock)")
{
    circuit_breaker<fake_clock> breaker({1, 30s, 1});
    using state = breaker_state;
    auto now = fake_clock::time_point{};
    breaker.record_failure(now);
    now += 30s;
    const auto probe = breaker.admit(now);
    REQUIRE(probe);
    CHECK(probe.probe);
    CHECK_FALSE(breaker.admit(now));
    breaker.release(probe); // cancelled: no outcome
    CHECK(breaker.current(now) == state::half_open);
    const auto second = breaker.admit(now);
    REQUIRE(second);
    CHECK_FALSE(breaker.admit(now));
    breaker.record_failure(now); // the second probe failed: open, a new period
    now += 30s;
    const auto third = breaker.admit(now);
    REQUIRE(third);
    breaker.release(second); // a probe of an earlier period cannot free this one's slot
    CHECK_FALSE(breaker.admit(now));
    CHECK_FALSE(breaker.admit(now).probe);
    breaker.record_success(now);
    const auto closed_pass = breaker.admit(now);
    CHECK(closed_pass);
    CHECK_FALSE(closed_pass.probe); // closed: nothing to give back
}

TEST_CASE("endpoint verdicts come from the error table")
{
    CHECK(judge_endpoint({}) == endpoint_verdict::healthy);
    // The proxy answered and the attempt failed there.
    CHECK(judge_endpoint(error::connection_lost) == endpoint_verdict::failing);
    CHECK(judge_endpoint(error::connection_failed) == endpoint_verdict::failing); // a dropped handshake
    CHECK(judge_endpoint(error::authentication_failed) == endpoint_verdict::failing);
    CHECK(judge_endpoint(error::timeout) == endpoint_verdict::failing);
    CHECK(judge_endpoint(error::proxy_internal) == endpoint_verdict::failing);
    // Refused at once (a proxy restarting): neutral, no lockout after it is
    // back; discovery's health check keeps it out meanwhile.
    CHECK(judge_endpoint(boost::asio::error::connection_refused) == endpoint_verdict::neutral);
    CHECK(judge_endpoint(boost::asio::error::host_unreachable) == endpoint_verdict::neutral);
    // Nothing about the endpoint: a refusal, a cancellation, the target on
    // another node (the proxy said so: it works), a single-flight command busy.
    CHECK(judge_endpoint(error::command_not_allowed) == endpoint_verdict::neutral);
    CHECK(judge_endpoint(error::proxy_refused) == endpoint_verdict::neutral);
    CHECK(judge_endpoint(error::cancelled) == endpoint_verdict::neutral);
    CHECK(judge_endpoint(error::target_not_running) == endpoint_verdict::neutral);
    CHECK(judge_endpoint(error::busy) == endpoint_verdict::neutral);
    CHECK(judge_endpoint(error::pool_timeout) == endpoint_verdict::neutral); // our own queue
}

TEST_CASE("endpoint health: one breaker per endpoint, all from one set of options (fake clock)")
{
    fake_clock::current = fake_clock::time_point{};
    basic_endpoint_health<fake_clock> health({2, 10s, 1});
    const proxy_endpoint a{"10.0.0.1", 22, {}}, b{"10.0.0.2", 22, {}};
    using state = basic_endpoint_health<fake_clock>::state;

    for (int i = 0; i < 2; ++i) {
        auto t = health.admit(a);
        REQUIRE(t);
        t.resolve(error::connection_lost);
    }
    CHECK(health.current(a) == state::open);
    CHECK(health.current(b) == state::closed); // b has its own
    CHECK_FALSE(health.admit(a));
    {
        auto t = health.admit(b);
        REQUIRE(t);
        t.resolve(error::target_not_found); // neutral: the proxy answered "not here"
    }
    CHECK(health.current(b) == state::closed);

    const auto listed = health.list();
    REQUIRE(listed.size() == 2);
    CHECK(listed[0].endpoint == a);
    CHECK(listed[0].current == state::open);
    CHECK(listed[0].consecutive_failures == 2);
    CHECK(listed[1].consecutive_failures == 0);

    // Copies share one state: the executor hands out views of its own.
    auto view = health;
    CHECK(view.current(a) == state::open);
}

TEST_CASE("endpoint health: a ticket dropped or resolved neutral gives its probe slot back (fake clock)")
{
    fake_clock::current = fake_clock::time_point{};
    basic_endpoint_health<fake_clock> health({1, 10s, 1});
    const proxy_endpoint a{"10.0.0.1", 22, {}};
    using state = basic_endpoint_health<fake_clock>::state;
    health.admit(a).resolve(error::connection_lost);
    REQUIRE(health.current(a) == state::open);
    fake_clock::current += 10s;

    {
        auto probe = health.admit(a);
        REQUIRE(probe);
        CHECK_FALSE(health.admit(a)); // the only probe slot is taken
    } // dropped unresolved (e.g. the run's coroutine was destroyed)
    {
        auto probe = health.admit(a);
        REQUIRE(probe);
        probe.resolve(error::cancelled); // neutral
    }
    auto probe = health.admit(a);
    REQUIRE(probe);
    auto moved = std::move(probe); // the slot moves with the ticket, it is not given back twice
    CHECK_FALSE(health.admit(a));
    moved.resolve({});
    CHECK(health.current(a) == state::closed);
    CHECK(health.admit(a));
}

TEST_CASE("circuit breaker: since when it is in its state, half-open included (fake clock)")
{
    circuit_breaker<fake_clock> breaker({1, 30s, 1});
    using state = breaker_state;
    const auto t0 = fake_clock::time_point{} + 100s;
    CHECK(breaker.since(t0) == fake_clock::time_point{}); // closed since it was made
    breaker.record_failure(t0 + 1s);
    CHECK(breaker.current(t0 + 2s) == state::open);
    CHECK(breaker.since(t0 + 2s) == t0 + 1s);
    CHECK(breaker.current(t0 + 40s) == state::half_open);
    CHECK(breaker.since(t0 + 40s) == t0 + 31s); // half-open when open_for ran out, not when asked
    REQUIRE(breaker.allow(t0 + 40s));
    breaker.record_success(t0 + 41s);
    CHECK(breaker.since(t0 + 50s) == t0 + 41s);
    breaker.record_success(t0 + 60s); // still closed: the time it closed stays
    CHECK(breaker.since(t0 + 61s) == t0 + 41s);
}
