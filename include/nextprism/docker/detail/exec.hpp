#ifndef NEXTPRISM_DOCKER_DETAIL_EXEC_HPP
#define NEXTPRISM_DOCKER_DETAIL_EXEC_HPP

// One exec: create, start (hijacked stream), stream the output, inspect; its deadline and stop.
// Included by docker/impl/client.hpp, after the client's declaration.

#include <nextprism/docker/detail/engine_json.hpp>
#include <nextprism/docker/detail/frame_decoder.hpp>
#include <nextprism/docker/detail/http.hpp>
#include <nextprism/docker/detail/process_tree.hpp>
#include <nextprism/docker/output_gate.hpp>

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace nextprism::docker::detail {

struct exec_control
{
    explicit exec_control(net::any_io_executor ex) : timer(ex), stop_timer(ex) {}
    std::string container_id;
    std::string exec_id;
    net::steady_timer timer;      // the deadline
    net::steady_timer stop_timer; // the stopper's waits; cancelled when the exec ends
    stream_type* stream = nullptr; // valid while the output is being read
    bool finished = false;
    bool timed_out = false;
    bool cancelled = false;
    bool stopping = false;
    std::shared_ptr<output_gate> gate; // back-pressure from the consumer
};

/// Stops a running exec: SIGTERM to its process tree, SIGKILL after the
/// grace period, and as a last resort closes the stream.
inline net::awaitable<void> stop_exec(context_ptr ctx, std::shared_ptr<exec_control> control)
{
    if (control->stopping || control->finished)
        co_return;
    control->stopping = true;
    // Drain from here on: a stalled consumer must not keep the stream open.
    if (control->gate)
        control->gate->latch_open();
    // The engine starts the process just after answering /start: wait
    // briefly for its PID.
    int pid = 0;
    net::steady_timer& wait = control->stop_timer;
    for (int attempt = 0; attempt < 100 && pid <= 0 && !control->finished; ++attempt) {
        auto inspect = co_await request_json(ctx, http::verb::get,
                                             "/exec/" + control->exec_id + "/json");
        if (inspect.ec)
            break;
        if (at(inspect.value, "Pid").is_number_integer())
            pid = at(inspect.value, "Pid").get<int>();
        if (pid <= 0) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(use_tuple);
        }
    }
    if (pid > 0 && !control->finished && ctx->opts.stop_processes) {
        // Someone else signals them; wait until it is done or the exec ended
        // (the exec's end cancels stop_timer too).
        wait.expires_at(net::steady_timer::time_point::max());
        ctx->opts.stop_processes(pid, control->container_id,
                                 [control] { control->stop_timer.cancel(); });
        co_await wait.async_wait(use_tuple);
    } else if (pid > 0 && !control->finished) {
        process_tree::signal(pid, control->container_id, SIGTERM);
        wait.expires_after(ctx->opts.stop_grace);
        co_await wait.async_wait(use_tuple);
        if (!control->finished)
            process_tree::signal(pid, control->container_id, SIGKILL);
    }
    if (control->finished)
        co_return;
    wait.expires_after(std::chrono::seconds(2));
    co_await wait.async_wait(use_tuple);
    if (!control->finished && control->stream) {
        beast::error_code ignored;
        control->stream->socket().close(ignored); // the output read fails now
    }
}

/// The body of POST /containers/{id}/exec: what runs, as whom, where.
inline nlohmann::json exec_create_body(const exec_spec& spec)
{
    nlohmann::json create = {
        {"AttachStdin", false}, {"AttachStdout", true}, {"AttachStderr", true},
        {"Tty", false},         {"Privileged", false},  {"Cmd", spec.argv},
        {"Env", spec.env},
    };
    if (spec.user)
        create["User"] = *spec.user;
    if (!spec.working_dir.empty())
        create["WorkingDir"] = spec.working_dir;
    return create;
}

/// Creates the exec; its id goes to `control`. Nothing runs yet.
inline net::awaitable<error_code> create_exec(context_ptr ctx,
                                              std::shared_ptr<exec_control> control,
                                              std::string body)
{
    auto created = co_await request_json(ctx, http::verb::post,
                                         "/containers/" + url_encode(control->container_id) + "/exec",
                                         std::move(body));
    if (created.ec)
        co_return created.ec;
    control->exec_id = text(created.value, "Id");
    if (control->exec_id.empty())
        co_return error::protocol_error;
    co_return error_code{};
}

/// POST /exec/{id}/start on `stream`, upgraded to the raw output stream;
/// what came after the answer's header is already output, left in `buffer`.
inline net::awaitable<error_code> start_exec(context_ptr ctx, std::string exec_id,
                                             stream_type& stream, beast::flat_buffer& buffer,
                                             const std::function<void(std::string_view)>& on_starting)
{
    auto req = make_request(*ctx, http::verb::post, "/exec/" + exec_id + "/start",
                            R"({"Detach":false,"Tty":false})");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "tcp");
    // From this write on the process may run, even if no answer comes back.
    if (on_starting)
        on_starting(exec_id);
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec)
        co_return map_error(wec);
    http::response_parser<http::empty_body> header;
    header.skip(true); // the body is the raw stream, read by stream_output
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, header, use_tuple);
    if (hec)
        co_return map_error(hec);
    const auto status = header.get().result_int();
    if (status != 101 && status != 200)
        co_return status_error(status);
    co_return error_code{};
}

/// The process runs: what may stop it from now on (a cancellation that came
/// while starting, the deadline) can reach it through `control`.
inline void arm_exec(const context_ptr& ctx, const std::shared_ptr<exec_control>& control,
                     stream_type& stream, std::shared_ptr<output_gate> gate,
                     std::chrono::milliseconds timeout)
{
    stream.expires_never();
    control->stream = &stream;
    control->gate = std::move(gate);
    // A stop begun while starting found no gate to open: open it now, or a
    // consumer that holds the gate shut would keep the stream waiting.
    if (control->stopping && control->gate)
        control->gate->latch_open();
    if (control->cancelled) // cancelled while starting
        net::co_spawn(ctx->ex, stop_exec(ctx, control), net::detached);
    if (timeout.count() > 0) {
        control->timer.expires_after(timeout);
        control->timer.async_wait([ctx, control](error_code ec) {
            if (ec || control->finished)
                return;
            control->timed_out = true;
            net::co_spawn(ctx->ex, stop_exec(ctx, control), net::detached);
        });
    }
}

/// How the output stream ended.
struct output_end
{
    bool malformed = false; // not a frame stream: nothing read can be trusted
    bool clean = false;     // EOF on a frame boundary
};

/// Decodes the output into `on_output` until the stream ends: `buffer`
/// (read with the start's answer) first, then the stream.
inline net::awaitable<output_end> stream_output(std::shared_ptr<exec_control> control,
                                                stream_type& stream,
                                                const beast::flat_buffer& buffer,
                                                const output_handler& on_output)
{
    frame_decoder decoder;
    bool malformed = false;
    auto deliver = [&](const char* data, std::size_t size) {
        if (!malformed && !decoder.feed(data, size, on_output))
            malformed = true;
    };
    const auto leftover = buffer.data();
    deliver(static_cast<const char*>(leftover.data()), leftover.size());
    std::vector<char> chunk(64 * 1024);
    error_code read_ec;
    while (!malformed) {
        // A full consumer: read nothing until it has room (the deadline's
        // timer keeps running; a stop latches the gate open).
        if (control->gate && !control->gate->is_open())
            co_await control->gate->wait_open();
        auto [ec, n] = co_await stream.async_read_some(net::buffer(chunk), use_tuple);
        if (n > 0)
            deliver(chunk.data(), n);
        if (ec) {
            read_ec = ec;
            break;
        }
    }
    co_return output_end{malformed, read_ec == net::error::eof && decoder.at_boundary()};
}

/// The output ended: nothing left to stop, no stream to close.
inline void end_exec(exec_control& control)
{
    control.stream = nullptr;
    control.finished = true;
    control.timer.cancel();
    control.stop_timer.cancel();
}

/// What the engine said of the ended exec.
struct exec_exit
{
    error_code ec;                 // outcome_unknown: no exit code to be had
    std::optional<int> exit_code;
    bool running = false;          // as last reported
};

/// The exit code: ready when the stream ends (300/300 measured), polled
/// briefly in case the engine is slower.
inline net::awaitable<exec_exit> await_exit(context_ptr ctx, std::string exec_id, bool clean_end)
{
    exec_exit out;
    net::steady_timer pause(ctx->ex);
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto inspect = co_await request_json(ctx, http::verb::get, "/exec/" + exec_id + "/json");
        if (inspect.ec) {
            // The command ran; without its status the outcome is unknown.
            out.ec = error::outcome_unknown;
            break;
        }
        const auto& code = at(inspect.value, "ExitCode");
        out.running = at(inspect.value, "Running") == true;
        if (!out.running && code.is_number_integer()) {
            out.exit_code = code.get<int>();
            break;
        }
        if (!clean_end && attempt >= 3) {
            out.ec = error::outcome_unknown; // the stream broke and it still runs
            break;
        }
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(use_tuple);
    }
    co_return out;
}

/// The result of an exec whose output was read to its end.
inline op_result<exec_result> exec_outcome(const exec_control& control, exec_exit exit)
{
    op_result<exec_result> r;
    r.ec = exit.ec;
    r.value.exec_id = control.exec_id;
    if (exit.exit_code)
        r.value.exit_code = *exit.exit_code;
    r.value.timed_out = control.timed_out;
    r.value.still_running = control.stopping && exit.running;
    if (control.timed_out)
        r.ec = error::timeout;
    else if (control.cancelled)
        r.ec = error::cancelled;
    else if (!r.ec && r.value.exit_code < 0)
        r.ec = error::outcome_unknown;
    return r;
}

/// One exec: create, start, stream the output, inspect. The deadline and
/// a cancellation stop it through `control` (stop_exec).
inline net::awaitable<op_result<exec_result>> exec(context_ptr ctx,
                                                   std::shared_ptr<exec_control> control,
                                                   exec_spec spec, output_handler on_output,
                                                   std::chrono::milliseconds timeout)
{
    op_result<exec_result> r;
    r.ec = co_await create_exec(ctx, control, exec_create_body(spec).dump());
    r.value.exec_id = control->exec_id;
    if (r.ec)
        co_return r;
    if (control->cancelled) {
        r.ec = error::cancelled;
        co_return r;
    }

    auto [cec, stream] = co_await connect(ctx);
    if (cec) {
        r.ec = cec;
        co_return r;
    }
    beast::flat_buffer buffer;
    if (auto sec = co_await start_exec(ctx, control->exec_id, stream, buffer, spec.on_starting)) {
        r.ec = sec;
        co_return r;
    }

    // The process runs from here on: arm the deadline, stream the output.
    arm_exec(ctx, control, stream, spec.gate, timeout);
    const auto output = co_await stream_output(control, stream, buffer, on_output);
    end_exec(*control);
    if (output.malformed) {
        r.ec = error::protocol_error;
        co_return r;
    }
    auto exit = co_await await_exit(ctx, control->exec_id, output.clean);
    co_return exec_outcome(*control, std::move(exit));
}

} // namespace nextprism::docker::detail

#endif
