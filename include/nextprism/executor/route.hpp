#ifndef NEXTPRISM_EXECUTOR_ROUTE_HPP
#define NEXTPRISM_EXECUTOR_ROUTE_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/discovery/placement.hpp>

namespace nextprism {

/// Whether to route through Swarm at all.
enum class swarm_mode {
    automatic, ///< ask the engine (discovery): outside Swarm, run locally
    on,        ///< always route by discovery
    off,       ///< never use a proxy: local engine only
};

/// Where one attempt goes.
struct route
{
    enum class kind { none, local, proxy };
    kind how = kind::none;
    proxy_endpoint endpoint; ///< when `proxy`
    bool fallback = false;   ///< local only because no proxy was usable
};

/** The routing decision, pure so that it is tested on its own.

    Local when Swarm is off (or inactive, in automatic mode), or when the
    target runs on this node and `prefer_local`; else the first proxy on
    the target's node whose breaker lets it through (`allow(endpoint)`);
    else local as a fallback unless discovery knows the target is
    elsewhere; else none. `local_available`: the executor has a local
    engine to run on. */
template<class Allow>
route choose_route(swarm_mode mode, bool prefer_local, const placement& p, bool local_available,
                   Allow&& allow)
{
    const route local{route::kind::local, {}};
    const route none{};
    if (mode == swarm_mode::off || (mode == swarm_mode::automatic && p.swarm_active == false))
        return local_available ? local : none;
    if (prefer_local && local_available && p.target_local == true)
        return local;
    for (const auto& ep : p.proxies)
        if (allow(ep))
            return {route::kind::proxy, ep};
    if (local_available && p.target_local != false)
        return {route::kind::local, {}, true};
    return none;
}

} // namespace nextprism

#endif
