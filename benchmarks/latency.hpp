// Per-command latencies and the run's wall and CPU time, published as
// Google Benchmark counters that benchmarks/report.py reads: p50_ms, p99_ms,
// max_ms, cmds_per_s, failures, connections, cpu_ms_per_cmd (this process,
// user + system, all threads: the client's own CPU per command).
// Failures are counted, not fatal (the burst row reports them).
// finish() is called from one thread at a time (the caller's or the pool's).
#ifndef NEXTPRISM_BENCHMARKS_LATENCY_HPP
#define NEXTPRISM_BENCHMARKS_LATENCY_HPP

#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

namespace bench {

class recorder
{
public:
    using clock_type = std::chrono::steady_clock;

    explicit recorder(int expected) { ms_.reserve(static_cast<std::size_t>(expected)); }

    void start()
    {
        ms_.clear();
        failures_ = 0;
        cpu0_ = cpu_seconds();
        t0_ = clock_type::now();
    }
    void stop()
    {
        t1_ = clock_type::now();
        cpu1_ = cpu_seconds();
    }
    void finish(clock_type::time_point started, bool ok)
    {
        ms_.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - started).count());
        if (!ok)
            ++failures_;
    }

    void publish(benchmark::State& state, double connections)
    {
        std::vector<double> v = ms_;
        std::sort(v.begin(), v.end());
        auto q = [&](double p) {
            if (v.empty())
                return 0.0;
            const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
            return v[std::min(i, v.size() - 1)];
        };
        const double wall = std::chrono::duration<double>(t1_ - t0_).count();
        const double n = static_cast<double>(v.size());
        state.counters["p50_ms"] = q(0.50);
        state.counters["p99_ms"] = q(0.99);
        state.counters["max_ms"] = v.empty() ? 0.0 : v.back();
        state.counters["cmds_per_s"] = wall > 0 ? n / wall : 0.0;
        state.counters["commands"] = n;
        state.counters["failures"] = static_cast<double>(failures_);
        state.counters["connections"] = connections;
        state.counters["cpu_ms_per_cmd"] = n > 0 ? (cpu1_ - cpu0_) * 1000.0 / n : 0.0;
        state.SetItemsProcessed(static_cast<std::int64_t>(n));
    }

private:
    static double cpu_seconds()
    {
        rusage u{};
        ::getrusage(RUSAGE_SELF, &u);
        return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
               static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    }

    std::vector<double> ms_;
    int failures_ = 0;
    double cpu0_ = 0, cpu1_ = 0;
    clock_type::time_point t0_, t1_;
};

} // namespace bench

#endif
