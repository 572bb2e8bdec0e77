#ifndef NEXTPRISM_SWARM_EXECUTOR_HPP
#define NEXTPRISM_SWARM_EXECUTOR_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/command_policy.hpp>
#include <nextprism/direct_transport.hpp>
#include <nextprism/discovery.hpp>
#include <nextprism/error.hpp>
#include <nextprism/failure_lines.hpp>
#include <nextprism/placement.hpp>
#include <nextprism/retry.hpp>
#include <nextprism/ssh_pool.hpp>
#include <nextprism/transport.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace nextprism {

/// Whether to route through Swarm at all.
enum class swarm_mode {
    automatic, ///< ask the engine (discovery): outside Swarm, run locally
    on,        ///< always route by discovery
    off,       ///< never use a proxy: local engine only
};

/// Where one attempt goes.
struct route
{
    enum class kind { none, local, proxy };
    kind how = kind::none;
    proxy_endpoint endpoint; ///< when `proxy`
    bool fallback = false;   ///< local only because no proxy was usable
};

/** The routing decision, pure so that it is tested on its own.

    Local when Swarm is off (or inactive, in automatic mode), or when the
    target runs on this node and `prefer_local`; else the first proxy on
    the target's node whose breaker lets it through (`allow(endpoint)`);
    else local as a fallback unless discovery knows the target is
    elsewhere; else none. `local_available`: the executor has a local
    engine to run on. */
template<class Allow>
route choose_route(swarm_mode mode, bool prefer_local, const placement& p, bool local_available,
                   Allow&& allow)
{
    const route local{route::kind::local, {}};
    const route none{};
    if (mode == swarm_mode::off || (mode == swarm_mode::automatic && p.swarm_active == false))
        return local_available ? local : none;
    if (prefer_local && local_available && p.target_local == true)
        return local;
    for (const auto& ep : p.proxies)
        if (allow(ep))
            return {route::kind::proxy, ep};
    if (local_available && p.target_local != false)
        return {route::kind::local, {}, true};
    return none;
}

struct swarm_executor_options
{
    swarm_mode mode = swarm_mode::automatic;
    /// Run on the local engine when the target is here, even if a proxy is too.
    bool prefer_local = true;
    /// Used when a request has no timeout of its own (0: none).
    std::chrono::milliseconds default_timeout{0};
    /// Checked before anything leaves this process (the proxy checks again).
    const command_policy* policy = &command_policy::default_policy();
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
    - `Retry` (retry_policy): how long to wait between attempts, and, when
      it has one (`circuit_breaker_over`), a breaker per proxy endpoint;
    - `Local` (transport_policy): the local engine, for targets on this
      node and as the fallback when no proxy is usable.

    Each attempt asks discovery, chooses a route (`choose_route`), runs,
    and tells discovery and the endpoint's breaker how it went. Only
    transient failures are retried, and a non-idempotent command never
    once it may have started (`is_retryable`). The command is checked
    against the policy first: a refusal never leaves the process.

    Cancellation through the token's slot stops the wait or is passed to
    the transport that runs the command. Thread-safe.
*/
template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local = direct_transport, class Clock = std::chrono::steady_clock>
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
        `error::no_route`, or the last attempt's error. */
    template<class Token>
    auto async_run(command_request request, output_handler on_output, Token&& token);

    executor_statistics statistics() const;

    /// The breaker state of a proxy endpoint (closed when it has none).
    typename circuit_breaker<Clock>::state breaker_state(const proxy_endpoint& ep) const;

    struct state; // detail

private:
    std::shared_ptr<state> state_;
};

/// The result of a blocking run.
struct run_outcome
{
    error_code ec;
    command_result result;
};

/** Owns an io_context and its thread and an executor assembly on it, for
    programs that are not asynchronous. `run` blocks the caller until the
    command ends; output handlers run on the owned thread. */
template<class Assembly>
class blocking_executor
{
public:
    /// `make(executor)` builds the assembly on the owned io_context.
    template<class Make>
    explicit blocking_executor(Make&& make);
    ~blocking_executor();

    run_outcome run(command_request request, output_handler on_output = {});
    Assembly& assembly() noexcept { return *assembly_; }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::optional<Assembly> assembly_;
    std::thread thread_;
};

/** A proxy transport for executors that never leave the node: every
    attempt through it fails with `error::no_route` (routing never picks it
    when discovery offers no proxy, as `local_only_discovery` does). */
class no_proxy
{
public:
    using executor_type = boost::asio::any_io_executor;
    explicit no_proxy(executor_type ex) : ex_(std::move(ex)) {}
    executor_type get_executor() const noexcept { return ex_; }

    template<class Token>
    auto async_run(const proxy_endpoint&, command_request, output_handler, Token&& token);

private:
    executor_type ex_;
};

/// Discovery for executors that never leave the node: "not in Swarm".
class local_only_discovery
{
public:
    using executor_type = boost::asio::any_io_executor;
    explicit local_only_discovery(executor_type ex) : ex_(std::move(ex)) {}
    executor_type get_executor() const noexcept { return ex_; }

    template<class Token>
    auto async_locate(std::string, Token&& token);
    void report(const std::string&, const proxy_endpoint&, const error_code&) {}
    void invalidate(const std::string&) {}

private:
    executor_type ex_;
};

// The usual assemblies (defined in impl/swarm_executor.hpp, after the
// members the concept checks need):
//   swarm_executor  = SSH pool + swarm_labels + breaker over exponential backoff
//   static_executor = SSH pool + static_list + fixed retry
//   direct_executor = the local engine only, no retry

} // namespace nextprism

#include <nextprism/impl/swarm_executor.hpp>

#endif
