#include <nextprism/docker/client.hpp> // first: the header is self-contained

#include "support/docker_fixture.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

using namespace nextprism;
using namespace nextprism::test;
using namespace std::chrono_literals;
namespace net = boost::asio;

namespace {

const std::string nextcloud_image = "nextprism/standin-nextcloud:test";
const std::string photoprism_image = "nextprism/standin-photoprism:test";

struct captured
{
    std::string out, err;
    std::vector<std::pair<docker::output_stream, std::string>> chunks;
};

std::pair<error_code, docker::exec_result> exec(docker::client& c, const std::string& container,
                                                std::vector<std::string> argv, captured& cap,
                                                std::optional<std::string> user = std::nullopt,
                                                std::chrono::milliseconds timeout = 0ms)
{
    docker::exec_spec spec;
    spec.argv = std::move(argv);
    spec.user = std::move(user);
    return wait_for<docker::exec_result>([&](auto h) {
        c.async_exec(
            container, spec,
            [&cap](docker::output_stream s, std::string_view data) {
                (s == docker::output_stream::out ? cap.out : cap.err).append(data);
                if (cap.chunks.empty() || cap.chunks.back().first != s)
                    cap.chunks.emplace_back(s, std::string(data));
                else
                    cap.chunks.back().second.append(data);
            },
            timeout, h);
    });
}

bool only_main_process(const scoped_container& c)
{
    const auto procs = c.processes();
    return procs.size() == 1 && procs[0].find("sleep 2147483647") != std::string::npos;
}

} // namespace

TEST_CASE("engine address parsing, as the docker CLI reads DOCKER_HOST")
{
    error_code ec;
    auto a = docker::parse_engine_address("unix:///run/docker.sock", ec);
    CHECK_FALSE(ec);
    CHECK(a.path == "/run/docker.sock");
    a = docker::parse_engine_address("tcp://127.0.0.1:2375", ec);
    CHECK_FALSE(ec);
    CHECK((a.host == "127.0.0.1" && a.port == "2375"));
    a = docker::parse_engine_address("tcp://[::1]:2376", ec);
    CHECK((a.host == "::1" && a.port == "2376"));
    docker::parse_engine_address("ssh://user@host", ec);
    CHECK(ec == error::invalid_configuration);
    docker::parse_engine_address("unix://relative", ec);
    CHECK(ec == error::invalid_configuration);
    docker::parse_engine_address("tcp://host:port", ec);
    CHECK(ec == error::invalid_configuration);
}

TEST_CASE("version negotiation, engine info, nodes")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    auto [ec, version] = wait_for<std::string>([&](auto h) { c.async_ping(h); });
    REQUIRE_FALSE(ec);
    CHECK(version == "1.41"); // Debian 12's docker.io 20.10
    CHECK(c.api_version() == version);

    auto [iec, info] = wait_for<docker::engine_info>([&](auto h) { c.async_info(h); });
    REQUIRE_FALSE(iec);
    CHECK(info.swarm_state == "active");
    CHECK(info.control_available);
    CHECK(info.node_address == "127.0.0.1");
    REQUIRE_FALSE(info.node_id.empty());

    auto [nec, nodes] = wait_for<std::vector<docker::node_info>>(
        [&](auto h) { c.async_list_nodes({}, h); });
    REQUIRE_FALSE(nec);
    REQUIRE(nodes.size() == 1);
    CHECK(nodes[0].id == info.node_id);
    CHECK(nodes[0].state == "ready");
    CHECK(nodes[0].role == "manager");
    CHECK(nodes[0].address == "127.0.0.1");

    // /_ping, /info, /nodes: three GETs over one kept connection.
    CHECK(c.stats().requests == 3);
    CHECK(c.stats().connections == 1);
}

TEST_CASE("GETs share the kept connection; a POST gets its own")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    auto [ec, version] = wait_for<std::string>([&](auto h) { c.async_ping(h); });
    REQUIRE_FALSE(ec);
    for (int i = 0; i < 5; ++i) {
        auto [lec, services] = wait_for<std::vector<docker::service_info>>(
            [&](auto h) { c.async_list_services({}, h); });
        REQUIRE_FALSE(lec);
    }
    CHECK(c.stats().connections == 1);
    // Harmless: no such container. A POST is never sent twice, so never on a kept connection.
    auto [pec, res] = wait_for<docker::client::response>([&](auto h) {
        c.async_request(boost::beast::http::verb::post, "/containers/nextprism-no-such/stop", {}, h);
    });
    REQUIRE_FALSE(pec);
    CHECK(res.result_int() == 404);
    CHECK(c.stats().connections == 2);
    auto [lec, services] = wait_for<std::vector<docker::service_info>>(
        [&](auto h) { c.async_list_services({}, h); });
    REQUIRE_FALSE(lec);
    CHECK(c.stats().connections == 2); // the kept one again
    CHECK(c.stats().requests == 8);
}

TEST_CASE("a kept connection the engine closed is replaced, the GET sent once more")
{
    // A peer that answers one request per connection, then closes it while
    // the client keeps it (as an engine's idle timeout would): the client
    // state machine under test, not the engine.
    const std::string path = "/tmp/nextprism-test-close-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listener >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    std::atomic<int> accepted{0};
    std::thread peer([&] {
        for (int i = 0; i < 3; ++i) {
            const int fd = ::accept(listener, nullptr, nullptr);
            if (fd < 0)
                return;
            ++accepted;
            std::string got;
            char buf[1024];
            while (got.find("\r\n\r\n") == std::string::npos) {
                const auto n = ::read(fd, buf, sizeof buf);
                if (n <= 0)
                    break;
                got.append(buf, static_cast<std::size_t>(n));
            }
            const std::string answer = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n"
                                       "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n[]";
            (void)!::write(fd, answer.data(), answer.size());
            ::usleep(50'000); // the client has read it and kept the connection
            ::close(fd);
        }
    });

    io_thread io;
    docker::engine_address at;
    at.path = path;
    docker::client c(io.io.get_executor(), at);
    auto [ec, version] = wait_for<std::string>([&](auto h) { c.async_ping(h); });
    REQUIRE_FALSE(ec);
    ::usleep(200'000); // the peer has closed the kept connection
    auto [lec, services] = wait_for<std::vector<docker::service_info>>(
        [&](auto h) { c.async_list_services({}, h); });
    CHECK_FALSE(lec);
    CHECK(services.empty());
    CHECK(c.stats().connections == 2);
    CHECK(accepted == 2);
    ::shutdown(listener, SHUT_RDWR);
    ::close(listener);
    peer.join();
    ::unlink(path.c_str());
}

TEST_CASE("services by label, their tasks, and the task's container")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    const auto name = unique_name("np-svc");
    const auto label = "org.nextprism.test=" + name;
    auto r = docker_cli({"service", "create", "--detach", "--name", name, "--network", "host",
                         "--label", label, "--replicas", "1", photoprism_image});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    struct cleanup { std::string n; ~cleanup() { docker_cli({"service", "rm", n}); } } guard{name};

    auto [sec, services] = wait_for<std::vector<docker::service_info>>(
        [&](auto h) { c.async_list_services({{"label", {label}}}, h); });
    REQUIRE_FALSE(sec);
    REQUIRE(services.size() == 1);
    CHECK(services[0].name == name);
    CHECK(services[0].replicas == std::optional<std::uint64_t>(1));

    // Wait (bounded) until the task runs.
    std::vector<docker::task_info> tasks;
    for (int i = 0; i < 100; ++i) {
        auto [tec, t] = wait_for<std::vector<docker::task_info>>([&](auto h) {
            c.async_list_tasks({{"service", {name}}, {"desired-state", {"running"}}}, h);
        });
        REQUIRE_FALSE(tec);
        tasks = t;
        if (tasks.size() == 1 && tasks[0].state == "running" && !tasks[0].container_id.empty())
            break;
        std::this_thread::sleep_for(100ms);
    }
    REQUIRE(tasks.size() == 1);
    CHECK(tasks[0].state == "running");
    CHECK(tasks[0].service_id == services[0].id);

    auto [fec, container] = wait_for<docker::container_info>(
        [&](auto h) { c.async_find_container(name, h); });
    REQUIRE_FALSE(fec);
    CHECK(container.id == tasks[0].container_id);
    CHECK(container.running);
    CHECK(container.labels.at(std::string(docker::service_name_label)) == name);

    auto [uec, none] = wait_for<std::vector<docker::service_info>>(
        [&](auto h) { c.async_list_services({{"label", {"org.nextprism.test=absent"}}}, h); });
    CHECK_FALSE(uec);
    CHECK(none.empty());
}

TEST_CASE("exec: output, exit codes, user, and streams kept apart")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    scoped_container nc(nextcloud_image, "np-nc");
    scoped_container pp(photoprism_image, "np-pp");

    captured cap;
    auto [ec, result] = exec(c, nc.id, {"php", "occ", "status"}, cap, "www-data");
    REQUIRE_FALSE(ec);
    CHECK(result.exit_code == 0);
    CHECK(cap.out.find("  - installed: true\n") == 0);
    CHECK(cap.err.empty());

    captured root;
    std::tie(ec, result) = exec(c, nc.id, {"php", "occ", "status"}, root);
    REQUIRE_FALSE(ec); // a command that ran and failed is data, not an error
    CHECK(result.exit_code == 1);
    CHECK(root.out.starts_with("Console has to be executed with the user that owns the file"));

    captured seven;
    std::tie(ec, result) = exec(c, pp.id, {"photoprism", "index", "--", "exit7"}, seven);
    REQUIRE_FALSE(ec);
    CHECK(result.exit_code == 7);

    captured order;
    std::tie(ec, result) = exec(c, pp.id, {"photoprism", "index", "--", "interleave"}, order);
    REQUIRE_FALSE(ec);
    CHECK(order.out == "out 1\nout 2\nout 3\nout 4\nout 5\n");
    CHECK(order.err.find("err 1\nerr 2\nerr 3\nerr 4\nerr 5\n") != std::string::npos);
    // Delivered as they happened: out 1, err 1, out 2, ... alternate.
    std::vector<std::string> sequence;
    for (const auto& [s, text] : order.chunks)
        for (std::size_t at = 0; (at = text.find(s == docker::output_stream::out ? "out " : "err ", at)) != std::string::npos; ++at)
            sequence.push_back(text.substr(at, 5));
    CHECK(sequence.size() >= 10);
    CHECK(sequence[0] == "out 1");
    CHECK(sequence[1] == "err 1");
    CHECK(sequence[2] == "out 2");
}

TEST_CASE("exec: 100 MiB through the stream, exact bytes, bounded memory")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    scoped_container pp(photoprism_image, "np-pp");
    std::uint64_t bytes = 0, err_bytes = 0;
    bool pattern_ok = true;
    std::size_t position = 0;
    static constexpr std::string_view line = "0123456789abcde\n";
    docker::exec_spec spec;
    spec.argv = {"photoprism", "index", "--", "big-output"};
    rusage before{};
    getrusage(RUSAGE_SELF, &before);
    auto [ec, result] = wait_for<docker::exec_result>([&](auto h) {
        c.async_exec(
            pp.id, spec,
            [&](docker::output_stream s, std::string_view data) {
                if (s == docker::output_stream::err) {
                    err_bytes += data.size();
                    return;
                }
                for (char ch : data)
                    pattern_ok = pattern_ok && ch == line[position++ % line.size()];
                bytes += data.size();
            },
            0ms, h);
    });
    rusage after{};
    getrusage(RUSAGE_SELF, &after);
    REQUIRE_FALSE(ec);
    CHECK(result.exit_code == 0);
    CHECK(bytes == 104857600);
    CHECK(pattern_ok);
    CHECK(err_bytes > 0);
    // Nothing accumulates: peak RSS grows by far less than the 100 MiB that passed.
    CHECK(after.ru_maxrss - before.ru_maxrss < 32 * 1024);
}

TEST_CASE("exec: missing and stopped containers are clear errors")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    captured cap;
    auto [ec, result] = exec(c, "no-such-container-xyz", {"photoprism", "status"}, cap);
    CHECK(ec == error::target_not_found);
    CHECK(ec == condition::transient);

    scoped_container stopped(photoprism_image, "np-stopped", false);
    std::tie(ec, result) = exec(c, stopped.id, {"photoprism", "status"}, cap);
    CHECK(ec == error::target_not_running);

    auto [fec, info] = wait_for<docker::container_info>(
        [&](auto h) { c.async_find_container(stopped.name, h); });
    CHECK(fec == error::target_not_running);
    CHECK(info.id == stopped.id);
    std::tie(fec, info) = wait_for<docker::container_info>(
        [&](auto h) { c.async_find_container("np-absent-service", h); });
    CHECK(fec == error::target_not_found);
}

TEST_CASE("exec: a timed-out command is stopped and leaves nothing running")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    scoped_container pp(photoprism_image, "np-pp");
    captured cap;
    const auto start = std::chrono::steady_clock::now();
    auto [ec, result] = exec(c, pp.id, {"photoprism", "index", "--", "slow120"}, cap,
                             std::nullopt, 1500ms);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(ec == error::timeout);
    CHECK(result.timed_out);
    // PhotoPrism logs its progress on stderr; streamed before the end.
    CHECK(cap.err.find("msg=\"index: added main jpg file slow120/photo-1.jpg\"") != std::string::npos);
    CHECK(elapsed < 60s);
    CHECK(only_main_process(pp));
}

TEST_CASE("exec: cancellation stops the command in the container")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    scoped_container nc(nextcloud_image, "np-nc");
    net::cancellation_signal cancel;
    docker::exec_spec spec;
    spec.argv = {"php", "occ", "files:scan", "--", "slow120"};
    spec.user = "www-data";
    std::atomic<bool> saw_output{false};
    auto promise = std::make_shared<std::promise<std::pair<error_code, docker::exec_result>>>();
    auto future = promise->get_future();
    net::post(io.io, [&] {
        c.async_exec(nc.id, spec,
                     [&](docker::output_stream, std::string_view) { saw_output = true; }, 0ms,
                     net::bind_cancellation_slot(cancel.slot(),
                                                 [promise](error_code ec, docker::exec_result r) {
                                                     promise->set_value({ec, r});
                                                 }));
    });
    for (int i = 0; i < 100 && !saw_output; ++i)
        std::this_thread::sleep_for(50ms);
    REQUIRE(saw_output);
    net::post(io.io, [&] { cancel.emit(net::cancellation_type::terminal); });
    REQUIRE(future.wait_for(60s) == std::future_status::ready);
    auto [ec, result] = future.get();
    CHECK(ec == error::cancelled);
    CHECK(only_main_process(nc));
}

TEST_CASE("events: container events arrive as they happen")
{
    io_thread io;
    docker::client c(io.io.get_executor(), engine());
    const auto name = unique_name("np-ev");
    auto promise = std::make_shared<std::promise<std::pair<error_code, std::size_t>>>();
    auto future = promise->get_future();
    std::atomic<bool> got{false};
    c.async_watch_events(
        {{"type", {"container"}}, {"container", {name}}},
        [&](const nlohmann::json& e) {
            if (e.value("Action", "") == "create") {
                got = true;
                return false; // stop watching
            }
            return true;
        },
        [promise](error_code ec, std::size_t n) { promise->set_value({ec, n}); });
    std::this_thread::sleep_for(300ms); // the watch is registered
    auto r = docker_cli({"create", "--name", name, "--network", "none", photoprism_image});
    REQUIRE(r.exit_code == 0);
    REQUIRE(future.wait_for(30s) == std::future_status::ready);
    auto [ec, n] = future.get();
    CHECK_FALSE(ec);
    CHECK(n >= 1);
    CHECK(got);
    docker_cli({"rm", "-f", name});
}

TEST_CASE("an engine that is not there is a transient connection error")
{
    io_thread io;
    docker::engine_address nowhere;
    nowhere.path = "/nonexistent/docker.sock";
    docker::client c(io.io.get_executor(), nowhere);
    auto [ec, v] = wait_for<std::string>([&](auto h) { c.async_ping(h); });
    CHECK(ec);
    CHECK(ec == condition::transient);
}
