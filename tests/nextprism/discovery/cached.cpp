#include <nextprism/discovery.hpp> // first: the header is self-contained

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <deque>

#include "support/docker_fixture.hpp"
#include "support/fake_clock.hpp"

// Discovery with the sources that need no engine; swarm_labels is tested
// against a real Swarm with deployed proxies in swarm_executor_stack.cpp.
// The network used here is loopback only.

using namespace nextprism;
using namespace std::chrono_literals;
using nextprism::test::fake_clock;
using nextprism::test::io_thread;
using nextprism::test::wait_for;
using boost::asio::ip::tcp;

namespace {

/// A loopback listener that answers each connection with `greeting`.
struct listener
{
    boost::asio::io_context io;
    tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    std::string greeting;
    std::atomic<bool> stopping{false};
    std::thread thread;

    explicit listener(std::string g) : greeting(std::move(g))
    {
        thread = std::thread([this] {
            for (;;) {
                tcp::socket s(io);
                boost::system::error_code ec;
                acceptor.accept(s, ec);
                if (ec || stopping)
                    return;
                boost::asio::write(s, boost::asio::buffer(greeting), ec);
            }
        });
    }
    ~listener()
    {
        // close() does not wake a blocked accept(): a last connection does.
        stopping = true;
        boost::asio::io_context wake_io;
        tcp::socket wake(wake_io);
        boost::system::error_code ec;
        wake.connect(acceptor.local_endpoint(), ec);
        thread.join();
    }
    std::uint16_t port() const { return acceptor.local_endpoint().port(); }
    proxy_endpoint endpoint() const { return {"127.0.0.1", port(), {}}; }
};

/// A port nothing listens on (bound, then closed).
std::uint16_t closed_port()
{
    boost::asio::io_context io;
    tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return a.local_endpoint().port();
}

/// A source that answers from a script and counts its lookups.
struct scripted_source
{
    using executor_type = net::any_io_executor;
    struct options
    {
        std::shared_ptr<std::deque<std::pair<error_code, placement>>> answers;
    };
    scripted_source(executor_type ex, options o) : ex_(ex), o_(std::move(o)) {}

    template<class Token>
    auto async_lookup(std::string, Token&& token)
    {
        auto answer = o_.answers->front();
        if (o_.answers->size() > 1)
            o_.answers->pop_front();
        return nextprism::async_spawn<placement>(
            ex_, std::forward<Token>(token), [answer]() -> net::awaitable<nextprism::op_result<placement>> {
                co_return nextprism::op_result<placement>{answer.first, answer.second};
            });
    }

    executor_type ex_;
    options o_;
};

template<class D>
std::pair<error_code, placement> locate(D& d, const std::string& service)
{
    return wait_for<placement>([&](auto h) { d.async_locate(service, std::move(h)); });
}

} // namespace

TEST_CASE("static list: cached for the TTL, invalidated when the executor met a 'moved' error")
{
    io_thread io;
    fake_clock::current = fake_clock::time_point{} + 100s;
    const proxy_endpoint a{"10.0.0.1", 2222, {}}, b{"10.0.0.2", 2222, {}};
    discovery_options opts;
    opts.health = health_check::none;
    basic_cached_discovery<static_list_source, fake_clock> d(
        io.io.get_executor(), opts, static_list_source::options{{{"nextcloud", {a, b}}}, {"photoprism"}});

    auto [ec, p] = locate(d, "nextcloud");
    REQUIRE_FALSE(ec);
    CHECK(p.proxies == std::vector<proxy_endpoint>{a, b});
    CHECK_FALSE(p.target_local.has_value());
    CHECK_FALSE(p.swarm_active.has_value());
    CHECK(locate(d, "photoprism").second.target_local == true);
    CHECK(d.source_lookups() == 2);

    (void)locate(d, "nextcloud");
    CHECK(d.source_lookups() == 2); // from the cache
    fake_clock::current += 60s;
    (void)locate(d, "nextcloud");
    CHECK(d.source_lookups() == 3); // TTL passed
    const auto cached = d.cache_entries(); // the admin view: photoprism is a TTL old now
    REQUIRE(cached.size() == 2);
    CHECK(cached[0].service == "nextcloud");
    CHECK(cached[0].age == 0s);
    CHECK(cached[1].age == 60s);
    CHECK_FALSE(cached[1].fresh);

    d.invalidate("nextcloud"); // what the executor does on condition::moved
    (void)locate(d, "nextcloud");
    CHECK(d.source_lookups() == 4);
    // Discovery keeps no record of runs: endpoint health is the executor's.
    CHECK(locate(d, "nextcloud").second.proxies == std::vector<proxy_endpoint>{a, b});
}

TEST_CASE("health checks: a closed port is dropped; banner mode wants an SSH server")
{
    io_thread io;
    listener ssh_like("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    listener http_like("HTTP/1.1 400 Bad Request\r\n\r\n");
    const proxy_endpoint closed{"127.0.0.1", closed_port(), {}};
    const std::vector<proxy_endpoint> all{ssh_like.endpoint(), http_like.endpoint(), closed};

    discovery_options tcp_opts;
    tcp_opts.health = health_check::tcp;
    static_list d1(io.io.get_executor(), tcp_opts, static_list_source::options{{{"nextcloud", all}}, {}});
    auto [ec1, p1] = locate(d1, "nextcloud");
    REQUIRE_FALSE(ec1);
    CHECK(p1.proxies == std::vector<proxy_endpoint>{ssh_like.endpoint(), http_like.endpoint()});
    // What was left out says what the check met: the caller can name it.
    REQUIRE(p1.left_out.size() == 1);
    CHECK(p1.left_out[0].first == closed);
    CHECK(p1.left_out[0].second == boost::asio::error::connection_refused);

    discovery_options banner_opts;
    banner_opts.health = health_check::banner;
    banner_opts.health_timeout = 2s;
    static_list d2(io.io.get_executor(), banner_opts, static_list_source::options{{{"nextcloud", all}}, {}});
    auto [ec2, p2] = locate(d2, "nextcloud");
    REQUIRE_FALSE(ec2);
    CHECK(p2.proxies == std::vector<proxy_endpoint>{ssh_like.endpoint()});
    REQUIRE(p2.left_out.size() == 2);
    CHECK(p2.left_out[0].first == http_like.endpoint());
    CHECK(p2.left_out[0].second == error::connection_failed); // no SSH banner
}

TEST_CASE("health check: a listener that never answers fails by the deadline")
{
    io_thread io;
    boost::asio::io_context quiet_io;
    tcp::acceptor quiet(quiet_io, {boost::asio::ip::make_address("127.0.0.1"), 0}); // never accepts: no banner
    discovery_options opts;
    opts.health = health_check::banner;
    opts.health_timeout = 300ms;
    const proxy_endpoint ep{"127.0.0.1", quiet.local_endpoint().port(), {}};
    static_list d(io.io.get_executor(), opts, static_list_source::options{{{"nextcloud", {ep}}}, {}});
    const auto start = std::chrono::steady_clock::now();
    auto [ec, p] = locate(d, "nextcloud");
    REQUIRE_FALSE(ec);
    CHECK(p.proxies.empty());
    REQUIRE(p.left_out.size() == 1);
    CHECK(p.left_out[0].second == boost::asio::error::timed_out);
    CHECK(std::chrono::steady_clock::now() - start < 10s); // bounded, not hung
}

TEST_CASE("stale placements are served when a refresh fails; no placement: the error")
{
    io_thread io;
    fake_clock::current = fake_clock::time_point{} + 100s;
    const proxy_endpoint a{"10.0.0.1", 2222, {}};
    placement p;
    p.proxies = {a};
    auto answers = std::make_shared<std::deque<std::pair<error_code, placement>>>();
    answers->push_back({{}, p});
    answers->push_back({error::engine_error, {}});
    discovery_options opts;
    opts.health = health_check::none;
    basic_cached_discovery<scripted_source, fake_clock> d(io.io.get_executor(), opts,
                                                          scripted_source::options{answers});
    CHECK(locate(d, "nextcloud").second.proxies.size() == 1);
    fake_clock::current += 61s;
    auto [ec, stale] = locate(d, "nextcloud"); // the refresh fails
    CHECK_FALSE(ec);
    CHECK(stale.proxies == std::vector<proxy_endpoint>{a});
    d.invalidate("nextcloud");
    auto [ec2, none] = locate(d, "nextcloud");
    CHECK(ec2 == error::engine_error);
}

TEST_CASE("dns: the addresses of the name, on the configured port")
{
    io_thread io;
    dns_source::options o;
    CHECK(dns_source(io.io.get_executor(), o).name_for("nextcloud") == "tasks.nextcloud-proxy");
    o.name_pattern = "localhost"; // /etc/hosts: no query leaves the machine
    o.port = 2222;
    discovery_options opts;
    opts.health = health_check::none;
    dns_discovery d(io.io.get_executor(), opts, o);
    auto [ec, p] = locate(d, "nextcloud");
    REQUIRE_FALSE(ec);
    REQUIRE_FALSE(p.proxies.empty());
    bool loopback = false;
    for (const auto& ep : p.proxies) {
        CHECK(ep.port == 2222);
        loopback = loopback || ep.host == "127.0.0.1" || ep.host == "::1";
    }
    CHECK(loopback);
    CHECK_FALSE(p.target_local.has_value());
}

TEST_CASE("a proxy that restarts is offered again as soon as it answers, not after the TTL")
{
    // The lockout seen on a 3-node Swarm: the placement computed while the
    // proxy was down was cached for the full TTL (60 s), and the endpoint
    // cooled down for 60 s, though the proxy was back after ~5 s. (The
    // executor's breaker counts "nothing answered" as neutral: see
    // executor/endpoint_health.cpp.)
    io_thread io;
    fake_clock::current = fake_clock::time_point{} + 100s;
    auto up = std::make_unique<listener>("SSH-2.0-OpenSSH_9.2p1\r\n");
    const proxy_endpoint ep = up->endpoint();
    discovery_options opts; // defaults: ttl 60 s, negative_ttl 2 s, tcp checks
    CHECK(opts.negative_ttl == 2s);
    basic_cached_discovery<static_list_source, fake_clock> d(
        io.io.get_executor(), opts, static_list_source::options{{{"photoprism", {ep}}}, {}});
    REQUIRE(locate(d, "photoprism").second.proxies == std::vector<proxy_endpoint>{ep});

    // The proxy goes away: the runs fail, "connection refused".
    boost::asio::io_context bind_io;
    const auto port = ep.port;
    up.reset();
    d.invalidate("photoprism"); // the executor met "connection refused" (moved)
    const auto lookups = d.source_lookups();
    CHECK(locate(d, "photoprism").second.proxies.empty()); // down: health check fails
    CHECK(d.source_lookups() == lookups + 1);
    fake_clock::current += 1s;
    CHECK(locate(d, "photoprism").second.proxies.empty()); // the empty answer is cached briefly
    CHECK(d.source_lookups() == lookups + 1);

    // Back on the same port 5 s later: offered at the next lookup, 2 s
    // after the last one, long before the TTL or the cool-down.
    tcp::acceptor back(bind_io, {boost::asio::ip::make_address("127.0.0.1"), port});
    fake_clock::current += 1s;
    auto [ec, p] = locate(d, "photoprism");
    REQUIRE_FALSE(ec);
    CHECK(p.proxies == std::vector<proxy_endpoint>{ep});
    // A healthy, complete placement is kept for the full TTL again.
    const auto after = d.source_lookups();
    fake_clock::current += 30s;
    (void)locate(d, "photoprism");
    CHECK(d.source_lookups() == after);
}

TEST_CASE("a target that runs nowhere is looked up again soon")
{
    io_thread io;
    fake_clock::current = fake_clock::time_point{} + 100s;
    basic_cached_discovery<static_list_source, fake_clock> d(
        io.io.get_executor(), discovery_options{}, static_list_source::options{{{"nextcloud", {}}}, {}});
    // No proxy and not local: the answer is kept for negative_ttl only.
    CHECK(locate(d, "nextcloud").second.proxies.empty());
    const auto n = d.source_lookups();
    fake_clock::current += 1s;
    (void)locate(d, "nextcloud");
    CHECK(d.source_lookups() == n);
    fake_clock::current += 1s;
    (void)locate(d, "nextcloud");
    CHECK(d.source_lookups() == n + 1);
}
