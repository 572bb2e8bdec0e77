// The floor: the least a client can do per command over libssh2, written
// without Asio or any pool, to measure nextprism's pools against.
//
// k = 1: one blocking session, TCP_NODELAY set before the handshake, one
// channel per command (open, exec, read stdout and stderr to EOF, close,
// exit status). k > 1: k channels in flight over ceil(k / 7) non-blocking
// sessions, driven by one poll() loop; each session has at most one
// channel open pending (a libssh2 1.10 rule) and at most 7 channels, one
// below the proxy's MaxSessions 8. burst = 1: all n commands are launched
// at time 0 (latency counted from there), k is then only the slot count.
//
// Every connection is made, authenticated and warmed with one untimed
// command before the timing starts (sshd's first channel on a connection
// waits ~40 ms behind its host-key notice, see DESIGN.md), as the pool does.
//
// Environment: NEXTPRISM_SSHD_DIR (client_ed25519 inside), NEXTPRISM_SSHD_PORT,
// NEXTPRISM_BENCH_COMMAND (default: the files:scan the other rows run).
#include "support.hpp"

#include <benchmark/benchmark.h>
#include <libssh2.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

using bench::env;

std::string command_text()
{
    return env("NEXTPRISM_BENCH_COMMAND", "php occ files:scan '--path=/alice/files/My Photos'");
}

struct connection
{
    int fd = -1;
    LIBSSH2_SESSION* session = nullptr;

    connection()
    {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); // before the handshake
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(env("NEXTPRISM_SSHD_PORT"))));
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            throw std::runtime_error("connect failed");
        session = libssh2_session_init();
        libssh2_session_set_blocking(session, 1);
        if (libssh2_session_handshake(session, fd) != 0)
            throw std::runtime_error("handshake failed");
        const auto key = env("NEXTPRISM_SSHD_DIR") + "/client_ed25519";
        if (libssh2_userauth_publickey_fromfile(session, "nextprism", (key + ".pub").c_str(), key.c_str(), "") != 0)
            throw std::runtime_error("authentication failed");
    }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection()
    {
        libssh2_session_set_blocking(session, 1);
        libssh2_session_disconnect(session, "bye");
        libssh2_session_free(session);
        ::close(fd);
    }
};

/// One command, blocking. Returns the exit status, -1 on a libssh2 error.
int run_blocking(LIBSSH2_SESSION* s, const std::string& cmd)
{
    LIBSSH2_CHANNEL* ch = libssh2_channel_open_session(s);
    if (!ch)
        return -1;
    if (libssh2_channel_exec(ch, cmd.c_str()) != 0) {
        libssh2_channel_free(ch);
        return -1;
    }
    char buf[16384];
    while (libssh2_channel_read(ch, buf, sizeof buf) > 0) {
    }
    while (libssh2_channel_read_stderr(ch, buf, sizeof buf) > 0) {
    }
    libssh2_channel_close(ch);
    libssh2_channel_wait_closed(ch);
    const int status = libssh2_channel_get_exit_status(ch);
    libssh2_channel_free(ch);
    return status;
}

void init_once()
{
    static const int rc = libssh2_init(0);
    (void)rc;
}

void blocking(benchmark::State& state)
{
    init_once();
    const auto cmd = command_text();
    connection c;
    bench::one_at_a_time(state, static_cast<int>(state.range(1)), 1,
                         [&] { return run_blocking(c.session, cmd) == 0; });
}

/// Args conns: the floor of the pools' memory rows (ssh_transport.cpp's
/// pooled_memory): conns bare libssh2 sessions, one command run on each.
void memory(benchmark::State& state)
{
    init_once();
    const int conns = static_cast<int>(state.range(0));
    const auto cmd = command_text();
    const bench::memory_probe probe;
    std::vector<std::unique_ptr<connection>> kept;
    int failed = 0;
    for (auto _ : state) {
        for (int i = 0; i < conns; ++i) {
            kept.push_back(std::make_unique<connection>());
            failed += run_blocking(kept.back()->session, cmd) != 0;
        }
    }
    probe.publish(state, conns, failed);
}

// ---- k > 1: a non-blocking state machine per channel slot.

enum class step { idle, opening, exec, read_out, read_err, closing, wait_closed };

struct slot
{
    std::size_t session = 0;
    step st = step::idle;
    LIBSSH2_CHANNEL* ch = nullptr;
    clock_type::time_point started;
};

struct multi_state
{
    std::vector<std::unique_ptr<connection>> conns;
    std::vector<int> opening; // per session: index of the slot whose open is pending, -1 none
    std::vector<slot> slots;
};

/// Advances one slot as far as it goes without blocking. True if it moved.
bool advance(multi_state& m, std::size_t i, const std::string& cmd, bench::recorder& rec, int& remaining,
             int& launched, int n, bool burst, clock_type::time_point t_burst)
{
    slot& s = m.slots[i];
    LIBSSH2_SESSION* session = m.conns[s.session]->session;
    char buf[16384];
    bool moved = false;
    for (;;) {
        switch (s.st) {
        case step::idle:
            if (launched >= n || m.opening[s.session] != -1)
                return moved;
            ++launched;
            s.started = burst ? t_burst : clock_type::now();
            m.opening[s.session] = static_cast<int>(i);
            s.st = step::opening;
            moved = true;
            break;
        case step::opening:
            s.ch = libssh2_channel_open_session(session);
            if (!s.ch) {
                if (libssh2_session_last_errno(session) == LIBSSH2_ERROR_EAGAIN)
                    return moved;
                rec.finish(s.started, false);
                --remaining;
                m.opening[s.session] = -1;
                s.st = step::idle;
                return true;
            }
            m.opening[s.session] = -1;
            s.st = step::exec;
            moved = true;
            break;
        case step::exec: {
            const int rc = libssh2_channel_exec(s.ch, cmd.c_str());
            if (rc == LIBSSH2_ERROR_EAGAIN)
                return moved;
            s.st = rc == 0 ? step::read_out : step::closing;
            moved = true;
            break;
        }
        case step::read_out: {
            const auto r = libssh2_channel_read(s.ch, buf, sizeof buf);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return moved;
            moved = true;
            if (r <= 0)
                s.st = step::read_err;
            break;
        }
        case step::read_err: {
            const auto r = libssh2_channel_read_stderr(s.ch, buf, sizeof buf);
            if (r == LIBSSH2_ERROR_EAGAIN)
                return moved;
            moved = true;
            if (r <= 0)
                s.st = step::closing;
            break;
        }
        case step::closing: {
            const int rc = libssh2_channel_close(s.ch);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                return moved;
            s.st = step::wait_closed;
            moved = true;
            break;
        }
        case step::wait_closed: {
            const int rc = libssh2_channel_wait_closed(s.ch);
            if (rc == LIBSSH2_ERROR_EAGAIN)
                return moved;
            const int status = libssh2_channel_get_exit_status(s.ch);
            libssh2_channel_free(s.ch); // EAGAIN is not possible here once closed
            s.ch = nullptr;
            rec.finish(s.started, status == 0);
            --remaining;
            s.st = step::idle;
            moved = true;
            break;
        }
        }
    }
}

void run_multi(multi_state& m, const std::string& cmd, bench::recorder& rec, int n, bool burst)
{
    int remaining = n, launched = 0;
    const auto t_burst = clock_type::now();
    std::vector<pollfd> fds(m.conns.size());
    while (remaining > 0) {
        bool moved = true;
        while (moved && remaining > 0) {
            moved = false;
            for (std::size_t i = 0; i < m.slots.size(); ++i)
                moved |= advance(m, i, cmd, rec, remaining, launched, n, burst, t_burst);
        }
        if (remaining == 0)
            break;
        for (std::size_t c = 0; c < m.conns.size(); ++c) {
            const int dirs = libssh2_session_block_directions(m.conns[c]->session);
            fds[c].fd = m.conns[c]->fd;
            fds[c].events = static_cast<short>(POLLIN | ((dirs & LIBSSH2_SESSION_BLOCK_OUTBOUND) ? POLLOUT : 0));
            fds[c].revents = 0;
        }
        ::poll(fds.data(), fds.size(), 1000);
    }
}

void multi(benchmark::State& state)
{
    init_once();
    const int k = static_cast<int>(state.range(0));
    const int n = static_cast<int>(state.range(1));
    const bool burst = state.range(2) != 0;
    const auto cmd = command_text();
    multi_state m;
    const int sessions = (k + 6) / 7;
    for (int c = 0; c < sessions; ++c) {
        m.conns.push_back(std::make_unique<connection>());
        if (run_blocking(m.conns.back()->session, cmd) != 0) { // warm, untimed
            state.SkipWithError("warm-up command failed");
            return;
        }
        libssh2_session_set_blocking(m.conns.back()->session, 0);
    }
    m.opening.assign(m.conns.size(), -1);
    m.slots.resize(static_cast<std::size_t>(k));
    for (int i = 0; i < k; ++i)
        m.slots[static_cast<std::size_t>(i)].session = static_cast<std::size_t>(i % sessions);
    bench::recorder rec(n);
    for (auto _ : state) {
        rec.start();
        run_multi(m, cmd, rec, n, burst);
        rec.stop();
    }
    rec.publish(state, sessions);
}

} // namespace

// Args: k (commands in flight), n (commands timed), burst.
BENCHMARK(blocking)->ArgNames({"k", "n", "burst"})->Args({1, 300, 0})->Args({1, 100, 0})->Args({1, 2, 0})
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(memory)->ArgName("conns")->Arg(1)->Arg(8)->Arg(32)->Arg(2)
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(multi)->ArgNames({"k", "n", "burst"})
    ->Args({8, 800, 0})->Args({32, 1000, 0})->Args({128, 1000, 0})->Args({35, 1000, 1})->Args({2, 4, 0})
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
