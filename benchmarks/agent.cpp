// The agent's GET /metrics with 10,000 runs recorded (issue 21: at most
// 1 ms to render). The registry is the agent's own (examples/agent/), filled
// through its begin/finish as runs would; the stats object has the shape
// proxy_stats gives (3 endpoints with their pools, 2 cached placements).
#include "agent/admin_view.hpp"
#include "agent/run_registry.hpp"

#include <benchmark/benchmark.h>

namespace av = nextprism::agent;

namespace {

nlohmann::ordered_json three_endpoints()
{
    nlohmann::ordered_json s;
    s["executor"] = {{"runs", 10000}, {"attempts", 10400}, {"local", 0}, {"proxied", 10000},
                     {"fallbacks", 0}, {"retries", 400}, {"failures", 12}};
    s["runs"] = {{"in_flight", 0}, {"kept", 10000}, {"over_caller_cap", 0}};
    auto endpoints = nlohmann::ordered_json::array();
    for (const char* ep : {"10.0.1.2:2222", "10.0.1.3:2222", "10.0.1.4:2223"})
        endpoints.push_back({{"endpoint", ep}, {"breaker", "closed"}, {"since_s", 120.5}, {"consecutive_failures", 0},
                             {"pool", {{"connections", 2}, {"idle", 1}, {"busy", 1}, {"created", 4}, {"reused", 9996},
                                       {"handshakes", 4}, {"failed", 0}, {"commands", 3333}, {"bytes", 123456789},
                                       {"host_key", "SHA256:abc"}, {"last_error", ""}}}});
    s["endpoints"] = endpoints;
    auto cache = nlohmann::ordered_json::array();
    for (const char* service : {"nextcloud", "photoprism"})
        cache.push_back({{"service", service}, {"age_s", 3.2}, {"fresh", true},
                         {"proxies", nlohmann::ordered_json::array({"10.0.1.2:2222"})},
                         {"left_out", nlohmann::ordered_json::array()},
                         {"proxy_services", nlohmann::ordered_json::array()}});
    s["discovery"] = {{"source_lookups", 42}, {"cache", cache}};
    s["connections"] = {{"open", 3}, {"max", 256}, {"refused", 0}};
    return s;
}

void metrics_10000_runs(benchmark::State& state)
{
    av::run_registry runs(10000);
    const char* outcomes[] = {"succeeded", "exited", "timed_out", "cancelled"};
    for (int i = 0; i < 10000; ++i) {
        auto r = runs.begin({"app", "127.0.0.1:1", "nextcloud", "php occ files:scan", {"php", "occ", "files:scan"}});
        runs.finish(r, {{"outcome", outcomes[i % 4]}, {"duration_ms", 50.0 + i % 5000}});
    }
    const auto stats = three_endpoints();
    std::size_t bytes = 0;
    for (auto _ : state) {
        auto text = av::prometheus_text(stats, runs);
        bytes = text.size();
        benchmark::DoNotOptimize(text);
    }
    state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(metrics_10000_runs)->Unit(benchmark::kMicrosecond);

} // namespace
