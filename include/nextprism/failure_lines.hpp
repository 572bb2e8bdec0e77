#ifndef NEXTPRISM_FAILURE_LINES_HPP
#define NEXTPRISM_FAILURE_LINES_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/authorized_command.hpp>

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism {

/** Finds the output lines that say a command failed although it exited 0.

    PhotoPrism exits 0 on almost every error and logs it instead
    (`time="…" level=error msg="…"` on stderr); occ's `files:scan` exits 0
    for an unknown user. The service's `failure_pattern`s (from the whitelist)
    say how a failure shows; this scanner is fed the output as it streams,
    splits each stream into lines across chunk boundaries, and keeps the
    first matching lines. Memory is bounded whatever the output: a line is
    judged on its first `max_line` bytes, and at most `max_kept` lines are
    kept (each cut to `max_line`).
*/
class failure_scanner
{
public:
    static constexpr std::size_t max_line = 512;
    static constexpr std::size_t max_kept = 8;

    failure_scanner() = default;
    explicit failure_scanner(std::span<const failure_pattern> patterns) : patterns_(patterns) {}

    /// Feeds a chunk of output.
    void feed(output_stream s, std::string_view data);

    /// Judges a last line that had no newline. Call once, at the end.
    void finish();

    /// The matching lines so far (without their newline), at most max_kept.
    const std::vector<std::string>& lines() const noexcept { return lines_; }

    /// How many lines matched, including those not kept.
    std::size_t count() const noexcept { return count_; }

private:
    struct pending
    {
        std::string text;
        bool cut = false; ///< longer than max_line; the rest is skipped
    };

    void judge(output_stream s, pending& p);

    std::span<const failure_pattern> patterns_;
    std::array<pending, 2> pending_; ///< [0]: stdout, [1]: stderr
    std::vector<std::string> lines_;
    std::size_t count_ = 0;
};

inline void failure_scanner::feed(output_stream s, std::string_view data)
{
    if (patterns_.empty())
        return;
    pending& p = pending_[s == output_stream::out ? 0 : 1];
    while (!data.empty()) {
        const auto nl = data.find('\n');
        const auto piece = data.substr(0, nl);
        if (!p.cut) {
            const auto room = max_line - p.text.size();
            p.text.append(piece.substr(0, room));
            p.cut = piece.size() > room;
        }
        if (nl == std::string_view::npos)
            return;
        judge(s, p);
        data.remove_prefix(nl + 1);
    }
}

inline void failure_scanner::finish()
{
    for (auto s : {output_stream::out, output_stream::err}) {
        pending& p = pending_[s == output_stream::out ? 0 : 1];
        if (!p.text.empty())
            judge(s, p);
    }
}

inline void failure_scanner::judge(output_stream s, pending& p)
{
    std::string_view line = p.text;
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    for (const auto& pattern : patterns_)
        if (pattern.matches(s, line)) {
            ++count_;
            if (lines_.size() < max_kept)
                lines_.emplace_back(line);
            break;
        }
    p.text.clear();
    p.cut = false;
}

/** The exit status a command-line tool passes on for `r`: the command's
    own, except that a command which exited 0 but printed a failure line
    exits `reported_failure` (the tools print the line on stderr). */
inline constexpr int reported_failure = 1;

inline int caller_exit_status(const command_result& r) noexcept
{
    return r.exit_code == 0 && !r.failure_lines.empty() ? reported_failure : r.exit_code;
}

} // namespace nextprism

#endif
