#ifndef NEXTPRISM_PROXY_BROKER_PROTOCOL_HPP
#define NEXTPRISM_PROXY_BROKER_PROTOCOL_HPP

// What the validator (unprivileged, one per SSH session) and the broker
// (the only process of the proxy that reaches the Docker socket and the
// audit log) say to each other, over a unix stream socket:
//
//   validator → broker   one request: a 4-byte big-endian length, then a
//                        CBOR map (below); on the first byte, as SCM_RIGHTS,
//                        the session's stdout and stderr (for "run")
//   broker → validator   one reply, framed the same: {"status": int,
//                        "line": bytes}; then the broker closes
//
// The request: "op" ("run": run `argv`; "refused": the validator refused
// the input, record it; "dry_run": record the decision, run nothing),
// "service", "argv" (the canonical argv the validator's check produced),
// "input" (the SSH command string as received, for the audit record),
// "reason" (why the validator refused), "ssh_client" (SSH_CLIENT) and
// "key" (the line SSH_USER_AUTH names: "ssh-ed25519 AAAA..."). Every text
// is a CBOR byte string: nothing here must be valid UTF-8.
//
// The broker believes none of it: it checks the argv against the
// whitelist again, derives the fingerprint itself, takes its own
// configuration (timeout, caps, target) and never runs what an op other
// than "run" names. For "run" it writes the command's output into the
// passed descriptors itself and the validator prints nothing; "line" is
// for what the validator must print (its refusal, a broker-side failure
// before any output). While it waits, the validator's end of the
// connection closing (it was killed, got SIGHUP) stops the command.

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <poll.h>
#include <span>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace nextprism::broker_protocol {

/// The largest message either side accepts (the input is at most ~128 KiB).
inline constexpr std::uint32_t max_message = 1 << 20;

struct request
{
    std::string op;
    std::string service;
    std::vector<std::string> argv;
    std::optional<std::string> input;
    std::string reason;
    std::string ssh_client;
    std::string key;
};

struct reply
{
    int status = 70;
    std::string line;
};

namespace detail {

inline nlohmann::json bytes(std::string_view s)
{
    return nlohmann::json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
}

inline bool text(const nlohmann::json& j, const char* key, std::string& out)
{
    const auto it = j.find(key);
    if (it == j.end())
        return true; // absent: empty
    if (!it->is_binary())
        return false;
    out.assign(it->get_binary().begin(), it->get_binary().end());
    return true;
}

/** Whether `data` is one CBOR item with no more than `max_depth` arrays
    and maps nested (the request is a map holding one array: 2), of definite lengths that
    fit in `data`, with no tags. Iterative, so that a hostile peer's
    nesting cannot overflow the stack here, and checked before the
    recursive reader sees the bytes: ~1 MB of nested arrays made it
    overflow. */
inline bool well_formed(std::string_view data, std::size_t max_depth = 3)
{
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    const auto* const end = p + data.size();
    std::vector<std::uint64_t> open; // items still to read in each open array or map
    std::uint64_t top = 1;           // the one item at the top level
    while (top > 0 || !open.empty()) {
        if (top == 0) {
            top = open.back();
            open.pop_back();
            continue;
        }
        --top;
        if (p == end)
            return false;
        const unsigned major = *p >> 5, info = *p & 31u;
        ++p;
        std::uint64_t value = info;
        if (info >= 24) {
            if (info > 27)
                return false; // reserved, or an indefinite length
            const std::size_t size = std::size_t(1) << (info - 24);
            if (std::size_t(end - p) < size)
                return false;
            value = 0;
            for (std::size_t i = 0; i < size; ++i)
                value = (value << 8) | *p++;
        }
        switch (major) {
        case 0: case 1: // integers
            break;
        case 2: case 3: // byte and text strings
            if (value > std::uint64_t(end - p))
                return false;
            p += value;
            break;
        case 4: case 5: { // arrays and maps
            const std::uint64_t items = major == 5 ? value * 2 : value;
            if (value > std::uint64_t(end - p) || open.size() >= max_depth)
                return false; // each item takes a byte at least
            open.push_back(top);
            top = items;
            break;
        }
        case 7: // false, true, null; floats
            if (info < 20 || info == 24 || info > 27)
                return false;
            break;
        default: // tags
            return false;
        }
    }
    return p == end;
}

} // namespace detail

inline std::string encode(const request& r)
{
    nlohmann::json argv = nlohmann::json::array();
    for (const auto& a : r.argv)
        argv.push_back(detail::bytes(a));
    nlohmann::json j = {{"op", detail::bytes(r.op)},       {"service", detail::bytes(r.service)},
                        {"argv", argv},                    {"reason", detail::bytes(r.reason)},
                        {"ssh_client", detail::bytes(r.ssh_client)}, {"key", detail::bytes(r.key)}};
    if (r.input)
        j["input"] = detail::bytes(*r.input);
    const auto cbor = nlohmann::json::to_cbor(j);
    return std::string(cbor.begin(), cbor.end());
}

inline bool decode(std::string_view data, request& r)
{
    if (!detail::well_formed(data))
        return false;
    const auto j = nlohmann::json::from_cbor(data.begin(), data.end(), true, false);
    if (!j.is_object())
        return false;
    if (!detail::text(j, "op", r.op) || !detail::text(j, "service", r.service) ||
        !detail::text(j, "reason", r.reason) || !detail::text(j, "ssh_client", r.ssh_client) ||
        !detail::text(j, "key", r.key))
        return false;
    if (j.contains("input")) {
        std::string input;
        if (!detail::text(j, "input", input))
            return false;
        r.input = std::move(input);
    }
    const auto argv = j.find("argv");
    if (argv == j.end() || !argv->is_array() || argv->size() > 4096)
        return false;
    for (const auto& a : *argv) {
        if (!a.is_binary())
            return false;
        r.argv.emplace_back(a.get_binary().begin(), a.get_binary().end());
    }
    return true;
}

inline std::string encode(const reply& r)
{
    const auto cbor = nlohmann::json::to_cbor({{"status", r.status}, {"line", detail::bytes(r.line)}});
    return std::string(cbor.begin(), cbor.end());
}

inline bool decode(std::string_view data, reply& r)
{
    if (!detail::well_formed(data))
        return false;
    const auto j = nlohmann::json::from_cbor(data.begin(), data.end(), true, false);
    if (!j.is_object() || !j.contains("status") || !j["status"].is_number_integer())
        return false;
    r.status = j["status"].get<int>();
    return detail::text(j, "line", r.line);
}

/** Sends one framed message, `fds` attached to its first byte. Blocking
    (the peer reads at once; a full socket buffer only delays). */
inline bool send_message(int sock, std::string_view payload, std::span<const int> fds = {})
{
    if (payload.size() > max_message || fds.size() > 4)
        return false;
    const std::uint32_t n = static_cast<std::uint32_t>(payload.size());
    const unsigned char header[4] = {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
                                     static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
    std::string frame(reinterpret_cast<const char*>(header), 4);
    frame.append(payload);
    std::size_t done = 0;
    while (done < frame.size()) {
        iovec iov{frame.data() + done, frame.size() - done};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
        if (done == 0 && !fds.empty()) {
            msg.msg_control = control;
            msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
            cmsghdr* c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
            std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
        }
        const auto w = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        done += static_cast<std::size_t>(w);
    }
    return true;
}

/** Receives one framed message and the descriptors sent with it (each
    O_CLOEXEC; the caller owns them, also on failure).
    `timeout` bounds the whole message (negative: none). */
inline bool receive_message(int sock, std::string& payload, std::vector<int>& fds,
                            std::chrono::milliseconds timeout)
{
    const auto end = std::chrono::steady_clock::now() + timeout;
    auto wait_readable = [&]() {
        for (;;) {
            int ms = -1;
            if (timeout.count() >= 0) {
                const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    end - std::chrono::steady_clock::now());
                if (left.count() <= 0)
                    return false;
                ms = static_cast<int>(left.count());
            }
            pollfd p{sock, POLLIN, 0};
            const int r = ::poll(&p, 1, ms);
            if (r < 0 && errno == EINTR)
                continue;
            return r == 1;
        }
    };
    std::string data;
    std::uint32_t want = 0;
    bool have_header = false;
    for (;;) {
        if (have_header && data.size() >= 4 + std::size_t(want))
            break;
        if (!wait_readable())
            return false;
        char buffer[65536];
        iovec iov{buffer, sizeof buffer};
        if (have_header)
            iov.iov_len = std::min<std::size_t>(sizeof buffer, 4 + std::size_t(want) - data.size());
        else
            iov.iov_len = 4 - data.size(); // never read past the header before knowing the length
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        const auto n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (std::size_t i = 0; i < count; ++i) {
                    int fd;
                    std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                    fds.push_back(fd);
                }
            }
        if (n <= 0 || (msg.msg_flags & MSG_CTRUNC))
            return false;
        data.append(buffer, static_cast<std::size_t>(n));
        if (!have_header && data.size() == 4) {
            const auto* h = reinterpret_cast<const unsigned char*>(data.data());
            want = (std::uint32_t(h[0]) << 24) | (std::uint32_t(h[1]) << 16) | (std::uint32_t(h[2]) << 8) | h[3];
            if (want > max_message)
                return false;
            have_header = true;
        }
    }
    payload = data.substr(4);
    return true;
}

} // namespace nextprism::broker_protocol

#endif
