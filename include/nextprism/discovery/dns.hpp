#ifndef NEXTPRISM_DISCOVERY_DNS_HPP
#define NEXTPRISM_DISCOVERY_DNS_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/async.hpp>
#include <nextprism/discovery/cached.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <string>

namespace nextprism {

/** Swarm's DNS: the proxies are the addresses of `tasks.<proxy service>`,
    which Swarm's resolver answers inside an overlay network the proxies
    share with the caller. For callers without Docker API access; it cannot
    tell which proxy shares the target's node, so a proxy that answers
    "target not here" (exit 69) is passed over for the next. */
class dns_source
{
public:
    using executor_type = boost::asio::any_io_executor;

    struct options
    {
        /// `{service}` is replaced by the target service's name.
        std::string name_pattern = "tasks.{service}-proxy";
        std::uint16_t port = default_proxy_port;
    };

    dns_source(executor_type ex, options opts) : ex_(std::move(ex)), options_(std::move(opts)) {}

    /// The name looked up for `service`.
    std::string name_for(const std::string& service) const;

    /// `void(error_code, placement)`. Cancellation: none (the resolver's
    /// own timeout bounds it).
    template<completion_token_for<placement> Token = boost::asio::default_completion_token_t<executor_type>>
    auto async_lookup(std::string service, Token&& token = Token{});

private:
    executor_type ex_;
    options options_;
};

inline std::string dns_source::name_for(const std::string& service) const
{
    std::string name = options_.name_pattern;
    if (const auto at = name.find("{service}"); at != std::string::npos)
        name.replace(at, 9, service);
    return name;
}

template<completion_token_for<placement> Token>
auto dns_source::async_lookup(std::string service, Token&& token)
{
    return detail::async_spawn<placement>(
        ex_, std::forward<Token>(token),
        [ex = ex_, name = name_for(service), port = options_.port]() -> net::awaitable<detail::op_result<placement>> {
            detail::op_result<placement> r;
            net::ip::tcp::resolver resolver(ex);
            auto [ec, results] =
                co_await resolver.async_resolve(name, std::to_string(port), detail::use_tuple);
            // Swarm's resolver answers NXDOMAIN when a service has no task:
            // no proxies, not a failure.
            if (ec == net::error::host_not_found || ec == net::error::host_not_found_try_again)
                co_return r;
            if (ec) {
                r.ec = ec;
                co_return r;
            }
            for (const auto& entry : results) {
                proxy_endpoint ep{entry.endpoint().address().to_string(), port, {}};
                if (std::find(r.value.proxies.begin(), r.value.proxies.end(), ep) == r.value.proxies.end())
                    r.value.proxies.push_back(std::move(ep));
            }
            co_return r;
        });
}

using dns_discovery = basic_cached_discovery<dns_source>;
static_assert(discovery_policy<dns_discovery>);

} // namespace nextprism

#endif
