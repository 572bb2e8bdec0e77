// The validator's own cost per command: the whitelist load it does at start-up
// and the parse + check of one command string. Both must stay far below the
// ~2 ms a validator process costs to start.
#include <nextprism/whitelist.hpp>

#include <benchmark/benchmark.h>

static void load_builtin_whitelist(benchmark::State& state)
{
    for (auto _ : state) {
        nextprism::error_code ec;
        std::string reason;
        auto p = nextprism::whitelist::from_json(
            nextprism::whitelist::builtin_json(), ec, reason);
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(load_builtin_whitelist);

#ifdef NEXTPRISM_BENCH_WHITELIST_TABLE
#include "default_whitelist_table.hpp"

// What the proxy's binaries do instead: the same rules from constants
// (proxy/whitelist_table.cpp), no parse.
static void compiled_builtin_whitelist(benchmark::State& state)
{
    for (auto _ : state) {
        auto p = nextprism::whitelist_table::builtin();
        benchmark::DoNotOptimize(p);
    }
}
BENCHMARK(compiled_builtin_whitelist);
#endif

static void check_command(benchmark::State& state, const char* service, const char* text)
{
    const auto& rules = nextprism::whitelist::builtin();
    for (auto _ : state) {
        auto d = rules.check_command(service, text);
        benchmark::DoNotOptimize(d);
    }
}
BENCHMARK_CAPTURE(check_command, files_scan_path, "nextcloud",
                  "php occ files:scan '--path=/alice/files/My Photos/2024'");
BENCHMARK_CAPTURE(check_command, memories_index, "nextcloud",
                  "php occ memories:index --user=alice --folder=/Photos --force");
BENCHMARK_CAPTURE(check_command, refused_injection, "nextcloud",
                  "php occ files:scan alice; rm -rf /");

static void format_command(benchmark::State& state)
{
    const std::vector<std::string> argv{"php", "occ", "files:scan", "--path=/alice/files/My Photos"};
    for (auto _ : state) {
        auto s = nextprism::format_command(argv);
        benchmark::DoNotOptimize(s);
    }
}
BENCHMARK(format_command);
