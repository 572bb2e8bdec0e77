#include <nextprism/error.hpp> // first: the header is self-contained

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

#include <set>
#include <string>

using nextprism::condition;
using nextprism::error;
using nextprism::error_code;

TEST_CASE("every error has its own message and a condition")
{
    // Up to the real last enumerator: the loop once stopped at pool_timeout
    // and never saw no_route.
    static_assert(error::last_ >= error::no_route);
    std::set<std::string> messages;
    for (int v = 1; v <= static_cast<int>(error::last_); ++v) {
        const error_code ec = static_cast<error>(v);
        INFO("error " << v << ": " << ec.message());
        CHECK(ec.category().name() == std::string("nextprism"));
        CHECK(ec.message().find("nextprism error") == std::string::npos);
        CHECK(messages.insert(ec.message()).second);
        const int conditions = (ec == condition::transient) + (ec == condition::rejected) +
                               (ec == condition::permanent);
        CHECK(conditions == 1);
    }
    CHECK(messages.size() == static_cast<std::size_t>(error::last_));
}

TEST_CASE("refusals are rejected, not transient")
{
    for (auto e : {error::forbidden_character, error::command_not_allowed, error::option_forbidden,
                   error::invalid_value, error::unknown_service}) {
        const error_code ec = e;
        CHECK(ec == condition::rejected);
        CHECK(ec != condition::transient);
    }
}

TEST_CASE("the transient condition spans categories")
{
    CHECK(error_code(error::timeout) == condition::transient);
    CHECK(error_code(error::engine_error) == condition::transient);
    CHECK(error_code(boost::asio::error::connection_refused) == condition::transient);
    CHECK(error_code(boost::asio::error::connection_reset) == condition::transient);
    CHECK(error_code(boost::asio::error::eof) == condition::transient);
    CHECK(error_code(boost::asio::error::access_denied) != condition::transient);
    // An outcome that may have happened must never look retryable.
    CHECK(error_code(error::outcome_unknown) != condition::transient);
    CHECK(error_code(error::invalid_policy) == condition::permanent);
}
