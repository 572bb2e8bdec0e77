#ifndef NEXTPRISM_DISCOVERY_LOCAL_ONLY_HPP
#define NEXTPRISM_DISCOVERY_LOCAL_ONLY_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/discovery/concept.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <string>

namespace nextprism {

/// Discovery for executors that never leave the node: "not in Swarm".
class local_only_discovery
{
public:
    using executor_type = boost::asio::any_io_executor;
    explicit local_only_discovery(executor_type ex) : ex_(std::move(ex)) {}
    executor_type get_executor() const noexcept { return ex_; }

    /// "Not in Swarm", at once. Cancellation: none.
    template<completion_token_for<placement> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_locate(std::string, Token&& token = Token{});
    void invalidate(const std::string&) {}

private:
    executor_type ex_;
};

template<completion_token_for<placement> Token>
auto local_only_discovery::async_locate(std::string, Token&& token)
{
    placement p;
    p.swarm_active = false;
    p.target_local = true;
    return detail::async_ready(ex_, std::move(p), std::forward<Token>(token));
}

static_assert(discovery_policy<local_only_discovery>);

} // namespace nextprism

#endif
