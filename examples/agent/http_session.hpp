#ifndef NEXTPRISM_EXAMPLES_AGENT_HTTP_SESSION_HPP
#define NEXTPRISM_EXAMPLES_AGENT_HTTP_SESSION_HPP

// One HTTP connection of the agent, over TCP or the unix socket: reads
// requests, hands each to the agent's route(), writes plain answers, and
// streams a run's events as chunked NDJSON. `Agent` gives executor(),
// runs(), log() and route(session); the session holds the run it streams
// and nothing of the agent's.

#include "run_registry.hpp"

#include <nextprism/tools/outcome.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <sstream>
#include <vector>

#include <sys/socket.h>

namespace nextprism::agent {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t max_body = 64 * 1024;
constexpr std::size_t max_queued = 16 * 1024 * 1024; // a client that reads slower than this falls behind: its run stops
constexpr auto progress_every = std::chrono::milliseconds(250);

/// JSON as the agent writes it: one line, invalid UTF-8 replaced.
inline std::string json_text(const nlohmann::ordered_json& j)
{
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// `{HEAD, …object's members}` as text: `head` (members already written,
/// e.g. `"event":"finished"`) before those of `object`, none of whose keys
/// it repeats. What a merged copy would print, without the copy.
inline std::string json_with_head(std::string head, const nlohmann::ordered_json& object)
{
    std::string text = "{" + std::move(head);
    if (object.is_object() && !object.empty()) {
        const auto rest = json_text(object); // "{…}"
        text += ',';
        text.append(rest, 1);
    } else {
        text += '}';
    }
    return text;
}

/// Who is at the other end, for the log: "127.0.0.1:40312".
inline std::string describe_peer(const net::ip::tcp::socket& s)
{
    error_code ec;
    const auto remote = s.remote_endpoint(ec);
    return ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
}

/// On the unix socket the kernel says who: "unix:uid=1000,pid=4242".
inline std::string describe_peer(net::local::stream_protocol::socket& s) // native_handle() is not const
{
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(s.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return "unix:?";
    return "unix:uid=" + std::to_string(cred.uid) + ",pid=" + std::to_string(cred.pid);
}

/** One HTTP connection, over TCP or the unix socket (`Protocol`): requests
    one after another (keep-alive), except that POST /v1/exec streams its
    events and then closes. */
template<class Agent, class Protocol>
class session : public std::enable_shared_from_this<session<Agent, Protocol>>
{
public:
    session(typename Protocol::socket s, Agent& a, std::shared_ptr<std::size_t> open)
        : stream_(std::move(s)), agent_(a), peer_(describe_peer(stream_.socket())), open_(std::move(open))
    {
        ++*open_;
    }
    ~session() { --*open_; }

    void start() { read_request(); }

    // ---- plain responses -------------------------------------------------------------

    void respond(http::status status, std::string type, std::string body, std::string_view retry_after = {})
    {
        auto res = std::make_shared<http::response<http::string_body>>(status, request_.version());
        res->set(http::field::server, "nextprism-agent");
        if (!retry_after.empty())
            res->set(http::field::retry_after, retry_after);
        res->set(http::field::content_type, type);
        res->set(http::field::cache_control, "no-store");
        res->keep_alive(request_.keep_alive());
        res->body() = std::move(body);
        res->prepare_payload();
        http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, std::size_t) {
            if (ec || !res->keep_alive())
                return self->close();
            self->read_request();
        });
    }

    void respond_json(http::status status, const nlohmann::ordered_json& j)
    {
        respond(status, "application/json", json_text(j) + "\n");
    }

    /// `{"error": …, "detail": …}`; `retry_after` (seconds) for 429 and 503.
    void respond_error(http::status status, std::string message, std::string detail = {},
                       std::string_view retry_after = {})
    {
        nlohmann::ordered_json j{{"error", std::move(message)}};
        if (!detail.empty())
            j["detail"] = std::move(detail);
        respond(status, "application/json", json_text(j) + "\n", retry_after);
    }

    const http::request<http::string_body>& request() const { return request_; }
    const std::string& peer() const { return peer_; }

    // ---- a streamed run --------------------------------------------------------------

    void stream_run(std::shared_ptr<run_record> run, command_request request)
    {
        run_ = std::move(run);
        std::ostringstream head;
        http::response<http::empty_body> res{http::status::ok, request_.version()};
        res.set(http::field::server, "nextprism-agent");
        res.set(http::field::content_type, "application/x-ndjson");
        res.set(http::field::cache_control, "no-store");
        res.set("X-Nextprism-Run", std::to_string(run_->id));
        res.keep_alive(false);
        res.chunked(true);
        head << res.base();
        queue_raw(head.str());
        event(json_text({{"event", "accepted"}, {"id", std::to_string(run_->id)}, {"service", run_->service},
                         {"argv", run_->argv}}));
        watch_client();
        auto self = this->shared_from_this();
        agent_.executor().async_run(
            std::move(request),
            [self](output_stream s, std::string_view data) { self->on_output(s, data); },
            [self](const start_report& at) {
                self->event(json_text({{"event", "started"}, {"route", at.route}, {"started_in", at.label()}}));
            },
            net::bind_cancellation_slot(run_->cancel.slot(), [self](error_code ec, command_result r) {
                self->on_finished(ec, std::move(r));
            }));
    }

private:
    void read_request()
    {
        parser_.emplace();
        parser_->body_limit(max_body);
        stream_.expires_after(std::chrono::seconds(30));
        http::async_read(stream_, buffer_, *parser_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof)
                return self->close();
            if (ec == http::error::body_limit) { // the rest of the body is unread: answer, then close
                self->request_ = {};
                self->request_.keep_alive(false);
                return self->respond_error(http::status::payload_too_large, "the body is over 64 KiB");
            }
            if (ec)
                return self->close();
            self->stream_.expires_never();
            self->request_ = self->parser_->release();
            self->agent_.route(self);
        });
    }

    void close()
    {
        beast::error_code ignored;
        stream_.socket().shutdown(net::socket_base::shutdown_both, ignored);
        stream_.socket().close(ignored);
    }

    void on_output(output_stream s, std::string_view data)
    {
        // The most frequent event: its text written around the one string.
        event((s == output_stream::out ? R"({"event":"stdout","data":)" : R"({"event":"stderr","data":)") +
              json_text(nlohmann::ordered_json(data)) + "}");
        if (run_->scanner.feed(s, data) && std::chrono::steady_clock::now() - last_progress_ >= progress_every) {
            last_progress_ = std::chrono::steady_clock::now();
            progress_event();
        }
    }

    void progress_event()
    {
        const auto& p = run_->scanner.current();
        event(json_text({{"event", "progress"}, {"files", p.files}, {"folders", p.folders}, {"last", p.last}}));
    }

    void on_finished(error_code ec, command_result r)
    {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                              run_->started);
        auto summary = nextprism::tools::run_summary(run_->service, run_->argv, ec, r, run_->scanner.current(), ms);
        summary["id"] = std::to_string(run_->id);
        if (!run_->cancelled_by.empty())
            summary["cancelled_by"] = run_->cancelled_by;
        auto finished = json_with_head(R"("event":"finished")", summary); // before the summary moves
        agent_.runs().finish(run_, std::move(summary));
        if (run_->scanner.current().files + run_->scanner.current().folders > 0)
            progress_event(); // the last count, whatever the throttle held back
        event(std::move(finished));
        queue_raw("0\r\n\r\n"); // the last chunk
        finished_ = true;
        auto record = run_->to_json();
        record["peer"] = run_->peer;
        agent_.log("run_finished", record);
    }

    /// One NDJSON line (`json`'s text, a newline added) as one chunk.
    void event(std::string json)
    {
        char size[20];
        const int n = std::snprintf(size, sizeof size, "%zx\r\n", json.size() + 1);
        std::string chunk;
        chunk.reserve(static_cast<std::size_t>(n) + json.size() + 3);
        chunk.append(size, static_cast<std::size_t>(n)).append(json).append("\n\r\n");
        queue_raw(std::move(chunk));
    }

    /// Queued, and sent with whatever else is queued before the flush runs:
    /// the events of one handler (the head and "accepted", the last
    /// progress, "finished" and the last chunk) leave in one send.
    void queue_raw(std::string bytes)
    {
        if (gone_)
            return;
        queued_ += bytes.size();
        out_.push_back(std::move(bytes));
        if (queued_ > max_queued && run_)
            run_->request_cancel("client too slow");
        if (!writing_ && !flush_posted_) {
            flush_posted_ = true;
            net::post(stream_.get_executor(), [self = this->shared_from_this()] {
                self->flush_posted_ = false;
                if (!self->writing_)
                    self->write_next();
            });
        }
    }

    /// One gathered write of what is queued (at most 64 pieces). A deque
    /// keeps its elements in place as it grows: the buffers stay valid.
    void write_next()
    {
        if (gone_) { // nothing is in flight now: what is queued can go
            out_.clear();
            queued_ = 0;
            writing_ = false;
            return;
        }
        if (out_.empty()) {
            writing_ = false;
            if (finished_)
                close();
            return;
        }
        writing_ = true;
        const std::size_t n = std::min<std::size_t>(out_.size(), 64);
        pieces_.clear();
        for (std::size_t i = 0; i < n; ++i)
            pieces_.push_back(net::buffer(out_[i]));
        net::async_write(stream_.socket(), pieces_,
                         [self = this->shared_from_this(), n](beast::error_code ec, std::size_t) {
                             for (std::size_t i = 0; i < n; ++i) {
                                 self->queued_ -= self->out_.front().size();
                                 self->out_.pop_front();
                             }
                             if (ec)
                                 self->client_gone();
                             self->write_next();
                         });
    }

    /// The client sends nothing while its run streams; a read that ends
    /// means it went away (or broke the protocol): the run stops. A wait,
    /// not a read: no read is tried per run until the socket has something
    /// (its close at the stream's end cancels the wait).
    void watch_client()
    {
        stream_.socket().async_wait(net::socket_base::wait_read, [self = this->shared_from_this()](
                                                                     beast::error_code ec) {
            if (self->finished_ && self->out_.empty())
                return;
            if (!ec) {
                // Readable: bytes to drop, or the end. MSG_DONTWAIT: the
                // socket's own mode stays what Asio set.
                const auto n = ::recv(self->stream_.socket().native_handle(), self->probe_.data(),
                                      self->probe_.size(), MSG_DONTWAIT);
                if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
                    return self->watch_client();
            }
            self->client_gone();
        });
    }

    /// The buffer of a write in flight stays until its handler ran (write_next clears the rest).
    void client_gone()
    {
        if (gone_)
            return;
        gone_ = true;
        if (!writing_) {
            out_.clear();
            queued_ = 0;
        }
        if (run_)
            run_->request_cancel("client gone");
        close();
    }

    beast::basic_stream<Protocol> stream_;
    Agent& agent_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http::request<http::string_body> request_;
    std::shared_ptr<run_record> run_;
    const std::string peer_;
    std::shared_ptr<std::size_t> open_; // the agent's count of open connections (outlives the agent)
    std::deque<std::string> out_;
    std::vector<net::const_buffer> pieces_; // the write in flight's view of out_
    std::size_t queued_ = 0;
    bool writing_ = false, finished_ = false, gone_ = false, flush_posted_ = false;
    std::chrono::steady_clock::time_point last_progress_{};
    std::array<char, 512> probe_{};
};

} // namespace nextprism::agent

#endif
