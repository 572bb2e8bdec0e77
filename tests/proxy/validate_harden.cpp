// nextprism-validate under a hostile or broken caller, against the real
// dockerd and the stand-in images: a caller that stops reading, bounded
// audit records, the concurrency cap. Run as sshd runs it (environment,
// no shell).

#include <nextprism/proxy_exit_code.hpp>

#include "support/docker_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fs = std::filesystem;
namespace exit_code = nextprism::proxy_exit_code;
using namespace nextprism::test;

namespace {

struct proxy_env
{
    scoped_container nextcloud{"nextprism/standin-nextcloud:test", "np-h-nc"};
    scoped_container photoprism{"nextprism/standin-photoprism:test", "np-h-pp"};
    fs::path dir = fs::temp_directory_path() / unique_name("nextprism-harden");

    proxy_env() { fs::create_directories(dir); }
    ~proxy_env() { fs::remove_all(dir); }

    std::vector<std::string> env(const std::string& command) const
    {
        return {"SSH_ORIGINAL_COMMAND=" + command,
                "DOCKER_HOST=" + docker_host(),
                "NEXTPRISM_AUDIT_LOG=" + (dir / "audit.log").string(),
                "NEXTPRISM_LOCK_DIR=" + dir.string(),
                "NEXTCLOUD_CONTAINER=" + nextcloud.name,
                "PHOTOPRISM_CONTAINER=" + photoprism.name};
    }

    process_result run(const std::string& service, const std::string& command,
                       std::vector<std::string> extra = {}) const
    {
        std::vector<std::string> argv{NEXTPRISM_VALIDATE, "--service", service};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return run_process(argv, env(command));
    }

    std::vector<nlohmann::json> audit() const
    {
        std::vector<nlohmann::json> lines;
        std::ifstream in(dir / "audit.log");
        std::string line;
        while (std::getline(in, line))
            lines.push_back(nlohmann::json::parse(line));
        return lines;
    }

    bool idle(const scoped_container& c) const
    {
        const auto p = c.processes();
        return p.size() == 1 && p[0].find("sleep 2147483647") != std::string::npos;
    }
};

} // namespace

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
    proxy_env p;
    // 100 MiB of output, nobody reading: back-pressure holds the rest in
    // the engine and the target, the deadline still fires.
    SECTION("the deadline fires, memory stays bounded, the lock is released")
    {
        auto v = spawn_process({NEXTPRISM_VALIDATE, "--service", "photoprism", "--timeout", "3"},
                               p.env("photoprism index big-output"));
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
        auto v = spawn_process(
            {NEXTPRISM_VALIDATE, "--service", "photoprism", "--timeout", "0", "--output-stall", "2"},
            p.env("photoprism index big-output"));
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
