#ifndef NEXTPRISM_SSH_DETAIL_POOLED_HOST_HPP
#define NEXTPRISM_SSH_DETAIL_POOLED_HOST_HPP

// What the pool keeps per host: its connections, the commands queued for a
// slot, and one run's cancellation. Included by ssh/impl/pool.hpp
// (host_statistics and ssh::session come from ssh/pool.hpp).

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <list>
#include <memory>

namespace nextprism {
namespace detail {

struct pooled_connection
{
    std::shared_ptr<ssh::session> session;
    std::size_t in_use = 0;
    std::uint64_t commands = 0;
    std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();
};

/// A command queued for a slot: woken by cancel() on its timer.
struct pool_waiter
{
    boost::asio::steady_timer* timer = nullptr;
    std::shared_ptr<pooled_connection> granted; ///< a slot handed over (in_use counted for it)
};

struct pooled_host
{
    std::list<std::shared_ptr<pooled_connection>> connections;
    std::list<pool_waiter*> waiters; // oldest first; served in this order
    std::size_t handshaking = 0;
    host_statistics stats;

    bool has_waiters() const
    {
        return std::any_of(waiters.begin(), waiters.end(), [](const pool_waiter* w) { return !w->granted; });
    }

    /// Wakes the oldest waiter without a slot, to look again (open a connection).
    void wake_oldest()
    {
        for (auto* w : waiters)
            if (!w->granted) {
                w->timer->cancel();
                return;
            }
    }
};

/// One pooled run's cancellation: set on the pool's strand.
struct pool_run_control
{
    bool cancelled = false;
    std::shared_ptr<ssh::session> session; ///< the one running the command, once chosen
    boost::asio::steady_timer* waiting = nullptr; ///< while queued for a free slot
};

} // namespace detail
} // namespace nextprism

#endif
