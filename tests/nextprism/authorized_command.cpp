#include <nextprism/authorized_command.hpp> // first: the header is self-contained
#include <nextprism/whitelist.hpp>

#include <catch2/catch.hpp>

#include <type_traits>

using namespace nextprism;

// Only the whitelist's check makes one: nobody fills in fields to get past it.
static_assert(!std::is_default_constructible_v<authorized_command>);
static_assert(!std::is_aggregate_v<authorized_command>);
static_assert(std::is_copy_constructible_v<authorized_command>); // it travels as a value
static_assert(std::is_default_constructible_v<decision>);         // a refusal carries none

TEST_CASE("authorized_command: made by the check, with everything the way needs")
{
    const auto d = whitelist::builtin().check("photoprism", std::vector<std::string>{"photoprism", "import", "2024"});
    REQUIRE(d.allowed());
    const authorized_command& c = d.command;
    CHECK(c.service == "photoprism");
    CHECK(c.rule == "photoprism import");
    CHECK(c.exec_argv != c.argv); // the import path made absolute under its base
    CHECK_FALSE(c.failure_patterns.empty());
    const authorized_command copy = c;
    CHECK(copy.exec_argv == c.exec_argv);
}

TEST_CASE("testing::unchecked_command: what no whitelist checked, for a test to send a proxy")
{
    const auto c = testing::unchecked_command("nextcloud", {"php", "occ", "user:add", "eve"});
    CHECK(c.service == "nextcloud");
    CHECK(c.argv == std::vector<std::string>{"php", "occ", "user:add", "eve"});
    CHECK(c.exec_argv == c.argv);
    CHECK(c.rule.empty());
    CHECK_FALSE(c.idempotent); // never retried after an unknown outcome
    CHECK(c.timeout.count() == 0);
}

TEST_CASE("failure_pattern: every given part must match, on the given stream")
{
    failure_pattern p;
    p.stream = failure_pattern::stream_kind::err;
    p.starts_with = "level=error";
    p.contains = "index";
    CHECK(p.matches(output_stream::err, "level=error msg=\"index: failed\""));
    CHECK_FALSE(p.matches(output_stream::out, "level=error msg=\"index: failed\""));
    CHECK_FALSE(p.matches(output_stream::err, "level=error msg=\"import: failed\""));
    p.stream = failure_pattern::stream_kind::any;
    p.ends_with = "!";
    CHECK(p.matches(output_stream::out, "level=error index!"));
    CHECK_FALSE(p.matches(output_stream::out, "level=error index"));
}
