#include <nextprism/discovery/cache.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

#include "support/fake_clock.hpp"

using namespace nextprism;
using namespace std::chrono_literals;
using nextprism::test::fake_clock;

namespace {
const proxy_endpoint a{"10.0.0.1", 2222, "n1"};
const proxy_endpoint b{"10.0.0.2", 2222, "n2"};
} // namespace

TEST_CASE("placement cache: fresh for the TTL, stale after, gone when invalidated")
{
    basic_placement_cache<fake_clock> cache;
    const auto t0 = fake_clock::time_point{} + 1000s;
    placement p;
    p.proxies = {a};
    CHECK_FALSE(cache.fresh("nextcloud", t0));
    cache.store("nextcloud", p, t0);
    REQUIRE(cache.fresh("nextcloud", t0 + 59'999ms));
    CHECK(cache.fresh("nextcloud", t0 + 59'999ms)->proxies.front() == a);
    CHECK_FALSE(cache.fresh("nextcloud", t0 + 60s)); // default TTL: 60 s
    CHECK(cache.stale("nextcloud"));
    CHECK_FALSE(cache.fresh("photoprism", t0));

    cache.ttl = 5s;
    cache.store("photoprism", p, t0);
    CHECK(cache.fresh("photoprism", t0 + 4s));
    CHECK_FALSE(cache.fresh("photoprism", t0 + 5s));

    cache.invalidate("nextcloud");
    CHECK_FALSE(cache.stale("nextcloud"));
    CHECK(cache.stale("photoprism"));
    cache.invalidate_all();
    CHECK_FALSE(cache.stale("photoprism"));
}

TEST_CASE("endpoint tracker: 3 consecutive failures drop an endpoint until the cool-down passed")
{
    basic_endpoint_tracker<fake_clock> tracker;
    tracker.cool_down = 60s;
    const auto t0 = fake_clock::time_point{} + 1000s;
    placement p;
    p.proxies = {a, b};

    tracker.record_failure(a, t0);
    tracker.record_failure(a, t0);
    CHECK(tracker.usable(a, t0));
    tracker.record_success(a); // a success clears the count
    CHECK(tracker.consecutive_failures(a) == 0);
    tracker.record_failure(a, t0);
    tracker.record_failure(a, t0);
    tracker.record_failure(a, t0 + 1s);
    CHECK(tracker.consecutive_failures(a) == 3);
    CHECK_FALSE(tracker.usable(a, t0 + 1s));
    CHECK(tracker.usable(b, t0 + 1s));
    auto filtered = tracker.filter(p, t0 + 30s);
    REQUIRE(filtered.proxies.size() == 1);
    CHECK(filtered.proxies.front() == b);

    // Cool-down counted from the last failure.
    CHECK_FALSE(tracker.usable(a, t0 + 60s));
    CHECK(tracker.usable(a, t0 + 61s));
    CHECK(tracker.filter(p, t0 + 61s).proxies.size() == 2);
    // Offered again; one more failure and it is out for another cool-down.
    tracker.record_failure(a, t0 + 62s);
    CHECK_FALSE(tracker.usable(a, t0 + 63s));
    CHECK(tracker.usable(a, t0 + 122s));
}

TEST_CASE("placement cache: an entry stored with a shorter keep_for expires sooner, never later than the TTL")
{
    basic_placement_cache<fake_clock> cache;
    const auto t0 = fake_clock::time_point{} + 1000s;
    placement p;
    cache.store("nextcloud", p, t0, 2s);
    CHECK(cache.fresh("nextcloud", t0 + 1'999ms));
    CHECK_FALSE(cache.fresh("nextcloud", t0 + 2s));
    CHECK(cache.stale("nextcloud"));
    cache.store("photoprism", p, t0, 600s); // capped at the TTL
    CHECK(cache.fresh("photoprism", t0 + 59s));
    CHECK_FALSE(cache.fresh("photoprism", t0 + 60s));
}

TEST_CASE("endpoint tracker: an endpoint out only for being unreachable is back once a health check reaches it")
{
    basic_endpoint_tracker<fake_clock> tracker;
    const auto t0 = fake_clock::time_point{} + 1000s;
    for (int i = 0; i < 3; ++i) {
        tracker.record_failure(a, t0, endpoint_failure::unreachable);
        tracker.record_failure(b, t0, i == 1 ? endpoint_failure::other : endpoint_failure::unreachable);
    }
    CHECK_FALSE(tracker.usable(a, t0 + 5s));
    CHECK_FALSE(tracker.usable(b, t0 + 5s));
    CHECK(tracker.worth_probing(a, t0 + 5s));       // a restarting proxy: look again
    CHECK_FALSE(tracker.worth_probing(b, t0 + 5s)); // it answered and failed once: cool down
    tracker.record_reachable(a);
    tracker.record_reachable(b); // no effect: b's failures were not only "unreachable"
    CHECK(tracker.usable(a, t0 + 5s));
    CHECK(tracker.consecutive_failures(a) == 0);
    CHECK_FALSE(tracker.usable(b, t0 + 5s));
    CHECK(tracker.consecutive_failures(b) == 3);
    CHECK(tracker.usable(b, t0 + 60s));
}
