#ifndef NEXTPRISM_DISCOVERY_CACHED_HPP
#define NEXTPRISM_DISCOVERY_CACHED_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>
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
    std::size_t failure_threshold = 3;             ///< consecutive failures that drop an endpoint
    std::chrono::milliseconds cool_down{60'000};    ///< how long a dropped endpoint stays out
    nextprism::health_check health = health_check::tcp;
    std::chrono::milliseconds health_timeout{2'000}; ///< per candidate
    /// A placement that left out a candidate whose health check failed, or
    /// that offers no route at all (no proxy, target not here), is looked
    /// up again after this instead of `ttl`: a proxy that comes back, or a
    /// task that finished moving, is found within seconds.
    std::chrono::milliseconds negative_ttl{2'000};
};

/** Whether `ec`, met at an endpoint, means the target or the proxy is no
    longer where discovery said (the placement must be looked up again). */
bool means_moved(const error_code& ec) noexcept;

/** Whether `ec` means nothing answered at the endpoint (connection
    refused, no route): a proxy restarting or a node away, not a broken one. */
bool means_unreachable(const error_code& ec) noexcept;

/** Any source, with what every backend shares: a TTL cache of placements
    (stale ones served when a refresh fails), health checks of new
    candidates, per-endpoint failure tracking with a cool-down, and
    invalidation on "moved" errors and on the source's change events.

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

    /// `void(error_code, placement)`; the placement leaves out endpoints
    /// that are cooling down.
    template<class Token>
    auto async_locate(std::string service, Token&& token);

    void report(const std::string& service, const proxy_endpoint& ep, const error_code& ec);
    void invalidate(const std::string& service);
    void invalidate_all();

    /// Lookups the source has answered (the cache's misses), for tests and the admin view.
    std::size_t source_lookups() const;
    std::size_t consecutive_failures(const proxy_endpoint& ep) const;

    struct state; // detail

private:
    std::shared_ptr<state> state_;
};

} // namespace nextprism

#include <nextprism/discovery/impl/cached.hpp>

#endif
