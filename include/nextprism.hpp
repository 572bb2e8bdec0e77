#ifndef NEXTPRISM_HPP
#define NEXTPRISM_HPP

// Convenience header: everything public in nextprism.

#include <nextprism/detail/config.hpp>
#include <nextprism/audit_log.hpp>
#include <nextprism/command.hpp>
#include <nextprism/command_policy.hpp>
#include <nextprism/command_string.hpp>
#include <nextprism/direct_transport.hpp>
#include <nextprism/discovery.hpp>
#include <nextprism/discovery_cache.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/error.hpp>
#include <nextprism/executor_config.hpp>
#include <nextprism/failure_lines.hpp>
#include <nextprism/placement.hpp>
#include <nextprism/proxy_exit_code.hpp>
#include <nextprism/retry.hpp>
#include <nextprism/ssh_pool.hpp>
#include <nextprism/swarm_executor.hpp>
#include <nextprism/transport.hpp>

#endif
