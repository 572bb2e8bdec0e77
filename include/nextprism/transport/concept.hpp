#ifndef NEXTPRISM_TRANSPORT_CONCEPT_HPP
#define NEXTPRISM_TRANSPORT_CONCEPT_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/command.hpp>
#include <nextprism/discovery/placement.hpp>

#include <concepts>

namespace nextprism {
namespace detail {

/// The completion handler a transport must accept (an archetype).
struct run_handler_archetype
{
    void operator()(error_code, command_result) {}
};

} // namespace detail

/** A transport runs one command somewhere and streams its output.

    Requirements (checked by the concept, so that a wrong policy fails with
    a message naming the missing member):
    - `executor_type` and `get_executor()`;
    - `async_run(command_request, output_handler, token)` completing with
      `void(error_code, command_result)`; output goes to the handler as it
      arrives; cancellation through the token's slot stops the command.
*/
template<class T>
concept transport_policy = requires(T& t, command_request request, output_handler out) {
    typename T::executor_type;
    { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
    t.async_run(std::move(request), std::move(out), detail::run_handler_archetype{});
};

/** A proxy transport runs a command through the proxy at an endpoint that
    discovery chose: the same as `transport_policy`, with the endpoint as
    the first argument of `async_run`. */
template<class T>
concept proxy_transport_policy = requires(T& t, const proxy_endpoint& ep, command_request request,
                                          output_handler out) {
    typename T::executor_type;
    { t.get_executor() } -> std::convertible_to<typename T::executor_type>;
    t.async_run(ep, std::move(request), std::move(out), detail::run_handler_archetype{});
};

} // namespace nextprism

#endif
