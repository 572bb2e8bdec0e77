// Discovery: what a lookup costs, from a warm cache to the engine.
//
//   map_find_copy        the baseline of a hit: std::unordered_map::find of
//                        the same key and a copy of the same placement
//   cache_fresh          the placement cache's hit alone (the data structure)
//   cached_locate        basic_cached_discovery::async_locate on a warm
//                        entry, completion run on this thread (what the
//                        executor pays per command once the cache is warm)
//   engine_round_trip    one GET /_ping on the client's kept connection:
//                        the unit an engine lookup is counted in
//   swarm_labels_uncached swarm_label_source::async_lookup, identity kept
//                        (every cache miss after the first)
//   swarm_labels_first   the same on a new source each time: /_ping and
//                        /info on a new connection first
//   getaddrinfo_direct   the baseline of dns_lookup: glibc's getaddrinfo of
//                        the same name and port on this thread, no Asio
//   dns_lookup           dns_source on a name /etc/hosts answers (Swarm's
//                        resolver only answers inside an overlay network)
//
// The engine rows need DOCKER_HOST (a Swarm manager) and a target service
// with a proxy service labelled io.nextprism.proxy.target=<service>:
// NEXTPRISM_BENCH_SERVICE (default nextcloud) and NEXTPRISM_BENCH_TARGET
// (its Swarm service; default: the same name). benchmarks/run.sh sets them.
// Counters: requests and connections per lookup (the client's own count),
// proxies found (a lookup that finds none is reported as an error).
#include "support.hpp"

#include <nextprism/discovery/dns.hpp>
#include <nextprism/discovery/static_list.hpp>
#include <nextprism/discovery/swarm_labels.hpp>

#include <benchmark/benchmark.h>
#include <boost/asio/io_context.hpp>

#include <netdb.h>
#include <sys/socket.h>

#include <thread>
#include <unordered_map>


namespace {

namespace net = boost::asio;
using namespace nextprism;

/// Runs `start(handler)` to completion on `io`, on this thread.
template<class T, class Start>
std::pair<error_code, T> run_here(net::io_context& io, Start start)
{
    std::pair<error_code, T> out;
    start([&](error_code ec, T v) { out = {ec, std::move(v)}; });
    io.restart();
    io.run();
    return out;
}

placement two_proxies()
{
    placement p;
    p.proxies = {{"10.0.0.2", 22, "node-b"}, {"10.0.0.3", 22, "node-c"}};
    return p;
}

// What any hit must do at least: find the key, copy the value out (a
// caller keeps its placement past the next store).
void map_find_copy(benchmark::State& state)
{
    std::unordered_map<std::string, placement> map{{"nextcloud", two_proxies()}};
    const std::string key = "nextcloud";
    for (auto _ : state) {
        const auto it = map.find(key);
        std::optional<placement> out;
        if (it != map.end())
            out = it->second;
        benchmark::DoNotOptimize(out);
    }
}
BENCHMARK(map_find_copy);

void cache_fresh(benchmark::State& state)
{
    placement_cache cache;
    const placement p = two_proxies();
    const auto now = std::chrono::steady_clock::now();
    cache.store("nextcloud", p, now);
    for (auto _ : state)
        benchmark::DoNotOptimize(cache.fresh("nextcloud", now));
}
BENCHMARK(cache_fresh);

void cached_locate(benchmark::State& state)
{
    net::io_context io;
    static_list_source::options o;
    o.endpoints["nextcloud"] = {{"10.0.0.2", 22, "node-b"}, {"10.0.0.3", 22, "node-c"}};
    discovery_options d;
    d.health = health_check::none;
    static_list discovery(io.get_executor(), d, o);
    auto locate = [&] {
        return run_here<placement>(io, [&](auto h) { discovery.async_locate("nextcloud", std::move(h)); });
    };
    locate(); // warm
    for (auto _ : state) {
        auto [ec, p] = locate();
        if (ec || p.proxies.size() != 2) {
            state.SkipWithError("the cached lookup failed");
            break;
        }
    }
    state.counters["source_lookups"] = static_cast<double>(discovery.source_lookups());
}
BENCHMARK(cached_locate);

docker::engine_address engine_from_env()
{
    error_code ec;
    auto a = docker::parse_engine_address(bench::env("DOCKER_HOST", "unix:///var/run/docker.sock"), ec);
    if (ec)
        throw std::runtime_error("DOCKER_HOST does not parse");
    return a;
}

swarm_label_source::options label_options()
{
    swarm_label_source::options o;
    o.engine = engine_from_env();
    const std::string service = bench::env("NEXTPRISM_BENCH_SERVICE", "nextcloud");
    o.targets.set(service, bench::env("NEXTPRISM_BENCH_TARGET", service.c_str()));
    o.watch_events = false;
    return o;
}

void engine_round_trip(benchmark::State& state)
{
    net::io_context io;
    docker::client c(io.get_executor(), engine_from_env());
    auto ping = [&] {
        return run_here<docker::client::response>(io, [&](auto h) {
            c.async_request(boost::beast::http::verb::get, "/_ping", {}, std::move(h));
        });
    };
    ping(); // negotiated, connection kept
    const auto before = c.stats();
    for (auto _ : state) {
        auto [ec, res] = ping();
        if (ec || res.result_int() != 200) {
            state.SkipWithError(("GET /_ping failed: " + ec.message()).c_str());
            break;
        }
    }
    const auto after = c.stats();
    const double n = static_cast<double>(state.iterations());
    state.counters["requests_per_op"] = static_cast<double>(after.requests - before.requests) / n;
    state.counters["connections_per_op"] = static_cast<double>(after.connections - before.connections) / n;
}
BENCHMARK(engine_round_trip)->Unit(benchmark::kMicrosecond);

/// Untimed: until the deployment answers with a proxy (a test before this
/// one may have left the proxy's task restarting), at most 60 s.
template<class Lookup>
void wait_for_proxies(Lookup lookup)
{
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until) {
        auto [ec, p] = lookup();
        if (!ec && !p.proxies.empty())
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
}

template<class Lookup>
void count_lookups(benchmark::State& state, Lookup lookup, const docker::client::statistics& before,
                   std::function<docker::client::statistics()> now)
{
    std::size_t proxies = 0;
    for (auto _ : state) {
        auto [ec, p] = lookup();
        if (ec || p.proxies.empty()) {
            state.SkipWithError(ec ? ("the lookup failed: " + ec.message()).c_str()
                                   : "the lookup found no proxy (is the stack deployed?)");
            break;
        }
        proxies = p.proxies.size();
    }
    const auto after = now();
    const double n = static_cast<double>(state.iterations());
    state.counters["requests_per_op"] = static_cast<double>(after.requests - before.requests) / n;
    state.counters["connections_per_op"] = static_cast<double>(after.connections - before.connections) / n;
    state.counters["proxies"] = static_cast<double>(proxies);
}

void swarm_labels_uncached(benchmark::State& state)
{
    net::io_context io;
    const auto opts = label_options();
    const std::string service = opts.targets.entries().begin()->first;
    swarm_label_source source(io.get_executor(), opts);
    auto lookup = [&] {
        return run_here<placement>(io, [&](auto h) { source.async_lookup(service, std::move(h)); });
    };
    wait_for_proxies(lookup); // and the identity and the kept connection
    count_lookups(state, lookup, source.engine().stats(), [&] { return source.engine().stats(); });
}
BENCHMARK(swarm_labels_uncached)->Unit(benchmark::kMicrosecond);

void swarm_labels_first(benchmark::State& state)
{
    net::io_context io;
    const auto opts = label_options();
    const std::string service = opts.targets.entries().begin()->first;
    docker::client::statistics total;
    {
        swarm_label_source settle(io.get_executor(), opts);
        wait_for_proxies([&] {
            return run_here<placement>(io, [&](auto h) { settle.async_lookup(service, std::move(h)); });
        });
    }
    auto lookup = [&] {
        swarm_label_source source(io.get_executor(), opts);
        auto r = run_here<placement>(io, [&](auto h) { source.async_lookup(service, std::move(h)); });
        total.requests += source.engine().stats().requests;
        total.connections += source.engine().stats().connections;
        return r;
    };
    count_lookups(state, lookup, docker::client::statistics{}, [&] { return total; });
}
BENCHMARK(swarm_labels_first)->Unit(benchmark::kMicrosecond);

// The resolver dns_source's Asio resolver ends in, called directly.
void getaddrinfo_direct(benchmark::State& state)
{
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG; // Asio's default resolver flags
    for (auto _ : state) {
        addrinfo* res = nullptr;
        if (::getaddrinfo("localhost", "22", &hints, &res) != 0 || !res) {
            state.SkipWithError("localhost did not resolve");
            break;
        }
        ::freeaddrinfo(res);
    }
}
BENCHMARK(getaddrinfo_direct)->Unit(benchmark::kMicrosecond);

void dns_lookup(benchmark::State& state)
{
    net::io_context io;
    dns_source::options o;
    o.name_pattern = "localhost"; // /etc/hosts, through glibc's NSS
    dns_source source(io.get_executor(), o);
    for (auto _ : state) {
        auto [ec, p] = run_here<placement>(io, [&](auto h) { source.async_lookup("nextcloud", std::move(h)); });
        if (ec || p.proxies.empty()) {
            state.SkipWithError("localhost did not resolve");
            break;
        }
    }
}
BENCHMARK(dns_lookup)->Unit(benchmark::kMicrosecond);

} // namespace
