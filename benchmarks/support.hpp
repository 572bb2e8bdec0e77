// What the benchmarks share besides the recorder (latency.hpp): the
// environment run.sh sets, the "n commands one at a time" row, and memory
// readings from /proc (this process's RSS; the PSS of the processes an
// sshd listener forked for its connections). No Asio here: the floor loop
// includes it and is meant to be Asio-free (io_runner.hpp has the rest).
#ifndef NEXTPRISM_BENCHMARKS_SUPPORT_HPP
#define NEXTPRISM_BENCHMARKS_SUPPORT_HPP

#include "latency.hpp"

#include <benchmark/benchmark.h>

#include <dirent.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace bench {

/// A variable run.sh sets; without it (and without a fallback) the row
/// cannot run: say which, rather than fail later on an empty path.
inline std::string env(const char* name, const char* fallback = nullptr)
{
    if (const char* v = std::getenv(name))
        return v;
    if (fallback)
        return fallback;
    throw std::runtime_error(std::string(name) + " not set: use benchmarks/run.sh");
}

/// The row most benchmarks are: warm once untimed (connect, first-channel
/// delay), then n commands one at a time, each timed from its launch.
template<class RunOne>
void one_at_a_time(benchmark::State& state, int n, double connections, RunOne run_one)
{
    if (!run_one()) {
        state.SkipWithError("warm-up command failed");
        return;
    }
    recorder rec(n);
    for (auto _ : state) {
        rec.start();
        for (int i = 0; i < n; ++i) {
            const auto t0 = recorder::clock_type::now();
            rec.finish(t0, run_one());
        }
        rec.stop();
    }
    rec.publish(state, connections);
}

/// "Key:   123 kB" fields of a /proc status-like file, in kB (0: absent).
inline long proc_kb(const std::string& path, const std::string& key)
{
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.compare(0, key.size() + 1, key + ":") == 0)
            return std::strtol(line.c_str() + key.size() + 1, nullptr, 10);
    }
    return 0;
}

inline long self_rss_kb() { return proc_kb("/proc/self/status", "VmRSS"); }

/// Sum of Pss over every descendant of `listener` (not itself): what the
/// connections it accepted cost, shared pages split among their users.
inline long descendants_pss_kb(int listener)
{
    std::map<int, int> parent;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            const int pid = std::atoi(e->d_name);
            if (pid > 0)
                parent[pid] = static_cast<int>(proc_kb("/proc/" + std::string(e->d_name) + "/status", "PPid"));
        }
        ::closedir(d);
    }
    long sum = 0;
    for (const auto& [pid, ppid] : parent) {
        int p = ppid;
        while (p > 1 && p != listener) {
            const auto up = parent.find(p);
            p = up == parent.end() ? 0 : up->second;
        }
        if (p == listener)
            sum += proc_kb("/proc/" + std::to_string(pid) + "/smaps_rollup", "Pss");
    }
    return sum;
}

/// The bench sshd's listener (NEXTPRISM_SSHD_DIR/sshd.pid), 0 if unknown.
inline int sshd_listener()
{
    std::ifstream in(env("NEXTPRISM_SSHD_DIR") + "/sshd.pid");
    int pid = 0;
    in >> pid;
    return pid;
}

/// Memory counters of a row that opened `conns` connections, each with a
/// command run: this process's RSS and the sshd's per-connection PSS,
/// after minus before, per connection (report.py reads these names).
struct memory_probe
{
    long rss0 = self_rss_kb();
    // The split of VmRSS: anonymous (heap, stacks: what the process built)
    // and file-backed (library and binary pages first touched).
    long anon0 = proc_kb("/proc/self/status", "RssAnon");
    long file0 = proc_kb("/proc/self/status", "RssFile");
    int listener = sshd_listener();
    long sshd0 = listener > 0 ? descendants_pss_kb(listener) : 0;

    void publish(benchmark::State& state, double conns, double commands_failed) const
    {
        const long rss1 = self_rss_kb();
        const long sshd1 = listener > 0 ? descendants_pss_kb(listener) : 0;
        state.counters["rss_kb_before"] = static_cast<double>(rss0);
        state.counters["rss_kb_after"] = static_cast<double>(rss1);
        state.counters["rss_kb_per_conn"] = static_cast<double>(rss1 - rss0) / conns;
        state.counters["rss_anon_kb_per_conn"] =
            static_cast<double>(proc_kb("/proc/self/status", "RssAnon") - anon0) / conns;
        state.counters["rss_file_kb_per_conn"] =
            static_cast<double>(proc_kb("/proc/self/status", "RssFile") - file0) / conns;
        state.counters["sshd_pss_kb_per_conn"] = static_cast<double>(sshd1 - sshd0) / conns;
        state.counters["connections"] = conns;
        state.counters["failures"] = commands_failed;
    }
};

} // namespace bench

#endif
