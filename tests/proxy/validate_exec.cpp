// nextprism-validate executing what it accepts, against the real dockerd
// and the stand-in images, run as sshd runs it (environment, no shell).

#include <nextprism/wire/exit_status.hpp>

#include "support/validator_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
namespace exit_code = nextprism::proxy_exit_code;
using namespace nextprism::test;


TEST_CASE("every whitelisted command runs in its container with its exit code")
{
    proxy_env p;
    struct expectation
    {
        std::string service, command, stdout_start;
        int exit;
        std::string stderr_has = {};
    };
    const std::vector<expectation> cases = {
        {"nextcloud", "php occ status", "  - installed: true", 0},
        {"nextcloud", "php occ status --output=json", "{\"installed\":true", 0},
        {"nextcloud", "php occ files:scan alice", "Starting scan for user 1 out of 1 (alice)", 0},
        {"nextcloud", "php occ files:scan --path='/alice/files/My Photos'",
         "Starting scan for user 1 out of 1 (alice)", 0},
        {"nextcloud", "php occ files:scan --generate-metadata bob",
         "Starting scan for user 1 out of 1 (bob)", 0},
        {"nextcloud", "php occ files:scan --all", "Starting scan for user 1 out of 2 (alice)", 0},
        {"nextcloud", "php occ files:scan ghost", "Unknown user 1 ghost", 0}, // occ: exit 0 anyway
        {"nextcloud", "php occ files:scan", "Please specify the user id to scan", 1},
        {"nextcloud", "php occ memories:index --user=alice --path=/Photos/", "Indexing user alice", 0},
        {"photoprism", "photoprism status", "operational", 0},
        {"photoprism", "photoprism index --cleanup '2024/Summer Trip'", "", 0},
        {"photoprism", "photoprism import --dest=phone upload", "", 0},
        {"photoprism", "photoprism index exit3", "", 3},
        // PhotoPrism logs the error and exits 0.
        {"photoprism", "photoprism index missing", "", 0,
         " level=error msg=\"index: directory /photoprism/originals/missing not found\""},
    };
    for (const auto& c : cases) {
        INFO(c.service << ": " << c.command);
        const auto r = p.run(c.service, c.command);
        INFO(r.err);
        CHECK(r.exit_code == c.exit);
        CHECK(r.out.starts_with(c.stdout_start));
        CHECK(r.err.find(c.stderr_has) != std::string::npos);
    }
    // occ ran as www-data: the stand-in refuses root like the real one.
    const auto audit = p.audit();
    CHECK(audit.size() == 2 * cases.size()); // a decision and a finish each
    CHECK(audit.back()["event"] == "finished");
    CHECK(audit.back()["exit_code"] == 0);
}

TEST_CASE("stdout and stderr stay apart through the validator")
{
    proxy_env p;
    const auto r = p.run("photoprism", "photoprism index interleave");
    CHECK(r.exit_code == 0);
    CHECK(r.out == "out 1\nout 2\nout 3\nout 4\nout 5\n");
    CHECK(r.err.find("err 1\nerr 2\nerr 3\nerr 4\nerr 5\n") != std::string::npos);
    CHECK(r.err.find("out") == std::string::npos);
}

TEST_CASE("100 MiB of output through the validator, byte for byte")
{
    proxy_env p;
    const auto r = p.run("photoprism", "photoprism index big-output");
    CHECK(r.exit_code == 0);
    CHECK(r.out.size() == 104857600);
    CHECK(r.out.substr(0, 32) == "0123456789abcde\n0123456789abcde\n");
}

TEST_CASE("a missing or stopped target has its own exit code")
{
    proxy_env p;
    p.start_brokers({}, {"PHOTOPRISM_CONTAINER=np-no-such-container"});
    auto r = p.run("photoprism", "photoprism status");
    CHECK(r.exit_code == exit_code::target_missing);
    CHECK(r.err == "nextprism: error: target container not found (np-no-such-container)\n");
    p.start_brokers();

    docker_cli({"stop", "-t", "0", p.photoprism.name});
    r = p.run("photoprism", "photoprism status");
    CHECK(r.exit_code == exit_code::target_missing);
    CHECK(r.err.find("not running") != std::string::npos);
}

TEST_CASE("a timed-out command is stopped: nothing is left in the container")
{
    proxy_env p("np-v", {"--timeout", "2"});
    const auto r = p.run("nextcloud", "php occ files:scan -v slow300");
    CHECK(r.exit_code == exit_code::timeout);
    CHECK(r.out.find("\tFile\t/slow300/files/photo-1.jpg\n") != std::string::npos);
    // The start line first (it ran), then the proxy's one line.
    CHECK(r.err.starts_with(std::string(exit_code::start_prefix) + p.nextcloud.name + " (exec "));
    CHECK(r.err.ends_with(")\nnextprism: error: timed out after 2 s; the command was stopped\n"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 2);
    CHECK(p.idle(p.nextcloud));
    const auto audit = p.audit();
    REQUIRE(audit.size() == 2);
    CHECK(audit[1]["outcome"] == "timeout");
}

TEST_CASE("single flight: a second scan is refused while one runs; status still runs")
{
    proxy_env p;
    auto first = p.spawn("nextcloud", "php occ files:scan -v slow6");
    std::string seen;
    REQUIRE(first.read_until("photo-1.jpg", 30, seen));

    auto second = p.run("nextcloud", "php occ memories:index");
    CHECK(second.exit_code == exit_code::busy);
    CHECK(second.err.starts_with("nextprism: busy: "));
    auto status = p.run("nextcloud", "php occ status");
    CHECK(status.exit_code == 0);
    auto other_service = p.run("photoprism", "photoprism index");
    CHECK(other_service.exit_code == 0);

    CHECK(first.wait(60) == 0);
    ::close(first.out);
    ::close(first.err);
    CHECK(p.run("nextcloud", "php occ files:scan alice").exit_code == 0); // free again
}

TEST_CASE("when the SSH client goes away, the command in the target stops")
{
    proxy_env p;
    SECTION("the channel closes (the validator's stdout reader is gone)")
    {
        auto v = p.spawn("nextcloud", "php occ files:scan -v slow300");
        std::string seen;
        REQUIRE(v.read_until("photo-1.jpg", 30, seen));
        ::close(v.out);
        ::close(v.err);
        CHECK(v.wait(30) != -2);
    }
    SECTION("sshd hangs up (SIGHUP)")
    {
        auto v = p.spawn("photoprism", "photoprism index slow300");
        std::string seen; // PhotoPrism logs its progress on stderr
        REQUIRE(v.read_until("photo-1.jpg", 30, seen, true));
        ::kill(v.pid, SIGHUP);
        CHECK(v.wait(30) != -2);
        ::close(v.out);
        ::close(v.err);
    }
    for (int i = 0; i < 50 && !(p.idle(p.nextcloud) && p.idle(p.photoprism)); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(p.idle(p.nextcloud));
    CHECK(p.idle(p.photoprism));
    const auto audit = p.audit();
    REQUIRE_FALSE(audit.empty());
    CHECK(audit.back()["reason"] == "client went away; command stopped");
}

TEST_CASE("the default target is found by its Swarm service label")
{
    const auto service = unique_name("np-nextcloud");
    auto r = docker_cli({"service", "create", "--detach", "--name", service, "--network", "host",
                         "nextprism/standin-nextcloud:test"});
    REQUIRE(r.exit_code == 0);
    struct cleanup { std::string n; ~cleanup() { docker_cli({"service", "rm", n}); } } guard{service};
    const auto dir = fs::temp_directory_path() / unique_name("nextprism-svc");
    fs::create_directories(dir);
    const std::vector<std::string> env = {
        "SSH_ORIGINAL_COMMAND=php occ status", "DOCKER_HOST=" + docker_host(),
        "NEXTPRISM_AUDIT_LOG=" + (dir / "audit.log").string(), "NEXTPRISM_LOCK_DIR=" + dir.string(),
        "NEXTCLOUD_CONTAINER=" + service};
    process_result v;
    for (int i = 0; i < 100; ++i) { // until the task's container runs
        v = run_process({NEXTPRISM_VALIDATE, "--service", "nextcloud"}, env);
        if (v.exit_code != exit_code::target_missing)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(v.exit_code == 0);
    CHECK(v.out.starts_with("  - installed: true"));
    fs::remove_all(dir);
}

// ---- what the real parsers understood ----------------------------------------
//
// The stand-ins are built on the CLIs' own parsers (Symfony Console for occ,
// urfave/cli v1 for PhotoPrism) and log what they parsed. Every command the
// corpus allows runs through the validator into them, and the test checks
// that the parser saw exactly the intent of the canonical argv: each option
// given set to its value, every other option at its default, the positional
// arguments unchanged, as the service's exec user, in its working directory,
// and PhotoPrism touching nothing outside its import / originals folders.

#include "support/corpus.hpp"
#include "support/photoprism_paths.hpp"

#include <nextprism/whitelist.hpp>

namespace {

/// The options and positional arguments of a canonical (exec) argv.
struct intent
{
    std::map<std::string, nlohmann::json> options; ///< name without dashes → value or true
    std::vector<std::string> arguments;
};

/// The matched rule's fixed words ("php occ files:scan": 3 words).
std::vector<std::string> rule_words(const nextprism::decision& d)
{
    std::vector<std::string> words;
    std::istringstream in(d.command.rule);
    for (std::string w; in >> w;)
        words.push_back(w);
    return words;
}

intent intent_of(const nextprism::decision& d)
{
    intent out;
    bool positional = false;
    for (std::size_t i = rule_words(d).size(); i < d.command.exec_argv.size(); ++i) {
        const std::string& w = d.command.exec_argv[i];
        if (positional) {
            out.arguments.push_back(w);
        } else if (w == "--") {
            positional = true;
        } else {
            const auto eq = w.find('=');
            std::string name = w.substr(0, eq);
            name.erase(0, name.find_first_not_of('-'));
            // -vv and -vvv are verbosity levels of Symfony's --verbose flag.
            if (name == "vv" || name == "vvv")
                name = "verbose";
            out.options[name] = eq == std::string::npos ? nlohmann::json(true) : nlohmann::json(w.substr(eq + 1));
        }
    }
    return out;
}

} // namespace

TEST_CASE("every command the corpus allows is parsed by the real CLI parser as intended")
{
    proxy_env p;
    const auto& rules = nextprism::whitelist::builtin();
    std::vector<nextprism::test::corpus_case> allowed;
    for (auto& c : nextprism::test::load_corpus())
        if (c.expectation == "ok")
            allowed.push_back(c);
    // A baseline per command first: the options' defaults as the parser sets them.
    std::map<std::string, std::size_t> baseline_index;
    std::vector<std::pair<std::string, std::string>> runs;
    for (const auto& s : rules.services())
        for (const auto& c : s.commands) {
            baseline_index[s.name + " " + c.name()] = runs.size();
            runs.emplace_back(s.name, c.name());
        }
    for (const auto& c : allowed)
        runs.emplace_back(c.service, c.input);
    std::map<std::string, std::size_t> calls_before;
    std::map<std::string, std::vector<std::size_t>> run_of_call; // service → run index per call
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto& [service, input] = runs[i];
        INFO(service << ": " << input);
        const auto r = p.run(service, input);
        INFO(r.err);
        // A command that ran exits with the CLI's own status (occ: 0 or 1).
        CHECK(r.exit_code < 64);
        run_of_call[service].push_back(i);
    }
    std::map<std::string, std::vector<nlohmann::json>> calls = {
        {"nextcloud", p.nextcloud.standin_calls()}, {"photoprism", p.photoprism.standin_calls()}};
    for (const auto& [service, indices] : run_of_call)
        REQUIRE(calls[service].size() == indices.size()); // every run reached the parser, once

    std::map<std::string, std::size_t> position;
    std::size_t checked = 0;
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto& [service, input] = runs[i];
        const auto& call = calls[service][position[service]++];
        INFO(service << ": " << input << "\nparsed: " << call.dump());
        const auto d = rules.check_command(service, input);
        REQUIRE(d.allowed());
        const auto want = intent_of(d);
        const auto& base = calls[service][baseline_index.at(service + " " + d.command.rule)];
        if (service == "nextcloud") {
            CHECK(call["uid"] == 33);
            CHECK(call["cwd"] == "/var/www/html");
            CHECK(call["command"] == rule_words(d).back());
            for (const auto& [name, value] : call["options"].items()) {
                INFO("option " << name);
                const auto it = want.options.find(name);
                if (it != want.options.end() && it->second == true && value.is_null())
                    // An optional-value option given bare (occ's --generate-metadata):
                    // Symfony sets null, unlike its default when absent.
                    CHECK(base["options"][name] != nullptr);
                else if (it != want.options.end())
                    CHECK(value == it->second);
                else if (name != "ansi" || !want.options.count("no-ansi"))
                    CHECK(value == base["options"][name]); // untouched: the default
            }
            for (const auto& [name, _] : want.options)
                if (name != "no-ansi")
                    CHECK(call["options"].contains(name));
            if (want.options.count("no-ansi"))
                CHECK(call["options"]["ansi"] == false);
            const auto users = call["arguments"].value("user_id", nlohmann::json::array());
            CHECK(users == nlohmann::json(want.arguments));
        } else {
            CHECK(call["uid"] == 1000);
            CHECK(call["gid"] == 1000);
            CHECK(call["cwd"] == "/photoprism");
            CHECK(call["command"] == rule_words(d).back());
            if (call["command"] != "status") // Go marshals an empty slice as null
                CHECK((call["args"].is_null() ? nlohmann::json::array() : call["args"]) ==
                      nlohmann::json(want.arguments));
            if (call["command"] == "index") {
                CHECK(call["flags"]["force"] == (want.options.count("force") == 1));
                CHECK(call["flags"]["cleanup"] == (want.options.count("cleanup") == 1));
                const std::string where = call["paths"]["index"];
                CHECK(nextprism::test::is_within(where, "/photoprism/originals"));
            } else if (call["command"] == "import") {
                CHECK(call["flags"]["dest_set"] == (want.options.count("dest") == 1));
                if (want.options.count("dest"))
                    CHECK(call["flags"]["dest"] == want.options.at("dest"));
                for (const auto& [what, where] : call["paths"].items()) {
                    INFO(what);
                    const std::string path = where;
                    CHECK((nextprism::test::is_within(path, "/photoprism/import") ||
                           nextprism::test::is_within(path, "/photoprism/originals")));
                }
            }
        }
        ++checked;
    }
    CHECK(checked == runs.size());
    CHECK(allowed.size() >= 40);
}
