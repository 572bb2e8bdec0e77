#ifndef NEXTPRISM_RETRY_HPP
#define NEXTPRISM_RETRY_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <optional>
#include <random>
#include <variant>

namespace nextprism {

/** Whether a failed attempt may be tried again at all, whatever the
    strategy: only transient failures; never a refusal, an authentication or
    host-key failure, or a command that ran (its non-zero exit is data, not
    an error); never a non-idempotent command (photoprism import moves
    files) once it may have started. */
inline bool is_retryable(const error_code& ec, bool may_have_started, bool idempotent) noexcept
{
    if (!ec)
        return false;
    if (may_have_started && !idempotent)
        return false;
    if (ec == error::outcome_unknown)
        return idempotent; // it may have run: only a command safe to repeat
    return ec == condition::transient;
}

/** Whether a failed attempt may have started the command: every error
    except those the error table marks `not_started` (they are known to
    come before the start: a refusal, no route, a connection refused, …). */
inline bool may_have_started(const error_code& ec) noexcept
{
    return ec && ec != condition::not_started;
}

/// The rule above, with `may_have_started` read from the error table.
inline bool is_retryable(const error_code& ec, bool idempotent) noexcept
{
    return is_retryable(ec, may_have_started(ec), idempotent);
}

/** A retry strategy is immutable configuration. `start(seed)` begins one
    run's schedule, which owns everything that changes during the run (the
    previous delay, its own random generator seeded from `seed`); the
    schedule's `next_delay(attempt)` says how long to wait before attempt
    `attempt + 1` after `attempt` failed (attempts count from 1), or that
    there is none. The executor draws a fresh seed for every run from its
    own generator, so two runs never share jitter. (A strategy object that
    carried the generator itself and was copied per run once made every run
    in a process draw the same delays.) Strategies do no I/O and own no
    timers: the executor does. */
template<class R>
concept retry_policy = requires(const R& r, std::uint64_t seed, typename R::schedule& s, std::size_t attempt) {
    { r.start(seed) } -> std::same_as<typename R::schedule>;
    { s.next_delay(attempt) } -> std::same_as<std::optional<std::chrono::milliseconds>>;
};

/// Never retry.
struct no_retry
{
    struct schedule
    {
        std::optional<std::chrono::milliseconds> next_delay(std::size_t) { return std::nullopt; }
    };
    schedule start(std::uint64_t) const { return {}; }
};

/// The same delay between attempts, up to `max_attempts` in all.
struct fixed_retry
{
    std::chrono::milliseconds delay{1000};
    std::size_t max_attempts = 3;

    struct schedule
    {
        std::chrono::milliseconds delay;
        std::size_t max_attempts;

        std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt)
        {
            if (attempt >= max_attempts)
                return std::nullopt;
            return delay;
        }
    };
    schedule start(std::uint64_t) const { return {delay, max_attempts}; }
};

/// Jitter variants, as analysed in the AWS Architecture Blog's
/// "Exponential Backoff And Jitter".
enum class jitter { none, full, equal, decorrelated };

/** base * multiplier^(attempt-1), capped, with jitter; up to `max_attempts`.
    Each run's schedule draws from its own generator, seeded by `start`
    (the same seed gives the same delays: tests).

    The defaults outlast a Swarm task restart and a move off a drained
    node: 8 attempts, delays 0.5, 1, 2, 4, 8, 10, 10 s with equal jitter
    (each at least half its step) wait 17.75-35.5 s in all; measured on a
    3-node Swarm, a killed proxy task answered again after ~5-7 s and a
    task moved off a drained node ran again after ~15 s. */
struct exponential_backoff
{
    std::chrono::milliseconds base{500};
    double multiplier = 2.0;
    std::chrono::milliseconds cap{10'000};
    std::size_t max_attempts = 8;
    jitter kind = jitter::equal;

    class schedule;
    schedule start(std::uint64_t seed) const;
};

class exponential_backoff::schedule
{
public:
    schedule(const exponential_backoff& config, std::uint64_t seed)
        : config_(config), rng_(seed), previous_(static_cast<double>(config.base.count()))
    {
    }

    std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt)
    {
        if (attempt >= config_.max_attempts || attempt == 0)
            return std::nullopt;
        const double base_ms = static_cast<double>(config_.base.count());
        const double cap_ms = static_cast<double>(config_.cap.count());
        // multiplier^(attempt-1) by multiplication (attempts are few): exact
        // for the usual powers of two, and no libm call, whose library a
        // daemon otherwise maps and relocates at start (~300 KB resident).
        double grown = base_ms;
        for (std::size_t i = 1; i < attempt; ++i)
            grown *= config_.multiplier;
        const double exp = std::min(cap_ms, grown);
        double delay = exp;
        switch (config_.kind) {
        case jitter::none: break;
        case jitter::full: delay = uniform(0, exp); break;
        case jitter::equal: delay = exp / 2 + uniform(0, exp / 2); break;
        case jitter::decorrelated:
            // sleep = min(cap, random(base, previous * 3))
            delay = std::min(cap_ms, uniform(base_ms, previous_ * 3));
            previous_ = delay;
            break;
        }
        return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
    }

private:
    double uniform(double low, double high)
    {
        if (high <= low)
            return low;
        return std::uniform_real_distribution<double>(low, high)(rng_);
    }

    exponential_backoff config_;
    std::mt19937_64 rng_;
    double previous_;
};

inline exponential_backoff::schedule exponential_backoff::start(std::uint64_t seed) const
{
    return {*this, seed};
}

/** One of the strategies above, chosen at run time (from configuration):
    the choice is made once, when the value is built, and carried as a
    value. The default is exponential backoff with its defaults. */
class any_retry
{
public:
    any_retry() = default;
    any_retry(no_retry r) : strategy_(r) {}
    any_retry(fixed_retry r) : strategy_(r) {}
    any_retry(exponential_backoff r) : strategy_(r) {}

    class schedule
    {
    public:
        template<class S>
            requires(!std::same_as<S, schedule>)
        explicit schedule(S s) : s_(std::move(s))
        {
        }
        std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt)
        {
            return std::visit([attempt](auto& s) { return s.next_delay(attempt); }, s_);
        }

    private:
        std::variant<no_retry::schedule, fixed_retry::schedule, exponential_backoff::schedule> s_;
    };

    schedule start(std::uint64_t seed) const
    {
        return std::visit([seed](const auto& r) { return schedule(r.start(seed)); }, strategy_);
    }

    /// The strategy chosen, for inspection (`std::get_if<fixed_retry>(&r.strategy())`).
    const std::variant<no_retry, fixed_retry, exponential_backoff>& strategy() const noexcept
    {
        return strategy_;
    }

private:
    std::variant<no_retry, fixed_retry, exponential_backoff> strategy_{exponential_backoff{}};
};

static_assert(retry_policy<no_retry>);
static_assert(retry_policy<fixed_retry>);
static_assert(retry_policy<exponential_backoff>);
static_assert(retry_policy<any_retry>);

} // namespace nextprism

#endif
