#ifndef NEXTPRISM_SSH_IMPL_POOL_HPP
#define NEXTPRISM_SSH_IMPL_POOL_HPP

#include <nextprism/ssh/detail/pooled_host.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>

namespace nextprism {

template<pooling_policy Strategy>
struct basic_ssh_pool<Strategy>::state : std::enable_shared_from_this<state>
{
    using strand_type = boost::asio::strand<boost::asio::any_io_executor>;
    strand_type strand;
    ssh_pool_options options;
    std::map<std::string, detail::pooled_host> hosts;
    std::size_t handshaking = 0; // across hosts
    boost::asio::steady_timer reaper;
    bool reaping = false;
    bool stopped = false;
    mutable std::mutex stats_mutex;                  // guards `published`
    std::map<std::string, host_statistics> published; // readable from any thread

    state(boost::asio::any_io_executor ex, ssh_pool_options opts)
        : strand(boost::asio::make_strand(ex)), options(std::move(opts)), reaper(strand) {}

    std::size_t capacity() const { return Strategy::channels_per_connection(options.max_sessions); }

    void publish(const std::string& key, detail::pooled_host& h)
    {
        host_statistics s = h.stats;
        s.connections = 0;
        s.in_use = 0;
        s.idle = 0;
        for (const auto& c : h.connections) {
            if (!c->session->is_open())
                continue;
            ++s.connections;
            s.in_use += c->in_use;
            s.idle += c->in_use == 0 ? 1 : 0;
        }
        std::lock_guard lock(stats_mutex);
        published[key] = s;
    }

    /// The open connection with a free channel and the fewest in use, if any.
    std::shared_ptr<detail::pooled_connection> free_connection(detail::pooled_host& h) const
    {
        std::shared_ptr<detail::pooled_connection> best;
        for (auto& c : h.connections)
            if (c->session->is_open() && c->in_use < capacity() && (!best || c->in_use < best->in_use))
                best = c;
        return best;
    }

    bool may_connect(const detail::pooled_host& h) const
    {
        return h.connections.size() + h.handshaking < options.max_connections_per_host &&
               handshaking < options.max_concurrent_handshakes;
    }

    /** Hands free slots to the waiters, oldest first, waking only those
        served; then, if someone still waits and a connection may be
        opened, wakes the oldest to open it. A release used to wake every
        waiter, and a command arriving at that moment took the slot: the
        first to queue waited for the whole busy period (p99 1.4 s of a
        1.4 s run at 32 in flight), one of them 30 s until pool_timeout. */
    void serve(detail::pooled_host& h)
    {
        for (auto* w : h.waiters) {
            if (w->granted)
                continue;
            auto c = free_connection(h);
            if (!c)
                break;
            ++c->in_use;
            w->granted = std::move(c);
            w->timer->cancel();
        }
        if (may_connect(h))
            h.wake_oldest();
    }

    void evict_broken(detail::pooled_host& h)
    {
        h.connections.remove_if([&](const auto& c) {
            if (c->session->is_open())
                return false;
            if (c->in_use == 0)
                return true;
            return false; // still referenced by a running command; removed on release
        });
    }

    void start_reaper()
    {
        if (reaping || stopped)
            return;
        reaping = true;
        const auto period = std::max<std::chrono::milliseconds>(
            std::chrono::milliseconds(50), options.idle_timeout / 4);
        reaper.expires_after(period);
        reaper.async_wait([self = this->shared_from_this()](error_code ec) {
            self->reaping = false;
            if (ec || self->stopped)
                return;
            bool any = false;
            const auto now = std::chrono::steady_clock::now();
            for (auto& [key, h] : self->hosts) {
                for (auto& c : h.connections)
                    if (c->in_use == 0 && now - c->idle_since >= self->options.idle_timeout)
                        c->session->close(error::connection_lost);
                self->evict_broken(h);
                any = any || !h.connections.empty();
                self->publish(key, h);
            }
            if (any)
                self->start_reaper();
        });
    }

    /// Takes a channel on the open connection with the fewest in use, if any.
    std::shared_ptr<detail::pooled_connection> take_free(detail::pooled_host& h)
    {
        auto best = free_connection(h);
        if (best) {
            ++best->in_use;
            if (best->commands > 0)
                ++h.stats.reused;
        }
        return best;
    }

    using acquired = std::pair<error_code, std::shared_ptr<detail::pooled_connection>>;

    /// Opens a connection for `h`, its first channel taken; the rest served.
    boost::asio::awaitable<acquired> connect_new(std::string key, ssh::endpoint ep, detail::pooled_host& h)
    {
        auto self = this->shared_from_this();
        ++h.handshaking;
        ++handshaking;
        ++h.stats.handshakes;
        auto s = std::make_shared<ssh::session>(strand, options.session);
        const error_code ec = co_await s->connect(ep, options.credentials);
        if (!s->host_key_fingerprint().empty())
            h.stats.host_key = s->host_key_fingerprint();
        h.stats.host_key_message = s->host_key_message();
        if (ec)
            h.stats.last_error = ec.message();
        --h.handshaking;
        --handshaking;
        if (ec) {
            ++h.stats.failed;
            s->close(ec);
            serve(h); // the next in line may try to connect
            co_return std::pair{ec, nullptr};
        }
        // A connection that dies on its own (keepalive probe, peer
        // gone) leaves the pool and the statistics at once.
        s->on_close([weak = std::weak_ptr<state>(self), key] {
            if (auto st = weak.lock()) {
                auto& host = st->hosts[key];
                st->evict_broken(host);
                st->publish(key, host);
                st->serve(host);
            }
        });
        auto c = std::make_shared<detail::pooled_connection>();
        c->session = std::move(s);
        c->in_use = 1;
        h.connections.push_back(c);
        ++h.stats.created;
        serve(h); // its other channels (multiplexed) go to those waiting
        co_return std::pair{error_code{}, c};
    }

    /** Queues for a slot until one is handed over, the waiter is woken to
        look again, cancelled, or `deadline` passes: the slot taken, or null
        to look again. `ahead`: woken before, it keeps its place at the front. */
    boost::asio::awaitable<std::shared_ptr<detail::pooled_connection>> wait_for_slot(
        detail::pooled_host& h, std::chrono::steady_clock::time_point deadline, bool ahead,
        detail::pool_run_control& control)
    {
        boost::asio::steady_timer wait(strand);
        wait.expires_at(deadline);
        detail::pool_waiter me{&wait, nullptr};
        if (ahead)
            h.waiters.push_front(&me);
        else
            h.waiters.push_back(&me);
        control.waiting = &wait;
        co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        control.waiting = nullptr;
        h.waiters.remove(&me);
        if (auto c = std::move(me.granted)) {
            if (!control.cancelled && c->session->is_open()) {
                if (c->commands > 0)
                    ++h.stats.reused;
                co_return c;
            }
            --c->in_use; // not taken after all: the next in line gets it
            evict_broken(h);
            serve(h);
        }
        co_return nullptr;
    }

    /// A connection with a free channel, a new one, or an error.
    boost::asio::awaitable<acquired>
    acquire(std::string key, ssh::endpoint ep, bool fresh_only, detail::pool_run_control& control)
    {
        auto self = this->shared_from_this();
        auto& h = hosts[key];
        const auto deadline = std::chrono::steady_clock::now() + options.queue_timeout;
        // A newcomer queues behind the waiters; a woken waiter looks first.
        bool ahead = false;
        while (true) {
            if (control.cancelled)
                co_return std::pair{error_code(error::cancelled), nullptr};
            evict_broken(h);
            const bool my_turn = ahead || !h.has_waiters();
            if (my_turn && !fresh_only) {
                if (auto best = take_free(h))
                    co_return std::pair{error_code{}, best};
            }
            if (my_turn && may_connect(h))
                co_return co_await connect_new(key, ep, h);
            if (std::chrono::steady_clock::now() >= deadline)
                co_return std::pair{error_code(error::pool_timeout), nullptr};
            auto c = co_await wait_for_slot(h, deadline, ahead, control);
            ahead = true;
            fresh_only = false;
            if (c)
                co_return std::pair{error_code{}, c};
        }
    }

    void release(const std::string& key, const std::shared_ptr<detail::pooled_connection>& c)
    {
        auto& h = hosts[key];
        --c->in_use;
        ++c->commands;
        c->idle_since = std::chrono::steady_clock::now();
        if (!c->session->is_open()) {
            ++h.stats.failed;
            if (c->in_use == 0)
                h.connections.remove(c);
        }
        serve(h);
        publish(key, h);
        start_reaper();
    }

    boost::asio::awaitable<detail::op_result<command_result>> run(
        ssh::endpoint ep, std::vector<std::string> argv, output_handler on_output,
        std::chrono::milliseconds timeout, std::shared_ptr<detail::pool_run_control> control)
    {
        detail::op_result<command_result> r;
        auto self = this->shared_from_this();
        const std::string command = format_command(argv, r.ec);
        if (r.ec)
            co_return r;
        const std::string key = ep.to_string();
        bool fresh_only = false;
        for (int attempt = 0; attempt < 2; ++attempt) {
            auto [ec, c] = co_await acquire(key, ep, fresh_only, *control);
            if (ec) {
                // No connection: whatever broke, the command was never sent.
                r.ec = ec == error::connection_lost ? error_code(error::connection_failed) : ec;
                publish(key, hosts[key]);
                co_return r;
            }
            auto& h = hosts[key];
            if (control->cancelled) {
                release(key, c);
                r.ec = error::cancelled;
                co_return r;
            }
            control->session = c->session;
            ++h.stats.commands;
            const bool pooled = c->commands > 0;
            bool started = false;
            const auto sent_before = c->session->bytes_sent();
            const auto received_before = c->session->bytes_received();
            r = co_await c->session->exec(command, on_output, timeout, started, &control->cancelled);
            control->session.reset();
            h.stats.bytes_sent += c->session->bytes_sent() - sent_before;
            h.stats.bytes_received += c->session->bytes_received() - received_before;
            release(key, c);
            // Broken before the command started, on a connection that had
            // served before: the pool's fault, not the command's. Once more,
            // on a new connection.
            if (r.ec && !started && pooled && r.ec == condition::transient && attempt == 0) {
                ++h.stats.retried;
                fresh_only = true;
                continue;
            }
            // Lost before the exec request went out: it never ran (the
            // executor may then try another route; a lost command may not).
            if (!started && r.ec == error::connection_lost)
                r.ec = error::connection_failed;
            break;
        }
        co_return r;
    }
};

template<pooling_policy Strategy>
basic_ssh_pool<Strategy>::basic_ssh_pool(boost::asio::any_io_executor ex, ssh_pool_options opts)
    : state_(std::make_shared<state>(std::move(ex), std::move(opts)))
{
}

template<pooling_policy Strategy>
basic_ssh_pool<Strategy>::~basic_ssh_pool()
{
    boost::asio::post(state_->strand, [s = state_] {
        s->stopped = true;
        s->reaper.cancel();
        for (auto& [key, h] : s->hosts)
            for (auto& c : h.connections)
                c->session->close(error::cancelled);
    });
}

template<pooling_policy Strategy>
template<completion_token_for<command_result> Token>
auto basic_ssh_pool<Strategy>::async_run(ssh::endpoint ep, std::vector<std::string> argv,
                                         output_handler on_output,
                                         std::chrono::milliseconds timeout, Token&& token)
{
    // Cancellation ends the wait for a free slot, or closes the command's
    // channel (the validator then stops the command in the container, as on
    // a timeout); the connection stays.
    auto control = std::make_shared<detail::pool_run_control>();
    return detail::async_spawn<command_result>(
        state_->strand, std::forward<Token>(token),
        [s = state_, ep = std::move(ep), argv = std::move(argv), on_output = std::move(on_output), timeout,
         control]() mutable {
            return s->run(std::move(ep), std::move(argv), std::move(on_output), timeout, control);
        },
        [control](boost::asio::cancellation_type) {
            control->cancelled = true;
            if (control->waiting)
                control->waiting->cancel();
            if (control->session)
                control->session->wake();
        });
}

template<pooling_policy Strategy>
host_statistics basic_ssh_pool<Strategy>::statistics(const ssh::endpoint& ep) const
{
    std::lock_guard lock(state_->stats_mutex);
    const auto it = state_->published.find(ep.to_string());
    return it == state_->published.end() ? host_statistics{} : it->second;
}

template<pooling_policy Strategy>
void basic_ssh_pool<Strategy>::close_idle()
{
    boost::asio::post(state_->strand, [s = state_] {
        for (auto& [key, h] : s->hosts) {
            for (auto& c : h.connections)
                if (c->in_use == 0)
                    c->session->close(error::connection_lost);
            s->evict_broken(h);
            s->publish(key, h);
        }
        bool any = false;
        for (auto& [key, h] : s->hosts)
            any = any || !h.connections.empty();
        if (!any)
            s->reaper.cancel(); // nothing left to reap: let io_context::run return
    });
}

} // namespace nextprism

#endif
