// Must not compile: a retry strategy without next_delay. The compiler's
// message names the concept (retry_policy) and the missing member.
#include <nextprism/swarm_executor.hpp>

struct forgetful_retry
{
    void reset() {}
};

using broken = nextprism::basic_swarm_executor<nextprism::no_proxy, nextprism::local_only_discovery,
                                               forgetful_retry>;
broken* instance = nullptr;
int main() { return sizeof(broken); }
