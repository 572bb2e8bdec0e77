#ifndef NEXTPRISM_SWARM_EXECUTOR_HPP
#define NEXTPRISM_SWARM_EXECUTOR_HPP

// The usual assemblies, and every backend they are made of. Include the
// policy headers (executor/, transport/, discovery/, ssh/) alone to build
// an assembly of your own without the others.
#include <nextprism/detail/config.hpp>
#include <nextprism/discovery.hpp>
#include <nextprism/discovery/local_only.hpp>
#include <nextprism/executor/blocking.hpp>
#include <nextprism/executor/executor.hpp>
#include <nextprism/retry.hpp>
#include <nextprism/transport/direct.hpp>
#include <nextprism/transport/no_proxy.hpp>
#include <nextprism/transport/ssh.hpp>

namespace nextprism {

/// SSH pool + Swarm-label discovery + the configured retry (and, like every
/// assembly, a breaker per proxy endpoint: swarm_executor_options::breaker).
using swarm_executor = basic_swarm_executor<ssh_proxy_transport, swarm_labels, any_retry, direct_transport>;
/// SSH pool + a configured list of proxies + the configured retry.
using static_executor = basic_swarm_executor<ssh_proxy_transport, static_list, any_retry, direct_transport>;
/// SSH pool + the proxies' names in Swarm's DNS (tasks.<service>-proxy on
/// a shared overlay: a worker, without the manager API) + the retry.
using dns_executor = basic_swarm_executor<ssh_proxy_transport, dns_discovery, any_retry, direct_transport>;
/// The local engine only, no retry.
using direct_executor = basic_swarm_executor<no_proxy, local_only_discovery, no_retry, direct_transport>;

} // namespace nextprism

#endif
