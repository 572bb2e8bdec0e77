#ifndef NEXTPRISM_DISCOVERY_CACHED_HPP
#define NEXTPRISM_DISCOVERY_CACHED_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/discovery/cache.hpp>
#include <nextprism/discovery/concept.hpp>
#include <nextprism/error.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace nextprism {

/// How a candidate proxy is checked before it is offered.
enum class health_check {
    none,
    tcp,    ///< a TCP connect to the SSH port
    banner, ///< the connect, then the server's "SSH-2.0-" identification line
};

struct discovery_options
{
    std::chrono::milliseconds ttl{60'000};          ///< placements are looked up again after this
    nextprism::health_check health = health_check::tcp;
    std::chrono::milliseconds health_timeout{2'000}; ///< per candidate
    /// A placement that left out a candidate whose health check failed, or
    /// that offers no route at all (no proxy, target not here), is looked
    /// up again after this instead of `ttl`: a proxy that comes back, or a
    /// task that finished moving, is found within seconds.
    std::chrono::milliseconds negative_ttl{2'000};
};

/** Any source, with what every backend shares: a TTL cache of placements
    (stale ones served when a refresh fails), health checks of new
    candidates (one that fails is left out, and the placement is looked up
    again after `negative_ttl`), and invalidation by the executor on
    "moved" errors and by the source's change events. It keeps no record
    of how runs went: endpoint health is the executor's
    (executor/endpoint_health.hpp).

    Thread-safe; the source's lookups run on `get_executor()`.
*/
template<discovery_source Source, class Clock = std::chrono::steady_clock>
class basic_cached_discovery
{
public:
    using executor_type = boost::asio::any_io_executor;
    using source_type = Source;

    template<class... SourceArgs>
    basic_cached_discovery(executor_type ex, discovery_options opts, SourceArgs&&... source_args);

    executor_type get_executor() const noexcept { return state_->ex; }
    Source& source() noexcept { return state_->source; }

    /// `void(error_code, placement)`; the placement leaves out candidates
    /// whose health check failed. Cancellation: none (bounded by the
    /// source's lookup and `health_timeout`).
    template<completion_token_for<placement> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_locate(std::string service, Token&& token = Token{});

    void invalidate(const std::string& service);
    void invalidate_all();

    /// Lookups the source has answered (the cache's misses), for tests and the admin view.
    std::size_t source_lookups() const;

    /// The cached placements with their age, for the admin view.
    std::vector<typename basic_placement_cache<Clock>::entry_view> cache_entries() const;

    struct state; // detail

private:
    template<class Handler>
    static void locate_from_source(std::shared_ptr<state> st, std::string service, Handler&& handler);

    std::shared_ptr<state> state_;
};

} // namespace nextprism

#include <nextprism/discovery/impl/cached.hpp>

#endif
