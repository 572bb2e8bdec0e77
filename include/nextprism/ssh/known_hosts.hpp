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

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

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
                                            const hashed_matcher& hashed_match = {})
{
    known_hosts_result result;
    known_hosts_result mismatch, unsupported;
    bool matched = false;
    std::size_t number = 0;
    auto invalid = [&](std::string why) {
        known_hosts_result r;
        r.verdict = host_verdict::invalid;
        r.line = number;
        r.message = "known_hosts line " + std::to_string(number) + ": " + why +
                    "; nothing is trusted from a file that does not parse";
        return r;
    };
    while (!text.empty()) {
        ++number;
        const auto end = text.find('\n');
        std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        // Fields separated by blanks.
        std::vector<std::string_view> fields;
        for (std::size_t i = 0; i < line.size();) {
            while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
                ++i;
            if (i >= line.size() || line[i] == '#')
                break;
            const auto start = i;
            while (i < line.size() && line[i] != ' ' && line[i] != '\t')
                ++i;
            fields.push_back(line.substr(start, i - start));
            // The comment (fourth field on) is free text, '#' included.
            if (fields.size() == 4 || (fields.size() == 5 && fields[0].starts_with('@')))
                break;
        }
        if (fields.empty())
            continue;
        std::string_view marker;
        if (fields[0].starts_with('@')) {
            marker = fields[0];
            fields.erase(fields.begin());
            if (marker != "@revoked" && marker != "@cert-authority")
                return invalid("unknown marker " + std::string(marker));
        }
        if (fields.size() < 3)
            return invalid("expected host patterns, key type and key");
        const auto patterns = fields[0], type = fields[1], b64 = fields[2];
        std::string blob;
        if (!base64_decode(b64, blob))
            return invalid("the key is not base64");
        // The blob starts with its own type name: a line cannot claim one
        // type and carry another key.
        if (blob.size() < 4 + type.size() ||
            ((std::size_t{static_cast<unsigned char>(blob[0])} << 24) |
             (std::size_t{static_cast<unsigned char>(blob[1])} << 16) |
             (std::size_t{static_cast<unsigned char>(blob[2])} << 8) | std::size_t{static_cast<unsigned char>(blob[3])}) !=
                type.size() ||
            std::string_view(blob).substr(4, type.size()) != type)
            return invalid("the key does not match its type " + std::string(type));
        const bool same_key = type == key_type && blob == key_blob;
        if (marker == "@revoked") {
            if (same_key) {
                result.verdict = host_verdict::revoked;
                result.line = number;
                result.message = "known_hosts line " + std::to_string(number) + ": the host key (" +
                                 std::string(type) + ") is @revoked";
                return result; // whatever the host patterns say
            }
            continue;
        }
        // Host patterns: any positive match, no negated match.
        bool positive = false, negated = false;
        for (std::size_t i = 0; i <= patterns.size();) {
            const auto comma = patterns.find(',', i);
            const auto p = patterns.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
            i = comma == std::string_view::npos ? patterns.size() + 1 : comma + 1;
            if (p.empty())
                return invalid("an empty host pattern");
            if (p.starts_with("|1|")) {
                if (marker == "@cert-authority" || !hashed_match)
                    continue;
                if (hashed_match(p, name))
                    positive = true;
            } else if (p.starts_with('!')) {
                if (glob_match(p.substr(1), name))
                    negated = true;
            } else if (glob_match(p, name)) {
                positive = true;
            }
        }
        if (!positive || negated)
            continue;
        if (marker == "@cert-authority") {
            if (unsupported.line == 0) {
                unsupported.verdict = host_verdict::unsupported;
                unsupported.line = number;
                unsupported.message = "known_hosts line " + std::to_string(number) +
                                      ": @cert-authority is not supported (libssh2 1.10 has no host "
                                      "certificates); list the proxy's host key itself";
            }
            continue;
        }
        if (same_key)
            matched = true;
        else if (mismatch.line == 0) {
            mismatch.verdict = host_verdict::mismatch;
            mismatch.line = number;
            mismatch.message = "known_hosts line " + std::to_string(number) + " has another " +
                               std::string(type) + " key for " + name + ": possible attack";
        }
    }
    if (unsupported.line)
        return unsupported;
    if (matched)
        return {host_verdict::match, 0, {}};
    if (mismatch.line)
        return mismatch;
    return result; // not_found
}

/** Reads all of `path`. ENOENT is reported as `missing` (a first use);
    any other failure as an error message. */
inline bool read_known_hosts(const std::string& path, std::string& text, bool& missing, std::string& why)
{
    text.clear();
    missing = false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        missing = errno == ENOENT;
        why = "cannot read known_hosts " + path + ": " + std::strerror(errno);
        return missing;
    }
    char buffer[8192];
    for (;;) {
        const auto n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            why = "cannot read known_hosts " + path + ": " + std::strerror(errno);
            ::close(fd);
            return false;
        }
        if (n == 0)
            break;
        text.append(buffer, static_cast<std::size_t>(n));
        if (text.size() > 16 * 1024 * 1024) {
            why = "known_hosts " + path + " is larger than 16 MiB";
            ::close(fd);
            return false;
        }
    }
    ::close(fd);
    return true;
}

/** Trust on first use: under an exclusive lock (PATH.lock), reads the file
    again and, only if it still says nothing about `name` (or does not
    exist), writes its old content plus `line` to a temporary file in the
    same directory and renames it over PATH (atomic: a reader sees the old
    file or the new one, never a half-written one). Returns the verdict the
    file gave under the lock (not_found when the line was added). */
inline known_hosts_result trust_first_use(const std::string& path, const std::string& name,
                                          std::string_view key_type, std::string_view key_blob,
                                          const std::string& line, const hashed_matcher& hashed_match = {})
{
    known_hosts_result r;
    auto fail = [&](std::string why) {
        r.verdict = host_verdict::invalid;
        r.message = std::move(why);
        return r;
    };
    const std::string lock_path = path + ".lock";
    const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0)
        return fail("cannot lock " + lock_path + ": " + std::strerror(errno));
    struct unlock { int fd; ~unlock() { ::close(fd); } } guard{lock};
    if (::flock(lock, LOCK_EX) != 0)
        return fail("cannot lock " + lock_path + ": " + std::strerror(errno));
    std::string text, why;
    bool missing = false;
    if (!read_known_hosts(path, text, missing, why))
        return fail(why);
    r = check_known_hosts(text, name, key_type, key_blob, hashed_match);
    if (r.verdict != host_verdict::not_found)
        return r; // decided meanwhile, or not ours to decide
    mode_t mode = 0600;
    struct stat st {};
    if (!missing && ::stat(path.c_str(), &st) == 0)
        mode = st.st_mode & 07777;
    if (!text.empty() && text.back() != '\n')
        text += '\n';
    text += line;
    text += '\n';
    const std::string temp = path + ".tmp." + std::to_string(::getpid());
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return fail("cannot write " + temp + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
        const auto n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int e = errno;
            ::close(fd);
            ::unlink(temp.c_str());
            return fail("cannot write " + temp + ": " + std::strerror(e));
        }
        done += static_cast<std::size_t>(n);
    }
    const bool synced = ::fsync(fd) == 0;
    if (::close(fd) != 0 || !synced || ::rename(temp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        ::unlink(temp.c_str());
        return fail("cannot replace " + path + ": " + std::strerror(e));
    }
    return r;
}

} // namespace nextprism::ssh::detail

#endif
