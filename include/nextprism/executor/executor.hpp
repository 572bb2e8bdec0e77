#ifndef NEXTPRISM_EXECUTOR_EXECUTOR_HPP
#define NEXTPRISM_EXECUTOR_EXECUTOR_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/command.hpp>
#include <nextprism/discovery/concept.hpp>
#include <nextprism/error.hpp>
#include <nextprism/executor/endpoint_health.hpp>
#include <nextprism/executor/route.hpp>
#include <nextprism/failure_lines.hpp>
#include <nextprism/retry.hpp>
#include <nextprism/transport/concept.hpp>
#include <nextprism/whitelist.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

namespace nextprism {

/// The compiled-in whitelist, shared without ownership (it is static).
inline std::shared_ptr<const whitelist> default_whitelist()
{
    return {std::shared_ptr<const whitelist>(), &whitelist::builtin()};
}

struct swarm_executor_options
{
    swarm_mode mode = swarm_mode::automatic;
    /// Run on the local engine when the target is here, even if a proxy is too.
    bool prefer_local = true;
    /// Used when a request has no timeout of its own (0: none). A timeout
    /// bounds the whole run, its retries included.
    std::chrono::milliseconds default_timeout{0};
    /// Per whitelist rule ("php occ status"): the timeout of a request of
    /// that rule that has none of its own, before `default_timeout` (0: none).
    std::map<std::string, std::chrono::milliseconds, std::less<>> rule_timeouts;
    /// Checked before anything leaves this process (the proxy checks again).
    std::shared_ptr<const nextprism::whitelist> whitelist = default_whitelist();
    /// One breaker per proxy endpoint, all with these settings.
    breaker_options breaker;

    /// A request of `rule` that has no timeout of its own gets this.
    std::chrono::milliseconds timeout_for(std::string_view rule) const
    {
        const auto it = rule_timeouts.find(rule);
        return it != rule_timeouts.end() ? it->second : default_timeout;
    }
};

/// Counters for the admin view.
struct executor_statistics
{
    std::uint64_t runs = 0;       ///< calls of async_run
    std::uint64_t attempts = 0;   ///< attempts, first ones included
    std::uint64_t local = 0;      ///< attempts on the local engine
    std::uint64_t proxied = 0;    ///< attempts through a proxy
    std::uint64_t fallbacks = 0;  ///< local attempts made because no proxy was usable
    std::uint64_t retries = 0;    ///< attempts after the first
    std::uint64_t failures = 0;   ///< runs that ended with an error
};

/** Runs whitelisted commands wherever the target runs, assembled at
    compile time from policies:

    - `Transport` (proxy_transport_policy): how to reach a proxy;
    - `Discovery` (discovery_policy): where the target and its proxies are;
    - `Retry` (retry_policy): how long to wait between attempts;
    - `Local` (transport_policy): the local engine, for targets on this
      node and as the fallback when no proxy is usable.

    The command is checked against the whitelist once, first: a refusal
    never leaves the process, and what travels on is the resulting
    `authorized_command`. Each attempt asks discovery, chooses a route
    (`choose_route`) among the endpoints their health lets through
    (`endpoint_health`, owned here: a breaker per proxy endpoint), runs,
    and resolves the endpoint's ticket with how it went. Only transient
    failures are retried, and a non-idempotent command never once it may
    have started (`is_retryable`; whether it may have is known when the
    transport says, `command_result::started`, else read from the error
    table). Every transport answers alike: the SSH transport decodes the
    proxy's wire contract itself (wire/exit_status.hpp, `proxy_reply`), so
    nothing here knows a proxy protocol.

    Cancellation (async.hpp): terminal and partial (total is filtered
    out). It ends the lookup's or the back-off's wait, or is passed to the
    transport running the attempt (which stops the command); no retry
    follows, and the run completes with `error::cancelled`. Thread-safe.
*/
template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock = std::chrono::steady_clock>
class basic_swarm_executor
{
public:
    using executor_type = boost::asio::any_io_executor;
    using transport_type = Transport;
    using discovery_type = Discovery;
    using retry_type = Retry;
    using local_type = Local;

    /// `local`: none when this process has no engine to run on.
    basic_swarm_executor(executor_type ex, Transport transport, Discovery discovery, Retry retry,
                         std::optional<Local> local, swarm_executor_options opts = {});

    executor_type get_executor() const noexcept;
    Transport& transport() noexcept;
    Discovery& discovery() noexcept;

    /** Runs `request`: `void(error_code, command_result)`. A non-zero exit
        status is data; errors: a refusal (`condition::rejected`),
        `error::no_route`, or the last attempt's error, except that when an
        earlier attempt may have started the command and the last never
        reached it, `error::outcome_unknown` (`reason` says what each met).
        `request.timeout` bounds the whole run: each attempt gets what is
        left, and no retry starts after it. */
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(command_request request, output_handler on_output, Token&& token = Token{})
    {
        return async_run(std::move(request), std::move(on_output), start_handler{}, std::forward<Token>(token));
    }

    /** The same, and `on_started` (may be empty) is told where each attempt
        started the command, its route included, before that attempt's
        output; a transport that cannot tell (`reports_start`) never calls it. */
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(command_request request, output_handler on_output, start_handler on_started,
                   Token&& token = Token{});

    executor_statistics statistics() const;

    /// The health of every proxy endpoint used so far (shares the executor's).
    basic_endpoint_health<Clock> health() const;

    struct state; // detail
    struct run;   // detail: one call of async_run

private:
    std::shared_ptr<state> state_;
};

} // namespace nextprism

#include <nextprism/executor/impl/executor.hpp>

#endif
