#ifndef NEXTPRISM_EXECUTOR_BLOCKING_HPP
#define NEXTPRISM_EXECUTOR_BLOCKING_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/error.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <memory>
#include <optional>
#include <thread>

namespace nextprism {

/// The result of a blocking run.
struct run_outcome
{
    error_code ec;
    command_result result;
};

/** Owns an io_context and its thread and an executor assembly on it, for
    programs that are not asynchronous. `run` blocks the caller until the
    command ends; output handlers run on the owned thread. */
template<class Assembly>
class blocking_executor
{
public:
    /// `make(executor)` builds the assembly on the owned io_context.
    template<class Make>
    explicit blocking_executor(Make&& make);
    ~blocking_executor();

    run_outcome run(command_request request, output_handler on_output = {});
    Assembly& assembly() noexcept { return *assembly_; }

private:
    boost::asio::io_context io_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::optional<Assembly> assembly_;
    std::thread thread_;
};

template<class Assembly>
template<class Make>
blocking_executor<Assembly>::blocking_executor(Make&& make)
    : work_(io_.get_executor()), assembly_(std::forward<Make>(make)(io_.get_executor())),
      thread_([this] { io_.run(); })
{
}

template<class Assembly>
blocking_executor<Assembly>::~blocking_executor()
{
    // Destroy the assembly on its own thread, then let the loop end.
    net::post(io_, [this] { assembly_.reset(); });
    work_.reset();
    thread_.join();
}

template<class Assembly>
run_outcome blocking_executor<Assembly>::run(command_request request, output_handler on_output)
{
    auto done = std::make_shared<std::promise<run_outcome>>();
    auto future = done->get_future();
    net::post(io_, [this, done, request = std::move(request), on_output = std::move(on_output)]() mutable {
        assembly_->async_run(std::move(request), std::move(on_output),
                             [done](error_code ec, command_result result) {
                                 done->set_value({ec, std::move(result)});
                             });
    });
    return future.get();
}

} // namespace nextprism

#endif
