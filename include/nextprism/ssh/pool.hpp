#ifndef NEXTPRISM_SSH_POOL_HPP
#define NEXTPRISM_SSH_POOL_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/command.hpp>
#include <nextprism/wire/command_string.hpp>
#include <nextprism/ssh/session.hpp>

#include <boost/asio/strand.hpp>

#include <concepts>
#include <list>
#include <map>
#include <mutex>

namespace nextprism {

/** A pooling strategy says how many commands may share one connection.

    `channels_per_connection(max_sessions)`: given the proxy's MaxSessions.
*/
template<class S>
concept pooling_policy = requires(std::size_t max_sessions) {
    { S::channels_per_connection(max_sessions) } -> std::convertible_to<std::size_t>;
};

/// One command per connection at a time (like one `ssh` per command).
struct exclusive
{
    static constexpr std::size_t channels_per_connection(std::size_t) noexcept { return 1; }
};

/// Several channels on one connection, up to the proxy's MaxSessions less
/// one, which stays free for the session's liveness probe.
struct multiplexed
{
    static constexpr std::size_t channels_per_connection(std::size_t max_sessions) noexcept
    {
        return max_sessions > 1 ? max_sessions - 1 : 1;
    }
};

struct ssh_pool_options
{
    ssh::credentials credentials;
    ssh::session_options session;
    std::size_t max_connections_per_host = 5;
    std::size_t max_sessions = 8;            ///< the proxy's MaxSessions (proxy/sshd_config)
    std::size_t max_concurrent_handshakes = 4; ///< stay under sshd's MaxStartups
    std::chrono::milliseconds idle_timeout{5 * 60 * 1000};
    std::chrono::milliseconds queue_timeout{30'000}; ///< waiting for a free slot
};

/// Per-host counters, for the admin view.
struct host_statistics
{
    std::uint64_t created = 0;    ///< connections established
    std::uint64_t reused = 0;     ///< commands that ran on an existing connection
    std::uint64_t failed = 0;     ///< connection attempts or connections that failed
    std::uint64_t handshakes = 0; ///< handshakes started
    std::uint64_t commands = 0;   ///< commands started
    std::uint64_t retried = 0;    ///< commands retried on a fresh connection
    std::size_t connections = 0;  ///< open now
    std::size_t in_use = 0;       ///< channels running now
    std::size_t idle = 0;         ///< open connections without a command
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_received = 0;
    std::string host_key;         ///< last host key fingerprint seen ("SHA256:...")
    std::string host_key_message; ///< why the last host key was refused (known_hosts line, revoked)
    std::string last_error;       ///< message of the last connection failure
};

/** A pool of SSH connections to proxies, keyed by user@host:port.

    The strategy decides how many commands share a connection. Connections
    are made on demand (at most `max_connections_per_host`, at most
    `max_concurrent_handshakes` at once), warmed, reused, closed after
    `idle_timeout`, and evicted when broken. A command that finds its
    pooled connection broken before it started is retried once on a fresh
    connection; one that had started is not (it may have run).

    Thread-safe: every operation runs on the pool's strand.
*/
template<pooling_policy Strategy>
class basic_ssh_pool
{
public:
    using executor_type = boost::asio::strand<boost::asio::any_io_executor>;

    basic_ssh_pool(boost::asio::any_io_executor ex, ssh_pool_options opts);
    ~basic_ssh_pool();

    executor_type get_executor() const noexcept { return state_->strand; }

    /** Runs `argv` (sent as the wire-format command string) on the proxy at
        `ep`: `void(error_code, command_result)`.

        Cancellation: terminal and partial (total is filtered out). It ends
        the wait for a free session, or closes the command's channel (the
        validator then stops the command in the container, as on a
        timeout); the connection stays pooled. Completes with
        `error::cancelled`. */
    template<completion_token_for<command_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_run(ssh::endpoint ep, std::vector<std::string> argv, output_handler on_output,
                   std::chrono::milliseconds timeout, Token&& token = Token{});

    host_statistics statistics(const ssh::endpoint& ep) const;

    /// Closes every idle connection now.
    void close_idle();

    struct state; // detail

private:
    std::shared_ptr<state> state_;
};

using ssh_pool = basic_ssh_pool<multiplexed>;
using exclusive_ssh_pool = basic_ssh_pool<exclusive>;



} // namespace nextprism

#include <nextprism/ssh/impl/pool.hpp>

#endif
