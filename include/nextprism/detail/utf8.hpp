#ifndef NEXTPRISM_DETAIL_UTF8_HPP
#define NEXTPRISM_DETAIL_UTF8_HPP

#include <nextprism/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace nextprism::detail {

/// One code point decoded from a UTF-8 sequence.
struct code_point
{
    char32_t value;
    std::size_t length; ///< bytes consumed
};

/** Decodes the code point at `pos`, strictly (RFC 3629): no overlong forms,
    no surrogates, nothing above U+10FFFF, no truncated sequences. */
inline std::optional<code_point> decode_utf8(std::string_view s, std::size_t pos) noexcept
{
    auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
    const std::uint8_t b0 = byte(pos);
    if (b0 < 0x80)
        return code_point{b0, 1};
    std::size_t length;
    char32_t value;
    char32_t minimum;
    if ((b0 & 0xE0) == 0xC0) { length = 2; value = b0 & 0x1F; minimum = 0x80; }
    else if ((b0 & 0xF0) == 0xE0) { length = 3; value = b0 & 0x0F; minimum = 0x800; }
    else if ((b0 & 0xF8) == 0xF0) { length = 4; value = b0 & 0x07; minimum = 0x10000; }
    else return std::nullopt;
    if (pos + length > s.size())
        return std::nullopt;
    for (std::size_t i = 1; i < length; ++i) {
        const std::uint8_t b = byte(pos + i);
        if ((b & 0xC0) != 0x80)
            return std::nullopt;
        value = (value << 6) | (b & 0x3F);
    }
    if (value < minimum || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF))
        return std::nullopt;
    return code_point{value, length};
}

/** Code points that must never appear in an argument, even quoted: controls
    (C0, DEL, C1) and the invisible formatting characters that can make text
    read differently from what it is (bidirectional overrides, zero-width
    characters, the BOM, line and paragraph separators). */
constexpr bool is_forbidden_code_point(char32_t c) noexcept
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F) ||
           c == 0x00AD ||                      // soft hyphen
           (c >= 0x200B && c <= 0x200F) ||     // zero-width, LRM, RLM
           (c >= 0x2028 && c <= 0x202E) ||     // separators, bidi embeddings
           (c >= 0x2060 && c <= 0x2069) ||     // word joiner, bidi isolates
           c == 0xFEFF ||                      // BOM / zero-width no-break
           (c >= 0xFFF9 && c <= 0xFFFB);       // interlinear annotations
}

} // namespace nextprism::detail

#endif
