#ifndef NEXTPRISM_DOCKER_DETAIL_HTTP_HPP
#define NEXTPRISM_DOCKER_DETAIL_HTTP_HPP

// The HTTP layer: plain GETs over one kept-alive connection, other
// requests each on their own (unix socket or TCP), the API version
// negotiated once, errors mapped onto nextprism's.
// Included by docker/impl/client.hpp, after the client's declaration.

#include <nextprism/detail/async_spawn.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <utility>

namespace nextprism::docker::detail {

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

    // One kept-alive connection for plain GETs: a lookup's few requests go
    // over it instead of a connect each. Guarded: GETs may run at once
    // (each takes it or opens its own; one is kept when they are done).
    std::mutex idle_mutex;
    std::optional<stream_type> idle;

    std::atomic<std::uint64_t> requests{0};    // plain request/answer exchanges
    std::atomic<std::uint64_t> connections{0}; // every connection opened
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
        if (!r.ec)
            ++ctx->connections;
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
            ++ctx->connections;
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

inline std::optional<stream_type> take_idle(context& ctx)
{
    std::optional<stream_type> out; // basic_stream moves, but does not move-assign
    std::lock_guard lock(ctx.idle_mutex);
    if (ctx.idle) {
        out.emplace(std::move(*ctx.idle));
        ctx.idle.reset();
    }
    return out;
}

inline void keep_idle(context& ctx, stream_type stream)
{
    stream.expires_never();
    std::lock_guard lock(ctx.idle_mutex);
    if (!ctx.idle)
        ctx.idle.emplace(std::move(stream));
    // else: another request kept one first; this one closes here.
}

/// The engine closed a kept connection while it was idle (Go's server
/// may): nothing of the request was processed.
inline bool closed_while_idle(error_code ec)
{
    return ec == http::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe ||
           ec == net::error::connection_aborted;
}

/// One request and its answer. A GET (idempotent) goes over the kept
/// connection if there is one and leaves it kept if the engine agrees;
/// if the kept one turns out closed before any byte of an answer, the
/// GET is sent once more on a new connection. Anything else gets its own
/// connection: a POST on a connection that breaks may or may not have
/// been processed, and must never be sent twice.
inline net::awaitable<op_result<client::response>> exchange(context_ptr ctx,
                                                            http::request<http::string_body> req)
{
    op_result<client::response> r;
    const bool idempotent = req.method() == http::verb::get || req.method() == http::verb::head;
    for (bool first = true;; first = false) {
        std::optional<stream_type> stream =
            idempotent && first ? take_idle(*ctx) : std::optional<stream_type>{};
        const bool reused = stream.has_value();
        if (!stream) {
            auto [ec, fresh] = co_await connect(ctx);
            if (ec) {
                r.ec = ec;
                co_return r;
            }
            stream.emplace(std::move(fresh));
        }
        stream->expires_after(ctx->opts.request_timeout);
        ++ctx->requests;
        auto [wec, wn] = co_await http::async_write(*stream, req, use_tuple);
        if (wec) {
            if (reused && closed_while_idle(wec))
                continue;
            r.ec = map_error(wec);
            co_return r;
        }
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(ctx->opts.max_response_bytes);
        auto [rec, rn] = co_await http::async_read(*stream, buffer, parser, use_tuple);
        if (rec) {
            if (reused && !parser.got_some() && closed_while_idle(rec))
                continue;
            r.ec = map_error(rec);
            co_return r;
        }
        r.value = parser.release();
        if (idempotent && r.value.keep_alive() && buffer.size() == 0) {
            keep_idle(*ctx, std::move(*stream));
        } else {
            beast::error_code ignored;
            stream->socket().shutdown(net::socket_base::shutdown_both, ignored);
        }
        co_return r;
    }
}

inline net::awaitable<op_result<std::string>> negotiate(context_ptr ctx)
{
    op_result<std::string> r;
    if (!ctx->api_version.empty()) {
        r.value = ctx->api_version;
        co_return r;
    }
    auto res = co_await exchange(ctx, make_request(*ctx, http::verb::get, "/_ping", {}, false));
    if (res.ec) {
        r.ec = res.ec;
        co_return r;
    }
    if (res.value.result_int() != 200) {
        r.ec = error::engine_error;
        co_return r;
    }
    std::string version(res.value["API-Version"]);
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

/// The API version negotiated (once per client), then a connection of
/// its own: how the exec and events streams begin.
inline net::awaitable<op_result<stream_type>> connect_negotiated(context_ptr ctx)
{
    if (auto n = co_await negotiate(ctx); n.ec)
        co_return op_result<stream_type>{n.ec, stream_type(ctx->ex)};
    co_return co_await connect(ctx);
}

inline net::awaitable<op_result<client::response>> request(context_ptr ctx, http::verb method,
                                                           std::string target, std::string body)
{
    if (auto n = co_await negotiate(ctx); n.ec)
        co_return op_result<client::response>{n.ec, {}};
    co_return co_await exchange(ctx, make_request(*ctx, method, target, std::move(body)));
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

} // namespace nextprism::docker::detail

#endif
