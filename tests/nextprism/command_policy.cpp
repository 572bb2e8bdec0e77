#include <nextprism/command_policy.hpp> // first: the header is self-contained

#include "support/corpus.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>

using nextprism::command_policy;
using nextprism::error;
using nextprism::error_code;
using argv_t = std::vector<std::string>;

namespace {

const std::map<std::string, error> error_names = {
    {"empty_command", error::empty_command},
    {"command_too_long", error::command_too_long},
    {"too_many_arguments", error::too_many_arguments},
    {"invalid_utf8", error::invalid_utf8},
    {"forbidden_character", error::forbidden_character},
    {"unterminated_quote", error::unterminated_quote},
    {"unknown_service", error::unknown_service},
    {"command_not_allowed", error::command_not_allowed},
    {"option_not_allowed", error::option_not_allowed},
    {"option_forbidden", error::option_forbidden},
    {"invalid_value", error::invalid_value},
    {"missing_value", error::missing_value},
    {"duplicate_option", error::duplicate_option},
    {"too_many_positionals", error::too_many_positionals},
};

const command_policy& policy()
{
    return command_policy::default_policy();
}

nextprism::decision check(std::string_view service, std::string_view text)
{
    return policy().check_command(service, text);
}

} // namespace

TEST_CASE("the corpus: every case decides as expected")
{
    const auto cases = nextprism::test::load_corpus();
    std::size_t allowed = 0, refused = 0;
    for (const auto& c : cases) {
        INFO("corpus line " << c.line << ": " << c.input);
        const auto d = check(c.service, c.input);
        if (c.expectation == "ok") {
            INFO(d.reason);
            REQUIRE(d.allowed());
            CHECK(nlohmann::json(d.argv) == nlohmann::json::parse(c.argv_json));
            ++allowed;
        } else {
            REQUIRE(error_names.count(c.expectation) == 1);
            CHECK(d.ec == error_names.at(c.expectation));
            CHECK_FALSE(d.allowed());
            CHECK(d.argv.empty());
            CHECK_FALSE(d.reason.empty());
            CHECK(d.reason.find('\n') == std::string::npos);
            ++refused;
        }
    }
    CHECK(allowed >= 30);
    CHECK(refused >= 100);
}

TEST_CASE("the canonical form is a fixed point and round-trips the wire")
{
    for (const auto& c : nextprism::test::load_corpus()) {
        if (c.expectation != "ok")
            continue;
        const auto first = check(c.service, c.input);
        REQUIRE(first.allowed());
        const auto text = nextprism::format_command(first.argv);
        const auto second = check(c.service, text);
        INFO(text);
        REQUIRE(second.allowed());
        CHECK(second.argv == first.argv);
    }
}

TEST_CASE("an option with an optional value never swallows a user id")
{
    // occ's --generate-metadata takes an optional value: `--generate-metadata
    // alice` would otherwise scan nobody. The canonical argv puts `--` first.
    const auto d = check("nextcloud", "php occ files:scan --generate-metadata alice");
    REQUIRE(d.allowed());
    CHECK(d.argv == argv_t{"php", "occ", "files:scan", "--generate-metadata", "--", "alice"});
}

TEST_CASE("refusals name the rule")
{
    CHECK(check("nextcloud", "php occ memories:index --clear").reason ==
          "--clear is refused for php occ memories:index: --clear wipes the whole index and "
          "skips its confirmation when no terminal is attached");
    CHECK(check("photoprism", "photoprism import /etc").reason ==
          "argument: path '/etc' must be relative, not absolute");
    CHECK(check("nextcloud", "php occ files:scan --path=/alice/files/../bob/files").reason ==
          "--path: path 'alice/files/../bob/files' contains a '..' segment");
    CHECK(check("nextcloud", "php occ user:add eve").reason ==
          "command 'php occ user:add' is not allowed for nextcloud (allowed: php occ files:scan, "
          "php occ memories:index, php occ status)");
    CHECK(check("nextcloud", "php occ files:scan --bogus").reason.starts_with(
        "option '--bogus' is not allowed for php occ files:scan (allowed: --path --all"));
}

TEST_CASE("command rules carry single-flight and idempotence")
{
    const auto scan = check("nextcloud", "php occ files:scan --all");
    REQUIRE(scan.command);
    CHECK(scan.command->single_flight);
    CHECK(scan.command->idempotent);
    const auto status = check("nextcloud", "php occ status");
    REQUIRE(status.command);
    CHECK_FALSE(status.command->single_flight);
    const auto import = check("photoprism", "photoprism import");
    REQUIRE(import.command);
    CHECK_FALSE(import.command->idempotent);
    CHECK(scan.service->exec_user == std::optional<std::string>("www-data"));
    CHECK_FALSE(import.service->exec_user.has_value());
}

TEST_CASE("path values: each rule")
{
    using nextprism::value_type;
    auto ok = [](value_type t, std::string_view v) {
        std::string reason;
        return nextprism::detail::check_value(t, {}, v, reason);
    };
    CHECK(ok(value_type::user_files_path, "/alice/files"));
    CHECK(ok(value_type::user_files_path, "/alice/files/x/y/"));
    CHECK_FALSE(ok(value_type::user_files_path, "/alice/files/x/../y"));
    CHECK_FALSE(ok(value_type::user_files_path, "/alice//files"));
    CHECK_FALSE(ok(value_type::user_files_path, "//alice/files"));
    CHECK_FALSE(ok(value_type::user_files_path, "/"));
    CHECK(ok(value_type::user_folder, "/"));
    CHECK(ok(value_type::user_folder, "Photos"));
    CHECK(ok(value_type::user_folder, "/Photos/2024/"));
    CHECK_FALSE(ok(value_type::user_folder, "//"));
    CHECK_FALSE(ok(value_type::user_folder, ""));
    CHECK(ok(value_type::relative_path, "a/b c/d"));
    CHECK(ok(value_type::relative_path, "a/"));
    CHECK_FALSE(ok(value_type::relative_path, "/a"));
    CHECK_FALSE(ok(value_type::relative_path, "./a"));
    CHECK_FALSE(ok(value_type::relative_path, "a/."));
    CHECK_FALSE(ok(value_type::relative_path, std::string(300, 'x')));
    CHECK_FALSE(ok(value_type::relative_path, std::string(1100, 'x')));
    CHECK(ok(value_type::user_id, std::string(64, 'x')));
    CHECK_FALSE(ok(value_type::user_id, std::string(65, 'x')));
}

// ---- the policy file -------------------------------------------------------------

namespace {

std::string load_error(std::string_view text)
{
    error_code ec;
    std::string reason;
    command_policy::from_json(text, ec, reason);
    CHECK(ec == error::invalid_policy);
    return reason;
}

} // namespace

TEST_CASE("a policy file replaces the whitelist")
{
    error_code ec;
    std::string reason;
    const auto p = command_policy::from_json(R"({
      "services": { "nextcloud": { "exec_user": "www-data", "commands": [
        { "argv": ["php", "occ", "status"],
          "options": [ { "name": "--output", "value": "choice", "choices": ["json"] } ] }
      ] } } })",
                                             ec, reason);
    INFO(reason);
    REQUIRE_FALSE(ec);
    CHECK(p.check_command("nextcloud", "php occ status --output json").allowed());
    CHECK(p.check_command("nextcloud", "php occ status --output plain").ec == error::invalid_value);
    CHECK(p.check_command("nextcloud", "php occ files:scan --all").ec ==
          error::command_not_allowed);
    CHECK(p.check_command("photoprism", "photoprism status").ec == error::unknown_service);
}

TEST_CASE("the default policy's JSON loads through the same reader")
{
    error_code ec;
    std::string reason;
    const auto p = command_policy::from_json(command_policy::default_policy_json(), ec, reason);
    REQUIRE_FALSE(ec);
    REQUIRE(p.services().size() == 2);
    CHECK(p.services()[0].commands.size() + p.services()[1].commands.size() == 6);
}

TEST_CASE("policy file errors name the line or the key")
{
    CHECK(load_error("{\n  \"services\": {\n    \"nextcloud\": ,\n  }\n}") ==
          "JSON syntax error at line 3, column 18");
    CHECK(load_error(R"({"services": {}})") ==
          "policy.services: missing or empty (an object of services)");
    CHECK(load_error(R"({"services": {"nc": {"commands": [{"argv": ["php"], "opts": []}]}}})") ==
          "services.nc.commands[0].opts: unknown key");
    CHECK(load_error(
              R"({"services": {"nc": {"commands": [{"argv": ["x"], "options": [{"name": "--p", "value": "path"}]}]}}})")
              .starts_with("services.nc.commands[0].options[0].value: unknown value type 'path'"));
    CHECK(load_error(
              R"({"services": {"nc": {"commands": [{"argv": ["x"], "options": [{"name": "p"}]}]}}})") ==
          "services.nc.commands[0].options[0].name: 'p' is not an option name (-x or --name)");
    CHECK(load_error(R"({"services": {"nc": {"commands": [{"argv": ["x;y"]}]}}})") ==
          "services.nc.commands[0].argv[0]: 'x;y' must be a non-empty word of letters, digits and _-./:=@%+,");
    CHECK(load_error(
              R"({"services": {"nc": {"commands": [{"argv": ["x"], "options": [{"name": "--a"}, {"name": "--b", "aliases": ["--a"]}]}]}}})") ==
          "services.nc.commands[0]: option spelling '--a' is defined twice");
    CHECK(load_error(R"({"services": {"nc": {"commands": [{"argv": ["x"]}, {"argv": ["x"]}]}}})") ==
          "services.nc.commands[1]: x is defined twice");
    CHECK(load_error(
              R"({"services": {"nc": {"commands": [{"argv": ["x"], "arguments": {"value": "user_id", "max": 0}}]}}})") ==
          "services.nc.commands[0].arguments.max: expected an integer from 1 to 64");
    CHECK(load_error(R"({"services": {"nc": {"exec_user": "ro ot", "commands": []}}})")
              .starts_with("services.nc.exec_user:"));
    CHECK(load_error(
              R"({"services": {"nc": {"commands": [{"argv": ["x"], "options": [{"name": "--o", "value": "choice"}]}]}}})") ==
          "services.nc.commands[0].options[0].choices: missing (value is \"choice\")");
    CHECK(load_error(R"({"services": {"nc": {"commands": [{"argv": ["x"], "single_flight": 1}]}}})") ==
          "services.nc.commands[0].single_flight: expected true or false");
    CHECK(load_error("[]") == "policy: expected an object");
}
