#ifndef NEXTPRISM_DOCKER_OUTPUT_GATE_HPP
#define NEXTPRISM_DOCKER_OUTPUT_GATE_HPP

#include <nextprism/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace nextprism::docker {

/** Back-pressure between an exec's output and a consumer slower than the
    engine.

    Contract: the consumer closes the gate when it holds as much output as
    it will buffer and opens it when it has room again. While the gate is
    closed the exec does not read from the engine, so the engine's socket
    fills and the process in the container blocks on its own stdout: memory
    stays bounded on every side. Timers keep running: a closed gate never
    delays the deadline. When the exec is being stopped (timeout,
    cancellation) the client latches the gate open and drains what is left,
    so the consumer must then accept (or drop) whatever comes.

    All members are called on the executor's thread (no locking).
*/
class output_gate
{
public:
    explicit output_gate(boost::asio::any_io_executor ex) : timer_(std::move(ex)) {}

    bool is_open() const noexcept { return open_; }

    /// The consumer is full: the reader stops after the chunk it holds.
    void close() noexcept
    {
        if (!latched_)
            open_ = false;
    }

    /// The consumer has room again.
    void open()
    {
        open_ = true;
        timer_.cancel();
    }

    /// Opens the gate for good; close() has no effect afterwards.
    void latch_open()
    {
        latched_ = true;
        open();
    }

    bool latched() const noexcept { return latched_; }

    /// Completes when the gate is open.
    boost::asio::awaitable<void> wait_open()
    {
        while (!open_) {
            timer_.expires_at(boost::asio::steady_timer::time_point::max());
            co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        }
    }

private:
    boost::asio::steady_timer timer_;
    bool open_ = true;
    bool latched_ = false;
};

} // namespace nextprism::docker

#endif
