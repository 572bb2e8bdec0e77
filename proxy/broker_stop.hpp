#ifndef NEXTPRISM_PROXY_BROKER_STOP_HPP
#define NEXTPRISM_PROXY_BROKER_STOP_HPP

// Stopping an exec from inside the proxy container, which cannot see the
// exec's processes: a Swarm task cannot join the host PID namespace and
// Docker has no exec-kill API (moby#9098). The broker starts a short-lived
// helper container from the proxy's own image through the Engine API:
//
//   PidMode host, CapDrop ALL + CapAdd KILL, no network, read-only root,
//   no-new-privileges, 32 MiB, 16 pids, auto-removed; its command is
//   `nextprism-broker --stop-tree PID --container ID --not-before T`
//
// which holds each process of the exec's tree by a pidfd, checks that it
// runs in the exec's container and started no earlier than the request
// (process_tree.hpp), sends SIGTERM, and SIGKILL to what is left after the
// grace period. The broker waits until the helper has ended (or a bound),
// then the Docker client sees the exec's stream end, and the exec's
// inspect says whether it really stopped.

#include <nextprism/docker/client.hpp>
#include <nextprism/docker/detail/process_tree.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>

namespace nextprism::broker_stop {

namespace net = boost::asio;
using nextprism::detail::use_tuple;

struct helper_config
{
    std::string image;                      ///< the proxy's own image (id)
    std::string broker_path = "/usr/local/bin/nextprism-broker";
    std::chrono::milliseconds grace{3'000}; ///< SIGTERM → SIGKILL
    long long not_before = 0;               ///< seconds since the epoch: no earlier process is the exec's
};

/// The id of the container this process runs in, from its mounts
/// (/var/lib/docker/containers/ID/... for hostname, hosts, resolv.conf); "" outside one.
inline std::string own_container_id()
{
    std::ifstream in("/proc/self/mountinfo");
    static const std::regex id(R"(/containers/([0-9a-f]{64})/)");
    std::string line;
    std::smatch m;
    while (std::getline(in, line))
        if (std::regex_search(line, m, id))
            return m[1];
    return {};
}

/// The image id of container `id`, "" when it cannot be read.
inline std::string image_of(const docker::engine_address& engine, const std::string& id)
{
    net::io_context io;
    docker::client c(io.get_executor(), engine);
    std::string image;
    c.async_request(boost::beast::http::verb::get, "/containers/" + id + "/json", {},
                    [&](error_code ec, docker::client::response res) {
                        if (ec || res.result_int() != 200)
                            return;
                        const auto j = nlohmann::json::parse(res.body(), nullptr, false);
                        if (j.is_object() && j.contains("Image") && j["Image"].is_string())
                            image = j["Image"].get<std::string>();
                    });
    io.run();
    return image;
}

/// The helper's create body.
inline nlohmann::json helper_spec(const helper_config& cfg, int pid, const std::string& container_id)
{
    return {
        {"Image", cfg.image},
        {"Entrypoint", {cfg.broker_path}},
        {"Cmd",
         {"--stop-tree", std::to_string(pid), "--container", container_id, "--not-before",
          std::to_string(cfg.not_before), "--grace", std::to_string(cfg.grace.count())}},
        {"User", "0:0"},
        {"NetworkDisabled", true},
        {"AttachStdout", false},
        {"AttachStderr", false},
        {"Labels", {{"io.nextprism.stop-helper", "1"}}},
        {"HostConfig",
         {{"PidMode", "host"},
          {"NetworkMode", "none"},
          {"CapDrop", {"ALL"}},
          {"CapAdd", {"KILL"}},
          {"ReadonlyRootfs", true},
          {"AutoRemove", true},
          {"SecurityOpt", {"no-new-privileges:true"}},
          {"Memory", 32 * 1024 * 1024},
          {"PidsLimit", 16},
          {"LogConfig", {{"Type", "none"}}}}},
    };
}

/// Starts the helper and waits until it has ended (or grace + 8 s).
inline net::awaitable<void> run_helper(std::shared_ptr<docker::client> engine, helper_config cfg, int pid,
                                       std::string container_id)
{
    namespace http = boost::beast::http;
    auto [cec, created] = co_await engine->async_request(http::verb::post, "/containers/create",
                                                         helper_spec(cfg, pid, container_id).dump(), use_tuple);
    if (cec || created.result_int() != 201) {
        std::fprintf(stderr, "nextprism-broker: cannot create the stop helper: %s\n",
                     cec ? cec.message().c_str() : created.body().c_str());
        co_return;
    }
    const auto j = nlohmann::json::parse(created.body(), nullptr, false);
    const std::string id = j.is_object() ? j.value("Id", "") : "";
    if (id.empty())
        co_return;
    auto [sec, started] = co_await engine->async_request(http::verb::post, "/containers/" + id + "/start", {},
                                                         use_tuple);
    if (sec || started.result_int() >= 300) {
        std::fprintf(stderr, "nextprism-broker: cannot start the stop helper: %s\n",
                     sec ? sec.message().c_str() : started.body().c_str());
        co_await engine->async_request(http::verb::delete_, "/containers/" + id + "?force=1", {}, use_tuple);
        co_return;
    }
    net::steady_timer pause(engine->get_executor());
    const auto end = std::chrono::steady_clock::now() + cfg.grace + std::chrono::seconds(8);
    while (std::chrono::steady_clock::now() < end) {
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(use_tuple);
        auto [iec, inspect] = co_await engine->async_request(http::verb::get, "/containers/" + id + "/json", {},
                                                             use_tuple);
        if (!iec && inspect.result_int() == 404)
            co_return; // ended and removed
        if (!iec && inspect.result_int() == 200) {
            const auto s = nlohmann::json::parse(inspect.body(), nullptr, false);
            if (s.is_object() && s.contains("State") && s["State"].is_object() &&
                s["State"].value("Running", true) == false)
                co_return;
        }
    }
    std::fprintf(stderr, "nextprism-broker: the stop helper %s did not end in time\n", id.c_str());
}

/// The Docker client's stop hook (client::options::stop_processes) that uses the helper.
inline std::function<void(int, const std::string&, std::function<void()>)>
helper_stopper(net::any_io_executor ex, docker::engine_address engine, helper_config cfg)
{
    auto client = std::make_shared<docker::client>(ex, std::move(engine));
    return [client, cfg](int pid, const std::string& container_id, std::function<void()> done) {
        net::co_spawn(client->get_executor(), run_helper(client, cfg, pid, container_id),
                      [done = std::move(done)](std::exception_ptr) { done(); });
    };
}

/** The helper's own job (`--stop-tree`), in the host PID namespace: exit
    0 when every process of the tree has ended, 1 when some did not, 3
    when `pid` is not a process of the container started since `not_before`. */
inline int stop_tree(int pid, const std::string& container_id, long long not_before,
                     std::chrono::milliseconds grace)
{
    namespace pt = docker::detail::process_tree;
    // Two seconds of slack: btime is whole seconds and may be rounded.
    const auto not_before_ticks = pt::ticks_since_boot(not_before - 2);
    pt::held_tree held;
    if (held.hold(pid, container_id, not_before_ticks) == 0) {
        std::fprintf(stderr, "nextprism stop: %d is not a process of %.12s started since %lld\n", pid,
                     container_id.c_str(), not_before);
        return 3;
    }
    held.signal(SIGTERM);
    if (!held.wait_exited(grace)) {
        held.hold(pid, container_id, not_before_ticks); // children started meanwhile
        held.signal(SIGKILL);
    }
    const bool all = held.wait_exited(std::chrono::seconds(2));
    std::fprintf(stderr, "nextprism stop: %zu process(es) of %d %s\n", held.size(), pid,
                 all ? "ended" : "still alive");
    return all ? 0 : 1;
}

} // namespace nextprism::broker_stop

#endif
