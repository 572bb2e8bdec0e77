#ifndef NEXTPRISM_TRANSPORT_CONCEPT_HPP
#define NEXTPRISM_TRANSPORT_CONCEPT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/discovery/placement.hpp>
#include <nextprism/authorized_command.hpp>

#include <concepts>

namespace nextprism {
namespace detail {

/// The completion handler a transport must accept (an archetype).
struct run_handler_archetype
{
    void operator()(error_code, command_result) {}
};

} // namespace detail

/** A transport runs one authorized command somewhere and streams its
    output. It takes the whitelist's value (`authorized_command`) and never
    checks it again: the check happened once, before.

    Requirements (checked by the concept, so that a wrong policy fails with
    a message naming the missing member):
    - `executor_type` and `get_executor()`;
    - `async_run(authorized_command, output_handler, token)` completing with
      `void(error_code, command_result)`; output goes to the handler as it
      arrives; a terminal or partial cancellation through the token's slot
      stops the command (`stop_cancellation`, async.hpp; total is
      filtered out); the command's `timeout` (0: none) bounds it.
*/
template<class T>
concept transport_policy = requires(T& t, authorized_command command, output_handler out) {
    typename T::executor_type;
    { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
    t.async_run(std::move(command), std::move(out), detail::run_handler_archetype{});
};

/** A transport that reports where it started a command: `async_run` with a
    `start_handler` before the token (the direct and SSH transports). The
    executor passes its caller's handler to such a transport; to any other
    the report is simply never made. */
template<class T, class... Endpoint>
concept reports_start = requires(T& t, const Endpoint&... ep, authorized_command command, output_handler out,
                                 start_handler on_started) {
    t.async_run(ep..., std::move(command), std::move(out), std::move(on_started),
                detail::run_handler_archetype{});
};

/** A proxy transport runs a command through the proxy at an endpoint that
    discovery chose: the same as `transport_policy`, with the endpoint as
    the first argument of `async_run`. */
template<class T>
concept proxy_transport_policy = requires(T& t, const proxy_endpoint& ep, authorized_command command,
                                          output_handler out) {
    typename T::executor_type;
    { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
    t.async_run(ep, std::move(command), std::move(out), detail::run_handler_archetype{});
};

} // namespace nextprism

#endif
