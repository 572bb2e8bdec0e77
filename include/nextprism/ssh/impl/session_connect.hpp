#ifndef NEXTPRISM_SSH_IMPL_SESSION_CONNECT_HPP
#define NEXTPRISM_SSH_IMPL_SESSION_CONNECT_HPP

// The session's handshake: TCP connect, SSH handshake, the host key checked against known_hosts, public-key authentication.
// Included by ssh/impl/session.hpp.

namespace nextprism::ssh {

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

} // namespace nextprism::ssh

#endif
