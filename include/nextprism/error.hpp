#ifndef NEXTPRISM_ERROR_HPP
#define NEXTPRISM_ERROR_HPP

#include <nextprism/detail/config.hpp>

#include <boost/system/error_category.hpp>
#include <type_traits>

namespace nextprism {

/** What went wrong. Values are stable: they appear in logs and tests.

    Refusals of the command grammar are errors too: the reason text that
    comes with them says exactly which rule failed.
*/
enum class error {
    // -- the command string (wire format) --
    empty_command = 1,      ///< nothing to run
    command_too_long,       ///< over the hard length cap
    too_many_arguments,     ///< over the argument count cap
    invalid_utf8,           ///< not well-formed UTF-8
    forbidden_character,    ///< a byte outside the grammar (shell syntax, control, ...)
    unterminated_quote,     ///< a single quote was opened and never closed
    unrepresentable,        ///< an argv element cannot be written in the grammar

    // -- the whitelist --
    unknown_service,        ///< the service has no entry in the whitelist
    command_not_allowed,    ///< no whitelisted command matches
    option_not_allowed,     ///< an option the command does not accept
    option_forbidden,       ///< an option the whitelist refuses on purpose
    invalid_value,          ///< an option or argument value fails its type
    missing_value,          ///< an option needs a value and has none
    duplicate_option,       ///< an option given twice
    too_many_positionals,   ///< more positional arguments than allowed

    // -- configuration --
    invalid_whitelist,      ///< the whitelist file does not follow the schema
    invalid_configuration,  ///< a configuration value is wrong

    // -- running --
    timeout,                ///< a deadline passed
    cancelled,              ///< the caller cancelled
    busy,                   ///< a single-flight command is already running
    target_not_found,       ///< no running container for the service
    target_not_running,     ///< the container exists but is not running
    engine_error,           ///< the Docker engine answered with an error
    protocol_error,         ///< a peer sent something malformed
    outcome_unknown,        ///< the command may have run; its status is lost
    internal_error,         ///< an unexpected exception inside the library
    not_swarm_manager,      ///< the engine is not a Swarm manager

    // -- SSH --
    host_key_unknown,       ///< the proxy's host key is not in known_hosts
    host_key_mismatch,      ///< the proxy's host key changed: possible attack
    authentication_failed,  ///< the client key was not accepted
    ssh_failure,            ///< an SSH protocol step failed
    connection_lost,        ///< the connection broke or stopped answering
    connection_failed,      ///< the connection broke before the command was sent: it never ran
    pool_timeout,           ///< no connection became free before the deadline

    // -- routing (the Swarm-aware executor) --
    no_route,               ///< no usable proxy for the target, and it is not on this node

    // -- the proxy's own exits (wire/exit_status.hpp) --
    proxy_refused,          ///< the proxy refused the command (its whitelist differs)
    proxy_misconfigured,    ///< the proxy's service, whitelist file or DOCKER_HOST is wrong
    proxy_internal,         ///< the proxy failed unexpectedly
    audit_log_failed,       ///< the proxy cannot write its audit log: nothing ran
    command_not_stopped,    ///< the proxy tried to stop the command and it still runs

    last_ = command_not_stopped, ///< the last enumerator (tests iterate up to it): keep it last
};

/** How to react: compare any error_code (Asio, HTTP, Docker, SSH) with
    these. Every error has one kind (transient, rejected, permanent or
    cancelled) and may answer to the others too; one table in
    impl/error.hpp says which, for every error. */
enum class condition {
    transient = 1, ///< may succeed when tried again (nothing ran, or it is safe)
    rejected,      ///< refused by the whitelist: trying again cannot help
    permanent,     ///< configuration or environment is wrong
    cancelled,     ///< the caller cancelled
    moved,         ///< the target or its proxy is not where discovery said: look it up again
    not_started,   ///< known to come before the command could start
    unreachable,   ///< nothing answered at the endpoint (refused, no route)
};

const boost::system::error_category& error_category() noexcept;
const boost::system::error_category& condition_category() noexcept;

inline error_code make_error_code(error e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

inline boost::system::error_condition make_error_condition(condition c) noexcept
{
    return {static_cast<int>(c), condition_category()};
}

} // namespace nextprism

template<>
struct boost::system::is_error_code_enum<nextprism::error> : std::true_type {};
template<>
struct boost::system::is_error_condition_enum<nextprism::condition> : std::true_type {};
template<>
struct std::is_error_code_enum<nextprism::error> : std::true_type {};

#include <nextprism/impl/error.hpp>

#endif
