#ifndef NEXTPRISM_TESTS_SUPPORT_DOCKER_FIXTURE_HPP
#define NEXTPRISM_TESTS_SUPPORT_DOCKER_FIXTURE_HPP

// Integration tests talk to the real dockerd that tests/testbed/dockerd.sh
// started (ctest fixture "dockerd"); DOCKER_HOST points at it. Set-up and
// checks from the outside use the docker CLI, never the code under test.

#include "support/process.hpp"

#include <nextprism/docker/engine_address.hpp>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace nextprism::test {

inline std::string docker_host()
{
    const char* v = std::getenv("DOCKER_HOST");
    if (!v || !*v)
        FAIL("DOCKER_HOST is not set: run through ctest (fixture dockerd)");
    return v;
}

inline docker::engine_address engine()
{
    error_code ec;
    auto a = docker::parse_engine_address(docker_host(), ec);
    REQUIRE_FALSE(ec);
    return a;
}

/// Runs the docker CLI against the test engine.
inline process_result docker_cli(std::vector<std::string> args)
{
    args.insert(args.begin(), "/usr/bin/docker");
    return run_process(args, {"DOCKER_HOST=" + docker_host(), "PATH=/usr/bin:/bin:/usr/sbin:/sbin"});
}

inline std::string trim(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

inline std::string unique_name(const std::string& prefix)
{
    static std::mt19937 rng(std::random_device{}());
    return prefix + "-" + std::to_string(rng() % 1000000);
}

/// A container of a stand-in image, removed at scope exit.
struct scoped_container
{
    std::string name;
    std::string id;

    /// `options` go to `docker run` before the image (-e NAME=value, --user ...).
    scoped_container(const std::string& image, const std::string& prefix, bool start = true,
                     const std::vector<std::string>& options = {})
        : name(unique_name(prefix))
    {
        std::vector<std::string> argv{start ? "run" : "create", start ? "-d" : "--rm=false", "--name", name,
                                      "--network", "none"};
        argv.insert(argv.end(), options.begin(), options.end());
        argv.push_back(image);
        auto r = docker_cli(argv);
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        id = trim(r.out);
    }
    ~scoped_container() { docker_cli({"rm", "-f", name}); }

    /// Processes in the container, as the engine lists them (ps -ef columns).
    std::vector<std::string> processes() const
    {
        auto r = docker_cli({"top", name, "-o", "pid,args"});
        std::vector<std::string> lines;
        std::size_t start = 0;
        while (start < r.out.size()) {
            auto end = r.out.find('\n', start);
            if (end == std::string::npos)
                end = r.out.size();
            lines.push_back(r.out.substr(start, end - start));
            start = end + 1;
        }
        if (!lines.empty())
            lines.erase(lines.begin()); // header
        return lines;
    }

    /// What the stand-in CLI's parser recorded of each call, oldest first
    /// (its call log, tests/testbed/standins: argv, options, uid, gid, cwd).
    std::vector<nlohmann::json> standin_calls() const
    {
        const auto r = docker_cli({"exec", name, "cat", "/tmp/standin-calls.jsonl"});
        std::vector<nlohmann::json> calls;
        std::size_t start = 0;
        while (start < r.out.size()) {
            const auto end = r.out.find('\n', start);
            calls.push_back(nlohmann::json::parse(r.out.substr(start, end - start)));
            if (end == std::string::npos)
                break;
            start = end + 1;
        }
        return calls;
    }
};

/// Runs an io_context on a thread for the test's duration.
struct io_thread
{
    boost::asio::io_context io;
    // Declared before the thread: run() must never start without work.
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread;

    io_thread() : thread([this] { io.run(); }) {}
    ~io_thread()
    {
        work.reset();
        io.stop();
        thread.join();
    }
};

} // namespace nextprism::test

namespace nextprism::test {

/// Starts an operation with a callback and waits for its completion.
template<class T, class Initiate>
std::pair<error_code, T> wait_for(Initiate initiate)
{
    auto promise = std::make_shared<std::promise<std::pair<error_code, T>>>();
    auto future = promise->get_future();
    initiate([promise](error_code ec, T value) { promise->set_value({ec, std::move(value)}); });
    // An operation that never completes is a bug: fail, don't hang.
    if (future.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
        FAIL_CHECK("operation did not complete within 120 s");
        std::abort();
    }
    return future.get();
}

} // namespace nextprism::test

#endif
