// nextprism-exec: run one whitelisted command through a nextprism proxy.
//
//   nextprism-exec --proxy HOST:PORT --user USER --key FILE --known-hosts FILE
//                  [--timeout DURATION] [--trust-on-first-use] [--trust-exit-status]
//                  <nextcloud|photoprism> <argv...>      (--help: options, exit table)
//
// Streams the command's output and exits with its exit status; a command
// that exits 0 but prints one of its service's failure lines (the default
// whitelist's failure_lines: PhotoPrism's level=error, occ's "Unknown user")
// exits 1 and the lines are repeated on stderr, unless --trust-exit-status. The argv is
// sent as the wire-format command string (no shell anywhere); the proxy
// decides. Exit 255 for connection, host key and authentication problems,
// with a message naming the host key.
#include <nextprism/failure_lines.hpp>
#include <nextprism/ssh/pool.hpp>
#include <nextprism/wire/exit_status.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/tools/command_line.hpp>
#include <nextprism/tools/fd_io.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>
#include <string_view>
#include <unistd.h>

using nextprism::tools::write_all;

int main(int argc, char** argv)
{
    nextprism::ssh::endpoint ep;
    nextprism::ssh_pool_options options;
    std::chrono::milliseconds timeout{0};
    bool trust_exit_status = false;
    bool proxy_given = false;
    namespace tools = nextprism::tools;
    tools::command_line cli({
        .program = "nextprism-exec",
        .synopsis = "--proxy HOST:PORT --user USER --key FILE --known-hosts FILE [OPTIONS] SERVICE ARGV...",
        .summary = "Runs one whitelisted command through a nextprism proxy and streams its output.\n"
                   "The argv travels as the wire-format command string (no shell anywhere); the proxy decides.",
        .exits = {{"0-254", "the command's own exit status (1: it exited 0 but printed one of its\n"
                            "service's failure lines, unless --trust-exit-status)"},
                  {"64", "usage: a bad command line (this tool) or a misconfigured proxy"},
                  {"65", "refused: not on the proxy's whitelist"},
                  {"66", "busy: a single-flight command already runs there"},
                  {"69", "no running target container on the proxy's node"},
                  {"124", "timed out: stopped at the deadline"},
                  {"255", "connection, host key or authentication failure; killed by a signal"}},
        .notes = "SERVICE: nextcloud or photoprism.",
    });
    cli.option("--proxy", "HOST:PORT", "the proxy's address", [&](std::string_view v) {
           const auto hp = tools::parse_host_port(v);
           if (!hp)
               return "'" + std::string(v) + "' is not HOST:PORT with a port from 1 to 65535";
           ep.host = hp->host;
           ep.port = hp->port;
           proxy_given = true;
           return std::string();
       })
        .option("--user", "USER", "the proxy's SSH account", ep.user)
        .option("--key", "FILE", "the client's private key", options.credentials.private_key_file)
        .option("--known-hosts", "FILE", "the proxies' host keys", options.credentials.known_hosts_file)
        .duration("--timeout", "DURATION", "stop the command after this long (90, 1500ms, 10m, 4h; 0: none)",
                  timeout, std::chrono::hours(24 * 7))
        .flag("--trust-on-first-use", "accept and record an unknown host key", options.credentials.trust_on_first_use)
        .flag("--trust-exit-status", "pass the command's exit status as it is", trust_exit_status);
    const auto operands = cli.parse(argc, argv);
    if (!proxy_given)
        cli.usage_error("--proxy is required");
    if (options.credentials.private_key_file.empty() || options.credentials.known_hosts_file.empty())
        cli.usage_error("--key and --known-hosts are required");
    if (operands.size() < 2)
        cli.usage_error("need a service and a command");
    const std::string service = operands[0];
    if (service != "nextcloud" && service != "photoprism")
        cli.usage_error("service must be nextcloud or photoprism, not '" + service + "'");
    std::vector<std::string> command(operands.begin() + 1, operands.end());

    const auto* rules = nextprism::whitelist::builtin().find_service(service);
    nextprism::failure_scanner failures;
    if (rules && !trust_exit_status)
        failures = nextprism::failure_scanner(rules->failures);

    boost::asio::io_context io;
    nextprism::ssh_pool pool(io.get_executor(), options);
    int status = 255;
    // The proxy's start line is not the command's output: taken out.
    nextprism::proxy_stderr proxy_err;
    const auto pass = [&failures](std::string_view data) {
        failures.feed(nextprism::output_stream::err, data);
        write_all(2, data);
    };
    pool.async_run(
        ep, command,
        [&](nextprism::output_stream s, std::string_view data) {
            if (s == nextprism::output_stream::err)
                return proxy_err.feed(data, pass);
            failures.feed(s, data);
            write_all(1, data);
        },
        timeout,
        [&](nextprism::error_code ec, nextprism::command_result r) {
            proxy_err.finish(pass);
            if (!ec) {
                failures.finish();
                r.failure_lines = failures.lines();
                for (const auto& line : r.failure_lines)
                    std::cerr << "nextprism-exec: the command reported a failure: " << line << '\n';
                status = nextprism::caller_exit_status(r);
                if (r.exit_signal) {
                    std::cerr << "nextprism-exec: killed by signal " << *r.exit_signal << '\n';
                    status = 255;
                }
            } else {
                const auto stats = pool.statistics(ep);
                std::string where = "[" + ep.host + "]:" + std::to_string(ep.port);
                if (ec == nextprism::error::host_key_unknown || ec == nextprism::error::host_key_mismatch)
                    std::cerr << "nextprism-exec: " << ec.message() << ": host " << where
                              << " presented " << stats.host_key << " (known_hosts: "
                              << options.credentials.known_hosts_file << ")\n";
                else if (ec == nextprism::error::unrepresentable)
                    std::cerr << "nextprism-exec: an argument contains a single quote, which the "
                                 "command grammar cannot carry\n";
                else
                    std::cerr << "nextprism-exec: " << ep.to_string() << ": " << ec.message() << '\n';
                status = ec == nextprism::error::timeout ? 124 : 255;
            }
            pool.close_idle();
        });
    io.run();
    return status;
}
