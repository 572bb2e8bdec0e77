#ifndef NEXTPRISM_DISCOVERY_HPP
#define NEXTPRISM_DISCOVERY_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>
#include <nextprism/discovery_cache.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/error.hpp>
#include <nextprism/placement.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <concepts>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace nextprism {
namespace detail {

/// The completion handler a discovery policy must accept (an archetype).
struct locate_handler_archetype
{
    void operator()(error_code, placement) {}
};

} // namespace detail

/** A discovery policy tells the executor where a target service runs and
    which proxies reach it, and learns from what happened there.

    Requirements:
    - `executor_type` and `get_executor()`;
    - `async_locate(service, token)`: `void(error_code, placement)`;
    - `report(service, endpoint, ec)`: the outcome of a run through a proxy
      (`ec` empty: it worked);
    - `invalidate(service)`: forget what is cached about `service`.
*/
template<class D>
concept discovery_policy = requires(D& d, std::string service, const proxy_endpoint& ep,
                                    const error_code& ec) {
    typename D::executor_type;
    { d.get_executor() } -> std::convertible_to<typename D::executor_type>;
    d.async_locate(service, detail::locate_handler_archetype{});
    d.report(service, ep, ec);
    d.invalidate(service);
};

/** Where placements come from before caching: one lookup, no memory.
    `async_lookup(service, token)`: `void(error_code, placement)`. A source
    that can tell when the world changed also has `watch(on_change)`. */
template<class S>
concept discovery_source = requires(S& s, std::string service) {
    s.async_lookup(service, detail::locate_handler_archetype{});
};

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

/** Endpoints from configuration: service → proxies. `local_services`
    names the targets known to run on this node. */
class static_list_source
{
public:
    using executor_type = boost::asio::any_io_executor;

    struct options
    {
        std::map<std::string, std::vector<proxy_endpoint>> endpoints;
        std::set<std::string> local_services;
    };

    static_list_source(executor_type ex, options opts) : ex_(std::move(ex)), options_(std::move(opts)) {}

    template<class Token>
    auto async_lookup(std::string service, Token&& token);

private:
    executor_type ex_;
    options options_;
};

/** Swarm's DNS: the proxies are the addresses of `tasks.<proxy service>`,
    which Swarm's resolver answers inside an overlay network the proxies
    share with the caller. For callers without Docker API access; it cannot
    tell which proxy shares the target's node, so a proxy that answers
    "target not here" (exit 69) is passed over for the next. */
class dns_source
{
public:
    using executor_type = boost::asio::any_io_executor;

    struct options
    {
        /// `{service}` is replaced by the target service's name.
        std::string name_pattern = "tasks.{service}-proxy";
        std::uint16_t port = 22;
    };

    dns_source(executor_type ex, options opts) : ex_(std::move(ex)), options_(std::move(opts)) {}

    /// The name looked up for `service`.
    std::string name_for(const std::string& service) const;

    template<class Token>
    auto async_lookup(std::string service, Token&& token);

private:
    executor_type ex_;
    options options_;
};

/// The label on a proxy service naming the target it serves ("nextcloud").
inline constexpr const char* proxy_target_label = "io.nextprism.proxy.target";
/// The label on a proxy service giving its SSH port on each node.
inline constexpr const char* proxy_port_label = "io.nextprism.proxy.port";

/** The Docker API of a Swarm manager: proxy services are found by the
    label `io.nextprism.proxy.target=<service>`, their running tasks, the
    nodes those run on and the nodes' addresses; the target service's
    running tasks say which nodes it is on, so only the proxies there are
    offered, with nothing labelled by hand. Service and node events from
    the engine invalidate the cache.

    On an engine outside Swarm the placement says so, and whether the
    target's container runs here. On a worker (no Swarm API) it can only
    say whether the target runs locally.
*/
class swarm_label_source
{
public:
    using executor_type = boost::asio::any_io_executor;

    struct options
    {
        docker::engine_address engine;
        std::string target_label = proxy_target_label;
        std::string port_label = proxy_port_label;
        std::uint16_t default_port = 22;
        /// service → the target's Swarm service (or container) name; default: the service
        std::map<std::string, std::string> targets;
        bool watch_events = true;
    };

    swarm_label_source(executor_type ex, options opts);
    ~swarm_label_source();
    swarm_label_source(const swarm_label_source&) = delete;
    swarm_label_source& operator=(const swarm_label_source&) = delete;

    docker::client& engine() noexcept { return client_; }

    template<class Token>
    auto async_lookup(std::string service, Token&& token);

    /// Starts following service and node events (once); `on_change` runs
    /// for each, on the executor. Stops when this object is destroyed.
    void watch(std::function<void()> on_change);

private:
    struct watcher;
    docker::client client_;
    options options_;
    std::shared_ptr<watcher> watcher_;
};

// The three backends, cached: `static_list`, `dns_discovery` and
// `swarm_labels` are defined in impl/discovery.hpp, after the sources'
// members (whose return types the concept check needs).

} // namespace nextprism

#include <nextprism/impl/discovery.hpp>

#endif
