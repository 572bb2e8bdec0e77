#include <nextprism/audit_log.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>

namespace fs = std::filesystem;

TEST_CASE("an audit line is one line of ASCII JSON")
{
    const std::vector<std::string> argv{"php", "occ", "files:scan", "--path=/alice/files/Été"};
    nextprism::audit_record r;
    r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764220800123));
    r.service = "nextcloud";
    r.decision = "allowed";
    r.argv = argv;
    r.input = std::string_view("php occ files:scan '--path=/alice/files/Été'");
    r.ssh_client = "127.0.0.1 50000 2222";
    r.ssh_key = "ssh-ed25519 AAAAC3Nza";
    const auto line = nextprism::format_audit_line(r);
    REQUIRE(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    for (unsigned char c : line)
        CHECK(c < 0x80);
    const auto j = nlohmann::json::parse(line);
    CHECK(j["time"] == "2025-11-27T05:20:00.123Z");
    CHECK(j["event"] == "decision");
    CHECK(j["argv"][3] == "--path=/alice/files/Été");
    CHECK(j["ssh_key"] == "ssh-ed25519 AAAAC3Nza");
    CHECK(j["pid"] == static_cast<long>(::getpid()));
}

TEST_CASE("hostile input cannot forge lines or hide text")
{
    nextprism::audit_record r;
    r.service = "nextcloud";
    r.decision = "refused";
    // A newline and a fake record, an ANSI escape, a bidi override, invalid UTF-8.
    const std::string input = "x\n{\"decision\":\"allowed\"}\r\x1b[2J\xe2\x80\xae\xff\xc3";
    r.input = input;
    r.reason = "forbidden";
    const auto line = nextprism::format_audit_line(r);
    CHECK(line.find('\n') == line.size() - 1);
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.find('\x1b') == std::string::npos);
    CHECK(line.find("\\u202e") != std::string::npos);
    for (unsigned char c : line)
        CHECK(((c >= 0x20 && c < 0x7F) || c == '\n'));
    const auto j = nlohmann::json::parse(line);
    CHECK(j["decision"] == "refused");
    CHECK(j["input"].get<std::string>().starts_with("x\n{\"decision\""));
}

TEST_CASE("the audit log appends whole lines from concurrent writers")
{
    const auto path = fs::temp_directory_path() / ("nextprism-audit-" + std::to_string(::getpid()));
    fs::remove(path);
    {
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&path, t] {
                nextprism::audit_log log; // one descriptor per writer, like processes
                nextprism::error_code ec;
                log.open(path.string(), ec);
                REQUIRE_FALSE(ec);
                const std::string reason(1000 + t, 'r');
                for (int i = 0; i < 200; ++i) {
                    nextprism::audit_record r;
                    r.service = "photoprism";
                    r.decision = "refused";
                    r.reason = reason;
                    log.write(r, ec);
                    REQUIRE_FALSE(ec);
                }
            });
        for (auto& th : threads)
            th.join();
    }
    std::ifstream in(path);
    std::string line;
    int count = 0;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line); // throws on a torn line
        CHECK(j["reason"].get<std::string>().size() >= 1000);
        ++count;
    }
    CHECK(count == 800);
    CHECK((fs::status(path).permissions() & fs::perms::others_all) == fs::perms::none);
    fs::remove(path);
}

TEST_CASE("the audit log refuses a symlink and reports open errors")
{
    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open("/nonexistent-dir/audit.log", ec);
    CHECK(ec);
    CHECK_FALSE(log.is_open());
    const auto link = fs::temp_directory_path() / ("nextprism-link-" + std::to_string(::getpid()));
    fs::remove(link);
    fs::create_symlink("/dev/null", link);
    log.open(link.string(), ec);
    CHECK(ec); // O_NOFOLLOW: a planted symlink cannot redirect the log
    fs::remove(link);
    nextprism::audit_record r;
    log.write(r, ec);
    CHECK(ec);
}

TEST_CASE("SSH_USER_AUTH: the public key is read from sshd's file")
{
    const auto path = fs::temp_directory_path() / ("nextprism-auth-" + std::to_string(::getpid()));
    {
        std::ofstream out(path);
        out << "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake\n";
    }
    CHECK(nextprism::read_ssh_user_auth_key(path.c_str()) ==
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFake");
    CHECK(nextprism::read_ssh_user_auth_key(nullptr).empty());
    CHECK(nextprism::read_ssh_user_auth_key("/nonexistent").empty());
    fs::remove(path);
}
