// nextprism-run: one host program, three executors assembled from
// policies at compile time, configured from one JSON file.
//
//   nextprism-run [-v] [--trust-exit-status] CONFIG.json swarm|static|dns|direct SERVICE ARGV...
//   (--help: options and exit table)
//
// -v: how the command was routed, on stderr.
// A command that exits 0 but prints one of its service's failure lines
// (PhotoPrism's level=error, occ's "Unknown user") exits 1, the lines
// repeated on stderr; --trust-exit-status passes the exit status as is.
// swarm:  SSH pool + Swarm labels + the configured retry (every assembly has a
//         breaker per proxy endpoint, the breaker keys)
// static: SSH pool + static proxy list + the configured retry (retry.strategy)
// dns:    SSH pool + DNS names (Swarm's tasks.<service>-proxy on an overlay:
//         a caller on a worker, no manager API) + the configured retry
// direct: the local engine only
// Streams the command's output; exits with its status (70: no result).
#include <nextprism/executor/config.hpp>
#include <nextprism/tools/command_line.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <unistd.h>

using namespace nextprism;

// --- the three assemblies: each a few lines -------------------------------

swarm_executor make_swarm(net::any_io_executor ex, const executor_config& c,
                          std::shared_ptr<const whitelist> p)
{
    return {ex,
            ssh_proxy_transport(ex, c.pool, c.ssh_user),
            swarm_labels(ex, c.discovery, c.swarm),
            c.retry(),
            direct_transport(ex, *c.engine, {.targets = c.targets, .output_gate = {}, .client = {}}),
            c.executor_options(std::move(p))};
}

static_executor make_static(net::any_io_executor ex, const executor_config& c,
                          std::shared_ptr<const whitelist> p)
{
    std::optional<direct_transport> local;
    if (c.engine)
        local.emplace(ex, *c.engine, direct_transport::options{.targets = c.targets, .output_gate = {}, .client = {}});
    return {ex, ssh_proxy_transport(ex, c.pool, c.ssh_user), static_list(ex, c.discovery, c.static_list),
            c.retry(), std::move(local), c.executor_options(std::move(p))};
}


dns_executor make_dns(net::any_io_executor ex, const executor_config& c, std::shared_ptr<const whitelist> p)
{
    std::optional<direct_transport> local;
    if (c.engine)
        local.emplace(ex, *c.engine, direct_transport::options{.targets = c.targets, .output_gate = {}, .client = {}});
    return {ex, ssh_proxy_transport(ex, c.pool, c.ssh_user), dns_discovery(ex, c.discovery, c.dns),
            c.retry(), std::move(local), c.executor_options(std::move(p))};
}

direct_executor make_direct(net::any_io_executor ex, const executor_config& c,
                          std::shared_ptr<const whitelist> p)
{
    return {ex, no_proxy(ex), local_only_discovery(ex), no_retry{},
            direct_transport(ex, *c.engine, {.targets = c.targets, .output_gate = {}, .client = {}}), c.executor_options(std::move(p))};
}

// --- the program ----------------------------------------------------------

namespace {

[[noreturn]] void fail(const std::string& what, int code)
{
    std::cerr << "nextprism-run: " << what << "\n";
    std::exit(code);
}

bool verbose = false;
bool trust_exit_status = false;

template<class Assembly, class Make>
int run(Make make, const executor_config& c, std::shared_ptr<const whitelist> p, command_request request)
{
    blocking_executor<Assembly> executor([&](net::any_io_executor ex) { return make(ex, c, p); });
    const auto outcome = executor.run(std::move(request), [](output_stream s, std::string_view d) {
        const int fd = s == output_stream::out ? STDOUT_FILENO : STDERR_FILENO;
        while (!d.empty()) {
            const auto n = ::write(fd, d.data(), d.size());
            if (n <= 0)
                return;
            d.remove_prefix(static_cast<std::size_t>(n));
        }
    });
    if (verbose) {
        const auto st = executor.assembly().statistics();
        std::cerr << "nextprism-run: attempts " << st.attempts << ", through a proxy " << st.proxied
                  << ", local " << st.local << " (fallbacks " << st.fallbacks << ")\n";
    }
    if (outcome.ec == condition::rejected) // with the rule, as the proxy gives it
        fail("refused: " + (outcome.result.reason.empty() ? outcome.ec.message() : outcome.result.reason), 65);
    if (outcome.ec) // and, after retries, what the attempts met, and where a proxy started it
        fail(outcome.ec.message() + (outcome.result.reason.empty() ? "" : " (" + outcome.result.reason + ")") +
                 (outcome.result.started_in.empty() ? "" : "; it was started in " + outcome.result.started_in),
             70);
    for (const auto& line : outcome.result.failure_lines)
        std::cerr << "nextprism-run: the command reported a failure: " << line << "\n";
    return caller_exit_status(outcome.result);
}

} // namespace

int main(int argc, char** argv)
{
    namespace tools = nextprism::tools;
    tools::command_line cli({
        .program = "nextprism-run",
        .synopsis = "[OPTIONS] CONFIG.json swarm|static|dns|direct SERVICE ARGV...",
        .summary = "One host program, four executors assembled from policies at compile time,\n"
                   "configured from one JSON file (docs/configuration.md).",
        .exits = {{"0-255", "the command's own exit status (1: it exited 0 but printed one of its\n"
                            "service's failure lines, unless --trust-exit-status)"},
                  {"64", "usage: a bad command line"},
                  {"65", "refused by the whitelist (with the rule)"},
                  {"70", "no result: what the attempts met, and where a proxy started it"},
                  {"78", "the configuration or the whitelist file is wrong (with its key path)"}},
        .notes = "swarm:  SSH pool + Swarm labels; static: SSH pool + the configured proxy list;\n"
                 "dns:    SSH pool + tasks.<service>-proxy names; direct: the local engine only.",
    });
    cli.flag("-v, --verbose", "how the command was routed, on stderr", verbose)
        .flag("--trust-exit-status", "pass the command's exit status as it is", trust_exit_status);
    const auto operands = cli.parse(argc, argv);
    if (operands.size() < 4)
        cli.usage_error("need CONFIG.json, an executor, a service and a command");
    error_code ec;
    std::string reason;
    const auto config = executor_config::from_file(operands[0], ec, reason);
    if (ec)
        fail(reason, 78);
    std::shared_ptr<const whitelist> rules = default_whitelist();
    if (!config.whitelist_file.empty()) {
        std::ifstream in(config.whitelist_file);
        std::string text((std::istreambuf_iterator<char>(in)), {});
        rules = std::make_shared<const whitelist>(whitelist::from_json(text, ec, reason));
        if (!in || ec)
            fail(config.whitelist_file + ": " + (in ? reason : "cannot be read"), 78);
    }
    const std::string& kind = operands[1];
    if (kind != "static" && kind != "dns" && !config.engine)
        fail(kind + " needs docker_host in the configuration", 78);
    // No timeout here: the executor takes the configuration's, per whitelist rule.
    command_request request{operands[2], std::vector<std::string>(operands.begin() + 3, operands.end()), {}};
    request.detect_failures = !trust_exit_status;
    if (kind == "swarm")
        return run<swarm_executor>(make_swarm, config, rules, std::move(request));
    if (kind == "static")
        return run<static_executor>(make_static, config, rules, std::move(request));
    if (kind == "dns")
        return run<dns_executor>(make_dns, config, rules, std::move(request));
    if (kind == "direct")
        return run<direct_executor>(make_direct, config, rules, std::move(request));
    cli.usage_error("unknown executor '" + kind + "': swarm, static, dns or direct");
}
