#ifndef NEXTPRISM_DISCOVERY_STATIC_LIST_HPP
#define NEXTPRISM_DISCOVERY_STATIC_LIST_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/discovery/cached.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace nextprism {

/** Endpoints from configuration: service → proxies. `local_services`
    names the targets known to run on this node. */
class static_list_source
{
public:
    using executor_type = boost::asio::any_io_executor;

    struct options
    {
        std::map<std::string, std::vector<proxy_endpoint>> endpoints;
        std::set<std::string> local_services;
    };

    static_list_source(executor_type ex, options opts) : ex_(std::move(ex)), options_(std::move(opts)) {}

    /// `void(error_code, placement)` from the list. Cancellation: none
    /// (no I/O; it completes at once).
    template<completion_token_for<placement> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_lookup(std::string service, Token&& token = Token{});

private:
    executor_type ex_;
    options options_;
};

template<completion_token_for<placement> Token>
auto static_list_source::async_lookup(std::string service, Token&& token)
{
    placement p;
    if (const auto it = options_.endpoints.find(service); it != options_.endpoints.end())
        p.proxies = it->second;
    if (options_.local_services.contains(service))
        p.target_local = true;
    return detail::async_ready(ex_, std::move(p), std::forward<Token>(token));
}

/// Endpoints from configuration, cached (the cache keeps the failure record).
using static_list = basic_cached_discovery<static_list_source>;
static_assert(discovery_policy<static_list>);

} // namespace nextprism

#endif
