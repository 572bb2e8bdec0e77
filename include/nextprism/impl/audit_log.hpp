#ifndef NEXTPRISM_IMPL_AUDIT_LOG_HPP
#define NEXTPRISM_IMPL_AUDIT_LOG_HPP

#include <nlohmann/json.hpp>

#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <unistd.h>

namespace nextprism {
namespace detail {

inline std::string utc_timestamp(std::chrono::system_clock::time_point t)
{
    const auto since = t.time_since_epoch();
    const auto seconds = std::chrono::floor<std::chrono::seconds>(since);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(since - seconds).count();
    const std::time_t tt = seconds.count();
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(millis));
    return buffer;
}

} // namespace detail

inline std::string format_audit_line(const audit_record& r)
{
    nlohmann::ordered_json j;
    j["time"] = detail::utc_timestamp(r.time);
    j["event"] = r.event;
    j["service"] = r.service;
    if (!r.decision.empty())
        j["decision"] = r.decision;
    if (!r.argv.empty())
        j["argv"] = r.argv;
    if (r.input)
        j["input"] = *r.input;
    if (!r.reason.empty())
        j["reason"] = r.reason;
    if (r.exit_code)
        j["exit_code"] = *r.exit_code;
    if (r.duration_ms)
        j["duration_ms"] = *r.duration_ms;
    j["ssh_client"] = r.ssh_client;
    if (!r.ssh_key.empty())
        j["ssh_key"] = r.ssh_key;
    j["pid"] = static_cast<long>(::getpid());
    // ensure_ascii: every non-ASCII character becomes \uXXXX; invalid UTF-8
    // is replaced with U+FFFD instead of throwing.
    auto line = j.dump(-1, ' ', true, nlohmann::ordered_json::error_handler_t::replace);
    line.push_back('\n');
    return line;
}

inline std::string read_ssh_user_auth_key(const char* path)
{
    if (!path || !*path)
        return {};
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        constexpr std::string_view prefix = "publickey ";
        if (line.starts_with(prefix)) {
            line.erase(0, prefix.size());
            constexpr std::size_t max = 600; // an ed25519 key line is ~80 bytes
            if (line.size() > max)
                line.resize(max);
            return line;
        }
    }
    return {};
}

inline audit_log& audit_log::operator=(audit_log&& other) noexcept
{
    if (this != &other) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
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
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        ec.assign(errno, boost::system::system_category());
        return;
    }
    if (fd_ >= 0)
        ::close(fd_);
    fd_ = fd;
}

inline void audit_log::write(const audit_record& record, error_code& ec)
{
    ec = {};
    if (fd_ < 0) {
        ec.assign(EBADF, boost::system::system_category());
        return;
    }
    const auto line = format_audit_line(record);
    std::size_t done = 0;
    while (done < line.size()) {
        const auto n = ::write(fd_, line.data() + done, line.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ec.assign(errno, boost::system::system_category());
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

} // namespace nextprism

#endif
