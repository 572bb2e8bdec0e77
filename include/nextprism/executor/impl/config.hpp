#ifndef NEXTPRISM_EXECUTOR_IMPL_CONFIG_HPP
#define NEXTPRISM_EXECUTOR_IMPL_CONFIG_HPP

// The configuration's schema, read by detail/schema.hpp in named steps.

#include <nextprism/detail/schema.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

namespace nextprism {
namespace detail {

/// "host:port" or "[v6]:port"; the port is required.
inline proxy_endpoint parse_proxy_endpoint(const std::string& text, const key_path& where)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        schema_fail(where, "expected host:port, got \"" + text + "\"");
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::uint16_t port = 0;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto [end, perr] = std::from_chars(first, last, port);
    if (perr != std::errc{} || end != last || port == 0)
        schema_fail(where, "invalid port in \"" + text + "\"");
    return {host, port, {}};
}

// The steps of executor_config::from_json, one per top-level key or object.

inline void read_targets(schema_object& o, std::string_view key, target_names& out)
{
    std::map<std::string, std::string> names;
    o.read(key, names);
    for (auto& [service, target] : names)
        out.set(service, std::move(target));
}

/// "docker_host": an engine address, or null for no local engine.
inline void read_docker_host(schema_object& o, executor_config& c)
{
    const nlohmann::json* v = o.find("docker_host");
    if (!v)
        return;
    if (v->is_null()) {
        c.engine.reset();
        return;
    }
    if (!v->is_string())
        o.fail("docker_host", "expected a string or null");
    error_code ec;
    c.engine = docker::parse_engine_address(v->get<std::string>(), ec);
    if (ec)
        o.fail("docker_host", "expected unix:///path or tcp://host:port");
}

/// "ssh": who to log in as, and how; `port` is every proxy's default port.
inline void read_ssh(schema_object& o, executor_config& c, std::uint16_t& port)
{
    o.read("user", c.ssh_user);
    if (c.ssh_user.empty())
        o.fail("user", "must not be empty");
    o.read("private_key", c.pool.credentials.private_key_file);
    std::string passphrase_file;
    o.read("passphrase_file", passphrase_file);
    if (!passphrase_file.empty()) {
        std::ifstream in(passphrase_file);
        if (!in || !std::getline(in, c.pool.credentials.passphrase))
            o.fail("passphrase_file", "cannot read " + passphrase_file);
    }
    o.read("known_hosts", c.pool.credentials.known_hosts_file);
    o.read("trust_on_first_use", c.pool.credentials.trust_on_first_use);
    o.read<std::uint16_t>("port", port, 1, 65535);
    o.read("connect_timeout_ms", c.pool.session.connect_timeout);
    o.read("keepalive_interval_ms", c.pool.session.keepalive_interval);
}

inline void read_pool(schema_object& o, executor_config& c)
{
    o.read<std::size_t>("max_connections_per_host", c.pool.max_connections_per_host, 1, 1000);
    o.read<std::size_t>("max_sessions", c.pool.max_sessions, 1, 1000);
    o.read<std::size_t>("max_concurrent_handshakes", c.pool.max_concurrent_handshakes, 1, 1000);
    o.read("idle_timeout_ms", c.pool.idle_timeout);
    o.read("queue_timeout_ms", c.pool.queue_timeout);
}

/// "discovery.static": service -> ["host:port", ...].
inline void read_static_endpoints(schema_object& o, executor_config& c)
{
    const nlohmann::json* v = o.find("static");
    if (!v)
        return;
    const schema_object services(*v, o.at("static"));
    for (const auto& [service, list] : v->items()) {
        auto& endpoints = c.static_list.endpoints[service];
        each_element(
            list, services.at(service),
            [&](const nlohmann::json& e, const key_path& at) {
                if (!e.is_string())
                    schema_fail(at, "expected \"host:port\"");
                endpoints.push_back(parse_proxy_endpoint(e.get<std::string>(), at));
            },
            "expected an array of \"host:port\"");
    }
}

/// "discovery.local_services": names of services run on this node.
inline void read_local_services(schema_object& o, executor_config& c)
{
    const nlohmann::json* v = o.find("local_services");
    if (!v)
        return;
    // One message for the array and its elements: "which strings" is the point.
    constexpr std::string_view what = "expected an array of strings";
    each_element(
        *v, o.at("local_services"),
        [&](const nlohmann::json& e, const key_path&) {
            if (!e.is_string())
                o.fail("local_services", what);
            c.static_list.local_services.insert(e.get<std::string>());
        },
        what);
}

inline void read_discovery(schema_object& o, executor_config& c)
{
    // Endpoint health is the executor's now: one set of breaker keys.
    o.moved("failure_threshold", "breaker.failure_threshold");
    o.moved("cool_down_ms", "breaker.open_ms");
    o.read("ttl_ms", c.discovery.ttl);
    o.read_enum("health_check", c.discovery.health,
                {{"none", health_check::none}, {"tcp", health_check::tcp}, {"banner", health_check::banner}});
    o.read("health_timeout_ms", c.discovery.health_timeout);
    o.read("negative_ttl_ms", c.discovery.negative_ttl);
    o.read("label", c.swarm.target_label);
    o.read("port_label", c.swarm.port_label);
    o.read("watch_events", c.swarm.watch_events);
    o.read("dns_name", c.dns.name_pattern);
    read_static_endpoints(o, c);
    read_local_services(o, c);
}

inline void read_retry(schema_object& o, executor_config& c)
{
    using strategy = executor_config::retry_strategy;
    o.read_enum("strategy", c.strategy,
                {{"none", strategy::none},
                 {"fixed", strategy::fixed},
                 {"exponential", strategy::exponential}});
    o.read("delay_ms", c.fixed.delay);
    o.read("base_ms", c.backoff.base);
    o.read("multiplier", c.backoff.multiplier, 1.0, 100.0);
    o.read("cap_ms", c.backoff.cap);
    std::size_t attempts = c.backoff.max_attempts;
    o.read<std::size_t>("max_attempts", attempts, 1, 100);
    c.backoff.max_attempts = c.fixed.max_attempts = attempts;
    o.read_enum("jitter", c.backoff.kind,
                {{"none", jitter::none}, {"full", jitter::full}, {"equal", jitter::equal},
                 {"decorrelated", jitter::decorrelated}});
    if (c.backoff.cap < c.backoff.base)
        o.fail("cap_ms", "must not be below retry.base_ms");
}

inline void read_breaker(schema_object& o, executor_config& c)
{
    o.read<std::size_t>("failure_threshold", c.breaker.failure_threshold, 1, 1000);
    o.read("open_ms", c.breaker.open_for);
    o.read<std::size_t>("half_open_probes", c.breaker.half_open_probes, 1, 1000);
}

/// The whole document; what several sources share is copied at the end.
inline executor_config read_executor_config(const nlohmann::json& root)
{
    executor_config c;
    schema_object top(root, {});
    top.read_enum("swarm", c.mode,
                  {{"auto", swarm_mode::automatic}, {"on", swarm_mode::on}, {"off", swarm_mode::off}});
    top.read("prefer_local", c.prefer_local);
    read_docker_host(top, c);
    top.read("whitelist_file", c.whitelist_file);
    // A configuration that says command_timeout_ms means it for every
    // command: the built-in per-rule defaults go, what command_timeouts_ms
    // lists stays.
    if (top.find("command_timeout_ms"))
        c.command_timeouts.clear();
    top.read("command_timeout_ms", c.command_timeout);
    top.read("command_timeouts_ms", c.command_timeouts);
    read_targets(top, "targets", c.targets);
    std::uint16_t port = default_proxy_port;
    top.nested("ssh", [&](schema_object& o) { read_ssh(o, c, port); });
    top.nested("pool", [&](schema_object& o) { read_pool(o, c); });
    c.dns.port = port;
    c.swarm.default_port = port;
    top.nested("discovery", [&](schema_object& o) { read_discovery(o, c); });
    top.nested("retry", [&](schema_object& o) { read_retry(o, c); });
    top.nested("breaker", [&](schema_object& o) { read_breaker(o, c); });
    top.finish();
    if (c.engine)
        c.swarm.engine = *c.engine;
    c.swarm.targets = c.targets;
    return c;
}

} // namespace detail

inline executor_config executor_config::from_json(std::string_view text, error_code& ec, std::string& reason)
{
    return detail::read_json(text, error::invalid_configuration, ec, reason,
                             detail::read_executor_config);
}

inline executor_config executor_config::from_file(const std::string& path, error_code& ec, std::string& reason)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        ec = error::invalid_configuration;
        reason = path + ": cannot be read";
        return {};
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto c = from_json(text.str(), ec, reason);
    if (ec)
        reason = path + ": " + reason;
    return c;
}

} // namespace nextprism

#endif
