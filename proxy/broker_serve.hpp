#ifndef NEXTPRISM_PROXY_BROKER_SERVE_HPP
#define NEXTPRISM_PROXY_BROKER_SERVE_HPP

// One validator's request, in the broker's child: SO_PEERCRED, the check
// of the argv again, the audit record (fail closed), then the run through
// proxy_run (the library's direct transport) and the answer.

#include "broker_options.hpp"
#include "broker_protocol.hpp"
#include "broker_stop.hpp"
#include "session_record.hpp"

#include <sys/socket.h>

#include <chrono>
#include <span>

namespace nextprism::broker {

namespace protocol = nextprism::broker_protocol;

/** The validator's own check, on the argv it sent: written back in the
    wire grammar (whose character rules refuse control, formatting and
    malformed bytes, also inside quotes) and checked as the command string
    an SSH session would carry. One check on both sides: a forged argv the
    grammar cannot carry (`--path=a\nb`) is refused here too. */
inline nextprism::decision check_as_sent(const nextprism::whitelist& rules, const std::string& service,
                                         std::span<const std::string> argv)
{
    nextprism::decision d;
    const auto command = nextprism::format_command(argv, d.ec);
    if (d.ec) {
        d.reason = "the argv cannot be written as an SSH command string (" + d.ec.message() + ")";
        return d;
    }
    return rules.check_command(service, command);
}

/// Answers the validator and ends this child.
[[noreturn]] inline void answer(int conn, int status, std::string line = {})
{
    protocol::send_message(conn, protocol::encode(protocol::reply{status, std::move(line)}));
    ::close(conn);
    std::exit(0);
}

/// Whether the connection is the validator's (SO_PEERCRED: one of the peer uids).
inline bool from_validator(const options& opts, int conn)
{
    ucred peer{};
    socklen_t len = sizeof peer;
    return ::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && opts.peer_uids.count(peer.uid);
}

/// The validator's request and the descriptors passed with it; a malformed one is answered.
inline protocol::request receive_request(int conn, std::vector<int>& fds)
{
    std::string payload;
    protocol::request req;
    const bool received = protocol::receive_message(conn, payload, fds, std::chrono::seconds(10));
    if (!received || !protocol::decode(payload, req))
        answer(conn, exit_code::internal,
               nextprism::proxy_exit_line("internal error", "malformed request to the broker"));
    return req;
}

/// The broker's own decision on the request; an unknown one is answered.
inline nextprism::decision decide(const options& opts, const nextprism::whitelist& rules,
                                  const protocol::request& req, const nextprism::proxy_run::session_record& session,
                                  int conn)
{
    nextprism::decision d;
    const bool runs = req.op == "run" || req.op == "dry_run";
    if (runs && session.key_fingerprint().empty()) {
        // sshd names the key in SSH_USER_AUTH (ExposeAuthInfo): a session
        // without one is no session of ours, and nobody would be on record.
        d.ec = nextprism::error::authentication_failed;
        d.reason = "no client key on record (the session has no SSH_USER_AUTH public key)";
    } else if (req.service != opts.service) {
        d.ec = nextprism::error::unknown_service;
        d.reason = "this proxy serves " + opts.service + ", not '" + req.service + "'";
    } else if (req.op == "refused") {
        d.ec = nextprism::error::empty_command; // any refusal: the validator's reason is on record
        d.reason = req.reason;
    } else if (runs) {
        d = check_as_sent(rules, opts.service, req.argv); // the grammar and the whitelist again
    } else {
        answer(conn, exit_code::internal, nextprism::proxy_exit_line("internal error", "unknown broker request"));
    }
    return d;
}

/// The broker's run configuration, with how this child stops a command.
inline nextprism::proxy_run::run_config run_config_for(const options& opts, long long not_before)
{
    auto cfg = opts.run;
    if (opts.helper_image != "none") {
        nextprism::broker_stop::helper_config helper;
        helper.image = opts.helper_image;
        helper.grace = std::chrono::milliseconds(opts.stop_grace_ms);
        helper.not_before = not_before;
        cfg.configure_client = [helper, engine = cfg.engine](boost::asio::any_io_executor ex,
                                                             nextprism::docker::client::options& o) {
            o.stop_processes = nextprism::broker_stop::helper_stopper(ex, engine, helper);
        };
    } else {
        cfg.configure_client = [grace = opts.stop_grace_ms](boost::asio::any_io_executor,
                                                           nextprism::docker::client::options& o) {
            o.stop_grace = std::chrono::milliseconds(grace);
        };
    }
    return cfg;
}

/** One validator's request, in its own child. */
[[noreturn]] inline void serve(const options& opts, const nextprism::whitelist& rules, int conn)
{
    using nextprism::proxy_exit_line;
    if (!from_validator(opts, conn))
        std::exit(0); // not the validator: no answer
    const auto not_before = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    std::vector<int> fds;
    const protocol::request req = receive_request(conn, fds);

    nextprism::audit_log log;
    nextprism::error_code ec;
    log.open(opts.audit_log, ec);
    if (ec)
        answer(conn, exit_code::audit_failed,
               proxy_exit_line("cannot open audit log " + opts.audit_log, ec.message()));

    // The record, from what the broker derives itself where it can: the
    // fingerprint and comment from the key line, its own service.
    const nextprism::proxy_run::session_record session(opts.service, req.input, req.ssh_client, req.key,
                                                       opts.authorized_keys);
    const nextprism::decision d = decide(opts, rules, req, session, conn);
    const auto record = session.decided(d);
    log.write(record, ec);
    if (ec)
        answer(conn, exit_code::audit_failed,
               proxy_exit_line("cannot write audit log " + opts.audit_log, ec.message()));
    if (!d) // the validator prints its own refusal; one it did not see gets the broker's
        answer(conn, exit_code::refused, req.op == "refused" ? "" : proxy_exit_line("refused", d.reason));
    if (req.op == "dry_run")
        answer(conn, 0);
    if (fds.size() != 2)
        answer(conn, exit_code::internal, proxy_exit_line("internal error", "no output descriptors passed"));

    bool answered = false;
    nextprism::proxy_run::run(run_config_for(opts, not_before), d, record, log, {fds[0], fds[1], conn},
                              [&](int status) {
                                  if (answered)
                                      return;
                                  answered = true;
                                  // The output is complete: sshd sees its end once the validator exits.
                                  ::close(fds[0]);
                                  ::close(fds[1]);
                                  protocol::send_message(conn, protocol::encode(protocol::reply{status, {}}));
                                  ::shutdown(conn, SHUT_RDWR);
                              });
    std::exit(0);
}

} // namespace nextprism::broker

#endif
