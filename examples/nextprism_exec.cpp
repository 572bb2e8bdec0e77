// nextprism-exec: run one whitelisted command through a nextprism proxy.
//
//   nextprism-exec --proxy HOST:PORT --user USER --key FILE --known-hosts FILE
//                  [--timeout SECONDS] [--trust-on-first-use] [--trust-exit-status]
//                  <nextcloud|photoprism> <argv...>
//
// Streams the command's output and exits with its exit status; a command
// that exits 0 but prints one of its service's failure lines (the default
// policy's failure_lines: PhotoPrism's level=error, occ's "Unknown user")
// exits 1 and the lines are repeated on stderr, unless --trust-exit-status. The argv is
// sent as the wire-format command string (no shell anywhere); the proxy
// decides. Exit 255 for connection, host key and authentication problems,
// with a message naming the host key.
#include <nextprism/failure_lines.hpp>
#include <nextprism/ssh/pool.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>
#include <string_view>
#include <unistd.h>

namespace {

[[noreturn]] void usage(const std::string& why)
{
    std::cerr << "nextprism-exec: " << why << "\n"
              << "usage: nextprism-exec --proxy HOST:PORT --user USER --key FILE --known-hosts FILE\n"
              << "                      [--timeout SECONDS] [--trust-on-first-use] [--trust-exit-status]\n"
              << "                      <nextcloud|photoprism> <argv...>\n";
    std::exit(2);
}

void write_all(int fd, std::string_view data)
{
    while (!data.empty()) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n <= 0)
            return;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

} // namespace

int main(int argc, char** argv)
{
    nextprism::ssh::endpoint ep;
    nextprism::ssh_pool_options options;
    std::chrono::milliseconds timeout{0};
    bool trust_exit_status = false;
    int i = 1;
    for (; i < argc && std::string_view(argv[i]).starts_with("--"); ++i) {
        const std::string_view flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(std::string(flag) + " needs a value");
            return argv[++i];
        };
        if (flag == "--proxy") {
            const std::string v = value();
            const auto colon = v.rfind(':');
            if (colon == std::string::npos)
                usage("--proxy takes HOST:PORT");
            ep.host = v.substr(0, colon);
            ep.port = static_cast<std::uint16_t>(std::stoi(v.substr(colon + 1)));
        } else if (flag == "--user") {
            ep.user = value();
        } else if (flag == "--key") {
            options.credentials.private_key_file = value();
        } else if (flag == "--known-hosts") {
            options.credentials.known_hosts_file = value();
        } else if (flag == "--timeout") {
            timeout = std::chrono::seconds(std::stol(value()));
        } else if (flag == "--trust-on-first-use") {
            options.credentials.trust_on_first_use = true;
        } else if (flag == "--trust-exit-status") {
            trust_exit_status = true;
        } else {
            usage("unknown option " + std::string(flag));
        }
    }
    if (options.credentials.private_key_file.empty() || options.credentials.known_hosts_file.empty())
        usage("--key and --known-hosts are required");
    if (argc - i < 2)
        usage("need a service and a command");
    const std::string service = argv[i++];
    if (service != "nextcloud" && service != "photoprism")
        usage("service must be nextcloud or photoprism");
    std::vector<std::string> command(argv + i, argv + argc);

    const auto* rules = nextprism::whitelist::default_policy().find_service(service);
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
