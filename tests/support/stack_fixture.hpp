#ifndef NEXTPRISM_TESTS_SUPPORT_STACK_FIXTURE_HPP
#define NEXTPRISM_TESTS_SUPPORT_STACK_FIXTURE_HPP

// The ctest fixture "stack" (tests/testbed/stack.sh): the stand-in targets
// and the Nextcloud proxy deployed with `docker stack deploy` on the test
// bed's one-node Swarm; its keys and known_hosts under NEXTPRISM_STACK_DIR.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

namespace nextprism::test {

/// The proxy's Swarm service, as stack.sh deploys it.
inline const std::string nextcloud_proxy_service = "npproxy_nextcloud-proxy";

inline std::string stack_dir()
{
    const char* v = std::getenv("NEXTPRISM_STACK_DIR");
    if (!v || !*v)
        FAIL("NEXTPRISM_STACK_DIR is not set: run through ctest (fixture stack)");
    return v;
}

} // namespace nextprism::test

#endif
