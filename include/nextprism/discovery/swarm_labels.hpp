#ifndef NEXTPRISM_DISCOVERY_SWARM_LABELS_HPP
#define NEXTPRISM_DISCOVERY_SWARM_LABELS_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/discovery/cached.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/target_names.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace nextprism {

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
        std::uint16_t default_port = default_proxy_port; ///< a proxy service without the port label
        /// Which Swarm service (or container) each service runs in.
        target_names targets;
        bool watch_events = true;
        /// How long the engine's identity (GET /info) is trusted without
        /// an event: the backstop when events are not watched.
        std::chrono::milliseconds identity_ttl{60'000};
    };

    swarm_label_source(executor_type ex, options opts);
    ~swarm_label_source();
    swarm_label_source(const swarm_label_source&) = delete;
    swarm_label_source& operator=(const swarm_label_source&) = delete;

    docker::client& engine() noexcept { return client_; }

    /// `void(error_code, placement)`. Cancellation: none (a few engine
    /// GETs, each within the client's request timeout).
    template<completion_token_for<placement> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_lookup(std::string service, Token&& token = Token{});

    /// Starts following service and node events (once); `on_change` runs
    /// for each, on the executor. Stops when this object is destroyed.
    void watch(std::function<void()> on_change);

private:
    struct watcher;
    struct identity;
    docker::client client_;
    options options_;
    std::shared_ptr<identity> identity_; // shared with running lookups
    std::shared_ptr<watcher> watcher_;
};

} // namespace nextprism

#include <nextprism/discovery/impl/swarm_labels.hpp>

#endif
