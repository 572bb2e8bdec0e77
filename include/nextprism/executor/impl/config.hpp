#ifndef NEXTPRISM_EXECUTOR_IMPL_CONFIG_HPP
#define NEXTPRISM_EXECUTOR_IMPL_CONFIG_HPP

#include <nextprism/detail/json.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

namespace nextprism {
namespace detail {

/// A configuration problem at a key path; caught by from_json.
struct config_error : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

/** Reads one JSON object of the configuration: each key is taken at most
    once, by type; `finish()` refuses the keys nobody asked for. */
class config_object
{
public:
    config_object(const nlohmann::json& j, std::string path) : json_(j), path_(std::move(path))
    {
        if (!json_.is_object())
            fail_at(path_.empty() ? "(top level)" : path_, "expected an object");
    }

    std::string key_path(std::string_view key) const
    {
        return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
    }

    [[noreturn]] static void fail_at(const std::string& where, const std::string& what)
    {
        throw config_error(where + ": " + what);
    }

    const nlohmann::json* find(std::string_view key)
    {
        seen_.insert(std::string(key));
        const auto it = json_.find(key);
        return it == json_.end() ? nullptr : &*it;
    }

    void read(std::string_view key, bool& out)
    {
        if (auto v = find(key)) {
            if (!v->is_boolean())
                fail_at(key_path(key), "expected true or false");
            out = v->get<bool>();
        }
    }

    void read(std::string_view key, std::string& out)
    {
        if (auto v = find(key)) {
            if (!v->is_string())
                fail_at(key_path(key), "expected a string");
            out = v->get<std::string>();
        }
    }

    template<class Int>
        requires std::is_integral_v<Int>
    void read(std::string_view key, Int& out, Int low = std::numeric_limits<Int>::min(),
              Int high = std::numeric_limits<Int>::max())
    {
        if (auto v = find(key)) {
            if (!v->is_number_integer())
                fail_at(key_path(key), "expected an integer");
            const auto n = v->get<std::int64_t>();
            if (n < static_cast<std::int64_t>(low) || static_cast<std::uint64_t>(n) > static_cast<std::uint64_t>(high) ||
                (n < 0 && std::is_unsigned_v<Int>))
                fail_at(key_path(key), "out of range [" + std::to_string(low) + ", " + std::to_string(high) + "]");
            out = static_cast<Int>(n);
        }
    }

    void read(std::string_view key, double& out, double low, double high)
    {
        if (auto v = find(key)) {
            if (!v->is_number())
                fail_at(key_path(key), "expected a number");
            const double d = v->get<double>();
            if (!(d >= low && d <= high))
                fail_at(key_path(key), "out of range");
            out = d;
        }
    }

    /// Milliseconds, 0 .. 30 days.
    void read(std::string_view key, std::chrono::milliseconds& out)
    {
        std::int64_t ms = out.count();
        read<std::int64_t>(key, ms, 0, std::int64_t(30) * 24 * 3600 * 1000);
        out = std::chrono::milliseconds(ms);
    }

    template<class Enum, std::size_t N>
    void read_enum(std::string_view key, Enum& out, const std::pair<const char*, Enum> (&names)[N])
    {
        if (auto v = find(key)) {
            std::string list;
            for (const auto& [name, value] : names) {
                if (v->is_string() && v->get<std::string>() == name) {
                    out = value;
                    return;
                }
                list += (list.empty() ? "" : ", ") + std::string(name);
            }
            fail_at(key_path(key), "expected one of " + list);
        }
    }

    void read(std::string_view key, std::map<std::string, std::string>& out)
    {
        if (auto v = find(key)) {
            config_object o(*v, key_path(key));
            for (const auto& [name, value] : v->items()) {
                if (!value.is_string())
                    fail_at(o.key_path(name), "expected a string");
                out[name] = value.get<std::string>();
            }
        }
    }

    void read(std::string_view key, target_names& out)
    {
        std::map<std::string, std::string> names;
        read(key, names);
        for (auto& [service, target] : names)
            out.set(service, std::move(target));
    }

    /// A nested object: `f(config_object&)`, then unknown keys are refused.
    template<class F>
    void nested(std::string_view key, F f)
    {
        if (auto v = find(key)) {
            config_object o(*v, key_path(key));
            f(o);
            o.finish();
        }
    }

    const nlohmann::json& json() const noexcept { return json_; }

    /// A key that used to live here: refused with where it went.
    void moved(std::string_view key, std::string_view to)
    {
        if (find(key))
            fail_at(key_path(key), "moved to " + std::string(to));
    }

    void finish() const
    {
        for (const auto& [key, value] : json_.items())
            if (!seen_.contains(key))
                fail_at(key_path(key), "unknown key");
    }

private:
    const nlohmann::json& json_;
    std::string path_;
    std::set<std::string> seen_;
};

/// "host:port" or "[v6]:port"; the port is required.
inline proxy_endpoint parse_proxy_endpoint(const std::string& text, const std::string& where)
{
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
        config_object::fail_at(where, "expected host:port, got \"" + text + "\"");
    std::string host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    std::uint16_t port = 0;
    const char* first = text.data() + colon + 1;
    const char* last = text.data() + text.size();
    const auto [end, perr] = std::from_chars(first, last, port);
    if (perr != std::errc{} || end != last || port == 0)
        config_object::fail_at(where, "invalid port in \"" + text + "\"");
    return {host, port, {}};
}

} // namespace detail

inline executor_config executor_config::from_json(std::string_view text, error_code& ec, std::string& reason)
{
    using detail::config_object;
    executor_config c;
    ec = {};
    reason.clear();
    const auto root = detail::parse_json(text, error::invalid_configuration, ec, reason);
    if (!root)
        return {};
    try {
        config_object top(*root, "");
        top.read_enum("swarm", c.mode,
                      {{"auto", swarm_mode::automatic}, {"on", swarm_mode::on}, {"off", swarm_mode::off}});
        top.read("prefer_local", c.prefer_local);
        if (auto v = top.find("docker_host")) {
            if (v->is_null()) {
                c.engine.reset();
            } else if (!v->is_string()) {
                config_object::fail_at("docker_host", "expected a string or null");
            } else {
                error_code aec;
                c.engine = docker::parse_engine_address(v->get<std::string>(), aec);
                if (aec)
                    config_object::fail_at("docker_host", "expected unix:///path or tcp://host:port");
            }
        }
        top.read("whitelist_file", c.whitelist_file);
        top.read("command_timeout_ms", c.command_timeout);
        top.read("targets", c.targets);

        std::uint16_t port = 22;
        top.nested("ssh", [&](config_object& o) {
            o.read("user", c.ssh_user);
            if (c.ssh_user.empty())
                config_object::fail_at("ssh.user", "must not be empty");
            o.read("private_key", c.pool.credentials.private_key_file);
            std::string passphrase_file;
            o.read("passphrase_file", passphrase_file);
            if (!passphrase_file.empty()) {
                std::ifstream in(passphrase_file);
                if (!in || !std::getline(in, c.pool.credentials.passphrase))
                    config_object::fail_at("ssh.passphrase_file", "cannot read " + passphrase_file);
            }
            o.read("known_hosts", c.pool.credentials.known_hosts_file);
            o.read("trust_on_first_use", c.pool.credentials.trust_on_first_use);
            o.read<std::uint16_t>("port", port, 1, 65535);
            o.read("connect_timeout_ms", c.pool.session.connect_timeout);
            o.read("keepalive_interval_ms", c.pool.session.keepalive_interval);
        });
        top.nested("pool", [&](config_object& o) {
            o.read<std::size_t>("max_connections_per_host", c.pool.max_connections_per_host, 1, 1000);
            o.read<std::size_t>("max_sessions", c.pool.max_sessions, 1, 1000);
            o.read<std::size_t>("max_concurrent_handshakes", c.pool.max_concurrent_handshakes, 1, 1000);
            o.read("idle_timeout_ms", c.pool.idle_timeout);
            o.read("queue_timeout_ms", c.pool.queue_timeout);
        });
        c.dns.port = port;
        c.swarm.default_port = port;
        top.nested("discovery", [&](config_object& o) {
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
            if (auto v = o.find("static")) {
                config_object s(*v, "discovery.static");
                for (const auto& [service, list] : v->items()) {
                    const std::string where = s.key_path(service);
                    if (!list.is_array())
                        config_object::fail_at(where, "expected an array of \"host:port\"");
                    auto& endpoints = c.static_list.endpoints[service];
                    for (std::size_t i = 0; i < list.size(); ++i) {
                        const std::string at = where + "[" + std::to_string(i) + "]";
                        if (!list[i].is_string())
                            config_object::fail_at(at, "expected \"host:port\"");
                        endpoints.push_back(detail::parse_proxy_endpoint(list[i].get<std::string>(), at));
                    }
                }
            }
            if (auto v = o.find("local_services")) {
                if (!v->is_array())
                    config_object::fail_at("discovery.local_services", "expected an array of strings");
                for (const auto& s : *v) {
                    if (!s.is_string())
                        config_object::fail_at("discovery.local_services", "expected an array of strings");
                    c.static_list.local_services.insert(s.get<std::string>());
                }
            }
        });
        top.nested("retry", [&](config_object& o) {
            o.read_enum("strategy", c.strategy,
                        {{"none", retry_strategy::none}, {"fixed", retry_strategy::fixed},
                         {"exponential", retry_strategy::exponential}});
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
                config_object::fail_at("retry.cap_ms", "must not be below retry.base_ms");
        });
        top.nested("breaker", [&](config_object& o) {
            o.read<std::size_t>("failure_threshold", c.breaker.failure_threshold, 1, 1000);
            o.read("open_ms", c.breaker.open_for);
            o.read<std::size_t>("half_open_probes", c.breaker.half_open_probes, 1, 1000);
        });
        top.finish();
        if (c.engine)
            c.swarm.engine = *c.engine;
        c.swarm.targets = c.targets;
    } catch (const detail::config_error& e) {
        ec = error::invalid_configuration;
        reason = e.what();
        return {};
    }
    return c;
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
