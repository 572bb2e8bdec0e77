#ifndef NEXTPRISM_TRANSPORT_NO_PROXY_HPP
#define NEXTPRISM_TRANSPORT_NO_PROXY_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/transport/concept.hpp>

#include <boost/asio/any_io_executor.hpp>

namespace nextprism {

/** A proxy transport for executors that never leave the node: every
    attempt through it fails with `error::no_route` (routing never picks it
    when discovery offers no proxy, as `local_only_discovery` does).
    Cancellation: none (it completes at once). */
class no_proxy
{
public:
    using executor_type = boost::asio::any_io_executor;
    explicit no_proxy(executor_type ex) : ex_(std::move(ex)) {}
    executor_type get_executor() const noexcept { return ex_; }

    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(const proxy_endpoint&, authorized_command, output_handler, Token&& token = Token{});

private:
    executor_type ex_;
};

template<completion_token_for<command_result> Token>
auto no_proxy::async_run(const proxy_endpoint&, authorized_command, output_handler, Token&& token)
{
    return detail::async_spawn<command_result>(
        ex_, std::forward<Token>(token), []() -> net::awaitable<detail::op_result<command_result>> {
            co_return detail::op_result<command_result>{error::no_route, {}};
        });
}

static_assert(proxy_transport_policy<no_proxy>);

} // namespace nextprism

#endif
