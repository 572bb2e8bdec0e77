#ifndef NEXTPRISM_EXECUTOR_ENDPOINT_HEALTH_HPP
#define NEXTPRISM_EXECUTOR_ENDPOINT_HEALTH_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/discovery/placement.hpp>
#include <nextprism/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace nextprism {

/// The `breaker` keys of the configuration: one set for every endpoint.
struct breaker_options
{
    std::size_t failure_threshold = 3;             ///< consecutive failures that open it
    std::chrono::milliseconds open_for{30'000};     ///< then half-open
    std::size_t half_open_probes = 1;              ///< attempts let through when half-open
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

    breaker_options options;

    circuit_breaker() = default;
    explicit circuit_breaker(breaker_options o) : options(o) {}

    /** What `admit` let through. A half-open probe holds a slot until its
        outcome is recorded; an attempt that ends with neither a success nor
        a failure must give it back with `release`, else the breaker stays
        half-open with no slot left, for good. */
    struct admission
    {
        bool allowed = false;
        bool probe = false;      ///< holds a half-open probe slot
        std::uint64_t epoch = 0; ///< the half-open period the slot belongs to
        explicit operator bool() const noexcept { return allowed; }
    };

    /// Whether an attempt may go ahead now (takes a probe slot when half-open).
    admission admit(time_point now)
    {
        if (state_ == state::open && now - opened_at_ >= options.open_for) {
            state_ = state::half_open;
            probes_in_flight_ = 0;
            ++epoch_;
        }
        if (state_ == state::closed)
            return {true, false, epoch_};
        if (state_ == state::half_open && probes_in_flight_ < options.half_open_probes) {
            ++probes_in_flight_;
            return {true, true, epoch_};
        }
        return {};
    }

    bool allow(time_point now) { return admit(now).allowed; }

    /// Gives back a probe slot whose attempt had no outcome (no-op otherwise,
    /// or when the breaker has left that half-open period since).
    void release(const admission& a) noexcept
    {
        if (a.probe && a.epoch == epoch_ && state_ == state::half_open && probes_in_flight_ > 0)
            --probes_in_flight_;
    }

    void record_success(time_point now)
    {
        if (state_ != state::closed)
            changed_at_ = now;
        state_ = state::closed;
        failures_ = 0;
        probes_in_flight_ = 0;
        ++epoch_;
    }

    void record_failure(time_point now)
    {
        ++failures_;
        if (state_ == state::half_open || failures_ >= options.failure_threshold) {
            state_ = state::open;
            opened_at_ = now;
            changed_at_ = now;
            probes_in_flight_ = 0;
            ++epoch_;
        }
    }

    state current(time_point now) const
    {
        if (state_ == state::open && now - opened_at_ >= options.open_for)
            return state::half_open;
        return state_;
    }

    std::size_t consecutive_failures() const noexcept { return failures_; }

    /// When it entered `current(now)` (a time-point zero: closed since it was made).
    time_point since(time_point now) const
    {
        if (state_ == state::open && now - opened_at_ >= options.open_for)
            return opened_at_ + options.open_for;
        return changed_at_;
    }

private:
    state state_ = state::closed;
    std::size_t failures_ = 0;
    std::size_t probes_in_flight_ = 0;
    std::uint64_t epoch_ = 0;
    time_point opened_at_{};
    time_point changed_at_{};
};

/// What an attempt's outcome says about the endpoint it ran through.
enum class endpoint_verdict {
    healthy, ///< it worked (a non-zero exit status is data: it worked)
    failing, ///< the proxy answered and the attempt failed there
    neutral, ///< says nothing about it: refused, cancelled, busy, target elsewhere, our own queue
};

/** The verdict on `ec`, read from the error table. A proxy that answers
    "the target is not on my node" (exit 69) or "busy" did its job.
    Nothing answering at once (connection refused, no route: the kernel
    says so in a round trip) is neutral too: what a breaker saves callers
    from is waiting on an endpoint that does not answer at all (timeouts,
    lost connections), and a proxy restarting refuses for ~5 s, which
    counted as failures locked it out for `open_for` after it was back.
    Such an endpoint goes last within a run (the executor's "unanswered"),
    and discovery's health check leaves it out until it answers again. */
inline endpoint_verdict judge_endpoint(const error_code& ec) noexcept
{
    if (!ec)
        return endpoint_verdict::healthy;
    if (ec == condition::rejected || ec == condition::cancelled || ec == error::busy || ec == error::pool_timeout ||
        ec == condition::moved)
        return endpoint_verdict::neutral;
    return endpoint_verdict::failing;
}

/** The health of every proxy endpoint an executor has used: a breaker per
    endpoint, all from one `breaker_options`. The executor is its one owner;
    discovery only discovers.

    An attempt takes a `ticket` (`admit`); the ticket is always resolved:
    `resolve(ec)` records the verdict, and a ticket dropped unresolved (or
    resolved neutral) gives a half-open probe slot back. Thread-safe;
    copies share the same state (tickets keep it alive). */
template<class Clock = std::chrono::steady_clock>
class basic_endpoint_health
{
    struct shared
    {
        breaker_options options;
        mutable std::mutex mutex;
        std::map<proxy_endpoint, circuit_breaker<Clock>> breakers;

        circuit_breaker<Clock>& breaker_for(const proxy_endpoint& ep)
        {
            return breakers.try_emplace(ep, options).first->second;
        }
    };

public:
    using state = typename circuit_breaker<Clock>::state;

    explicit basic_endpoint_health(breaker_options opts = {}) : shared_(std::make_shared<shared>())
    {
        shared_->options = opts;
    }

    const breaker_options& options() const noexcept { return shared_->options; }

    /// One attempt's admission at one endpoint.
    class ticket
    {
    public:
        ticket() = default;
        ticket(ticket&& o) noexcept { *this = std::move(o); }
        ticket& operator=(ticket&& o) noexcept
        {
            if (this != &o) {
                release();
                shared_ = std::move(o.shared_);
                endpoint_ = std::move(o.endpoint_);
                taken_ = o.taken_;
            }
            return *this;
        }
        ~ticket() { release(); }

        bool allowed() const noexcept { return taken_.allowed; }
        explicit operator bool() const noexcept { return allowed(); }

        /// Records what the attempt's outcome says about the endpoint.
        void resolve(const error_code& ec)
        {
            if (!shared_)
                return;
            const auto verdict = judge_endpoint(ec);
            if (verdict != endpoint_verdict::neutral) {
                std::lock_guard lock(shared_->mutex);
                auto& b = shared_->breaker_for(endpoint_);
                if (verdict == endpoint_verdict::healthy)
                    b.record_success(Clock::now());
                else
                    b.record_failure(Clock::now());
                shared_.reset();
                return;
            }
            release();
        }

    private:
        friend class basic_endpoint_health;
        void release() noexcept
        {
            if (shared_ && taken_.probe) {
                std::lock_guard lock(shared_->mutex);
                shared_->breaker_for(endpoint_).release(taken_);
            }
            shared_.reset();
        }

        std::shared_ptr<shared> shared_; // set only while it holds something to resolve
        proxy_endpoint endpoint_;
        typename circuit_breaker<Clock>::admission taken_;
    };

    /// Whether an attempt may go to `ep` now; the ticket must be resolved.
    ticket admit(const proxy_endpoint& ep)
    {
        ticket t;
        {
            std::lock_guard lock(shared_->mutex);
            t.taken_ = shared_->breaker_for(ep).admit(Clock::now());
        }
        if (t.taken_.allowed) {
            t.shared_ = shared_;
            t.endpoint_ = ep;
        }
        return t;
    }

    state current(const proxy_endpoint& ep) const
    {
        std::lock_guard lock(shared_->mutex);
        const auto it = shared_->breakers.find(ep);
        return it == shared_->breakers.end() ? state::closed : it->second.current(Clock::now());
    }

    struct entry
    {
        proxy_endpoint endpoint;
        state current;
        std::size_t consecutive_failures;
        typename Clock::time_point since; ///< entered `current` (zero: closed since first seen)
    };

    /// Every endpoint seen, for the admin view and metrics.
    std::vector<entry> list() const
    {
        std::lock_guard lock(shared_->mutex);
        std::vector<entry> out;
        const auto now = Clock::now();
        for (const auto& [ep, b] : shared_->breakers)
            out.push_back({ep, b.current(now), b.consecutive_failures(), b.since(now)});
        return out;
    }

private:
    std::shared_ptr<shared> shared_;
};

using endpoint_health = basic_endpoint_health<>;

} // namespace nextprism

#endif
