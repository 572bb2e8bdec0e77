// The proxy's privilege separation, against the real dockerd and the
// stand-ins: the broker answers only the uids it was told to, checks every
// request against the whitelist again (a forged request from a subverted
// validator runs nothing), caps each key, stops the command when the
// validator is killed, and holds the single-flight lock after a stop that
// did not work until the engine says the exec ended.

#include "../../proxy/broker_protocol.hpp"

#include <nextprism/wire/exit_status.hpp>

#include "support/validator_fixture.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <sstream>

#include <sys/socket.h>
#include <sys/un.h>

namespace fs = std::filesystem;
namespace exit_code = nextprism::proxy_exit_code;
namespace protocol = nextprism::broker_protocol;
using namespace nextprism::test;
using namespace std::literals;

namespace {

int connect_to(const std::string& path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

/// A key pair under `dir` and the SSH_USER_AUTH file sshd would write for it.
std::string user_auth_for(const fs::path& dir, const std::string& name)
{
    const auto key = dir / name;
    REQUIRE(std::system(("ssh-keygen -q -t ed25519 -N '' -C " + name + " -f " + key.string()).c_str()) == 0);
    std::string pub;
    std::getline(std::ifstream(key.string() + ".pub"), pub);
    std::ofstream(dir / (name + ".auth")) << "publickey " << pub << "\n";
    return "SSH_USER_AUTH=" + (dir / (name + ".auth")).string();
}

/// The processes whose parent is `parent` (/proc/PID/stat's fourth field).
std::set<pid_t> children_of(pid_t parent)
{
    std::set<pid_t> found;
    for (const auto& entry : fs::directory_iterator("/proc")) {
        const auto name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::string stat;
        std::getline(std::ifstream(entry.path() / "stat"), stat);
        const auto close = stat.rfind(')'); // the command name may hold spaces
        if (close == std::string::npos)
            continue;
        std::istringstream rest(stat.substr(close + 1));
        char state = 0;
        pid_t ppid = 0;
        if (rest >> state >> ppid && ppid == parent)
            found.insert(std::stoi(name));
    }
    return found;
}

} // namespace

TEST_CASE("the broker answers only the uids it serves")
{
    proxy_env p("np-b");
    p.start_brokers({"--peer-uid", "12345"}); // not root, who runs this test
    const auto r = p.run("nextcloud", "php occ status");
    CHECK(r.exit_code == exit_code::internal);
    // Refused before or after the request was sent: no answer either way.
    CHECK((r.err == "nextprism: the proxy's broker ended without an answer\n" ||
           r.err == "nextprism: cannot send the request to the proxy's broker: Broken pipe\n"));
    CHECK(r.out.empty());
    CHECK(p.audit().empty()); // nothing on record: nothing was asked
}

TEST_CASE("a forged request is checked again: refused, on record, nothing runs")
{
    proxy_env p("np-b");
    // What a subverted validator could send: an argv its own check would refuse.
    protocol::request req;
    req.op = "run";
    req.service = "nextcloud";
    req.argv = {"php", "occ", "maintenance:mode", "--on"};
    req.input = "php occ status";
    req.key = p.key_line();
    int pipes[2];
    REQUIRE(::pipe(pipes) == 0);
    const int conn = connect_to(p.socket("nextcloud"));
    const int fds[] = {pipes[1], pipes[1]};
    REQUIRE(protocol::send_message(conn, protocol::encode(req), fds));
    std::string payload;
    std::vector<int> none;
    REQUIRE(protocol::receive_message(conn, payload, none, std::chrono::seconds(30)));
    protocol::reply reply;
    REQUIRE(protocol::decode(payload, reply));
    CHECK(reply.status == exit_code::refused);
    CHECK(reply.line.starts_with("nextprism: refused: "));
    ::close(conn);
    ::close(pipes[0]);
    ::close(pipes[1]);
    const auto audit = p.audit();
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["decision"] == "refused");
    CHECK(audit[0]["outcome"] == "refused");
    CHECK(p.idle(p.nextcloud));

    // A request for another service than the broker's is refused the same way.
    req.argv = {"photoprism", "status"};
    req.service = "photoprism";
    const int conn2 = connect_to(p.socket("nextcloud"));
    REQUIRE(protocol::send_message(conn2, protocol::encode(req)));
    payload.clear();
    REQUIRE(protocol::receive_message(conn2, payload, none, std::chrono::seconds(30)));
    REQUIRE(protocol::decode(payload, reply));
    CHECK(reply.status == exit_code::refused);
    ::close(conn2);

    // Garbage is no request.
    const int conn3 = connect_to(p.socket("nextcloud"));
    REQUIRE(protocol::send_message(conn3, "\xff\x00garbage"));
    payload.clear();
    REQUIRE(protocol::receive_message(conn3, payload, none, std::chrono::seconds(30)));
    REQUIRE(protocol::decode(payload, reply));
    CHECK(reply.status == exit_code::internal);
    ::close(conn3);
}

namespace {

/// Sends `payload` as a request (the output pipes attached) and returns the broker's reply.
protocol::reply ask(const proxy_env& p, const std::string& payload)
{
    int pipes[2];
    REQUIRE(::pipe(pipes) == 0);
    const int conn = connect_to(p.socket("nextcloud"));
    const int fds[] = {pipes[1], pipes[1]};
    REQUIRE(protocol::send_message(conn, payload, fds));
    std::string answer;
    std::vector<int> none;
    protocol::reply reply;
    reply.status = -1;
    if (protocol::receive_message(conn, answer, none, std::chrono::seconds(30)))
        REQUIRE(protocol::decode(answer, reply));
    ::close(conn);
    ::close(pipes[0]);
    ::close(pipes[1]);
    return reply;
}

protocol::request forged(const proxy_env& p, std::vector<std::string> argv)
{
    protocol::request req;
    req.op = "run";
    req.service = "nextcloud";
    req.argv = std::move(argv);
    req.key = p.key_line();
    return req;
}

} // namespace

TEST_CASE("the broker's inputs from a subverted validator: the grammar again, bounded CBOR, a key on record")
{
    proxy_env p("np-b");
    SECTION("an argv the command grammar cannot carry is refused, though the whitelist allows the option")
    {
        const auto reply =
            ask(p, protocol::encode(forged(p, {"php", "occ", "files:scan", "--path=/alice/files/a\nb\x1b[2J\xff\u202e"})));
        CHECK(reply.status == exit_code::refused);
        CHECK(reply.line.find("cannot be written as an SSH command string") != std::string::npos);
        // A bidi override alone (valid UTF-8, not a control byte) as well.
        CHECK(ask(p, protocol::encode(forged(p, {"php", "occ", "files:scan", "--path=/alice/files/\u202etxt.exe"})))
                  .status == exit_code::refused);
        const auto audit = p.audit();
        REQUIRE(audit.size() == 2);
        CHECK(audit[0]["decision"] == "refused");
        CHECK(p.idle(p.nextcloud));
        // What the grammar carries runs, as the validator would have sent it.
        CHECK(ask(p, protocol::encode(forged(p, {"php", "occ", "status"}))).status == 0);
    }
    SECTION("a megabyte of nested CBOR is malformed, answered, and the child does not crash")
    {
        std::string nested(1 << 20, '\x81'); // arrays of one array of ...
        nested.back() = '\x00';
        const auto reply = ask(p, nested);
        CHECK(reply.status == exit_code::internal);
        CHECK(reply.line.find("malformed request") != std::string::npos);
        // One level too deep inside the request's own map is refused the same way.
        auto deep = protocol::encode(forged(p, {"php", "occ", "status"}));
        CHECK(protocol::detail::well_formed(deep));
        CHECK(protocol::detail::well_formed("\x81\x81\x81\x00"sv));
        CHECK_FALSE(protocol::detail::well_formed("\x81\x81\x81\x81\x00"sv));
        CHECK_FALSE(protocol::detail::well_formed(deep.substr(0, deep.size() - 1)));
        CHECK_FALSE(protocol::detail::well_formed(deep + "x"));
        CHECK_FALSE(protocol::detail::well_formed("\x9f\xff"sv)); // an indefinite length
        CHECK_FALSE(protocol::detail::well_formed("\xc0\x00"sv)); // a tag
        CHECK(p.audit().empty());
    }
    SECTION("a session without SSH_USER_AUTH runs nothing and is on record as refused")
    {
        auto req = forged(p, {"php", "occ", "status"});
        req.key.clear();
        const auto reply = ask(p, protocol::encode(req));
        CHECK(reply.status == exit_code::refused);
        CHECK(reply.line.find("no client key on record") != std::string::npos);
        // The validator without the file (sshd without ExposeAuthInfo) is refused the same way.
        const auto r = p.run("nextcloud", "php occ status", {"SSH_USER_AUTH="});
        CHECK(r.exit_code == exit_code::refused);
        CHECK(r.err.find("no client key on record") != std::string::npos);
        const auto audit = p.audit();
        REQUIRE(audit.size() == 2);
        CHECK(audit[1]["decision"] == "refused");
        CHECK_FALSE(audit[1].contains("key_fp")); // no key: no key fields, not empty ones
    }
}

TEST_CASE("the broker's parent refuses without waiting on the peer: idle connections hold nobody")
{
    proxy_env p("np-b", {"--max-children", "1"});
    auto scan = p.spawn("nextcloud", "php occ files:scan -v slow3");
    std::string seen;
    REQUIRE(scan.read_until("photo-1.jpg", 30, seen));
    // Twenty connections that never send: the parent read each one for 2 s
    // before it answered busy, so a request behind them waited 40 s.
    std::vector<int> idle;
    for (int i = 0; i < 20; ++i)
        idle.push_back(connect_to(p.socket("nextcloud")));
    const auto started = std::chrono::steady_clock::now();
    const auto turned_away = p.run("nextcloud", "php occ status");
    const auto waited = std::chrono::steady_clock::now() - started;
    CHECK(turned_away.exit_code == exit_code::busy);
    CHECK(turned_away.err == "nextprism: busy: the proxy's broker serves 1 sessions; try again shortly\n");
    CHECK(waited < std::chrono::seconds(10)); // not a timing: 40 s before, milliseconds now
    // Each idle connection has its answer though it never asked.
    for (const int fd : idle) {
        std::string payload;
        std::vector<int> none;
        protocol::reply reply;
        CHECK((protocol::receive_message(fd, payload, none, std::chrono::seconds(5)) &&
               protocol::decode(payload, reply) && reply.status == exit_code::busy));
        ::close(fd);
    }
    CHECK(scan.wait(60) == 0);
    scan.finish();
}

TEST_CASE("a refusal of the validator is on record through the broker, the validator's line on stderr")
{
    proxy_env p("np-b");
    const auto r = p.run("nextcloud", "php occ maintenance:mode --on");
    CHECK(r.exit_code == exit_code::refused);
    CHECK(r.err.starts_with("nextprism: refused: "));
    const auto audit = p.audit();
    REQUIRE(audit.size() == 1);
    CHECK(audit[0]["decision"] == "refused");
    CHECK(audit[0]["input"] == "php occ maintenance:mode --on");
}

TEST_CASE("per-key cap: one key cannot take every slot")
{
    proxy_env p("np-b", {"--max-per-key", "1", "--max-running", "8"});
    const auto alice = user_auth_for(p.dir, "alice");
    const auto bob = user_auth_for(p.dir, "bob");
    auto first = p.spawn("nextcloud", "php occ files:scan -v slow6", {alice});
    std::string seen;
    REQUIRE(first.read_until("photo-1.jpg", 30, seen));
    const auto same_key = p.run("nextcloud", "php occ status", {alice});
    CHECK(same_key.exit_code == exit_code::busy);
    CHECK(same_key.err ==
          "nextprism: busy: 1 commands running for this key (the proxy's per-key cap); try again shortly\n");
    const auto other_key = p.run("nextcloud", "php occ status", {bob});
    CHECK(other_key.exit_code == 0);
    CHECK(first.wait(60) == 0);
    first.finish();
    CHECK(p.run("nextcloud", "php occ status", {alice}).exit_code == 0); // its slot is free again
}

TEST_CASE("the broker's cap on sessions: busy while it is reached, served again once one ends")
{
    // One place: the spare that takes the scan is not replaced until it ends.
    proxy_env p("np-b", {"--max-children", "1"});
    auto first = p.spawn("nextcloud", "php occ files:scan -v slow3");
    std::string seen;
    REQUIRE(first.read_until("photo-1.jpg", 30, seen));
    const auto turned_away = p.run("nextcloud", "php occ status");
    CHECK(turned_away.exit_code == exit_code::busy);
    CHECK(turned_away.err == "nextprism: busy: the proxy's broker serves 1 sessions; try again shortly\n");
    CHECK(turned_away.out.empty());
    CHECK(first.wait(60) == 0);
    first.finish();
    // A new spare is forked once the child is reaped (at most a second later).
    bool served = false;
    for (int i = 0; i < 40 && !served; ++i) {
        served = p.run("nextcloud", "php occ status").exit_code == 0;
        if (!served)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(served);
    // The two that ran are on record; the busy one was turned away by the
    // broker before any child read it: nothing ran, nothing to record.
    int decisions = 0, finished = 0;
    for (const auto& line : p.audit()) {
        decisions += line["event"] == "decision";
        finished += line["event"] == "finished";
    }
    CHECK(decisions == 2);
    CHECK(finished == 2);
}

TEST_CASE("sequential requests each get a child of their own, forked before they came")
{
    proxy_env p("np-b");
    auto& broker = p.brokers.at("nextcloud");
    std::set<pid_t> children;
    for (int i = 0; i < 3; ++i) {
        CHECK(p.run("nextcloud", "php occ status").exit_code == 0);
        // Once the child that served it has ended, exactly one idle child
        // (the spare) waits for the next connection.
        auto now = children_of(broker.pid);
        for (int wait = 0; wait < 100 && now.size() != 1; ++wait) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            now = children_of(broker.pid);
        }
        CHECK(now.size() == 1);
        children.insert(now.begin(), now.end());
    }
    CHECK(children.size() == 3); // a new spare after every request: no child serves twice
}

TEST_CASE("a killed validator stops the command; the next single-flight command runs")
{
    proxy_env p("np-b");
    auto v = p.spawn("nextcloud", "php occ files:scan -v slow300");
    std::string seen;
    REQUIRE(v.read_until("photo-1.jpg", 30, seen));
    ::kill(v.pid, SIGKILL);
    CHECK(v.wait(10) == -1);
    ::close(v.out);
    ::close(v.err);
    CHECK(p.becomes_idle(p.nextcloud, 10));
    // The lock went when the engine said the exec ended: not busy.
    for (int i = 0; i < 50; ++i) {
        const auto a = p.audit();
        if (!a.empty() && a.back()["event"] == "finished")
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const auto next = p.run("nextcloud", "php occ files:scan alice");
    CHECK(next.exit_code == 0);
    const auto audit = p.audit();
    REQUIRE(audit.size() == 4);
    CHECK(audit[1]["outcome"] == "stopped");
    CHECK(audit[1]["reason"] == "client went away; command stopped");
}

TEST_CASE("a stop that does not work: could_not_stop, its own status, the lock held until it ends")
{
    // A helper image that does not exist: the stop cannot reach the process.
    proxy_env p("np-b", {"--timeout", "2", "--helper-image", "nextprism/no-such-image:none"});
    const auto r = p.run("nextcloud", "php occ files:scan -v slow6");
    CHECK(r.exit_code == exit_code::not_stopped);
    CHECK(r.err.ends_with("the command could not be stopped and may still run in the target "
                          "(single-flight lock held until it ends)\n"));
    // It still runs: a second single-flight command is refused busy.
    const bool still_running = !p.idle(p.nextcloud);
    const auto second = p.run("nextcloud", "php occ files:scan alice");
    if (still_running)
        CHECK(second.exit_code == exit_code::busy);
    // Once it has ended on its own (6 s), the lock is released.
    REQUIRE(p.becomes_idle(p.nextcloud, 30));
    bool released = false;
    for (int i = 0; i < 50 && !released; ++i) {
        for (const auto& j : p.audit())
            released = released || j["event"] == "released";
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    CHECK(released);
    CHECK(p.run("nextcloud", "php occ files:scan alice").exit_code == 0);
    const auto audit = p.audit();
    REQUIRE(audit.size() >= 3);
    CHECK(audit[1]["outcome"] == "could_not_stop");
    CHECK(audit[1]["exit_code"] == exit_code::not_stopped);
}

namespace {

/// Host PIDs of the container's processes whose command line has `marker`.
std::vector<int> pids_of(const scoped_container& c, const std::string& marker)
{
    std::vector<int> pids;
    for (const auto& line : c.processes())
        if (line.find(marker) != std::string::npos)
            pids.push_back(std::atoi(line.c_str() + line.find_first_not_of(' ')));
    return pids;
}

long long now_seconds()
{
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

} // namespace

TEST_CASE("the stop helper's job: the exec's tree stopped through pidfds, after the cgroup and start-time checks")
{
    // What the helper container runs (--stop-tree), here in the host PID
    // namespace as root: an exec whose shell has two children.
    scoped_container c("nextprism/standin-nextcloud:test", "np-tree");
    const auto not_before = now_seconds();
    REQUIRE(docker_cli({"exec", "-d", c.name, "sh", "-c", "sleep 1001 & sleep 1002 & wait"}).exit_code == 0);
    std::vector<int> shell;
    for (int i = 0; i < 50 && (shell.empty() || pids_of(c, "sleep 100").size() < 2); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        shell = pids_of(c, "sh -c sleep 1001");
    }
    REQUIRE(shell.size() == 1);
    REQUIRE(pids_of(c, "sleep 100").size() == 3); // the shell's line has it too

    auto stop_tree = [&](int pid, const std::string& container, long long since) {
        return run_process({NEXTPRISM_BROKER, "--stop-tree", std::to_string(pid), "--container", container,
                            "--not-before", std::to_string(since), "--grace", "1000"},
                           {});
    };
    SECTION("a process of another container is not touched")
    {
        scoped_container other("nextprism/standin-nextcloud:test", "np-tree-other");
        const auto r = stop_tree(shell[0], other.id, not_before);
        CHECK(r.exit_code == 3);
        CHECK(pids_of(c, "sleep 100").size() == 3);
    }
    SECTION("a process that started before the request is not the exec's")
    {
        const auto r = stop_tree(shell[0], c.id, now_seconds() + 60);
        CHECK(r.exit_code == 3);
        CHECK(pids_of(c, "sleep 100").size() == 3);
    }
    SECTION("a process outside any container is not touched")
    {
        auto outside = spawn_process({"/bin/sleep", "1003"}, {});
        const auto r = stop_tree(outside.pid, c.id, not_before);
        CHECK(r.exit_code == 3);
        CHECK(::kill(outside.pid, 0) == 0);
        ::kill(outside.pid, SIGKILL);
        outside.wait(5);
        outside.finish();
    }
    SECTION("the exec's shell and both children stop")
    {
        const auto r = stop_tree(shell[0], c.id, not_before);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(r.err.find("3 process(es)") != std::string::npos);
        CHECK(pids_of(c, "sleep 100").empty());
        const auto left = c.processes();
        CHECK(left.size() == 1); // the container's own init
    }
}

TEST_CASE("no broker listening (the proxy stopping or starting): busy, nothing ran")
{
    proxy_env p("np-b");
    p.stop_brokers();
    const auto r = p.run("nextcloud", "php occ status");
    CHECK(r.exit_code == exit_code::busy);
    CHECK(r.err == "nextprism: busy: the proxy's broker is not running (the proxy is stopping or starting); "
                   "try again shortly\n");
    CHECK(r.out.empty());
}

TEST_CASE("SIGTERM drains the broker: what runs finishes, new requests are busy, then it exits")
{
    proxy_env p("np-b");
    auto v = p.spawn("nextcloud", "php occ files:scan -v slow3");
    std::string seen;
    REQUIRE(v.read_until("photo-1.jpg", 30, seen));
    auto& broker = p.brokers.at("nextcloud");
    ::kill(broker.pid, SIGTERM);
    std::string log;
    REQUIRE(broker.read_until("stopping: 1 command(s) running", 10, log, true));
    const auto turned_away = p.run("nextcloud", "php occ status");
    CHECK(turned_away.exit_code == exit_code::busy);
    CHECK(turned_away.err == "nextprism: busy: the proxy is stopping; try again shortly\n");
    CHECK(v.read_until("photo-3.jpg", 30, seen)); // all of its output
    CHECK(v.wait(30) == 0);
    v.finish();
    CHECK(broker.wait(10) == 0); // exits by itself once nothing runs
}

TEST_CASE("a drain that times out stops what still runs, and says why")
{
    proxy_env p("np-b", {"--drain-timeout", "1"});
    auto v = p.spawn("nextcloud", "php occ files:scan -v slow300");
    std::string seen;
    REQUIRE(v.read_until("photo-1.jpg", 30, seen));
    auto& broker = p.brokers.at("nextcloud");
    ::kill(broker.pid, SIGTERM);
    CHECK(v.wait(30) == exit_code::timeout);
    const auto err = v.finish();
    CHECK(err.ends_with("nextprism: error: the proxy is stopping; command stopped\n"));
    CHECK(p.becomes_idle(p.nextcloud, 10)); // stopped in the target
    CHECK(broker.wait(10) == 0);
    bool recorded = false;
    for (const auto& line : p.audit())
        recorded |= line["event"] == "finished" && line["outcome"] == "stopped" &&
                    line["reason"] == "the proxy is stopping; command stopped";
    CHECK(recorded);
}
