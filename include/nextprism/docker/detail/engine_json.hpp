#ifndef NEXTPRISM_DOCKER_DETAIL_ENGINE_JSON_HPP
#define NEXTPRISM_DOCKER_DETAIL_ENGINE_JSON_HPP

// The Engine API's JSON read into docker/types.hpp's values, and the list/inspect requests built on it.
// Included by docker/impl/client.hpp, after the client's declaration.

#include <nextprism/docker/detail/http.hpp>

namespace nextprism::docker::detail {

inline std::string text(const nlohmann::json& j, std::string_view key)
{
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

inline std::map<std::string, std::string> labels(const nlohmann::json& j)
{
    std::map<std::string, std::string> out;
    if (j.is_object())
        for (const auto& [k, v] : j.items())
            if (v.is_string())
                out[k] = v.get<std::string>();
    return out;
}

inline const nlohmann::json& at(const nlohmann::json& j, std::string_view key)
{
    static const nlohmann::json null;
    if (!j.is_object())
        return null;
    const auto it = j.find(key);
    return it == j.end() ? null : *it;
}

inline container_info container_from_inspect(const nlohmann::json& j)
{
    container_info c;
    c.id = text(j, "Id");
    c.name = text(j, "Name");
    if (!c.name.empty() && c.name.front() == '/')
        c.name.erase(0, 1);
    c.state = text(at(j, "State"), "Status");
    c.running = at(at(j, "State"), "Running") == true;
    const auto& config = at(j, "Config");
    c.labels = labels(at(config, "Labels"));
    c.user = text(config, "User");
    if (const auto& env = at(config, "Env"); env.is_array())
        for (const auto& e : env)
            if (e.is_string())
                c.env.push_back(e.get<std::string>());
    if (const auto& ids = at(j, "ExecIDs"); ids.is_array())
        for (const auto& id : ids)
            if (id.is_string())
                c.exec_ids.push_back(id.get<std::string>());
    return c;
}

inline exec_info exec_from_inspect(const nlohmann::json& j)
{
    exec_info x;
    x.id = text(j, "ID");
    x.running = at(j, "Running") == true;
    if (const auto& pid = at(j, "Pid"); pid.is_number_integer())
        x.pid = pid.get<int>();
    const auto& process = at(j, "ProcessConfig");
    if (const auto& e = at(process, "entrypoint"); e.is_string())
        x.argv.push_back(e.get<std::string>());
    if (const auto& args = at(process, "arguments"); args.is_array())
        for (const auto& a : args)
            if (a.is_string())
                x.argv.push_back(a.get<std::string>());
    return x;
}

inline container_info container_from_list(const nlohmann::json& j)
{
    container_info c;
    c.id = text(j, "Id");
    const auto& names = at(j, "Names");
    if (names.is_array() && !names.empty() && names[0].is_string()) {
        c.name = names[0].get<std::string>();
        if (!c.name.empty() && c.name.front() == '/')
            c.name.erase(0, 1);
    }
    c.state = text(j, "State");
    c.running = c.state == "running";
    c.labels = labels(at(j, "Labels"));
    return c;
}

template<class T, class F>
op_result<std::vector<T>> map_array(op_result<nlohmann::json> in, F convert)
{
    op_result<std::vector<T>> r;
    r.ec = in.ec;
    if (r.ec)
        return r;
    if (!in.value.is_array()) {
        r.ec = error::protocol_error;
        return r;
    }
    for (const auto& item : in.value)
        r.value.push_back(convert(item));
    return r;
}

inline std::string with_query(std::string path, const std::string& query)
{
    return query.empty() ? path : path + "?" + query;
}

inline node_info node_from_json(const nlohmann::json& j)
{
    node_info n;
    n.id = text(j, "ID");
    n.hostname = text(at(j, "Description"), "Hostname");
    const auto& status = at(j, "Status");
    n.address = text(status, "Addr");
    n.state = text(status, "State");
    const auto& spec = at(j, "Spec");
    n.role = text(spec, "Role");
    n.availability = text(spec, "Availability");
    n.labels = labels(at(spec, "Labels"));
    return n;
}

inline service_info service_from_json(const nlohmann::json& j)
{
    service_info s;
    s.id = text(j, "ID");
    const auto& spec = at(j, "Spec");
    s.name = text(spec, "Name");
    s.labels = labels(at(spec, "Labels"));
    const auto& replicas = at(at(at(spec, "Mode"), "Replicated"), "Replicas");
    if (replicas.is_number_unsigned())
        s.replicas = replicas.get<std::uint64_t>();
    return s;
}

inline task_info task_from_json(const nlohmann::json& j)
{
    task_info t;
    t.id = text(j, "ID");
    t.service_id = text(j, "ServiceID");
    t.node_id = text(j, "NodeID");
    t.desired_state = text(j, "DesiredState");
    const auto& status = at(j, "Status");
    t.state = text(status, "State");
    t.container_id = text(at(status, "ContainerStatus"), "ContainerID");
    return t;
}

/// GET `path` with `query`, an array of T converted by `convert`.
template<class T, class Convert>
net::awaitable<op_result<std::vector<T>>> list(context_ptr ctx, std::string path,
                                               std::string query, Convert convert)
{
    co_return map_array<T>(
        co_await request_json(ctx, http::verb::get, with_query(std::move(path), query)), convert);
}

/// GET /containers/{name or id}/json.
inline net::awaitable<op_result<container_info>> inspect_container(context_ptr ctx, std::string name)
{
    auto j = co_await request_json(ctx, http::verb::get, "/containers/" + url_encode(name) + "/json");
    op_result<container_info> r;
    r.ec = j.ec;
    if (!r.ec)
        r.value = container_from_inspect(j.value);
    co_return r;
}

} // namespace nextprism::docker::detail

#endif
