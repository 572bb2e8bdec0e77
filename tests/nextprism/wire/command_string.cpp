#include <nextprism/wire/command_string.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

#include <random>

using nextprism::error;
using nextprism::error_code;
using argv_t = std::vector<std::string>;

namespace {

argv_t parse(std::string_view s, error_code& ec)
{
    return nextprism::parse_command(s, ec);
}

argv_t parse_ok(std::string_view s)
{
    error_code ec;
    std::string reason;
    auto argv = nextprism::parse_command(s, ec, reason);
    INFO(reason);
    REQUIRE_FALSE(ec);
    return argv;
}

} // namespace

TEST_CASE("tokenizer splits bare words on spaces")
{
    CHECK(parse_ok("php occ status") == argv_t{"php", "occ", "status"});
    CHECK(parse_ok("  php   occ  status  ") == argv_t{"php", "occ", "status"});
    CHECK(parse_ok("a_b-c.d/e:f=g@h%i+j,k") == argv_t{"a_b-c.d/e:f=g@h%i+j,k"});
}

TEST_CASE("single-quoted segments join with adjacent parts")
{
    CHECK(parse_ok("'My Photos'") == argv_t{"My Photos"});
    CHECK(parse_ok("--path='/a/My Photos'/x") == argv_t{"--path=/a/My Photos/x"});
    CHECK(parse_ok("'a''b'") == argv_t{"ab"});
    CHECK(parse_ok("''") == argv_t{""});
    CHECK(parse_ok("x '' y") == argv_t{"x", "", "y"});
    CHECK(parse_ok("'$(id);`x`|&<>*?\"\\'") == argv_t{"$(id);`x`|&<>*?\"\\"});
    CHECK(parse_ok("'Été 東京 😀'") == argv_t{"Été 東京 😀"});
}

TEST_CASE("tokenizer refuses with the rule and the offset")
{
    error_code ec;
    std::string reason;
    nextprism::parse_command("php occ;id", ec, reason);
    CHECK(ec == error::forbidden_character);
    CHECK(reason == "';' at offset 7 outside single quotes");

    nextprism::parse_command("php 'occ", ec, reason);
    CHECK(ec == error::unterminated_quote);
    CHECK(reason.find("offset 4") != std::string::npos);

    nextprism::parse_command("php \x1b[0m", ec, reason);
    CHECK(ec == error::forbidden_character);
    CHECK(reason.find("U+001B") != std::string::npos);

    nextprism::parse_command("php '\xff'", ec, reason);
    CHECK(ec == error::invalid_utf8);
    CHECK(reason == "invalid UTF-8 at offset 5");
}

TEST_CASE("every shell metacharacter is refused outside quotes")
{
    for (char c : std::string("\"\\$`;&|<>()*?[]{}~#!\t\n^'")) {
        if (c == '\'')
            continue; // a lone quote is unterminated, tested elsewhere
        error_code ec;
        const auto argv = parse(std::string("a") + c + "b", ec);
        INFO("character " << static_cast<int>(c));
        CHECK(ec == error::forbidden_character);
        CHECK(argv.empty());
    }
}

TEST_CASE("limits are enforced")
{
    error_code ec;
    nextprism::command_limits limits;
    CHECK(parse(std::string(limits.max_length + 1, 'a'), ec).empty());
    CHECK(ec == error::command_too_long);
    CHECK(parse_ok(std::string(limits.max_length, 'a')).size() == 1);

    std::string many;
    for (std::size_t i = 0; i <= limits.max_arguments; ++i)
        many += "a ";
    CHECK(parse(many, ec).empty());
    CHECK(ec == error::too_many_arguments);

    CHECK(parse("", ec).empty());
    CHECK(ec == error::empty_command);
}

TEST_CASE("format_command quotes only what needs quoting")
{
    CHECK(nextprism::format_command(argv_t{"php", "occ", "status"}) == "php occ status");
    CHECK(nextprism::format_command(argv_t{"--path=/alice/files/My Photos"}) ==
          "'--path=/alice/files/My Photos'");
    CHECK(nextprism::format_command(argv_t{"x", ""}) == "x ''");
}

TEST_CASE("format_command refuses what the grammar cannot carry")
{
    error_code ec;
    CHECK(nextprism::format_command(argv_t{"Bob's photos"}, ec).empty());
    CHECK(ec == error::unrepresentable);
    CHECK(nextprism::format_command(argv_t{"a\nb"}, ec).empty());
    CHECK(ec == error::forbidden_character);
    CHECK(nextprism::format_command(argv_t{"\xc3"}, ec).empty());
    CHECK(ec == error::invalid_utf8);
    CHECK(nextprism::format_command(argv_t{}, ec).empty());
    CHECK(ec == error::empty_command);
    CHECK_THROWS_AS(nextprism::format_command(argv_t{"'"}), boost::system::system_error);
}

TEST_CASE("parse(format(argv)) == argv for random argv (property)")
{
    // Alphabet: bare characters, space, shell syntax, multi-byte UTF-8, and
    // characters the grammar cannot carry (quote, controls, bidi override).
    const std::vector<std::string> alphabet = {
        "a", "Z", "0", "_", "-", ".", "/", ":", "=", "@", "%", "+", ",", " ", " ",
        ";", "$", "`", "\"", "\\", "*", "|", "&", "(", "#", "~", "!", "{",
        "é", "東", "😀", "\xef\xbc\x9b", "'", "\n", "\x01", "\xe2\x80\xae"};
    std::mt19937 rng(20261127);
    std::size_t representable = 0, unrepresentable = 0;
    for (int iteration = 0; iteration < 20000; ++iteration) {
        argv_t argv(1 + rng() % 6);
        bool expect_ok = true;
        for (auto& arg : argv) {
            const auto length = rng() % 9;
            for (std::size_t i = 0; i < length; ++i) {
                const auto& piece = alphabet[rng() % alphabet.size()];
                if (piece == "'" || piece == "\n" || piece == "\x01" || piece == "\xe2\x80\xae")
                    expect_ok = false;
                arg += piece;
            }
        }
        error_code ec;
        const auto text = nextprism::format_command(argv, ec);
        REQUIRE(static_cast<bool>(ec) == !expect_ok);
        if (ec) {
            ++unrepresentable;
            continue;
        }
        ++representable;
        std::string reason;
        const auto back = nextprism::parse_command(text, ec, reason);
        INFO(text << " / " << reason);
        REQUIRE_FALSE(ec);
        REQUIRE(back == argv);
    }
    // The generator must exercise both sides.
    CHECK(representable > 5000);
    CHECK(unrepresentable > 5000);
}
