#ifndef NEXTPRISM_TESTS_SUPPORT_VALIDATOR_FIXTURE_HPP
#define NEXTPRISM_TESTS_SUPPORT_VALIDATOR_FIXTURE_HPP

// The proxy's two halves run as the proxy runs them, against the test
// engine: nextprism-validate with sshd's environment (no shell) handing
// each session to nextprism-broker over its socket (one broker per
// service, as one proxy container serves one), a stand-in container per
// service, a private audit log and lock directory. NEXTPRISM_VALIDATE and
// NEXTPRISM_BROKER name the binaries. `direct_env` is the validator
// without a broker (it then reaches the engine itself: the host test bed).

#include "support/docker_fixture.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace nextprism::test {

/** The proxy's environment: both stand-ins running, a broker per service, state under `dir`. */
struct proxy_env
{
    scoped_container nextcloud;
    scoped_container photoprism;
    std::filesystem::path dir;
    std::map<std::string, spawned_process> brokers;

    /// `prefix` names the containers and the state directory (tests apart);
    /// `broker_args` are given to both brokers (--timeout, --max-running, ...).
    explicit proxy_env(const std::string& prefix = "np-v", std::vector<std::string> broker_args = {})
        : nextcloud("nextprism/standin-nextcloud:test", prefix + "-nc"),
          // As the official compose file runs it: PhotoPrism as 1000:1000 (its library's owner).
          photoprism("nextprism/standin-photoprism:test", prefix + "-pp", true,
                     {"-e", "PHOTOPRISM_UID=1000", "-e", "PHOTOPRISM_GID=1000"}),
          dir(std::filesystem::temp_directory_path() / unique_name(prefix + "-state"))
    {
        std::filesystem::create_directories(dir);
        // The caller's key, named as sshd names it (SSH_USER_AUTH): the
        // broker refuses a session without one.
        const auto key = dir / "caller";
        if (std::system(("ssh-keygen -q -t ed25519 -N '' -C caller@test -f " + key.string()).c_str()) != 0)
            throw std::runtime_error("ssh-keygen failed");
        std::string pub;
        std::getline(std::ifstream(key.string() + ".pub"), pub);
        std::ofstream(dir / "caller.auth") << "publickey " << pub << "\n";
        start_brokers(std::move(broker_args));
    }
    ~proxy_env()
    {
        stop_brokers();
        std::filesystem::remove_all(dir);
    }

    std::string socket(const std::string& service) const { return (dir / (service + ".broker")).string(); }

    /// The caller's key as a validator sends it to the broker ("TYPE BASE64").
    std::string key_line() const
    {
        std::string type, blob;
        std::ifstream(dir / "caller.pub") >> type >> blob;
        return type + " " + blob;
    }

    /** (Re)starts both brokers with `args` (after the defaults: root may
        connect, signals sent from here, the private audit log and locks)
        and `env` overrides ("PHOTOPRISM_CONTAINER=..."). */
    void start_brokers(std::vector<std::string> args = {}, std::vector<std::string> env = {})
    {
        stop_brokers();
        for (const std::string service : {"nextcloud", "photoprism"}) {
            const bool own_peer = std::find(args.begin(), args.end(), "--peer-uid") != args.end();
            std::vector<std::string> argv{NEXTPRISM_BROKER, "--socket", socket(service), "--service", service,
                                          "--peer-uid", own_peer ? "" : "0", "--socket-group", "0", "--helper-image", "none",
                                          "--audit-log", (dir / "audit.log").string(), "--lock-dir",
                                          dir.string(), "--authorized-keys", (dir / "authorized_keys").string()};
            if (own_peer)
                argv.erase(argv.begin() + 5, argv.begin() + 7); // only the uids the test names
            argv.insert(argv.end(), args.begin(), args.end());
            std::vector<std::string> environment{"DOCKER_HOST=" + docker_host(),
                                                 "NEXTCLOUD_CONTAINER=" + nextcloud.name,
                                                 "PHOTOPRISM_CONTAINER=" + photoprism.name};
            for (const auto& e : env)
                for (auto& have : environment)
                    if (have.substr(0, have.find('=')) == e.substr(0, e.find('=')))
                        have = e;
            std::filesystem::remove(socket(service));
            brokers.emplace(service, spawn_process(argv, environment));
        }
        for (const std::string service : {"nextcloud", "photoprism"})
            for (int i = 0; i < 100 && !std::filesystem::exists(socket(service)); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }

    void stop_brokers()
    {
        for (auto& [service, b] : brokers) {
            ::kill(b.pid, SIGTERM);
            b.wait(10);
            ::close(b.out);
            ::close(b.err);
        }
        brokers.clear();
    }

    /// The validator's environment without a broker (it reaches the engine).
    std::vector<std::string> direct_env(const std::string& command) const
    {
        return {"SSH_ORIGINAL_COMMAND=" + command,
                "DOCKER_HOST=" + docker_host(),
                "NEXTPRISM_AUDIT_LOG=" + (dir / "audit.log").string(),
                "NEXTPRISM_LOCK_DIR=" + dir.string(),
                "NEXTCLOUD_CONTAINER=" + nextcloud.name,
                "PHOTOPRISM_CONTAINER=" + photoprism.name};
    }

    /// As sshd gives it to the validator in the proxy: the command and the broker.
    std::vector<std::string> env(const std::string& command, const std::string& service = "nextcloud") const
    {
        return {"SSH_ORIGINAL_COMMAND=" + command, "NEXTPRISM_BROKER=" + socket(service),
                "SSH_USER_AUTH=" + (dir / "caller.auth").string()};
    }

    /// `extra_env` first: getenv() finds the first of two, so it overrides.
    process_result run(const std::string& service, const std::string& command,
                       std::vector<std::string> extra_env = {}) const
    {
        auto e = env(command, service);
        e.insert(e.begin(), extra_env.begin(), extra_env.end());
        return run_process({NEXTPRISM_VALIDATE, "--service", service}, e);
    }

    spawned_process spawn(const std::string& service, const std::string& command,
                          std::vector<std::string> extra_env = {}) const
    {
        auto e = env(command, service);
        e.insert(e.begin(), extra_env.begin(), extra_env.end());
        return spawn_process({NEXTPRISM_VALIDATE, "--service", service}, e);
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

    /// Waits up to `seconds` for the container to run nothing but its init.
    bool becomes_idle(const scoped_container& c, int seconds) const
    {
        for (int i = 0; i < seconds * 5; ++i) {
            if (idle(c))
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        return idle(c);
    }
};


} // namespace nextprism::test

#endif
