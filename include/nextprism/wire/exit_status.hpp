#ifndef NEXTPRISM_WIRE_EXIT_STATUS_HPP
#define NEXTPRISM_WIRE_EXIT_STATUS_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/error.hpp>
#include <nextprism/output.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace nextprism {

/** The proxy's wire contract with its callers, both directions in one
    table: `nextprism-validate` encodes its own failures with
    `to_exit_status` and `proxy_exit_line`, the client decodes them with
    `from_exit_status`.

    A command that ran exits with its own status, which the proxy passes on
    unchanged; the codes below are those of the proxy itself. They sit in a
    range the whitelisted CLIs do not use (occ and photoprism exit 0, 1 or
    2), but a status alone cannot tell them apart from a command that
    happens to exit 66 or 69, and PhotoPrism writes only to stderr, so an
    empty stdout does not either. The proxy's own exit therefore always
    comes with exactly one stderr line, "nextprism: <what>[: <detail>]\n",
    and nothing else on stdout or stderr; the client decodes a status only
    when what it received is exactly that (`proxy_stderr` keeps a bounded
    prefix of stderr to check it). Anything else is the command's own
    status: data.

    The start line. Just before it asks the engine to start the command,
    the proxy writes "nextprism: running in <container> (exec <id>)\n" as
    the first bytes of stderr (`proxy_start_line`). Its absence from a run
    that ended cleanly means the command never started, whatever the
    status: the client knows, not guesses, whether a failed run may be
    repeated. The client takes it out of the stderr it passes on and keeps
    it in the result (`command_result::started_in`); after it, the proxy's
    own exit is again exactly one line.

    | status | meaning                         | error                  | condition |
    |--------|---------------------------------|------------------------|-----------|
    | 64     | usage: proxy misconfigured      | proxy_misconfigured    | permanent |
    | 65     | refused by the proxy's whitelist| proxy_refused          | rejected  |
    | 66     | busy: a single-flight run       | busy                   | transient |
    | 69     | target missing on this node     | target_not_found       | transient (moved) |
    | 70     | internal error in the proxy     | proxy_internal         | permanent |
    | 74     | audit log unwritable, nothing ran | audit_log_failed     | transient (a blocked sink recovers) |
    | 75     | Docker engine error             | engine_error           | transient, may have started |
    | 76     | stop failed: it may still run   | command_not_stopped    | permanent (never retried) |
    | 124    | the command timed out, stopped  | timeout                | transient, may have started |

    "May have started": the retry rule never repeats a non-idempotent
    command after such an error (retry.hpp, `is_retryable`).
*/
namespace proxy_exit_code {

inline constexpr int usage = 64;          ///< the proxy is misconfigured (service, whitelist file)
inline constexpr int refused = 65;        ///< the command is not on the whitelist
inline constexpr int busy = 66;           ///< a single-flight command already runs
inline constexpr int target_missing = 69; ///< no running target container
inline constexpr int internal = 70;       ///< a bug or an unexpected failure
inline constexpr int audit_failed = 74;   ///< the audit log cannot be written: nothing ran
inline constexpr int engine_error = 75;   ///< the Docker engine failed or is unreachable
inline constexpr int not_stopped = 76;    ///< a stop was tried and the engine says it still runs
inline constexpr int timeout = 124;       ///< the command exceeded its deadline and was stopped

/// The prefix of the proxy's one stderr line.
inline constexpr std::string_view line_prefix = "nextprism: ";

/// The prefix of the start line, the first line of stderr of a command
/// the proxy starts.
inline constexpr std::string_view start_prefix = "nextprism: running in ";

} // namespace proxy_exit_code

/// One row of the contract: a status and the error it stands for.
struct proxy_exit_row
{
    int status;
    error code;
};

/// The table (both directions read it).
inline constexpr proxy_exit_row proxy_exit_table[] = {
    {proxy_exit_code::usage, error::proxy_misconfigured},
    {proxy_exit_code::refused, error::proxy_refused},
    {proxy_exit_code::busy, error::busy},
    {proxy_exit_code::target_missing, error::target_not_found},
    {proxy_exit_code::internal, error::proxy_internal},
    {proxy_exit_code::audit_failed, error::audit_log_failed},
    {proxy_exit_code::engine_error, error::engine_error},
    {proxy_exit_code::not_stopped, error::command_not_stopped},
    {proxy_exit_code::timeout, error::timeout},
};

/** The validator's side: the exit status for a failure of its own. Errors
    without a row of their own take the row of their kind: a missing or
    stopped container is 69, any refusal (the whitelist's reasons) 65, a
    bad whitelist or configuration 64, an unexpected library failure 70;
    anything else from running the command counts as an engine error (75). */
inline int to_exit_status(const error_code& ec) noexcept
{
    for (const auto& row : proxy_exit_table)
        if (ec == row.code)
            return row.status;
    if (ec == error::target_not_running)
        return proxy_exit_code::target_missing;
    if (ec == condition::rejected)
        return proxy_exit_code::refused;
    if (ec == error::invalid_whitelist || ec == error::invalid_configuration)
        return proxy_exit_code::usage;
    if (ec == error::internal_error)
        return proxy_exit_code::internal;
    return proxy_exit_code::engine_error;
}

/** The validator's side: its one stderr line. Line breaks and other
    control characters in `what` and `detail` become spaces, so that it
    stays one line whatever a reason quotes. */
inline std::string proxy_exit_line(std::string_view what, std::string_view detail = {})
{
    std::string line(proxy_exit_code::line_prefix);
    auto append = [&line](std::string_view text) {
        for (const char c : text)
            line += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    };
    append(what);
    if (!detail.empty()) {
        line += ": ";
        append(detail);
    }
    line += '\n';
    return line;
}

/// The proxy's side: its start line for the exec `exec_id` in `container`.
inline std::string proxy_start_line(std::string_view container, std::string_view exec_id)
{
    return proxy_exit_line("running in " + started_in_label(container, exec_id));
}

/** The client's side: what a run wrote on stderr. It takes the start line
    out (`feed` passes on the rest), and keeps enough of the rest to tell
    whether it was exactly the proxy's one line. Memory stays bounded: the
    first `max_prefix` bytes are kept, the rest only counted. */
class proxy_stderr
{
public:
    static constexpr std::size_t max_prefix = 512;

    /// Takes `data`, the next bytes of stderr; calls `pass(rest)` with
    /// what is not the start line (possibly later, for bytes held while
    /// the first line is incomplete: call `finish` at the end).
    template<class Pass>
    void feed(std::string_view data, Pass&& pass)
    {
        if (!first_line_done_) {
            const auto room = max_prefix - std::min(max_prefix, head_.size());
            const auto nl = data.substr(0, room).find('\n');
            if (nl == std::string_view::npos && data.size() < room) {
                head_.append(data); // the first line goes on
                return;
            }
            const auto take = nl == std::string_view::npos ? room : nl + 1;
            head_.append(data.substr(0, take));
            data.remove_prefix(take);
            first_line_done_ = true;
            if (head_.ends_with('\n') && std::string_view(head_).starts_with(proxy_exit_code::start_prefix)) {
                start_line_ = std::move(head_);
            } else {
                count(head_);
                pass(std::string_view(head_));
            }
            head_.clear();
        }
        if (!data.empty()) {
            count(data);
            pass(data);
        }
    }

    /// Without passing anything on (a test, or the start line unused).
    void feed(std::string_view data)
    {
        feed(data, [](std::string_view) {});
    }

    /// The end of stderr: passes on a first line that never ended.
    template<class Pass>
    void finish(Pass&& pass)
    {
        if (!first_line_done_ && !head_.empty()) {
            count(head_);
            pass(std::string_view(head_));
        }
        first_line_done_ = true;
        head_.clear();
    }

    /// The proxy wrote its start line: the command may have started.
    bool started() const noexcept { return !start_line_.empty(); }

    /// What the start line names: "<container> (exec <id>)"; empty without one.
    std::string_view started_in() const noexcept
    {
        if (start_line_.empty())
            return {};
        std::string_view s(start_line_);
        s.remove_prefix(proxy_exit_code::start_prefix.size());
        s.remove_suffix(1);
        return s;
    }

    /// The size of the start line, line break included (0 without one).
    std::size_t start_line_size() const noexcept { return start_line_.size(); }

    /// After the start line: exactly one line, ending with a line break,
    /// that starts with "nextprism: ".
    bool is_proxy_line() const noexcept
    {
        return lines_ == 1 && last_ == '\n' && std::string_view(prefix_).starts_with(proxy_exit_code::line_prefix);
    }

    /// Up to `max_prefix` bytes of what came after the start line.
    std::string_view prefix() const noexcept { return prefix_; }
    std::uint64_t bytes() const noexcept { return bytes_; }

private:
    void count(std::string_view data)
    {
        if (data.empty())
            return;
        const auto keep = std::min(data.size(), max_prefix - std::min(max_prefix, prefix_.size()));
        prefix_.append(data.substr(0, keep));
        lines_ += static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n'));
        last_ = data.back();
        bytes_ += data.size();
    }

    std::string head_; // the first line, while it is incomplete
    bool first_line_done_ = false;
    std::string start_line_;
    std::string prefix_;
    std::size_t lines_ = 0;
    char last_ = 0;
    std::uint64_t bytes_ = 0;
};

/** The client's side: the proxy's error for a run that ended with `status`
    after writing `stdout_bytes` to stdout and `err` to stderr; none (the
    status is the command's own) unless stdout is empty, stderr is exactly
    the proxy's one line and the status has a row. */
inline error_code from_exit_status(int status, std::uint64_t stdout_bytes, const proxy_stderr& err) noexcept
{
    if (stdout_bytes != 0 || !err.is_proxy_line())
        return {};
    for (const auto& row : proxy_exit_table)
        if (row.status == status)
            return row.code;
    return {};
}

/** The client's side, whole: a proxied run decoded into what every
    transport answers the executor with. A proxy transport hands
    `operator()` to the raw run as its output handler (stdout passes on,
    stderr loses the start line) and, when the raw run ends, calls `finish`
    once; the executor then sees an `error_code` and a `command_result`
    like the local engine's, with `started_in` and `started` filled in, and
    knows no proxy protocol. */
class proxy_reply
{
public:
    /// `on_start` (may be empty): called once, when the start line has come.
    explicit proxy_reply(output_handler out, start_handler on_start = {})
        : out_(std::move(out)), on_start_(std::move(on_start))
    {
    }

    void operator()(output_stream s, std::string_view data)
    {
        if (s == output_stream::err) {
            // Announced before any stderr that came with the start line.
            err_.feed(data, [this](std::string_view rest) {
                announce();
                pass(rest);
            });
            announce();
        } else if (out_) {
            out_(s, data);
        }
    }

    /// "<container> (exec <id>)" read back into its parts.
    static start_report start_of(std::string_view started_in)
    {
        constexpr std::string_view mark = " (exec ";
        const auto at = started_in.rfind(mark);
        if (at == std::string_view::npos || !started_in.ends_with(')'))
            return {{}, std::string(started_in), {}, {}};
        const auto id = started_in.substr(at + mark.size());
        return {{}, std::string(started_in.substr(0, at)), std::string(id.substr(0, id.size() - 1)), {}};
    }

    /** After the raw run ended with `ec` and `r`: the run's error (the
        transport's own, or the proxy's from its exit table) and `r` as the
        caller reads it (start line out of `stderr_bytes`, `started_in`
        set; `started` known when the proxy ended the run itself). */
    error_code finish(error_code ec, command_result& r)
    {
        err_.finish([this](std::string_view rest) { pass(rest); });
        r.started_in = std::string(err_.started_in());
        r.stderr_bytes -= std::min<std::uint64_t>(r.stderr_bytes, err_.start_line_size());
        if (ec)
            return ec; // cut off: whether it started is the error table's guess
        r.started = err_.started(); // a clean end: known
        return from_exit_status(r.exit_code, r.stdout_bytes, err_);
    }

private:
    void announce()
    {
        if (on_start_ && err_.started())
            std::exchange(on_start_, {})(start_of(err_.started_in()));
    }

    void pass(std::string_view data)
    {
        if (out_ && !data.empty())
            out_(output_stream::err, data);
    }

    output_handler out_;
    start_handler on_start_;
    proxy_stderr err_;
};

} // namespace nextprism

#endif
