#ifndef NEXTPRISM_DISCOVERY_CONCEPT_HPP
#define NEXTPRISM_DISCOVERY_CONCEPT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/discovery/placement.hpp>
#include <nextprism/error.hpp>

#include <concepts>
#include <string>

namespace nextprism {

namespace detail {

/// The completion handler a discovery policy must accept (an archetype).
struct locate_handler_archetype
{
    void operator()(error_code, placement) {}
};

} // namespace detail

/** A discovery policy tells the executor where a target service runs and
    which proxies reach it. It only discovers: how runs through an endpoint
    went is the executor's (executor/endpoint_health.hpp).

    Requirements:
    - `executor_type` and `get_executor()`;
    - `async_locate(service, token)`: `void(error_code, placement)`;
    - `invalidate(service)`: forget what is known of `service` (the
      executor calls it when an attempt says the target or proxy moved).

    A lookup need not support cancellation (nextprism's support none: each
    is bounded by its engine's request timeout or the resolver's); the
    executor stops waiting for it when its own run is cancelled.
*/
template<class D>
concept discovery_policy = requires(D& d, std::string service) {
    typename D::executor_type;
    { d.get_executor() } -> std::convertible_to<typename D::executor_type>;
    d.async_locate(service, detail::locate_handler_archetype{});
    d.invalidate(service);
};

/** Where placements come from before caching: one lookup, no memory.
    `async_lookup(service, token)`: `void(error_code, placement)`. A source
    that can tell when the world changed also has `watch(on_change)`. */
template<class S>
concept discovery_source = requires(S& s, std::string service) {
    s.async_lookup(service, detail::locate_handler_archetype{});
};

} // namespace nextprism

#endif
