#include "default_whitelist_table.hpp" // first: the generated header is self-contained

#include <catch2/catch.hpp>

// The proxy's compiled default (proxy/whitelist_table.cpp writes it at build
// time) must be exactly what the loader reads from the JSON, so that the
// two can never drift: checked piece by piece (a failure names the service,
// command and option), then as a whole (a member added later is compared
// by the defaulted operator== even before a line here names it).

using nextprism::whitelist;

TEST_CASE("the compiled default whitelist equals the parsed JSON, rule by rule")
{
    nextprism::error_code ec;
    std::string reason;
    const auto parsed = whitelist::from_json(whitelist::builtin_json(), ec, reason);
    REQUIRE_FALSE(ec);
    const auto table = nextprism::whitelist_table::builtin();

    REQUIRE(table.services().size() == parsed.services().size());
    for (std::size_t s = 0; s < parsed.services().size(); ++s) {
        const auto& want = parsed.services()[s];
        const auto& got = table.services()[s];
        INFO("service " << want.name);
        CHECK(got.name == want.name);
        CHECK(got.exec_user == want.exec_user);
        CHECK(got.exec_user_from == want.exec_user_from);
        CHECK(got.working_dir == want.working_dir);
        REQUIRE(got.failures.size() == want.failures.size());
        for (std::size_t f = 0; f < want.failures.size(); ++f) {
            INFO("failure line " << f);
            CHECK(got.failures[f].stream == want.failures[f].stream);
            CHECK(got.failures[f].starts_with == want.failures[f].starts_with);
            CHECK(got.failures[f].contains == want.failures[f].contains);
            CHECK(got.failures[f].ends_with == want.failures[f].ends_with);
        }
        REQUIRE(got.commands.size() == want.commands.size());
        for (std::size_t c = 0; c < want.commands.size(); ++c) {
            const auto& wc = want.commands[c];
            const auto& gc = got.commands[c];
            INFO("command " << wc.name());
            CHECK(gc.argv == wc.argv);
            CHECK(gc.single_flight == wc.single_flight);
            CHECK(gc.idempotent == wc.idempotent);
            CHECK(gc.arguments.value == wc.arguments.value);
            CHECK(gc.arguments.max == wc.arguments.max);
            CHECK(gc.arguments.base == wc.arguments.base);
            CHECK(gc.arguments.reserved == wc.arguments.reserved);
            REQUIRE(gc.options.size() == wc.options.size());
            for (std::size_t o = 0; o < wc.options.size(); ++o) {
                const auto& wo = wc.options[o];
                const auto& go = gc.options[o];
                INFO("option " << wo.name);
                CHECK(go.name == wo.name);
                CHECK(go.aliases == wo.aliases);
                CHECK(go.value == wo.value);
                CHECK(go.choices == wo.choices);
                CHECK(go.base == wo.base);
                CHECK(go.idempotent == wo.idempotent);
            }
            REQUIRE(gc.forbidden.size() == wc.forbidden.size());
            for (std::size_t o = 0; o < wc.forbidden.size(); ++o) {
                INFO("forbidden option " << wc.forbidden[o].name);
                CHECK(gc.forbidden[o].name == wc.forbidden[o].name);
                CHECK(gc.forbidden[o].aliases == wc.forbidden[o].aliases);
                CHECK(gc.forbidden[o].reason == wc.forbidden[o].reason);
            }
            CHECK(gc == wc);
        }
        CHECK(got == want);
    }
    CHECK(table == parsed);
    CHECK(table == whitelist::builtin());
}

TEST_CASE("the compiled default decides as the parsed one")
{
    const auto table = nextprism::whitelist_table::builtin();
    const auto& parsed = whitelist::builtin();
    for (const char* command : {"php occ files:scan '--path=/alice/files/My Photos'",
                                "php occ memories:index --clear",
                                "photoprism import -d x -- y",
                                "photoprism import originals/x"}) {
        INFO(command);
        const auto service = std::string_view(command).starts_with("php") ? "nextcloud" : "photoprism";
        const auto a = table.check_command(service, command);
        const auto b = parsed.check_command(service, command);
        CHECK(a.ec == b.ec);
        CHECK(a.reason == b.reason);
        CHECK(a.command.exec_argv == b.command.exec_argv);
    }
}
