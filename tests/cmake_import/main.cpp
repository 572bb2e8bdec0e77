#include <nextprism.hpp>

#include <iostream>

int main()
{
    const std::vector<std::string> argv{"php", "occ", "files:scan", "--path=/alice/files/My Photos"};
    const auto wire = nextprism::format_command(argv);
    const auto d = nextprism::whitelist::builtin().check_command("nextcloud", wire);
    std::cout << wire << " -> " << (d ? "allowed" : d.reason) << '\n';
    return d && d.command.argv == argv ? 0 : 1;
}
