#ifndef NEXTPRISM_DOCKER_IMPL_CLIENT_HPP
#define NEXTPRISM_DOCKER_IMPL_CLIENT_HPP

// The client's operations, each a coroutine of docker/detail/: the HTTP
// layer (http.hpp), the API's JSON (engine_json.hpp), exec (exec.hpp,
// with frame_decoder.hpp) and events (events.hpp).
#include <nextprism/docker/detail/engine_json.hpp>
#include <nextprism/docker/detail/events.hpp>
#include <nextprism/docker/detail/exec.hpp>
#include <nextprism/docker/detail/http.hpp>

#include <boost/asio/detached.hpp>

namespace nextprism::docker {

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

inline client::statistics client::stats() const noexcept
{
    return {.requests = context_->requests.load(), .connections = context_->connections.load()};
}

template<completion_token_for<client::response> Token>
auto client::async_request(boost::beast::http::verb method, std::string target, std::string body,
                           Token&& token)
{
    return nextprism::detail::async_spawn<response>(
        ex_, std::forward<Token>(token),
        [ctx = context_, method, target = std::move(target), body = std::move(body)]() mutable {
            return detail::request(ctx, method, std::move(target), std::move(body));
        });
}

template<completion_token_for<std::string> Token>
auto client::async_ping(Token&& token)
{
    return nextprism::detail::async_spawn<std::string>(
        ex_, std::forward<Token>(token), [ctx = context_] { return detail::negotiate(ctx); });
}

template<completion_token_for<container_info> Token>
auto client::async_inspect_container(std::string name_or_id, Token&& token)
{
    return nextprism::detail::async_spawn<container_info>(
        ex_, std::forward<Token>(token), [ctx = context_, name = std::move(name_or_id)]() {
            return detail::inspect_container(ctx, name);
        });
}

template<completion_token_for<exec_info> Token>
auto client::async_inspect_exec(std::string id, Token&& token)
{
    return nextprism::detail::async_spawn<exec_info>(
        ex_, std::forward<Token>(token),
        [ctx = context_, id = std::move(id)]() -> boost::asio::awaitable<detail::op_result<exec_info>> {
            auto j = co_await detail::request_json(ctx, boost::beast::http::verb::get,
                                                   "/exec/" + detail::url_encode(id) + "/json");
            detail::op_result<exec_info> r;
            r.ec = j.ec;
            if (!r.ec)
                r.value = detail::exec_from_inspect(j.value);
            co_return r;
        });
}

template<completion_token_for<container_info> Token>
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

template<completion_token_for<engine_info> Token>
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

template<completion_token_for<std::vector<node_info>> Token>
auto client::async_list_nodes(filters f, Token&& token)
{
    return nextprism::detail::async_spawn<std::vector<node_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, q = detail::filters_query(f)]() {
            return detail::list<node_info>(ctx, "/nodes", q, detail::node_from_json);
        });
}

template<completion_token_for<std::vector<service_info>> Token>
auto client::async_list_services(filters f, Token&& token)
{
    return nextprism::detail::async_spawn<std::vector<service_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, q = detail::filters_query(f)]() {
            return detail::list<service_info>(ctx, "/services", q, detail::service_from_json);
        });
}

template<completion_token_for<std::vector<task_info>> Token>
auto client::async_list_tasks(filters f, Token&& token)
{
    return nextprism::detail::async_spawn<std::vector<task_info>>(
        ex_, std::forward<Token>(token), [ctx = context_, q = detail::filters_query(f)]() {
            return detail::list<task_info>(ctx, "/tasks", q, detail::task_from_json);
        });
}

template<completion_token_for<std::size_t> Token>
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

template<completion_token_for<exec_result> Token>
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
