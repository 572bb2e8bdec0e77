#ifndef NEXTPRISM_DISCOVERY_IMPL_SWARM_LABELS_HPP
#define NEXTPRISM_DISCOVERY_IMPL_SWARM_LABELS_HPP

#include <nextprism/discovery/swarm_labels.hpp>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <optional>
#include <set>

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

} // namespace detail

template<completion_token_for<placement> Token>
auto swarm_label_source::async_lookup(std::string service, Token&& token)
{
    return detail::async_spawn<placement>(
        client_.get_executor(), std::forward<Token>(token),
        [client = client_, opts = options_, self = identity_,
         service = std::move(service)]() mutable -> net::awaitable<detail::op_result<placement>> {
            detail::op_result<placement> r;
            using detail::use_tuple;
            const std::string target = opts.targets.of(service);

            // A second pass only when the kept identity proved stale, and at
            // most one (a concurrent lookup may keep an identity again).
            for (bool first_pass = true;; first_pass = false) {
                r = {};
                auto& p = r.value;
                auto info = self->get(opts.identity_ttl);
                const bool kept = info.has_value();
                const bool may_ask_again = kept && first_pass;
                if (!kept) {
                    auto [iec, fetched] = co_await client.async_info(use_tuple);
                    if (iec) {
                        r.ec = iec;
                        co_return r;
                    }
                    info = std::move(fetched);
                    if (info->swarm_state == "active" && info->control_available)
                        self->keep(*info);
                }
                p.swarm_active = info->swarm_state == "active";

                // Outside Swarm, on a worker, or for a plain container: only
                // whether the target runs here can be known.
                auto local_only = [&]() -> net::awaitable<void> {
                    auto [fec, container] = co_await client.async_find_container(target, use_tuple);
                    if (!fec)
                        p.target_local = true;
                    else if (fec == error::target_not_found || fec == error::target_not_running)
                        p.target_local = false;
                    else
                        r.ec = fec;
                };
                if (!*p.swarm_active || !info->control_available) {
                    co_await local_only();
                    co_return r;
                }

                // All services at once: the target by its exact name and the
                // proxies by their label (filters cannot say "this or that").
                const docker::filters everything;
                auto [sec, services] = co_await client.async_list_services(everything, use_tuple);
                if (sec == error::not_swarm_manager && may_ask_again) {
                    self->forget(); // demoted or left since: ask who it is
                    continue;
                }
                if (sec) {
                    r.ec = sec;
                    co_return r;
                }
                const auto target_service = std::find_if(services.begin(), services.end(),
                                                         [&](const auto& s) { return s.name == target; });
                if (target_service == services.end()) {
                    co_await local_only(); // a plain container, or nowhere
                    co_return r;
                }
                const std::string wanted = opts.target_label;
                std::vector<const docker::service_info*> proxies;
                for (const auto& s : services)
                    if (const auto l = s.labels.find(wanted); l != s.labels.end() && l->second == service)
                        proxies.push_back(&s);

                // The target's tasks and its proxies' in one call.
                std::vector<std::string> ids{target_service->id};
                for (const auto* s : proxies)
                    ids.push_back(s->id);
                const docker::filters running{{"service", ids}, {"desired-state", {"running"}}};
                auto [tec, tasks] = co_await client.async_list_tasks(running, use_tuple);
                if (tec) {
                    r.ec = tec;
                    co_return r;
                }
                std::set<std::string> target_nodes;
                for (const auto& t : tasks)
                    if (t.service_id == target_service->id && t.state == "running")
                        target_nodes.insert(t.node_id);
                p.target_local = target_nodes.contains(info->node_id);
                if (proxies.empty())
                    co_return r;

                const docker::filters all_nodes;
                auto [nec, nodes] = co_await client.async_list_nodes(all_nodes, use_tuple);
                if (nec) {
                    r.ec = nec;
                    co_return r;
                }
                if (may_ask_again &&
                    std::none_of(nodes.begin(), nodes.end(), [&](const auto& n) { return n.id == info->node_id; })) {
                    self->forget(); // this engine left and joined again under a new id
                    continue;
                }

                for (const auto* s : proxies) {
                    std::uint16_t port = opts.default_port;
                    if (const auto l = s->labels.find(opts.port_label); l != s->labels.end()) {
                        const auto& text = l->second;
                        const auto [end, perr] = std::from_chars(text.data(), text.data() + text.size(), port);
                        if (perr != std::errc{} || end != text.data() + text.size() || port == 0) {
                            // A wrong label is a deployment error: say so, do not guess.
                            r.ec = error::invalid_configuration;
                            co_return r;
                        }
                    }
                    proxy_service_status status{s->name, s->replicas, 0};
                    for (const auto& t : tasks) {
                        if (t.service_id != s->id || t.state != "running")
                            continue;
                        ++status.running;
                        if (!target_nodes.contains(t.node_id))
                            continue;
                        const auto node = std::find_if(nodes.begin(), nodes.end(),
                                                       [&](const auto& n) { return n.id == t.node_id; });
                        if (node == nodes.end() || !detail::is_active_node(*node) || node->address.empty())
                            continue;
                        proxy_endpoint ep{node->address, port, node->id};
                        if (std::find(p.proxies.begin(), p.proxies.end(), ep) == p.proxies.end())
                            p.proxies.push_back(std::move(ep));
                    }
                    p.proxy_services.push_back(std::move(status));
                }
                co_return r;
            }
        });
}

using swarm_labels = basic_cached_discovery<swarm_label_source>;
static_assert(discovery_policy<swarm_labels>);

} // namespace nextprism

#endif
