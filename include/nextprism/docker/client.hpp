#ifndef NEXTPRISM_DOCKER_CLIENT_HPP
#define NEXTPRISM_DOCKER_CLIENT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/docker/engine_address.hpp>
#include <nextprism/docker/types.hpp>
#include <nextprism/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace nextprism::docker {

namespace detail {
struct context;
}

/** A client of the Docker Engine API over its unix socket (or plain TCP).

    HTTP/1.1 with Boost.Beast. Plain GETs share one kept-alive connection
    (a discovery lookup is a few GETs in a row; a closed kept connection
    is replaced once, transparently); every other request, the exec
    stream (hijacked) and the events stream get a connection of their own. Every call has a deadline. The API version is
    negotiated on first use from `GET /_ping` (the engine's API-Version,
    capped at the newest this client knows), never hard-coded.

    Every `async_*` function takes an Asio completion token and completes
    with `void(error_code, T)`. Errors: `error::target_not_found` (404),
    `error::target_not_running` (409), `error::engine_error` (other
    statuses, malformed answers), `error::timeout`, or the socket's own
    error (connection refused, ...). All map to `condition::transient`
    except malformed JSON (`error::protocol_error`).

    Cancellation (async.hpp): `async_watch_events` and `async_exec`
    support terminal and partial (total is filtered out). A watch closes
    its stream and completes with the read's error; an exec stops its
    process (below) and completes with `error::cancelled`. The single
    requests support none: each ends within `options::request_timeout`.

    Thread safety: distinct objects are safe; a shared one needs a strand.
*/
class client
{
public:
    using executor_type = boost::asio::any_io_executor;
    using response = boost::beast::http::response<boost::beast::http::string_body>;

    struct options
    {
        std::chrono::milliseconds request_timeout{10'000}; ///< each plain request
        std::chrono::milliseconds stop_grace{3'000};       ///< SIGTERM → SIGKILL
        std::size_t max_response_bytes = 64 << 20;         ///< for JSON answers
        /** How a stop reaches the exec's processes when this process cannot
            signal them itself (the proxy's broker: not in the host PID
            namespace). Called with the exec's host PID and its container's
            id; must call `done` later (never inline) once they are gone or
            it gave up. Empty: signal them from here (process_tree.hpp). */
        std::function<void(int host_pid, const std::string& container_id, std::function<void()> done)>
            stop_processes;
    };

    client(executor_type ex, engine_address address);
    client(executor_type ex, engine_address address, options opts);

    executor_type get_executor() const noexcept { return ex_; }
    const engine_address& address() const noexcept;

    /// The negotiated API version ("1.41"), empty before the first call.
    std::string api_version() const;

    /// What this client (and its copies) sent so far: for benchmarks and
    /// tests that count the engine round trips an operation costs.
    struct statistics
    {
        std::uint64_t requests = 0;    ///< plain request/answer exchanges (not the streams)
        std::uint64_t connections = 0; ///< connections opened, streams included
    };
    statistics stats() const noexcept;

    /// One request; `target` without the version prefix ("/containers/json").
    /// Completes with the response whatever its status.
    template<completion_token_for<response> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_request(boost::beast::http::verb method, std::string target, std::string body,
                       Token&& token = Token{});

    /// GET /_ping and version negotiation: `void(error_code, std::string version)`.
    template<completion_token_for<std::string> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_ping(Token&& token = Token{});

    /// GET /containers/{name or id}/json: `void(error_code, container_info)`.
    template<completion_token_for<container_info> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_inspect_container(std::string name_or_id, Token&& token = Token{});

    /// GET /exec/{id}/json: `void(error_code, exec_info)`; gone: error::target_not_found.
    template<completion_token_for<exec_info> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_inspect_exec(std::string id, Token&& token = Token{});

    /** The running container of a Swarm service on this engine (label
        com.docker.swarm.service.name), else the container of that name.
        `void(error_code, container_info)`; not found: error::target_not_found;
        found but stopped: error::target_not_running. */
    template<completion_token_for<container_info> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_find_container(std::string service_or_name, Token&& token = Token{});

    /// GET /info, without the slow parts: `void(error_code, engine_info)`.
    /// Costs ~17x a filtered /services call: call once, not in a loop.
    template<completion_token_for<engine_info> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_info(Token&& token = Token{});

    /// GET /nodes: `void(error_code, std::vector<node_info>)`.
    template<completion_token_for<std::vector<node_info>> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_list_nodes(filters f, Token&& token = Token{});

    /// GET /services: `void(error_code, std::vector<service_info>)`.
    template<completion_token_for<std::vector<service_info>> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_list_services(filters f, Token&& token = Token{});

    /// GET /tasks: `void(error_code, std::vector<task_info>)`.
    template<completion_token_for<std::vector<task_info>> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_list_tasks(filters f, Token&& token = Token{});

    /** GET /events: calls `on_event(json)` for each event as it arrives
        until it returns false, the operation is cancelled, or the engine
        goes away. `void(error_code, std::size_t events_seen)`. */
    template<completion_token_for<std::size_t> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_watch_events(filters f, std::function<bool(const nlohmann::json&)> on_event,
                            Token&& token = Token{});

    /** Runs `spec` in a container and streams its output.

        Create (Cmd as an array, AttachStdin false, Tty false, Privileged
        false), start on a hijacked connection, demultiplex stdout/stderr
        frames to `on_output` as they arrive (memory stays bounded: nothing
        is buffered beyond one read), then inspect for the exit code. A
        consumer slower than the engine pauses the reading through
        `spec.gate` (output_gate.hpp).

        Timeout and cancellation stop the process: Docker has no exec-kill
        API, so the client reads the exec's host PID from `GET
        /exec/{id}/json` and signals that process and its descendants
        (SIGTERM, then SIGKILL after `stop_grace`), after checking in
        /proc/PID/cgroup that each belongs to the container. This needs
        the caller in the host PID namespace with the right to signal them
        (root on the node); elsewhere `options::stop_processes` does it
        (the proxy's broker starts a helper container for it).

        `void(error_code, exec_result)`; a non-zero exit status is data
        (`exit_code`), not an error. `timeout` 0 means none.
    */
    template<completion_token_for<exec_result> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_exec(std::string container_id, exec_spec spec, output_handler on_output,
                    std::chrono::milliseconds timeout, Token&& token = Token{});

private:
    executor_type ex_;
    std::shared_ptr<detail::context> context_; // shared with running operations
};

} // namespace nextprism::docker

#include <nextprism/docker/impl/client.hpp>

#endif
