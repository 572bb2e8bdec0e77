// nextprism-check: what would the proxy do with this argv?
//
//   nextprism-check nextcloud php occ files:scan '--path=/alice/files/My Photos'
//
// Prints the SSH command string the library sends for the argv, and the
// proxy's decision: the argv it would run in the container, or the reason for the refusal.
#include <nextprism.hpp>
#include <nextprism/tools/command_line.hpp>

#include <iostream>

int main(int argc, char** argv)
{
    namespace tools = nextprism::tools;
    tools::command_line cli({
        .program = "nextprism-check",
        .synopsis = "SERVICE ARGV...",
        .summary = "Prints the SSH command string the library sends for ARGV and the default\n"
                   "whitelist's decision: the argv it would run in the container, or the rule that refuses.",
        .exits = {{"0", "allowed"},
                  {"1", "refused, or the argv cannot be sent (a single quote)"},
                  {"64", "usage: a bad command line"}},
        .notes = {},
    });
    const auto operands = cli.parse(argc, argv);
    if (operands.size() < 2)
        cli.usage_error("need a service and a command");
    const std::vector<std::string> command(operands.begin() + 1, operands.end());
    nextprism::error_code ec;
    const std::string wire = nextprism::format_command(command, ec);
    if (ec) {
        std::cerr << "cannot send this argv: " << ec.message() << '\n';
        return 1;
    }
    const auto d = nextprism::whitelist::builtin().check_command(operands[0], wire);
    std::cout << "wire:    " << wire << '\n';
    if (!d) {
        std::cout << "refused: " << d.reason << '\n';
        return 1;
    }
    std::cout << "runs:   ";
    for (const auto& a : d.command.exec_argv)
        std::cout << " [" << a << ']';
    std::cout << '\n';
}
