#ifndef NEXTPRISM_PROXY_BROKER_CLIENT_HPP
#define NEXTPRISM_PROXY_BROKER_CLIENT_HPP

// The validator's side of the broker protocol (broker_protocol.hpp).

#include "proxy_run.hpp"
#include "broker_protocol.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <span>
#include <string>

namespace nextprism::proxy_run {

/** Hands the session to the broker: every decision goes on record
    there, an allowed command runs there with this session's stdout and
    stderr. Waits for its answer and returns the exit status (having
    printed the line the broker asks for). The validator's own end of the
    connection going away (it is killed, sshd hangs it up) tells the
    broker to stop the command. */
inline int through_broker(const std::string& socket_path, long timeout_seconds, nextprism::broker_protocol::request req,
                          bool pass_output)
{
    namespace protocol = nextprism::broker_protocol;
    const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (sock < 0 || socket_path.size() >= sizeof addr.sun_path)
        fail(exit_code::internal, "cannot reach the proxy's broker", socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        // No broker listening: the proxy is stopping (its drain is over) or
        // still starting; the container ends or serves in a moment. Nothing
        // ran: busy (transient), so that callers retry.
        if (errno == ECONNREFUSED || errno == ENOENT)
            fail(exit_code::busy, "busy", "the proxy's broker is not running (the proxy is stopping or starting); try again shortly");
        fail(exit_code::internal, "cannot reach the proxy's broker " + socket_path, std::strerror(errno));
    }
    const int fds[] = {STDOUT_FILENO, STDERR_FILENO};
    const bool sent = protocol::send_message(sock, protocol::encode(req),
                                             pass_output ? std::span<const int>(fds) : std::span<const int>());
    const int send_errno = errno;
    // A broker that answers busy at once closes without reading: its
    // answer is waiting even when the send failed. The wait is bounded: a
    // run by --timeout (the broker's own deadline, as the entrypoint sets
    // both) and a minute for its stop, the rest by seconds; then this side
    // closes, which stops what the broker runs.
    const auto wait = !sent             ? std::chrono::seconds(2)
                      : req.op != "run" ? std::chrono::seconds(30)
                      : timeout_seconds > 0 ? std::chrono::seconds(timeout_seconds + 60)
                                                 : std::chrono::seconds(-1);
    std::string payload;
    std::vector<int> ignored;
    protocol::reply reply;
    if (!protocol::receive_message(sock, payload, ignored, std::chrono::duration_cast<std::chrono::milliseconds>(wait)) ||
        !protocol::decode(payload, reply)) {
        if (!sent)
            fail(exit_code::internal, "cannot send the request to the proxy's broker", std::strerror(send_errno));
        fail(exit_code::internal, "the proxy's broker ended without an answer");
    }
    if (!reply.line.empty())
        std::fwrite(reply.line.data(), 1, reply.line.size(), stderr);
    return reply.status;
}

} // namespace nextprism::proxy_run

#endif
