#include <nextprism/retry.hpp> // first: the header is self-contained

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <set>
#include <vector>

#include "support/fake_clock.hpp"

using namespace nextprism;
using namespace std::chrono_literals;
using nextprism::test::fake_clock;

TEST_CASE("may it have started? the error table says; is_retryable reads it")
{
    // Known to come before the start: even a non-idempotent command may be retried.
    CHECK_FALSE(may_have_started(boost::asio::error::connection_refused));
    CHECK_FALSE(may_have_started(error::no_route));
    CHECK_FALSE(may_have_started(error::busy));
    CHECK_FALSE(may_have_started(error::target_not_running));
    CHECK(is_retryable(error::no_route, false));
    // Anything else may have run: only an idempotent command is repeated.
    CHECK(may_have_started(error::connection_lost));
    CHECK(may_have_started(error::timeout));
    CHECK(may_have_started(boost::asio::error::eof));
    CHECK_FALSE(is_retryable(error::connection_lost, false));
    CHECK(is_retryable(error::connection_lost, true));
    CHECK_FALSE(may_have_started({}));
}

TEST_CASE("only transient failures of commands that did not run are retried")
{
    CHECK(is_retryable(boost::asio::error::connection_refused, false, true));
    CHECK(is_retryable(error::connection_lost, false, false));
    CHECK(is_retryable(error::target_not_found, false, true));
    CHECK_FALSE(is_retryable({}, false, true));                         // success
    CHECK_FALSE(is_retryable(error::command_not_allowed, false, true)); // refused
    CHECK_FALSE(is_retryable(error::host_key_mismatch, false, true));
    CHECK_FALSE(is_retryable(error::authentication_failed, false, true));
    CHECK_FALSE(is_retryable(error::connection_lost, true, false)); // import may have moved files
    CHECK(is_retryable(error::outcome_unknown, true, true));         // a scan is safe to repeat
    CHECK_FALSE(is_retryable(error::outcome_unknown, true, false));
}

TEST_CASE("no_retry and fixed_retry")
{
    auto none = no_retry{}.start(0);
    CHECK_FALSE(none.next_delay(1));
    auto fixed = fixed_retry{250ms, 3}.start(0);
    CHECK(fixed.next_delay(1) == 250ms);
    CHECK(fixed.next_delay(2) == 250ms);
    CHECK_FALSE(fixed.next_delay(3)); // three attempts in all
}

TEST_CASE("exponential backoff without jitter doubles up to the cap")
{
    exponential_backoff config;
    config.base = 100ms;
    config.cap = 1000ms;
    config.max_attempts = 7;
    config.kind = jitter::none;
    auto b = config.start(1);
    CHECK(b.next_delay(1) == 100ms);
    CHECK(b.next_delay(2) == 200ms);
    CHECK(b.next_delay(3) == 400ms);
    CHECK(b.next_delay(4) == 800ms);
    CHECK(b.next_delay(5) == 1000ms);
    CHECK(b.next_delay(6) == 1000ms);
    CHECK_FALSE(b.next_delay(7));
}

TEST_CASE("jitter stays within its bounds and is reproducible with a seed")
{
    for (auto kind : {jitter::full, jitter::equal, jitter::decorrelated}) {
        exponential_backoff config;
        config.base = 100ms;
        config.cap = 2000ms;
        config.max_attempts = 1000;
        config.kind = kind;
        auto b = config.start(42), same = config.start(42);
        std::set<long> seen;
        for (std::size_t attempt = 1; attempt < 200; ++attempt) {
            const auto d = b.next_delay(attempt);
            REQUIRE(d);
            CHECK(d == same.next_delay(attempt));
            const double exp = std::min(2000.0, 100.0 * std::pow(2.0, double(attempt - 1)));
            CHECK(d->count() <= 2000);
            if (kind == jitter::full)
                CHECK(d->count() <= static_cast<long>(exp));
            if (kind == jitter::equal)
                CHECK(d->count() >= static_cast<long>(exp / 2) - 1);
            if (kind == jitter::decorrelated)
                CHECK(d->count() >= 100);
            seen.insert(static_cast<long>(d->count()));
        }
        CHECK(seen.size() > 50); // actually random
    }
}

TEST_CASE("a strategy is configuration: each run's schedule has its own state and generator")
{
    exponential_backoff config;
    config.base = 100ms;
    config.cap = 2000ms;
    config.max_attempts = 10;
    config.kind = jitter::decorrelated;
    auto first = config.start(1), second = config.start(2), again = config.start(1);
    std::vector<long> a, b, c;
    for (std::size_t attempt = 1; attempt < 10; ++attempt) {
        a.push_back(static_cast<long>(first.next_delay(attempt)->count()));
        b.push_back(static_cast<long>(second.next_delay(attempt)->count()));
        c.push_back(static_cast<long>(again.next_delay(attempt)->count()));
    }
    CHECK(a != b); // different seeds, different delays
    CHECK(a == c); // a schedule's state (previous delay) is its own, not the strategy's

    any_retry chosen = fixed_retry{10ms, 2};
    auto s = chosen.start(0);
    CHECK(s.next_delay(1) == 10ms);
    CHECK_FALSE(s.next_delay(2));
    CHECK_FALSE(any_retry(no_retry{}).start(0).next_delay(1));
}

