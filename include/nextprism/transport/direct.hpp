#ifndef NEXTPRISM_TRANSPORT_DIRECT_HPP
#define NEXTPRISM_TRANSPORT_DIRECT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/command.hpp>
#include <nextprism/authorized_command.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/target_names.hpp>
#include <nextprism/transport/concept.hpp>

#include <map>

namespace nextprism {

/** Runs authorized commands in containers on the local Docker engine.

    The transport the executor uses when the target runs on this node, and
    the proxy's one way to run what it accepted (proxy/proxy_run.hpp). It
    runs what the whitelist authorized (`exec_argv`, as `exec_user` in
    `working_dir`) and checks nothing itself: an `authorized_command` only
    comes from `whitelist::check`. The container is the running task of the
    Swarm service named by `containers[service]` (default: the service
    name), or the container of that name.
*/
class direct_transport
{
public:
    using executor_type = docker::client::executor_type;

    struct options
    {
        /// Which container each service runs in.
        target_names targets;
        /// Back-pressure from the output's consumer (docker/output_gate.hpp),
        /// for a transport that runs one command at a time (the proxy).
        std::shared_ptr<docker::output_gate> output_gate;
        /// The engine client's (the proxy's broker: its stop helper).
        docker::client::options client;
    };

    direct_transport(executor_type ex, docker::engine_address engine, options opts = {});

    executor_type get_executor() const noexcept { return client_.get_executor(); }
    docker::client& engine() noexcept { return client_; }

    /** Runs `command`. `void(error_code, command_result)`:
        `error::target_not_found` / `target_not_running` when no container
        runs; `error::timeout` when the deadline (`command.timeout`) passed
        (the process was stopped, or `still_running` says it could not be);
        `error::cancelled` when cancelled before the exec was created.
        `started_in` and `started` are always set: the engine says.
        `on_started` (may be empty) is called once just before the engine is
        asked to start the command, before any output.

        Cancellation: terminal and partial (total is filtered out) stop the
        process in the target (docker/client.hpp), or, while the container
        is still being looked up, end the run before anything starts. The operation
        holds copies of what it needs: the transport object may go before
        it completes. */
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(authorized_command command, output_handler on_output, start_handler on_started,
                   Token&& token = Token{});

    /// The same, without a start handler (the transport concept's form).
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(authorized_command command, output_handler on_output, Token&& token = Token{})
    {
        return async_run(std::move(command), std::move(on_output), start_handler{}, std::forward<Token>(token));
    }

private:
    docker::client client_;
    options options_;
};

} // namespace nextprism

#include <nextprism/transport/impl/direct.hpp>

#endif
