#ifndef NEXTPRISM_TRANSPORT_IMPL_DIRECT_HPP
#define NEXTPRISM_TRANSPORT_IMPL_DIRECT_HPP

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>

#include <algorithm>
#include <tuple>

namespace nextprism {

namespace detail {

/** The first of the container's running execs (`exec_ids`, from its
    inspect) whose argv starts with the fixed words of a rule of `group`,
    as "php occ files:scan (exec 0123456789ab)"; empty when none. An exec
    gone meanwhile (404) no longer runs; any other engine error is the
    answer: without the list, "nothing runs" is not known. */
inline boost::asio::awaitable<std::tuple<error_code, std::string>>
running_in_group(docker::client client, std::vector<std::string> exec_ids,
                 std::vector<std::vector<std::string>> group)
{
    for (const auto& id : exec_ids) {
        auto [ec, x] = co_await client.async_inspect_exec(id, docker::detail::use_tuple);
        if (ec == error::target_not_found)
            continue;
        if (ec)
            co_return std::tuple{ec, std::string()};
        if (!x.running)
            continue;
        for (const auto& words : group)
            if (x.argv.size() >= words.size() && std::equal(words.begin(), words.end(), x.argv.begin())) {
                std::string name;
                for (const auto& w : words)
                    name += (name.empty() ? "" : " ") + w;
                co_return std::tuple{error_code{}, name + " (exec " + id.substr(0, 12) + ")"};
            }
    }
    co_return std::tuple{error_code{}, std::string()};
}

} // namespace detail

inline direct_transport::direct_transport(executor_type ex, docker::engine_address engine, options opts)
    : client_(std::move(ex), std::move(engine), opts.client), options_(std::move(opts))
{
}

template<completion_token_for<command_result> Token>
auto direct_transport::async_run(authorized_command command, output_handler on_output, start_handler on_started,
                                 Token&& token)
{
    namespace net = boost::asio;
    // The cancellation reaches the exec through `signal`; one that comes
    // while the container is looked up (no exec to stop yet) is kept in
    // `cancelled` and ends the run before anything starts.
    struct stop_state
    {
        net::cancellation_signal signal;
        bool cancelled = false;
    };
    auto stop = std::make_shared<stop_state>();
    return detail::async_spawn<command_result>(
        get_executor(), std::forward<Token>(token),
        // Copies, not `this`: the run may outlive the transport object
        // (a client's copies share its connection state).
        [client = client_, gate = options_.output_gate, name = options_.targets.of(command.service), stop,
         command = std::move(command), on_output = std::move(on_output),
         on_started = std::move(on_started)]() mutable -> net::awaitable<detail::op_result<command_result>> {
            detail::op_result<command_result> r;
            r.value.started = false;
            auto [fec, container] = co_await client.async_find_container(name, docker::detail::use_tuple);
            if (fec || stop->cancelled) {
                r.ec = fec ? fec : error_code(error::cancelled);
                co_return r;
            }
            // Whom it runs as: fixed by the whitelist, or found in the
            // container's own configuration; and for a single-flight
            // command, what already runs there. An inspect: a list has neither.
            exec_user_choice as{command.exec_user, command.exec_user ? "exec_user" : "the container's"};
            if (command.exec_user_from || command.single_flight) {
                auto [iec, config] = co_await client.async_inspect_container(container.id, docker::detail::use_tuple);
                if (iec || stop->cancelled) {
                    r.ec = iec ? iec : error_code(error::cancelled);
                    co_return r;
                }
                if (command.exec_user_from)
                    as = choose_exec_user(*command.exec_user_from, config.user, config.env);
                if (command.single_flight) {
                    auto [bec, running] = co_await detail::running_in_group(client, config.exec_ids,
                                                                            command.single_flight_group);
                    if (bec || !running.empty()) {
                        r.ec = bec ? bec : error_code(error::busy);
                        if (!bec)
                            r.value.reason = running + " already runs in " + container.name +
                                             "; try again when it has finished";
                        co_return r;
                    }
                }
            }
            docker::exec_spec spec;
            spec.argv = std::move(command.exec_argv);
            spec.user = as.user;
            spec.gate = gate;
            // Never the image's WORKDIR: PhotoPrism resolves paths against it.
            if (command.working_dir)
                spec.working_dir = *command.working_dir;
            // The name copied: a structured binding is not capturable everywhere (clang before 16).
            spec.on_starting = [&r, &on_started, container_name = container.name,
                                as_text = as.describe()](std::string_view exec_id) {
                r.value.started = true;
                r.value.started_in = started_in_label(container_name, exec_id);
                if (on_started)
                    on_started(start_report{{}, container_name, std::string(exec_id), as_text});
            };
            auto counting = [&r, &on_output](output_stream s, std::string_view data) {
                (s == output_stream::out ? r.value.stdout_bytes : r.value.stderr_bytes) += data.size();
                if (on_output)
                    on_output(s, data);
            };
            auto [eec, result] = co_await client.async_exec(
                container.id, std::move(spec), counting, command.timeout,
                net::bind_cancellation_slot(stop->signal.slot(), docker::detail::use_tuple));
            r.ec = eec;
            r.value.exit_code = result.exit_code;
            r.value.still_running = result.still_running;
            co_return r;
        },
        [stop](net::cancellation_type type) {
            stop->cancelled = true;
            stop->signal.emit(type);
        });
}

// Checked here, after the definitions: async_run's return type is deduced.
static_assert(transport_policy<direct_transport>);

} // namespace nextprism

#endif
