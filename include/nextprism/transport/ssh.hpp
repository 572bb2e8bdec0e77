#ifndef NEXTPRISM_TRANSPORT_SSH_HPP
#define NEXTPRISM_TRANSPORT_SSH_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/command.hpp>
#include <nextprism/ssh/pool.hpp>
#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/transport/concept.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

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

    /** Sends the canonical argv; the pool formats the wire string at the
        SSH edge (wire/command_string.hpp) and the proxy checks it again.
        Completes as every transport does: the proxy's wire contract (its
        start line, its exit table) is decoded here (`proxy_reply`), so the
        caller gets the proxy's errors as `error_code`s and the result's
        `started_in`/`started`; `on_started` (may be empty) when the
        proxy's start line has come. Cancellation: terminal and partial
        (total is filtered out), passed to the pool's run, which closes the
        channel: the proxy then stops the command in the target. */
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(const proxy_endpoint& ep, authorized_command command, output_handler on_output,
                   Token&& token = Token{})
    {
        return async_run(ep, std::move(command), std::move(on_output), start_handler{}, std::forward<Token>(token));
    }

    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(const proxy_endpoint& ep, authorized_command command, output_handler on_output,
                   start_handler on_started, Token&& token = Token{})
    {
        namespace net = boost::asio;
        auto cancel = std::make_shared<net::cancellation_signal>();
        return detail::async_spawn<command_result>(
            pool_->get_executor(), std::forward<Token>(token),
            [pool = pool_, cancel, to = ssh_endpoint(ep), command = std::move(command),
             on_output = std::move(on_output),
             on_started = std::move(on_started)]() mutable -> net::awaitable<detail::op_result<command_result>> {
                proxy_reply reply(std::move(on_output), std::move(on_started));
                auto [ec, result] = co_await pool->async_run(
                    to, std::move(command.argv), [&reply](output_stream s, std::string_view d) { reply(s, d); },
                    command.timeout, net::bind_cancellation_slot(cancel->slot(), detail::use_tuple));
                ec = reply.finish(ec, result);
                co_return detail::op_result<command_result>{ec, std::move(result)};
            },
            [cancel](net::cancellation_type type) { cancel->emit(type); });
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
