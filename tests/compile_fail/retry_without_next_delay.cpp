// Must not compile: a retry strategy whose schedule has no next_delay. The
// compiler's message names the concept (retry_policy) and the missing member.
#include <nextprism/swarm_executor.hpp>

#include <cstdint>

struct forgetful_retry
{
    struct schedule
    {
    };
    schedule start(std::uint64_t) const { return {}; }
};

using broken = nextprism::basic_swarm_executor<nextprism::no_proxy, nextprism::local_only_discovery,
                                               forgetful_retry, nextprism::direct_transport>;
broken* instance = nullptr;
int main() { return sizeof(broken); }
