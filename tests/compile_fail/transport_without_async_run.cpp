// Must not compile: a proxy transport without async_run.
#include <nextprism/swarm_executor.hpp>

struct mute_transport
{
    using executor_type = boost::asio::any_io_executor;
    executor_type get_executor() const { return ex; }
    executor_type ex;
};

using broken = nextprism::basic_swarm_executor<mute_transport, nextprism::local_only_discovery,
                                               nextprism::no_retry, nextprism::direct_transport>;
int main() { return sizeof(broken); }
