#ifndef NEXTPRISM_TESTS_SUPPORT_PHOTOPRISM_PATHS_HPP
#define NEXTPRISM_TESTS_SUPPORT_PHOTOPRISM_PATHS_HPP

// Where a PhotoPrism command would read and write, computed the way
// PhotoPrism computes it (internal/commands/{index,import}.go): the argument
// is strings.TrimSpace'd (Unicode white space), then the import source goes
// through filepath.Abs against the working directory, the index folder
// through filepath.Join with the originals path. Used by the whitelist tests
// and the fuzzer to check that nothing the whitelist allows resolves outside
// the import folder (import) or the originals folder (index). The stand-in
// PhotoPrism (Go, the real path functions) checks the same on the real thing.

#include <nextprism/whitelist.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism::test {

inline std::string go_trim_space(std::string_view s)
{
    auto space_at = [&](std::size_t pos) -> std::size_t { // length of a space at pos, or 0
        const auto cp = nextprism::detail::decode_utf8(s, pos);
        return cp && nextprism::detail::is_unicode_space(cp->value) ? cp->length : 0;
    };
    while (!s.empty()) {
        const auto n = space_at(0);
        if (n == 0)
            break;
        s.remove_prefix(n);
    }
    while (!s.empty()) {
        std::size_t start = s.size() - 1;
        while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
            --start;
        if (space_at(start) != s.size() - start)
            break;
        s.remove_suffix(s.size() - start);
    }
    return std::string(s);
}

/// Go's filepath.Clean for an absolute path.
inline std::string go_clean_absolute(std::string_view p)
{
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (start <= p.size()) {
        const auto end = std::min(p.find('/', start), p.size());
        const auto seg = p.substr(start, end - start);
        if (seg == "..") {
            if (!parts.empty())
                parts.pop_back();
        } else if (!seg.empty() && seg != ".") {
            parts.push_back(seg);
        }
        start = end + 1;
    }
    std::string out;
    for (auto s : parts)
        out.append("/").append(s);
    return out.empty() ? "/" : out;
}

inline bool is_within(std::string_view path, std::string_view dir)
{
    return path == dir || (path.starts_with(dir) && path.size() > dir.size() && path[dir.size()] == '/');
}

/// The folder a photoprism index/import argv would work on; nullopt for other commands.
struct photoprism_target
{
    std::string command; ///< "index" or "import"
    std::string path;    ///< absolute, cleaned
    std::optional<std::string> dest; ///< import --dest, resolved under originals
};

inline std::optional<photoprism_target> resolve_photoprism(const std::vector<std::string>& argv,
                                                           std::string_view cwd = "/photoprism")
{
    constexpr std::string_view originals = "/photoprism/originals";
    constexpr std::string_view import_path = "/photoprism/import";
    if (argv.size() < 2 || argv[0] != "photoprism" || (argv[1] != "index" && argv[1] != "import"))
        return std::nullopt;
    photoprism_target t{argv[1], {}, {}};
    std::optional<std::string> argument;
    bool positional = false;
    for (std::size_t i = 2; i < argv.size(); ++i) {
        if (!positional && argv[i] == "--") {
            positional = true;
        } else if (!positional && argv[i].starts_with("--dest=")) {
            t.dest = go_clean_absolute(std::string(originals) + "/" + go_trim_space(argv[i].substr(7)));
        } else if (positional || !argv[i].starts_with("-")) {
            argument = argv[i];
        }
    }
    const std::string arg = argument ? go_trim_space(*argument) : std::string();
    if (t.command == "index")
        t.path = arg.empty() ? std::string(originals) : go_clean_absolute(std::string(originals) + "/" + arg);
    else if (arg.empty())
        t.path = std::string(import_path);
    else
        t.path = go_clean_absolute(arg.front() == '/' ? arg : std::string(cwd) + "/" + arg);
    return t;
}

/// Whether a photoprism argv stays where it must: import reads only inside
/// the import folder and writes only inside originals; index only inside
/// originals.
inline bool photoprism_stays_inside(const std::vector<std::string>& argv)
{
    const auto t = resolve_photoprism(argv);
    if (!t)
        return true;
    if (t->dest && !is_within(*t->dest, "/photoprism/originals"))
        return false;
    return t->command == "index" ? is_within(t->path, "/photoprism/originals")
                                 : is_within(t->path, "/photoprism/import");
}

} // namespace nextprism::test

#endif
