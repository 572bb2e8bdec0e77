#include <nextprism/ssh/session.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

using namespace nextprism;
using nextprism::ssh::detail::decode_exit;

TEST_CASE("ssh session: only an exit status is a result; a signal or no status is outcome_unknown")
{
    CHECK_FALSE(decode_exit(0, std::nullopt));
    CHECK_FALSE(decode_exit(1, std::nullopt)); // a non-zero status is data
    CHECK_FALSE(decode_exit(65, std::nullopt));
    // libssh2 answers 0 for the status when the server sent exit-signal.
    CHECK(decode_exit(0, std::string("KILL")) == error::outcome_unknown);
    CHECK(decode_exit(0, std::string("SEGV")) == error::outcome_unknown);
    CHECK(decode_exit(std::nullopt, std::nullopt) == error::outcome_unknown);
    CHECK(decode_exit(std::nullopt, std::nullopt) != condition::transient);
}
