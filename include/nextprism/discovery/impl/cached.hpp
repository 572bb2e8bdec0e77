#ifndef NEXTPRISM_DISCOVERY_IMPL_CACHED_HPP
#define NEXTPRISM_DISCOVERY_IMPL_CACHED_HPP

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
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

namespace detail {

/** Checks one candidate: a TCP connect, and for `banner` the server's
    identification line. Healthy: no error; else what the check met (the
    deadline: timed_out; no SSH banner: connection_failed). */
inline net::awaitable<error_code> probe_endpoint(proxy_endpoint ep, health_check mode,
                                                 std::chrono::milliseconds timeout)
{
    using namespace boost::asio::experimental::awaitable_operators;
    using net::ip::tcp;
    if (mode == health_check::none)
        co_return error_code{};
    auto ex = co_await net::this_coro::executor;
    using detail::use_tuple;
    net::steady_timer deadline(ex);
    deadline.expires_after(timeout);

    tcp::resolver resolver(ex);
    auto resolved = co_await (resolver.async_resolve(ep.host, std::to_string(ep.port), use_tuple) ||
                              deadline.async_wait(use_tuple));
    if (resolved.index() != 0)
        co_return error_code(net::error::timed_out);
    if (const auto ec = std::get<0>(std::get<0>(resolved)))
        co_return ec;
    const auto endpoints = std::get<1>(std::get<0>(resolved));

    tcp::socket socket(ex);
    auto connected = co_await (net::async_connect(socket, endpoints, use_tuple) ||
                               deadline.async_wait(use_tuple));
    if (connected.index() != 0)
        co_return error_code(net::error::timed_out);
    if (const auto ec = std::get<0>(std::get<0>(connected)))
        co_return ec;
    if (mode == health_check::tcp)
        co_return error_code{};

    // RFC 4253 4.2: the server may send other lines before "SSH-"; 255
    // bytes per line at most. Read up to a few lines.
    std::string buffer;
    for (int line = 0; line < 4; ++line) {
        auto read = co_await (net::async_read_until(socket, net::dynamic_buffer(buffer, 1024), "\n", use_tuple) ||
                              deadline.async_wait(use_tuple));
        if (read.index() != 0)
            co_return error_code(net::error::timed_out);
        if (std::get<0>(std::get<0>(read)))
            co_return error_code(error::connection_failed);
        const auto n = std::get<1>(std::get<0>(read));
        const std::string_view text(buffer.data(), n);
        if (text.starts_with("SSH-2.0-") || text.starts_with("SSH-1.99-"))
            co_return error_code{};
        buffer.erase(0, n);
    }
    co_return error_code(error::connection_failed);
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
    }

    executor_type ex;
    discovery_options opts;
    Source source;
    mutable std::mutex mutex;
    basic_placement_cache<Clock> cache;
    std::size_t lookups = 0;
    bool watching = false;

    /// The fresh entry, if any, once the source's events are followed
    /// (the first lookup starts that, on the coroutine path).
    std::optional<placement> fresh_once_watching(const std::string& service)
    {
        std::lock_guard lock(mutex);
        if constexpr (requires(Source& s, std::function<void()> f) { s.watch(f); })
            if (!watching)
                return std::nullopt;
        return cache.fresh(service, Clock::now());
    }
};

template<discovery_source Source, class Clock>
template<class... SourceArgs>
basic_cached_discovery<Source, Clock>::basic_cached_discovery(executor_type ex, discovery_options opts,
                                                              SourceArgs&&... source_args)
    : state_(std::make_shared<state>(ex, opts, std::forward<SourceArgs>(source_args)...))
{
}

template<discovery_source Source, class Clock>
template<completion_token_for<placement> Token>
auto basic_cached_discovery<Source, Clock>::async_locate(std::string service, Token&& token)
{
    return net::async_initiate<Token, void(error_code, placement)>(
        [st = state_](auto handler, std::string service) {
            // A warm entry (every command of a busy caller) completes
            // without a coroutine: the cache's lookup and a post.
            if (auto hit = st->fresh_once_watching(service)) {
                auto ex = net::get_associated_executor(handler, st->ex);
                net::post(ex, [h = std::move(handler), p = std::move(*hit)]() mutable {
                    std::move(h)(error_code{}, std::move(p));
                });
                return;
            }
            locate_from_source(st, std::move(service), std::move(handler));
        },
        token, std::move(service));
}

template<discovery_source Source, class Clock>
template<class Handler>
void basic_cached_discovery<Source, Clock>::locate_from_source(std::shared_ptr<state> st, std::string service,
                                                               Handler&& handler)
{
    detail::async_spawn<placement>(
        st->ex, std::forward<Handler>(handler),
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
                    r.value = std::move(*p);
                    co_return r;
                }
            }
            auto [ec, found] = co_await st->source.async_lookup(service, detail::use_tuple);
            if (ec) {
                std::lock_guard lock(st->mutex);
                ++st->lookups;
                if (auto stale = st->cache.stale(service)) {
                    // A failed refresh: what we knew a minute ago beats nothing.
                    r.value = std::move(*stale);
                } else {
                    r.ec = ec;
                }
                co_return r;
            }
            // Probe every candidate at once (a dead node costs one
            // health_timeout, not one each). Nothing is remembered of an
            // endpoint here: how its runs went is the executor's business
            // (executor/endpoint_health.hpp).
            using probe_op = decltype(net::co_spawn(st->ex, detail::probe_endpoint({}, {}, {}), net::deferred));
            std::vector<probe_op> probes;
            for (const auto& ep : found.proxies)
                probes.push_back(net::co_spawn(
                    st->ex, detail::probe_endpoint(ep, st->opts.health, st->opts.health_timeout),
                    net::deferred));
            std::vector<error_code> met(found.proxies.size());
            if (!probes.empty()) {
                auto [order, errors, answers] =
                    co_await net::experimental::make_parallel_group(std::move(probes))
                        .async_wait(net::experimental::wait_for_all(), net::use_awaitable);
                for (std::size_t k = 0; k < answers.size(); ++k)
                    met[k] = errors[k] ? error_code(error::internal_error) : answers[k];
            }
            std::vector<proxy_endpoint> kept;
            for (std::size_t i = 0; i < found.proxies.size(); ++i) {
                if (!met[i])
                    kept.push_back(found.proxies[i]);
                else
                    found.left_out.emplace_back(found.proxies[i], met[i]);
            }
            const bool left_out = kept.size() < found.proxies.size();
            found.proxies = std::move(kept);
            std::lock_guard lock(st->mutex);
            ++st->lookups;
            // Left a candidate out, or no route at all: look again soon.
            const bool no_route = found.proxies.empty() && found.target_local != true;
            std::optional<typename Clock::duration> keep_for;
            if (left_out || no_route)
                keep_for = std::chrono::duration_cast<typename Clock::duration>(st->opts.negative_ttl);
            st->cache.store(service, found, Clock::now(), keep_for);
            r.value = std::move(found);
            co_return r;
        });
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
std::vector<typename basic_placement_cache<Clock>::entry_view>
basic_cached_discovery<Source, Clock>::cache_entries() const
{
    std::lock_guard lock(state_->mutex);
    return state_->cache.snapshot(Clock::now());
}

} // namespace nextprism

#endif
