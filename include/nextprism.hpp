#ifndef NEXTPRISM_HPP
#define NEXTPRISM_HPP

// Convenience header: everything public in nextprism, the proxy's pieces
// included.

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/error.hpp>
#include <nextprism/executor/config.hpp>
#include <nextprism/failure_lines.hpp>
#include <nextprism/proxy/audit_log.hpp>
#include <nextprism/retry.hpp>
#include <nextprism/swarm_executor.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/wire/command_string.hpp>
#include <nextprism/wire/exit_status.hpp>

#endif
