#include <nextprism/async.hpp> // first: the header is self-contained

#include <catch2/catch.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

namespace net = boost::asio;
using namespace std::chrono_literals;
using nextprism::error_code;
using nextprism::op_result;

namespace {

/// An operation that waits 300 ms unless its hook stops the wait; it
/// completes with the number of hook calls it saw.
struct waiting_op
{
    net::io_context& io;
    std::shared_ptr<net::steady_timer> timer = std::make_shared<net::steady_timer>(io, 300ms);
    std::shared_ptr<std::vector<net::cancellation_type>> seen =
        std::make_shared<std::vector<net::cancellation_type>>();

    template<class Token>
    auto start(Token&& token)
    {
        return nextprism::async_spawn<int>(
            io.get_executor(), std::forward<Token>(token),
            [t = timer, s = seen]() -> net::awaitable<op_result<int>> {
                co_await t->async_wait(nextprism::use_tuple);
                co_return op_result<int>{{}, static_cast<int>(s->size())};
            },
            [t = timer, s = seen](net::cancellation_type type) {
                s->push_back(type);
                t->cancel();
            });
    }
};

/// Emits `type` 20 ms in; returns how long the operation took and its value.
std::pair<std::chrono::milliseconds, int> run_cancelled(net::cancellation_type type)
{
    net::io_context io;
    waiting_op op{io};
    net::cancellation_signal signal;
    std::optional<int> value;
    const auto t0 = std::chrono::steady_clock::now();
    op.start(net::bind_cancellation_slot(signal.slot(), [&](error_code ec, int n) {
        REQUIRE_FALSE(ec);
        value = n;
    }));
    net::steady_timer later(io, 20ms);
    later.async_wait([&](auto) { signal.emit(type); });
    io.run();
    REQUIRE(value);
    return {std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0), *value};
}

} // namespace

TEST_CASE("async_spawn: terminal and partial reach the hook, total is filtered out")
{
    CHECK(run_cancelled(net::cancellation_type::terminal).second == 1);
    CHECK(run_cancelled(net::cancellation_type::partial).second == 1);
    // The hook never sees total: the wait runs its full 300 ms.
    const auto [took, hooks] = run_cancelled(net::cancellation_type::total);
    CHECK(hooks == 0);
    CHECK(took >= 300ms);
}

TEST_CASE("async_spawn without a hook leaves the slot alone")
{
    net::io_context io;
    net::cancellation_signal signal;
    bool done = false;
    nextprism::async_spawn<int>(io.get_executor(),
                                net::bind_cancellation_slot(signal.slot(), [&](error_code, int) { done = true; }),
                                []() -> net::awaitable<op_result<int>> { co_return op_result<int>{{}, 1}; });
    // Nothing was installed: the slot has no handler to run.
    CHECK_FALSE(signal.slot().has_handler());
    io.run();
    CHECK(done);
}
