#ifndef NEXTPRISM_IMPL_ERROR_HPP
#define NEXTPRISM_IMPL_ERROR_HPP

#include <boost/asio/error.hpp>
#include <string>

namespace nextprism {
namespace detail {

class error_category_impl final : public boost::system::error_category
{
public:
    // A fixed id keeps categories equal across shared objects.
    constexpr error_category_impl() noexcept
        : boost::system::error_category(0x6e70726973'6d0001ULL) {}

    const char* name() const noexcept override { return "nextprism"; }

    std::string message(int ev) const override
    {
        switch (static_cast<error>(ev)) {
        case error::empty_command: return "empty command";
        case error::command_too_long: return "command string too long";
        case error::too_many_arguments: return "too many arguments";
        case error::invalid_utf8: return "invalid UTF-8";
        case error::forbidden_character: return "forbidden character";
        case error::unterminated_quote: return "unterminated single quote";
        case error::unrepresentable: return "argument cannot be expressed in the command grammar";
        case error::unknown_service: return "unknown service";
        case error::command_not_allowed: return "command not allowed";
        case error::option_not_allowed: return "option not allowed";
        case error::option_forbidden: return "option forbidden by policy";
        case error::invalid_value: return "invalid value";
        case error::missing_value: return "option needs a value";
        case error::duplicate_option: return "option given twice";
        case error::too_many_positionals: return "too many arguments for this command";
        case error::invalid_policy: return "invalid policy";
        case error::invalid_configuration: return "invalid configuration";
        case error::timeout: return "timed out";
        case error::cancelled: return "cancelled";
        case error::busy: return "another run of this command is in progress";
        case error::target_not_found: return "target container not found";
        case error::target_not_running: return "target container not running";
        case error::engine_error: return "docker engine error";
        case error::protocol_error: return "protocol error";
        case error::outcome_unknown: return "outcome unknown: the command may have run";
        case error::internal_error: return "internal error";
        case error::not_swarm_manager: return "the engine is not a Swarm manager";
        case error::host_key_unknown: return "host key not in known_hosts";
        case error::host_key_mismatch: return "host key does not match known_hosts (possible attack)";
        case error::authentication_failed: return "SSH authentication failed";
        case error::ssh_failure: return "SSH protocol failure";
        case error::connection_lost: return "SSH connection lost";
        case error::pool_timeout: return "no SSH connection became free in time";
        case error::no_route: return "no usable proxy for the target, and it does not run on this node";
        case error::proxy_refused: return "the proxy refused the command";
        case error::proxy_misconfigured: return "the proxy is misconfigured";
        case error::proxy_internal: return "internal error in the proxy";
        case error::audit_log_failed: return "the proxy cannot write its audit log; nothing ran";
        }
        return "nextprism error " + std::to_string(ev);
    }

    boost::system::error_condition default_error_condition(int ev) const noexcept override
    {
        switch (static_cast<error>(ev)) {
        case error::timeout:
        case error::busy:
        case error::target_not_found:
        case error::target_not_running:
        case error::engine_error:
        case error::connection_lost:
        case error::pool_timeout:
        case error::no_route:
            return make_error_condition(condition::transient);
        case error::host_key_unknown:
        case error::host_key_mismatch:
        case error::authentication_failed:
        case error::ssh_failure:
            return make_error_condition(condition::permanent);
        case error::invalid_configuration:
        case error::invalid_policy:
        case error::protocol_error:
        case error::outcome_unknown:
        case error::cancelled:
        case error::internal_error:
        case error::not_swarm_manager:
        case error::proxy_misconfigured:
        case error::proxy_internal:
        case error::audit_log_failed:
            return make_error_condition(condition::permanent);
        // No default: -Wswitch names a new error that has no condition.
        case error::empty_command:
        case error::command_too_long:
        case error::too_many_arguments:
        case error::invalid_utf8:
        case error::forbidden_character:
        case error::unterminated_quote:
        case error::unrepresentable:
        case error::unknown_service:
        case error::command_not_allowed:
        case error::option_not_allowed:
        case error::option_forbidden:
        case error::invalid_value:
        case error::missing_value:
        case error::duplicate_option:
        case error::too_many_positionals:
        case error::proxy_refused:
            return make_error_condition(condition::rejected);
        }
        return {ev, *this}; // not a nextprism error: no condition
    }
};

class condition_category_impl final : public boost::system::error_category
{
public:
    constexpr condition_category_impl() noexcept
        : boost::system::error_category(0x6e70726973'6d0002ULL) {}

    const char* name() const noexcept override { return "nextprism.condition"; }

    std::string message(int ev) const override
    {
        switch (static_cast<condition>(ev)) {
        case condition::transient: return "transient failure";
        case condition::rejected: return "rejected";
        case condition::permanent: return "permanent failure";
        }
        return "nextprism condition " + std::to_string(ev);
    }

    // Errors from other categories (Asio, Beast, libssh2) map here, so one
    // retry predicate covers all of them.
    bool equivalent(const boost::system::error_code& code, int cv) const noexcept override
    {
        if (code.category() == nextprism::error_category())
            return code.category().default_error_condition(code.value()) ==
                   boost::system::error_condition(cv, *this);
        if (static_cast<condition>(cv) != condition::transient)
            return false;
        namespace ae = boost::asio::error;
        return code == ae::connection_refused || code == ae::connection_reset ||
               code == ae::connection_aborted || code == ae::timed_out ||
               code == ae::host_unreachable || code == ae::network_unreachable ||
               code == ae::network_down || code == ae::broken_pipe ||
               code == ae::eof || code == ae::try_again;
    }
};

} // namespace detail

inline const boost::system::error_category& error_category() noexcept
{
    static const detail::error_category_impl instance;
    return instance;
}

inline const boost::system::error_category& condition_category() noexcept
{
    static const detail::condition_category_impl instance;
    return instance;
}

} // namespace nextprism

#endif
