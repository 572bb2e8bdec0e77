#ifndef NEXTPRISM_PROGRESS_HPP
#define NEXTPRISM_PROGRESS_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/output.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace nextprism {

/// How far a long scan has come, as its own output says.
struct progress
{
    std::uint64_t files = 0;   ///< files the command reported handling
    std::uint64_t folders = 0; ///< folders it entered (occ files:scan -v)
    std::string last;          ///< the last file or folder named (at most 256 bytes)
};

/** Reads a command's output for the lines that mark progress. Only the
    forms the real CLIs write, read from their sources:

    - `occ files:scan -v` (apps/files/lib/Command/Scan.php): one
      "\tFile\t<path>" or "\tFolder\t<path>" line per entry (Symfony strips
      the <info> tags on an undecorated output, as through `docker exec`
      without a terminal);
    - PhotoPrism's logrus lines on stderr, `msg="index: <result> main jpg
      file <name>"` (and `related`) per indexed file, `import: moving …`
      per imported one.

    Lines are split per stream with a bounded buffer (a longer line is cut
    and still counted once); anything else is ignored. */
class progress_scanner
{
public:
    static constexpr std::size_t max_line = 4096;

    /// Takes the next bytes of `s`; true when the progress changed.
    bool feed(output_stream s, std::string_view data)
    {
        auto& pending = s == output_stream::out ? out_ : err_;
        bool changed = false;
        while (!data.empty()) {
            const auto nl = data.find('\n');
            const auto part = data.substr(0, nl);
            if (pending.size() < max_line)
                pending.append(part.substr(0, max_line - pending.size()));
            if (nl == std::string_view::npos)
                break;
            changed = line(pending) || changed;
            pending.clear();
            data.remove_prefix(nl + 1);
        }
        return changed;
    }

    const progress& current() const noexcept { return p_; }

private:
    bool line(std::string_view l)
    {
        if (!l.empty() && l.back() == '\r')
            l.remove_suffix(1);
        if (l.starts_with("\tFile\t"))
            return count(p_.files, l.substr(6));
        if (l.starts_with("\tFolder\t"))
            return count(p_.folders, l.substr(8));
        const auto msg = l.find(" msg=");
        if (msg == std::string_view::npos || l.find("level=") == std::string_view::npos)
            return false;
        auto m = l.substr(msg + 5);
        if (m.starts_with('"'))
            m.remove_prefix(1);
        if (m.ends_with('"'))
            m.remove_suffix(1);
        // "index: <result> main|related <type> file <name>"
        // (internal/photoprism/index_main.go, index_related.go), the
        // result being added, updated, skipped, …; "import: moving …".
        if (m.starts_with("index: ")) {
            const auto kind = m.find(' ', 7);
            if (kind != std::string_view::npos) {
                const auto rest = m.substr(kind + 1);
                if (rest.starts_with("main ") || rest.starts_with("related ")) {
                    const auto file = rest.find(" file ");
                    if (file != std::string_view::npos)
                        return count(p_.files, rest.substr(file + 6));
                }
            }
        }
        if (m.starts_with("import: moving "))
            return count(p_.files, m.substr(15));
        return false;
    }

    bool count(std::uint64_t& n, std::string_view name)
    {
        ++n;
        p_.last.assign(name.substr(0, 256));
        return true;
    }

    progress p_;
    std::string out_, err_;
};

} // namespace nextprism

#endif
