#include <nextprism/error.hpp> // first: the header is self-contained

#include <boost/asio/error.hpp>
#include <catch2/catch.hpp>

using nextprism::condition;
using nextprism::error;
using nextprism::error_code;

TEST_CASE("every error has its own message")
{
    for (int v = 1; v <= static_cast<int>(error::pool_timeout); ++v) {
        const error_code ec = static_cast<error>(v);
        CHECK(ec.category().name() == std::string("nextprism"));
        CHECK(ec.message().find("nextprism error") == std::string::npos);
    }
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
