#ifndef NEXTPRISM_DOCKER_TYPES_HPP
#define NEXTPRISM_DOCKER_TYPES_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/output.hpp>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism::docker {

class output_gate; // output_gate.hpp

/// The label Swarm puts on every task container: the service's name.
inline constexpr std::string_view service_name_label = "com.docker.swarm.service.name";

struct container_info
{
    std::string id;
    std::string name;      ///< without the leading '/'
    std::string state;     ///< "running", "exited", ...
    bool running = false;
    std::map<std::string, std::string> labels;
    /// Config.User and Config.Env: from an inspect only (a list has neither).
    std::string user;
    std::vector<std::string> env;
    /// The container's execs not yet ended (created or running): from an
    /// inspect only. The engine drops an exec from this list when it exits.
    std::vector<std::string> exec_ids;
};

/// GET /exec/{id}/json: what an exec runs and whether it still does.
struct exec_info
{
    std::string id;
    bool running = false;
    std::vector<std::string> argv; ///< ProcessConfig: entrypoint, then arguments
    int pid = 0;                   ///< 0: never started
};

struct engine_info
{
    std::string name;           ///< hostname of the engine
    std::string swarm_state;    ///< "active", "inactive", "pending", ...
    std::string node_id;        ///< this engine's Swarm node id
    std::string node_address;
    bool control_available = false; ///< a manager
};

struct node_info
{
    std::string id;
    std::string hostname;
    std::string address;       ///< Status.Addr
    std::string role;          ///< "manager" or "worker"
    std::string availability;  ///< "active", "pause", "drain"
    std::string state;         ///< "ready", "down", ...
    std::map<std::string, std::string> labels;
};

struct service_info
{
    std::string id;
    std::string name;
    std::map<std::string, std::string> labels;
    std::optional<std::uint64_t> replicas; ///< for replicated services
};

struct task_info
{
    std::string id;
    std::string service_id;
    std::string node_id;
    std::string desired_state;
    std::string state;
    std::string container_id;
};

/// Filters as the Engine API takes them: {"label": ["a=b"], "name": ["x"]}.
using filters = std::map<std::string, std::vector<std::string>>;

using nextprism::output_handler;
using nextprism::output_stream;

/// What to run: Cmd as an array, never a shell string.
struct exec_spec
{
    std::vector<std::string> argv;
    std::optional<std::string> user;   ///< e.g. "www-data"
    std::string working_dir;           ///< empty: the image's default
    std::vector<std::string> env;      ///< fixed "NAME=value" entries
    /// Back-pressure from a slow consumer of the output (optional; see
    /// output_gate.hpp). Not part of what runs: how its output is read.
    std::shared_ptr<output_gate> gate;
    /// Called once with the exec's id when the exec is created and the
    /// engine is about to be asked to start it, before any output; never
    /// called means the process was never started (optional; the proxy's
    /// start line, wire/exit_status.hpp).
    std::function<void(std::string_view exec_id)> on_starting;
};

struct exec_result
{
    int exit_code = -1;
    std::string exec_id;
    bool timed_out = false; ///< the deadline passed and the process was stopped
    /// A stop was attempted and the engine still reported the exec running
    /// when the stream ended: the stop did not work (e.g. no right to
    /// signal it), the command may still be running.
    bool still_running = false;
};

} // namespace nextprism::docker

#endif
