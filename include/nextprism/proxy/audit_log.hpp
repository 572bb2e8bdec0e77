#ifndef NEXTPRISM_PROXY_AUDIT_LOG_HPP
#define NEXTPRISM_PROXY_AUDIT_LOG_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace nextprism {

/** One audit event of the proxy: a decision, or the end of a command.

    Every text field may come from the network. The line is written as
    ASCII-only JSON: control characters, invalid UTF-8 and every non-ASCII
    character are escaped, so an input can neither forge a second line nor
    reorder what a terminal shows (bidi controls).

    The line is bounded (`max_audit_line`, below PIPE_BUF so that a line
    written to a FIFO is never torn): the input is kept as its first bytes
    (at most 512, fewer when escaping grows them) with its full length and
    SHA-256; reasons, argv and the key comment are cut the same way and a
    `*_truncated` field says so. The schema is in docs/proxy.md.
*/
struct audit_record
{
    std::string_view event = "decision";   ///< "decision" or "finished"
    std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
    std::string_view service;
    std::string_view decision;             ///< "allowed" or "refused"
    /// For "finished": "exited", "timeout", "stopped" (the caller went away
    /// or stopped reading, or the proxy was stopped and its drain timed out),
    /// "could_not_stop", "busy", "target_missing",
    /// "engine_error", "internal".
    std::string_view outcome;
    std::span<const std::string> argv;     ///< canonical argv, when allowed
    std::optional<std::string_view> input; ///< the command string as received
    std::string_view input_sha256;         ///< hex SHA-256 of all of `input` (the caller computes it)
    std::string_view reason;               ///< why it was refused / how it ended
    std::string_view ssh_client;           ///< SSH_CLIENT: "addr port localport"
    std::string_view key_type;             ///< e.g. "ssh-ed25519"
    std::string_view key_fingerprint;      ///< "SHA256:<base64>", as sshd logs it
    std::string_view key_comment;          ///< the comment of its authorized_keys line
    /// For "finished" of a run that started: whom it ran as and why,
    /// e.g. "1000:1000 (PHOTOPRISM_UID:PHOTOPRISM_GID)" (exec_user.hpp).
    std::string_view exec_user;
    std::optional<int> exit_code;          ///< for "finished"
    std::optional<double> duration_ms;     ///< for "finished"
};

/// The longest audit line format_audit_line writes, '\n' included.
inline constexpr std::size_t max_audit_line = 2048;

/// The record as one JSON line of at most max_audit_line bytes, ending in '\n'.
std::string format_audit_line(const audit_record& record);

/** Extracts the public key from the file named by SSH_USER_AUTH, whose
    lines read "publickey ssh-ed25519 AAAA...". Returns "" when absent. */
std::string read_ssh_user_auth_key(const char* path);

/** The comment of the authorized_keys line (in the file `path`) whose key
    blob is `blob` (base64, as in the file); "" when none. Options before
    the key type, quoted or not, are skipped. */
std::string authorized_key_comment(const std::string& path, std::string_view blob);

/** Appends audit lines to a file or a FIFO.

    Each line goes out in one write(2) on an O_APPEND descriptor, so lines
    from concurrent validator processes never interleave; on a FIFO a line
    (at most max_audit_line < PIPE_BUF bytes) is written atomically. A FIFO
    is opened without blocking: no reader (the proxy's drainer is gone)
    fails the open with ENXIO, and a FIFO that stays full for
    `fifo_wait` fails the write with ETIMEDOUT, so the caller fails closed.

    With `rotate_at` set (a single writer: the proxy's drainer) a regular
    file is renamed to PATH.1 (PATH.1 to PATH.2, ... up to `keep`) before
    the write that would take it past `rotate_at` bytes.
*/
class audit_log
{
public:
    audit_log() = default;
    audit_log(const audit_log&) = delete;
    audit_log& operator=(const audit_log&) = delete;
    audit_log(audit_log&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), fifo_(other.fifo_), path_(std::move(other.path_)),
          size_(other.size_), rotate_at_(other.rotate_at_), keep_(other.keep_)
    {
    }
    audit_log& operator=(audit_log&& other) noexcept;
    ~audit_log();

    static constexpr int fifo_wait_ms = 2000;

    /// Opens (creating with mode 0640) `path` for appending.
    void open(const std::string& path, error_code& ec);
    bool is_open() const noexcept { return fd_ >= 0; }

    /// Size-based rotation (0: none), keeping `keep` old files.
    void rotate_at(std::uint64_t bytes, unsigned keep = 5) noexcept
    {
        rotate_at_ = bytes;
        keep_ = keep;
    }

    void write(const audit_record& record, error_code& ec);
    /// Writes one preformatted line (ending in '\n').
    void write_line(std::string_view line, error_code& ec);

private:
    void rotate(error_code& ec);

    int fd_ = -1;
    bool fifo_ = false;
    std::string path_;
    std::uint64_t size_ = 0;
    std::uint64_t rotate_at_ = 0;
    unsigned keep_ = 5;
};

} // namespace nextprism

#include <nextprism/proxy/impl/audit_log.hpp>

#endif
