#ifndef NEXTPRISM_DOCKER_IMPL_CLIENT_HPP
#define NEXTPRISM_DOCKER_IMPL_CLIENT_HPP

#include <nextprism/detail/async_spawn.hpp>
#include <nextprism/docker/detail/process_tree.hpp>
#include <nextprism/docker/output_gate.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <cstring>

namespace nextprism::docker {
namespace detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using nextprism::detail::op_result;
using stream_type = beast::basic_stream<net::generic::stream_protocol, net::any_io_executor>;
using nextprism::detail::use_tuple;

/// The newest Engine API version this client speaks, and the oldest.
inline constexpr std::string_view newest_api = "1.45";
inline constexpr std::string_view oldest_api = "1.40";

inline int compare_versions(std::string_view a, std::string_view b)
{
    auto part = [](std::string_view v, int i) {
        const auto dot = v.find('.');
        const auto s = i == 0 ? v.substr(0, dot) : (dot == v.npos ? "" : v.substr(dot + 1));
        return s.empty() ? 0 : std::atoi(std::string(s).c_str());
    };
    for (int i = 0; i < 2; ++i)
        if (part(a, i) != part(b, i))
            return part(a, i) < part(b, i) ? -1 : 1;
    return 0;
}

/// Shared by the client and its running operations.
struct context
{
    net::any_io_executor ex;
    engine_address address;
    client::options opts;
    std::string api_version; // set once negotiated (on the client's executor)
};
using context_ptr = std::shared_ptr<context>;

inline std::string url_encode(std::string_view s)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

inline std::string filters_query(const filters& f)
{
    if (f.empty())
        return {};
    return "filters=" + url_encode(nlohmann::json(f).dump());
}

/// Error for an HTTP status of the engine.
inline error_code status_error(unsigned status)
{
    if (status < 300)
        return {};
    if (status == 404)
        return error::target_not_found;
    if (status == 409)
        return error::target_not_running;
    if (status == 503)
        return error::not_swarm_manager; // "This node is not a swarm manager"
    return error::engine_error;
}

inline error_code map_error(error_code ec)
{
    if (ec == beast::error::timeout)
        return error::timeout;
    return ec;
}

inline net::awaitable<op_result<stream_type>> connect(context_ptr ctx)
{
    op_result<stream_type> r{{}, stream_type(ctx->ex)};
    r.value.expires_after(ctx->opts.request_timeout);
    if (ctx->address.type == engine_address::kind::unix_socket) {
        net::generic::stream_protocol::endpoint ep(
            net::local::stream_protocol::endpoint(ctx->address.path));
        auto [ec] = co_await r.value.async_connect(ep, use_tuple);
        // No socket file: the engine is not running (yet); as transient as
        // a refused connection.
        if (ec == boost::system::errc::no_such_file_or_directory)
            ec = net::error::connection_refused;
        r.ec = map_error(ec);
        co_return r;
    }
    net::ip::tcp::resolver resolver(ctx->ex);
    auto [rec, results] =
        co_await resolver.async_resolve(ctx->address.host, ctx->address.port, use_tuple);
    if (rec) {
        r.ec = rec;
        co_return r;
    }
    r.ec = net::error::host_not_found;
    for (const auto& entry : results) {
        auto [ec] = co_await r.value.async_connect(
            net::generic::stream_protocol::endpoint(entry.endpoint()), use_tuple);
        r.ec = map_error(ec);
        if (!ec) {
            // Small requests, latency matters (Nagle + delayed ACK costs ~40 ms).
            r.value.socket().set_option(net::ip::tcp::no_delay(true), ec);
            break;
        }
        r.value.socket().close(ec);
    }
    co_return r;
}

inline http::request<http::string_body> make_request(const context& ctx, http::verb method,
                                                     std::string_view target, std::string body,
                                                     bool versioned = true)
{
    std::string path = versioned ? "/v" + ctx.api_version + std::string(target) : std::string(target);
    http::request<http::string_body> req{method, path, 11};
    req.set(http::field::host, "docker");
    req.set(http::field::user_agent, "nextprism");
    if (!body.empty()) {
        req.set(http::field::content_type, "application/json");
        req.body() = std::move(body);
    }
    req.prepare_payload();
    return req;
}

inline net::awaitable<op_result<std::string>> negotiate(context_ptr ctx)
{
    op_result<std::string> r;
    if (!ctx->api_version.empty()) {
        r.value = ctx->api_version;
        co_return r;
    }
    auto [ec, stream] = co_await connect(ctx);
    if (ec) {
        r.ec = ec;
        co_return r;
    }
    auto req = make_request(*ctx, http::verb::get, "/_ping", {}, false);
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
        r.ec = map_error(wec);
        co_return r;
    }
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    auto [rec, rn] = co_await http::async_read(stream, buffer, res, use_tuple);
    if (rec) {
        r.ec = map_error(rec);
        co_return r;
    }
    if (res.result_int() != 200) {
        r.ec = error::engine_error;
        co_return r;
    }
    std::string version(res["API-Version"]);
    if (version.empty() || compare_versions(version, oldest_api) < 0) {
        r.ec = error::engine_error; // an engine older than Docker 19.03
        co_return r;
    }
    if (compare_versions(version, newest_api) > 0)
        version = std::string(newest_api);
    ctx->api_version = version;
    r.value = version;
    co_return r;
}

inline net::awaitable<op_result<client::response>> request(context_ptr ctx, http::verb method,
                                                           std::string target, std::string body)
{
    op_result<client::response> r;
    if (auto n = co_await negotiate(ctx); n.ec) {
        r.ec = n.ec;
        co_return r;
    }
    auto [ec, stream] = co_await connect(ctx);
    if (ec) {
        r.ec = ec;
        co_return r;
    }
    auto req = make_request(*ctx, method, target, std::move(body));
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
        r.ec = map_error(wec);
        co_return r;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(ctx->opts.max_response_bytes);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (rec) {
        r.ec = map_error(rec);
        co_return r;
    }
    r.value = parser.release();
    beast::error_code ignored;
    stream.socket().shutdown(net::socket_base::shutdown_both, ignored);
    co_return r;
}

/// A request whose successful answer is JSON.
inline net::awaitable<op_result<nlohmann::json>> request_json(context_ptr ctx, http::verb method,
                                                              std::string target,
                                                              std::string body = {})
{
    op_result<nlohmann::json> r;
    auto res = co_await request(ctx, method, std::move(target), std::move(body));
    if (res.ec) {
        r.ec = res.ec;
        co_return r;
    }
    r.ec = status_error(res.value.result_int());
    if (r.ec)
        co_return r;
    r.value = nlohmann::json::parse(res.value.body(), nullptr, false);
    if (r.value.is_discarded())
        r.ec = error::protocol_error;
    co_return r;
}

inline std::string text(const nlohmann::json& j, std::string_view key)
{
    const auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

inline std::map<std::string, std::string> labels(const nlohmann::json& j)
{
    std::map<std::string, std::string> out;
    if (j.is_object())
        for (const auto& [k, v] : j.items())
            if (v.is_string())
                out[k] = v.get<std::string>();
    return out;
}

inline const nlohmann::json& at(const nlohmann::json& j, std::string_view key)
{
    static const nlohmann::json null;
    if (!j.is_object())
        return null;
    const auto it = j.find(key);
    return it == j.end() ? null : *it;
}

inline container_info container_from_inspect(const nlohmann::json& j)
{
    container_info c;
    c.id = text(j, "Id");
    c.name = text(j, "Name");
    if (!c.name.empty() && c.name.front() == '/')
        c.name.erase(0, 1);
    c.state = text(at(j, "State"), "Status");
    c.running = at(at(j, "State"), "Running") == true;
    c.labels = labels(at(at(j, "Config"), "Labels"));
    return c;
}

inline container_info container_from_list(const nlohmann::json& j)
{
    container_info c;
    c.id = text(j, "Id");
    const auto& names = at(j, "Names");
    if (names.is_array() && !names.empty() && names[0].is_string()) {
        c.name = names[0].get<std::string>();
        if (!c.name.empty() && c.name.front() == '/')
            c.name.erase(0, 1);
    }
    c.state = text(j, "State");
    c.running = c.state == "running";
    c.labels = labels(at(j, "Labels"));
    return c;
}

template<class T, class F>
op_result<std::vector<T>> map_array(op_result<nlohmann::json> in, F convert)
{
    op_result<std::vector<T>> r;
    r.ec = in.ec;
    if (r.ec)
        return r;
    if (!in.value.is_array()) {
        r.ec = error::protocol_error;
        return r;
    }
    for (const auto& item : in.value)
        r.value.push_back(convert(item));
    return r;
}

inline std::string with_query(std::string path, const std::string& query)
{
    return query.empty() ? path : path + "?" + query;
}

inline node_info node_from_json(const nlohmann::json& j)
{
    node_info n;
    n.id = text(j, "ID");
    n.hostname = text(at(j, "Description"), "Hostname");
    const auto& status = at(j, "Status");
    n.address = text(status, "Addr");
    n.state = text(status, "State");
    const auto& spec = at(j, "Spec");
    n.role = text(spec, "Role");
    n.availability = text(spec, "Availability");
    n.labels = labels(at(spec, "Labels"));
    return n;
}

inline service_info service_from_json(const nlohmann::json& j)
{
    service_info s;
    s.id = text(j, "ID");
    const auto& spec = at(j, "Spec");
    s.name = text(spec, "Name");
    s.labels = labels(at(spec, "Labels"));
    const auto& replicas = at(at(at(spec, "Mode"), "Replicated"), "Replicas");
    if (replicas.is_number_unsigned())
        s.replicas = replicas.get<std::uint64_t>();
    return s;
}

inline task_info task_from_json(const nlohmann::json& j)
{
    task_info t;
    t.id = text(j, "ID");
    t.service_id = text(j, "ServiceID");
    t.node_id = text(j, "NodeID");
    t.desired_state = text(j, "DesiredState");
    const auto& status = at(j, "Status");
    t.state = text(status, "State");
    t.container_id = text(at(status, "ContainerStatus"), "ContainerID");
    return t;
}

/// GET `path` with `query`, an array of T converted by `convert`.
template<class T, class Convert>
net::awaitable<op_result<std::vector<T>>> list(context_ptr ctx, std::string path,
                                               std::string query, Convert convert)
{
    co_return map_array<T>(
        co_await request_json(ctx, http::verb::get, with_query(std::move(path), query)), convert);
}

/// GET /containers/{name or id}/json.
inline net::awaitable<op_result<container_info>> inspect_container(context_ptr ctx, std::string name)
{
    auto j = co_await request_json(ctx, http::verb::get, "/containers/" + url_encode(name) + "/json");
    op_result<container_info> r;
    r.ec = j.ec;
    if (!r.ec)
        r.value = container_from_inspect(j.value);
    co_return r;
}

// ---- exec ------------------------------------------------------------------------

/// Demultiplexes Docker's stdout/stderr framing ([type,0,0,0,size BE32]
/// then payload), delivering payload bytes as they arrive.
class frame_decoder
{
public:
    /// Feeds bytes; returns false on a malformed header.
    bool feed(const char* data, std::size_t size, const output_handler& sink)
    {
        while (size > 0) {
            if (remaining_ == 0) {
                const std::size_t take = std::min<std::size_t>(8 - header_size_, size);
                std::memcpy(header_ + header_size_, data, take);
                header_size_ += take;
                data += take;
                size -= take;
                if (header_size_ < 8)
                    return true;
                header_size_ = 0;
                const auto type = static_cast<unsigned char>(header_[0]);
                if (type > 3 || header_[1] || header_[2] || header_[3])
                    return false;
                stream_ = type == 1 ? output_stream::out : output_stream::err;
                remaining_ = (std::uint32_t(static_cast<unsigned char>(header_[4])) << 24) |
                             (std::uint32_t(static_cast<unsigned char>(header_[5])) << 16) |
                             (std::uint32_t(static_cast<unsigned char>(header_[6])) << 8) |
                             std::uint32_t(static_cast<unsigned char>(header_[7]));
                continue;
            }
            const std::size_t take = std::min<std::size_t>(remaining_, size);
            if (sink)
                sink(stream_, std::string_view(data, take));
            remaining_ -= take;
            data += take;
            size -= take;
        }
        return true;
    }

    /// True between frames: a stream that ends here ended cleanly.
    bool at_boundary() const noexcept { return remaining_ == 0 && header_size_ == 0; }

private:
    char header_[8]{};
    std::size_t header_size_ = 0;
    std::uint32_t remaining_ = 0;
    output_stream stream_ = output_stream::out;
};

/// What a running exec shares with its stopper (timeout, cancellation).
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

/// Streams /events, one JSON object per line.
inline net::awaitable<op_result<std::size_t>> watch_events(
    context_ptr ctx, std::shared_ptr<stream_type*> current, filters f,
    std::function<bool(const nlohmann::json&)> on_event)
{
    op_result<std::size_t> r;
    if (auto n = co_await negotiate(ctx); n.ec) {
        r.ec = n.ec;
        co_return r;
    }
    auto [cec, stream] = co_await connect(ctx);
    if (cec) {
        r.ec = cec;
        co_return r;
    }
    auto req = make_request(*ctx, http::verb::get, with_query("/events", filters_query(f)), {});
    auto [wec, wn] = co_await http::async_write(stream, req, use_tuple);
    if (wec) {
        r.ec = map_error(wec);
        co_return r;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    if (hec) {
        r.ec = map_error(hec);
        co_return r;
    }
    if ((r.ec = status_error(parser.get().result_int())))
        co_return r;
    stream.expires_never();
    *current = &stream;
    std::string pending;
    char chunk[16384];
    while (true) {
        parser.get().body().data = chunk;
        parser.get().body().size = sizeof chunk;
        auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, use_tuple);
        if (ec == http::error::need_buffer)
            ec = {};
        pending.append(chunk, sizeof chunk - parser.get().body().size);
        std::size_t newline;
        bool stop = false;
        while (!stop && (newline = pending.find('\n')) != std::string::npos) {
            auto event = nlohmann::json::parse(pending.substr(0, newline), nullptr, false);
            pending.erase(0, newline + 1);
            if (event.is_discarded())
                continue;
            ++r.value;
            stop = !on_event(event);
        }
        if (stop)
            break;
        if (ec) {
            r.ec = map_error(ec);
            break;
        }
        if (parser.is_done()) {
            r.ec = net::error::eof;
            break;
        }
    }
    *current = nullptr;
    co_return r;
}

} // namespace detail

inline client::client(executor_type ex, engine_address address)
    : client(std::move(ex), std::move(address), options{})
{
}

inline client::client(executor_type ex, engine_address address, options opts)
    : ex_(ex)
{
    auto ctx = std::make_shared<detail::context>();
    ctx->ex = ex;
    ctx->address = std::move(address);
    ctx->opts = opts;
    context_ = std::move(ctx);
}

inline const engine_address& client::address() const noexcept
{
    return context_->address;
}

inline std::string client::api_version() const
{
    return context_->api_version;
}

template<class Token>
auto client::async_request(boost::beast::http::verb method, std::string target, std::string body,
                           Token&& token)
{
    return nextprism::detail::async_spawn<response>(
        ex_, std::forward<Token>(token),
        [ctx = context_, method, target = std::move(target), body = std::move(body)]() mutable {
            return detail::request(ctx, method, std::move(target), std::move(body));
        });
}

template<class Token>
auto client::async_ping(Token&& token)
{
    return nextprism::detail::async_spawn<std::string>(
        ex_, std::forward<Token>(token), [ctx = context_] { return detail::negotiate(ctx); });
}

template<class Token>
auto client::async_inspect_container(std::string name_or_id, Token&& token)
{
    return nextprism::detail::async_spawn<container_info>(
        ex_, std::forward<Token>(token), [ctx = context_, name = std::move(name_or_id)]() {
            return detail::inspect_container(ctx, name);
        });
}

template<class Token>
auto client::async_list_containers(filters f, bool all, Token&& token)
{
    std::string query = all ? "all=1" : "";
    if (auto q = detail::filters_query(f); !q.empty())
        query += (query.empty() ? "" : "&") + q;
    return nextprism::detail::async_spawn<std::vector<container_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, query = std::move(query)]() {
            return detail::list<container_info>(ctx, "/containers/json", query,
                                                detail::container_from_list);
        });
}

template<class Token>
auto client::async_find_container(std::string service_or_name, Token&& token)
{
    return nextprism::detail::async_spawn<container_info>(
        ex_, std::forward<Token>(token),
        [ctx = context_, name = std::move(service_or_name)]() -> boost::asio::awaitable<
                                                               detail::op_result<container_info>> {
            detail::op_result<container_info> r;
            filters f{{"label", {std::string(service_name_label) + "=" + name}}};
            auto list = co_await detail::list<container_info>(
                ctx, "/containers/json", "all=1&" + detail::filters_query(f),
                detail::container_from_list);
            if (list.ec) {
                r.ec = list.ec;
                co_return r;
            }
            for (const auto& c : list.value)
                if (c.running) {
                    r.value = c;
                    co_return r;
                }
            if (!list.value.empty()) {
                r.ec = error::target_not_running;
                r.value = list.value.front();
                co_return r;
            }
            r = co_await detail::inspect_container(ctx, name);
            if (!r.ec && !r.value.running)
                r.ec = error::target_not_running;
            co_return r;
        });
}

template<class Token>
auto client::async_info(Token&& token)
{
    return nextprism::detail::async_spawn<engine_info>(
        ex_, std::forward<Token>(token),
        [ctx = context_]() -> boost::asio::awaitable<detail::op_result<engine_info>> {
            auto j = co_await detail::request_json(ctx, boost::beast::http::verb::get, "/info");
            detail::op_result<engine_info> r;
            r.ec = j.ec;
            if (r.ec)
                co_return r;
            const auto& swarm = detail::at(j.value, "Swarm");
            r.value.name = detail::text(j.value, "Name");
            r.value.swarm_state = detail::text(swarm, "LocalNodeState");
            r.value.node_id = detail::text(swarm, "NodeID");
            r.value.node_address = detail::text(swarm, "NodeAddr");
            r.value.control_available = detail::at(swarm, "ControlAvailable") == true;
            co_return r;
        });
}

template<class Token>
auto client::async_list_nodes(filters f, Token&& token)
{
    return nextprism::detail::async_spawn<std::vector<node_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, q = detail::filters_query(f)]() {
            return detail::list<node_info>(ctx, "/nodes", q, detail::node_from_json);
        });
}

template<class Token>
auto client::async_list_services(filters f, Token&& token)
{
    return nextprism::detail::async_spawn<std::vector<service_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, q = detail::filters_query(f)]() {
            return detail::list<service_info>(ctx, "/services", q, detail::service_from_json);
        });
}

template<class Token>
auto client::async_list_tasks(filters f, Token&& token)
{
    return nextprism::detail::async_spawn<std::vector<task_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, q = detail::filters_query(f)]() {
            return detail::list<task_info>(ctx, "/tasks", q, detail::task_from_json);
        });
}

template<class Token>
auto client::async_watch_events(filters f, std::function<bool(const nlohmann::json&)> on_event,
                                Token&& token)
{
    auto current = std::make_shared<detail::stream_type*>(nullptr);
    return nextprism::detail::async_spawn<std::size_t>(
        ex_, std::forward<Token>(token),
        [ctx = context_, current, f = std::move(f), on_event = std::move(on_event)]() mutable {
            return detail::watch_events(ctx, current, std::move(f), std::move(on_event));
        },
        [current](boost::asio::cancellation_type) {
            if (*current) {
                boost::beast::error_code ignored;
                (*current)->socket().close(ignored);
            }
        });
}

template<class Token>
auto client::async_exec(std::string container_id, exec_spec spec, output_handler on_output,
                        std::chrono::milliseconds timeout, Token&& token)
{
    auto control = std::make_shared<detail::exec_control>(ex_);
    control->container_id = std::move(container_id);
    return nextprism::detail::async_spawn<exec_result>(
        ex_, std::forward<Token>(token),
        [ctx = context_, control, spec = std::move(spec), on_output = std::move(on_output),
         timeout]() mutable {
            return detail::exec(ctx, control, std::move(spec), std::move(on_output), timeout);
        },
        [ctx = context_, control](boost::asio::cancellation_type) {
            if (control->finished || control->cancelled)
                return;
            control->cancelled = true;
            if (!control->exec_id.empty())
                boost::asio::co_spawn(ctx->ex, detail::stop_exec(ctx, control),
                                      boost::asio::detached);
        });
}

} // namespace nextprism::docker

#endif
