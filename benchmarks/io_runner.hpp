// An io_context on its own thread for the benchmarks that drive
// nextprism's asynchronous clients from a blocking loop, and a wait for one
// command's completion ("exit status 0, no error").
#ifndef NEXTPRISM_BENCHMARKS_IO_RUNNER_HPP
#define NEXTPRISM_BENCHMARKS_IO_RUNNER_HPP

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <future>
#include <thread>

namespace bench {

struct io_runner
{
    boost::asio::io_context io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
    std::thread thread{[this] { io.run(); }};
    ~io_runner()
    {
        work.reset();
        thread.join();
    }
};

/// start(handler) launches one operation completing with (error, result
/// with exit_code); blocks until it completes, true if it exited 0.
template<class Start>
bool completed_ok(Start start)
{
    std::promise<bool> ok;
    start([&](auto ec, auto result) { ok.set_value(!ec && result.exit_code == 0); });
    return ok.get_future().get();
}

} // namespace bench

#endif
