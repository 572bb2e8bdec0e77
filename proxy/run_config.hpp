#ifndef NEXTPRISM_PROXY_RUN_CONFIG_HPP
#define NEXTPRISM_PROXY_RUN_CONFIG_HPP

// What the validator and the broker share before a run: how one is
// configured, where its output goes, the proxy's one-line exit and the
// whitelist file, loaded the same way by both.

#include <nextprism/detail/config.hpp>

#include <nextprism/whitelist.hpp>
#include <nextprism/docker/client.hpp>
#include <nextprism/wire/exit_status.hpp>
#include <nextprism/tools/fd_io.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>

namespace nextprism::proxy_run {

namespace exit_code = nextprism::proxy_exit_code;

/// The environment variable naming a service's target (Swarm service or
/// container): `photo-prism` -> PHOTO_PRISM_CONTAINER.
inline std::string target_variable(std::string_view service)
{
    std::string name;
    for (const char c : service)
        name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return name + "_CONTAINER";
}

using tools::write_all;

/// The proxy's own exit: its one stderr line and status (wire/exit_status.hpp).
[[noreturn]] inline void fail(int code, std::string_view what, std::string_view detail = {})
{
    write_all(STDERR_FILENO, proxy_exit_line(what, detail));
    std::exit(code);
}

/// How the proxy runs what it accepted (the broker's or the validator's configuration).
struct run_config
{
    std::string service;
    std::string container;   ///< the target's Swarm service or container name
    docker::engine_address engine;
    std::string lock_dir = "/run/nextprism";
    long timeout_seconds = 4 * 3600;
    long output_stall_seconds = 300; ///< the caller read nothing for this long: stop
    /// Commands running at once for this service, every command counted
    /// (status too); 0: no cap. 40 = what the client pool sends one proxy
    /// at most by default (max_connections_per_host 5 x MaxSessions 8).
    long max_running = 40;
    /// Commands running at once for one key (its SHA256 fingerprint); 0: no
    /// cap. 32: one key can hold at most 32 of the 40 service slots, 8 stay
    /// for every other key.
    long max_per_key = 32;
    /// Keep the single-flight lock (and the slots) after a stop that did
    /// not work, until the engine says the exec ended (the broker). The
    /// validator's direct mode cannot: sshd waits for its exit.
    bool hold_until_ended = false;
    /// Sets the Docker client's options (the broker: its stop helper).
    std::function<void(boost::asio::any_io_executor, docker::client::options&)> configure_client;
};

/// The file descriptors of one run.
struct run_io
{
    int out = STDOUT_FILENO;
    int err = STDERR_FILENO;
    int peer = -1; ///< the validator's connection (broker): its end stops the command
};

/** Reads a whitelist file; `fail(code, what, detail)` (which does not return)
    on a file that cannot be read or is not a valid whitelist. The validator
    and the broker load the same file the same way. */
template<class Fail>
whitelist load_whitelist(const std::string& path, Fail&& fail)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail(exit_code::usage, "cannot read whitelist file", path);
    std::stringstream text;
    text << in.rdbuf();
    error_code ec;
    std::string reason;
    auto rules = whitelist::from_json(text.str(), ec, reason);
    if (ec)
        fail(exit_code::usage, "invalid whitelist file " + path, reason);
    return rules;
}

} // namespace nextprism::proxy_run

#endif
