#ifndef NEXTPRISM_DETAIL_ASYNC_SPAWN_HPP
#define NEXTPRISM_DETAIL_ASYNC_SPAWN_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <memory>
#include <utility>

namespace nextprism::detail {

namespace net = boost::asio;

/// `co_await op(..., use_tuple)` gives (error_code, values...) instead of throwing.
inline constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// What a coroutine-implemented operation returns: an error and a value.
template<class T>
struct op_result
{
    error_code ec;
    T value{};
};

/// Keeps `make` (often a lambda coroutine whose captures the coroutine
/// reads through its closure) alive in this frame while its coroutine runs.
template<class T, class MakeAwaitable>
net::awaitable<op_result<T>> run_owned(MakeAwaitable make)
{
    co_return co_await make();
}

/** The cancellation types an operation that stops what it started (a
    remote command, an event stream) supports: terminal and partial. Both
    leave the I/O object usable; what already ran may have had effects, so
    `total` ("as if nothing happened") is never promised and is filtered
    out: a total cancellation leaves the operation running. */
inline constexpr net::cancellation_type stop_cancellation =
    net::cancellation_type::terminal | net::cancellation_type::partial;

/** Runs the coroutine made by `make()` and completes `token` with the
    signature `void(error_code, T)`, Asio style.

    Operations are written as C++20 coroutines inside, but callers see a
    plain initiating function: callbacks, use_future, use_awaitable and
    deferred-style tokens all work. The completion runs on the handler's
    associated executor, never inline in the initiating call (co_spawn
    posts). An exception escaping the coroutine becomes
    `error::internal_error`, never a crash of the caller.

    Cancellation: `on_cancel(type)` is invoked (on `ex`) when the handler's
    cancellation slot is emitted with a type in `supported`; operations use
    it to stop what they own (kill a remote process, close a socket) before
    completing. Other types are filtered: the operation does not see them.
*/
template<class T, class Executor, class Token, class MakeAwaitable, class OnCancel>
auto async_spawn(Executor ex, Token&& token, MakeAwaitable make, OnCancel on_cancel,
                 net::cancellation_type supported = stop_cancellation)
{
    return net::async_initiate<Token, void(error_code, T)>(
        [ex, supported](auto handler, MakeAwaitable make, OnCancel on_cancel) mutable {
            auto slot = net::get_associated_cancellation_slot(handler);
            // An operation that supports no type leaves the slot alone.
            const bool hooked = slot.is_connected() && supported != net::cancellation_type::none;
            if (hooked) {
                slot.assign([ex, on_cancel, supported](net::cancellation_type type) mutable {
                    if ((type & supported) != net::cancellation_type::none)
                        net::post(ex, [on_cancel, type]() mutable { on_cancel(type); });
                });
            }
            auto handler_ex = net::get_associated_executor(handler, ex);
            net::co_spawn(
                ex, run_owned<T>(std::move(make)),
                net::bind_executor(
                    handler_ex,
                    [h = std::move(handler), hooked](std::exception_ptr e, op_result<T> r) mutable {
                        if (hooked)
                            net::get_associated_cancellation_slot(h).clear();
                        if (e && !r.ec)
                            r.ec = error::internal_error;
                        std::move(h)(r.ec, std::move(r.value));
                    }));
        },
        token, std::move(make), std::move(on_cancel));
}

/// Without a cancellation hook: no cancellation type is supported, and the
/// slot is not touched (the operation ends on its own, within its timeout).
template<class T, class Executor, class Token, class MakeAwaitable>
auto async_spawn(Executor ex, Token&& token, MakeAwaitable make)
{
    return async_spawn<T>(std::move(ex), std::forward<Token>(token), std::move(make),
                          [](net::cancellation_type) {}, net::cancellation_type::none);
}

/// Completes `token` with `value` (and no error) from a coroutine, for
/// sources whose answer needs no I/O.
template<class T, class Executor, class Token>
auto async_ready(Executor ex, T value, Token&& token)
{
    return async_spawn<T>(ex, std::forward<Token>(token),
                          [value = std::move(value)]() mutable -> net::awaitable<op_result<T>> {
                              co_return op_result<T>{{}, std::move(value)};
                          });
}

} // namespace nextprism::detail

#endif
