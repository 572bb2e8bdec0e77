#ifndef NEXTPRISM_DETAIL_JSON_HPP
#define NEXTPRISM_DETAIL_JSON_HPP

// JSON syntax, for the schema reader (schema.hpp): one way to say where a
// syntax error is.

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace nextprism::detail {

inline std::string line_and_column(std::string_view text, std::size_t byte)
{
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < byte && i < text.size(); ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

/// The one-line reason for a JSON syntax error in `text`: where it is, in
/// lines and columns a person can find (whitelist and configuration files).
inline std::string json_syntax_error(std::string_view text, const nlohmann::json::parse_error& e)
{
    // e.byte is 1-based and points just past the offending character.
    return "JSON syntax error at " + line_and_column(text, e.byte > 0 ? e.byte - 1 : 0);
}

/** Parses `text`; on a syntax error sets `ec` to `kind` and `reason` to
    where it is, and returns nothing. */
inline std::optional<nlohmann::json> parse_json(std::string_view text, error kind, error_code& ec,
                                                std::string& reason)
{
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        ec = kind;
        reason = json_syntax_error(text, e);
        return std::nullopt;
    }
}

} // namespace nextprism::detail

#endif
