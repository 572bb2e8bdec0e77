#include <nextprism/proxy/audit_log.hpp> // first: the header is self-contained
#include <nextprism/detail/sha256.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <thread>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
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
    r.key_type = "ssh-ed25519";
    r.key_fingerprint = "SHA256:abc";
    r.key_comment = "sync@host";
    const auto line = nextprism::format_audit_line(r);
    REQUIRE(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    for (unsigned char c : line)
        CHECK(c < 0x80);
    const auto j = nlohmann::json::parse(line);
    CHECK(j["time"] == "2025-11-27T05:20:00.123Z");
    CHECK(j["event"] == "decision");
    CHECK(j["argv"][3] == "--path=/alice/files/Été");
    CHECK(j["key_fp"] == "SHA256:abc");
    CHECK(j["key_type"] == "ssh-ed25519");
    CHECK(j["key_comment"] == "sync@host");
    CHECK(j["input_bytes"] == 46);
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
                const std::string reason(300 + t, 'r'); // near the reason's cap
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
        CHECK(j["reason"].get<std::string>().size() >= 300);
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

TEST_CASE("audit times are UTC by the calendar, as gmtime_r has them")
{
    using namespace std::chrono;
    for (const long long ms : {0LL, 1764220800123LL, 951782400999LL /* 2000-02-29 */,
                               4107542399999LL /* 2100-02-28T23:59:59 */, -1LL, -86400001LL,
                               1735689599500LL /* 2024-12-31T23:59:59 */}) {
        const system_clock::time_point t{milliseconds(ms)};
        const auto s = floor<seconds>(t.time_since_epoch());
        const std::time_t tt = s.count();
        std::tm tm{};
        gmtime_r(&tt, &tm);
        char want[64];
        std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                      static_cast<int>(duration_cast<milliseconds>(t.time_since_epoch() - s).count()));
        INFO(ms);
        CHECK(nextprism::detail::utc_timestamp(t) == want);
    }
}

TEST_CASE("files are read line by line as std::getline reads them")
{
    const auto path = fs::temp_directory_path() / ("nextprism-lines-" + std::to_string(::getpid()));
    const std::string long_line(10000, 'x'); // longer than one read
    for (const std::string& text : {std::string(""), std::string("a"), std::string("a\n"),
                                   std::string("a\n\nb"), std::string("a\r\nb\n\n"),
                                   "one\n" + long_line + "\nthree", long_line}) {
        {
            std::ofstream out(path, std::ios::binary | std::ios::trunc);
            out << text;
        }
        std::vector<std::string> want, got;
        std::ifstream in(path, std::ios::binary);
        for (std::string line; std::getline(in, line);)
            want.push_back(line);
        nextprism::detail::for_each_line(path.c_str(), [&](const std::string& line) {
            got.push_back(line);
            return false;
        });
        CHECK(got == want);
    }
    std::vector<std::string> first;
    nextprism::detail::for_each_line(path.c_str(), [&](const std::string& line) {
        first.push_back(line);
        return true; // stop at the first
    });
    CHECK(first.size() == 1);
    fs::remove(path);
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

TEST_CASE("an audit line stays under 2 KiB whatever the input")
{
    // 200 KB of the worst bytes for escaping (each becomes \ufffd or \u00XX),
    // in the input, the reason that quotes it, and a long argv.
    std::string hostile;
    for (int i = 0; i < 200 * 1024; ++i)
        hostile += static_cast<char>(i % 3 == 0 ? '\xff' : i % 3 == 1 ? '\x01' : '"');
    const std::vector<std::string> argv(500, hostile.substr(0, 4096));
    nextprism::audit_record r;
    r.service = "nextcloud";
    r.decision = "refused";
    r.input = hostile;
    r.input_sha256 = "ab";
    r.reason = hostile;
    r.argv = argv;
    r.key_comment = hostile;
    r.key_fingerprint = "SHA256:x";
    const auto line = nextprism::format_audit_line(r);
    INFO("line bytes " << line.size());
    CHECK(line.size() <= nextprism::max_audit_line);
    CHECK(line.find('\n') == line.size() - 1);
    const auto j = nlohmann::json::parse(line);
    CHECK(j["input_bytes"] == hostile.size());
    CHECK(j["input_truncated"] == true);
    CHECK(j["reason_truncated"] == true);
    CHECK(j["argv_truncated"] == true);
    CHECK(j["input_sha256"] == "ab");

    // Plain ASCII keeps its first 512 bytes.
    const std::string plain(200 * 1024, 'a');
    r.input = plain;
    r.reason = "command not allowed";
    r.argv = {};
    const auto j2 = nlohmann::json::parse(nextprism::format_audit_line(r));
    CHECK(j2["input"].get<std::string>() == plain.substr(0, 512));
    CHECK_FALSE(j2.contains("reason_truncated"));
}

TEST_CASE("the key's fingerprint is the one sshd logs, its comment from authorized_keys")
{
    const auto dir = fs::temp_directory_path() / ("nextprism-key-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    REQUIRE(std::system(("ssh-keygen -q -t ed25519 -N '' -C sync@caller -f " + (dir / "k").string()).c_str()) == 0);
    std::string pub;
    std::getline(std::ifstream(dir / "k.pub"), pub);
    // ssh-keygen -l prints "256 SHA256:... comment (ED25519)".
    REQUIRE(std::system(("ssh-keygen -l -f " + (dir / "k.pub").string() + " > " + (dir / "fp").string()).c_str()) == 0);
    std::string expected;
    std::ifstream(dir / "fp") >> expected >> expected;
    const auto k = nextprism::detail::fingerprint_of(pub);
    CHECK(k.type == "ssh-ed25519");
    CHECK(k.fingerprint == expected);
    CHECK(nextprism::detail::fingerprint_of("garbage").fingerprint.empty());
    CHECK(nextprism::detail::fingerprint_of("ssh-ed25519 !!!!").fingerprint.empty());
    CHECK(nextprism::detail::sha256_hex("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    {
        std::ofstream out(dir / "authorized_keys");
        out << "# a comment line\n"
            << "restrict,command=\"a b\" ssh-ed25519 AAAAother other@x\n"
            << "restrict,from=\"127.0.0.1\" " << pub.substr(0, pub.rfind(' ')) << "  sync caller key \n";
    }
    CHECK(nextprism::authorized_key_comment((dir / "authorized_keys").string(), k.blob) == "sync caller key");
    CHECK(nextprism::authorized_key_comment((dir / "authorized_keys").string(), "AAAAnone").empty());
    CHECK(nextprism::authorized_key_comment("/nonexistent", k.blob).empty());
    fs::remove_all(dir);
}

TEST_CASE("the audit file rotates by size; a FIFO without a reader fails closed")
{
    const auto dir = fs::temp_directory_path() / ("nextprism-rot-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto path = (dir / "audit.log").string();
    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(path, ec);
    REQUIRE_FALSE(ec);
    log.rotate_at(4096, 2);
    const std::string line(1000, 'x');
    for (int i = 0; i < 20; ++i) {
        log.write_line(line + "\n", ec);
        REQUIRE_FALSE(ec);
    }
    CHECK(fs::file_size(path) <= 4096);
    CHECK(fs::file_size(path + ".1") <= 4096);
    CHECK(fs::exists(path + ".2"));
    CHECK_FALSE(fs::exists(path + ".3"));

    const auto fifo = dir / "audit.fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    log.open(fifo.string(), ec);
    CHECK(ec == boost::system::error_code(ENXIO, boost::system::system_category()));
    // With a reader that does not read: the pipe fills, the write times out.
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    REQUIRE(reader >= 0);
    log.open(fifo.string(), ec);
    REQUIRE_FALSE(ec);
    nextprism::audit_record r;
    r.service = "nextcloud";
    const std::string reason(1500, 'r'); // the record only views its strings
    r.reason = reason;
    int written = 0;
    for (; written < 1000; ++written) {
        log.write(r, ec);
        if (ec)
            break;
    }
    CHECK(ec == boost::system::error_code(ETIMEDOUT, boost::system::system_category()));
    CHECK(written < 200); // 64 KiB of pipe, ~600-byte lines
    ::close(reader);
    fs::remove_all(dir);
}

TEST_CASE("a long decision is kept whole where it fits, and says how much it left out where not")
{
    // A files:scan of 51 users (the whole input on the line too): 640 bytes
    // of argv kept 20 of them; the line has room for all.
    std::vector<std::string> argv{"php", "occ", "files:scan"};
    std::string input = "php occ files:scan";
    for (int i = 0; i < 51; ++i) {
        argv.push_back("user-" + std::to_string(1000 + i));
        input += " " + argv.back();
    }
    nextprism::audit_record r;
    r.service = "nextcloud";
    r.decision = "allowed";
    r.input = input;
    r.argv = argv;
    r.key_type = "ssh-ed25519";
    const std::string fingerprint = "SHA256:" + std::string(43, 'k'); // the record holds views: kept alive here
    r.key_fingerprint = fingerprint;
    r.key_comment = "sync@nas";
    r.ssh_client = "10.0.1.2 50000 2222";
    auto line = nextprism::format_audit_line(r);
    CHECK(line.size() <= nextprism::max_audit_line);
    auto j = nlohmann::json::parse(line);
    CHECK(j["argv"].size() == argv.size());
    CHECK_FALSE(j.contains("argv_truncated"));
    CHECK_FALSE(j.contains("argv_left_out"));

    // 400 users do not fit: the line is still bounded and says how many are not on it.
    for (int i = 51; i < 400; ++i)
        argv.push_back("user-" + std::to_string(1000 + i));
    r.argv = argv;
    line = nextprism::format_audit_line(r);
    CHECK(line.size() <= nextprism::max_audit_line);
    j = nlohmann::json::parse(line);
    CHECK(j["argv_truncated"] == true);
    CHECK(j["argv"].size() > 51);
    CHECK(j["argv_left_out"].get<std::size_t>() == argv.size() - j["argv"].size());
}
