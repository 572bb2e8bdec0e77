// nextprism-validate under a hostile or broken caller, against the real
// dockerd and the stand-in images: a caller that stops reading, bounded
// audit records, the concurrency cap. Run as sshd runs it (environment,
// no shell).

#include <nextprism/wire/exit_status.hpp>

#include "support/validator_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
namespace exit_code = nextprism::proxy_exit_code;
using namespace nextprism::test;


namespace {

/// Resident memory of a process in KiB (VmRSS), -1 when it is gone.
long resident_kib(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.starts_with("VmRSS:"))
            return std::stol(line.substr(6));
    return -1;
}

} // namespace

TEST_CASE("a caller that stops reading cannot freeze the validator")
{
    proxy_env p("np-h");
    // 100 MiB of output, nobody reading: back-pressure holds the rest in
    // the engine and the target, the deadline still fires.
    SECTION("the deadline fires, memory stays bounded, the lock is released")
    {
        p.start_brokers({"--timeout", "3"});
        auto v = p.spawn("photoprism", "photoprism index big-output");
        long peak = 0;
        int status = -2;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < 40 * 10 && status == -2; ++i) {
            peak = std::max(peak, resident_kib(v.pid));
            int raw = 0;
            if (::waitpid(v.pid, &raw, WNOHANG) == v.pid) {
                status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        const auto took = std::chrono::steady_clock::now() - start;
        INFO("peak VmRSS " << peak << " KiB");
        CHECK(status == exit_code::timeout);
        CHECK(took < std::chrono::seconds(20));
        CHECK(peak > 0);
        CHECK(peak < 32 * 1024); // the queue is 256 KiB; the output 100 MiB
        ::close(v.out);
        ::close(v.err);
        // The lock went with the command: the next index runs, not busy.
        const auto next = p.run("photoprism", "photoprism index");
        CHECK(next.exit_code == 0);
        const auto audit = p.audit();
        REQUIRE(audit.size() >= 4);
        CHECK(audit[1]["event"] == "finished");
        CHECK(audit[1]["exit_code"] == exit_code::timeout);
    }
    SECTION("the output-stall limit stops a command whose caller reads nothing")
    {
        p.start_brokers({"--timeout", "0", "--output-stall", "2"});
        auto v = p.spawn("photoprism", "photoprism index big-output");
        const int status = v.wait(30);
        CHECK(status == exit_code::timeout);
        ::close(v.out);
        ::close(v.err);
        const auto audit = p.audit();
        REQUIRE(audit.size() == 2);
        CHECK(audit[1]["reason"] == "client stopped reading for 2 s; command stopped");
    }
    for (int i = 0; i < 50 && !p.idle(p.photoprism); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(p.idle(p.photoprism));
}

TEST_CASE("audit records are bounded and every outcome is on record")
{
    proxy_env p("np-h");
    SECTION("a 131,000-byte refused input: one line under 2 KiB, with its length and SHA-256")
    {
        // The most one environment string can carry (MAX_ARG_STRLEN is
        // 128 KiB, so sshd cannot pass more); the worst bytes for escaping.
        std::string input = "php occ files:scan ";
        while (input.size() < 131000)
            input += "\xff\x01\"";
        input.resize(131000);
        const auto r = p.run("nextcloud", input);
        CHECK(r.exit_code == exit_code::refused);
        std::ifstream in(p.dir / "audit.log");
        std::string line;
        REQUIRE(std::getline(in, line));
        CHECK(line.size() + 1 <= 2048);
        const auto j = nlohmann::json::parse(line);
        CHECK(j["decision"] == "refused");
        CHECK(j["outcome"] == "refused");
        CHECK(j["exit_code"] == exit_code::refused);
        CHECK(j["input_bytes"] == 131000);
        CHECK(j["input_truncated"] == true);
        CHECK(j["input_sha256"].get<std::string>().size() == 64);
        CHECK_FALSE(std::getline(in, line)); // one line, nothing else
    }
    SECTION("a busy refusal has an outcome")
    {
        auto first = p.spawn("nextcloud", "php occ files:scan -v slow6");
        std::string seen;
        REQUIRE(first.read_until("photo-1.jpg", 30, seen));
        const auto second = p.run("nextcloud", "php occ memories:index");
        CHECK(second.exit_code == exit_code::busy);
        CHECK(first.wait(60) == 0);
        first.finish();
        const auto audit = p.audit();
        REQUIRE(audit.size() == 4); // first: decision; second: decision, busy; first: finished
        CHECK(audit[1]["decision"] == "allowed");
        CHECK(audit[2]["event"] == "finished");
        CHECK(audit[2]["outcome"] == "busy");
        CHECK(audit[2]["exit_code"] == exit_code::busy);
        CHECK(audit[2]["pid"] == audit[1]["pid"]);
        CHECK(audit[3]["outcome"] == "exited");
        CHECK(audit[3]["exit_code"] == 0);
    }
    SECTION("the key is recorded as sshd logs it, with its authorized_keys comment")
    {
        const auto key = p.dir / "k";
        REQUIRE(std::system(("ssh-keygen -q -t ed25519 -N '' -C caller -f " + key.string()).c_str()) == 0);
        std::string pub;
        std::getline(std::ifstream(key.string() + ".pub"), pub);
        std::ofstream(p.dir / "authorized_keys") << "restrict " << pub.substr(0, pub.rfind(' ')) << " sync@nas\n";
        std::ofstream(p.dir / "auth") << "publickey " << pub << "\n";
        // The broker reads the comment from its own authorized_keys (the fixture's).
        const auto r = p.run("nextcloud", "php occ status", {"SSH_USER_AUTH=" + (p.dir / "auth").string()});
        CHECK(r.exit_code == 0);
        const auto fp = run_process({"/usr/bin/ssh-keygen", "-l", "-f", key.string() + ".pub"}, {});
        const auto audit = p.audit();
        REQUIRE(audit.size() == 2);
        CHECK(fp.out.find(audit[0]["key_fp"].get<std::string>()) != std::string::npos);
        CHECK(audit[0]["key_fp"].get<std::string>().starts_with("SHA256:"));
        CHECK(audit[0]["key_type"] == "ssh-ed25519");
        CHECK(audit[0]["key_comment"] == "sync@nas");
    }
}

TEST_CASE("the audit drainer: lines to its stdout and a rotated file; without it nothing runs")
{
    proxy_env p("np-h");
    const auto fifo = p.dir / "audit.fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0620) == 0);
    const auto file = p.dir / "audit-file.log";
    auto drainer = spawn_process({NEXTPRISM_VALIDATE, "--audit-drain", fifo.string(), "--audit-file",
                                  file.string(), "--audit-file-max-bytes", "4096", "--audit-file-keep", "2"},
                                 {});
    std::this_thread::sleep_for(std::chrono::milliseconds(300)); // until it holds the FIFO
    p.start_brokers({"--audit-log", fifo.string()}); // the broker writes the FIFO, as in the image
    const auto env = p.env("php occ status");
    for (int i = 0; i < 10; ++i) {
        const auto r = run_process({NEXTPRISM_VALIDATE, "--service", "nextcloud"}, env);
        CHECK(r.exit_code == 0);
    }
    std::string seen;
    CHECK(drainer.read_until("\"outcome\":\"exited\"", 5, seen));
    for (int i = 0; i < 5 && std::count(seen.begin(), seen.end(), '\n') < 20; ++i)
        drainer.read_until("never", 1, seen);
    CHECK(std::count(seen.begin(), seen.end(), '\n') == 20);
    CHECK(fs::file_size(file) <= 4096);
    CHECK(fs::exists(file.string() + ".1"));

    ::kill(drainer.pid, SIGKILL);
    drainer.wait(5);
    drainer.finish();
    const auto r = run_process({NEXTPRISM_VALIDATE, "--service", "nextcloud"}, env);
    CHECK(r.exit_code == exit_code::audit_failed);
    CHECK(r.err.find("cannot open audit log") != std::string::npos);
    CHECK(r.out.empty());
}

TEST_CASE("200 concurrent status calls against a cap of 8: the rest refused busy, nothing lost")
{
    proxy_env p("np-h", {"--max-running", "8", "--max-per-key", "0"}); // the service's cap alone
    constexpr int calls = 200;
    std::vector<spawned_process> procs;
    procs.reserve(calls);
    for (int i = 0; i < calls; ++i)
        procs.push_back(p.spawn("nextcloud", "php occ status"));
    int ran = 0, busy = 0, other = 0;
    for (auto& v : procs) {
        const int status = v.wait(120);
        std::string out;
        char buffer[4096];
        ssize_t n;
        while ((n = ::read(v.out, buffer, sizeof buffer)) > 0)
            out.append(buffer, static_cast<std::size_t>(n));
        const auto err = v.finish();
        if (status == 0 && out.starts_with("  - installed: true"))
            ++ran;
        else if (status == exit_code::busy && out.empty() &&
                 err == "nextprism: busy: 8 commands running for nextcloud (the proxy's cap); try again shortly\n")
            ++busy;
        else {
            ++other;
            UNSCOPED_INFO("status " << status << " out " << out.substr(0, 80) << " err " << err);
        }
    }
    INFO("ran " << ran << ", busy " << busy);
    CHECK(other == 0);
    CHECK(ran + busy == calls);
    CHECK(ran >= 8);
    CHECK(busy > 0);

    // Every call is on record with its outcome, and never more than 8 ran
    // at once (each finished line's interval lies inside its slot's hold;
    // 1 ms for the timestamps' resolution).
    const auto audit = p.audit();
    CHECK(audit.size() == 2 * calls);
    std::vector<std::pair<double, int>> edges;
    int exited = 0, refused_busy = 0;
    for (const auto& j : audit) {
        if (j["event"] != "finished")
            continue;
        if (j["outcome"] == "busy")
            ++refused_busy;
        if (j["outcome"] != "exited")
            continue;
        ++exited;
        const auto t = j["time"].get<std::string>(); // ...THH:MM:SS.mmmZ
        const double end = std::stod(t.substr(11, 2)) * 3600e3 + std::stod(t.substr(14, 2)) * 60e3 +
                           std::stod(t.substr(17, 6)) * 1e3;
        edges.emplace_back(end - j["duration_ms"].get<double>() + 1.0, +1);
        edges.emplace_back(end + 0.0, -1);
    }
    CHECK(exited == ran);
    CHECK(refused_busy == busy);
    std::sort(edges.begin(), edges.end(), [](auto a, auto b) {
        return a.first != b.first ? a.first < b.first : a.second < b.second; // ends first
    });
    int running = 0, peak = 0;
    for (const auto& [at, delta] : edges)
        peak = std::max(peak, running += delta);
    INFO("peak running " << peak);
    CHECK(peak <= 8);
    CHECK(p.idle(p.nextcloud)); // nothing left running
}

TEST_CASE("an audit sink that blocks: 74 (transient), and a record it drops is said and counted")
{
    proxy_env p("np-h");
    const auto fifo = p.dir / "audit.fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0620) == 0);
    // A reader that holds the FIFO and reads only when told: the sink of a
    // drainer whose stdout (the log driver) stopped taking lines.
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(reader >= 0);
    const int filler = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(filler >= 0);
    auto drain = [&] {
        char buffer[65536];
        while (::read(reader, buffer, sizeof buffer) > 0) {
        }
    };
    auto fill = [&] {
        const std::string junk(4096, 'x');
        while (::write(filler, junk.data(), junk.size()) > 0) {
        }
    };
    p.start_brokers({"--audit-log", fifo.string()});
    auto scan = p.spawn("nextcloud", "php occ files:scan -v slow3");
    std::string seen;
    REQUIRE(scan.read_until("photo-1.jpg", 30, seen)); // its decision went through
    fill(); // the sink blocks before the command ends: its finished record cannot go
    CHECK(scan.wait(60) == 0);   // the command's own status: it ran
    scan.finish();
    // The broker says so on stderr and in the tally.
    const auto tally = p.dir / "audit-dropped";
    for (int i = 0; i < 50 && !fs::exists(tally); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string line;
    std::getline(std::ifstream(tally), line);
    CHECK(line.find("audit record dropped: event=finished outcome=exited service=nextcloud") != std::string::npos);
    // A new command while it blocks: refused before it runs, 74, which the client retries.
    const auto blocked = p.run("nextcloud", "php occ status");
    CHECK(blocked.exit_code == exit_code::audit_failed);
    CHECK(blocked.out.empty());
    drain();
    CHECK(p.run("nextcloud", "php occ status").exit_code == 0); // it recovers
    ::close(filler);
    ::close(reader);
}
