#ifndef NEXTPRISM_WIRE_COMMAND_STRING_HPP
#define NEXTPRISM_WIRE_COMMAND_STRING_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism {

/** The wire format: the SSH command string.

    An argv travels to the proxy as the string a human would type after
    `ssh host`. The grammar is the small, shell-compatible subset below, so
    that what a human types and what the library sends read the same, yet no
    shell is ever needed to split it:

    @code
    command  = word *( 1*" " word )      ; leading/trailing spaces allowed
    word     = 1*( bare / quoted )       ; adjacent parts join into one word
    bare     = 1*( ALPHA / DIGIT / "_" / "-" / "." / "/" / ":" / "=" / "@" / "%" / "+" / "," )
    quoted   = "'" *( any UTF-8 character but "'" and the forbidden ones ) "'"
    @endcode

    Forbidden everywhere: control characters (C0, DEL, C1), invisible
    formatting characters (bidi overrides, zero-width), malformed UTF-8.
    Outside quotes, every character not in `bare` is refused, among them
    `" \ $ ` ; & | < > ( ) * ? [ ] { } ~ # !` and tab. An argument that
    contains a single quote cannot be written: the grammar has no escape.

    Invariant (property-tested and fuzzed): for every argv that
    `format_command` accepts, `parse_command(format_command(argv)) == argv`.
*/
struct command_limits
{
    std::size_t max_length = 4096;   ///< bytes in the whole command string
    std::size_t max_arguments = 64;  ///< words in the command
};

/// Whether `c` may appear outside quotes.
constexpr bool is_bare_character(char c) noexcept
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == '/' || c == ':' || c == '=' ||
           c == '@' || c == '%' || c == '+' || c == ',';
}

/** Splits a command string into its argv.

    @param text   the string, as sshd puts it in SSH_ORIGINAL_COMMAND
    @param ec     set on refusal; the argv returned is then empty
    @param reason set to one line naming the rule and the byte offset
*/
std::vector<std::string> parse_command(std::string_view text, error_code& ec,
                                       std::string& reason,
                                       const command_limits& limits = {});

/// As above, without the reason text.
std::vector<std::string> parse_command(std::string_view text, error_code& ec,
                                       const command_limits& limits = {});

/** Builds the command string for an argv: bare where possible, else
    single-quoted.

    @param ec set to `error::unrepresentable`, `error::invalid_utf8`,
              `error::forbidden_character`, or a limit error; the string
              returned is then empty
*/
std::string format_command(std::span<const std::string> argv, error_code& ec,
                           const command_limits& limits = {});

/// Throwing form of format_command (boost::system::system_error).
std::string format_command(std::span<const std::string> argv,
                           const command_limits& limits = {});

} // namespace nextprism

#include <nextprism/wire/impl/command_string.hpp>

#endif
