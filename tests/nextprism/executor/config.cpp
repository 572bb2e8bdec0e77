#include <nextprism/executor/config.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>

using namespace nextprism;
using namespace std::chrono_literals;

namespace {

std::string refusal(const std::string& text)
{
    error_code ec;
    std::string reason;
    (void)executor_config::from_json(text, ec, reason);
    CHECK(ec == error::invalid_configuration);
    return reason;
}

} // namespace

TEST_CASE("executor config: every key read, defaults kept for the rest")
{
    error_code ec;
    std::string reason;
    const auto c = executor_config::from_json(R"({
        "swarm": "on", "prefer_local": false, "docker_host": "unix:///run/d.sock",
        "whitelist_file": "/etc/nextprism/whitelist.json", "command_timeout_ms": 3600000,
        "targets": {"nextcloud": "cloud_app"},
        "ssh": {"user": "np", "private_key": "/run/secrets/key", "known_hosts": "/etc/kh",
                "trust_on_first_use": true, "port": 2200, "connect_timeout_ms": 5000,
                "keepalive_interval_ms": 1000},
        "pool": {"max_connections_per_host": 2, "max_sessions": 4, "max_concurrent_handshakes": 1,
                 "idle_timeout_ms": 1000, "queue_timeout_ms": 2000},
        "discovery": {"ttl_ms": 10000, "negative_ttl_ms": 750,
                      "health_check": "banner", "health_timeout_ms": 500, "label": "x.target",
                      "port_label": "x.port", "watch_events": false, "dns_name": "tasks.{service}-p",
                      "static": {"nextcloud": ["10.0.0.1:2222", "[fd00::1]:22"]},
                      "local_services": ["photoprism"]},
        "retry": {"strategy": "fixed", "delay_ms": 50, "base_ms": 100, "multiplier": 3,
                  "cap_ms": 1000, "max_attempts": 4, "jitter": "decorrelated"},
        "breaker": {"failure_threshold": 2, "open_ms": 5000, "half_open_probes": 2}
    })",
                                              ec, reason);
    INFO(reason);
    REQUIRE_FALSE(ec);
    CHECK(c.mode == swarm_mode::on);
    CHECK_FALSE(c.prefer_local);
    REQUIRE(c.engine);
    CHECK(c.engine->path == "/run/d.sock");
    CHECK(c.swarm.engine.path == "/run/d.sock");
    CHECK(c.command_timeout == 3600s);
    CHECK(c.swarm.targets.of("nextcloud") == "cloud_app");
    CHECK(c.ssh_user == "np");
    CHECK(c.pool.credentials.private_key_file == "/run/secrets/key");
    CHECK(c.pool.credentials.trust_on_first_use);
    CHECK(c.swarm.default_port == 2200);
    CHECK(c.dns.port == 2200);
    CHECK(c.pool.session.connect_timeout == 5000ms);
    CHECK(c.pool.max_sessions == 4);
    CHECK(c.discovery.ttl == 10s);
    CHECK(c.discovery.negative_ttl == 750ms);
    CHECK(c.discovery.health == health_check::banner);
    CHECK(c.swarm.target_label == "x.target");
    CHECK_FALSE(c.swarm.watch_events);
    CHECK(c.dns.name_pattern == "tasks.{service}-p");
    REQUIRE(c.static_list.endpoints.at("nextcloud").size() == 2);
    CHECK(c.static_list.endpoints.at("nextcloud")[1].host == "fd00::1");
    CHECK(c.static_list.endpoints.at("nextcloud")[1].port == 22);
    CHECK(c.static_list.local_services.contains("photoprism"));
    CHECK(c.strategy == executor_config::retry_strategy::fixed);
    CHECK(c.fixed.delay == 50ms);
    CHECK(c.fixed.max_attempts == 4);
    CHECK(c.backoff.multiplier == 3.0);
    CHECK(c.backoff.kind == jitter::decorrelated);
    CHECK(c.breaker.failure_threshold == 2);
    CHECK(c.breaker.open_for == 5s);

    const auto d = executor_config::from_json("{}", ec, reason);
    REQUIRE_FALSE(ec);
    CHECK(d.mode == swarm_mode::automatic);
    CHECK(d.discovery.ttl == 60s);
    CHECK(d.discovery.negative_ttl == 2s);
    CHECK(d.breaker.failure_threshold == 3);
    CHECK(d.breaker.open_for == 30s);
    // The proxy's port, where discovery gives none (dns, a service without
    // the port label): the image's sshd listens on 2222, not ssh's 22.
    CHECK(d.dns.port == 2222);
    CHECK(d.swarm.default_port == 2222);
    // The executor gets the breaker keys: one place for every assembly.
    CHECK(c.executor_options(default_whitelist()).breaker.half_open_probes == 2);
    CHECK(executor_config::from_json(R"({"docker_host": null})", ec, reason).engine == std::nullopt);
}

TEST_CASE("executor config: errors name the key")
{
    CHECK(refusal(R"({"swarm": "maybe"})") == "swarm: expected one of auto, on, off");
    CHECK(refusal(R"({"colour": 1})") == "colour: unknown key");
    CHECK(refusal(R"({"ssh": {"prot": 22}})") == "ssh.prot: unknown key");
    CHECK(refusal(R"({"ssh": {"port": 70000}})") == "ssh.port: out of range [1, 65535]");
    CHECK(refusal(R"({"ssh": {"port": "22"}})") == "ssh.port: expected an integer");
    CHECK(refusal(R"({"ssh": {"user": ""}})") == "ssh.user: must not be empty");
    CHECK(refusal(R"({"pool": {"max_sessions": 0}})") == "pool.max_sessions: out of range [1, 1000]");
    CHECK(refusal(R"({"retry": {"jitter": "some"}})") ==
          "retry.jitter: expected one of none, full, equal, decorrelated");
    CHECK(refusal(R"({"retry": {"base_ms": 500, "cap_ms": 100}})") == "retry.cap_ms: must not be below retry.base_ms");
    CHECK(refusal(R"({"retry": {"multiplier": 0.5}})") == "retry.multiplier: out of range");
    CHECK(refusal(R"({"discovery": {"static": {"nextcloud": ["nohost"]}}})") ==
          "discovery.static.nextcloud[0]: expected host:port, got \"nohost\"");
    CHECK(refusal(R"({"discovery": {"static": {"nextcloud": "a:1"}}})") ==
          "discovery.static.nextcloud: expected an array of \"host:port\"");
    CHECK(refusal(R"({"discovery": {"health_check": true}})") ==
          "discovery.health_check: expected one of none, tcp, banner");
    CHECK(refusal(R"({"docker_host": "http://x"})") == "docker_host: expected unix:///path or tcp://host:port");
    CHECK(refusal(R"({"discovery": {"failure_threshold": 3}})") ==
          "discovery.failure_threshold: moved to breaker.failure_threshold");
    CHECK(refusal(R"({"discovery": {"negative_ttl_ms": -5}})") == "discovery.negative_ttl_ms: out of range [0, 2592000000]");
    CHECK(refusal(R"({"breaker": {"open_ms": -1}})") == "breaker.open_ms: out of range [0, 2592000000]");
    CHECK(refusal(R"({"targets": {"nextcloud": 1}})") == "targets.nextcloud: expected a string");
    CHECK(refusal(R"({"ssh": {"passphrase_file": "/nonexistent/pass"}})") ==
          "ssh.passphrase_file: cannot read /nonexistent/pass");
    CHECK(refusal(R"([1])") == "(top level): expected an object");
    CHECK(refusal(R"({"ssh": 1})") == "ssh: expected an object");
    CHECK(refusal(R"({"command_timeouts_ms": {"php occ status": "1m"}})") ==
          "command_timeouts_ms.php occ status: expected an integer");
    CHECK(refusal(R"({"command_timeouts_ms": [1]})") == "command_timeouts_ms: expected an object");
    CHECK(refusal(R"({"swarm": "on",})").find("line 1, column 16") != std::string::npos);
}

TEST_CASE("executor config: timeouts per whitelist rule, a key replacing the default's entry")
{
    error_code ec;
    std::string reason;
    // The defaults fit the commands: status a minute, scans and imports hours.
    const auto d = executor_config::from_json("{}", ec, reason);
    REQUIRE_FALSE(ec);
    CHECK(d.command_timeouts.at("php occ status") == 60s);
    CHECK(d.command_timeouts.at("photoprism status") == 60s);
    CHECK(d.command_timeouts.at("php occ files:scan") == 4h);
    CHECK(d.command_timeouts.at("photoprism index") == 4h);
    CHECK(d.command_timeout == 0ms);
    const auto c = executor_config::from_json(
        R"({"command_timeout_ms": 600000, "command_timeouts_ms": {"php occ files:scan": 86400000, "photoprism index": 0}})",
        ec, reason);
    REQUIRE_FALSE(ec);
    CHECK(c.command_timeouts.at("php occ files:scan") == 24h);
    // command_timeout_ms given: meant for every command, the built-in entries go.
    CHECK(c.command_timeouts.count("php occ status") == 0);
    // What the executor is given: a rule's own, 0 for "none", else the fallback.
    const auto o = c.executor_options(default_whitelist());
    CHECK(o.timeout_for("php occ files:scan") == 24h);
    CHECK(o.timeout_for("photoprism index") == 0ms);
    CHECK(o.timeout_for("php occ status") == 600s);
    CHECK(o.timeout_for("php occ maintenance:repair") == 600s);
    // Only command_timeouts_ms: the built-in entries it does not name stay.
    const auto m = executor_config::from_json(R"({"command_timeouts_ms": {"photoprism index": 60000}})", ec, reason);
    REQUIRE_FALSE(ec);
    CHECK(m.command_timeouts.at("photoprism index") == 60s);
    CHECK(m.command_timeouts.at("php occ files:scan") == 4h);
    CHECK(m.executor_options(default_whitelist()).timeout_for("php occ maintenance:repair") == 0ms);
}

TEST_CASE("executor config errors: one key-path format, as in whitelist files")
{
    // Object keys joined by '.', array elements as [i], no root name.
    CHECK(refusal(R"({"discovery": {"static": {"nextcloud": ["10.0.0.1:22", "10.0.0.2:0"]}}})") ==
          "discovery.static.nextcloud[1]: invalid port in \"10.0.0.2:0\"");
    CHECK(refusal(R"({"discovery": {"static": {"nextcloud": ["10.0.0.1:22", 7]}}})") ==
          "discovery.static.nextcloud[1]: expected \"host:port\"");
    CHECK(refusal(R"({"discovery": {"local_services": ["photoprism", 7]}})") ==
          "discovery.local_services: expected an array of strings");
}

TEST_CASE("executor config: from a file; a missing file names the path")
{
    error_code ec;
    std::string reason;
    (void)executor_config::from_file("/nonexistent/nextprism.json", ec, reason);
    CHECK(ec == error::invalid_configuration);
    CHECK(reason == "/nonexistent/nextprism.json: cannot be read");

    const std::string path = NEXTPRISM_BINARY_DIR "/executor_config_test.json";
    std::ofstream(path) << R"({"swarm": "off", "retry": {"strategy": "x"}})";
    (void)executor_config::from_file(path, ec, reason);
    CHECK(reason == path + ": retry.strategy: expected one of none, fixed, exponential");
    std::ofstream(path) << R"({"swarm": "off"})";
    const auto c = executor_config::from_file(path, ec, reason);
    CHECK_FALSE(ec);
    CHECK(c.mode == swarm_mode::off);
    std::remove(path.c_str());
}

TEST_CASE("executor config: retry.strategy selects the strategy the executor uses")
{
    error_code ec;
    std::string reason;
    auto none = executor_config::from_json(R"({"retry": {"strategy": "none"}})", ec, reason);
    REQUIRE_FALSE(ec);
    auto p = none.retry().start(1);
    CHECK_FALSE(p.next_delay(1)); // "none" never waits and never tries again
    CHECK(std::holds_alternative<no_retry>(none.retry().strategy()));

    auto fixed = executor_config::from_json(
        R"({"retry": {"strategy": "fixed", "delay_ms": 70, "max_attempts": 3, "jitter": "full"}})", ec, reason);
    REQUIRE_FALSE(ec);
    auto f = fixed.retry().start(1);
    CHECK(f.next_delay(1) == 70ms);
    CHECK(f.next_delay(2) == 70ms);
    CHECK_FALSE(f.next_delay(3));

    auto exponential = executor_config::from_json(
        R"({"retry": {"strategy": "exponential", "base_ms": 100, "jitter": "none", "max_attempts": 3}})", ec,
        reason);
    REQUIRE_FALSE(ec);
    auto e = exponential.retry().start(1);
    CHECK(e.next_delay(1) == 100ms);
    CHECK(e.next_delay(2) == 200ms);
    CHECK_FALSE(e.next_delay(3));
}
