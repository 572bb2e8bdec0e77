#ifndef NEXTPRISM_PROXY_OUTPUT_PUMP_HPP
#define NEXTPRISM_PROXY_OUTPUT_PUMP_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/docker/output_gate.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace nextprism::proxy_run {

/** The caller's stdout and stderr, written through Asio so that a caller
    who stops reading can never block the event loop (the deadline, the
    signals and the engine's stream all live on it).

    Output waits in one bounded queue per stream. Above `high_water` bytes
    in all, the exec's gate closes: the client stops reading from the engine
    (back-pressure: the process in the target blocks on its own stdout, the
    proxy's memory stays at the queue plus one 64 KiB read). Below
    `low_water` it opens again. Once the command is being stopped the gate
    is latched open and output beyond `hard_limit` is dropped (counted).
    A write that fails (the reader is gone) drops everything queued and
    calls `on_reader_gone`. */
class output_pump
{
public:
    static constexpr std::size_t high_water = 256 * 1024;
    static constexpr std::size_t low_water = 64 * 1024;
    static constexpr std::size_t hard_limit = 1024 * 1024;

    output_pump(boost::asio::io_context& io, std::shared_ptr<docker::output_gate> gate, int out_fd, int err_fd)
        : gate_(std::move(gate)), streams_{stream(io, out_fd), stream(io, err_fd)}
    {
    }

    ~output_pump() { release(); }

    /** Hands the descriptors back as they were given (their flags
        restored), once: the owner may close them after this, and nothing is
        written to them again. Before the owner closes them, never after,
        lest the numbers have gone to other files meanwhile. */
    void release()
    {
        for (auto& s : streams_) {
            if (!s.descriptor.is_open())
                continue;
            boost::system::error_code ignored;
            s.descriptor.cancel(ignored);
            ::fcntl(s.descriptor.release(), F_SETFL, s.flags); // back to what we were given
        }
        failed_ = true; // a push after this is dropped
    }

    std::function<void()> on_reader_gone;
    std::function<void()> on_drained; ///< the queue became empty

    /// `err`: the stderr stream, else stdout.
    void push(bool err, std::string_view data)
    {
        if (failed_ || data.empty())
            return;
        if (queued_ + data.size() > hard_limit && gate_->latched()) {
            dropped_ += data.size();
            return;
        }
        auto& s = streams_[err ? 1 : 0];
        if (queued_ == 0)
            progress_ = std::chrono::steady_clock::now();
        // Small pieces are coalesced: one write(2) per 64 KiB, not per frame.
        if (!s.queue.empty() && (s.queue.size() > 1 || !s.writing) && s.queue.back().size() < 64 * 1024)
            s.queue.back().append(data);
        else
            s.queue.emplace_back(data);
        queued_ += data.size();
        if (queued_ >= high_water)
            gate_->close();
        start(s);
    }

    bool idle() const noexcept { return queued_ == 0; }
    bool failed() const noexcept { return failed_; }
    std::uint64_t dropped() const noexcept { return dropped_; }

    /// How long output has waited without a byte getting out; zero when idle.
    std::chrono::steady_clock::duration stalled() const
    {
        return idle() ? std::chrono::steady_clock::duration::zero()
                      : std::chrono::steady_clock::now() - progress_;
    }

    /// Gives up on whatever is queued (the caller will not read it).
    void abandon()
    {
        dropped_ += queued_;
        queued_ = 0;
        failed_ = true;
        for (auto& s : streams_) {
            s.queue.clear();
            boost::system::error_code ignored;
            s.descriptor.cancel(ignored);
        }
        gate_->latch_open();
    }

private:
    struct stream_state
    {
        boost::asio::posix::stream_descriptor descriptor;
        int flags;
        std::deque<std::string> queue;
        bool writing = false;
    };

    static stream_state stream(boost::asio::io_context& io, int fd)
    {
        const int flags = ::fcntl(fd, F_GETFL);
        // Non-blocking, so that Asio never blocks in write(2). The flag is
        // on the open file description: restored in the destructor.
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        return stream_state{boost::asio::posix::stream_descriptor(io, fd), flags, {}, false};
    }

    void start(stream_state& s)
    {
        if (s.writing || s.queue.empty() || failed_)
            return;
        s.writing = true;
        boost::asio::async_write(
            s.descriptor, boost::asio::buffer(s.queue.front()),
            [this, &s](boost::system::error_code ec, std::size_t n) {
                s.writing = false;
                if (ec) {
                    if (ec == boost::asio::error::operation_aborted || failed_)
                        return;
                    abandon();
                    if (on_reader_gone)
                        on_reader_gone();
                    return;
                }
                queued_ -= n;
                s.queue.pop_front();
                progress_ = std::chrono::steady_clock::now();
                if (queued_ <= low_water)
                    gate_->open();
                start(s);
                if (queued_ == 0 && on_drained)
                    on_drained();
            });
    }

    std::shared_ptr<docker::output_gate> gate_;
    stream_state streams_[2];
    std::size_t queued_ = 0;
    std::uint64_t dropped_ = 0;
    bool failed_ = false;
    std::chrono::steady_clock::time_point progress_ = std::chrono::steady_clock::now();
};

} // namespace nextprism::proxy_run

#endif
