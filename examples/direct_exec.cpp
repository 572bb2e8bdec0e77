// Run a whitelisted command in a container on this node's Docker engine.
//   nextprism-direct-exec nextcloud php occ files:scan --all
// The whitelist checks it once; the transport runs what it authorized.
#include <nextprism/transport/direct.hpp>
#include <nextprism/whitelist.hpp>

#include <boost/asio/io_context.hpp>

#include <iostream>

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::cerr << "usage: nextprism-direct-exec SERVICE ARGV...\n";
        return 64;
    }
    const auto d = nextprism::whitelist::default_policy().check(argv[1], std::vector<std::string>(argv + 2, argv + argc));
    if (!d) {
        std::cerr << "refused: " << d.reason << '\n';
        return 65;
    }
    boost::asio::io_context io;
    nextprism::error_code ec;
    const auto engine = nextprism::docker::engine_address_from_environment(ec);
    if (ec) {
        std::cerr << "DOCKER_HOST: " << ec.message() << '\n';
        return 64;
    }
    nextprism::direct_transport transport(io.get_executor(), engine);
    int status = 70;
    transport.async_run(d.command,
        [](nextprism::output_stream s, std::string_view data) { (s == nextprism::output_stream::out ? std::cout : std::cerr) << data; },
        [&](nextprism::error_code ec, nextprism::command_result r) {
            if (ec)
                std::cerr << "error: " << ec.message() << '\n';
            status = ec ? 70 : r.exit_code;
        });
    io.run();
    return status;
}
