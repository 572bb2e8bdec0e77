#ifndef NEXTPRISM_ASYNC_HPP
#define NEXTPRISM_ASYNC_HPP

// The async contract every initiating function of nextprism follows, and
// the adaptor its own operations are written with, public so that a user's
// own transport or discovery policy needs nothing from detail/.
//
// - Each `async_*` completes with `void(error_code, T)`, is constrained with
//   `completion_token_for` that signature, and defaults its token to the
//   I/O object's default (Asio's `deferred`): callbacks, use_future,
//   use_awaitable, as_tuple and deferred all work.
// - The completion runs on the handler's associated executor, never inline
//   in the initiating call. An exception inside becomes
//   `error::internal_error`.
// - Cancellation: each initiating function's comment says which types it
//   supports and what a cancellation stops. Those that stop something (a
//   remote command, a stream) support terminal and partial
//   (`stop_cancellation`): the object stays usable, what ran may have had
//   effects; `total` is filtered out (never promised once a command may
//   have started). The others (lookups, single engine requests) support
//   none: they leave the slot alone and end within their own timeouts.
// - Lifetime: I/O objects hold their state in a shared_ptr that every
//   pending operation keeps alive; destroying the object while operations
//   run is allowed, and they complete (with an error where the state's
//   owner closed them).

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/detail/config.hpp>

#include <boost/asio/async_result.hpp>

namespace nextprism {

/// A token for `void(error_code, T)`.
template<class Token, class T>
concept completion_token_for = boost::asio::completion_token_for<Token, void(error_code, T)>;

/// The value-or-error a coroutine operation returns (see async_spawn).
using detail::op_result;

/** Runs the coroutine made by `make()` and completes `token` with
    `void(error_code, T)`; `on_cancel(type)` (optional) runs on `ex` when
    the handler's cancellation slot is emitted with a type in `supported`
    (default `stop_cancellation`; without `on_cancel`: none). How
    nextprism's own operations are written; use it for a policy of your own. */
using detail::async_spawn;

/// terminal | partial: what an operation that stops what it started supports.
using detail::stop_cancellation;

/// Completes `token` with `value` and no error, from a coroutine.
using detail::async_ready;

/// `co_await op(..., use_tuple)`: (error_code, values...) instead of throwing.
using detail::use_tuple;

} // namespace nextprism

#endif
