#ifndef NEXTPRISM_SSH_IMPL_SESSION_HPP
#define NEXTPRISM_SSH_IMPL_SESSION_HPP

#include <nextprism/ssh/known_hosts.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/socket.h>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

namespace nextprism::ssh {
namespace detail {

namespace net = boost::asio;
using nextprism::detail::use_tuple;

/// libssh2_init once per process, thread-safe (a function-local static).
inline bool library_ready()
{
    static const bool ready = libssh2_init(0) == 0;
    return ready;
}

inline std::string base64(const unsigned char* data, std::size_t size)
{
    static constexpr char table[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < size; i += 3) {
        std::uint32_t v = std::uint32_t(data[i]) << 16;
        if (i + 1 < size) v |= std::uint32_t(data[i + 1]) << 8;
        if (i + 2 < size) v |= data[i + 2];
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        if (i + 1 < size) out += table[(v >> 6) & 63];
        if (i + 2 < size) out += table[v & 63];
    }
    return out; // OpenSSH prints fingerprints without padding
}

/** How a command's channel ended, from what the server reported. Only an
    exit status is a result. A signal (exit-signal: the proxy's validator
    was killed, e.g. by the OOM killer or SIGKILL; the validator itself
    passes a command's own death on as an exit status, 128+n) or no report
    at all means the command did not finish on its own terms: it may have
    run, and how it ended is unknown. Never 0.

    libssh2 1.10 answers libssh2_channel_get_exit_status() with 0 both for
    "exit 0" and for "no exit-status message came", and has no flag that
    tells them apart: `status` is engaged unless the caller knows it is
    missing (today: only a signal tells, since OpenSSH sends exit-signal
    instead of exit-status). */
inline error_code decode_exit(std::optional<int> status, const std::optional<std::string>& signal) noexcept
{
    if (signal || !status)
        return error::outcome_unknown;
    return {};
}

} // namespace detail

inline session::session(executor_type ex, session_options opts)
    : ex_(ex), options_(opts), socket_(ex), keepalive_(ex)
{
}

inline session::~session()
{
    if (session_) {
        // Non-blocking free: no goodbye on a possibly dead socket.
        libssh2_session_set_blocking(session_, 0);
        libssh2_session_free(session_);
    }
}

inline ssize_t session::on_recv(libssh2_socket_t fd, void* buffer, size_t length, int flags,
                                void** abstract)
{
    auto* self = static_cast<session*>(*abstract);
    const auto n = ::recv(fd, buffer, length, flags);
    if (n > 0)
        self->received_ += static_cast<std::uint64_t>(n);
    return n < 0 ? -errno : n;
}

inline ssize_t session::on_send(libssh2_socket_t fd, const void* buffer, size_t length, int flags,
                                void** abstract)
{
    auto* self = static_cast<session*>(*abstract);
    const auto n = ::send(fd, buffer, length, flags | MSG_NOSIGNAL);
    if (n > 0)
        self->sent_ += static_cast<std::uint64_t>(n);
    return n < 0 ? -errno : n;
}

// Parks until wake(w). The waiter leaves the list when woken, or when the
// coroutine is destroyed while parked.
inline boost::asio::awaitable<void> session::park(waiter& w)
{
    struct unpark
    {
        session& s;
        waiter& w;
        ~unpark()
        {
            if (w.parked) {
                w.parked = false;
                std::erase(s.parked_, &w);
            }
        }
    } guard{*this, w};
    w.parked = true;
    parked_.push_back(&w);
    co_await w.timer.async_wait(detail::use_tuple);
}

inline void session::wake(waiter& w)
{
    if (!w.parked)
        return;
    w.parked = false;
    std::erase(parked_, &w);
    w.timer.cancel();
}

inline void session::wake_all()
{
    auto all = std::exchange(parked_, {});
    for (waiter* w : all) {
        w->parked = false;
        w->timer.cancel();
    }
}

inline void session::wake_first(wait_for what)
{
    for (waiter* w : parked_)
        if (w->what == what) {
            wake(*w);
            return;
        }
}

// After a call that took bytes in or parsed what libssh2 had buffered:
// wake the calls waiting for a reply (theirs may be among them) and the
// read loops whose channel libssh2 now holds data or EOF for. While bytes
// may be left unread (`unparsed_`: a call other than a channel read stops
// at its own reply, libssh2 reading packet by packet; the rest stays in its
// buffer or in the kernel, and no readiness edge may come), one read loop is
// woken to drain them: a channel read reads until the socket is empty.
inline void session::took_bytes()
{
    bool channel_waits = false, channel_woken = false;
    // From the back: wake() erases only the element at i.
    for (std::size_t i = parked_.size(); i-- > 0;) {
        waiter& w = *parked_[i];
        if (w.what == wait_for::reply) {
            wake(w);
        } else if (w.what == wait_for::channel) {
            channel_waits = true;
            // Not 0 (1, or an error on a malformed queue): look.
            if (libssh2_poll_channel_read(w.channel, 1) != 0 || libssh2_channel_eof(w.channel) != 0) {
                wake(w);
                channel_woken = true;
            }
        }
    }
    if (unparsed_ && channel_waits && !channel_woken)
        wake_drainer();
}

// The read loop parked longest that can drain the socket now (not one
// whose window adjustment waits for the send side).
inline void session::wake_drainer()
{
    for (waiter* w : parked_)
        if (w->what == wait_for::channel && !(send_owner_ && w->owner == send_owner_)) {
            wake(*w);
            return;
        }
}

// What a libssh2 call left behind: after EAGAIN on the read side it has
// read the socket empty; a call that finished may have stopped at its
// reply with more bytes buffered or in the kernel.
inline void session::after_read(long rc, bool took, bool was_unparsed)
{
    if (rc == LIBSSH2_ERROR_EAGAIN && (libssh2_session_block_directions(session_) & LIBSSH2_SESSION_BLOCK_INBOUND))
        unparsed_ = false;
    else if (took)
        unparsed_ = true;
    if (took || was_unparsed)
        took_bytes();
}

// The socket is ready. Readable: the calls waiting for a reply, and one
// read loop to drain the socket (a call may stop at its own reply, or not
// read at all); took_bytes() then wakes the channels the bytes are for.
// Writable: the call whose packet is half sent.
inline void session::on_socket_ready(bool readable)
{
    for (std::size_t i = parked_.size(); i-- > 0;) {
        waiter& w = *parked_[i];
        if (w.what == wait_for::reply || (!readable && send_owner_ && w.owner == send_owner_))
            wake(w);
    }
    if (readable) {
        unparsed_ = true;
        wake_drainer();
    }
}

inline void session::close(error_code why)
{
    if (!failure_)
        failure_ = why;
    open_ = false;
    error_code ignored;
    socket_.close(ignored);
    keepalive_.cancel();
    wake_all();
    if (auto f = std::exchange(on_close_, nullptr))
        boost::asio::post(ex_, std::move(f));
}

inline error_code session::last_error(error fallback) const
{
    if (failure_)
        return failure_;
    if (!session_)
        return fallback;
    const int code = libssh2_session_last_errno(session_);
    if (code == LIBSSH2_ERROR_SOCKET_RECV || code == LIBSSH2_ERROR_SOCKET_SEND ||
        code == LIBSSH2_ERROR_SOCKET_DISCONNECT || code == LIBSSH2_ERROR_SOCKET_TIMEOUT)
        return error::connection_lost;
    return fallback;
}

// Parks `w` until the socket is ready in a direction libssh2 needs (one
// wait per direction for the whole session), or until another call's bytes
// concern it.
inline boost::asio::awaitable<void> session::wait_io(waiter& w)
{
    namespace net = boost::asio;
    const int dirs = libssh2_session_block_directions(session_);
    arm_read();
    if ((dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) && !write_wait_) {
        write_wait_ = true;
        socket_.async_wait(net::socket_base::wait_write, [self = shared_from_this()](error_code ec) {
            self->write_wait_ = false;
            if (ec)
                self->wake_all();
            else
                self->on_socket_ready(false);
        });
    }
    co_await park(w);
}

// One wait for readability at a time. Re-armed by its own handler while
// operations stay parked: the one it wakes to drain the socket may finish
// without parking again, and the others still need the next bytes.
inline void session::arm_read()
{
    if (read_wait_ || !open_)
        return;
    read_wait_ = true;
    socket_.async_wait(boost::asio::socket_base::wait_read, [self = shared_from_this()](error_code ec) {
        self->read_wait_ = false;
        if (ec) {
            self->wake_all();
            return;
        }
        self->on_socket_ready(true);
        for (waiter* w : self->parked_)
            if (w->what == wait_for::reply || w->what == wait_for::channel) {
                self->arm_read();
                break;
            }
    });
}

// libssh2 keeps one partly sent packet per session and answers
// LIBSSH2_ERROR_BAD_USE if another call tries to send something else before
// it is out. So when a call stops with the send side blocked, it owns the
// session until its call completes; other channels wait.
inline boost::asio::awaitable<void> session::await_turn(const void* me)
{
    if (!send_owner_ || send_owner_ == me || !open_)
        co_return;
    waiter w(ex_, wait_for::send_turn, me);
    while (send_owner_ && send_owner_ != me && open_)
        co_await park(w);
}

inline void session::after_call(const void* me, long rc)
{
    const bool blocked_sending = rc == LIBSSH2_ERROR_EAGAIN &&
        (libssh2_session_block_directions(session_) & LIBSSH2_SESSION_BLOCK_OUTBOUND);
    if (blocked_sending) {
        send_owner_ = me;
    } else if (send_owner_ == me) {
        send_owner_ = nullptr;
        for (std::size_t i = parked_.size(); i-- > 0;)
            if (parked_[i]->what == wait_for::send_turn)
                wake(*parked_[i]);
    }
}

// Calls f() until it stops answering EAGAIN; wakes whom the bytes it took
// in concern.
template<class F>
boost::asio::awaitable<long> session::call(F f)
{
    const char me = 0; // this call's identity while it owns the send side
    std::optional<waiter> w; // made when it first has to wait
    while (true) {
        co_await await_turn(&me);
        if (!open_ && session_ && failure_)
            co_return LIBSSH2_ERROR_SOCKET_DISCONNECT;
        const auto before = received_;
        const bool was_unparsed = unparsed_;
        const long rc = static_cast<long>(f());
        after_call(&me, rc);
        after_read(rc, received_ != before, was_unparsed);
        if (rc != LIBSSH2_ERROR_EAGAIN)
            co_return rc;
        if (!w)
            w.emplace(ex_, wait_for::reply, &me);
        co_await wait_io(*w);
    }
}

} // namespace nextprism::ssh

// The handshake (host key, authentication) and the channels (open, probe,
// keepalive, exec): the session's two other halves.
#include <nextprism/ssh/impl/session_connect.hpp>
#include <nextprism/ssh/impl/session_exec.hpp>

#endif
