#ifndef NEXTPRISM_SSH_IMPL_KNOWN_HOSTS_HPP
#define NEXTPRISM_SSH_IMPL_KNOWN_HOSTS_HPP

// The known_hosts parser, one line at a time, and the file's reading and
// rewriting. Included by ssh/known_hosts.hpp.

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace nextprism::ssh::detail {

/// Takes the first line off `text`, without its line end.
inline std::string_view take_line(std::string_view& text)
{
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    return line;
}

/// A line's fields, separated by blanks; none for a blank or comment line.
inline std::vector<std::string_view> known_hosts_fields(std::string_view line)
{
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
    return fields;
}

/// One known_hosts entry: `[marker] patterns type key`.
struct known_hosts_entry
{
    std::string_view marker; ///< "@revoked", "@cert-authority" or empty
    std::string_view patterns;
    std::string_view type;
    std::string blob; ///< the key, decoded
};

/// The blob starts with its own type name: a line cannot claim one type
/// and carry another key.
inline bool blob_has_type(const std::string& blob, std::string_view type)
{
    return !(blob.size() < 4 + type.size() ||
             ((std::size_t{static_cast<unsigned char>(blob[0])} << 24) |
              (std::size_t{static_cast<unsigned char>(blob[1])} << 16) |
              (std::size_t{static_cast<unsigned char>(blob[2])} << 8) | std::size_t{static_cast<unsigned char>(blob[3])}) !=
                 type.size() ||
             std::string_view(blob).substr(4, type.size()) != type);
}

/// Reads an entry from a line's fields (not empty): "" when it parsed,
/// else why not.
inline std::string parse_known_hosts_entry(std::vector<std::string_view> fields, known_hosts_entry& entry)
{
    if (fields[0].starts_with('@')) {
        entry.marker = fields[0];
        fields.erase(fields.begin());
        if (entry.marker != "@revoked" && entry.marker != "@cert-authority")
            return "unknown marker " + std::string(entry.marker);
    }
    if (fields.size() < 3)
        return "expected host patterns, key type and key";
    entry.patterns = fields[0];
    entry.type = fields[1];
    if (!base64_decode(fields[2], entry.blob))
        return "the key is not base64";
    if (!blob_has_type(entry.blob, entry.type))
        return "the key does not match its type " + std::string(entry.type);
    return {};
}

enum class host_patterns
{
    match,    ///< a positive match and no negated one
    no_match,
    invalid,  ///< an empty pattern
};

/// Matches a line's comma-separated host patterns against `name`. A hashed
/// pattern counts on a @cert-authority line too: such a line then makes the
/// host "unsupported" (refused), never unknown (which trust on first use
/// would fill in).
inline host_patterns match_host_patterns(std::string_view patterns, const std::string& name,
                                         const hashed_matcher& hashed_match)
{
    bool positive = false, negated = false;
    for (std::size_t i = 0; i <= patterns.size();) {
        const auto comma = patterns.find(',', i);
        const auto p = patterns.substr(i, comma == std::string_view::npos ? std::string_view::npos : comma - i);
        i = comma == std::string_view::npos ? patterns.size() + 1 : comma + 1;
        if (p.empty())
            return host_patterns::invalid;
        if (p.starts_with("|1|")) {
            if (!hashed_match)
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
    return positive && !negated ? host_patterns::match : host_patterns::no_match;
}

inline known_hosts_result invalid_known_hosts_line(std::size_t number, const std::string& why)
{
    known_hosts_result r;
    r.verdict = host_verdict::invalid;
    r.line = number;
    r.message = "known_hosts line " + std::to_string(number) + ": " + why +
                "; nothing is trusted from a file that does not parse";
    return r;
}

inline known_hosts_result revoked_host_key(std::size_t number, std::string_view type)
{
    known_hosts_result r;
    r.verdict = host_verdict::revoked;
    r.line = number;
    r.message = "known_hosts line " + std::to_string(number) + ": the host key (" + std::string(type) +
                ") is @revoked";
    return r;
}

/// What the lines about the host say, once all are read: a @cert-authority
/// line, then a match, then another key (the first line of each).
struct host_key_findings
{
    known_hosts_result mismatch, unsupported;
    bool matched = false;

    void cert_authority(std::size_t number)
    {
        if (unsupported.line != 0)
            return;
        unsupported.verdict = host_verdict::unsupported;
        unsupported.line = number;
        unsupported.message = "known_hosts line " + std::to_string(number) +
                              ": @cert-authority is not supported (libssh2 1.10 has no host "
                              "certificates); list the proxy's host key itself";
    }

    void key(std::size_t number, bool same_key, std::string_view type, const std::string& name)
    {
        if (same_key)
            matched = true;
        else if (mismatch.line == 0) {
            mismatch.verdict = host_verdict::mismatch;
            mismatch.line = number;
            mismatch.message = "known_hosts line " + std::to_string(number) + " has another " + std::string(type) +
                               " key for " + name + ": possible attack";
        }
    }

    known_hosts_result verdict() const
    {
        if (unsupported.line)
            return unsupported;
        if (matched)
            return {host_verdict::match, 0, {}};
        if (mismatch.line)
            return mismatch;
        return {}; // not_found
    }
};

inline known_hosts_result check_known_hosts(std::string_view text, const std::string& name,
                                            std::string_view key_type, std::string_view key_blob,
                                            const hashed_matcher& hashed_match)
{
    host_key_findings findings;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        const auto fields = known_hosts_fields(take_line(text));
        if (fields.empty())
            continue;
        known_hosts_entry entry;
        if (const auto why = parse_known_hosts_entry(fields, entry); !why.empty())
            return invalid_known_hosts_line(number, why);
        const bool same_key = entry.type == key_type && entry.blob == key_blob;
        if (entry.marker == "@revoked") {
            if (same_key)
                return revoked_host_key(number, entry.type); // whatever the host patterns say
            continue;
        }
        const bool cert_authority = entry.marker == "@cert-authority";
        const auto match = match_host_patterns(entry.patterns, name, hashed_match);
        if (match == host_patterns::invalid)
            return invalid_known_hosts_line(number, "an empty host pattern");
        if (match == host_patterns::no_match)
            continue;
        if (cert_authority)
            findings.cert_authority(number);
        else
            findings.key(number, same_key, entry.type, name);
    }
    return findings.verdict();
}

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

inline known_hosts_result trust_first_use(const std::string& path, const std::string& name,
                                          std::string_view key_type, std::string_view key_blob,
                                          const std::string& line, const hashed_matcher& hashed_match)
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
