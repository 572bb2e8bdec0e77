#ifndef NEXTPRISM_WIRE_IMPL_COMMAND_STRING_HPP
#define NEXTPRISM_WIRE_IMPL_COMMAND_STRING_HPP

#include <nextprism/detail/utf8.hpp>

#include <boost/system/system_error.hpp>
#include <cstdio>

namespace nextprism {
namespace detail {

inline std::string describe_byte(std::string_view text, std::size_t pos)
{
    char buffer[64];
    const auto c = static_cast<unsigned char>(text[pos]);
    if (c >= 0x21 && c < 0x7F)
        std::snprintf(buffer, sizeof buffer, "'%c' at offset %zu", c, pos);
    else
        std::snprintf(buffer, sizeof buffer, "byte 0x%02X at offset %zu", c, pos);
    return buffer;
}

/// Checks that `text` is well-formed UTF-8 without forbidden code points.
inline bool check_characters(std::string_view text, error_code& ec, std::string& reason)
{
    for (std::size_t i = 0; i < text.size();) {
        const auto cp = decode_utf8(text, i);
        if (!cp) {
            ec = error::invalid_utf8;
            reason = "invalid UTF-8 at offset " + std::to_string(i);
            return false;
        }
        if (is_forbidden_code_point(cp->value)) {
            ec = error::forbidden_character;
            char buffer[48];
            std::snprintf(buffer, sizeof buffer, "control or invisible character U+%04X",
                          static_cast<unsigned>(cp->value));
            reason = std::string(buffer) + " at offset " + std::to_string(i);
            return false;
        }
        i += cp->length;
    }
    return true;
}

} // namespace detail

inline std::vector<std::string> parse_command(std::string_view text, error_code& ec,
                                              std::string& reason,
                                              const command_limits& limits)
{
    ec = {};
    reason.clear();
    std::vector<std::string> argv;
    auto fail = [&](error e, std::string why) {
        ec = e;
        reason = std::move(why);
        argv.clear();
        return std::vector<std::string>{};
    };

    if (text.size() > limits.max_length)
        return fail(error::command_too_long, "command is " + std::to_string(text.size()) +
                                                 " bytes, the limit is " +
                                                 std::to_string(limits.max_length));
    if (!detail::check_characters(text, ec, reason)) {
        argv.clear();
        return argv;
    }

    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ') {
            ++i;
            continue;
        }
        if (argv.size() == limits.max_arguments)
            return fail(error::too_many_arguments,
                        "more than " + std::to_string(limits.max_arguments) + " arguments");
        std::string word;
        while (i < text.size() && text[i] != ' ') {
            const char c = text[i];
            if (c == '\'') {
                const auto close = text.find('\'', i + 1);
                if (close == std::string_view::npos)
                    return fail(error::unterminated_quote,
                                "single quote at offset " + std::to_string(i) + " is never closed");
                word.append(text.substr(i + 1, close - i - 1));
                i = close + 1;
            } else if (is_bare_character(c)) {
                word.push_back(c);
                ++i;
            } else {
                return fail(error::forbidden_character,
                            detail::describe_byte(text, i) + " outside single quotes");
            }
        }
        argv.push_back(std::move(word));
    }
    if (argv.empty())
        return fail(error::empty_command, "empty command");
    return argv;
}

inline std::vector<std::string> parse_command(std::string_view text, error_code& ec,
                                              const command_limits& limits)
{
    std::string reason;
    return parse_command(text, ec, reason, limits);
}

inline std::string format_command(std::span<const std::string> argv, error_code& ec,
                                  const command_limits& limits)
{
    ec = {};
    if (argv.empty()) {
        ec = error::empty_command;
        return {};
    }
    if (argv.size() > limits.max_arguments) {
        ec = error::too_many_arguments;
        return {};
    }
    std::string out;
    std::string reason;
    for (const auto& arg : argv) {
        if (!detail::check_characters(arg, ec, reason))
            return {};
        if (arg.find('\'') != std::string::npos) {
            ec = error::unrepresentable;
            return {};
        }
        if (!out.empty())
            out.push_back(' ');
        bool bare = !arg.empty();
        for (char c : arg)
            bare = bare && is_bare_character(c);
        if (bare) {
            out += arg;
        } else {
            out.push_back('\'');
            out += arg;
            out.push_back('\'');
        }
    }
    if (out.size() > limits.max_length) {
        ec = error::command_too_long;
        return {};
    }
    return out;
}

inline std::string format_command(std::span<const std::string> argv,
                                  const command_limits& limits)
{
    error_code ec;
    auto out = format_command(argv, ec, limits);
    if (ec)
        throw boost::system::system_error(ec, "nextprism::format_command");
    return out;
}

} // namespace nextprism

#endif
