#ifndef NEXTPRISM_TRANSPORT_DIRECT_HPP
#define NEXTPRISM_TRANSPORT_DIRECT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/transport/concept.hpp>

#include <map>

namespace nextprism {

/** Runs commands in containers on the local Docker engine.

    The transport the executor uses when the target runs on this node, and
    the one the proxy's validator uses for what it accepted. Each request is
    checked against the policy first (no proxy stands in front of this
    path) and the canonical argv runs as the service's `exec_user`
    (`www-data` for occ). The container is the running task of the Swarm
    service named by `containers[service]` (default: the service name), or
    the container of that name.
*/
class direct_transport
{
public:
    using executor_type = docker::client::executor_type;

    struct options
    {
        /// service → Swarm service name or container name
        std::map<std::string, std::string> containers;
        /// Back-pressure from the output's consumer (docker/output_gate.hpp),
        /// for a transport that runs one command at a time (the validator).
        std::shared_ptr<docker::output_gate> output_gate;
    };

    direct_transport(executor_type ex, docker::engine_address engine,
                     const whitelist& policy = whitelist::default_policy(),
                     options opts = {});

    executor_type get_executor() const noexcept { return client_.get_executor(); }
    docker::client& engine() noexcept { return client_; }

    /// The container name or Swarm service looked up for `service`.
    std::string container_for(const std::string& service) const;

    /** Checks and runs `request`. `void(error_code, command_result)`:
        a refusal is `condition::rejected`; `error::target_not_found` /
        `target_not_running` when no container runs; `error::timeout` when
        the deadline passed (the process was stopped). */
    template<class Token>
    auto async_run(command_request request, output_handler on_output, Token&& token);

private:
    docker::client client_;
    const whitelist* policy_;
    options options_;
};

} // namespace nextprism

#include <nextprism/transport/impl/direct.hpp>

#endif
