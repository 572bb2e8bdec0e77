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

inline error_code session::verify_host_key(const endpoint& ep, const credentials& cred)
{
    std::size_t length = 0;
    int type = 0;
    const char* key = libssh2_session_hostkey(session_, &length, &type);
    if (!key)
        return error::ssh_failure;
    if (const char* hash = libssh2_hostkey_hash(session_, LIBSSH2_HOSTKEY_HASH_SHA256))
        fingerprint_ = "SHA256:" + detail::base64(reinterpret_cast<const unsigned char*>(hash), 32);

    // known_hosts is read and decided here (ssh/detail/known_hosts.hpp),
    // not by libssh2 1.10: it skipped what it could not parse, ignored
    // @revoked and @cert-authority and let `host` vouch for every port.
    int key_bits = 0;
    const char* type_name = nullptr;
    switch (type) {
    case LIBSSH2_HOSTKEY_TYPE_ED25519: key_bits = LIBSSH2_KNOWNHOST_KEY_ED25519, type_name = "ssh-ed25519"; break;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: key_bits = LIBSSH2_KNOWNHOST_KEY_ECDSA_256, type_name = "ecdsa-sha2-nistp256"; break;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: key_bits = LIBSSH2_KNOWNHOST_KEY_ECDSA_384, type_name = "ecdsa-sha2-nistp384"; break;
    case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: key_bits = LIBSSH2_KNOWNHOST_KEY_ECDSA_521, type_name = "ecdsa-sha2-nistp521"; break;
    case LIBSSH2_HOSTKEY_TYPE_RSA: key_bits = LIBSSH2_KNOWNHOST_KEY_SSHRSA, type_name = "ssh-rsa"; break;
    default: return error::ssh_failure;
    }
    const std::string_view blob(key, length);
    const std::string name = detail::known_host_name(ep.host, ep.port);
    // Hashed names (|1|salt|hash): libssh2 computes the HMAC, one line at a
    // time, asked for the exact name (no port fallback).
    LIBSSH2_SESSION* raw = session_;
    const detail::hashed_matcher hashed = [raw, key, length, key_bits, type_name](std::string_view pattern,
                                                                                  const std::string& n) {
        LIBSSH2_KNOWNHOSTS* one = libssh2_knownhost_init(raw);
        if (!one)
            return false;
        struct guard { LIBSSH2_KNOWNHOSTS* h; ~guard() { libssh2_knownhost_free(h); } } g{one};
        const std::string line = std::string(pattern) + " " + type_name + " " +
                                 detail::base64(reinterpret_cast<const unsigned char*>(key), length) +
                                 std::string((3 - length % 3) % 3, '=');
        // Any valid key will do: only whether the name matches is asked.
        if (libssh2_knownhost_readline(one, line.c_str(), line.size(), LIBSSH2_KNOWNHOST_FILE_OPENSSH) != 0)
            return false;
        const int check = libssh2_knownhost_check(one, n.c_str(), key, length,
                                                  LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW | key_bits,
                                                  nullptr);
        return check == LIBSSH2_KNOWNHOST_CHECK_MATCH || check == LIBSSH2_KNOWNHOST_CHECK_MISMATCH;
    };
    auto decided = [this](const detail::known_hosts_result& r) -> error_code {
        host_key_message_ = r.message;
        switch (r.verdict) {
        case detail::host_verdict::match: return {};
        case detail::host_verdict::mismatch: return error::host_key_mismatch;
        case detail::host_verdict::revoked:
            host_key_message_ += " (" + fingerprint_ + ")";
            return error::host_key_mismatch;
        default: return error::host_key_unknown;
        }
    };
    std::string text, why;
    bool missing = false;
    if (!detail::read_known_hosts(cred.known_hosts_file, text, missing, why)) {
        host_key_message_ = why; // unreadable: nothing is trusted, first use or not
        return error::host_key_unknown;
    }
    if (missing && !cred.trust_on_first_use) {
        host_key_message_ = why;
        return error::host_key_unknown;
    }
    const auto r = detail::check_known_hosts(text, name, type_name, blob, hashed);
    if (r.verdict != detail::host_verdict::not_found || !cred.trust_on_first_use) {
        if (r.verdict == detail::host_verdict::not_found)
            host_key_message_ = name + " (" + fingerprint_ + ") is not in known_hosts " + cred.known_hosts_file;
        return decided(r);
    }
    // First use, and only because the file says nothing about this host.
    const std::string line =
        name + " " + type_name + " " + detail::base64(reinterpret_cast<const unsigned char*>(key), length) +
        std::string((3 - length % 3) % 3, '=');
    const auto added = detail::trust_first_use(cred.known_hosts_file, name, type_name, blob, line, hashed);
    if (added.verdict == detail::host_verdict::not_found)
        return {}; // it said nothing about this host under the lock: the line was added
    return decided(added);
}

inline boost::asio::awaitable<error_code> session::connect(endpoint ep, credentials cred)
{
    namespace net = boost::asio;
    if (!detail::library_ready())
        co_return error::ssh_failure;

    // One deadline for the whole set-up: it closes the socket, which fails
    // whatever step is waiting.
    net::steady_timer deadline(ex_);
    deadline.expires_after(options_.connect_timeout);
    bool timed_out = false;
    auto self = shared_from_this();
    deadline.async_wait([self, &timed_out](error_code ec) {
        if (!ec && !self->open_) {
            timed_out = true;
            self->close(error::timeout);
        }
    });
    struct cancel_deadline { net::steady_timer& t; ~cancel_deadline() { t.cancel(); } } cd{deadline};

    net::ip::tcp::resolver resolver(ex_);
    auto [rec, results] = co_await resolver.async_resolve(ep.host, std::to_string(ep.port), detail::use_tuple);
    if (rec)
        co_return rec;
    auto [cec, connected] = co_await net::async_connect(socket_, results, detail::use_tuple);
    if (cec)
        co_return timed_out ? error_code(error::timeout) : cec;
    // Before the handshake: without it every exchange waits ~40 ms (Nagle
    // against delayed ACK).
    socket_.set_option(net::ip::tcp::no_delay(true));

    session_ = libssh2_session_init_ex(nullptr, nullptr, nullptr, this);
    if (!session_)
        co_return error::ssh_failure;
    libssh2_session_set_blocking(session_, 0);
    libssh2_session_callback_set(session_, LIBSSH2_CALLBACK_RECV, reinterpret_cast<void*>(&on_recv));
    libssh2_session_callback_set(session_, LIBSSH2_CALLBACK_SEND, reinterpret_cast<void*>(&on_send));
    // Prefer the cheap key exchange: ~3x less CPU than the default here.
    libssh2_session_method_pref(session_, LIBSSH2_METHOD_KEX,
                                "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256");
    libssh2_session_method_pref(session_, LIBSSH2_METHOD_HOSTKEY, "ssh-ed25519,ecdsa-sha2-nistp256");
    open_ = true; // the socket is usable; the call loop may wait on it

    const int fd = socket_.native_handle();
    long rc = co_await call([&] { return libssh2_session_handshake(session_, fd); });
    if (rc != 0)
        co_return timed_out ? error_code(error::timeout) : last_error(error::ssh_failure);
    if (auto ec = verify_host_key(ep, cred))
        co_return ec;
    rc = co_await call([&] {
        return libssh2_userauth_publickey_fromfile_ex(
            session_, ep.user.c_str(), static_cast<unsigned>(ep.user.size()), nullptr,
            cred.private_key_file.c_str(), cred.passphrase.empty() ? nullptr : cred.passphrase.c_str());
    });
    if (rc != 0) {
        if (timed_out)
            co_return error::timeout;
        if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED ||
            rc == LIBSSH2_ERROR_FILE)
            co_return error::authentication_failed;
        co_return last_error(error::ssh_failure);
    }
    deadline.cancel();
    // Warm the connection so that no user command waits behind sshd's
    // un-flushed host-key notice (~40 ms on a fresh connection).
    if (!co_await probe(options_.connect_timeout))
        co_return last_error(error::connection_lost);
    net::co_spawn(ex_, [self]() { return self->keepalive_loop(); }, net::detached);
    co_return error_code{};
}

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
    struct channel_guard
    {
        LIBSSH2_CHANNEL* c;
        int& active;
        ~channel_guard()
        {
            libssh2_channel_free(c); // non-blocking: frees locally if it must
            --active;
        }
    } guard{channel, active_channels_};

    long rc = co_await call([&] {
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
    // A deadline closes the channel; sshd then ends the validator's pipes
    // and the validator stops the command in the container. Its handler
    // may run after this frame is gone: it shares only this.
    struct deadline_state
    {
        bool timed_out = false;
        waiter* wait = nullptr;
    };
    auto ds = std::make_shared<deadline_state>();
    ds->wait = &reader_wait;
    struct forget_wait
    {
        deadline_state& s;
        ~forget_wait() { s.wait = nullptr; }
    } forget{*ds};
    net::steady_timer deadline(ex_);
    if (timeout.count() > 0) {
        deadline.expires_after(timeout);
        deadline.async_wait([ds, self](error_code ec) {
            if (!ec) {
                ds->timed_out = true;
                if (ds->wait)
                    self->wake(*ds->wait);
            }
        });
    }
    const bool& timed_out = ds->timed_out;

    std::vector<char> buffer(32 * 1024);
    bool eof = false;
    auto stop_requested = [&] { return timed_out || (cancelled && *cancelled); };
    while (!eof && !stop_requested()) {
        bool progress = false;
        co_await await_turn(&reader);
        if (!open_) {
            r.ec = error::outcome_unknown;
            co_return r;
        }
        // Each read first drains the socket into libssh2, then hands out
        // this channel's buffered data: the stderr read can pull in stdout
        // (or the EOF) after the stdout read came back empty. Parking then
        // would wait for bytes that already arrived (measured: 14 of 166
        // bursts stalled 25-28 s, until the next keepalive probe). So this
        // loop parks only when an iteration took nothing from the socket
        // or libssh2 holds nothing for this channel.
        const auto received_before = received_;
        const bool was_unparsed = unparsed_;
        for (int stream : {0, SSH_EXTENDED_DATA_STDERR}) {
            while (true) {
                // Reading may send a window adjustment: it takes the turn too.
                const auto n = libssh2_channel_read_ex(channel, stream, buffer.data(), buffer.size());
                after_call(&reader, n == LIBSSH2_ERROR_EAGAIN ? LIBSSH2_ERROR_EAGAIN : 0);
                if (n == LIBSSH2_ERROR_EAGAIN && send_owner_ == &reader)
                    break; // half-sent window adjustment: wait, then resume it
                if (n > 0) {
                    progress = true;
                    const auto which = stream == 0 ? output_stream::out : output_stream::err;
                    (stream == 0 ? r.value.stdout_bytes : r.value.stderr_bytes) += static_cast<std::uint64_t>(n);
                    if (on_output)
                        on_output(which, std::string_view(buffer.data(), static_cast<std::size_t>(n)));
                    continue;
                }
                if (n == LIBSSH2_ERROR_EAGAIN || n == 0)
                    break;
                r.ec = last_error(error::connection_lost);
                if (r.ec == error::ssh_failure)
                    r.ec = error::connection_lost;
                close(r.ec);
                r.ec = error::outcome_unknown; // it started; how it ended is unknown
                co_return r;
            }
            if (send_owner_ == &reader)
                break;
        }
        // Every channel read reads the socket empty first, unless its window
        // adjustment could not be sent; it may have buffered other
        // channels' data.
        if (send_owner_ != &reader)
            unparsed_ = false;
        if (received_ != received_before || was_unparsed)
            took_bytes();
        if (libssh2_channel_eof(channel)) {
            eof = true;
            break;
        }
        if (!open_) {
            r.ec = error::outcome_unknown;
            co_return r;
        }
        // Park when libssh2 holds nothing more for this channel (both reads
        // drained the socket), when nothing came in at all, or to let the
        // socket take a half-sent window adjustment.
        const bool blocked_send = send_owner_ == &reader;
        const int pending = libssh2_poll_channel_read(channel, 1);
        if (blocked_send || pending == 0 || (!progress && received_ == received_before))
            co_await wait_io(reader_wait);
    }
    deadline.cancel();

    // Close our side (answering the server's close is what the protocol
    // wants; we never send data or EOF after it).
    rc = co_await call([&] { return libssh2_channel_close(channel); });
    if (rc == 0)
        rc = co_await call([&] { return libssh2_channel_wait_closed(channel); });
    if (timed_out) {
        r.ec = error::timeout;
        co_return r;
    }
    if (cancelled && *cancelled && !eof) {
        r.ec = error::cancelled;
        co_return r;
    }
    if (rc != 0) {
        r.ec = error::outcome_unknown;
        co_return r;
    }
    char* signal = nullptr;
    std::size_t signal_length = 0;
    libssh2_channel_get_exit_signal(channel, &signal, &signal_length, nullptr, nullptr, nullptr, nullptr);
    if (signal) {
        r.value.exit_signal = std::string(signal, signal_length);
        libssh2_free(session_, signal);
    }
    // 0 when no exit status came: only a signal is told apart (decode_exit).
    const int status = libssh2_channel_get_exit_status(channel);
    r.value.exit_code = r.value.exit_signal ? -1 : status;
    r.ec = detail::decode_exit(status, r.value.exit_signal);
    co_return r;
}

} // namespace nextprism::ssh

#endif
