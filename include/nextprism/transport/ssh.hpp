#ifndef NEXTPRISM_TRANSPORT_SSH_HPP
#define NEXTPRISM_TRANSPORT_SSH_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/command.hpp>
#include <nextprism/ssh/pool.hpp>
#include <nextprism/transport/concept.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>

namespace nextprism {

/** The proxy transport of the Swarm-aware executor: one pool, any proxy
    endpoint discovery offers, logging in as `user`. Copies share the pool. */
template<pooling_policy Strategy>
class basic_ssh_proxy_transport
{
public:
    using executor_type = typename basic_ssh_pool<Strategy>::executor_type;

    basic_ssh_proxy_transport(boost::asio::any_io_executor ex, ssh_pool_options opts,
                              std::string user = "nextprism")
        : pool_(std::make_shared<basic_ssh_pool<Strategy>>(std::move(ex), std::move(opts))),
          user_(std::move(user))
    {
    }

    executor_type get_executor() const noexcept { return pool_->get_executor(); }
    basic_ssh_pool<Strategy>& pool() noexcept { return *pool_; }

    /// The SSH endpoint (user@host:port) used for a proxy endpoint.
    ssh::endpoint ssh_endpoint(const proxy_endpoint& ep) const { return {ep.host, ep.port, user_}; }

    /// Sends the canonical argv; the pool formats the wire string at the
    /// SSH edge (wire/command_string.hpp) and the proxy checks it again.
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(const proxy_endpoint& ep, authorized_command command, output_handler on_output,
                   Token&& token = Token{})
    {
        return pool_->async_run(ssh_endpoint(ep), std::move(command.argv), std::move(on_output),
                                command.timeout, std::forward<Token>(token));
    }

private:
    std::shared_ptr<basic_ssh_pool<Strategy>> pool_;
    std::string user_;
};

using ssh_proxy_transport = basic_ssh_proxy_transport<multiplexed>;

static_assert(proxy_transport_policy<basic_ssh_proxy_transport<multiplexed>>);
static_assert(proxy_transport_policy<basic_ssh_proxy_transport<exclusive>>);

} // namespace nextprism

#endif
