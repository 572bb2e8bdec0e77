#ifndef NEXTPRISM_IMPL_ERROR_HPP
#define NEXTPRISM_IMPL_ERROR_HPP

#include <boost/asio/error.hpp>

#include <cstddef>
#include <iterator>
#include <string>

namespace nextprism {
namespace detail {

/// The conditions an error belongs to, as bits of one row.
enum condition_bits : unsigned {
    is_transient = 1u << 0,
    is_rejected = 1u << 1,
    is_permanent = 1u << 2,
    is_cancelled = 1u << 3,
    is_moved = 1u << 4,
    is_not_started = 1u << 5,
    is_unreachable = 1u << 6,
};

/// One error: its message and every condition it answers to. The first
/// of transient / rejected / permanent / cancelled is its kind.
struct error_row
{
    error code;
    const char* message;
    unsigned conditions;
};

// "not started": known to come before the command could start (the retry
// rule may repeat even a non-idempotent command after it). "moved": the
// target or the proxy is not where discovery said (look it up again).
inline constexpr error_row error_table[] = {
    {error::empty_command, "empty command", is_rejected | is_not_started},
    {error::command_too_long, "command string too long", is_rejected | is_not_started},
    {error::too_many_arguments, "too many arguments", is_rejected | is_not_started},
    {error::invalid_utf8, "invalid UTF-8", is_rejected | is_not_started},
    {error::forbidden_character, "forbidden character", is_rejected | is_not_started},
    {error::unterminated_quote, "unterminated single quote", is_rejected | is_not_started},
    {error::unrepresentable, "argument cannot be expressed in the command grammar", is_rejected | is_not_started},
    {error::unknown_service, "unknown service", is_rejected | is_not_started},
    {error::command_not_allowed, "command not allowed", is_rejected | is_not_started},
    {error::option_not_allowed, "option not allowed", is_rejected | is_not_started},
    {error::option_forbidden, "option forbidden by the whitelist", is_rejected | is_not_started},
    {error::invalid_value, "invalid value", is_rejected | is_not_started},
    {error::missing_value, "option needs a value", is_rejected | is_not_started},
    {error::duplicate_option, "option given twice", is_rejected | is_not_started},
    {error::too_many_positionals, "too many arguments for this command", is_rejected | is_not_started},
    {error::invalid_whitelist, "invalid whitelist", is_permanent | is_not_started},
    {error::invalid_configuration, "invalid configuration", is_permanent | is_not_started},
    {error::timeout, "timed out", is_transient},
    {error::cancelled, "cancelled", is_cancelled},
    {error::busy, "another run of this command is in progress", is_transient | is_not_started},
    {error::target_not_found, "target container not found", is_transient | is_moved | is_not_started},
    {error::target_not_running, "target container not running", is_transient | is_moved | is_not_started},
    {error::engine_error, "docker engine error", is_transient},
    {error::protocol_error, "protocol error", is_permanent},
    {error::outcome_unknown, "outcome unknown: the command may have run", is_permanent},
    {error::internal_error, "internal error", is_permanent},
    {error::not_swarm_manager, "the engine is not a Swarm manager", is_permanent | is_not_started},
    {error::host_key_unknown, "host key not in known_hosts", is_permanent | is_not_started},
    {error::host_key_mismatch, "host key does not match known_hosts (possible attack)", is_permanent | is_not_started},
    {error::authentication_failed, "SSH authentication failed", is_permanent | is_not_started},
    {error::ssh_failure, "SSH protocol failure", is_permanent},
    {error::connection_lost, "SSH connection lost", is_transient},
    // A handshake a proxy's port dropped, a pooled connection found closed
    // before the channel opened: nothing ran, and nothing answered there.
    {error::connection_failed, "SSH connection failed before the command was sent",
     is_transient | is_not_started | is_unreachable},
    {error::pool_timeout, "no SSH connection became free in time", is_transient | is_not_started},
    {error::no_route, "no usable proxy for the target, and it does not run on this node", is_transient | is_not_started},
    {error::proxy_refused, "the proxy refused the command", is_rejected | is_not_started},
    {error::proxy_misconfigured, "the proxy is misconfigured", is_permanent | is_not_started},
    {error::proxy_internal, "internal error in the proxy", is_permanent},
    {error::audit_log_failed, "the proxy cannot write its audit log; nothing ran", is_transient | is_not_started},
    // Never retried: the first run may still be going.
    {error::command_not_stopped, "the proxy could not stop the command; it may still run", is_permanent},
};

/// Row i is error i + 1, and every error has one (checked at compile time).
constexpr bool error_table_complete() noexcept
{
    if (std::size(error_table) != static_cast<std::size_t>(error::last_))
        return false;
    for (std::size_t i = 0; i < std::size(error_table); ++i)
        if (static_cast<std::size_t>(error_table[i].code) != i + 1 || error_table[i].message == nullptr)
            return false;
    return true;
}
static_assert(error_table_complete(), "error_table needs one row per error, in enum order");

inline const error_row* find_error_row(int ev) noexcept
{
    if (ev < 1 || ev > static_cast<int>(error::last_))
        return nullptr;
    return &error_table[ev - 1];
}

/// The conditions of errors from other categories (Asio's system errors).
inline unsigned foreign_conditions(const boost::system::error_code& code) noexcept
{
    namespace ae = boost::asio::error;
    // Nothing answered: the proxy is restarting or its node is away.
    if (code == ae::connection_refused || code == ae::host_unreachable || code == ae::network_unreachable)
        return is_transient | is_moved | is_not_started | is_unreachable;
    if (code == ae::host_not_found || code == ae::host_not_found_try_again)
        return is_not_started;
    if (code == ae::connection_reset || code == ae::connection_aborted || code == ae::timed_out ||
        code == ae::network_down || code == ae::broken_pipe || code == ae::eof || code == ae::try_again)
        return is_transient;
    if (code == ae::operation_aborted)
        return is_cancelled;
    return 0;
}

inline unsigned bit_of(condition c) noexcept
{
    switch (c) {
    case condition::transient: return is_transient;
    case condition::rejected: return is_rejected;
    case condition::permanent: return is_permanent;
    case condition::cancelled: return is_cancelled;
    case condition::moved: return is_moved;
    case condition::not_started: return is_not_started;
    case condition::unreachable: return is_unreachable;
    }
    return 0;
}

class error_category_impl final : public boost::system::error_category
{
public:
    // A fixed id keeps categories equal across shared objects.
    constexpr error_category_impl() noexcept
        : boost::system::error_category(0x6e70726973'6d0001ULL) {}

    const char* name() const noexcept override { return "nextprism"; }

    std::string message(int ev) const override
    {
        const auto* row = find_error_row(ev);
        return row ? row->message : "nextprism error " + std::to_string(ev);
    }

    /// The error's kind: the first of transient, rejected, permanent, cancelled.
    boost::system::error_condition default_error_condition(int ev) const noexcept override
    {
        const auto* row = find_error_row(ev);
        if (!row)
            return {ev, *this};
        for (auto c : {condition::transient, condition::rejected, condition::permanent, condition::cancelled})
            if (row->conditions & bit_of(c))
                return make_error_condition(c);
        return {ev, *this};
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
        case condition::cancelled: return "cancelled";
        case condition::moved: return "the target or its proxy moved";
        case condition::not_started: return "failed before the command could start";
        case condition::unreachable: return "nothing answered at the endpoint";
        }
        return "nextprism condition " + std::to_string(ev);
    }

    // Errors of every category are classified here (the table for ours,
    // foreign_conditions for Asio's), so one predicate covers them all.
    bool equivalent(const boost::system::error_code& code, int cv) const noexcept override
    {
        const unsigned bit = bit_of(static_cast<condition>(cv));
        if (code.category() == nextprism::error_category()) {
            const auto* row = find_error_row(code.value());
            return row && (row->conditions & bit);
        }
        return (foreign_conditions(code) & bit) != 0;
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
