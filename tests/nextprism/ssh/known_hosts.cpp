#include <nextprism/ssh/known_hosts.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace nextprism::ssh::detail;

namespace {

// Two ed25519 public keys (type + base64), as in a known_hosts line.
const std::string key_a = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBERERERERERERERERERERERERERERERERERERERERER";
const std::string key_b = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIi";

std::string blob_of(const std::string& key)
{
    std::string blob;
    REQUIRE(base64_decode(key.substr(key.find(' ') + 1), blob));
    return blob;
}

known_hosts_result check(const std::string& text, const std::string& host, unsigned short port,
                         const std::string& key = key_a)
{
    return check_known_hosts(text, known_host_name(host, port), "ssh-ed25519", blob_of(key));
}

std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

} // namespace

TEST_CASE("known_hosts: a key matches only its host and port")
{
    const std::string text = "# comment\n\n[10.0.0.5]:2222 " + key_a + " proxy a\n";
    CHECK(check(text, "10.0.0.5", 2222).verdict == host_verdict::match);
    CHECK(check(text, "10.0.0.5", 2223).verdict == host_verdict::not_found);
    CHECK(check(text, "10.0.0.6", 2222).verdict == host_verdict::not_found);
    // A bare host is port 22 only (libssh2 1.10 let it vouch for every port).
    const std::string bare = "10.0.0.5 " + key_a + "\n";
    CHECK(check(bare, "10.0.0.5", 22).verdict == host_verdict::match);
    CHECK(check(bare, "10.0.0.5", 2222).verdict == host_verdict::not_found);
    // Another key for the host: mismatch, naming the line.
    const auto r = check(text, "10.0.0.5", 2222, key_b);
    CHECK(r.verdict == host_verdict::mismatch);
    CHECK(r.line == 3);
    CHECK(r.message.find("line 3") != std::string::npos);
}

TEST_CASE("known_hosts: patterns, negation, case")
{
    const std::string text = "[node-*.example]:2222,![node-9.example]:2222 " + key_a + "\n";
    CHECK(check(text, "node-1.example", 2222).verdict == host_verdict::match);
    CHECK(check(text, "NODE-2.EXAMPLE", 2222).verdict == host_verdict::match);
    CHECK(check(text, "node-9.example", 2222).verdict == host_verdict::not_found);
    CHECK(check("[node-?]:2222 " + key_a + "\n", "node-7", 2222).verdict == host_verdict::match);
    CHECK(check("[node-?]:2222 " + key_a + "\n", "node-17", 2222).verdict == host_verdict::not_found);
}

TEST_CASE("known_hosts: @revoked keys are refused for every host, naming the line")
{
    const std::string text = "[10.0.0.5]:2222 " + key_a + "\n@revoked * " + key_a + "\n";
    const auto r = check(text, "10.0.0.5", 2222);
    CHECK(r.verdict == host_verdict::revoked);
    CHECK(r.line == 2);
    CHECK(r.message.find("@revoked") != std::string::npos);
    CHECK(r.message.find("ssh-ed25519") != std::string::npos);
    CHECK(check("@revoked other " + key_a + "\n", "10.0.0.5", 2222).verdict == host_verdict::revoked);
    CHECK(check("@revoked * " + key_b + "\n[h]:2222 " + key_a + "\n", "h", 2222).verdict == host_verdict::match);
}

TEST_CASE("known_hosts: @cert-authority for this host is refused clearly; for others ignored")
{
    const auto r = check("@cert-authority [10.0.0.5]:2222 " + key_b + "\n[10.0.0.5]:2222 " + key_a + "\n",
                         "10.0.0.5", 2222);
    CHECK(r.verdict == host_verdict::unsupported);
    CHECK(r.message.find("@cert-authority is not supported") != std::string::npos);
    CHECK(check("@cert-authority *.corp " + key_b + "\n[10.0.0.5]:2222 " + key_a + "\n", "10.0.0.5", 2222)
              .verdict == host_verdict::match);
}

TEST_CASE("known_hosts: a hashed @cert-authority line for this host is refused, not unknown")
{
    // Unknown would let trust on first use add the key the CA was to vouch for.
    const hashed_matcher matches = [](std::string_view pattern, const std::string& name) {
        return pattern == "|1|c2FsdA==|aGFzaA==" && name == "[10.0.0.5]:2222";
    };
    const auto name = known_host_name("10.0.0.5", 2222);
    const auto r = check_known_hosts("@cert-authority |1|c2FsdA==|aGFzaA== " + key_b + "\n", name, "ssh-ed25519",
                                     blob_of(key_a), matches);
    CHECK(r.verdict == host_verdict::unsupported);
    CHECK(r.line == 1);
    // For another host the same line says nothing.
    CHECK(check_known_hosts("@cert-authority |1|c2FsdA==|aGFzaA== " + key_b + "\n", known_host_name("10.0.0.6", 2222),
                            "ssh-ed25519", blob_of(key_a), matches)
              .verdict == host_verdict::not_found);
}

TEST_CASE("known_hosts: a line that does not parse fails the whole check")
{
    const std::string good = "[10.0.0.5]:2222 " + key_a + "\n";
    for (const std::string& bad : std::vector<std::string>{"[10.0.0.6]:2222 ssh-ed25519\n", // no key
                                  "[10.0.0.6]:2222 ssh-ed25519 AAAA!!!!\n",  // not base64
                                  "[10.0.0.6]:2222 ssh-rsa " + key_a.substr(12) + "\n", // type lies
                                  "@bogus [10.0.0.6]:2222 " + key_a + "\n",
                                  ",x " + key_a + "\n"}) {
        INFO(bad);
        // Even when a good line for the host comes first: the file is not understood.
        const auto r = check(good + bad, "10.0.0.5", 2222);
        CHECK(r.verdict == host_verdict::invalid);
        CHECK(r.line == 2);
        CHECK(r.message.find("line 2") != std::string::npos);
    }
}

TEST_CASE("trust on first use: only on 'not found', appended atomically, else the file is untouched")
{
    const auto dir = fs::temp_directory_path() / ("np-tofu-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const auto path = (dir / "known_hosts").string();
    const std::string name = known_host_name("10.0.0.5", 2222);
    const std::string line = name + " " + key_a;

    SECTION("no file: created with the line, mode 0600")
    {
        const auto r = trust_first_use(path, name, "ssh-ed25519", blob_of(key_a), line);
        CHECK(r.verdict == host_verdict::not_found);
        CHECK(slurp(path) == line + "\n");
        CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
        CHECK(check(slurp(path), "10.0.0.5", 2222).verdict == host_verdict::match);
    }
    SECTION("an existing file keeps every byte and gains one line")
    {
        const std::string before = "# mine\n[other]:2222 " + key_b + " no newline at the end";
        std::ofstream(path, std::ios::binary) << before;
        ::chmod(path.c_str(), 0644);
        CHECK(trust_first_use(path, name, "ssh-ed25519", blob_of(key_a), line).verdict == host_verdict::not_found);
        CHECK(slurp(path) == before + "\n" + line + "\n");
        CHECK((fs::status(path).permissions() & fs::perms::all) ==
              (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read));
    }
    SECTION("decided meanwhile (another key appeared): mismatch, untouched")
    {
        const std::string before = name + " " + key_b + "\n";
        std::ofstream(path, std::ios::binary) << before;
        CHECK(trust_first_use(path, name, "ssh-ed25519", blob_of(key_a), line).verdict == host_verdict::mismatch);
        CHECK(slurp(path) == before);
    }
    SECTION("half-parsable: invalid, untouched")
    {
        const std::string before = "[other]:2222 " + key_b + "\ngarbage\n";
        std::ofstream(path, std::ios::binary) << before;
        CHECK(trust_first_use(path, name, "ssh-ed25519", blob_of(key_a), line).verdict == host_verdict::invalid);
        CHECK(slurp(path) == before);
    }
    SECTION("unreadable (a directory): invalid")
    {
        fs::create_directories(path);
        std::string text, why;
        bool missing = true;
        CHECK_FALSE(read_known_hosts(path, text, missing, why));
        CHECK_FALSE(missing);
        CHECK(trust_first_use(path, name, "ssh-ed25519", blob_of(key_a), line).verdict == host_verdict::invalid);
        CHECK(fs::is_directory(path));
    }
    for (const auto& e : fs::directory_iterator(dir)) // no temporary left behind
        CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
    fs::remove_all(dir);
}
