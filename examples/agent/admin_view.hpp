#ifndef NEXTPRISM_EXAMPLES_AGENT_ADMIN_VIEW_HPP
#define NEXTPRISM_EXAMPLES_AGENT_ADMIN_VIEW_HPP

// What the agent says about itself: GET /admin/proxy-stats (JSON) and
// GET /metrics (Prometheus text format 0.0.4), both from one snapshot, so
// the two views cannot disagree. Every fact comes from the library: the
// executor's counters, its endpoint health, the transport's pool, the
// discovery cache; an assembly without a pool or a cache leaves those out.

#include "run_registry.hpp"

#include <nextprism/executor/executor.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <charconv>
#include <string>

namespace nextprism::agent {

inline const char* breaker_name(int s)
{
    switch (s) {
    case 0: return "closed";
    case 1: return "open";
    default: return "half_open";
    }
}

/// Seconds from `t` to now on the steady clock; null for "since it was first seen".
inline nlohmann::ordered_json seconds_since(std::chrono::steady_clock::time_point t)
{
    if (t == std::chrono::steady_clock::time_point{})
        return nullptr;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

template<class Executor>
nlohmann::ordered_json proxy_stats(Executor& e, const run_registry& runs)
{
    nlohmann::ordered_json j;
    const auto s = e.statistics();
    j["executor"] = {{"runs", s.runs},           {"attempts", s.attempts}, {"local", s.local},
                     {"proxied", s.proxied},     {"fallbacks", s.fallbacks}, {"retries", s.retries},
                     {"failures", s.failures}};
    j["runs"] = {{"in_flight", runs.in_flight()}, {"kept", runs.kept()}, {"over_caller_cap", runs.over_cap()}};
    auto endpoints = nlohmann::ordered_json::array();
    for (const auto& h : e.health().list()) {
        nlohmann::ordered_json ep;
        ep["endpoint"] = h.endpoint.to_string();
        ep["node_id"] = h.endpoint.node_id;
        ep["breaker"] = breaker_name(static_cast<int>(h.current));
        ep["since_s"] = seconds_since(h.since);
        ep["consecutive_failures"] = h.consecutive_failures;
        if constexpr (requires { e.transport().pool().statistics(e.transport().ssh_endpoint(h.endpoint)); }) {
            const auto p = e.transport().pool().statistics(e.transport().ssh_endpoint(h.endpoint));
            ep["pool"] = {{"connections", p.connections}, {"idle", p.idle},         {"busy", p.in_use},
                          {"created", p.created},         {"reused", p.reused},     {"handshakes", p.handshakes},
                          {"failed", p.failed},           {"commands", p.commands}, {"retried", p.retried},
                          {"bytes_sent", p.bytes_sent},   {"bytes_received", p.bytes_received},
                          {"host_key", p.host_key},       {"last_error", p.last_error}};
        }
        endpoints.push_back(std::move(ep));
    }
    j["endpoints"] = std::move(endpoints);
    if constexpr (requires { e.discovery().cache_entries(); }) {
        auto cache = nlohmann::ordered_json::array();
        for (const auto& c : e.discovery().cache_entries()) {
            nlohmann::ordered_json entry;
            entry["service"] = c.service;
            entry["age_s"] = std::chrono::duration<double>(c.age).count();
            entry["fresh"] = c.fresh;
            auto proxies = nlohmann::ordered_json::array();
            for (const auto& p : c.value.proxies)
                proxies.push_back({{"endpoint", p.to_string()}, {"node_id", p.node_id}});
            entry["proxies"] = std::move(proxies);
            auto left_out = nlohmann::ordered_json::array();
            for (const auto& [p, met] : c.value.left_out)
                left_out.push_back({{"endpoint", p.to_string()}, {"error", met.message()}});
            entry["left_out"] = std::move(left_out);
            entry["target_local"] = c.value.target_local ? nlohmann::ordered_json(*c.value.target_local) : nullptr;
            auto services = nlohmann::ordered_json::array();
            for (const auto& ps : c.value.proxy_services)
                services.push_back({{"name", ps.name},
                                    {"running", ps.running},
                                    {"desired", ps.desired ? nlohmann::ordered_json(*ps.desired) : nullptr}});
            entry["proxy_services"] = std::move(services);
            cache.push_back(std::move(entry));
        }
        j["discovery"] = {{"source_lookups", e.discovery().source_lookups()}, {"cache", std::move(cache)}};
    }
    return j;
}

namespace detail {

/// A label value escaped as the text format wants (\\, \", \n).
inline std::string label(std::string_view v)
{
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

/// The shortest text that reads back as `v` ("0.1", not "0.10000000000000001").
inline std::string number(double v)
{
    char b[64];
    const auto r = std::to_chars(b, b + sizeof b, v);
    return std::string(b, r.ptr);
}

} // namespace detail

/// The Prometheus text format of `stats` (proxy_stats) and the runs.
inline std::string prometheus_text(const nlohmann::ordered_json& stats, const run_registry& runs)
{
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
    };
    auto sample = [&](const std::string& name, const std::string& labels, double v) {
        out += name + (labels.empty() ? "" : "{" + labels + "}") + " " + detail::number(v) + "\n";
    };

    if (const auto c = stats.find("connections"); c != stats.end()) {
        family("nextprism_agent_connections_open", "gauge", "HTTP connections open now.");
        sample("nextprism_agent_connections_open", "", c->at("open").get<double>());
        family("nextprism_agent_connections_max", "gauge", "HTTP connections the agent serves at once (--max-connections).");
        sample("nextprism_agent_connections_max", "", c->at("max").get<double>());
        family("nextprism_agent_connections_refused_total", "counter",
               "Connections answered 503 because --max-connections were open.");
        sample("nextprism_agent_connections_refused_total", "", c->at("refused").get<double>());
    }
    family("nextprism_agent_runs_total", "counter", "Runs finished by the agent, by outcome.");
    for (const auto& o : tools::outcome_names())
        sample("nextprism_agent_runs_total", "outcome=\"" + o + "\"", static_cast<double>(runs.outcome_count(o)));
    family("nextprism_agent_runs_over_caller_cap_total", "counter",
           "Exec requests answered 429: their caller had --max-runs-per-caller in flight.");
    sample("nextprism_agent_runs_over_caller_cap_total", "", static_cast<double>(runs.over_cap()));
    family("nextprism_agent_runs_in_flight", "gauge", "Runs in flight now.");
    sample("nextprism_agent_runs_in_flight", "", static_cast<double>(runs.in_flight()));
    family("nextprism_agent_run_duration_seconds", "histogram", "Duration of finished runs.");
    for (std::size_t i = 0; i < duration_buckets.size(); ++i) // cumulative: a run counts in every bucket it fits
        sample("nextprism_agent_run_duration_seconds_bucket", "le=\"" + detail::number(duration_buckets[i]) + "\"",
               static_cast<double>(runs.bucket_counts()[i]));
    sample("nextprism_agent_run_duration_seconds_bucket", "le=\"+Inf\"", static_cast<double>(runs.duration_count()));
    sample("nextprism_agent_run_duration_seconds_sum", "", runs.duration_sum());
    sample("nextprism_agent_run_duration_seconds_count", "", static_cast<double>(runs.duration_count()));

    const auto& x = stats["executor"];
    family("nextprism_executor_runs_total", "counter", "Calls of the executor's async_run.");
    sample("nextprism_executor_runs_total", "", x["runs"].get<double>());
    family("nextprism_executor_attempts_total", "counter", "Attempts, by route kind.");
    sample("nextprism_executor_attempts_total", "route=\"local\"", x["local"].get<double>());
    sample("nextprism_executor_attempts_total", "route=\"proxy\"", x["proxied"].get<double>());
    family("nextprism_executor_retries_total", "counter", "Attempts after the first.");
    sample("nextprism_executor_retries_total", "", x["retries"].get<double>());
    family("nextprism_executor_fallbacks_total", "counter", "Local attempts made because no proxy was usable.");
    sample("nextprism_executor_fallbacks_total", "", x["fallbacks"].get<double>());
    family("nextprism_executor_failures_total", "counter", "Runs that ended with an error.");
    sample("nextprism_executor_failures_total", "", x["failures"].get<double>());

    const auto& eps = stats["endpoints"];
    family("nextprism_endpoint_breaker_state", "gauge", "1 for the state each proxy endpoint's breaker is in.");
    for (const auto& ep : eps)
        for (const char* st : {"closed", "open", "half_open"})
            sample("nextprism_endpoint_breaker_state",
                   "endpoint=\"" + detail::label(ep["endpoint"].get<std::string>()) + "\",state=\"" + st + "\"",
                   ep["breaker"] == st ? 1 : 0);
    family("nextprism_endpoint_consecutive_failures", "gauge", "Consecutive failures counted by the breaker.");
    for (const auto& ep : eps)
        sample("nextprism_endpoint_consecutive_failures",
               "endpoint=\"" + detail::label(ep["endpoint"].get<std::string>()) + "\"",
               ep["consecutive_failures"].get<double>());
    const auto pool_gauge = [&](const char* name, const char* key, const char* type, const char* help) {
        family(name, type, help);
        for (const auto& ep : eps)
            if (ep.contains("pool"))
                sample(name, "endpoint=\"" + detail::label(ep["endpoint"].get<std::string>()) + "\"",
                       ep["pool"][key].get<double>());
    };
    pool_gauge("nextprism_pool_connections", "connections", "gauge", "SSH connections open to the proxy.");
    pool_gauge("nextprism_pool_idle_connections", "idle", "gauge", "Open connections without a command.");
    pool_gauge("nextprism_pool_busy_channels", "busy", "gauge", "Channels running a command now.");
    pool_gauge("nextprism_pool_handshakes_total", "handshakes", "counter", "SSH handshakes started.");
    pool_gauge("nextprism_pool_failures_total", "failed", "counter", "Connection attempts or connections that failed.");
    pool_gauge("nextprism_pool_commands_total", "commands", "counter", "Commands started on the proxy.");
    if (stats.contains("discovery")) {
        family("nextprism_discovery_lookups_total", "counter", "Lookups the discovery source answered (cache misses).");
        sample("nextprism_discovery_lookups_total", "", stats["discovery"]["source_lookups"].get<double>());
        family("nextprism_discovery_cache_age_seconds", "gauge", "Age of each cached placement.");
        for (const auto& c : stats["discovery"]["cache"])
            sample("nextprism_discovery_cache_age_seconds",
                   "service=\"" + detail::label(c["service"].get<std::string>()) + "\"", c["age_s"].get<double>());
        family("nextprism_discovery_proxies", "gauge", "Proxies the cached placement offers, per service.");
        for (const auto& c : stats["discovery"]["cache"])
            sample("nextprism_discovery_proxies", "service=\"" + detail::label(c["service"].get<std::string>()) + "\"",
                   static_cast<double>(c["proxies"].size()));
    }
    return out;
}

} // namespace nextprism::agent

#endif
