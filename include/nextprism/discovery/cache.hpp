#ifndef NEXTPRISM_DISCOVERY_CACHE_HPP
#define NEXTPRISM_DISCOVERY_CACHE_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/discovery/placement.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace nextprism {

/** Placements by target service, each kept for `ttl` after it was
    looked up (or for a shorter time given when it was stored: a placement
    that left a candidate out is looked up again sooner). Pure: the caller
    passes the time, so tests use a fake clock.
    An expired entry is still returned by `stale()`: when a refresh fails,
    a placement a minute old beats none. */
template<class Clock = std::chrono::steady_clock>
class basic_placement_cache
{
public:
    using time_point = typename Clock::time_point;
    typename Clock::duration ttl = std::chrono::seconds(60);

    /// The entry for `service` if it is younger than `ttl`.
    std::optional<placement> fresh(const std::string& service, time_point now) const
    {
        const auto it = entries_.find(service);
        if (it == entries_.end() || now - it->second.stored_at >= it->second.keep_for)
            return std::nullopt;
        return it->second.value;
    }

    /// The entry for `service` whatever its age.
    std::optional<placement> stale(const std::string& service) const
    {
        const auto it = entries_.find(service);
        if (it == entries_.end())
            return std::nullopt;
        return it->second.value;
    }

    /// Kept for `ttl`, or for `keep_for` if that is shorter.
    void store(const std::string& service, placement p, time_point now,
               std::optional<typename Clock::duration> keep_for = std::nullopt)
    {
        entries_[service] = entry{std::move(p), now, keep_for ? std::min(*keep_for, ttl) : ttl};
    }

    void invalidate(const std::string& service) { entries_.erase(service); }
    void invalidate_all() { entries_.clear(); }

private:
    struct entry
    {
        placement value;
        time_point stored_at;
        typename Clock::duration keep_for;
    };
    std::map<std::string, entry> entries_;
};

/// What a failure at an endpoint says about it.
enum class endpoint_failure {
    other,       ///< it answered, but the run failed (lost connection, authentication, …)
    unreachable, ///< nothing answered: connection refused, no route, health check failed
};

/** Consecutive failures per proxy endpoint. After `failure_threshold` in a
    row an endpoint is left out of placements until `cool_down` has passed;
    then it is offered again, and one more failure sends it back. A success
    clears its record. An endpoint whose failures were all `unreachable`
    (a proxy that was restarting, a node that was away) is still worth a
    health check while it cools down, and one that passes
    (`record_reachable`) ends the cool-down at once: a proxy that comes
    back is used within seconds. Pure, like the cache. */
template<class Clock = std::chrono::steady_clock>
class basic_endpoint_tracker
{
public:
    using time_point = typename Clock::time_point;
    std::size_t failure_threshold = 3;
    typename Clock::duration cool_down = std::chrono::seconds(60);

    void record_success(const proxy_endpoint& ep) { records_.erase(ep); }

    void record_failure(const proxy_endpoint& ep, time_point now,
                        endpoint_failure kind = endpoint_failure::other)
    {
        auto& r = records_[ep];
        ++r.consecutive_failures;
        r.last_failure = now;
        r.unreachable_only = r.unreachable_only && kind == endpoint_failure::unreachable;
    }

    /// A health check reached `ep`: forget failures that were all "unreachable".
    void record_reachable(const proxy_endpoint& ep)
    {
        const auto it = records_.find(ep);
        if (it != records_.end() && it->second.unreachable_only)
            records_.erase(it);
    }

    /// Whether a health check of `ep` is worth making now: it is usable,
    /// or it cools down only for having been unreachable.
    bool worth_probing(const proxy_endpoint& ep, time_point now) const
    {
        if (usable(ep, now))
            return true;
        const auto it = records_.find(ep);
        return it != records_.end() && it->second.unreachable_only;
    }

    /// Whether `ep` may be offered now.
    bool usable(const proxy_endpoint& ep, time_point now) const
    {
        const auto it = records_.find(ep);
        if (it == records_.end() || it->second.consecutive_failures < failure_threshold)
            return true;
        return now - it->second.last_failure >= cool_down;
    }

    std::size_t consecutive_failures(const proxy_endpoint& ep) const
    {
        const auto it = records_.find(ep);
        return it == records_.end() ? 0 : it->second.consecutive_failures;
    }

    /// `p` without the endpoints that are cooling down (order kept).
    placement filter(placement p, time_point now) const
    {
        std::erase_if(p.proxies, [&](const proxy_endpoint& ep) { return !usable(ep, now); });
        return p;
    }

private:
    struct record
    {
        std::size_t consecutive_failures = 0;
        time_point last_failure{};
        bool unreachable_only = true;
    };
    std::map<proxy_endpoint, record> records_;
};

using placement_cache = basic_placement_cache<>;
using endpoint_tracker = basic_endpoint_tracker<>;

} // namespace nextprism

#endif
