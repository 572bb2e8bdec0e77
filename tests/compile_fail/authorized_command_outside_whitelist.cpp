// Must not compile: an authorized_command made outside the whitelist, by
// filling in its fields. Only whitelist::check (and, for tests,
// testing::unchecked_command) can make one; the compiler's message names
// the type and says its constructor is private.
#include <nextprism/authorized_command.hpp>

int main()
{
    nextprism::authorized_command forged;
    forged.service = "nextcloud";
    forged.exec_argv = {"sh", "-c", "id"};
    return static_cast<int>(forged.exec_argv.size());
}
