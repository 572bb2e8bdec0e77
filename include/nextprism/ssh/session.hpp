#ifndef NEXTPRISM_SSH_SESSION_HPP
#define NEXTPRISM_SSH_SESSION_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <libssh2.h>

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace nextprism::ssh {

/// Where a proxy listens and whom to log in as.
struct endpoint
{
    std::string host = "127.0.0.1";
    std::uint16_t port = 2222;
    std::string user = "nextprism";

    std::string to_string() const { return user + "@" + host + ":" + std::to_string(port); }
};

/** How to authenticate, and how to know the server.

    The private key is an ed25519 key in OpenSSH format (a Docker secret
    path). libssh2 1.10 signs RSA with SHA-1 only, which OpenSSH 9 refuses
    (and reports misleadingly): use ed25519. Host keys are checked against
    `known_hosts_file` strictly; `trust_on_first_use` adds an unknown key
    to the file instead of failing, and only when asked for explicitly.
*/
struct credentials
{
    std::string private_key_file;
    std::string passphrase;
    std::string known_hosts_file;
    bool trust_on_first_use = false;
};

struct session_options
{
    std::chrono::milliseconds connect_timeout{10'000};  ///< TCP + handshake + auth
    std::chrono::milliseconds keepalive_interval{15'000}; ///< idle probe period
    int keepalive_max_missed = 2;                          ///< probe answer limit, in intervals
};

/** One SSH connection to a proxy, driven non-blocking from Asio.

    No thread ever blocks inside libssh2: the session is non-blocking and
    every call that answers EAGAIN is retried after the socket is ready in
    the direction libssh2 asks for. Several channels may run on one
    session, and a call made for one channel can read another channel's
    data into libssh2's buffers. So every waiting operation parks on its own
    waiter, and the session wakes only those a change concerns: after a
    call took bytes in, the channels libssh2 now holds data or EOF for
    (libssh2_poll_channel_read, libssh2_channel_eof: no system call) and
    the calls waiting for a reply; when the socket turns readable, one
    operation to drain it; when a channel open or the send side is free,
    the next in line.

    All members must be called on the session's executor (a strand when
    the io_context runs on several threads). Internal API of the pool; a
    session abandoned in the middle of a call is closed, never reused.
*/
class session : public std::enable_shared_from_this<session>
{
public:
    using executor_type = boost::asio::any_io_executor;

    explicit session(executor_type ex, session_options opts = {});
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    executor_type get_executor() const noexcept { return ex_; }

    /// TCP (TCP_NODELAY before the handshake), handshake, host key, auth.
    boost::asio::awaitable<error_code> connect(endpoint ep, credentials cred);

    /** Runs one command string on a new channel, streaming output.
        `started` becomes true once the exec request went out: from then on
        the command may run, and must not be retried blindly. When
        `*cancelled` becomes true (followed by `wake()`), the channel is
        closed like on a timeout and the result is `error::cancelled`.
        Either returns at once: the close (the proxy answers it once it has
        stopped the command; over a dead link, never) completes in the
        background, until the keepalive gives a dead session up. */
    boost::asio::awaitable<nextprism::detail::op_result<command_result>> exec(std::string command,
                                                                   output_handler on_output,
                                                                   std::chrono::milliseconds timeout,
                                                                   bool& started,
                                                                   const bool* cancelled = nullptr);

    /// Wakes every operation waiting on this session (to see a cancellation).
    void wake() { wake_all(); }

    /// Closes the connection; waiting operations complete with connection_lost.
    void close(error_code why = error::connection_lost);

    bool is_open() const noexcept { return open_; }

    /// Called (posted to the executor) once, when the session closes.
    void on_close(std::function<void()> f) { on_close_ = std::move(f); }
    const error_code& failure() const noexcept { return failure_; }
    std::uint64_t bytes_received() const noexcept { return received_; }
    std::uint64_t bytes_sent() const noexcept { return sent_; }
    /// "SHA256:..." of the server's host key, after connect.
    const std::string& host_key_fingerprint() const noexcept { return fingerprint_; }
    /// Why the host key was not accepted (known_hosts line, revoked key,
    /// unreadable file), after a failed connect; "" otherwise.
    const std::string& host_key_message() const noexcept { return host_key_message_; }

private:
    /// What a parked operation waits for (who may wake it).
    enum class wait_for
    {
        reply,     ///< a call's answer: any bytes taken in, or the socket ready
        channel,   ///< a read loop: data or EOF for its channel, or the socket ready
        send_turn, ///< the send side, held by another call's half-sent packet
        open_turn, ///< the session's one pending channel open
    };
    /// One parked operation: its own timer (cancel() wakes it alone).
    struct waiter
    {
        explicit waiter(executor_type ex, wait_for w, const void* id = nullptr, LIBSSH2_CHANNEL* c = nullptr)
            : timer(ex, std::chrono::steady_clock::time_point::max()), what(w), owner(id), channel(c)
        {
        }
        boost::asio::steady_timer timer;
        wait_for what;
        const void* owner;                 ///< the call's identity for the send turn
        LIBSSH2_CHANNEL* channel;          ///< a read loop's channel
        bool parked = false;
    };

    template<class F>
    boost::asio::awaitable<long> call(F f);
    boost::asio::awaitable<void> await_turn(const void* me);
    void after_call(const void* me, long rc);
    boost::asio::awaitable<void> wait_io(waiter& w);
    void arm_read();
    boost::asio::awaitable<void> park(waiter& w);
    void wake(waiter& w);
    void wake_all();
    void wake_first(wait_for what);
    void took_bytes();
    void wake_drainer();
    void after_read(long rc, bool took, bool was_unparsed);
    void on_socket_ready(bool readable);
    error_code verify_host_key(const endpoint& ep, const credentials& cred);
    boost::asio::awaitable<void> keepalive_loop();
    boost::asio::awaitable<LIBSSH2_CHANNEL*> open_channel();
    boost::asio::awaitable<bool> probe(std::chrono::milliseconds limit);
    void close_in_background(LIBSSH2_CHANNEL* channel);
    struct exec_deadline;
    void arm_deadline(boost::asio::steady_timer& timer, std::chrono::milliseconds timeout,
                      std::shared_ptr<exec_deadline> ds);
    boost::asio::awaitable<error_code> read_output(LIBSSH2_CHANNEL* channel, waiter& w, const bool& timed_out,
                                                   const bool* cancelled, const output_handler& on_output,
                                                   command_result& out, bool& eof);
    error_code read_streams(LIBSSH2_CHANNEL* channel, const void* me, std::vector<char>& buffer,
                            const output_handler& on_output, command_result& out, bool& progress);
    boost::asio::awaitable<error_code> finish_exec(LIBSSH2_CHANNEL* channel, command_result& out);
    error_code last_error(error fallback) const;

    static ssize_t on_recv(libssh2_socket_t, void*, size_t, int, void**);
    static ssize_t on_send(libssh2_socket_t, const void*, size_t, int, void**);

    executor_type ex_;
    session_options options_;
    boost::asio::ip::tcp::socket socket_;
    std::vector<waiter*> parked_;          // parked operations, oldest first
    boost::asio::steady_timer keepalive_;
    LIBSSH2_SESSION* session_ = nullptr;
    bool open_ = false;
    bool read_wait_ = false;
    bool write_wait_ = false;
    bool unparsed_ = false;                // bytes may wait in libssh2's buffer or the kernel, unread
    bool opening_channel_ = false;         // libssh2: one pending channel open per session
    int active_channels_ = 0;
    bool refused_ = false;                 // the last channel open was refused by the server
    const void* send_owner_ = nullptr;     // the call whose packet is half sent
    error_code failure_;
    std::uint64_t received_ = 0;
    std::uint64_t sent_ = 0;
    std::string fingerprint_;
    std::string host_key_message_;
    std::function<void()> on_close_;
};

} // namespace nextprism::ssh

#include <nextprism/ssh/impl/session.hpp>

#endif
