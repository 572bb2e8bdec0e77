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

/** A retry strategy decides how long to wait before attempt `attempt + 1`
    after `attempt` failed (attempts count from 1), or that there is none.
    Strategies are pure: no I/O, no timers; the executor owns the timers. */
template<class R>
concept retry_policy = requires(R& r, std::size_t attempt) {
    { r.next_delay(attempt) } -> std::same_as<std::optional<std::chrono::milliseconds>>;
    r.reset();
};

/// Never retry.
struct no_retry
{
    std::optional<std::chrono::milliseconds> next_delay(std::size_t) { return std::nullopt; }
    void reset() {}
};

/// The same delay between attempts, up to `max_attempts` in all.
struct fixed_retry
{
    std::chrono::milliseconds delay{1000};
    std::size_t max_attempts = 3;

    std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt)
    {
        if (attempt >= max_attempts)
            return std::nullopt;
        return delay;
    }
    void reset() {}
};

/// Jitter variants, as analysed in the AWS Architecture Blog's
/// "Exponential Backoff And Jitter".
enum class jitter { none, full, equal, decorrelated };

/** base * multiplier^(attempt-1), capped, with jitter; up to `max_attempts`.

    `seed` makes a run reproducible (tests); by default each object draws
    its own from std::random_device.
*/
class exponential_backoff
{
public:
    std::chrono::milliseconds base{200};
    double multiplier = 2.0;
    std::chrono::milliseconds cap{30'000};
    std::size_t max_attempts = 5;
    jitter kind = jitter::full;

    exponential_backoff() : rng_(std::random_device{}()) {}
    explicit exponential_backoff(std::uint64_t seed) : rng_(seed) {}

    std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt)
    {
        if (attempt >= max_attempts || attempt == 0)
            return std::nullopt;
        const double cap_ms = static_cast<double>(cap.count());
        const double exp = std::min(
            cap_ms, static_cast<double>(base.count()) * std::pow(multiplier, double(attempt - 1)));
        double delay = exp;
        switch (kind) {
        case jitter::none: break;
        case jitter::full: delay = uniform(0, exp); break;
        case jitter::equal: delay = exp / 2 + uniform(0, exp / 2); break;
        case jitter::decorrelated:
            // sleep = min(cap, random(base, previous * 3))
            delay = std::min(cap_ms, uniform(static_cast<double>(base.count()), previous_ * 3));
            previous_ = delay;
            break;
        }
        return std::chrono::milliseconds(static_cast<std::int64_t>(delay));
    }

    void reset() { previous_ = static_cast<double>(base.count()); }

private:
    double uniform(double low, double high)
    {
        if (high <= low)
            return low;
        return std::uniform_real_distribution<double>(low, high)(rng_);
    }

    std::mt19937_64 rng_;
    double previous_ = static_cast<double>(base.count());
};

/** A circuit breaker for one endpoint: closed → open after
    `failure_threshold` consecutive failures; open for `open_for`, then
    half-open, letting `half_open_probes` attempts through; a success there
    closes it, a failure opens it again. Counting consecutive failures suits
    a few calls an hour (nextprism's load), where failure rates over a window
    mean nothing. Pure: the caller passes the time. */
template<class Clock = std::chrono::steady_clock>
class circuit_breaker
{
public:
    enum class state { closed, open, half_open };
    using time_point = typename Clock::time_point;

    std::size_t failure_threshold = 3;
    typename Clock::duration open_for = std::chrono::seconds(30);
    std::size_t half_open_probes = 1;

    /// Whether an attempt may go ahead now (takes a probe slot when half-open).
    bool allow(time_point now)
    {
        if (state_ == state::open && now - opened_at_ >= open_for) {
            state_ = state::half_open;
            probes_in_flight_ = 0;
        }
        if (state_ == state::closed)
            return true;
        if (state_ == state::half_open && probes_in_flight_ < half_open_probes) {
            ++probes_in_flight_;
            return true;
        }
        return false;
    }

    void record_success(time_point)
    {
        state_ = state::closed;
        failures_ = 0;
        probes_in_flight_ = 0;
    }

    void record_failure(time_point now)
    {
        ++failures_;
        if (state_ == state::half_open || failures_ >= failure_threshold) {
            state_ = state::open;
            opened_at_ = now;
            probes_in_flight_ = 0;
        }
    }

    state current(time_point now) const
    {
        if (state_ == state::open && now - opened_at_ >= open_for)
            return state::half_open;
        return state_;
    }

private:
    state state_ = state::closed;
    std::size_t failures_ = 0;
    std::size_t probes_in_flight_ = 0;
    time_point opened_at_{};
};

/** A retry strategy with a circuit breaker per endpoint in front of it
    (outermost first: the breaker decides whether an endpoint is tried at
    all, the strategy how long to wait between attempts). `breaker` holds
    the settings each endpoint's breaker starts from; the executor keeps
    one per endpoint. */
template<retry_policy Inner, class Clock = std::chrono::steady_clock>
struct circuit_breaker_over
{
    using breaker_type = circuit_breaker<Clock>;
    breaker_type breaker;
    Inner retry;

    std::optional<std::chrono::milliseconds> next_delay(std::size_t attempt) { return retry.next_delay(attempt); }
    void reset() { retry.reset(); }
};

/// Whether a retry policy carries a per-endpoint circuit breaker.
template<class R>
concept has_circuit_breaker = retry_policy<R> && requires(R& r) {
    typename R::breaker_type;
    { r.breaker } -> std::convertible_to<typename R::breaker_type>;
};

using breaker_over_backoff = circuit_breaker_over<exponential_backoff>;

static_assert(retry_policy<no_retry>);
static_assert(retry_policy<fixed_retry>);
static_assert(retry_policy<exponential_backoff>);
static_assert(retry_policy<breaker_over_backoff>);
static_assert(has_circuit_breaker<breaker_over_backoff>);

} // namespace nextprism

#endif
