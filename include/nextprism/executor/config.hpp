#ifndef NEXTPRISM_EXECUTOR_CONFIG_HPP
#define NEXTPRISM_EXECUTOR_CONFIG_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/discovery.hpp>
#include <nextprism/target_names.hpp>
#include <nextprism/docker/engine_address.hpp>
#include <nextprism/error.hpp>
#include <nextprism/retry.hpp>
#include <nextprism/ssh/pool.hpp>
#include <nextprism/swarm_executor.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace nextprism {

/** Everything an executor assembly is built from, read from one JSON file.

    Every key is optional; an unknown key, a wrong type or a value out of
    range is an error that names the key's path ("retry.jitter: expected
    one of none, full, equal, decorrelated"). The schema, with defaults:

        {
          "swarm": "auto",               // auto | on | off
          "prefer_local": true,
          "docker_host": "unix:///var/run/docker.sock",  // or null: no local engine
          "whitelist_file": "",             // empty: the compiled-in whitelist
          "command_timeout_ms": 0,       // a request without a timeout, of a rule not below (0: none);
                                         // when given, the built-in entries below are dropped
          "command_timeouts_ms": {"php occ status": 60000, "photoprism status": 60000,
                                  "php occ files:scan": 14400000, "php occ memories:index": 14400000,
                                  "photoprism index": 14400000, "photoprism import": 14400000},
                                         // per whitelist rule; a key replaces the built-in entry
          "targets": {"nextcloud": "cloud_app"},         // service → its Swarm service/container
          "ssh": {"user": "nextprism", "private_key": "", "passphrase_file": "",
                  "known_hosts": "", "trust_on_first_use": false, "port": 2222,
                  "connect_timeout_ms": 10000, "keepalive_interval_ms": 15000},
          "pool": {"max_connections_per_host": 5, "max_sessions": 8,
                   "max_concurrent_handshakes": 4, "idle_timeout_ms": 300000,
                   "queue_timeout_ms": 30000},
          "discovery": {"ttl_ms": 60000, "health_check": "tcp", "health_timeout_ms": 2000, "negative_ttl_ms": 2000,
                        "label": "io.nextprism.proxy.target",
                        "port_label": "io.nextprism.proxy.port", "watch_events": true,
                        "dns_name": "tasks.{service}-proxy",
                        "static": {"nextcloud": ["10.0.0.5:2222"]}, "local_services": []},
          "retry": {"strategy": "exponential", "delay_ms": 1000, "base_ms": 500,
                    "multiplier": 2.0, "cap_ms": 10000, "max_attempts": 8, "jitter": "equal"},
          "breaker": {"failure_threshold": 3, "open_ms": 30000, "half_open_probes": 1}
        }

    The passphrase is read from `passphrase_file` (a Docker secret), never
    written in the configuration itself.
*/
struct executor_config
{
    static std::map<std::string, std::chrono::milliseconds, std::less<>> default_command_timeouts()
    {
        using std::chrono::hours, std::chrono::minutes;
        return {{"php occ status", minutes(1)},     {"photoprism status", minutes(1)},
                {"php occ files:scan", hours(4)},   {"php occ memories:index", hours(4)},
                {"photoprism index", hours(4)},     {"photoprism import", hours(4)}};
    }

    swarm_mode mode = swarm_mode::automatic;
    bool prefer_local = true;
    std::optional<docker::engine_address> engine = docker::engine_address{};
    std::string whitelist_file;
    std::chrono::milliseconds command_timeout{0};
    /// Per whitelist rule: status a minute; scans and imports 4 hours, the
    /// proxy's own deadline (a real files:scan of a large instance takes an
    /// hour or more).
    std::map<std::string, std::chrono::milliseconds, std::less<>> command_timeouts = default_command_timeouts();
    target_names targets;

    std::string ssh_user = "nextprism";
    ssh_pool_options pool;
    discovery_options discovery;
    swarm_label_source::options swarm;
    dns_source::options dns;
    static_list_source::options static_list;

    enum class retry_strategy { none, fixed, exponential };
    retry_strategy strategy = retry_strategy::exponential;
    fixed_retry fixed;
    exponential_backoff backoff;
    breaker_options breaker;

    /** Parses and validates. On failure `ec` is
        `error::invalid_configuration` and `reason` names the key (or the
        line and column of a JSON syntax error). */
    static executor_config from_json(std::string_view text, error_code& ec, std::string& reason);
    static executor_config from_file(const std::string& path, error_code& ec, std::string& reason);

    /// The strategy `retry.strategy` chose, as a value (the settings of
    /// the others are kept but unused).
    any_retry retry() const
    {
        switch (strategy) {
        case retry_strategy::none: return no_retry{};
        case retry_strategy::fixed: return fixed;
        case retry_strategy::exponential: return backoff;
        }
        return backoff;
    }

    swarm_executor_options executor_options(std::shared_ptr<const whitelist> rules) const
    {
        return {mode, prefer_local, command_timeout, command_timeouts, std::move(rules), breaker};
    }
};

} // namespace nextprism

#include <nextprism/executor/impl/config.hpp>

#endif
