// Run a whitelisted command in a container on this node's Docker engine.
//   nextprism-direct-exec nextcloud php occ files:scan --all
// The whitelist checks it once; the transport runs what it authorized.
#include <nextprism/transport/direct.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/tools/command_line.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main(int argc, char** argv)
{
    namespace tools = nextprism::tools;
    tools::command_line cli({
        .program = "nextprism-direct-exec",
        .synopsis = "SERVICE ARGV...",
        .summary = "Runs a whitelisted command in a container on this node's Docker engine (DOCKER_HOST).",
        .exits = {{"0-255", "the command's own exit status"},
                  {"64", "usage: a bad command line, or DOCKER_HOST is not an engine address"},
                  {"65", "refused by the whitelist (with the rule)"},
                  {"70", "no result: the engine or the container failed (with the reason)"}},
        .notes = {},
    });
    const auto operands = cli.parse(argc, argv);
    if (operands.size() < 2)
        cli.usage_error("need a service and a command");
    const auto d = nextprism::whitelist::builtin().check(
        operands[0], std::vector<std::string>(operands.begin() + 1, operands.end()));
    if (!d) {
        std::cerr << "refused: " << d.reason << '\n';
        return tools::exit_status::data;
    }
    boost::asio::io_context io;
    nextprism::error_code ec;
    const auto engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec) {
        std::cerr << "DOCKER_HOST: " << ec.message() << '\n';
        return tools::exit_status::usage;
    }
    nextprism::direct_transport transport(io.get_executor(), engine);
    int status = tools::exit_status::software;
    transport.async_run(d.command,
        [](nextprism::output_stream s, std::string_view data) { (s == nextprism::output_stream::out ? std::cout : std::cerr) << data; },
        [&](nextprism::error_code ec, nextprism::command_result r) {
            if (ec)
                std::cerr << "error: " << ec.message() << '\n';
            status = ec ? tools::exit_status::software : r.exit_code;
        });
    io.run();
    return status;
}
