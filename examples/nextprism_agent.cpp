// nextprism-agent: the executor over HTTP, for an app in any language.
//
//   nextprism-agent [--config FILE] [--listen ADDR:PORT|off] [--socket PATH] [--token-file FILE] [--via auto|direct|proxy]
//                   [--max-runs-per-caller N] [--drain-timeout DUR]
//
//   POST   /v1/exec           {"service", "argv", "timeout"?, "detect_failures"?}: NDJSON events
//                             accepted, stdout, stderr, progress, finished (run_summary)
//   GET    /v1/runs           runs in flight, then the last finished ones (a bounded ring)
//   GET    /v1/runs/{id}      one of them
//   DELETE /v1/runs/{id}      stops it in the target (202); its stream ends with outcome cancelled
//   GET    /admin/proxy-stats executor counters, endpoint health, pools, discovery cache (JSON)
//   GET    /metrics           the same, in Prometheus' text format
//   GET    /healthz           the process answers; GET /readyz: every whitelisted service has a route
//   GET    /                  a status page (admin_view.hpp's facts, refreshed every 2 s)
//
// One io_context thread owns everything (the executor, the runs, the
// sessions). A client that goes away cancels its run, as DELETE does: the
// executor stops the command in the target. Without a token the agent
// listens on loopback only; with one, every path but /healthz, /readyz
// and the page at / (no data in it) wants "Authorization: Bearer TOKEN"
// (the file is read once, never logged;
// each token has a name, callers.hpp). The log is JSON lines on stderr,
// one per event, with the audit fields: who, from where, what, where it
// ran, how it ended.
#include "agent/admin_view.hpp"
#include "agent/callers.hpp"
#include "agent/http_session.hpp"
#include "agent/run_registry.hpp"
#include "agent/status_page.hpp"

#include <nextprism/tools/assembly.hpp>
#include <nextprism/tools/command_line.hpp>
#include <nextprism/tools/outcome.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <cerrno>
#include <ctime>
#include <iostream>

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace nextprism;
namespace tools = nextprism::tools;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using unix_socket = net::local::stream_protocol;
namespace av = nextprism::agent;

namespace {

/// What the agent's limits are, decided once from the command line.
struct agent_limits
{
    std::size_t keep_runs = 200;
    std::size_t max_connections = 256;
    std::size_t max_runs_per_caller = 32;
    std::chrono::milliseconds drain_timeout{30'000};
};

struct agent_options
{
    std::string config, listen = "127.0.0.1:8087", socket, token_file;
    tools::via via = tools::via::automatic;
    agent_limits limits;
};

/// Now, as the log writes it: 2026-12-07T15:20:01.123Z.
std::string utc_now()
{
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[40];
    const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms));
    return text;
}

/// POST /v1/exec's body, checked; `error` says what is wrong with it.
struct exec_body
{
    command_request request;
    std::string error;
};

exec_body parse_exec_body(const std::string& body)
{
    exec_body b;
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return {{}, "the body is not a JSON object"};
    for (const auto& [k, v] : j.items())
        if (k != "service" && k != "argv" && k != "timeout" && k != "detect_failures")
            return {{}, "unknown key: " + k};
    if (!j.contains("service") || !j["service"].is_string())
        return {{}, "service: a string is required"};
    if (!j.contains("argv") || !j["argv"].is_array() || j["argv"].empty())
        return {{}, "argv: a non-empty array of strings is required"};
    b.request.service = j["service"];
    for (const auto& a : j["argv"]) {
        if (!a.is_string())
            return {{}, "argv: every element must be a string"};
        b.request.argv.push_back(a);
    }
    // Without "timeout": the configuration's for the command's rule (the executor decides).
    if (j.contains("timeout")) {
        const auto& t = j["timeout"];
        std::optional<std::chrono::milliseconds> d;
        if (t.is_string())
            d = tools::parse_duration(t.get<std::string>(), std::chrono::hours(24 * 7));
        if (!d)
            return {{}, "timeout: a duration such as \"30s\" or \"4h\" (at most a week)"};
        b.request.timeout = *d;
    }
    if (j.contains("detect_failures")) {
        if (!j["detect_failures"].is_boolean())
            return {{}, "detect_failures: true or false"};
        b.request.detect_failures = j["detect_failures"];
    }
    return b;
}

template<class Executor>
class http_agent
{
public:
    http_agent(net::io_context& io, Executor& e, std::shared_ptr<const whitelist> rules, av::caller_list callers,
               agent_limits limits)
        : io_(io), executor_(e), whitelist_(std::move(rules)), callers_(std::move(callers)), limits_(limits),
          runs_(limits.keep_runs), acceptor_(io), unix_acceptor_(io), accept_pause_(io)
    {
    }

    Executor& executor() { return executor_; }
    av::run_registry& runs() { return runs_; }
    const av::caller_list& callers() const { return callers_; }

    ~http_agent()
    {
        if (!socket_path_.empty())
            ::unlink(socket_path_.c_str());
    }

    void listen(const tcp::endpoint& at)
    {
        acceptor_.open(at.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(at);
        acceptor_.listen();
        accept(acceptor_);
    }

    /** Listens on a unix socket at `path`, mode 0660: who may call is who
        may open it (its owner and group). A socket left by an agent that
        died is replaced; anything else there is an error. Until the chmod
        the umask's mode (0755 at most) lets no one but the owner connect. */
    void listen_unix(const std::string& path)
    {
        struct stat st{};
        if (::lstat(path.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode))
                throw boost::system::system_error(make_error_code(boost::system::errc::file_exists), path);
            ::unlink(path.c_str());
        }
        unix_acceptor_.open();
        unix_acceptor_.bind(unix_socket::endpoint(path));
        socket_path_ = path;
        if (::chmod(path.c_str(), 0660) != 0)
            throw boost::system::system_error(error_code(errno, boost::system::system_category()), "chmod " + path);
        unix_acceptor_.listen();
        accept(unix_acceptor_);
    }

    /// The first step of a stop: no new connection is accepted (runs in
    /// flight go on, and their sessions stream).
    void stop_accepting()
    {
        error_code ignored;
        acceptor_.close(ignored);
        unix_acceptor_.close(ignored);
        accept_pause_.cancel();
    }

    /// The last step: every run still in flight is asked to stop (the
    /// executor stops its command in the target).
    void cancel_runs(const std::string& why)
    {
        runs_.for_each_active([&why](av::run_record& r) { r.request_cancel(why); });
    }

    /// One JSON line on stderr: time, event, then `fields` (never a token;
    /// neither "time" nor "event" among them). The text is spliced, not a
    /// merged copy of `fields`: a run's record is its largest object.
    void log(std::string_view event, const nlohmann::ordered_json& fields = nlohmann::ordered_json::object())
    {
        auto line = av::json_with_head("\"time\":\"" + utc_now() + "\",\"event\":" +
                                           av::json_text(nlohmann::ordered_json(event)),
                                       fields);
        line += '\n';
        // One write(2), as std::cerr (unbuffered) made it, without the stream.
        for (std::string_view rest = line; !rest.empty();) {
            const auto n = ::write(STDERR_FILENO, rest.data(), rest.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    }

    template<class Session>
    void route(const std::shared_ptr<Session>& s)
    {
        const auto& req = s->request();
        const std::string target(req.target());
        const std::string path = target.substr(0, target.find('?'));
        const auto method = req.method();
        if (path == "/healthz")
            return s->respond(http::status::ok, "text/plain", "ok\n");
        if (path == "/readyz")
            return ready(s);
        // The page itself holds no data (it fetches with the token from the
        // address's fragment, which a browser never sends): a browser's
        // first request has no bearer header to give.
        if (path == "/" && method == http::verb::get)
            return s->respond(http::status::ok, "text/html; charset=utf-8", av::status_page);
        const auto caller = callers_.empty() ? std::optional<std::string>(av::caller_list::local_caller)
                                             : callers_.identify(bearer(req));
        if (!caller) {
            log("unauthorized", {{"peer", s->peer()}, {"method", std::string(req.method_string())}, {"path", path}});
            return s->respond_error(http::status::unauthorized, "a bearer token is required");
        }
        if (path == "/metrics" && method == http::verb::get)
            return s->respond(http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                              av::prometheus_text(stats(), runs_));
        if (path == "/admin/proxy-stats" && method == http::verb::get)
            return s->respond_json(http::status::ok, stats());
        if (path == "/v1/exec")
            return method == http::verb::post ? exec(s, *caller)
                                              : s->respond_error(http::status::method_not_allowed, "POST");
        if (path == "/v1/runs" && method == http::verb::get)
            return s->respond_json(http::status::ok, runs_.list());
        if (path.starts_with("/v1/runs/")) {
            const auto id = tools::parse_number<std::uint64_t>(std::string_view(path).substr(9));
            const auto run = id ? runs_.find(*id) : nullptr;
            if (!run)
                return s->respond_error(http::status::not_found, "no such run");
            if (method == http::verb::get)
                return s->respond_json(http::status::ok, run->to_json());
            if (method == http::verb::delete_) {
                if (run->finished())
                    return s->respond_json(http::status::conflict, run->to_json());
                run->request_cancel("DELETE");
                log("cancel_requested", {{"id", std::to_string(run->id)}, {"caller", *caller}, {"peer", s->peer()}});
                return s->respond_json(http::status::accepted, run->to_json());
            }
            return s->respond_error(http::status::method_not_allowed, "GET or DELETE");
        }
        s->respond_error(http::status::not_found, "no such path: " + path);
    }

private:
    static std::string bearer(const http::request<http::string_body>& req)
    {
        const auto h = req[http::field::authorization];
        constexpr std::string_view scheme = "Bearer ";
        return h.starts_with(scheme) ? std::string(h.substr(scheme.size())) : std::string();
    }

    template<class Session>
    void exec(const std::shared_ptr<Session>& s, const std::string& caller)
    {
        auto body = parse_exec_body(s->request().body());
        if (!body.error.empty()) {
            log("bad_request", {{"caller", caller}, {"peer", s->peer()}, {"detail", body.error}});
            return s->respond_error(http::status::bad_request, "invalid exec request", body.error);
        }
        // A refusal is an answer, not a run: 403 with the rule, nothing sent anywhere.
        const auto d = whitelist_->check(body.request.service, body.request.argv);
        if (!d) {
            runs_.record_refusal();
            const std::string why = d.reason.empty() ? d.ec.message() : d.reason;
            log("refused", {{"caller", caller}, {"peer", s->peer()}, {"service", body.request.service},
                            {"argv", body.request.argv}, {"detail", why}});
            return s->respond_json(http::status::forbidden, {{"error", why},
                                                             {"outcome", "refused"},
                                                             {"status", tools::tool_exit::refused},
                                                             {"message", why}});
        }
        // One caller cannot take every slot of the targets' proxies.
        if (const auto mine = runs_.in_flight_for(caller); mine >= limits_.max_runs_per_caller) {
            runs_.record_over_cap();
            log("over_caller_cap", {{"caller", caller}, {"peer", s->peer()}, {"in_flight", mine}});
            return s->respond_error(http::status::too_many_requests, "too many runs in flight",
                                    "caller " + caller + " has " + std::to_string(mine) + " of its " +
                                        std::to_string(limits_.max_runs_per_caller) + " (--max-runs-per-caller)",
                                    "1");
        }
        auto run = runs_.begin({caller, s->peer(), body.request.service, d.command.rule, body.request.argv});
        s->stream_run(std::move(run), std::move(body.request));
    }

    /// 200 when every whitelisted service has somewhere to run: a proxy, or
    /// the target on this node; 503 with what each met otherwise.
    template<class Session>
    void ready(const std::shared_ptr<Session>& s)
    {
        struct pending
        {
            std::size_t left;
            bool ok = true;
            nlohmann::ordered_json services = nlohmann::ordered_json::object();
        };
        const auto& services = whitelist_->services();
        if (services.empty())
            return s->respond_json(http::status::service_unavailable, {{"ready", false}, {"services", {}}});
        auto p = std::make_shared<pending>(pending{services.size()});
        for (const auto& svc : services) {
            executor_.discovery().async_locate(svc.name, [s, p, name = svc.name](error_code ec, placement pl) {
                const bool routed = !ec && (!pl.proxies.empty() || pl.target_local == true);
                p->ok = p->ok && routed;
                p->services[name] = ec ? ec.message() : routed ? "ok" : "no proxy and not on this node";
                if (--p->left == 0)
                    s->respond_json(p->ok ? http::status::ok : http::status::service_unavailable,
                                    {{"ready", p->ok}, {"services", p->services}});
            });
        }
    }

    template<class Acceptor>
    void accept(Acceptor& acceptor)
    {
        using protocol = typename Acceptor::protocol_type;
        acceptor.async_accept([this, &acceptor](error_code ec, typename protocol::socket sock) {
            if (ec == net::error::operation_aborted || !acceptor.is_open())
                return; // shut down
            if (ec) {
                // Out of descriptors (EMFILE) or memory: accepting again at
                // once would spin; a pause lets connections end first.
                log("accept_failed", {{"error", ec.message()}});
                accept_pause_.expires_after(std::chrono::milliseconds(200));
                return accept_pause_.async_wait([this, &acceptor](error_code e) {
                    if (!e && acceptor.is_open())
                        accept(acceptor);
                });
            }
            if (*open_ >= limits_.max_connections)
                refuse_busy(std::move(sock));
            else
                std::make_shared<av::session<http_agent, protocol>>(std::move(sock), *this, open_)->start();
            accept(acceptor);
        });
    }

    /// At --max-connections: a 503 written once, then a lingering close:
    /// the request is read and dropped (at most 64 KiB, 1 s) so that the
    /// close sends no reset that could destroy the answer before the client
    /// reads it. A slow peer cannot hold it: 5 s for the write, 1 s after.
    template<class Socket>
    void refuse_busy(Socket sock)
    {
        ++refused_;
        static constexpr std::string_view answer =
            "HTTP/1.1 503 Service Unavailable\r\nServer: nextprism-agent\r\nRetry-After: 1\r\n"
            "Content-Type: application/json\r\nContent-Length: 56\r\nConnection: close\r\n\r\n"
            "{\"error\":\"the agent serves its maximum of connections\"}\n";
        struct lingering
        {
            beast::basic_stream<typename Socket::protocol_type> stream;
            std::array<char, 4096> sink{};
            std::size_t drained = 0;

            void drain(const std::shared_ptr<lingering>& self)
            {
                stream.async_read_some(net::buffer(sink), [self](beast::error_code ec, std::size_t n) {
                    self->drained += n;
                    if (!ec && self->drained < 64 * 1024)
                        return self->drain(self);
                    beast::error_code ignored;
                    self->stream.socket().close(ignored);
                });
            }
        };
        auto l = std::make_shared<lingering>(lingering{decltype(lingering::stream)(std::move(sock))});
        l->stream.expires_after(std::chrono::seconds(5));
        net::async_write(l->stream, net::buffer(answer), [l](beast::error_code ec, std::size_t) {
            beast::error_code ignored;
            if (ec)
                return l->stream.socket().close(ignored);
            l->stream.socket().shutdown(net::socket_base::shutdown_send, ignored);
            l->stream.expires_after(std::chrono::seconds(1));
            l->drain(l);
        });
    }

    nlohmann::ordered_json stats()
    {
        auto j = av::proxy_stats(executor_, runs_);
        j["connections"] = {{"open", *open_}, {"max", limits_.max_connections}, {"refused", refused_}};
        j["callers"] = {{"tokens", callers_.size()}, {"max_runs_per_caller", limits_.max_runs_per_caller}};
        return j;
    }

    net::io_context& io_;
    Executor& executor_;
    std::shared_ptr<const whitelist> whitelist_;
    av::caller_list callers_;
    agent_limits limits_;
    av::run_registry runs_;
    std::shared_ptr<std::size_t> open_ = std::make_shared<std::size_t>(0);
    std::uint64_t refused_ = 0;
    tcp::acceptor acceptor_;
    unix_socket::acceptor unix_acceptor_;
    std::string socket_path_; // unlinked when the agent goes
    net::steady_timer accept_pause_;
};

/** Runs the loop until a stop has drained: SIGTERM or SIGINT stops the
    accepting, lets runs in flight go on for `drain_timeout`, then stops
    those left in their targets (a second signal: at once) and returns once
    none is in flight (idle keep-alive connections do not hold it up). */
template<class Agent>
void serve_until_stopped(net::io_context& io, Agent& a, std::chrono::milliseconds drain_timeout)
{
    net::signal_set signals(io, SIGINT, SIGTERM);
    net::steady_timer poll(io);
    std::optional<std::chrono::steady_clock::time_point> stopping_since; // the first signal's time
    bool cancelled = false;
    std::function<void()> stop_when_drained = [&] {
        poll.expires_after(std::chrono::milliseconds(200));
        poll.async_wait([&](error_code ec) {
            if (ec)
                return;
            if (a.runs().in_flight() == 0)
                return io.stop(); // their last events were written in the 200 ms before
            if (!cancelled && std::chrono::steady_clock::now() - *stopping_since >= drain_timeout) {
                cancelled = true;
                a.log("drain_timeout", {{"in_flight", a.runs().in_flight()}});
                a.cancel_runs("agent stopping");
            }
            stop_when_drained();
        });
    };
    std::function<void()> on_signal = [&] {
        signals.async_wait([&](error_code ec, int signo) {
            if (ec)
                return;
            if (!stopping_since) {
                stopping_since = std::chrono::steady_clock::now();
                a.log("stopping", {{"signal", signo}, {"in_flight", a.runs().in_flight()},
                                   {"drain_timeout_ms", drain_timeout.count()}});
                a.stop_accepting();
                stop_when_drained();
            } else if (!cancelled) {
                cancelled = true;
                a.log("stopping_now", {{"in_flight", a.runs().in_flight()}});
                a.cancel_runs("agent stopping");
            }
            on_signal();
        });
    };
    on_signal();
    io.run();
}

} // namespace

int main(int argc, char** argv)
{
    // Before libssh2_init: SSH needs neither OpenSSL's error strings (every
    // module's, ~250 KB of pages touched) nor its configuration file (for
    // TLS; the default provider loads without it), unless OPENSSL_CONF
    // names one on purpose.
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS |
                            (std::getenv("OPENSSL_CONF") ? 0 : OPENSSL_INIT_NO_LOAD_CONFIG),
                        nullptr);
    agent_options o;
    tools::command_line cli({
        .program = "nextprism-agent",
        .synopsis = "[OPTIONS]",
        .summary = "Serves the Swarm-aware executor over HTTP: POST /v1/exec streams a run's events as\n"
                   "NDJSON; /v1/runs, /admin/proxy-stats, /metrics, /healthz, /readyz, a status page at /.",
        .exits = {{"0", "stopped by SIGINT or SIGTERM (runs in flight finished, or were stopped after the drain)"},
                  {"64", "usage"},
                  {"69", "cannot listen on the address"},
                  {"78", "the configuration, the whitelist or the token file is wrong"}},
        .notes = "Without --token-file it listens on loopback (and --socket) only. The API: docs/agent.md.",
        .operands_allowed = false,
    });
    cli.option("--config", "FILE", "the executor configuration (JSON); default: built-in defaults", o.config,
               "NEXTPRISM_CONFIG")
        .option("--listen", "ADDR:PORT", "where to listen on TCP (default 127.0.0.1:8087; off: only --socket)", o.listen,
                "NEXTPRISM_AGENT_LISTEN")
        .option("--socket", "PATH", "also listen on a unix socket, mode 0660 (its group may call)", o.socket,
                "NEXTPRISM_AGENT_SOCKET")
        .option("--token-file", "FILE", "the callers: one 'NAME TOKEN' (or 'TOKEN') per line; a client sends its TOKEN",
                o.token_file, "NEXTPRISM_AGENT_TOKEN_FILE")
        .option("--via", "ROUTE", "auto (default), direct or proxy",
                [&](std::string_view v) { return tools::parse_via(v, o.via); })
        .number("--keep-runs", "N", "finished runs GET /v1/runs keeps (default 200)", o.limits.keep_runs,
                std::size_t{1}, std::size_t{100000})
        .number("--max-connections", "N", "HTTP connections served at once, runs included; more get 503 (default 256)",
                o.limits.max_connections, std::size_t{1}, std::size_t{65536})
        .number("--max-runs-per-caller", "N", "runs one caller (token) may have in flight; more get 429 (default 32)",
                o.limits.max_runs_per_caller, std::size_t{1}, std::size_t{65536})
        .duration("--drain-timeout", "DUR", "on SIGTERM, how long runs in flight may go on before they are stopped "
                  "(default 30s)", o.limits.drain_timeout, std::chrono::hours(24));
    cli.parse(argc, argv);
    try {
        const bool on_tcp = o.listen != "off";
        if (!on_tcp && o.socket.empty())
            cli.usage_error("--listen off needs --socket PATH");
        const auto listen = on_tcp ? tools::parse_host_port(o.listen) : std::optional<tools::host_port>{};
        error_code aec;
        const auto address = listen ? net::ip::make_address(listen->host, aec) : net::ip::address{};
        if (on_tcp && (!listen || aec))
            cli.usage_error("--listen: ADDR:PORT with a numeric address, or off");
        auto callers = o.token_file.empty() ? av::caller_list{} : av::caller_list::from_file(o.token_file);
        if (callers.empty() && on_tcp && !address.is_loopback())
            throw tools::config_error("--listen " + o.listen + ": an address other than loopback needs --token-file");
        const auto config = tools::load_config(o.config);
        const auto rules = tools::load_whitelist(config.whitelist_file);
        net::io_context io;
        return tools::with_executor(config, rules, io.get_executor(), o.via, [&](auto& executor) {
            http_agent<std::remove_cvref_t<decltype(executor)>> a(io, executor, rules, callers, o.limits);
            try {
                if (on_tcp)
                    a.listen({address, listen->port});
                if (!o.socket.empty())
                    a.listen_unix(o.socket);
            } catch (const boost::system::system_error& e) {
                a.log("cannot_listen", {{"listen", o.listen}, {"socket", o.socket}, {"error", e.what()}});
                return tools::exit_status::unavailable;
            }
            a.log("listening", {{"listen", o.listen}, {"socket", o.socket}, {"tokens", a.callers().size()}});
            serve_until_stopped(io, a, o.limits.drain_timeout);
            return 0;
        });
    } catch (const tools::config_error& e) {
        std::cerr << "nextprism-agent: configuration: " << e.what() << "\n";
        return tools::exit_status::config;
    }
}
