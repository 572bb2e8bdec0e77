// Tests of nextprism-validate, the proxy's ForceCommand, run as a process
// exactly as sshd runs it: the command in SSH_ORIGINAL_COMMAND, no shell.

#include <nextprism/wire/exit_status.hpp>

#include "support/corpus.hpp"
#include "support/process.hpp"

#include <catch2/catch.hpp>
#include <set>
#include <map>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;
namespace exit_code = nextprism::proxy_exit_code;
using nextprism::test::run_process;

namespace {

struct validator
{
    fs::path dir = fs::temp_directory_path() /
                   ("nextprism-validate-" + std::to_string(::getpid()));
    fs::path audit = dir / "audit.log";

    validator() { fs::create_directories(dir); }
    ~validator() { fs::remove_all(dir); }

    nextprism::test::process_result run(const std::vector<std::string>& args,
                                        std::vector<std::string> env) const
    {
        std::vector<std::string> argv{NEXTPRISM_VALIDATE};
        argv.insert(argv.end(), args.begin(), args.end());
        env.push_back("NEXTPRISM_AUDIT_LOG=" + audit.string());
        return run_process(argv, env);
    }

    nextprism::test::process_result dry_run(const std::string& service,
                                            const std::string& command) const
    {
        return run({"--service", service, "--dry-run"}, {"SSH_ORIGINAL_COMMAND=" + command});
    }

    std::vector<nlohmann::json> audit_lines() const
    {
        std::vector<nlohmann::json> lines;
        std::ifstream in(audit);
        std::string line;
        while (std::getline(in, line))
            lines.push_back(nlohmann::json::parse(line));
        return lines;
    }
};

} // namespace

TEST_CASE("dry run prints the argv that would run, as JSON")
{
    validator v;
    const auto r = v.dry_run("nextcloud", "php occ files:scan '--path=/alice/files/My Photos'");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(nlohmann::json::parse(r.out) ==
          nlohmann::json({"php", "occ", "files:scan", "--path=/alice/files/My Photos"}));
    CHECK(r.err.empty());
}

TEST_CASE("the whole corpus through the binary: exit codes and one-line reasons")
{
    validator v;
    const auto cases = nextprism::test::load_corpus();
    std::size_t runs = 0;
    for (const auto& c : cases) {
        if (c.input.find('\0') != std::string::npos)
            continue; // an environment variable cannot hold NUL; sshd cannot send it either
        if (c.expectation == "unknown_service")
            continue; // a misconfiguration of the proxy: tested below
        INFO("corpus line " << c.line);
        const auto r = v.dry_run(c.service, c.input);
        if (c.expectation == "ok") {
            INFO(r.err);
            CHECK(r.exit_code == 0);
            CHECK(nlohmann::json::parse(r.out) == nlohmann::json::parse(c.argv_json));
        } else {
            CHECK(r.exit_code == exit_code::refused);
            CHECK(r.out.empty());
            CHECK(r.err.starts_with("nextprism: refused: "));
            CHECK(r.err.find('\n') == r.err.size() - 1);
        }
        ++runs;
    }
    const auto lines = v.audit_lines();
    CHECK(lines.size() == runs);
    for (const auto& l : lines) {
        CHECK((l["decision"] == "allowed" || l["decision"] == "refused"));
        CHECK(l.contains("input"));
    }
}

TEST_CASE("no command, or an empty one, is refused")
{
    validator v;
    auto r = v.run({"--service", "nextcloud", "--dry-run"}, {});
    CHECK(r.exit_code == exit_code::refused);
    CHECK(r.err == "nextprism: refused: no command given (interactive sessions are not offered)\n");
    r = v.dry_run("nextcloud", "");
    CHECK(r.exit_code == exit_code::refused);
    CHECK(r.err == "nextprism: refused: empty command\n");
}

TEST_CASE("the service comes from --service or NEXTPRISM_SERVICE")
{
    validator v;
    auto r = v.run({"--dry-run"},
                   {"NEXTPRISM_SERVICE=photoprism", "SSH_ORIGINAL_COMMAND=photoprism status"});
    CHECK(r.exit_code == 0);
    r = v.run({"--dry-run"}, {"SSH_ORIGINAL_COMMAND=photoprism status"});
    CHECK(r.exit_code == exit_code::usage);
    CHECK(r.err == "nextprism: usage: no service: pass --service or set NEXTPRISM_SERVICE\n");
    r = v.run({"--service", "mysql", "--dry-run"}, {"SSH_ORIGINAL_COMMAND=php occ status"});
    CHECK(r.exit_code == exit_code::usage);
    r = v.run({"--service", "nextcloud", "--bogus"}, {"SSH_ORIGINAL_COMMAND=php occ status"});
    CHECK(r.exit_code == exit_code::usage);
    // The proxy's own exit is one stderr line, nothing else (proxy_exit_code.hpp).
    CHECK(r.err == "nextprism: usage: unknown option --bogus (see --help)\n");
}

TEST_CASE("the audit record carries the client and the key")
{
    validator v;
    const auto auth = v.dir / "auth";
    {
        std::ofstream out(auth);
        out << "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER\n";
    }
    const auto r = v.run({"--service", "nextcloud", "--dry-run"},
                         {"SSH_ORIGINAL_COMMAND=php occ status; reboot",
                          "SSH_CLIENT=127.0.0.1 41000 2222", "SSH_USER_AUTH=" + auth.string()});
    CHECK(r.exit_code == exit_code::refused);
    const auto lines = v.audit_lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0]["decision"] == "refused");
    CHECK(lines[0]["input"] == "php occ status; reboot");
    CHECK(lines[0]["ssh_client"] == "127.0.0.1 41000 2222");
    // Recorded as sshd logs it: the SHA-256 fingerprint of the key blob.
    CHECK(lines[0]["key_type"] == "ssh-ed25519");
    CHECK(lines[0]["key_fp"] == "SHA256:SQfC+vTbLURn9cTkVxIS8fGQ3FKNAJWeB0o139+gV4M");
    CHECK_FALSE(lines[0].contains("ssh_key"));
    CHECK(lines[0]["reason"].get<std::string>().find("';'") != std::string::npos);
}

TEST_CASE("nothing is decided without an audit log")
{
    validator v;
    const auto r = run_process({NEXTPRISM_VALIDATE, "--service", "nextcloud", "--dry-run",
                                "--audit-log", "/nonexistent-dir/audit.log"},
                               {"SSH_ORIGINAL_COMMAND=php occ status"});
    CHECK(r.exit_code == exit_code::audit_failed);
    CHECK(r.out.empty());
    CHECK(r.err.starts_with("nextprism: cannot open audit log /nonexistent-dir/audit.log"));
}

TEST_CASE("a whitelist file replaces the default, and a bad one is named")
{
    validator v;
    const auto file = v.dir / "whitelist.json";
    {
        std::ofstream out(file);
        out << R"({"services": {"photoprism": {"commands": [{"argv": ["photoprism", "status"]}]}}})";
    }
    auto r = v.run({"--service", "photoprism", "--dry-run", "--whitelist", file.string()},
                   {"SSH_ORIGINAL_COMMAND=photoprism index"});
    CHECK(r.exit_code == exit_code::refused);
    r = v.run({"--service", "photoprism", "--dry-run"},
              {"SSH_ORIGINAL_COMMAND=photoprism status", "NEXTPRISM_WHITELIST=" + file.string()});
    CHECK(r.exit_code == 0);
    {
        std::ofstream out(file);
        out << R"({"services": {"photoprism": {"commands": [{"argv": ["photoprism"], "x": 1}]}}})";
    }
    r = v.run({"--service", "photoprism", "--dry-run", "--whitelist", file.string()},
              {"SSH_ORIGINAL_COMMAND=photoprism status"});
    CHECK(r.exit_code == exit_code::usage);
    CHECK(r.err == "nextprism: invalid whitelist file " + file.string() +
                       ": services.photoprism.commands[0].x: unknown key\n");
}

TEST_CASE("--print-default-whitelist prints the loadable default")
{
    const auto r = run_process({NEXTPRISM_VALIDATE, "--print-default-whitelist"}, {});
    CHECK(r.exit_code == 0);
    CHECK(nlohmann::json::parse(r.out).contains("services"));
}

TEST_CASE("README's whitelist table is the default whitelist (--print-default-whitelist)")
{
    validator v;
    const auto printed = v.run({"--print-default-whitelist"}, {});
    REQUIRE(printed.exit_code == 0);
    const auto printed_json = nlohmann::json::parse(printed.out);

    std::ifstream in(NEXTPRISM_SOURCE_DIR "/README.md");
    REQUIRE(in);
    std::string line;
    bool inside = false;
    std::map<std::string, std::pair<std::set<std::string>, std::set<std::string>>> rows;
    // Backticked words that start with '-' in a cell.
    auto options_in = [](const std::string& cell) {
        std::set<std::string> out;
        for (std::size_t at = cell.find('`'); at != std::string::npos;) {
            const auto end = cell.find('`', at + 1);
            if (end == std::string::npos)
                break;
            const auto word = cell.substr(at + 1, end - at - 1);
            if (word.starts_with("-"))
                out.insert(word);
            at = cell.find('`', end + 1);
        }
        return out;
    };
    while (std::getline(in, line)) {
        if (line.starts_with("<!-- whitelist-table"))
            inside = true;
        else if (line.starts_with("<!-- end whitelist-table"))
            inside = false;
        else if (inside && line.starts_with("| ") && !line.starts_with("| service")) {
            std::vector<std::string> cells;
            std::string cell;
            for (std::size_t i = 1; i < line.size(); ++i) {
                if (line[i] == '|' && line[i - 1] != '\\') {
                    cells.push_back(cell);
                    cell.clear();
                } else {
                    cell += line[i];
                }
            }
            REQUIRE(cells.size() == 4);
            auto trim = [](std::string t) {
                t.erase(0, t.find_first_not_of(" `"));
                t.erase(t.find_last_not_of(" `") + 1);
                return t;
            };
            rows[trim(cells[0]) + " " + trim(cells[1])] = {options_in(cells[2]), options_in(cells[3])};
        }
    }
    std::size_t commands = 0;
    for (const auto& [service, rules] : printed_json["services"].items()) {
        std::set<std::string> common;
        for (const auto& o : rules.value("common_options", nlohmann::json::array())) {
            common.insert(o["name"].get<std::string>());
            for (const auto& a : o.value("aliases", nlohmann::json::array()))
                common.insert(a.get<std::string>());
        }
        for (const auto& c : rules["commands"]) {
            std::string name;
            for (const auto& w : c["argv"])
                name += (name.empty() ? "" : " ") + w.get<std::string>();
            INFO(service << " " << name);
            const auto row = rows.find(service + " " + name);
            REQUIRE(row != rows.end());
            std::set<std::string> allowed, refused;
            for (const auto& o : c.value("options", nlohmann::json::array())) {
                allowed.insert(o["name"].get<std::string>());
                for (const auto& a : o.value("aliases", nlohmann::json::array()))
                    allowed.insert(a.get<std::string>());
            }
            for (const auto& o : c.value("forbidden_options", nlohmann::json::array())) {
                refused.insert(o["name"].get<std::string>());
                for (const auto& a : o.value("aliases", nlohmann::json::array()))
                    refused.insert(a.get<std::string>());
            }
            CHECK(row->second.first == allowed);
            CHECK(row->second.second == refused);
            ++commands;
        }
    }
    CHECK(rows.size() == commands);
}
