#ifndef NEXTPRISM_TOOLS_ASSEMBLY_HPP
#define NEXTPRISM_TOOLS_ASSEMBLY_HPP

// The executor a configuration file names, for the tools that serve it
// (nextprism exec, nextprism proxies, nextprism-agent): one place that
// reads the file, loads its whitelist and picks the assembly, so that the CLI
// and the agent cannot drift apart.

#include <nextprism/executor/config.hpp>
#include <nextprism/swarm_executor.hpp>

#include <boost/asio/io_context.hpp>

#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace nextprism::tools {

/// A configuration or whitelist file that does not load; what() names the
/// file and the key path.
struct config_error : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

/// The executor configuration at `path` (empty: the built-in defaults).
inline executor_config load_config(const std::string& path)
{
    error_code ec;
    std::string reason;
    auto c = path.empty() ? executor_config::from_json("{}", ec, reason)
                          : executor_config::from_file(path, ec, reason);
    if (ec) // from_file's reason names the file already
        throw config_error(path.empty() ? "defaults: " + reason : reason);
    return c;
}

/// The whitelist at `path` (empty: the compiled one).
inline std::shared_ptr<const whitelist> load_whitelist(const std::string& path)
{
    if (path.empty())
        return default_whitelist();
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (!in && !in.eof())
        throw config_error(path + ": cannot be read");
    error_code ec;
    std::string reason;
    auto w = whitelist::from_json(text, ec, reason);
    if (ec)
        throw config_error(path + ": " + reason);
    return std::make_shared<const whitelist>(std::move(w));
}

/// Which routes a run may take.
enum class via { automatic, direct, proxy };

/// A `--via` value (auto, direct, proxy) into `v`; for command_line's
/// option: empty when accepted, else what it expects.
inline std::string parse_via(std::string_view text, via& v)
{
    if (text == "auto")
        v = via::automatic;
    else if (text == "direct")
        v = via::direct;
    else if (text == "proxy")
        v = via::proxy;
    else
        return "auto, direct or proxy";
    return {};
}

/** Builds the assembly `config` names and calls `f(executor)`; returns
    what `f` returns. The executor lives as long as the call:
    - `via::direct`: the local engine only (`direct_executor`);
    - a static proxy list: `static_executor`;
    - no engine (`docker_host: null`, a container on a worker): Swarm's
      DNS names of the proxies (`dns_executor`, `discovery.dns_name`);
    - else Swarm discovery on the configured engine: `swarm_executor`.
    `via::proxy` turns the local engine off and Swarm mode on.
    Throws config_error for a configuration that cannot serve `v`. */
/// Every key of `command_timeouts_ms` names a rule of the whitelist in
/// use or of the compiled-in one (whose rules the defaults name): a typo
/// would otherwise leave its command with no timeout, silently.
inline void check_command_timeouts(const executor_config& config, const whitelist& rules)
{
    const auto known = [&](const std::string& name, const whitelist& w) {
        for (const auto& service : w.services())
            for (const auto& command : service.commands)
                if (command.name() == name)
                    return true;
        return false;
    };
    for (const auto& entry : config.command_timeouts)
        if (!known(entry.first, rules) && !known(entry.first, whitelist::builtin()))
            throw config_error("command_timeouts_ms." + entry.first +
                               ": no whitelist rule of that name (e.g. \"php occ files:scan\")");
}

template<class F>
decltype(auto) with_executor(const executor_config& config, std::shared_ptr<const whitelist> rules,
                             boost::asio::any_io_executor ex, via v, F&& f)
{
    check_command_timeouts(config, *rules);
    std::optional<direct_transport> local;
    if (config.engine && v != via::proxy)
        local.emplace(ex, *config.engine,
                      direct_transport::options{.targets = config.targets, .output_gate = {}, .client = {}});
    auto opts = config.executor_options(std::move(rules));
    if (v == via::direct) {
        if (!local)
            throw config_error("routes: direct needs docker_host");
        direct_executor e(ex, no_proxy(ex), local_only_discovery(ex), no_retry{}, std::move(*local), opts);
        return f(e);
    }
    if (v == via::proxy)
        opts.mode = swarm_mode::on;
    if (!config.static_list.endpoints.empty()) {
        static_executor e(ex, ssh_proxy_transport(ex, config.pool, config.ssh_user),
                          static_list(ex, config.discovery, config.static_list), config.retry(), std::move(local),
                          opts);
        return f(e);
    }
    if (!config.engine) {
        // No engine (a container on a worker): the proxies are found as
        // tasks.<service>-proxy by Swarm's DNS on the shared overlay.
        opts.mode = swarm_mode::on;
        dns_executor e(ex, ssh_proxy_transport(ex, config.pool, config.ssh_user),
                       dns_discovery(ex, config.discovery, config.dns), config.retry(), std::move(local), opts);
        return f(e);
    }
    swarm_executor e(ex, ssh_proxy_transport(ex, config.pool, config.ssh_user),
                     swarm_labels(ex, config.discovery, config.swarm), config.retry(), std::move(local), opts);
    return f(e);
}

/// Runs `io` one handler at a time until `done()` or it runs out of work;
/// restarts it first (a loop that ran out of work stays stopped).
template<class Done>
void run_until(boost::asio::io_context& io, Done&& done)
{
    io.restart();
    while (!done() && io.run_one() != 0) {
    }
}

} // namespace nextprism::tools

#endif
