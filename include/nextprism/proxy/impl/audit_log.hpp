#ifndef NEXTPRISM_PROXY_IMPL_AUDIT_LOG_HPP
#define NEXTPRISM_PROXY_IMPL_AUDIT_LOG_HPP

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace nextprism {
namespace detail {

inline std::string utc_timestamp(std::chrono::system_clock::time_point t)
{
    // The civil date by C++20's calendar, not gmtime_r: glibc's reads the
    // time zone file (/etc/localtime) on its first call, which UTC does not
    // need and the validator would pay on every command.
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day date{day};
    const hh_mm_ss time{floor<milliseconds>(t - day)};
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                  static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                  static_cast<int>(time.minutes().count()), static_cast<int>(time.seconds().count()),
                  static_cast<int>(time.subseconds().count()));
    return buffer;
}

/** Calls `f(line)` for each line of the file at `path` (without its
    '\n', a last line without one included, as std::getline) until `f`
    returns true; nothing if the file cannot be read. Plain reads, not an
    ifstream: a stream's locale set-up costs the validator more than the
    read itself, on every command. */
template<class F>
void for_each_line(const char* path, F&& f)
{
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    std::string line;
    char buffer[4096];
    for (;;) {
        const auto n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        std::string_view chunk(buffer, static_cast<std::size_t>(n));
        for (auto nl = chunk.find('\n'); nl != std::string_view::npos; nl = chunk.find('\n')) {
            line.append(chunk.substr(0, nl));
            chunk.remove_prefix(nl + 1);
            if (f(std::as_const(line))) {
                ::close(fd);
                return;
            }
            line.clear();
        }
        line.append(chunk);
    }
    ::close(fd);
    if (!line.empty())
        f(std::as_const(line));
}

/// An upper bound of what `c` becomes in ASCII-only JSON: non-ASCII bytes
/// and control characters count as a \uXXXX escape each (a multi-byte
/// character becomes at most 6 bytes per 2 input bytes; an invalid byte
/// becomes \ufffd).
constexpr std::size_t json_escaped_bound(unsigned char c) noexcept
{
    if (c >= 0x80 || c < 0x20 || c == 0x7f)
        return 6;
    return c == '"' || c == '\\' ? 2 : 1;
}

/// The longest prefix of `text` of at most `max_bytes` bytes whose JSON
/// form takes at most `max_escaped` bytes.
constexpr std::string_view audit_prefix(std::string_view text, std::size_t max_bytes,
                                        std::size_t max_escaped) noexcept
{
    std::size_t n = 0, escaped = 0;
    while (n < text.size() && n < max_bytes) {
        const auto e = json_escaped_bound(static_cast<unsigned char>(text[n]));
        if (escaped + e > max_escaped)
            break;
        escaped += e;
        ++n;
    }
    return text.substr(0, n);
}

inline std::string format_audit_line(const audit_record& r, std::size_t argv_budget)
{
    nlohmann::ordered_json j;
    auto put = [&j](const char* key, std::string_view value, std::size_t max_bytes,
                    std::size_t max_escaped) {
        const auto kept = audit_prefix(value, max_bytes, max_escaped);
        j[key] = kept;
        if (kept.size() < value.size())
            j[std::string(key) + "_truncated"] = true;
    };
    j["time"] = utc_timestamp(r.time);
    j["event"] = r.event;
    put("service", r.service, 64, 64);
    if (!r.decision.empty())
        j["decision"] = r.decision;
    if (!r.outcome.empty())
        j["outcome"] = r.outcome;
    if (!r.argv.empty()) {
        auto argv = nlohmann::ordered_json::array();
        std::size_t used = 0;
        bool cut = false;
        for (const auto& a : r.argv) {
            const auto kept = audit_prefix(a, 256, std::min<std::size_t>(192, argv_budget - used));
            if (kept.empty() && !a.empty()) {
                cut = true;
                break;
            }
            cut = cut || kept.size() < a.size();
            argv.push_back(kept);
            for (const char c : kept)
                used += json_escaped_bound(static_cast<unsigned char>(c));
            used += 3; // quotes and comma
            if (used >= argv_budget)
                break;
        }
        cut = cut || argv.size() < r.argv.size();
        const auto kept = argv.size();
        j["argv"] = std::move(argv);
        if (cut) {
            j["argv_truncated"] = true;
            j["argv_left_out"] = r.argv.size() - kept; // elements not on the line at all
        }
    }
    if (r.input) {
        put("input", *r.input, 512, 512);
        j["input_bytes"] = r.input->size();
        if (!r.input_sha256.empty())
            j["input_sha256"] = audit_prefix(r.input_sha256, 64, 64);
    }
    if (!r.reason.empty())
        put("reason", r.reason, 320, 320);
    if (!r.exec_user.empty())
        put("exec_user", r.exec_user, 128, 128);
    if (r.exit_code)
        j["exit_code"] = *r.exit_code;
    if (r.duration_ms)
        j["duration_ms"] = *r.duration_ms;
    put("ssh_client", r.ssh_client, 64, 64);
    if (!r.key_fingerprint.empty()) {
        put("key_type", r.key_type, 48, 48);
        put("key_fp", r.key_fingerprint, 64, 64);
        if (!r.key_comment.empty())
            put("key_comment", r.key_comment, 100, 100);
    }
    j["pid"] = static_cast<long>(::getpid());
    // ensure_ascii: every non-ASCII character becomes \uXXXX; invalid UTF-8
    // is replaced with U+FFFD instead of throwing.
    auto line = j.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
    line.push_back('\n');
    return line;
}

} // namespace detail

inline std::string format_audit_line(const audit_record& r)
{
    // The argv gets what the other fields (each capped) leave of the line,
    // so a long decision (51 users of a files:scan) is kept whole where it
    // fits; 48 bytes stay for the argv_* markers. The budget is an upper
    // bound of the escaped size; halving is the safety net.
    const auto others = detail::format_audit_line(r, 0).size();
    for (std::size_t argv_budget = others + 48 < max_audit_line ? max_audit_line - others - 48 : 0;;
         argv_budget /= 2) {
        auto line = detail::format_audit_line(r, argv_budget);
        if (line.size() <= max_audit_line || argv_budget < 16)
            return line;
    }
}

inline std::string authorized_key_comment(const std::string& path, std::string_view blob)
{
    if (blob.empty())
        return {};
    std::optional<std::string> found;
    detail::for_each_line(path.c_str(), [&](const std::string& line) {
        for (std::size_t pos = line.find(blob); pos != std::string::npos; pos = line.find(blob, pos + 1)) {
            const auto end = pos + blob.size();
            const bool starts = pos > 0 && (line[pos - 1] == ' ' || line[pos - 1] == '\t');
            const bool ends = end == line.size() || line[end] == ' ' || line[end] == '\t';
            if (!starts || !ends)
                continue;
            auto comment = line.substr(std::min(end, line.size()));
            const auto first = comment.find_first_not_of(" \t");
            comment.erase(0, first == std::string::npos ? comment.size() : first);
            while (!comment.empty() && (comment.back() == ' ' || comment.back() == '\r'))
                comment.pop_back();
            found = std::move(comment);
            return true;
        }
        return false;
    });
    return found.value_or(std::string());
}

inline std::string read_ssh_user_auth_key(const char* path)
{
    if (!path || !*path)
        return {};
    std::string key;
    detail::for_each_line(path, [&](const std::string& line) {
        constexpr std::string_view prefix = "publickey ";
        if (!line.starts_with(prefix))
            return false;
        constexpr std::size_t max = 600; // an ed25519 key line is ~80 bytes
        key = line.substr(prefix.size(), max);
        return true;
    });
    return key;
}

inline audit_log& audit_log::operator=(audit_log&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        fifo_ = other.fifo_;
        path_ = std::move(other.path_);
        size_ = other.size_;
        rotate_at_ = other.rotate_at_;
        keep_ = other.keep_;
    }
    return *this;
}

inline audit_log::~audit_log()
{
    if (fd_ >= 0)
        ::close(fd_);
}

inline void audit_log::open(const std::string& path, error_code& ec)
{
    ec = {};
    // O_NONBLOCK: a FIFO without a reader fails now (ENXIO) instead of
    // blocking until one comes; on a regular file it changes nothing.
    const int fd = ::open(path.c_str(),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
        ::close(fd);
        ec.assign(EINVAL, boost::system::system_category());
        return;
    }
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
    fifo_ = S_ISFIFO(st.st_mode);
    path_ = path;
    size_ = static_cast<std::uint64_t>(st.st_size);
}

inline void audit_log::rotate(error_code& ec)
{
    // PATH.(keep-1) → PATH.keep, ..., PATH → PATH.1, then a fresh PATH.
    for (unsigned i = keep_; i > 1; --i) {
        const auto from = path_ + "." + std::to_string(i - 1);
        const auto to = path_ + "." + std::to_string(i);
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
            ec.assign(errno, boost::system::system_category());
            return;
        }
    }
    if (keep_ > 0 && ::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    if (keep_ == 0 && ::unlink(path_.c_str()) != 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    audit_log fresh;
    fresh.open(path_, ec);
    if (ec)
        return;
    fresh.rotate_at(rotate_at_, keep_);
    *this = std::move(fresh);
}

inline void audit_log::write(const audit_record& record, error_code& ec)
{
    write_line(format_audit_line(record), ec);
}

inline void audit_log::write_line(std::string_view line, error_code& ec)
{
    ec = {};
    if (fd_ < 0) {
        ec.assign(EBADF, boost::system::system_category());
        return;
    }
    if (rotate_at_ > 0 && !fifo_ && size_ > 0 && size_ + line.size() > rotate_at_) {
        rotate(ec);
        if (ec)
            return;
    }
    std::size_t done = 0;
    while (done < line.size()) {
        const auto n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && fifo_) {
                // The drainer is behind: wait a bounded time for room.
                pollfd p{fd_, POLLOUT, 0};
                const int ready = ::poll(&p, 1, fifo_wait_ms);
                if (ready == 1 && !(p.revents & (POLLERR | POLLHUP)))
                    continue;
                ec.assign(ready == 0 ? ETIMEDOUT : EPIPE, boost::system::system_category());
                return;
            }
            ec.assign(errno, boost::system::system_category());
            return;
        }
        done += static_cast<std::size_t>(n);
        size_ += static_cast<std::uint64_t>(n);
    }
}

} // namespace nextprism

#endif
