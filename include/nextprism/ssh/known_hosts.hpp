#ifndef NEXTPRISM_SSH_KNOWN_HOSTS_HPP
#define NEXTPRISM_SSH_KNOWN_HOSTS_HPP

// The client's known_hosts check, read by nextprism itself rather than by
// libssh2 1.10, which skips lines it cannot parse (a half-parsable file
// then looks like "host unknown", and trust-on-first-use rewrote the file
// with only what parsed), ignores @revoked and @cert-authority, and lets
// a bare `host` entry vouch for that key on every port.
//
// Supported, as OpenSSH reads them: `#` comments and blank lines; host
// patterns separated by commas with `*`, `?` and `!` negation, matched
// case-insensitively against `host` (port 22) or `[host]:port`; hashed
// names (`|1|salt|hash`, matched by the caller's `hashed_match`, libssh2
// in the session); `@revoked` (the key is refused for every host);
// `@cert-authority` for this host is refused with a clear error (no
// certificates in libssh2 1.10). Any line that does not parse fails the
// whole check: nothing is trusted from a file that is not understood.

#include <nextprism/detail/config.hpp>
#include <nextprism/detail/sha256.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace nextprism::ssh::detail {

enum class host_verdict
{
    match,       ///< a line for this host has this key
    mismatch,    ///< the host is known with another key: possible attack
    not_found,   ///< nothing about this host: the only case first use may trust
    revoked,     ///< the key is listed @revoked
    unsupported, ///< a @cert-authority line is about this host
    invalid,     ///< the file could not be read or parsed: nothing is trusted
};

struct known_hosts_result
{
    host_verdict verdict = host_verdict::not_found;
    std::size_t line = 0; ///< 1-based line that decided, 0 when none
    std::string message;  ///< for every verdict but match / not_found
};

/// `host` for port 22, `[host]:port` otherwise (OpenSSH's form).
inline std::string known_host_name(const std::string& host, unsigned short port)
{
    return port == 22 ? host : "[" + host + "]:" + std::to_string(port);
}

/// Decodes standard base64 with padding; false on any other character
/// (detail/sha256.hpp's decoder, which the audit log's fingerprints share).
inline bool base64_decode(std::string_view in, std::string& out)
{
    auto decoded = in.empty() ? std::nullopt : nextprism::detail::base64_decode(in);
    out = decoded ? std::move(*decoded) : std::string();
    return decoded.has_value();
}

/// OpenSSH's glob: `*` any run, `?` one character, case-insensitive.
inline bool glob_match(std::string_view pattern, std::string_view text)
{
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    std::size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
    while (t < text.size()) {
        if (p < pattern.size() && (pattern[p] == '?' || lower(pattern[p]) == lower(text[t]))) {
            ++p, ++t;
        } else if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            mark = t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*')
        ++p;
    return p == pattern.size();
}

/// Matches one hashed pattern (`|1|salt|hash`) against a name.
using hashed_matcher = std::function<bool(std::string_view pattern, const std::string& name)>;

/** Decides what `text` (a known_hosts file) says about `name`
    (known_host_name) presenting the key `key_type` / `key_blob` (the raw
    SSH wire blob). */
inline known_hosts_result check_known_hosts(std::string_view text, const std::string& name,
                                            std::string_view key_type, std::string_view key_blob,
                                            const hashed_matcher& hashed_match = {});

/** Reads all of `path`. ENOENT is reported as `missing` (a first use);
    any other failure as an error message. */
inline bool read_known_hosts(const std::string& path, std::string& text, bool& missing, std::string& why);

/** Trust on first use: under an exclusive lock (PATH.lock), reads the file
    again and, only if it still says nothing about `name` (or does not
    exist), writes its old content plus `line` to a temporary file in the
    same directory and renames it over PATH (atomic: a reader sees the old
    file or the new one, never a half-written one). Returns the verdict the
    file gave under the lock (not_found when the line was added). */
inline known_hosts_result trust_first_use(const std::string& path, const std::string& name,
                                          std::string_view key_type, std::string_view key_blob,
                                          const std::string& line, const hashed_matcher& hashed_match = {});

} // namespace nextprism::ssh::detail

#include <nextprism/ssh/impl/known_hosts.hpp>

#endif
