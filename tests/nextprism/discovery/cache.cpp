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


TEST_CASE("placement cache: the admin snapshot lists every entry with its age and freshness")
{
    basic_placement_cache<fake_clock> cache;
    const auto t0 = fake_clock::time_point{} + 1000s;
    placement p;
    p.proxies = {a, b};
    cache.store("nextcloud", p, t0);
    cache.store("photoprism", p, t0 + 50s, 5s);
    const auto entries = cache.snapshot(t0 + 58s);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].service == "nextcloud");
    CHECK(entries[0].age == 58s);
    CHECK(entries[0].fresh);
    CHECK(entries[0].value.proxies.size() == 2);
    CHECK(entries[1].service == "photoprism");
    CHECK(entries[1].age == 8s);
    CHECK_FALSE(entries[1].fresh); // kept for 5 s only
    CHECK_FALSE(cache.snapshot(t0 + 60s)[0].fresh);
}
