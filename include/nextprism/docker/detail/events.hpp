#ifndef NEXTPRISM_DOCKER_DETAIL_EVENTS_HPP
#define NEXTPRISM_DOCKER_DETAIL_EVENTS_HPP

// The /events stream, one JSON object per line.
// Included by docker/impl/client.hpp, after the client's declaration.

#include <nextprism/docker/detail/http.hpp>

#include <boost/beast/http/buffer_body.hpp>

#include <functional>

namespace nextprism::docker::detail {

/// Streams /events, one JSON object per line.
inline net::awaitable<op_result<std::size_t>> watch_events(
    context_ptr ctx, std::shared_ptr<stream_type*> current, filters f,
    std::function<bool(const nlohmann::json&)> on_event)
{
    op_result<std::size_t> r;
    auto [cec, stream] = co_await connect_negotiated(ctx);
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

} // namespace nextprism::docker::detail

#endif
