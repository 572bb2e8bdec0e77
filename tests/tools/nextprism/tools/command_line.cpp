// tools/nextprism/tools/command_line.hpp: strict values, the parse, the help.
#include <nextprism/tools/command_line.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace nextprism::tools;
using namespace std::chrono_literals;

namespace {

struct usage : std::runtime_error
{
    using std::runtime_error::runtime_error;
};

/// Parses `args` (argv[0] added); a usage error throws `usage` with its line.
std::vector<std::string> parse(command_line& cli, std::vector<std::string> args)
{
    args.insert(args.begin(), "prog");
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    cli.on_usage_error([](const std::string& what) { throw usage(what); });
    return cli.parse(static_cast<int>(argv.size()), argv.data());
}

} // namespace

TEST_CASE("numbers: the whole text, in range, or nothing")
{
    CHECK(parse_number<int>("42") == 42);
    CHECK(parse_number<int>("-3", -5, 5) == -3);
    CHECK_FALSE(parse_number<int>(""));
    CHECK_FALSE(parse_number<int>("abc"));
    CHECK_FALSE(parse_number<int>("12abc"));
    CHECK_FALSE(parse_number<int>(" 12"));
    CHECK_FALSE(parse_number<int>("+12"));
    CHECK_FALSE(parse_number<int>("6", 0, 5));
    CHECK_FALSE(parse_number<unsigned>("-1"));
    CHECK_FALSE(parse_number<std::int64_t>("99999999999999999999")); // out of range, not wrapped
}

TEST_CASE("ports and HOST:PORT: a port that does not fit is an error, not another port")
{
    CHECK(parse_port("2222") == 2222);
    CHECK_FALSE(parse_port("67758")); // 67758 mod 65536 = 2222: once silently that port
    CHECK_FALSE(parse_port("0"));
    CHECK_FALSE(parse_port("22x"));
    const auto hp = parse_host_port("10.0.1.3:2222");
    REQUIRE(hp);
    CHECK(hp->host == "10.0.1.3");
    CHECK(hp->port == 2222);
    const auto v6 = parse_host_port("[::1]:22");
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK_FALSE(parse_host_port("h:67758"));
    CHECK_FALSE(parse_host_port("h"));
    CHECK_FALSE(parse_host_port(":22"));
    CHECK_FALSE(parse_host_port("::1:22")); // an IPv6 address needs its brackets
}

TEST_CASE("durations: seconds, or a number with ms, s, m, h")
{
    CHECK(parse_duration("90") == 90s);
    CHECK(parse_duration("1500ms") == 1500ms);
    CHECK(parse_duration("10m") == 10min);
    CHECK(parse_duration("4h") == 4h);
    CHECK(parse_duration("0") == 0ms);
    CHECK_FALSE(parse_duration("abc"));
    CHECK_FALSE(parse_duration("5d"));
    CHECK_FALSE(parse_duration("-5"));
    CHECK_FALSE(parse_duration("1.5s"));
    CHECK_FALSE(parse_duration("200h", 24h));
}

TEST_CASE("the parse: options, then operands untouched; errors name what is wrong")
{
    std::string name;
    long n = 0;
    bool verbose = false;
    std::chrono::milliseconds timeout{};
    command_line cli({.program = "prog", .synopsis = "[OPTIONS] SERVICE ARGV...", .summary = "s", .exits = {}, .notes = {}});
    cli.option("--name", "NAME", "a name", name)
        .number("-n, --count", "N", "a count", n, 0L, 10L)
        .flag("-v, --verbose", "more", verbose)
        .duration("--timeout", "DURATION", "how long", timeout, 24h);

    auto ops = parse(cli, {"--name", "x", "--count=3", "-v", "--timeout", "2m", "nextcloud", "php", "occ",
                           "files:scan", "--path=/a", "-v"});
    CHECK(name == "x");
    CHECK(n == 3);
    CHECK(verbose);
    CHECK(timeout == 2min);
    // The command's own options are its, not ours.
    CHECK(ops == std::vector<std::string>{"nextcloud", "php", "occ", "files:scan", "--path=/a", "-v"});
    CHECK(parse(cli, {"--", "--name"}) == std::vector<std::string>{"--name"});

    CHECK_THROWS_WITH(parse(cli, {"--bogus"}), "unknown option --bogus (see --help)");
    CHECK_THROWS_WITH(parse(cli, {"--bogus=1"}), "unknown option --bogus (see --help)");
    CHECK_THROWS_WITH(parse(cli, {"--count", "abc"}),
                      "--count: 'abc' is not a whole number from 0 to 10 (see --help)");
    CHECK_THROWS_WITH(parse(cli, {"-n", "11"}), "-n: '11' is not a whole number from 0 to 10 (see --help)");
    CHECK_THROWS_WITH(parse(cli, {"--name"}), "--name needs a value (NAME) (see --help)");
    CHECK_THROWS_WITH(parse(cli, {"--verbose=yes"}), "--verbose takes no value (see --help)");
    CHECK_THROWS_AS(parse(cli, {"--timeout", "soon"}), usage);
}

TEST_CASE("the environment gives a value first; the command line wins; a bad value names the variable")
{
    long n = 0;
    command_line cli({.program = "prog", .synopsis = "", .summary = "", .exits = {}, .notes = {}, .operands_allowed = false});
    cli.number("--count", "N", "a count", n, 0L, 10L, "NEXTPRISM_TEST_COUNT");
    ::setenv("NEXTPRISM_TEST_COUNT", "4", 1);
    parse(cli, {});
    CHECK(n == 4);
    parse(cli, {"--count", "7"});
    CHECK(n == 7);
    ::setenv("NEXTPRISM_TEST_COUNT", "four", 1);
    CHECK_THROWS_WITH(parse(cli, {}),
                      "NEXTPRISM_TEST_COUNT: 'four' is not a whole number from 0 to 10 (see --help)");
    ::unsetenv("NEXTPRISM_TEST_COUNT");
    CHECK_THROWS_WITH(parse(cli, {"extra"}), "unexpected argument extra (see --help)");
}

TEST_CASE("the help: synopsis, options with their variables, the exit table")
{
    long n = 0;
    command_line cli({.program = "prog",
                      .synopsis = "[OPTIONS] A\n--other B",
                      .summary = "Does things.",
                      .exits = {{"0", "fine"}, {"64", "usage"}},
                      .notes = "More."});
    cli.number("--count", "N", "a count", n, 0L, 10L, "PROG_COUNT");
    const auto h = cli.help();
    CHECK(h.starts_with("usage: prog [OPTIONS] A\n       prog --other B\n"));
    CHECK(h.find("--count N") != std::string::npos);
    CHECK(h.find("[env PROG_COUNT]") != std::string::npos);
    CHECK(h.find("-h, --help") != std::string::npos);
    CHECK(h.find("--version") != std::string::npos);
    CHECK(h.find("Exit status:\n  0 ") != std::string::npos);
    CHECK(h.find("  64 ") != std::string::npos);
    CHECK(h.ends_with("More.\n"));
}
