// Run a whitelisted command in a container on this node's Docker engine.
//   nextprism-direct-exec nextcloud php occ files:scan --all
#include <nextprism/transport/direct.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>

int main(int argc, char** argv)
{
    boost::asio::io_context io;
    nextprism::error_code ec;
    nextprism::direct_transport transport(io.get_executor(), nextprism::docker::engine_address_from_environment(ec));
    transport.async_run({argv[1], {argv + 2, argv + argc}},
        [](nextprism::output_stream s, std::string_view data) { (s == nextprism::output_stream::out ? std::cout : std::cerr) << data; },
        [](nextprism::error_code ec, nextprism::command_result r) {
            if (ec) std::cerr << "error: " << ec.message() << '\n';
            std::exit(ec ? 1 : r.exit_code);
        });
    io.run();
}
