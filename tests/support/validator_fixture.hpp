#ifndef NEXTPRISM_TESTS_SUPPORT_VALIDATOR_FIXTURE_HPP
#define NEXTPRISM_TESTS_SUPPORT_VALIDATOR_FIXTURE_HPP

// nextprism-validate run as sshd runs it (its environment, no shell)
// against the test engine: a stand-in container per service, a private
// audit log and lock directory. NEXTPRISM_VALIDATE names the binary.

#include "support/docker_fixture.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nextprism::test {

/** The validator's environment: both stand-ins running, state under `dir`. */
struct proxy_env
{
    scoped_container nextcloud;
    scoped_container photoprism;
    std::filesystem::path dir;

    /// `prefix` names the containers and the state directory (tests apart).
    explicit proxy_env(const std::string& prefix = "np-v")
        : nextcloud("nextprism/standin-nextcloud:test", prefix + "-nc"),
          photoprism("nextprism/standin-photoprism:test", prefix + "-pp"),
          dir(std::filesystem::temp_directory_path() / unique_name(prefix + "-state"))
    {
        std::filesystem::create_directories(dir);
    }
    ~proxy_env() { std::filesystem::remove_all(dir); }

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

    spawned_process spawn(const std::string& service, const std::string& command) const
    {
        return spawn_process({NEXTPRISM_VALIDATE, "--service", service}, env(command));
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


} // namespace nextprism::test

#endif
