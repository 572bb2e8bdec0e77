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
        // One kind each, and default_error_condition names it.
        const int kinds = (ec == condition::transient) + (ec == condition::rejected) +
                          (ec == condition::permanent) + (ec == condition::cancelled);
        CHECK(kinds == 1);
        CHECK(ec == ec.default_error_condition());
        // A refusal is always known to come before the start.
        if (ec == condition::rejected)
            CHECK(ec == condition::not_started);
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
    CHECK(error_code(error::invalid_whitelist) == condition::permanent);
}

TEST_CASE("one table answers moved, not started, unreachable and cancelled, for Asio's errors too")
{
    namespace ae = boost::asio::error;
    CHECK(error_code(error::target_not_found) == condition::moved);
    CHECK(error_code(error::target_not_running) == condition::moved);
    CHECK(error_code(ae::connection_refused) == condition::moved);
    CHECK(error_code(error::connection_lost) != condition::moved);

    CHECK(error_code(ae::connection_refused) == condition::unreachable);
    CHECK(error_code(ae::host_unreachable) == condition::unreachable);
    CHECK(error_code(error::target_not_found) != condition::unreachable);
    // Broken before the command was sent: it never ran, and nothing answered.
    CHECK(error_code(error::connection_failed) == condition::unreachable);
    CHECK(error_code(error::connection_failed) == condition::not_started);
    CHECK(error_code(error::connection_failed) == condition::transient);
    CHECK(error_code(error::connection_failed) != condition::moved);

    for (auto e : {error::no_route, error::busy, error::pool_timeout, error::host_key_mismatch,
                   error::authentication_failed, error::audit_log_failed})
        CHECK(error_code(e) == condition::not_started);
    // An audit sink that blocked for 2 s recovers: nothing ran, try again.
    CHECK(error_code(error::audit_log_failed) == condition::transient);
    CHECK(error_code(ae::host_not_found) == condition::not_started);
    // May have run: never marked "not started".
    for (auto e : {error::timeout, error::connection_lost, error::outcome_unknown, error::engine_error,
                   error::proxy_internal})
        CHECK(error_code(e) != condition::not_started);
    CHECK(error_code(ae::eof) != condition::not_started);

    CHECK(error_code(error::cancelled) == condition::cancelled);
    CHECK(error_code(ae::operation_aborted) == condition::cancelled);
    CHECK(error_code(error::cancelled) != condition::permanent);
    CHECK(error_code(ae::access_denied) != condition::moved);
}
