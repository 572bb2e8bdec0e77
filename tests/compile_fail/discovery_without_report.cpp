// Must not compile: a discovery policy that cannot be told how a run went.
#include <nextprism/swarm_executor.hpp>

struct deaf_discovery
{
    using executor_type = boost::asio::any_io_executor;
    executor_type get_executor() const { return ex; }
    template<class Token>
    auto async_locate(std::string, Token&& token)
    {
        return nextprism::detail::async_ready(ex, nextprism::placement{}, std::forward<Token>(token));
    }
    void invalidate(const std::string&) {}
    executor_type ex;
};

using broken = nextprism::basic_swarm_executor<nextprism::no_proxy, deaf_discovery, nextprism::no_retry>;
int main() { return sizeof(broken); }
