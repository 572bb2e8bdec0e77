// nextprism: the one command line, in the docker CLI's manner.
//
//   nextprism exec [OPTIONS] SERVICE -- ARGV...              run through the Swarm-aware executor
//   nextprism check [--whitelist FILE] SERVICE -- ARGV...    what would run, or the rule that refuses
//   nextprism whitelist print|check [FILE]                   the whitelist (default: the compiled one)
//   nextprism proxies [--config FILE]                        what discovery finds
//
// `nextprism COMMAND --help` for each. The command's output streams as it
// arrives and its exit status passes through; the tool's own failures have
// their own table (below) and always come with one "nextprism: OUTCOME: …"
// line on stderr, so that a status alone is never read as the command's.
#include <nextprism/executor/config.hpp>
#include <nextprism/progress.hpp>
#include <nextprism/swarm_executor.hpp>
#include <nextprism/tools/assembly.hpp>
#include <nextprism/tools/command_line.hpp>
#include <nextprism/tools/fd_io.hpp>
#include <nextprism/tools/outcome.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <unistd.h>

using namespace nextprism;
namespace tools = nextprism::tools;
using tools::load_config;
using tools::load_whitelist;
using tools::write_all;

namespace {

// ---- the tool's own exits ------------------------------------------------------

namespace tool_exit = tools::tool_exit;

const std::vector<tools::exit_row> exec_exits = {
    {"0-255", "the command's own exit status (1: it exited 0 but printed one of its\n"
              "service's failure lines, unless --trust-exit-status)"},
    {"64", "usage: a bad command line"},
    {"65", "refused by the whitelist (outcome refused), with the rule"},
    {"69", "unreachable: no usable proxy, no route, target not found (what each proxy met)"},
    {"70", "failed: another error; nothing is known to have run"},
    {"78", "the configuration or the whitelist file is wrong (with its key path)"},
    {"124", "timed out: the deadline passed and the command was stopped"},
    {"125", "may have run: the outcome is unknown, or a stop failed; check before repeating"},
    {"130", "cancelled (Ctrl-C, SIGTERM): the command was stopped in the target"},
};

using tools::outcome_of;

[[noreturn]] void fail(std::string_view outcome, const std::string& what, int status)
{
    std::cerr << "nextprism: " << outcome << ": " << what << "\n";
    std::exit(status);
}

std::string joined(const std::vector<std::string>& v)
{
    std::string s;
    for (const auto& a : v)
        s += (s.empty() ? "" : " ") + a;
    return s;
}

/// Splits "SERVICE [--] ARGV..." (the `--` is optional, as docker's).
std::pair<std::string, std::vector<std::string>> service_and_argv(tools::command_line& cli,
                                                                  std::vector<std::string> operands)
{
    if (operands.empty())
        cli.usage_error("need a service and a command");
    std::string service = operands.front();
    operands.erase(operands.begin());
    if (!operands.empty() && operands.front() == "--")
        operands.erase(operands.begin());
    if (operands.empty())
        cli.usage_error("need a command after the service");
    return {std::move(service), std::move(operands)};
}

// ---- exec ------------------------------------------------------------------------

struct exec_options
{
    std::string config;
    tools::via via = tools::via::automatic;
    std::chrono::milliseconds timeout{0};
    bool json = false, json_stream = false, quiet = false, verbose = false, trust_exit_status = false;
};

/// The status line on a terminal: one line, redrawn in place.
class status_line
{
public:
    explicit status_line(bool on) : on_(on) {}

    void clear()
    {
        if (on_ && shown_)
            write_all(STDERR_FILENO, "\r\x1b[K");
        shown_ = false;
    }

    void draw(const progress& p, std::chrono::steady_clock::duration elapsed)
    {
        if (!on_)
            return;
        const double s = std::chrono::duration<double>(elapsed).count();
        char line[160];
        std::snprintf(line, sizeof line, "\r\x1b[K%llu files, %llu folders, %02d:%02d elapsed, %.1f files/s",
                      static_cast<unsigned long long>(p.files), static_cast<unsigned long long>(p.folders),
                      static_cast<int>(s) / 60, static_cast<int>(s) % 60, s > 0 ? p.files / s : 0.0);
        write_all(STDERR_FILENO, line);
        shown_ = true;
    }

private:
    bool on_;
    bool shown_ = false;
};

template<class Assembly>
int run_exec(Assembly& executor, net::io_context& io, const exec_options& o, command_request request)
{
    using clock = std::chrono::steady_clock;
    const auto started = clock::now();
    const bool events = o.json_stream;
    // Progress only where a person reads it: a terminal, and not asked off.
    status_line status(!o.quiet && !o.json && !events && ::isatty(STDERR_FILENO) == 1);
    progress_scanner scanner;
    bool at_line_start = true;
    auto event = [](nlohmann::ordered_json j) {
        write_all(STDOUT_FILENO, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    };
    output_handler out = [&](output_stream s, std::string_view data) {
        const bool moved = scanner.feed(s, data);
        if (events) {
            event({{"event", s == output_stream::out ? "stdout" : "stderr"}, {"data", data}});
            if (moved)
                event({{"event", "progress"},
                       {"files", scanner.current().files},
                       {"folders", scanner.current().folders},
                       {"last", scanner.current().last}});
            return;
        }
        status.clear();
        // --json: stdout is the JSON object; the command's output goes to stderr.
        write_all(s == output_stream::out && !o.json ? STDOUT_FILENO : STDERR_FILENO, data);
        at_line_start = !data.empty() && data.back() == '\n';
        if (at_line_start)
            status.draw(scanner.current(), clock::now() - started);
    };

    std::optional<std::pair<error_code, command_result>> done;
    net::cancellation_signal cancel;
    net::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](error_code ec, int) {
        if (ec)
            return;
        status.clear();
        std::cerr << "nextprism: stopping the command in the target...\n";
        cancel.emit(net::cancellation_type::terminal);
    });
    net::steady_timer tick(io);
    std::function<void()> every_second = [&] {
        tick.expires_after(std::chrono::seconds(1));
        tick.async_wait([&](error_code ec) {
            if (ec || done)
                return;
            if (at_line_start && scanner.current().files + scanner.current().folders > 0)
                status.draw(scanner.current(), clock::now() - started);
            every_second();
        });
    };
    every_second();
    const std::string service = request.service;
    const std::vector<std::string> argv = request.argv;
    // Where each attempt started it, before its output: an event in the
    // stream, a line with -v (a retried run may start it more than once).
    auto on_started = [&](const start_report& at) {
        if (o.json_stream) {
            event({{"event", "started"}, {"route", at.route}, {"started_in", at.label()}});
        } else if (o.verbose) {
            status.clear();
            std::cerr << "nextprism: started "
                      << (at.route == "local" ? "on the local engine" : "through proxy " + at.route) << " in "
                      << at.label() << "\n";
        }
    };
    executor.async_run(std::move(request), out, on_started,
                       net::bind_cancellation_slot(cancel.slot(), [&](error_code ec, command_result r) {
                           done.emplace(ec, std::move(r));
                           signals.cancel();
                           tick.cancel();
                       }));
    tools::run_until(io, [&] { return done.has_value(); });
    status.clear();
    if (!done) // the loop ran out of work without an answer: a bug, said as one
        fail("failed", "the executor never answered", tool_exit::failed);
    auto& [ec, result] = *done;
    const auto outcome = outcome_of(ec, result);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started).count();

    if (o.verbose)
        for (std::size_t i = 0; i < result.attempts.size(); ++i) {
            const auto& a = result.attempts[i];
            std::cerr << "nextprism: attempt " << i + 1 << ": "
                      << (a.route.empty() ? "no route" : a.route == "local" ? "the local engine" : "proxy " + a.route)
                      << ": " << (a.ec ? a.ec.message() : "ran") << "\n";
        }
    if (ec)
        std::cerr << "nextprism: " << outcome.name << ": "
                  << (ec == condition::rejected && !result.reason.empty()
                          ? result.reason
                          : describe_failure(service, ec, result))
                  << "\n";
    else if (!o.json && !events)
        for (const auto& line : result.failure_lines)
            std::cerr << "nextprism: the command reported a failure: " << line << "\n";
    if (o.json || events) {
        nlohmann::ordered_json j;
        if (events)
            j["event"] = "finished";
        j.update(tools::run_summary(service, argv, ec, result, scanner.current(),
                                    std::chrono::milliseconds(ms)));
        event(std::move(j));
    }
    return outcome.status;
}

int exec_command(int argc, char** argv)
{
    exec_options o;
    tools::command_line cli({
        .program = "nextprism exec",
        .synopsis = "[OPTIONS] SERVICE [--] ARGV...",
        .summary = "Runs a whitelisted command in SERVICE's container, wherever in the Swarm it runs:\n"
                   "through the local engine when the target is here, else through the proxy on its node.",
        .exits = exec_exits,
        .notes = "Output streams as it arrives. On a terminal a long scan shows files, folders,\n"
                 "elapsed time and rate on one status line (from occ's -v entries and PhotoPrism's\n"
                 "index log lines); never in a pipe. Every failure of the tool itself prints one\n"
                 "\"nextprism: OUTCOME: ...\" line naming what failed where.",
    });
    cli.option("--config", "FILE", "the executor configuration (JSON); default: built-in defaults", o.config,
               "NEXTPRISM_CONFIG")
        .option("--via", "ROUTE", "auto (default), direct (local engine only) or proxy (proxies only)",
                [&](std::string_view v) { return tools::parse_via(v, o.via); })
        .duration("--timeout", "DUR", "bound the whole run, retries included (e.g. 30s, 4h)", o.timeout,
                  std::chrono::hours(24 * 7))
        .flag("--json", "one JSON object at the end on stdout (the command's output goes to stderr)", o.json)
        .flag("--json-stream", "NDJSON events on stdout: stdout, stderr, progress, finished", o.json_stream)
        .flag("-q, --quiet", "no progress line", o.quiet)
        .flag("-v, --verbose", "each attempt: where it went and what it met", o.verbose)
        .flag("--trust-exit-status", "pass the command's exit status as it is (no failure-line check)",
              o.trust_exit_status);
    auto [service, args] = service_and_argv(cli, cli.parse(argc, argv));
    if (o.json && o.json_stream)
        cli.usage_error("--json and --json-stream exclude each other");
    auto config = load_config(o.config);
    auto rules = load_whitelist(config.whitelist_file);
    // No --timeout: the configuration's, per whitelist rule (the executor decides).
    command_request request{service, std::move(args), o.timeout};
    request.detect_failures = !o.trust_exit_status;

    net::io_context io;
    return tools::with_executor(config, rules, io.get_executor(), o.via,
                                [&](auto& executor) { return run_exec(executor, io, o, std::move(request)); });
}

// ---- check -------------------------------------------------------------------------

int check_command(int argc, char** argv)
{
    std::string whitelist_file;
    tools::command_line cli({
        .program = "nextprism check",
        .synopsis = "[--whitelist FILE] SERVICE [--] ARGV...",
        .summary = "Prints the whitelist's decision: what would run in the container, or the rule that refuses.",
        .exits = {{"0", "allowed"}, {"64", "usage"}, {"65", "refused (the rule on stderr)"},
                  {"78", "the whitelist file is wrong"}},
        .notes = {},
    });
    cli.option("--whitelist", "FILE", "a whitelist file instead of the compiled whitelist",
               [&](std::string_view v) { whitelist_file = v; return std::string(); });
    auto [service, args] = service_and_argv(cli, cli.parse(argc, argv));
    const auto rules = load_whitelist(whitelist_file);
    const auto d = rules->check(service, args);
    if (!d)
        fail("refused", d.reason.empty() ? d.ec.message() : d.reason, tool_exit::refused);
    const auto& c = d.command;
    std::cout << "allowed by rule \"" << c.rule << "\"\n"
              << "  runs:          " << joined(c.exec_argv) << "\n"
              << "  as user:       "
              << (c.exec_user_from ? "from the target: " + describe(*c.exec_user_from)
                                   : c.exec_user.value_or("(the container's)"))
              << "\n"
              << "  in directory:  " << c.working_dir.value_or("(the image's)") << "\n"
              << "  single-flight: " << (c.single_flight ? "yes" : "no") << "\n"
              << "  idempotent:    " << (c.idempotent ? "yes (retried after an unknown outcome)" : "no") << "\n";
    return 0;
}

// ---- whitelist ------------------------------------------------------------------------

int whitelist_command(int argc, char** argv)
{
    tools::command_line cli({
        .program = "nextprism whitelist",
        .synopsis = "print [FILE]\ncheck FILE",
        .summary = "print: the rules of FILE (default: the compiled whitelist), one line each.\n"
                   "check: loads FILE as the proxy does; the first error with its key path.",
        .exits = {{"0", "the whitelist loads"}, {"64", "usage"}, {"78", "it does not (the key path on stderr)"}},
        .notes = {},
    });
    const auto operands = cli.parse(argc, argv);
    if (operands.empty() || (operands[0] != "print" && operands[0] != "check"))
        cli.usage_error("need print or check");
    if (operands[0] == "check" && operands.size() != 2)
        cli.usage_error("check needs one FILE");
    if (operands.size() > 2)
        cli.usage_error("unexpected argument " + operands[2]);
    const std::string file = operands.size() == 2 ? operands[1] : "";
    const auto rules = load_whitelist(file);
    std::size_t commands = 0;
    for (const auto& s : rules->services()) {
        for (const auto& r : s.commands) {
            ++commands;
            if (operands[0] == "print")
                std::cout << s.name << "\t" << r.name() << (r.single_flight ? "\tsingle-flight" : "") << "\n";
        }
    }
    if (operands[0] == "check")
        std::cout << file << ": " << commands << " commands for " << rules->services().size() << " services\n";
    return 0;
}

// ---- proxies -----------------------------------------------------------------------

int proxies_command(int argc, char** argv)
{
    std::string config_file;
    tools::command_line cli({
        .program = "nextprism proxies",
        .synopsis = "[--config FILE]",
        .summary = "Lists, per whitelisted service, where discovery finds the target and its proxies, and\n"
                   "whether each proxy's port accepts a connection now (a TCP connect, 2 s).",
        .exits = {{"0", "listed"}, {"69", "discovery failed for every service"}, {"78", "configuration"}},
        .notes = {},
        .operands_allowed = false,
    });
    cli.option("--config", "FILE", "the executor configuration (JSON)", config_file, "NEXTPRISM_CONFIG");
    cli.parse(argc, argv);
    const auto config = load_config(config_file);
    const auto rules = load_whitelist(config.whitelist_file);
    net::io_context io;
    auto ex = io.get_executor();
    auto locate = [&](auto& discovery, const std::string& service) {
        std::optional<std::pair<error_code, placement>> r;
        discovery.async_locate(service, [&](error_code ec, placement p) { r.emplace(ec, std::move(p)); });
        tools::run_until(io, [&] { return r.has_value(); });
        return r.value_or(std::pair<error_code, placement>{error::internal_error, {}});
    };
    auto probe = [&](const proxy_endpoint& ep) -> std::string {
        error_code rec;
        const auto address = net::ip::make_address(ep.host, rec); // discovery gives addresses, never names
        if (rec)
            return "not an address: " + ep.host;
        net::ip::tcp::socket s(io);
        net::steady_timer timer(io, std::chrono::seconds(2));
        std::optional<error_code> result;
        bool timer_done = false, timed_out = false;
        s.async_connect({address, ep.port}, [&](error_code ec) {
            result = ec;
            timer.cancel();
        });
        timer.async_wait([&](error_code ec) {
            timer_done = true;
            if (!ec) {
                timed_out = true;
                s.close();
            }
        });
        tools::run_until(io, [&] { return result && timer_done; });
        return timed_out ? "no answer in 2 s" : *result ? result->message() : "port open";
    };
    auto list = [&](auto& discovery) {
        int failures = 0;
        std::cout << "SERVICE\tTARGET HERE\tPROXY\tNODE\tPORT\n";
        for (const auto& s : rules->services()) {
            auto [ec, p] = locate(discovery, s.name);
            if (ec) {
                ++failures;
                std::cout << s.name << "\t-\t-\t-\tdiscovery failed: " << ec.message() << "\n";
                continue;
            }
            const std::string here = !p.target_local ? "unknown" : *p.target_local ? "yes" : "no";
            if (p.proxies.empty())
                std::cout << s.name << "\t" << here << "\t(none)\t-\t-\n";
            for (const auto& ep : p.proxies)
                std::cout << s.name << "\t" << here << "\t" << ep.to_string() << "\t"
                          << (ep.node_id.empty() ? "-" : ep.node_id.substr(0, 12)) << "\t" << probe(ep) << "\n";
            for (const auto& [ep, met] : p.left_out) // the health check's rejects, with what it met
                std::cout << s.name << "\t" << here << "\t" << ep.to_string() << "\t"
                          << (ep.node_id.empty() ? "-" : ep.node_id.substr(0, 12)) << "\t" << met.message() << "\n";
            for (const auto& ps : p.proxy_services)
                std::cout << "  proxy service " << ps.name << ": " << ps.running << " running"
                          << (ps.desired ? " of " + std::to_string(*ps.desired) : " (global)") << "\n";
        }
        return failures == static_cast<int>(rules->services().size()) ? tool_exit::unreachable : 0;
    };
    if (!config.static_list.endpoints.empty()) {
        static_list d(ex, config.discovery, config.static_list);
        return list(d);
    }
    if (!config.engine) { // as with_executor: Swarm's DNS names of the proxies
        dns_discovery d(ex, config.discovery, config.dns);
        return list(d);
    }
    swarm_labels d(ex, config.discovery, config.swarm);
    return list(d);
}

const char* const overview = "usage: nextprism COMMAND [OPTIONS] ...\n"
                             "\n"
                             "Runs whitelisted maintenance commands (Nextcloud occ, PhotoPrism) in containers\n"
                             "anywhere in a Docker Swarm.\n"
                             "\n"
                             "Commands:\n"
                             "  exec      run a command where its service runs\n"
                             "  check     print what the whitelist makes of a command\n"
                             "  whitelist print or check a whitelist file (also spelt 'policy')\n"
                             "  proxies   list what discovery finds, and whether the proxies answer\n"
                             "\n"
                             "\n"
                             "Exit status:\n"
                             "  0     --help, --version\n"
                             "  64    usage: no command, or an unknown one\n"
                             "  other the command's own table ('nextprism exec --help': its exits)\n"
                             "\n"
                             "Run 'nextprism COMMAND --help' for a command's options and exit statuses.\n";

} // namespace

int main(int argc, char** argv)
{
    const std::string_view command = argc > 1 ? argv[1] : "";
    if (command == "--help" || command == "-h" || command == "help") {
        std::fputs(overview, stdout);
        return 0;
    }
    if (command == "--version") {
        std::cout << "nextprism " << tools::version << "\n";
        return 0;
    }
    // Each command parses its own options from argv[1] on ("exec" as its argv[0]).
    try {
        if (command == "exec")
            return exec_command(argc - 1, argv + 1);
        if (command == "check")
            return check_command(argc - 1, argv + 1);
        // "policy": the operator's word for the file, kept as a second spelling.
        if (command == "whitelist" || command == "policy")
            return whitelist_command(argc - 1, argv + 1);
        if (command == "proxies")
            return proxies_command(argc - 1, argv + 1);
    } catch (const tools::config_error& e) {
        fail("configuration", e.what(), tool_exit::config);
    }
    // One line, as every binary's usage errors (tools/command_line.hpp).
    std::cerr << "nextprism: "
              << (command.empty()            ? std::string("need a command")
                  : command.starts_with('-') ? "unknown option " + std::string(command)
                                             : "unknown command " + std::string(command))
              << " (see --help)\n";
    return tools::exit_status::usage;
}
