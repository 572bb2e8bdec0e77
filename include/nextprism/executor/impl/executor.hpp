#ifndef NEXTPRISM_EXECUTOR_IMPL_EXECUTOR_HPP
#define NEXTPRISM_EXECUTOR_IMPL_EXECUTOR_HPP

#include <nextprism/wire/exit_status.hpp>

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

template<proxy_transport_policy Transport, discovery_policy Discovery, retry_policy Retry,
         transport_policy Local, class Clock>
template<completion_token_for<command_result> Token>
auto basic_swarm_executor<Transport, Discovery, Retry, Local, Clock>::async_run(command_request request,
                                                                               output_handler on_output,
                                                                               Token&& token)
{
    auto cancel = std::make_shared<detail::run_cancellation>();
    auto st = state_;
    return detail::async_spawn<command_result>(
        st->ex, std::forward<Token>(token),
        [st, cancel, request = std::move(request),
         on_output = std::move(on_output)]() mutable -> net::awaitable<detail::op_result<command_result>> {
            using detail::use_tuple;
            detail::op_result<command_result> r;
            st->count([](auto& s) { ++s.runs; });
            auto fail = [&](error_code ec) {
                r.ec = ec;
                st->count([](auto& s) { ++s.failures; });
            };

            // The one check: what travels on is its value.
            auto decision = st->opts.policy->check(request.service, request.argv);
            if (!decision) {
                r.value.reason = std::move(decision.reason);
                fail(decision.ec);
                co_return r;
            }
            authorized_command command = std::move(decision.command);
            if (!request.detect_failures)
                command.failure_patterns.clear();
            // The timeout bounds the whole run, its retries included: each
            // attempt gets what is left of it, and no attempt starts after it.
            const auto budget = request.timeout.count() != 0 ? request.timeout : st->opts.default_timeout;
            const auto run_deadline = budget.count() != 0
                                          ? std::optional(std::chrono::steady_clock::now() + budget)
                                          : std::nullopt;
            const auto time_left = [&run_deadline] {
                return std::chrono::ceil<std::chrono::milliseconds>(*run_deadline -
                                                                    std::chrono::steady_clock::now());
            };
            // An attempt that may have started the command decides what the
            // caller learns: a later attempt that never reached a proxy
            // ("no usable proxy") must not hide that it may have run.
            std::string maybe_started;
            std::string started_in; // the last proxy start line of this run
            const auto fail_run = [&](error_code last, bool last_started) {
                r.value.started_in = started_in;
                if (!maybe_started.empty() && !last_started) {
                    r.value.reason = maybe_started + "; then: " + last.message();
                    last = error::outcome_unknown;
                }
                fail(last);
            };

            auto schedule = st->start_schedule();
            net::steady_timer pause(st->ex);
            // Proxies that said "the target is not on my node" in this run.
            std::vector<proxy_endpoint> passed_over;
            // Proxies that did not answer in this run (refused, unreachable):
            // others go first, but they are tried again when nothing else
            // can serve (a proxy restarting answers again in seconds).
            std::vector<proxy_endpoint> unanswered;
            const auto contains = [](const std::vector<proxy_endpoint>& v, const proxy_endpoint& ep) {
                return std::find(v.begin(), v.end(), ep) != v.end();
            };
            for (std::size_t attempt = 1;; ++attempt) {
                st->count([attempt](auto& s) {
                    ++s.attempts;
                    if (attempt > 1)
                        ++s.retries;
                });
                if (run_deadline) {
                    command.timeout = time_left();
                    if (command.timeout.count() <= 0) {
                        fail_run(error::timeout, false);
                        co_return r;
                    }
                }
                // Not a structured binding: the lambdas below capture `where`
                // (clang 14 refuses to capture a binding).
                error_code lec;
                placement where;
                std::tie(lec, where) = co_await st->discovery.async_locate(request.service, use_tuple);
                // This attempt's admission at the chosen endpoint; resolved below,
                // or given back when it goes out of scope unresolved.
                typename basic_endpoint_health<Clock>::ticket admitted;
                if (lec && st->opts.mode != swarm_mode::off) {
                    // Discovery failed: the local engine may still serve.
                    where = placement{};
                }
                const auto choose = [&](bool skip_unanswered) {
                    return choose_route(st->opts.mode, st->opts.prefer_local, where, st->local.has_value(),
                                        [&](const proxy_endpoint& ep) {
                                            return !contains(passed_over, ep) &&
                                                   !(skip_unanswered && contains(unanswered, ep)) &&
                                                   (admitted = st->health.admit(ep)).allowed();
                                        });
                };
                route chosen = choose(true);
                if (chosen.how == route::kind::none && !unanswered.empty())
                    chosen = choose(false);
                error_code ec;
                command_result result;
                // Whether this attempt may have started the command: from
                // the error table, or exactly, from a proxy's start line.
                bool attempt_started = false;
                // Failure lines of this attempt only: a retried attempt starts afresh.
                failure_scanner failures(command.failure_patterns);
                output_handler attempt_output = [&failures, &on_output](output_stream s,
                                                                        std::string_view data) {
                    failures.feed(s, data);
                    if (on_output)
                        on_output(s, data);
                };
                if (chosen.how == route::kind::none) {
                    ec = lec ? lec : error_code(error::no_route);
                } else if (chosen.how == route::kind::local) {
                    st->count([&](auto& s) {
                        ++s.local;
                        s.fallbacks += chosen.fallback ? 1 : 0;
                    });
                    std::tie(ec, result) = co_await st->local->async_run(
                        command, attempt_output,
                        net::bind_cancellation_slot(cancel->signal.slot(), use_tuple));
                    attempt_started = may_have_started(ec);
                } else {
                    st->count([](auto& s) { ++s.proxied; });
                    // The proxy's start line is taken out of stderr; its own
                    // exits come with its one line (wire/exit_status.hpp).
                    proxy_stderr proxy_line;
                    const auto pass_err = [&attempt_output](std::string_view data) {
                        if (attempt_output && !data.empty())
                            attempt_output(output_stream::err, data);
                    };
                    output_handler proxy_output = [&](output_stream s, std::string_view data) {
                        if (s == output_stream::err)
                            proxy_line.feed(data, pass_err);
                        else if (attempt_output)
                            attempt_output(s, data);
                    };
                    std::tie(ec, result) = co_await st->transport.async_run(
                        chosen.endpoint, command, proxy_output,
                        net::bind_cancellation_slot(cancel->signal.slot(), use_tuple));
                    proxy_line.finish(pass_err);
                    result.started_in = proxy_line.started_in();
                    if (!result.started_in.empty())
                        started_in = result.started_in;
                    result.stderr_bytes -= std::min<std::uint64_t>(result.stderr_bytes, proxy_line.start_line_size());
                    if (ec) {
                        attempt_started = may_have_started(ec);
                    } else {
                        ec = from_exit_status(result.exit_code, result.stdout_bytes, proxy_line);
                        attempt_started = proxy_line.started(); // a clean end: known
                    }
                    admitted.resolve(ec);
                    if (ec == error::target_not_found || ec == error::target_not_running)
                        passed_over.push_back(chosen.endpoint);
                    else if (ec == condition::unreachable && !contains(unanswered, chosen.endpoint))
                        unanswered.push_back(chosen.endpoint);
                }
                if (!ec) {
                    failures.finish();
                    result.failure_lines = failures.lines();
                    r.value = std::move(result);
                    co_return r;
                }
                if (cancel->cancelled) {
                    fail(error::cancelled);
                    co_return r;
                }
                if (ec == condition::moved)
                    st->discovery.invalidate(command.service);
                if (maybe_started.empty() && attempt_started)
                    maybe_started = "attempt " + std::to_string(attempt) + " may have started it (" +
                                    ec.message() + ")";
                if (!is_retryable(ec, attempt_started, command.idempotent)) {
                    fail_run(ec, attempt_started);
                    co_return r;
                }
                const auto delay = schedule.next_delay(attempt);
                // A retry that would start after the deadline is none.
                if (!delay || (run_deadline && *delay >= time_left())) {
                    fail_run(ec, attempt_started);
                    co_return r;
                }
                pause.expires_after(*delay);
                co_await pause.async_wait(net::bind_cancellation_slot(cancel->signal.slot(), use_tuple));
                if (cancel->cancelled) {
                    fail(error::cancelled);
                    co_return r;
                }
            }
        },
        [cancel](net::cancellation_type type) {
            cancel->cancelled = true;
            cancel->signal.emit(type);
        });
}

} // namespace nextprism

#endif
