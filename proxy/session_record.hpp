#ifndef NEXTPRISM_PROXY_SESSION_RECORD_HPP
#define NEXTPRISM_PROXY_SESSION_RECORD_HPP

// Who asked for what, as the proxy puts it on record: the one place that
// turns a session (its command string, SSH_CLIENT, its key line) and the
// whitelist's decision into an audit record. The validator's direct mode
// and the broker's child both use it; the broker derives the fingerprint
// and comment from the key line itself, never from what it was told.

#include <nextprism/proxy/audit_log.hpp>
#include <nextprism/whitelist.hpp>
#include <nextprism/detail/sha256.hpp>
#include <nextprism/wire/exit_status.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace nextprism::proxy_run {

/// A session's facts, owned here: the records made from it view into it.
class session_record
{
public:
    session_record(std::string service, std::optional<std::string> input, std::string ssh_client,
                   std::string_view key_line, const std::string& authorized_keys)
        : service_(std::move(service)), input_(std::move(input)), ssh_client_(std::move(ssh_client)),
          key_(nextprism::detail::fingerprint_of(key_line)),
          key_comment_(authorized_key_comment(authorized_keys, key_.blob)),
          input_sha256_(input_ ? nextprism::detail::sha256_hex(*input_) : std::string())
    {
    }

    session_record(const session_record&) = delete; // records point into it
    session_record& operator=(const session_record&) = delete;

    const std::string& key_fingerprint() const noexcept { return key_.fingerprint; }

    /// The "decision" record of `d` (views into this object and into `d`).
    audit_record decided(const decision& d) const
    {
        audit_record r;
        r.service = service_;
        if (input_)
            r.input = std::string_view(*input_);
        r.input_sha256 = input_sha256_;
        r.ssh_client = ssh_client_;
        r.key_type = key_.type;
        r.key_fingerprint = key_.fingerprint;
        r.key_comment = key_comment_;
        r.decision = d ? "allowed" : "refused";
        r.argv = d.command.exec_argv; // what runs in the container
        r.reason = d.reason;
        if (!d) {
            r.outcome = "refused";
            r.exit_code = proxy_exit_code::refused;
        }
        return r;
    }

private:
    std::string service_;
    std::optional<std::string> input_;
    std::string ssh_client_;
    nextprism::detail::key_fingerprint key_;
    std::string key_comment_;
    std::string input_sha256_;
};

} // namespace nextprism::proxy_run

#endif
