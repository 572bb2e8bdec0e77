#ifndef NEXTPRISM_AUDIT_LOG_HPP
#define NEXTPRISM_AUDIT_LOG_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <chrono>
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
*/
struct audit_record
{
    std::string_view event = "decision";   ///< "decision" or "finished"
    std::chrono::system_clock::time_point time = std::chrono::system_clock::now();
    std::string_view service;
    std::string_view decision;             ///< "allowed" or "refused"
    std::span<const std::string> argv;     ///< canonical argv, when allowed
    std::optional<std::string_view> input; ///< the command string as received
    std::string_view reason;               ///< why it was refused
    std::string_view ssh_client;           ///< SSH_CLIENT: "addr port localport"
    std::string_view ssh_key;              ///< the public key sshd reported (ExposeAuthInfo)
    std::optional<int> exit_code;          ///< for "finished"
    std::optional<double> duration_ms;     ///< for "finished"
};

/// The record as one JSON line, terminated by '\n'.
std::string format_audit_line(const audit_record& record);

/** Extracts the public key from the file named by SSH_USER_AUTH, whose
    lines read "publickey ssh-ed25519 AAAA...". Returns "" when absent. */
std::string read_ssh_user_auth_key(const char* path);

/** Appends audit lines to a file.

    Each line goes out in one write(2) on an O_APPEND descriptor, so lines
    from concurrent validator processes never interleave.
*/
class audit_log
{
public:
    audit_log() = default;
    audit_log(const audit_log&) = delete;
    audit_log& operator=(const audit_log&) = delete;
    audit_log(audit_log&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    audit_log& operator=(audit_log&& other) noexcept;
    ~audit_log();

    /// Opens (creating with mode 0640) `path` for appending.
    void open(const std::string& path, error_code& ec);
    bool is_open() const noexcept { return fd_ >= 0; }

    void write(const audit_record& record, error_code& ec);

private:
    int fd_ = -1;
};

} // namespace nextprism

#include <nextprism/impl/audit_log.hpp>

#endif
