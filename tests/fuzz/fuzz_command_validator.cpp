// Fuzzes the proxy's decision path: the wire grammar and the whitelist.
//
// Properties checked on every input (a failure aborts, libFuzzer reports it):
//  1. whatever parse_command accepts, format_command can write back, and
//     parsing that gives the same argv (the round trip);
//  2. whatever the whitelist allows, its canonical argv is allowed again and is
//     its own canonical form (a fixed point), starts with the rule's fixed
//     words, and every later word is either a declared option of the rule
//     (name or name=value), the "--" separator, or a positional after it
//     that does not start with '-' and has no "." or ".." path segment;
//  3. format_command on arbitrary argv (the input split at NUL bytes) either
//     refuses or round-trips;
//  4. no allowed photoprism command, resolved the way PhotoPrism resolves
//     paths (TrimSpace, Abs against /photoprism, Join with originals), works
//     outside the import folder (import) or the originals folder (index,
//     import --dest).
#include <nextprism/whitelist.hpp>

#include "support/photoprism_paths.hpp"

#include <cstdio>
#include <cstdlib>

namespace {

void require(bool condition, const char* what)
{
    if (!condition) {
        std::fprintf(stderr, "property violated: %s\n", what);
        std::abort();
    }
}

bool has_dot_segment(std::string_view v)
{
    std::size_t start = 0;
    while (true) {
        const auto end = v.find('/', start);
        const auto seg = v.substr(start, end == std::string_view::npos ? end : end - start);
        if (seg == "." || seg == "..")
            return true;
        if (end == std::string_view::npos)
            return false;
        start = end + 1;
    }
}

/// The rule an allowed decision names, looked up in the whitelist that made it.
const nextprism::command_rule& rule_of(const nextprism::decision& d)
{
    const auto* service = nextprism::whitelist::builtin().find_service(d.command.service);
    require(service != nullptr, "an allowed command of an unknown service");
    for (const auto& c : service->commands)
        if (c.name() == d.command.rule)
            return c;
    require(false, "an allowed command names no rule of its service");
    std::abort();
}

void check_canonical(const nextprism::decision& d)
{
    const auto& rule = rule_of(d);
    require(d.command.argv.size() >= rule.argv.size(), "canonical argv shorter than the rule");
    require(std::equal(rule.argv.begin(), rule.argv.end(), d.command.argv.begin()), "prefix mismatch");
    bool positional = false;
    for (std::size_t i = rule.argv.size(); i < d.command.argv.size(); ++i) {
        const std::string& w = d.command.argv[i];
        if (positional) {
            require(!w.empty() && w.front() != '-', "positional starts with '-'");
            require(!has_dot_segment(w), "positional has a dot segment");
            continue;
        }
        if (w == "--") {
            positional = true;
            continue;
        }
        const auto eq = w.find('=');
        const auto name = w.substr(0, eq);
        bool declared = false;
        for (const auto& o : rule.options)
            if (o.name == name) {
                declared = true;
                require((o.value == nextprism::value_type::none) == (eq == std::string::npos),
                        "flag/value mismatch");
                if (eq != std::string::npos)
                    require(!has_dot_segment(w.substr(eq + 1)), "option value has a dot segment");
            }
        require(declared, "undeclared option in canonical argv");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto& rules = nextprism::whitelist::builtin();

    nextprism::error_code ec;
    const auto argv = nextprism::parse_command(input, ec);
    if (!ec) {
        const auto text = nextprism::format_command(argv, ec);
        require(!ec, "parsed argv cannot be formatted");
        const auto back = nextprism::parse_command(text, ec);
        require(!ec && back == argv, "parse(format(argv)) != argv");

        for (const auto& service : rules.services()) {
            const auto d = rules.check(service.name, argv);
            if (!d) {
                require(!d.reason.empty() && d.command.argv.empty(), "refusal without reason");
                continue;
            }
            check_canonical(d);
            require(nextprism::test::photoprism_stays_inside(d.command.exec_argv),
                    "an allowed photoprism command resolves outside its folder");
            const auto again = rules.check(service.name, d.command.argv);
            require(again.allowed() && again.command.argv == d.command.argv, "canonical form is not a fixed point");
            const auto wire = nextprism::format_command(d.command.argv, ec);
            require(!ec, "canonical argv cannot be formatted");
            require(rules.check_command(service.name, wire).command.argv == d.command.argv, "wire round trip");
        }
    }

    // Arbitrary argv: split the raw input at NUL bytes.
    std::vector<std::string> split(1);
    for (char c : input) {
        if (c == '\0')
            split.emplace_back();
        else
            split.back().push_back(c);
    }
    const auto text = nextprism::format_command(split, ec);
    if (!ec) {
        const auto back = nextprism::parse_command(text, ec);
        require(!ec && back == split, "format then parse changed the argv");
    }
    return 0;
}
