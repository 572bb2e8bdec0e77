#ifndef NEXTPRISM_DISCOVERY_CACHE_HPP
#define NEXTPRISM_DISCOVERY_CACHE_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/discovery/placement.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

    /// One entry as the admin view shows it.
    struct entry_view
    {
        std::string service;
        placement value;
        typename Clock::duration age;
        bool fresh;
    };

    /// Every entry, fresh or stale, with its age at `now`.
    std::vector<entry_view> snapshot(time_point now) const
    {
        std::vector<entry_view> out;
        for (const auto& [service, e] : entries_)
            out.push_back({service, e.value, now - e.stored_at, now - e.stored_at < e.keep_for});
        return out;
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

using placement_cache = basic_placement_cache<>;

} // namespace nextprism

#endif
