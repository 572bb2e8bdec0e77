#ifndef NEXTPRISM_DISCOVERY_PLACEMENT_HPP
#define NEXTPRISM_DISCOVERY_PLACEMENT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nextprism {

/// The port a proxy's sshd listens on in its container (proxy/sshd_config),
/// so a task's overlay address (the `dns` discovery) and the first
/// target's published port (stacks/nextcloud-proxy.yaml): one default for
/// every caller, never ssh's 22.
inline constexpr std::uint16_t default_proxy_port = 2222;

/// Where one proxy listens (its SSH port on a Swarm node).
struct proxy_endpoint
{
    std::string host;       ///< the node's address
    std::uint16_t port = default_proxy_port;
    std::string node_id;    ///< the Swarm node, when discovery knows it

    std::string to_string() const { return host + ":" + std::to_string(port); }

    friend bool operator==(const proxy_endpoint& a, const proxy_endpoint& b) noexcept
    {
        return a.host == b.host && a.port == b.port;
    }
    friend auto operator<=>(const proxy_endpoint& a, const proxy_endpoint& b) noexcept
    {
        if (auto c = a.host <=> b.host; c != 0)
            return c;
        return a.port <=> b.port;
    }
};

/// Replica counts of one proxy service, for the admin view.
struct proxy_service_status
{
    std::string name;
    std::optional<std::uint64_t> desired; ///< replicated services; global: none
    std::uint64_t running = 0;
};

/** What discovery knows about a target service: where it runs and which
    proxies can reach it. A proxy can reach a target only on its own node
    (it talks to that node's engine), so `proxies` holds only those, best
    first. Unknown facts stay unknown (`nullopt`): DNS and static lists
    cannot tell whether the target runs on this node. */
struct placement
{
    std::optional<bool> swarm_active;  ///< is this engine in an active Swarm?
    std::optional<bool> target_local;  ///< does the target run on this node?
    std::vector<proxy_endpoint> proxies;
    std::vector<proxy_service_status> proxy_services; ///< swarm_labels only
    /// Candidates the health check left out, with what it met.
    std::vector<std::pair<proxy_endpoint, error_code>> left_out;
};

} // namespace nextprism

#endif
