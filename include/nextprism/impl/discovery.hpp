#ifndef NEXTPRISM_IMPL_DISCOVERY_HPP
#define NEXTPRISM_IMPL_DISCOVERY_HPP

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <charconv>

namespace nextprism {

inline bool means_moved(const error_code& ec) noexcept
{
    namespace net = boost::asio;
    return ec == error::target_not_found || ec == error::target_not_running ||
           ec == net::error::connection_refused || ec == net::error::host_unreachable ||
           ec == net::error::network_unreachable;
}

inline bool means_unreachable(const error_code& ec) noexcept
{
    namespace net = boost::asio;
    return ec == net::error::connection_refused || ec == net::error::host_unreachable ||
           ec == net::error::network_unreachable;
}

namespace detail {

/** Checks one candidate: a TCP connect, and for `banner` the server's
    identification line. Any failure or the deadline: false. */
inline net::awaitable<bool> probe_endpoint(proxy_endpoint ep, health_check mode,
                                           std::chrono::milliseconds timeout)
{
    using namespace boost::asio::experimental::awaitable_operators;
    using net::ip::tcp;
    if (mode == health_check::none)
        co_return true;
    auto ex = co_await net::this_coro::executor;
    using detail::use_tuple;
    net::steady_timer deadline(ex);
    deadline.expires_after(timeout);

    tcp::resolver resolver(ex);
    auto resolved = co_await (resolver.async_resolve(ep.host, std::to_string(ep.port), use_tuple) ||
                              deadline.async_wait(use_tuple));
    if (resolved.index() != 0 || std::get<0>(std::get<0>(resolved)))
        co_return false;
    const auto endpoints = std::get<1>(std::get<0>(resolved));

    tcp::socket socket(ex);
    auto connected = co_await (net::async_connect(socket, endpoints, use_tuple) ||
                               deadline.async_wait(use_tuple));
    if (connected.index() != 0 || std::get<0>(std::get<0>(connected)))
        co_return false;
    if (mode == health_check::tcp)
        co_return true;

    // RFC 4253 4.2: the server may send other lines before "SSH-"; 255
    // bytes per line at most. Read up to a few lines.
    std::string buffer;
    for (int line = 0; line < 4; ++line) {
        auto read = co_await (net::async_read_until(socket, net::dynamic_buffer(buffer, 1024), "\n", use_tuple) ||
                              deadline.async_wait(use_tuple));
        if (read.index() != 0 || std::get<0>(std::get<0>(read)))
            co_return false;
        const auto n = std::get<1>(std::get<0>(read));
        const std::string_view text(buffer.data(), n);
        if (text.starts_with("SSH-2.0-") || text.starts_with("SSH-1.99-"))
            co_return true;
        buffer.erase(0, n);
    }
    co_return false;
}

/// Completes `token` with `value` (and no error) from a coroutine, for
/// sources whose answer needs no I/O.
template<class T, class Executor, class Token>
auto async_ready(Executor ex, T value, Token&& token)
{
    return async_spawn<T>(ex, std::forward<Token>(token),
                          [value = std::move(value)]() mutable -> net::awaitable<op_result<T>> {
                              co_return op_result<T>{{}, std::move(value)};
                          });
}

} // namespace detail

// ---- basic_cached_discovery ------------------------------------------------

template<discovery_source Source, class Clock>
struct basic_cached_discovery<Source, Clock>::state
{
    template<class... A>
    state(executor_type e, discovery_options o, A&&... a)
        : ex(e), opts(o), source(e, std::forward<A>(a)...)
    {
        cache.ttl = std::chrono::duration_cast<typename Clock::duration>(opts.ttl);
        tracker.failure_threshold = opts.failure_threshold;
        tracker.cool_down = std::chrono::duration_cast<typename Clock::duration>(opts.cool_down);
    }

    executor_type ex;
    discovery_options opts;
    Source source;
    mutable std::mutex mutex;
    basic_placement_cache<Clock> cache;
    basic_endpoint_tracker<Clock> tracker;
    std::size_t lookups = 0;
    bool watching = false;
};

template<discovery_source Source, class Clock>
template<class... SourceArgs>
basic_cached_discovery<Source, Clock>::basic_cached_discovery(executor_type ex, discovery_options opts,
                                                              SourceArgs&&... source_args)
    : state_(std::make_shared<state>(ex, opts, std::forward<SourceArgs>(source_args)...))
{
}

template<discovery_source Source, class Clock>
template<class Token>
auto basic_cached_discovery<Source, Clock>::async_locate(std::string service, Token&& token)
{
    auto st = state_;
    return detail::async_spawn<placement>(
        st->ex, std::forward<Token>(token),
        [st, service = std::move(service)]() -> net::awaitable<detail::op_result<placement>> {
            detail::op_result<placement> r;
            if constexpr (requires(Source& s, std::function<void()> f) { s.watch(f); }) {
                bool start = false;
                {
                    std::lock_guard lock(st->mutex);
                    start = !std::exchange(st->watching, true);
                }
                if (start) {
                    std::weak_ptr<state> weak = st;
                    st->source.watch([weak] {
                        if (auto s = weak.lock()) {
                            std::lock_guard lock(s->mutex);
                            s->cache.invalidate_all();
                        }
                    });
                }
            }
            {
                std::lock_guard lock(st->mutex);
                if (auto p = st->cache.fresh(service, Clock::now())) {
                    r.value = st->tracker.filter(std::move(*p), Clock::now());
                    co_return r;
                }
            }
            auto [ec, found] = co_await st->source.async_lookup(service, detail::use_tuple);
            if (ec) {
                std::lock_guard lock(st->mutex);
                ++st->lookups;
                if (auto stale = st->cache.stale(service)) {
                    // A failed refresh: what we knew a minute ago beats nothing.
                    r.value = st->tracker.filter(std::move(*stale), Clock::now());
                } else {
                    r.ec = ec;
                }
                co_return r;
            }
            // Probe the candidates that are not cooling down, all at once (a
            // dead node costs one health_timeout, not one each); those cooling
            // down stay in the cached placement so that they return after it.
            // One that cools down only for having been unreachable is probed
            // too: if it answers again, it is back.
            std::vector<std::size_t> probed;
            {
                std::lock_guard lock(st->mutex);
                for (std::size_t i = 0; i < found.proxies.size(); ++i)
                    if (st->tracker.worth_probing(found.proxies[i], Clock::now()))
                        probed.push_back(i);
            }
            using probe_op = decltype(net::co_spawn(st->ex, detail::probe_endpoint({}, {}, {}), net::deferred));
            std::vector<probe_op> probes;
            for (const auto i : probed)
                probes.push_back(net::co_spawn(
                    st->ex, detail::probe_endpoint(found.proxies[i], st->opts.health, st->opts.health_timeout),
                    net::deferred));
            std::vector<bool> healthy(found.proxies.size(), true);
            if (!probes.empty()) {
                auto [order, errors, answers] =
                    co_await net::experimental::make_parallel_group(std::move(probes))
                        .async_wait(net::experimental::wait_for_all(), net::use_awaitable);
                for (std::size_t k = 0; k < probed.size(); ++k)
                    healthy[probed[k]] = !errors[k] && answers[k];
            }
            std::vector<proxy_endpoint> kept;
            bool left_out = false;
            {
                std::lock_guard lock(st->mutex);
                for (const auto i : probed)
                    if (healthy[i] && st->opts.health != health_check::none)
                        st->tracker.record_reachable(found.proxies[i]);
                for (std::size_t i = 0; i < found.proxies.size(); ++i) {
                    if (healthy[i])
                        kept.push_back(found.proxies[i]);
                    else
                        st->tracker.record_failure(found.proxies[i], Clock::now(), endpoint_failure::unreachable);
                }
                left_out = kept.size() < found.proxies.size();
            }
            found.proxies = std::move(kept);
            std::lock_guard lock(st->mutex);
            ++st->lookups;
            // Left a candidate out, or no route at all: look again soon.
            const bool no_route = st->tracker.filter(found, Clock::now()).proxies.empty() && found.target_local != true;
            std::optional<typename Clock::duration> keep_for;
            if (left_out || no_route)
                keep_for = std::chrono::duration_cast<typename Clock::duration>(st->opts.negative_ttl);
            st->cache.store(service, found, Clock::now(), keep_for);
            r.value = st->tracker.filter(std::move(found), Clock::now());
            co_return r;
        });
}

template<discovery_source Source, class Clock>
void basic_cached_discovery<Source, Clock>::report(const std::string& service, const proxy_endpoint& ep,
                                                   const error_code& ec)
{
    std::lock_guard lock(state_->mutex);
    if (!ec) {
        state_->tracker.record_success(ep);
        return;
    }
    // A refused command or a cancellation says nothing about the endpoint.
    if (ec == condition::rejected || ec == error::cancelled)
        return;
    state_->tracker.record_failure(ep, Clock::now(),
                                   means_unreachable(ec) ? endpoint_failure::unreachable : endpoint_failure::other);
    if (means_moved(ec))
        state_->cache.invalidate(service);
}

template<discovery_source Source, class Clock>
void basic_cached_discovery<Source, Clock>::invalidate(const std::string& service)
{
    std::lock_guard lock(state_->mutex);
    state_->cache.invalidate(service);
}

template<discovery_source Source, class Clock>
void basic_cached_discovery<Source, Clock>::invalidate_all()
{
    std::lock_guard lock(state_->mutex);
    state_->cache.invalidate_all();
}

template<discovery_source Source, class Clock>
std::size_t basic_cached_discovery<Source, Clock>::source_lookups() const
{
    std::lock_guard lock(state_->mutex);
    return state_->lookups;
}

template<discovery_source Source, class Clock>
std::size_t basic_cached_discovery<Source, Clock>::consecutive_failures(const proxy_endpoint& ep) const
{
    std::lock_guard lock(state_->mutex);
    return state_->tracker.consecutive_failures(ep);
}

// ---- static_list_source ----------------------------------------------------

template<class Token>
auto static_list_source::async_lookup(std::string service, Token&& token)
{
    placement p;
    if (const auto it = options_.endpoints.find(service); it != options_.endpoints.end())
        p.proxies = it->second;
    if (options_.local_services.contains(service))
        p.target_local = true;
    return detail::async_ready(ex_, std::move(p), std::forward<Token>(token));
}

// ---- dns_source ------------------------------------------------------------

inline std::string dns_source::name_for(const std::string& service) const
{
    std::string name = options_.name_pattern;
    if (const auto at = name.find("{service}"); at != std::string::npos)
        name.replace(at, 9, service);
    return name;
}

template<class Token>
auto dns_source::async_lookup(std::string service, Token&& token)
{
    return detail::async_spawn<placement>(
        ex_, std::forward<Token>(token),
        [ex = ex_, name = name_for(service), port = options_.port]() -> net::awaitable<detail::op_result<placement>> {
            detail::op_result<placement> r;
            net::ip::tcp::resolver resolver(ex);
            auto [ec, results] =
                co_await resolver.async_resolve(name, std::to_string(port), detail::use_tuple);
            // Swarm's resolver answers NXDOMAIN when a service has no task:
            // no proxies, not a failure.
            if (ec == net::error::host_not_found || ec == net::error::host_not_found_try_again)
                co_return r;
            if (ec) {
                r.ec = ec;
                co_return r;
            }
            for (const auto& entry : results) {
                proxy_endpoint ep{entry.endpoint().address().to_string(), port, {}};
                if (std::find(r.value.proxies.begin(), r.value.proxies.end(), ep) == r.value.proxies.end())
                    r.value.proxies.push_back(std::move(ep));
            }
            co_return r;
        });
}

// ---- swarm_label_source ----------------------------------------------------

struct swarm_label_source::watcher
{
    net::cancellation_signal signal;
    bool stopped = false;
};

inline swarm_label_source::swarm_label_source(executor_type ex, options opts)
    : client_(std::move(ex), opts.engine), options_(std::move(opts))
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
        [w = watcher_, client = client_, on_change = std::move(on_change)]() mutable -> net::awaitable<void> {
            using detail::use_tuple;
            net::steady_timer pause(co_await net::this_coro::executor);
            // Built outside the co_await: GCC 12 miscompiles braced
            // initializer lists inside a co_await expression.
            const docker::filters changes{{"type", {"service", "node"}}};
            while (!w->stopped) {
                co_await client.async_watch_events(
                    changes,
                    [&on_change](const nlohmann::json&) {
                        on_change();
                        return true;
                    },
                    net::bind_cancellation_slot(w->signal.slot(), use_tuple));
                if (w->stopped)
                    break;
                // The engine went away or restarted: what we cached may be
                // wrong, and the stream must be opened again.
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

template<class Token>
auto swarm_label_source::async_lookup(std::string service, Token&& token)
{
    return detail::async_spawn<placement>(
        client_.get_executor(), std::forward<Token>(token),
        [client = client_, opts = options_,
         service = std::move(service)]() mutable -> net::awaitable<detail::op_result<placement>> {
            detail::op_result<placement> r;
            using detail::use_tuple;
            auto& p = r.value;
            const auto named = opts.targets.find(service);
            const std::string target = named == opts.targets.end() ? service : named->second;

            auto [iec, info] = co_await client.async_info(use_tuple);
            if (iec) {
                r.ec = iec;
                co_return r;
            }
            p.swarm_active = info.swarm_state == "active";

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
            if (!*p.swarm_active || !info.control_available) {
                co_await local_only();
                co_return r;
            }

            const docker::filters by_name{{"name", {target}}};
            auto [sec, services] = co_await client.async_list_services(by_name, use_tuple);
            if (sec) {
                r.ec = sec;
                co_return r;
            }
            // The name filter matches prefixes: keep the exact name.
            const auto target_service = std::find_if(services.begin(), services.end(),
                                                     [&](const auto& s) { return s.name == target; });
            if (target_service == services.end()) {
                co_await local_only();
                co_return r;
            }

            const docker::filters target_running{{"service", {target_service->id}},
                                                 {"desired-state", {"running"}}};
            auto [tec, target_tasks] = co_await client.async_list_tasks(target_running, use_tuple);
            if (tec) {
                r.ec = tec;
                co_return r;
            }
            std::set<std::string> target_nodes;
            for (const auto& t : target_tasks)
                if (t.state == "running")
                    target_nodes.insert(t.node_id);
            p.target_local = target_nodes.contains(info.node_id);

            const docker::filters by_label{{"label", {opts.target_label + "=" + service}}};
            auto [pec, proxies] = co_await client.async_list_services(by_label, use_tuple);
            if (pec) {
                r.ec = pec;
                co_return r;
            }
            if (proxies.empty())
                co_return r;
            std::vector<std::string> proxy_ids;
            for (const auto& s : proxies)
                proxy_ids.push_back(s.id);
            const docker::filters proxies_running{{"service", proxy_ids}, {"desired-state", {"running"}}};
            auto [ptec, proxy_tasks] = co_await client.async_list_tasks(proxies_running, use_tuple);
            if (ptec) {
                r.ec = ptec;
                co_return r;
            }
            const docker::filters all_nodes;
            auto [nec, nodes] = co_await client.async_list_nodes(all_nodes, use_tuple);
            if (nec) {
                r.ec = nec;
                co_return r;
            }

            for (const auto& s : proxies) {
                std::uint16_t port = opts.default_port;
                if (const auto l = s.labels.find(opts.port_label); l != s.labels.end()) {
                    const auto& text = l->second;
                    const auto [end, perr] = std::from_chars(text.data(), text.data() + text.size(), port);
                    if (perr != std::errc{} || end != text.data() + text.size() || port == 0) {
                        // A wrong label is a deployment error: say so, do not guess.
                        r.ec = error::invalid_configuration;
                        co_return r;
                    }
                }
                proxy_service_status status{s.name, s.replicas, 0};
                for (const auto& t : proxy_tasks) {
                    if (t.service_id != s.id || t.state != "running")
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
        });
}

using static_list = basic_cached_discovery<static_list_source>;
using dns_discovery = basic_cached_discovery<dns_source>;
using swarm_labels = basic_cached_discovery<swarm_label_source>;

static_assert(discovery_policy<static_list>);
static_assert(discovery_policy<dns_discovery>);
static_assert(discovery_policy<swarm_labels>);

} // namespace nextprism

#endif
