#ifndef NEXTPRISM_DISCOVERY_IMPL_SWARM_LABELS_HPP
#define NEXTPRISM_DISCOVERY_IMPL_SWARM_LABELS_HPP

#include <nextprism/discovery/swarm_labels.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace nextprism {

struct swarm_label_source::watcher
{
    net::cancellation_signal signal;
    bool stopped = false;
};

/// The engine's identity as last fetched, kept only while it is a
/// manager (a worker or an engine outside Swarm is asked every time:
/// it may have been promoted or joined since).
struct swarm_label_source::identity
{
    std::mutex mutex;
    std::optional<docker::engine_info> info;
    std::chrono::steady_clock::time_point fetched;

    std::optional<docker::engine_info> get(std::chrono::milliseconds ttl)
    {
        std::lock_guard lock(mutex);
        if (info && std::chrono::steady_clock::now() - fetched >= ttl)
            info.reset();
        return info;
    }
    void keep(const docker::engine_info& i)
    {
        std::lock_guard lock(mutex);
        info = i;
        fetched = std::chrono::steady_clock::now();
    }
    void forget()
    {
        std::lock_guard lock(mutex);
        info.reset();
    }
};

inline swarm_label_source::swarm_label_source(executor_type ex, options opts)
    : client_(std::move(ex), opts.engine), options_(std::move(opts)),
      identity_(std::make_shared<identity>())
{
}

inline swarm_label_source::~swarm_label_source()
{
    if (watcher_) {
        // The signal belongs to the executor's thread: emit it there.
        net::post(client_.get_executor(), [w = watcher_] {
            w->stopped = true;
            w->signal.emit(net::cancellation_type::all);
        });
    }
}

inline void swarm_label_source::watch(std::function<void()> on_change)
{
    if (watcher_ || !options_.watch_events)
        return;
    watcher_ = std::make_shared<watcher>();
    net::co_spawn(
        client_.get_executor(),
        [w = watcher_, client = client_, self = identity_,
         on_change = std::move(on_change)]() mutable -> net::awaitable<void> {
            using detail::use_tuple;
            net::steady_timer pause(co_await net::this_coro::executor);
            // Built outside the co_await: GCC 12 miscompiles braced
            // initializer lists inside a co_await expression.
            const docker::filters changes{{"type", {"service", "node"}}};
            while (!w->stopped) {
                co_await client.async_watch_events(
                    changes,
                    [&on_change, &self](const nlohmann::json& event) {
                        // Promoted, demoted, left, joined: who this engine is may change.
                        if (event.is_object() && event.value("Type", "") == "node")
                            self->forget();
                        on_change();
                        return true;
                    },
                    net::bind_cancellation_slot(w->signal.slot(), use_tuple));
                if (w->stopped)
                    break;
                // The engine went away or restarted: what we cached may be
                // wrong, and the stream must be opened again.
                self->forget();
                on_change();
                pause.expires_after(std::chrono::seconds(1));
                co_await pause.async_wait(net::bind_cancellation_slot(w->signal.slot(), use_tuple));
            }
        },
        net::detached);
}

namespace detail {

inline bool is_active_node(const docker::node_info& n)
{
    return n.state == "ready" && n.availability == "active";
}

/// One lookup's answer from what the engine was believed to be;
/// `stale_identity`: the belief proved wrong, worth asking who it is again.
struct placement_attempt
{
    op_result<placement> result;
    bool stale_identity = false;
};

/// Whether the target's container runs on this engine (unknown on an error).
inline net::awaitable<op_result<std::optional<bool>>> runs_here(docker::client& client,
                                                                std::string target)
{
    op_result<std::optional<bool>> r;
    auto [fec, container] = co_await client.async_find_container(std::move(target), use_tuple);
    if (!fec)
        r.value = true;
    else if (fec == error::target_not_found || fec == error::target_not_running)
        r.value = false;
    else
        r.ec = fec;
    co_return r;
}

/// The proxy services labelled as serving `service`.
inline std::vector<const docker::service_info*>
proxies_for(const std::vector<docker::service_info>& services, const std::string& target_label,
            const std::string& service)
{
    std::vector<const docker::service_info*> proxies;
    for (const auto& s : services)
        if (const auto l = s.labels.find(target_label); l != s.labels.end() && l->second == service)
            proxies.push_back(&s);
    return proxies;
}

/// A proxy's SSH port: its label, else the default; none if the label is
/// not a port.
inline std::optional<std::uint16_t> proxy_port(const docker::service_info& s,
                                               const std::string& port_label,
                                               std::uint16_t default_port)
{
    std::uint16_t port = default_port;
    if (const auto l = s.labels.find(port_label); l != s.labels.end()) {
        const auto& text = l->second;
        const auto [end, perr] = std::from_chars(text.data(), text.data() + text.size(), port);
        if (perr != std::errc{} || end != text.data() + text.size() || port == 0)
            return std::nullopt;
    }
    return port;
}

/// A proxy service's running tasks; those on a node running the target,
/// active and with an address, are added to `endpoints` (once each).
inline proxy_service_status proxy_status(const docker::service_info& s, std::uint16_t port,
                                         const std::vector<docker::task_info>& tasks,
                                         const std::set<std::string>& target_nodes,
                                         const std::vector<docker::node_info>& nodes,
                                         std::vector<proxy_endpoint>& endpoints)
{
    proxy_service_status status{s.name, s.replicas, 0};
    for (const auto& t : tasks) {
        if (t.service_id != s.id || t.state != "running")
            continue;
        ++status.running;
        if (!target_nodes.contains(t.node_id))
            continue;
        const auto node = std::find_if(nodes.begin(), nodes.end(),
                                       [&](const auto& n) { return n.id == t.node_id; });
        if (node == nodes.end() || !is_active_node(*node) || node->address.empty())
            continue;
        proxy_endpoint ep{node->address, port, node->id};
        if (std::find(endpoints.begin(), endpoints.end(), ep) == endpoints.end())
            endpoints.push_back(std::move(ep));
    }
    return status;
}

/// Where the target service's tasks run (this node or not), and the
/// endpoints of `proxies` on the nodes it runs on.
inline net::awaitable<placement_attempt>
place_proxies(docker::client& client, const swarm_label_source::options& opts,
              placement_attempt a, std::vector<const docker::service_info*> proxies,
              std::string target_id, std::string node_id, bool may_ask_again)
{
    auto& r = a.result;
    auto& p = r.value;
    // The target's tasks and its proxies' in one call.
    std::vector<std::string> ids{target_id};
    for (const auto* s : proxies)
        ids.push_back(s->id);
    const docker::filters running{{"service", ids}, {"desired-state", {"running"}}};
    auto [tec, tasks] = co_await client.async_list_tasks(running, use_tuple);
    if (tec) {
        r.ec = tec;
        co_return a;
    }
    std::set<std::string> target_nodes;
    for (const auto& t : tasks)
        if (t.service_id == target_id && t.state == "running")
            target_nodes.insert(t.node_id);
    p.target_local = target_nodes.contains(node_id);
    if (proxies.empty())
        co_return a;

    const docker::filters all_nodes;
    auto [nec, nodes] = co_await client.async_list_nodes(all_nodes, use_tuple);
    if (nec) {
        r.ec = nec;
        co_return a;
    }
    if (may_ask_again &&
        std::none_of(nodes.begin(), nodes.end(), [&](const auto& n) { return n.id == node_id; })) {
        a.stale_identity = true; // this engine left and joined again under a new id
        co_return a;
    }
    for (const auto* s : proxies) {
        const auto port = proxy_port(*s, opts.port_label, opts.default_port);
        if (!port) {
            // A wrong label is a deployment error: say so, do not guess.
            r.ec = error::invalid_configuration;
            co_return a;
        }
        p.proxy_services.push_back(proxy_status(*s, *port, tasks, target_nodes, nodes, p.proxies));
    }
    co_return a;
}

/// The placement of `service` (run as `target`) as seen by the engine
/// believed to be `info`.
inline net::awaitable<placement_attempt>
place(docker::client& client, const swarm_label_source::options& opts, const std::string& service,
      const std::string& target, const docker::engine_info& info, bool may_ask_again)
{
    placement_attempt a;
    auto& r = a.result;
    auto& p = r.value;
    p.swarm_active = info.swarm_state == "active";

    // Outside Swarm, on a worker, or for a plain container: only
    // whether the target runs here can be known.
    if (!*p.swarm_active || !info.control_available) {
        auto here = co_await runs_here(client, target);
        r.ec = here.ec;
        p.target_local = here.value;
        co_return a;
    }

    // All services at once: the target by its exact name and the
    // proxies by their label (filters cannot say "this or that").
    const docker::filters everything;
    auto [sec, services] = co_await client.async_list_services(everything, use_tuple);
    if (sec == error::not_swarm_manager && may_ask_again) {
        a.stale_identity = true; // demoted or left since
        co_return a;
    }
    if (sec) {
        r.ec = sec;
        co_return a;
    }
    const auto target_service = std::find_if(services.begin(), services.end(),
                                             [&](const auto& s) { return s.name == target; });
    if (target_service == services.end()) {
        auto here = co_await runs_here(client, target); // a plain container, or nowhere
        r.ec = here.ec;
        p.target_local = here.value;
        co_return a;
    }
    auto proxies = proxies_for(services, opts.target_label, service);
    auto placed = co_await place_proxies(client, opts, std::move(a), std::move(proxies),
                                         target_service->id, info.node_id, may_ask_again);
    co_return placed;
}

} // namespace detail

template<completion_token_for<placement> Token>
auto swarm_label_source::async_lookup(std::string service, Token&& token)
{
    return detail::async_spawn<placement>(
        client_.get_executor(), std::forward<Token>(token),
        [client = client_, opts = options_, self = identity_,
         service = std::move(service)]() mutable -> net::awaitable<detail::op_result<placement>> {
            using detail::use_tuple;
            const std::string target = opts.targets.of(service);

            // A second pass only when the kept identity proved stale, and at
            // most one (a concurrent lookup may keep an identity again).
            for (bool first_pass = true;; first_pass = false) {
                auto info = self->get(opts.identity_ttl);
                const bool kept = info.has_value();
                if (!kept) {
                    auto [iec, fetched] = co_await client.async_info(use_tuple);
                    if (iec)
                        co_return detail::op_result<placement>{iec, {}};
                    info = std::move(fetched);
                    if (info->swarm_state == "active" && info->control_available)
                        self->keep(*info);
                }
                auto attempt =
                    co_await detail::place(client, opts, service, target, *info, kept && first_pass);
                if (!attempt.stale_identity)
                    co_return std::move(attempt.result);
                self->forget(); // it is no longer what was kept: ask who it is
            }
        });
}

using swarm_labels = basic_cached_discovery<swarm_label_source>;
static_assert(discovery_policy<swarm_labels>);

} // namespace nextprism

#endif
