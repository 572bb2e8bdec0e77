// nextprism-check: what would the proxy do with this argv?
//
//   nextprism-check nextcloud php occ files:scan '--path=/alice/files/My Photos'
//
// Prints the SSH command string the library sends for the argv, and the
// proxy's decision: the argv it would run in the container, or the reason for the refusal.
#include <nextprism.hpp>

#include <iostream>

int main(int argc, char** argv)
{
    if (argc < 3) {
        std::cerr << "usage: nextprism-check <service> <argv...>\n";
        return 2;
    }
    const std::vector<std::string> command(argv + 2, argv + argc);
    nextprism::error_code ec;
    const std::string wire = nextprism::format_command(command, ec);
    if (ec) {
        std::cerr << "cannot send this argv: " << ec.message() << '\n';
        return 1;
    }
    const auto d = nextprism::whitelist::default_policy().check_command(argv[1], wire);
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
