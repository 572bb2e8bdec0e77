#ifndef NEXTPRISM_HPP
#define NEXTPRISM_HPP

// Convenience header: everything public in nextprism.

#include <nextprism/detail/config.hpp>
#include <nextprism/audit_log.hpp>
#include <nextprism/command_policy.hpp>
#include <nextprism/command_string.hpp>
#include <nextprism/error.hpp>
#include <nextprism/proxy_exit_code.hpp>

#endif
