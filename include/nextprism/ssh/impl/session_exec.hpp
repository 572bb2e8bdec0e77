#ifndef NEXTPRISM_SSH_IMPL_SESSION_EXEC_HPP
#define NEXTPRISM_SSH_IMPL_SESSION_EXEC_HPP

// The session's channels: one open at a time (libssh2 1.10), the keepalive probe, and a command's exec with its output and exit status.
// Included by ssh/impl/session.hpp.

namespace nextprism::ssh {
namespace detail {

/// Frees an exec's channel when the exec ends, unless handed on (c = null).
struct channel_guard
{
    LIBSSH2_CHANNEL* c;
    int& active;
    ~channel_guard()
    {
        if (!c)
            return; // handed to close_in_background
        libssh2_channel_free(c); // non-blocking: frees locally if it must
        --active;
    }
};

} // namespace detail

// libssh2 1.10 allows one pending channel open per session: serialize.
inline boost::asio::awaitable<LIBSSH2_CHANNEL*> session::open_channel()
{
    if (opening_channel_ && open_) {
        waiter w(ex_, wait_for::open_turn);
        while (opening_channel_ && open_)
            co_await park(w);
    }
    if (!open_)
        co_return nullptr;
    opening_channel_ = true;
    LIBSSH2_CHANNEL* channel = nullptr;
    refused_ = false;
    boost::asio::steady_timer pause(ex_);
    for (int attempt = 0; open_; ++attempt) {
        const long rc = co_await call([&]() -> long {
            channel = libssh2_channel_open_session(session_);
            return channel ? 0 : libssh2_session_last_errno(session_);
        });
        // sshd answered "no more sessions": MaxSessions counts a closed
        // channel until the server has released it, a moment after its
        // CLOSE. Nothing started; wait a little and ask again.
        if (channel || rc != LIBSSH2_ERROR_CHANNEL_FAILURE)
            break;
        refused_ = true;
        if (attempt == 200)
            break;
        pause.expires_after(std::chrono::milliseconds(std::min(2 + attempt, 20)));
        co_await pause.async_wait(detail::use_tuple);
    }
    opening_channel_ = false;
    wake_first(wait_for::open_turn); // the next opener in line
    co_return channel;
}

// A round trip that proves the peer (sshd, not just the kernel) answers:
// open a channel and close it, without any request on it, so the
// ForceCommand never runs. It also drains whatever the server sent while
// the session was idle (such as OpenSSH's host-key notice after login).
inline boost::asio::awaitable<bool> session::probe(std::chrono::milliseconds limit)
{
    namespace net = boost::asio;
    auto self = shared_from_this();
    net::steady_timer deadline(ex_);
    deadline.expires_after(limit);
    deadline.async_wait([self](error_code ec) {
        if (!ec)
            self->close(error::connection_lost);
    });
    LIBSSH2_CHANNEL* channel = co_await open_channel();
    bool ok = channel != nullptr || refused_; // a refusal is an answer too
    if (channel) {
        ok = co_await call([&] { return libssh2_channel_close(channel); }) == 0 &&
             co_await call([&] { return libssh2_channel_wait_closed(channel); }) == 0;
        libssh2_channel_free(channel);
    }
    deadline.cancel();
    co_return ok && open_;
}

// While idle, probes the connection every keepalive_interval; a probe that
// gets no answer within keepalive_interval * keepalive_max_missed (a
// half-open connection, a stopped server) closes the session.
inline boost::asio::awaitable<void> session::keepalive_loop()
{
    auto self = shared_from_this();
    while (open_) {
        const auto seen = received_;
        keepalive_.expires_after(options_.keepalive_interval);
        auto [ec] = co_await keepalive_.async_wait(detail::use_tuple);
        if (ec || !open_)
            co_return;
        if (received_ != seen)
            continue; // traffic came in: alive
        if (!co_await probe(options_.keepalive_interval * options_.keepalive_max_missed)) {
            close(error::connection_lost);
            co_return;
        }
    }
}

// A channel given up on (its command stopped by deadline or
// cancellation): sends the close, waits for the server's, frees it. The
// session stays alive meanwhile (the coroutine holds it); a session that
// closes first ends the waits, and the channel is freed with it here.
inline void session::close_in_background(LIBSSH2_CHANNEL* channel)
{
    namespace net = boost::asio;
    net::co_spawn(
        ex_,
        [self = shared_from_this(), channel]() -> net::awaitable<void> {
            if (co_await self->call([&] { return libssh2_channel_close(channel); }) == 0)
                co_await self->call([&] { return libssh2_channel_wait_closed(channel); });
            libssh2_channel_free(channel);
            --self->active_channels_;
        },
        net::detached);
}

// A command's deadline, shared with its timer's handler, which may run
// after the exec's frame is gone: it shares only this.
struct session::exec_deadline
{
    bool timed_out = false;
    waiter* wait = nullptr; ///< the read loop's, while the exec lives
};

// A deadline closes the channel; sshd then ends the validator's pipes
// and the validator stops the command in the container.
inline void session::arm_deadline(boost::asio::steady_timer& timer, std::chrono::milliseconds timeout,
                                  std::shared_ptr<exec_deadline> ds)
{
    if (timeout.count() <= 0)
        return;
    timer.expires_after(timeout);
    timer.async_wait([ds, self = shared_from_this()](error_code ec) {
        if (!ec) {
            ds->timed_out = true;
            if (ds->wait)
                self->wake(*ds->wait);
        }
    });
}

inline boost::asio::awaitable<nextprism::detail::op_result<command_result>> session::exec(
    std::string command, output_handler on_output, std::chrono::milliseconds timeout, bool& started,
    const bool* cancelled)
{
    namespace net = boost::asio;
    nextprism::detail::op_result<command_result> r;
    started = false;
    if (!open_) {
        r.ec = failure_ ? failure_ : error_code(error::connection_lost);
        co_return r;
    }
    auto self = shared_from_this();

    LIBSSH2_CHANNEL* channel = co_await open_channel();
    if (!channel) {
        r.ec = last_error(error::ssh_failure);
        if (r.ec == error::ssh_failure && libssh2_session_last_errno(session_) == LIBSSH2_ERROR_CHANNEL_FAILURE)
            r.ec = error::connection_lost; // MaxSessions reached or the server is going away
        co_return r;
    }
    ++active_channels_;
    detail::channel_guard guard{channel, active_channels_};

    const long rc = co_await call([&] {
        return libssh2_channel_process_startup(channel, "exec", 4, command.data(),
                                               static_cast<unsigned>(command.size()));
    });
    if (rc != 0) {
        r.ec = last_error(error::ssh_failure);
        co_return r;
    }
    started = true;

    // The read loop parks on its own waiter: woken when libssh2 holds data
    // or EOF for this channel, to drain the socket, or by the deadline.
    const char reader = 0; // identity of this read loop for the send-side turn
    waiter reader_wait(ex_, wait_for::channel, &reader, channel);
    auto ds = std::make_shared<exec_deadline>();
    ds->wait = &reader_wait;
    struct forget_wait
    {
        exec_deadline& s;
        ~forget_wait() { s.wait = nullptr; }
    } forget{*ds};
    net::steady_timer deadline(ex_);
    arm_deadline(deadline, timeout, ds);
    const bool& timed_out = ds->timed_out;

    bool eof = false;
    r.ec = co_await read_output(channel, reader_wait, timed_out, cancelled, on_output, r.value, eof);
    if (r.ec)
        co_return r;
    deadline.cancel();

    // Stopped (deadline, cancellation) before the end: the caller is told
    // now. The proxy answers the close only once it has stopped the command
    // (seconds), and over a dead link never: waiting here made a 10 s
    // timeout end after the keepalive gave up (60 s, measured with the link
    // cut). The channel is closed and freed in the background.
    if (!eof) {
        guard.c = nullptr;
        close_in_background(channel);
        r.ec = timed_out ? error_code(error::timeout) : error_code(error::cancelled);
        co_return r;
    }
    r.ec = co_await finish_exec(channel, r.value);
    co_return r;
}

// exec's read loop, until EOF (`eof` set), the deadline (`timed_out`) or a
// cancellation (`*cancelled`): an error only when the session broke
// meanwhile (outcome_unknown: the command started). It parks on `w`, whose
// owner is its identity for the send-side turn.
inline boost::asio::awaitable<error_code> session::read_output(LIBSSH2_CHANNEL* channel, waiter& w,
                                                               const bool& timed_out, const bool* cancelled,
                                                               const output_handler& on_output,
                                                               command_result& out, bool& eof)
{
    const void* const me = w.owner;
    std::vector<char> buffer(32 * 1024);
    auto stop_requested = [&] { return timed_out || (cancelled && *cancelled); };
    while (!eof && !stop_requested()) {
        co_await await_turn(me);
        if (!open_)
            co_return error_code(error::outcome_unknown);
        // Each read first drains the socket into libssh2, then hands out
        // this channel's buffered data: the stderr read can pull in stdout
        // (or the EOF) after the stdout read came back empty. Parking then
        // would wait for bytes that already arrived (measured: 14 of 166
        // bursts stalled 25-28 s, until the next keepalive probe). So this
        // loop parks only when an iteration took nothing from the socket
        // or libssh2 holds nothing for this channel.
        const auto received_before = received_;
        const bool was_unparsed = unparsed_;
        bool progress = false;
        if (const error_code ec = read_streams(channel, me, buffer, on_output, out, progress))
            co_return ec;
        // Every channel read reads the socket empty first, unless its window
        // adjustment could not be sent; it may have buffered other
        // channels' data.
        if (send_owner_ != me)
            unparsed_ = false;
        if (received_ != received_before || was_unparsed)
            took_bytes();
        if (libssh2_channel_eof(channel)) {
            eof = true;
            break;
        }
        if (!open_)
            co_return error_code(error::outcome_unknown);
        // Park when libssh2 holds nothing more for this channel (both reads
        // drained the socket), when nothing came in at all, or to let the
        // socket take a half-sent window adjustment.
        const bool blocked_send = send_owner_ == me;
        const int pending = libssh2_poll_channel_read(channel, 1);
        if (blocked_send || pending == 0 || (!progress && received_ == received_before))
            co_await wait_io(w);
    }
    co_return error_code{};
}

// Reads stdout, then stderr, as far as libssh2 hands them out, each piece
// counted and streamed to `on_output`; `progress` when any came. Stops at a
// half-sent window adjustment. A failed read closes the session:
// outcome_unknown (the command started; how it ended is unknown).
inline error_code session::read_streams(LIBSSH2_CHANNEL* channel, const void* me, std::vector<char>& buffer,
                                        const output_handler& on_output, command_result& out, bool& progress)
{
    for (int stream : {0, SSH_EXTENDED_DATA_STDERR}) {
        while (true) {
            // Reading may send a window adjustment: it takes the turn too.
            const auto n = libssh2_channel_read_ex(channel, stream, buffer.data(), buffer.size());
            after_call(me, n == LIBSSH2_ERROR_EAGAIN ? LIBSSH2_ERROR_EAGAIN : 0);
            if (n == LIBSSH2_ERROR_EAGAIN && send_owner_ == me)
                break; // half-sent window adjustment: wait, then resume it
            if (n > 0) {
                progress = true;
                const auto which = stream == 0 ? output_stream::out : output_stream::err;
                (stream == 0 ? out.stdout_bytes : out.stderr_bytes) += static_cast<std::uint64_t>(n);
                if (on_output)
                    on_output(which, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
                continue;
            }
            if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
                break;
            error_code ec = last_error(error::connection_lost);
            if (ec == error::ssh_failure)
                ec = error::connection_lost;
            close(ec);
            return error::outcome_unknown;
        }
        if (send_owner_ == me)
            break;
    }
    return {};
}

// After EOF: closes our side (answering the server's close is what the
// protocol wants; we never send data or EOF after it), then reads how the
// command ended.
inline boost::asio::awaitable<error_code> session::finish_exec(LIBSSH2_CHANNEL* channel, command_result& out)
{
    long rc = co_await call([&] { return libssh2_channel_close(channel); });
    if (rc == 0)
        rc = co_await call([&] { return libssh2_channel_wait_closed(channel); });
    if (rc != 0)
        co_return error_code(error::outcome_unknown);
    char* signal = nullptr;
    std::size_t signal_length = 0;
    libssh2_channel_get_exit_signal(channel, &signal, &signal_length, nullptr, nullptr, nullptr, nullptr);
    if (signal) {
        out.exit_signal = std::string(signal, signal_length);
        libssh2_free(session_, signal);
    }
    // 0 when no exit status came: only a signal is told apart (decode_exit).
    const int status = libssh2_channel_get_exit_status(channel);
    out.exit_code = out.exit_signal ? -1 : status;
    co_return detail::decode_exit(status, out.exit_signal);
}

} // namespace nextprism::ssh

#endif
