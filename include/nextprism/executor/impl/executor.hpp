#ifndef NEXTPRISM_EXECUTOR_IMPL_EXECUTOR_HPP
#define NEXTPRISM_EXECUTOR_IMPL_EXECUTOR_HPP


#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include <random>

namespace nextprism {

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
struct basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::state
{
    state(executor_type e, Transport t, Discovery d, Retry r, std::optional<Local> l,
          swarm_executor_options o)
        : ex(std::move(e)), transport(std::move(t)), discovery(std::move(d)), retry(std::move(r)),
          local(std::move(l)), opts(o)
    {
    }

    executor_type ex;
    Transport transport;
    Discovery discovery;
    const Retry retry; // configuration only: each run starts its own schedule
    std::optional<Local> local;
    swarm_executor_options opts;

    mutable std::mutex mutex;
    executor_statistics stats;
    basic_endpoint_health<Clock> health{opts.breaker};
    std::mt19937_64 seeds{std::random_device{}()}; // one seed per run's retry schedule

    /// The retry schedule of a new run, with a seed of its own.
    typename Retry::schedule start_schedule()
    {
        std::uint64_t seed = 0;
        {
            std::lock_guard lock(mutex);
            seed = seeds();
        }
        return retry.start(seed);
    }

    template<class F>
    void count(F f)
    {
        std::lock_guard lock(mutex);
        f(stats);
    }
};

namespace detail {

/// One run's cancellation: what the caller's slot reaches.
struct run_cancellation
{
    net::cancellation_signal signal;
    bool cancelled = false;
};

} // namespace detail

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::basic_swarm_executor(
    executor_type ex, Transport transport, Discovery discovery, Retry retry, std::optional<Local> local,
    swarm_executor_options opts)
    : state_(std::make_shared<state>(std::move(ex), std::move(transport), std::move(discovery),
                                     std::move(retry), std::move(local), opts))
{
}

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
auto basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::get_executor() const noexcept
    -> executor_type
{
    return state_->ex;
}

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
Transport& basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::transport() noexcept
{
    return state_->transport;
}

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
Discovery& basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::discovery() noexcept
{
    return state_->discovery;
}

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
executor_statistics basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::statistics() const
{
    std::lock_guard lock(state_->mutex);
    return state_->stats;
}

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
basic_endpoint_health<Clock> basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::health() const
{
    return state_->health;
}

/** One call of async_run: what the run keeps from one attempt to the next,
    and its steps. `all()` is the loop: authorize once, then attempts
    (`attempt()`: locate, choose a route, run it there) until one succeeds
    or `next()` says to stop. */
template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
struct basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::run
{
    using ticket = typename basic_endpoint_health<Clock>::ticket;

    /// What one attempt met.
    struct attempt_outcome
    {
        error_code ec;
        command_result result;
        /// Whether it may have started the command: known from the
        /// transport when it says (`command_result::started`), else from
        /// the error table.
        bool started = false;
    };

    run(std::shared_ptr<state> s, std::shared_ptr<detail::run_cancellation> c, command_request r,
        output_handler o, start_handler on_start)
        : st(std::move(s)), cancel(std::move(c)), request(std::move(r)), on_output(std::move(o)),
          on_started(std::move(on_start))
    {
    }

    std::shared_ptr<state> st;
    std::shared_ptr<detail::run_cancellation> cancel;
    command_request request;
    output_handler on_output;
    start_handler on_started;

    decision checked;                          // the one check's, made in steps()
    authorized_command& command = checked.command;
    // The timeout bounds the whole run, its retries included: each attempt
    // gets what is left of it, and no attempt starts after it.
    std::optional<std::chrono::steady_clock::time_point> deadline;
    // An attempt that may have started the command decides what the caller
    // learns: a later attempt that never reached a proxy ("no usable
    // proxy") must not hide that it may have run.
    std::string maybe_started;
    std::string started_in; // the last proxy start line of this run
    // Proxies that said "the target is not on my node" in this run.
    std::vector<proxy_endpoint> passed_over;
    // Proxies that did not answer in this run (refused, unreachable): others
    // go first, but they are tried again when nothing else can serve (a
    // proxy restarting answers again in seconds).
    std::vector<proxy_endpoint> unanswered;

    static bool contains(const std::vector<proxy_endpoint>& v, const proxy_endpoint& ep)
    {
        return std::find(v.begin(), v.end(), ep) != v.end();
    }

    std::chrono::milliseconds time_left() const
    {
        return std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
    }

    /// The run's end with an error.
    detail::op_result<command_result> failed(error_code ec, command_result value = {})
    {
        st->count([](auto& s) { ++s.failures; });
        return {ec, std::move(value)};
    }

    /// The run's end after attempts: the last one's error, unless an earlier
    /// one may have started the command and the last never reached it.
    detail::op_result<command_result> failed_after(error_code last, bool last_started)
    {
        command_result value;
        value.started_in = started_in;
        if (!maybe_started.empty() && !last_started) {
            value.reason = maybe_started + "; then: " + last.message();
            last = error::outcome_unknown;
        }
        return failed(last, std::move(value));
    }

    std::vector<attempt_report> attempts; // what each attempt met, for the result

    net::awaitable<detail::op_result<command_result>> all()
    {
        auto r = co_await steps();
        r.value.attempts = std::move(attempts);
        co_return r;
    }

    net::awaitable<detail::op_result<command_result>> steps()
    {
        st->count([](auto& s) { ++s.runs; });
        // The one check: what travels on is its value.
        checked = st->opts.whitelist->check(request.service, request.argv);
        if (!checked) {
            command_result refused;
            refused.reason = std::move(checked.reason);
            co_return failed(checked.ec, std::move(refused));
        }
        if (!request.detect_failures)
            command.failure_patterns.clear();
        const auto budget = request.timeout.count() != 0 ? request.timeout : st->opts.timeout_for(checked.command.rule);
        if (budget.count() != 0)
            deadline = std::chrono::steady_clock::now() + budget;

        auto schedule = st->start_schedule();
        net::steady_timer pause(st->ex);
        for (std::size_t n = 1;; ++n) {
            st->count([n](auto& s) {
                ++s.attempts;
                s.retries += n > 1 ? 1 : 0;
            });
            if (deadline) {
                command.timeout = time_left();
                if (command.timeout.count() <= 0)
                    co_return failed_after(error::timeout, false);
            }
            auto a = co_await attempt();
            if (!a.ec)
                co_return detail::op_result<command_result>{{}, std::move(a.result)};
            if (cancel->cancelled)
                co_return failed(error::cancelled);
            const auto delay = next(n, a, schedule);
            if (!delay)
                co_return failed_after(a.ec, a.started);
            pause.expires_after(*delay);
            co_await pause.async_wait(net::bind_cancellation_slot(cancel->signal.slot(), detail::use_tuple));
            if (cancel->cancelled)
                co_return failed(error::cancelled);
        }
    }

    /// After failed attempt `n`: how long to wait before the next, or none.
    std::optional<std::chrono::milliseconds> next(std::size_t n, const attempt_outcome& a,
                                                  typename Retry::schedule& schedule)
    {
        if (a.ec == condition::moved)
            st->discovery.invalidate(command.service);
        if (maybe_started.empty() && a.started)
            maybe_started = "attempt " + std::to_string(n) + " may have started it (" + a.ec.message() + ")";
        if (!is_retryable(a.ec, a.started, command.idempotent))
            return std::nullopt;
        const auto delay = schedule.next_delay(n);
        // A retry that would start after the deadline is none.
        if (!delay || (deadline && *delay >= time_left()))
            return std::nullopt;
        return delay;
    }

    /// Where the endpoints' health and this run's experience let it go;
    /// `admitted` is the chosen proxy's admission.
    route choose(const placement& where, ticket& admitted) const
    {
        const auto pick = [&](bool skip_unanswered) {
            return choose_route(st->opts.mode, st->opts.prefer_local, where, st->local.has_value(),
                                [&](const proxy_endpoint& ep) {
                                    return !contains(passed_over, ep) &&
                                           !(skip_unanswered && contains(unanswered, ep)) &&
                                           (admitted = st->health.admit(ep)).allowed();
                                });
        };
        const route chosen = pick(true);
        return chosen.how == route::kind::none && !unanswered.empty() ? pick(false) : chosen;
    }

    /// One attempt: locate, choose, run there.
    net::awaitable<attempt_outcome> attempt()
    {
        auto [lec, where] = co_await st->discovery.async_locate(request.service, detail::use_tuple);
        // A lookup need not support cancellation: one that came meanwhile
        // was emitted before any transport held the slot, so it ends here.
        if (cancel->cancelled)
            co_return attempt_outcome{error::cancelled, {}, false};
        if (lec && st->opts.mode != swarm_mode::off)
            where = placement{}; // discovery failed: the local engine may still serve
        ticket admitted; // resolved below, or given back unresolved
        const route chosen = choose(where, admitted);
        if (chosen.how == route::kind::none) {
            // What each proxy met that discovery's health check left out.
            for (const auto& [ep, met] : where.left_out)
                attempts.push_back({ep.to_string(), met});
            const error_code none = lec ? lec : error_code(error::no_route);
            attempts.push_back({{}, none});
            co_return attempt_outcome{none, {}, false};
        }

        // Failure lines of this attempt only: a retried attempt starts afresh.
        failure_scanner failures(command.failure_patterns);
        output_handler out = [&failures, this](output_stream s, std::string_view data) {
            failures.feed(s, data);
            if (on_output)
                on_output(s, data);
        };
        attempt_outcome a;
        const auto slot = [this] { return net::bind_cancellation_slot(cancel->signal.slot(), detail::use_tuple); };
        const std::string route_name = chosen.how == route::kind::local ? "local" : chosen.endpoint.to_string();
        start_handler started = [this, &route_name](const start_report& at) {
            if (!on_started)
                return;
            start_report with_route = at;
            with_route.route = route_name;
            on_started(with_route);
        };
        if (chosen.how == route::kind::local) {
            st->count([&chosen](auto& s) {
                ++s.local;
                s.fallbacks += chosen.fallback ? 1 : 0;
            });
            if constexpr (reports_start<Local>)
                std::tie(a.ec, a.result) = co_await st->local->async_run(command, out, started, slot());
            else
                std::tie(a.ec, a.result) = co_await st->local->async_run(command, out, slot());
        } else {
            st->count([](auto& s) { ++s.proxied; });
            if constexpr (reports_start<Transport, proxy_endpoint>)
                std::tie(a.ec, a.result) =
                    co_await st->transport.async_run(chosen.endpoint, command, out, started, slot());
            else
                std::tie(a.ec, a.result) = co_await st->transport.async_run(chosen.endpoint, command, out, slot());
            admitted.resolve(a.ec);
            if (a.ec == error::target_not_found || a.ec == error::target_not_running)
                passed_over.push_back(chosen.endpoint);
            else if (a.ec == condition::unreachable && !contains(unanswered, chosen.endpoint))
                unanswered.push_back(chosen.endpoint);
        }
        attempts.push_back({route_name, a.ec});
        if (!a.result.started_in.empty())
            started_in = a.result.started_in;
        a.started = a.result.started.value_or(may_have_started(a.ec));
        if (!a.ec) {
            failures.finish();
            a.result.failure_lines = failures.lines();
        }
        co_return a;
    }
};

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
template<completion_token_for<command_result> Token>
auto basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::async_run(command_request request,
                                                                               output_handler on_output,
                                                                               start_handler on_started,
                                                                               Token&& token)
{
    auto cancel = std::make_shared<detail::run_cancellation>();
    auto one = std::make_shared<run>(state_, cancel, std::move(request), std::move(on_output), std::move(on_started));
    return detail::async_spawn<command_result>(
        state_->ex, std::forward<Token>(token),
        [one]() -> net::awaitable<detail::op_result<command_result>> { return one->all(); },
        [cancel](net::cancellation_type type) {
            cancel->cancelled = true;
            cancel->signal.emit(type);
        });
}

} // namespace nextprism

#endif
