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

inline net::awaitable<op_result<exec_result>> exec(context_ptr ctx,
                                                   std::shared_ptr<exec_control> control,
                                                   exec_spec spec, output_handler on_output,
                                                   std::chrono::milliseconds timeout)
{
    op_result<exec_result> r;
    nlohmann::json create = {
        {"AttachStdin", false}, {"AttachStdout", true}, {"AttachStderr", true},
        {"Tty", false},         {"Privileged", false},  {"Cmd", spec.argv},
        {"Env", spec.env},
    };
    if (spec.user)
        create["User"] = *spec.user;
    if (!spec.working_dir.empty())
        create["WorkingDir"] = spec.working_dir;
    auto created = co_await request_json(ctx, http::verb::post,
                                         "/containers/" + url_encode(control->container_id) + "/exec",
                                         create.dump());
    if (created.ec) {
        r.ec = created.ec;
        co_return r;
    }
    control->exec_id = text(created.value, "Id");
    r.value.exec_id = control->exec_id;
    if (control->exec_id.empty()) {
        r.ec = error::protocol_error;
        co_return r;
    }
    if (control->cancelled) {
        r.ec = error::cancelled;
        co_return r;
    }

    auto [cec, stream] = co_await connect(ctx);
    if (cec) {
        r.ec = cec;
        co_return r;
    }
    auto req = make_request(*ctx, http::verb::post, "/exec/" + control->exec_id + "/start",
                            R"({"Detach":false,"Tty":false})");
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "tcp");
    // From this write on the process may run, even if no answer comes back.
    if (spec.on_starting)
        spec.on_starting(control->exec_id);
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
        r.ec = map_error(wec);
        co_return r;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::empty_body> header;
    header.skip(true); // the body is the raw stream, read below
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, header, use_tuple);
    if (hec) {
        r.ec = map_error(hec);
        co_return r;
    }
    const auto status = header.get().result_int();
    if (status != 101 && status != 200) {
        r.ec = status_error(status);
        co_return r;
    }

    // The process runs from here on: arm the deadline, stream the output.
    stream.expires_never();
    control->stream = &stream;
    control->gate = spec.gate;
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
    control->stream = nullptr;
    control->finished = true; // the output ended: nothing left to stop
    control->timer.cancel();
    control->stop_timer.cancel();

    if (malformed) {
        r.ec = error::protocol_error;
        co_return r;
    }
    const bool clean_end = read_ec == net::error::eof && decoder.at_boundary();

    // The exit code: ready when the stream ends (300/300 measured), polled
    // briefly in case the engine is slower.
    net::steady_timer pause(ctx->ex);
    bool running = false;
    for (int attempt = 0; attempt < 50; ++attempt) {
        auto inspect = co_await request_json(ctx, http::verb::get,
                                             "/exec/" + control->exec_id + "/json");
        if (inspect.ec) {
            // The command ran; without its status the outcome is unknown.
            r.ec = error::outcome_unknown;
            break;
        }
        const auto& code = at(inspect.value, "ExitCode");
        running = at(inspect.value, "Running") == true;
        if (!running && code.is_number_integer()) {
            r.value.exit_code = code.get<int>();
            break;
        }
        if (!clean_end && attempt >= 3) {
            r.ec = error::outcome_unknown; // the stream broke and it still runs
            break;
        }
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(use_tuple);
    }
    r.value.timed_out = control->timed_out;
    r.value.still_running = control->stopping && running;
    if (control->timed_out)
        r.ec = error::timeout;
    else if (control->cancelled)
        r.ec = error::cancelled;
    else if (!r.ec && r.value.exit_code < 0)
        r.ec = error::outcome_unknown;
    co_return r;
}

} // namespace nextprism::docker::detail

#endif
