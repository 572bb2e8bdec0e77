#ifndef NEXTPRISM_TOOLS_COMMAND_LINE_HPP
#define NEXTPRISM_TOOLS_COMMAND_LINE_HPP

// The command line of every nextprism binary (the proxy's and the
// examples'): one parser, one help layout, one usage-error convention.
//
//   --help / -h and --version everywhere; options before the operands (the
//   first operand, or `--`, ends them: what follows is a command's argv and
//   is never read as our options); `--name VALUE` and `--name=VALUE`;
//   options that have an environment variable take it first, the command
//   line wins. A usage error is one line, "PROG: WHAT (see --help)", and
//   exit 64 (EX_USAGE), unless the binary reports usage errors its own way
//   (the validator: the wire contract's `nextprism:` line).
//
// Not a library for users: built for the project's tools only (not
// installed). Hand-written rather than Boost.Program_options (a compiled
// library, linked into the validator that sshd starts for every command)
// or CLI11 (not needed for ~15 options a binary): the validator's start-up
// row in docs/benchmarks.md stays the measure.

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef NEXTPRISM_VERSION_STRING
#define NEXTPRISM_VERSION_STRING "unknown"
#endif

namespace nextprism::tools {

/// The project's version, as every binary's --version prints it.
inline constexpr std::string_view version = NEXTPRISM_VERSION_STRING;

/// sysexits.h codes the tools share for their own failures.
namespace exit_status {
inline constexpr int usage = 64;       ///< EX_USAGE: bad command line
inline constexpr int data = 65;        ///< EX_DATAERR: input refused (e.g. not whitelisted)
inline constexpr int unavailable = 69; ///< EX_UNAVAILABLE
inline constexpr int software = 70;    ///< EX_SOFTWARE: an internal error
inline constexpr int io = 74;          ///< EX_IOERR
inline constexpr int config = 78;      ///< EX_CONFIG: a configuration file is wrong
} // namespace exit_status

/// One row of a binary's exit-status table, printed by --help.
struct exit_row
{
    std::string codes; ///< "0", "1-63", "124"
    std::string meaning;
};

// ---- strict value parsers: the whole text, in range, or nothing ----------------

template<std::integral T>
std::optional<T> parse_number(std::string_view text, T lo = std::numeric_limits<T>::min(),
                              T hi = std::numeric_limits<T>::max())
{
    T v{};
    if (text.empty() || text.front() == '+')
        return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi)
        return std::nullopt;
    return v;
}

/// A TCP port: 1-65535 (`h:67758` is an error, not port 2222).
inline std::optional<std::uint16_t> parse_port(std::string_view text)
{
    return parse_number<std::uint16_t>(text, 1, 65535);
}

struct host_port
{
    std::string host;
    std::uint16_t port = 0;
};

/// `HOST:PORT` or `[IPV6]:PORT`; the host is not resolved here.
inline std::optional<host_port> parse_host_port(std::string_view text)
{
    std::string_view host, port;
    if (text.starts_with('[')) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos)
            return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon)
            return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    const auto p = parse_port(port);
    if (host.empty() || !p)
        return std::nullopt;
    return host_port{std::string(host), *p};
}

/// A duration: a number of seconds, or a number with a unit: ms, s, m, h
/// (`90`, `1500ms`, `10m`, `4h`); at most `max`.
inline std::optional<std::chrono::milliseconds> parse_duration(std::string_view text,
                                                               std::chrono::milliseconds max = std::chrono::hours(24 *
                                                                                                                  7))
{
    using namespace std::chrono;
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        ++digits;
    const auto n = parse_number<std::int64_t>(text.substr(0, digits), 0, std::int64_t{1} << 40);
    if (!n)
        return std::nullopt;
    const std::string_view unit = text.substr(digits);
    milliseconds d{};
    if (unit.empty() || unit == "s")
        d = seconds(*n);
    else if (unit == "ms")
        d = milliseconds(*n);
    else if (unit == "m")
        d = minutes(*n);
    else if (unit == "h")
        d = hours(*n);
    else
        return std::nullopt;
    if (d > max)
        return std::nullopt;
    return d;
}

// ---- the parser ----------------------------------------------------------------

/** A binary's command line: what it accepts, its help, its exit table.

    Options are declared with what to do with their value; `parse` applies
    the environment, then argv, and returns the operands. --help prints
    `help()` and exits 0, --version prints "PROG VERSION" and exits 0.
*/
class command_line
{
public:
    /// What a value handler answers: empty, or why the value is refused.
    using apply_fn = std::function<std::string(std::string_view)>;
    /// Reports a usage error and does not return.
    using usage_error_fn = std::function<void(const std::string&)>;

    struct description
    {
        std::string program;          ///< "nextprism-exec"
        std::string synopsis;         ///< "[OPTIONS] SERVICE ARGV..." (one line per form)
        std::string summary;          ///< a paragraph under the synopsis
        std::vector<exit_row> exits;  ///< the exit-status table
        std::string notes;            ///< text after the options (environment, examples)
        bool operands_allowed = true; ///< false: any operand is a usage error
    };

    explicit command_line(description d) : d_(std::move(d)) {}

    /// Usage errors go to `f` instead of "PROG: WHAT (see --help)" + exit 64.
    command_line& on_usage_error(usage_error_fn f)
    {
        usage_error_ = std::move(f);
        return *this;
    }

    /// An option without a value. `name` is "--long" or "-s, --long".
    command_line& flag(std::string_view name, std::string_view help, std::function<void()> set)
    {
        options_.push_back({split_names(name), {}, std::string(help), {},
                            [set = std::move(set)](std::string_view) {
                                set();
                                return std::string();
                            }});
        return *this;
    }
    command_line& flag(std::string_view name, std::string_view help, bool& target)
    {
        return flag(name, help, [&target] { target = true; });
    }

    /// An option with a value, handled by `apply`; `env`, if set and not
    /// empty, gives the value unless the command line does.
    command_line& option(std::string_view name, std::string_view value_name, std::string_view help, apply_fn apply,
                         std::string_view env = {})
    {
        options_.push_back(
            {split_names(name), std::string(value_name), std::string(help), std::string(env), std::move(apply)});
        return *this;
    }
    command_line& option(std::string_view name, std::string_view value_name, std::string_view help,
                         std::string& target, std::string_view env = {})
    {
        return option(name, value_name, help, [&target](std::string_view v) {
            target = std::string(v);
            return std::string();
        }, env);
    }

    /// A whole number in [lo, hi].
    template<std::integral T>
    command_line& number(std::string_view name, std::string_view value_name, std::string_view help, T& target,
                         T lo, T hi, std::string_view env = {})
    {
        return option(name, value_name, help, [&target, lo, hi](std::string_view v) {
            const auto n = parse_number<T>(v, lo, hi);
            if (!n)
                return "'" + std::string(v) + "' is not a whole number from " + std::to_string(lo) + " to " +
                       std::to_string(hi);
            target = *n;
            return std::string();
        }, env);
    }

    /// A duration (parse_duration) up to `max`.
    command_line& duration(std::string_view name, std::string_view value_name, std::string_view help,
                           std::chrono::milliseconds& target, std::chrono::milliseconds max, std::string_view env = {})
    {
        return option(name, value_name, help, [&target, max](std::string_view v) {
            const auto d = parse_duration(v, max);
            if (!d)
                return "'" + std::string(v) + "' is not a duration up to " + std::to_string(max.count() / 1000) +
                       " s (SECONDS, or a number with ms, s, m or h)";
            target = *d;
            return std::string();
        }, env);
    }

    /// Parses; returns the operands. Exits on --help, --version and usage errors.
    std::vector<std::string> parse(int argc, char** argv)
    {
        for (auto& o : options_) {
            if (o.env.empty())
                continue;
            const char* v = std::getenv(o.env.c_str());
            if (v && *v)
                if (auto why = o.apply(v); !why.empty())
                    usage_error(o.env + ": " + why);
        }
        std::vector<std::string> operands;
        int i = 1;
        for (; i < argc; ++i) {
            const std::string_view arg = argv[i];
            if (arg == "--") {
                ++i;
                break;
            }
            if (arg.size() < 2 || arg[0] != '-')
                break; // the first operand: the rest is operands
            if (arg == "--help" || arg == "-h") {
                const auto text = help();
                std::fwrite(text.data(), 1, text.size(), stdout);
                std::exit(0);
            }
            if (arg == "--version") {
                const auto text = d_.program + " " + std::string(version) + "\n";
                std::fwrite(text.data(), 1, text.size(), stdout);
                std::exit(0);
            }
            const auto eq = arg.starts_with("--") ? arg.find('=') : std::string_view::npos;
            const std::string_view name = arg.substr(0, eq);
            const option_spec* o = find(name);
            if (!o)
                usage_error("unknown option " + std::string(name));
            std::string_view value;
            if (o->value_name.empty()) {
                if (eq != std::string_view::npos)
                    usage_error(std::string(name) + " takes no value");
            } else if (eq != std::string_view::npos) {
                value = arg.substr(eq + 1);
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                usage_error(std::string(name) + " needs a value (" + o->value_name + ")");
            }
            if (auto why = o->apply(value); !why.empty())
                usage_error(std::string(name) + ": " + why);
        }
        operands.assign(argv + i, argv + argc);
        if (!d_.operands_allowed && !operands.empty())
            usage_error("unexpected argument " + operands.front());
        return operands;
    }

    /// Reports a usage error (the binary's way) and exits.
    [[noreturn]] void usage_error(const std::string& what) const
    {
        if (usage_error_)
            usage_error_(what + " (see --help)");
        const std::string line = d_.program + ": " + what + " (see --help)\n";
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::exit(exit_status::usage);
    }

    /// The --help text: synopsis, summary, options, exit table, notes.
    std::string help() const
    {
        std::string out;
        bool first = true;
        for (std::string_view rest = d_.synopsis; !rest.empty() || first; first = false) {
            const auto nl = rest.find('\n');
            out += (first ? "usage: " : "       ") + d_.program + " " + std::string(rest.substr(0, nl)) + "\n";
            rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        }
        if (!d_.summary.empty())
            out += "\n" + d_.summary + "\n";
        out += "\nOptions:\n";
        const auto row = [&out](std::string left, std::string_view text) {
            constexpr std::size_t column = 30;
            out += "  " + left;
            out += left.size() + 2 < column ? std::string(column - 2 - left.size(), ' ') : "\n" + std::string(column, ' ');
            for (std::size_t start = 0; start <= text.size();) {
                const auto nl = text.find('\n', start);
                out += std::string(text.substr(start, nl - start)) + "\n";
                if (nl == std::string_view::npos)
                    break;
                out += std::string(column, ' ');
                start = nl + 1;
            }
        };
        for (const auto& o : options_) {
            std::string left;
            for (const auto& n : o.names)
                left += (left.empty() ? "" : ", ") + n;
            if (!o.value_name.empty())
                left += " " + o.value_name;
            row(left, o.env.empty() ? o.help : o.help + " [env " + o.env + "]");
        }
        row("-h, --help", "this text");
        row("--version", "print the version");
        if (!d_.exits.empty()) {
            out += "\nExit status:\n";
            for (const auto& e : d_.exits)
                row(e.codes, e.meaning);
        }
        if (!d_.notes.empty())
            out += "\n" + d_.notes + (d_.notes.ends_with('\n') ? "" : "\n");
        return out;
    }

private:
    struct option_spec
    {
        std::vector<std::string> names;
        std::string value_name;
        std::string help;
        std::string env;
        apply_fn apply;
    };

    static std::vector<std::string> split_names(std::string_view names)
    {
        std::vector<std::string> out;
        while (!names.empty()) {
            const auto comma = names.find(',');
            auto n = names.substr(0, comma);
            while (n.starts_with(' '))
                n.remove_prefix(1);
            out.emplace_back(n);
            names = comma == std::string_view::npos ? std::string_view{} : names.substr(comma + 1);
        }
        return out;
    }

    const option_spec* find(std::string_view name) const
    {
        for (const auto& o : options_)
            for (const auto& n : o.names)
                if (n == name)
                    return &o;
        return nullptr;
    }

    description d_;
    std::vector<option_spec> options_;
    usage_error_fn usage_error_;
};

} // namespace nextprism::tools

#endif
