// Must not compile: a discovery policy the executor cannot tell that the
// target moved (it would keep offering a stale placement).
#include <nextprism/swarm_executor.hpp>

struct forgetful_discovery
{
    using executor_type = boost::asio::any_io_executor;
    executor_type get_executor() const { return ex; }
    template<class Token>
    auto async_locate(std::string, Token&& token)
    {
        return nextprism::async_ready(ex, nextprism::placement{}, std::forward<Token>(token));
    }
    executor_type ex;
};

using broken = nextprism::basic_swarm_executor<nextprism::no_proxy, forgetful_discovery, nextprism::no_retry,
                                               nextprism::direct_transport>;
int main() { return sizeof(broken); }
