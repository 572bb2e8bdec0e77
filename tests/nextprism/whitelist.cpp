#include <nextprism/whitelist.hpp> // first: the header is self-contained

#include "support/corpus.hpp"
#include "support/photoprism_paths.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

using nextprism::whitelist;
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

const whitelist& rules()
{
    return whitelist::builtin();
}

nextprism::decision check(std::string_view service, std::string_view text)
{
    return rules().check_command(service, text);
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
            CHECK(nlohmann::json(d.command.exec_argv) == nlohmann::json::parse(c.argv_json));
            ++allowed;
        } else {
            REQUIRE(error_names.count(c.expectation) == 1);
            CHECK(d.ec == error_names.at(c.expectation));
            CHECK_FALSE(d.allowed());
            CHECK(d.command.argv.empty());
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
        const auto text = nextprism::format_command(first.command.argv);
        const auto second = check(c.service, text);
        INFO(text);
        REQUIRE(second.allowed());
        CHECK(second.command.argv == first.command.argv);
    }
}

TEST_CASE("an option with an optional value never swallows a user id")
{
    // occ's --generate-metadata takes an optional value: `--generate-metadata
    // alice` would otherwise scan nobody. The canonical argv puts `--` first.
    const auto d = check("nextcloud", "php occ files:scan --generate-metadata alice");
    REQUIRE(d.allowed());
    CHECK(d.command.argv == argv_t{"php", "occ", "files:scan", "--generate-metadata", "--", "alice"});
}

TEST_CASE("refusals name the rule")
{
    CHECK(check("nextcloud", "php occ memories:index --clear").reason ==
          "--clear is refused for php occ memories:index: --clear wipes every user's index, and "
          "-n, -q or a missing terminal skips its confirmation");
    CHECK(check("photoprism", "photoprism import /etc").reason ==
          "argument: path '/etc' must be relative, not absolute");
    CHECK(check("photoprism", "photoprism import originals/2024").reason ==
          "argument: 'originals/2024' starts with 'originals', which names another folder of "
          "photoprism; give a folder inside /photoprism/import");
    CHECK(check("photoprism", "photoprism import --move x").reason ==
          "--move is refused for photoprism import: photoprism import always moves; it has no "
          "--move flag");
    CHECK(check("nextcloud", "php occ memories:index --folder=/x").reason.starts_with(
        "--folder is refused for php occ memories:index: Memories 7.6.1 renamed --folder to --path"));
    CHECK(check("photoprism", "photoprism index '\xc2\xa0..'").reason ==
          "argument: path '\xc2\xa0..' has a segment that begins or ends with white space");
    CHECK(check("nextcloud", "php occ files:scan --path=/alice/files/../bob/files").reason ==
          "--path: path 'alice/files/../bob/files' contains a '..' segment");
    CHECK(check("nextcloud", "php occ user:add eve").reason ==
          "command 'php occ user:add' is not allowed for nextcloud (allowed: php occ files:scan, "
          "php occ memories:index, php occ status)");
    CHECK(check("nextcloud", "php occ files:scan --bogus").reason.starts_with(
        "option '--bogus' is not allowed for php occ files:scan (allowed: --verbose -vv -vvv "
        "--quiet --no-interaction --no-ansi --no-warnings --path --all"));
}

TEST_CASE("command rules carry single-flight and idempotence")
{
    const auto scan = check("nextcloud", "php occ files:scan --all");
    REQUIRE(scan.allowed());
    CHECK(scan.command.single_flight);
    CHECK(scan.command.rule == "php occ files:scan");
    CHECK(scan.command.service == "nextcloud");
    const auto status = check("nextcloud", "php occ status");
    REQUIRE(status.allowed());
    CHECK_FALSE(status.command.single_flight);
    const auto import = check("photoprism", "photoprism import");
    REQUIRE(import.allowed());
    // The value owns what the whitelist said: nothing points back into it.
    CHECK_FALSE(scan.command.failure_patterns.empty());
    // A single-flight decision names its group: every single-flight rule of the service.
    using words = std::vector<std::string>;
    CHECK(scan.command.single_flight_group ==
          std::vector<words>{words{"php", "occ", "files:scan"}, words{"php", "occ", "memories:index"}});
    CHECK(status.command.single_flight_group.empty());
    CHECK(import.command.single_flight_group ==
          std::vector<words>{words{"photoprism", "index"}, words{"photoprism", "import"}});
    // The exec user is found in the target (exec_user.hpp), never fixed by default.
    CHECK_FALSE(scan.command.exec_user);
    REQUIRE(scan.command.exec_user_from);
    const nextprism::exec_user_rule nextcloud_user{.container_user = true, .otherwise = "www-data"};
    CHECK(*scan.command.exec_user_from == nextcloud_user);
    CHECK(scan.command.working_dir == std::optional<std::string>("/var/www/html"));
    CHECK_FALSE(import.command.exec_user);
    REQUIRE(import.command.exec_user_from);
    const nextprism::exec_user_rule photoprism_user{.container_user = true,
                                         .uid_env = {"PHOTOPRISM_UID", "PUID"},
                                         .gid_env = {"PHOTOPRISM_GID", "GID", "PGID"},
                                         .gid_otherwise = "1000"};
    CHECK(*import.command.exec_user_from == photoprism_user);
    CHECK(import.command.working_dir == std::optional<std::string>("/photoprism"));
    // The decision carries idempotence of the command and of every option.
    CHECK(scan.command.idempotent);
    CHECK_FALSE(import.command.idempotent);
    CHECK(check("photoprism", "photoprism index --force").command.idempotent);
    const auto cleanup = check("photoprism", "photoprism index --cleanup");
    REQUIRE(cleanup.allowed());
    CHECK(check("photoprism", "photoprism index").command.idempotent); // the command is
    CHECK_FALSE(cleanup.command.idempotent); // --cleanup deletes index entries: never re-run
}

TEST_CASE("paths: no segment may begin or end with white space, ASCII or Unicode")
{
    using nextprism::value_type;
    auto ok = [](value_type t, std::string_view v) {
        std::string reason;
        return nextprism::detail::check_value(t, {}, v, reason);
    };
    // Every code point Go's unicode.IsSpace accepts that the wire grammar lets through.
    const std::vector<std::string> spaces = {
        " ", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82",
        "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87",
        "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xaf", "\xe2\x81\x9f",
        "\xe3\x80\x80"};
    for (const auto& sp : spaces) {
        INFO("space " << nlohmann::json(sp).dump());
        for (const std::string seg : {".", "..", "x"}) {
            CHECK_FALSE(ok(value_type::relative_path, sp + seg));
            CHECK_FALSE(ok(value_type::relative_path, "a/" + seg + sp));
            CHECK_FALSE(ok(value_type::user_folder, "/" + sp + seg + "/b"));
            CHECK_FALSE(ok(value_type::user_files_path, "/alice/files/" + seg + sp));
        }
        CHECK(ok(value_type::relative_path, "a" + sp + "b")); // inside a name: fine
    }
    // Not white space for Go: zero-width and other letters stay allowed where the grammar allows them.
    CHECK(ok(value_type::relative_path, "\xc3\xa9t\xc3\xa9"));
}

TEST_CASE("photoprism import: the source is built under the import folder")
{
    CHECK(check("photoprism", "photoprism import").command.exec_argv ==
          argv_t{"photoprism", "import", "--", "/photoprism/import"});
    CHECK(check("photoprism", "photoprism import upload/").command.exec_argv ==
          argv_t{"photoprism", "import", "--", "/photoprism/import/upload"});
    // The canonical argv stays what a caller sends, so that a proxy's
    // second check agrees with the executor's first.
    CHECK(check("photoprism", "photoprism import upload/").command.argv ==
          argv_t{"photoprism", "import", "--", "upload/"});
    for (const char* bad : {"originals", "originals/2024", "storage", "storage/cache", "import",
                            "import/x", "photoprism", "..", ".", "' .'", "/photoprism/originals"}) {
        INFO(bad);
        CHECK(check("photoprism", std::string("photoprism import ") + bad).ec == error::invalid_value);
    }
}

TEST_CASE("common options come first in the canonical argv")
{
    CHECK(check("nextcloud", "php occ status --output=json --no-warnings").command.argv ==
          argv_t{"php", "occ", "status", "--no-warnings", "--output=json"});
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

// ---- the whitelist file -------------------------------------------------------------

namespace {

std::string load_error(std::string_view text)
{
    error_code ec;
    std::string reason;
    whitelist::from_json(text, ec, reason);
    CHECK(ec == error::invalid_whitelist);
    return reason;
}

} // namespace

TEST_CASE("a whitelist file replaces the whitelist")
{
    error_code ec;
    std::string reason;
    const auto p = whitelist::from_json(R"({
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

TEST_CASE("the default whitelist's JSON loads through the same reader")
{
    error_code ec;
    std::string reason;
    const auto p = whitelist::from_json(whitelist::builtin_json(), ec, reason);
    REQUIRE_FALSE(ec);
    REQUIRE(p.services().size() == 2);
    CHECK(p.services()[0].commands.size() + p.services()[1].commands.size() == 6);
}

TEST_CASE("whitelist file errors name the line or the key")
{
    CHECK(load_error("{\n  \"services\": {\n    \"nextcloud\": ,\n  }\n}") ==
          "JSON syntax error at line 3, column 18");
    CHECK(load_error(R"({"services": {}})") ==
          "services: missing or empty (an object of services)");
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
    // exec_user_from: one decision per service, each part checked.
    CHECK(load_error(R"({"services": {"nc": {"exec_user": "www-data", "exec_user_from": {"container_user": true}, "commands": []}}})") ==
          "services.nc.exec_user_from: a service has exec_user (the override) or exec_user_from, not both");
    CHECK(load_error(R"({"services": {"nc": {"exec_user_from": {}, "commands": []}}})") ==
          "services.nc.exec_user_from: says nothing (leave it out: the container's own user)");
    CHECK(load_error(R"({"services": {"pp": {"exec_user_from": {"uid_env": ["PHOTOPRISM UID"]}, "commands": []}}})") ==
          "services.pp.exec_user_from.uid_env[0]: 'PHOTOPRISM UID' is not an environment variable name");
    CHECK(load_error(R"({"services": {"pp": {"exec_user_from": {"gid_otherwise": "1000"}, "commands": []}}})") ==
          "services.pp.exec_user_from.gid_otherwise: needs uid_env (it is the group of a uid from the environment)");
    CHECK(load_error(R"({"services": {"pp": {"exec_user_from": {"otherwise": "-x"}, "commands": []}}})")
              .starts_with("services.pp.exec_user_from.otherwise: exec_user"));
    CHECK(load_error(R"({"services": {"pp": {"exec_user_from": {"container": true}, "commands": []}}})") ==
          "services.pp.exec_user_from.container: unknown key");
    CHECK(load_error(
              R"({"services": {"nc": {"commands": [{"argv": ["x"], "options": [{"name": "--o", "value": "choice"}]}]}}})") ==
          "services.nc.commands[0].options[0].choices: missing (value is \"choice\")");
    CHECK(load_error(R"({"services": {"nc": {"commands": [{"argv": ["x"], "single_flight": 1}]}}})") ==
          "services.nc.commands[0].single_flight: expected true or false");
    CHECK(load_error("[]") == "(top level): expected an object");
    CHECK(load_error(R"({"services": {"nc": {"commands": []}}, "colour": 1})") == "colour: unknown key");
}

TEST_CASE("whitelist file errors: one key-path format, as in the configuration's")
{
    // Object keys joined by '.', array elements as [i], no root name.
    CHECK(load_error(R"({"services": {"nextcloud": {"commands": [{"argv": ["x"], "options": [
              {"name": "--a"}, {"name": "--b", "aliases": ["b"]}]}]}}})") ==
          "services.nextcloud.commands[0].options[1].aliases[0]: 'b' is not an option name (-x or --name)");
    CHECK(load_error(R"({"services": {"nextcloud": {"commands": [{"argv": ["x"], "options": [
              {"name": "--a"}, {"value": "user_id"}]}]}}})") ==
          "services.nextcloud.commands[0].options[1].name: missing");
    CHECK(load_error(R"({"services": {"nextcloud": {"commands": [{"argv": ["x"], "options": [
              {"name": "--a"}, 7]}]}}})") ==
          "services.nextcloud.commands[0].options[1]: expected an object");
}

TEST_CASE("every whitelist file shipped under whitelists/ loads")
{
    namespace fs = std::filesystem;
    std::size_t loaded = 0;
    for (const auto& entry : fs::directory_iterator(NEXTPRISM_SOURCE_DIR "/whitelists")) {
        if (entry.path().extension() != ".json")
            continue;
        INFO(entry.path());
        std::ifstream in(entry.path());
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        error_code ec;
        std::string reason;
        const auto p = whitelist::from_json(text, ec, reason);
        INFO(reason);
        CHECK_FALSE(ec);
        ++loaded;
    }
    CHECK(loaded >= 1);
}

TEST_CASE("whitelists/memories-before-7.6.1.json: --folder instead of --path, the rest as the default")
{
    std::ifstream in(NEXTPRISM_SOURCE_DIR "/whitelists/memories-before-7.6.1.json");
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    error_code ec;
    std::string reason;
    const auto old = whitelist::from_json(text, ec, reason);
    REQUIRE_FALSE(ec);
    CHECK(old.check_command("nextcloud", "php occ memories:index -u alice --folder=/Photos").command.argv ==
          argv_t{"php", "occ", "memories:index", "--user=alice", "--folder=/Photos"});
    CHECK(old.check_command("nextcloud", "php occ memories:index --path=/Photos").ec ==
          error::option_forbidden);
    CHECK(old.check_command("photoprism", "photoprism import x").command.exec_argv ==
          rules().check_command("photoprism", "photoprism import x").command.exec_argv);
}

TEST_CASE("a base in a whitelist file: absolute, clean, only for relative paths")
{
    error_code ec;
    std::string reason;
    const auto p = whitelist::from_json(R"({"services": {"pp": {"commands": [
        {"argv": ["x"], "options": [{"name": "--d", "value": "relative_path", "base": "/lib"}],
         "arguments": {"value": "relative_path", "max": 2, "base": "/in"}}]}}})",
                                             ec, reason);
    INFO(reason);
    REQUIRE_FALSE(ec);
    CHECK(p.check_command("pp", "x --d a/ b c").command.exec_argv ==
          argv_t{"x", "--d=/lib/a", "--", "/in/b", "/in/c"});
    CHECK(p.check_command("pp", "x").command.exec_argv == argv_t{"x", "--", "/in"});
    CHECK(load_error(R"({"services": {"pp": {"commands": [{"argv": ["x"], "arguments": {"value": "user_id", "max": 1, "base": "/in"}}]}}})") ==
          "services.pp.commands[0].arguments.base: only allowed with \"value\": \"relative_path\"");
    CHECK(load_error(R"({"services": {"pp": {"commands": [{"argv": ["x"], "arguments": {"value": "relative_path", "max": 1, "base": "in/../x"}}]}}})") ==
          "services.pp.commands[0].arguments.base: expected an absolute path without a trailing '/', got 'in/../x'");
    CHECK(load_error(R"({"services": {"pp": {"commands": [{"argv": ["x"], "arguments": {"value": "relative_path", "max": 1, "base": "/a/../b"}}]}}})") ==
          "services.pp.commands[0].arguments.base: path 'a/../b' contains a '..' segment");
    CHECK(load_error(R"({"services": {"pp": {"working_dir": "rel", "commands": []}}})") ==
          "services.pp.working_dir: expected an absolute path without a trailing '/', got 'rel'");
    CHECK(load_error(R"({"services": {"pp": {"exec_user": "1000:", "commands": []}}})") ==
          "services.pp.exec_user: exec_user group must be 1 to 64 characters");
    CHECK(load_error(R"({"services": {"pp": {"failure_lines": [{"stream": "stderr"}], "commands": []}}})") ==
          "services.pp.failure_lines[0]: needs one of starts_with, contains, ends_with");
    CHECK(load_error(R"({"services": {"pp": {"failure_lines": [{"contains": "x", "stream": "both"}], "commands": []}}})") ==
          "services.pp.failure_lines[0].stream: expected one of any, stdout, stderr");
}

TEST_CASE("no allowed photoprism command resolves outside its folder, the way PhotoPrism resolves it")
{
    using nextprism::test::photoprism_stays_inside;
    using nextprism::test::resolve_photoprism;
    // The oracle itself: what PhotoPrism would do with argv the old whitelist let through.
    CHECK_FALSE(photoprism_stays_inside({"photoprism", "import", "--", "originals/2024"}));
    CHECK_FALSE(photoprism_stays_inside({"photoprism", "import", "--", "\xc2\xa0."}));
    CHECK_FALSE(photoprism_stays_inside({"photoprism", "index", "--", "\xe2\x80\x80.."}));
    CHECK(resolve_photoprism({"photoprism", "import", "--", " storage "})->path == "/photoprism/storage");
    CHECK(photoprism_stays_inside({"photoprism", "import", "--", "/photoprism/import/a"}));

    std::size_t checked = 0;
    for (const auto& c : nextprism::test::load_corpus()) {
        if (c.service != "photoprism")
            continue;
        const auto d = check(c.service, c.input);
        // A refused line runs nothing; an allowed one must stay inside.
        if (!d.allowed())
            continue;
        INFO(c.line << ": " << c.input);
        CHECK(photoprism_stays_inside(d.command.exec_argv));
        ++checked;
    }
    CHECK(checked >= 8);
}
