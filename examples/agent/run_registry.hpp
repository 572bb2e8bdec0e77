#ifndef NEXTPRISM_EXAMPLES_AGENT_RUN_REGISTRY_HPP
#define NEXTPRISM_EXAMPLES_AGENT_RUN_REGISTRY_HPP

// The agent's runs: the ones in flight (each with the signal that cancels
// it) and a bounded ring of finished ones, with the counters /metrics
// reads. One owner: the agent's io_context thread touches it, nothing else.

#include <nextprism/progress.hpp>
#include <nextprism/tools/outcome.hpp>

#include <boost/asio/cancellation_signal.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace nextprism::agent {

struct run_record
{
    std::uint64_t id = 0;
    std::string caller;                ///< the token's name (callers.hpp), "local" without tokens
    std::string peer;                  ///< the client's address
    std::string service;
    std::string rule;                  ///< the whitelist rule that allowed it
    std::vector<std::string> argv;
    std::chrono::system_clock::time_point submitted_at;
    std::chrono::steady_clock::time_point started;
    progress_scanner scanner;
    boost::asio::cancellation_signal cancel;
    std::string cancelled_by;          ///< "DELETE", "client gone", "client too slow"; empty: not asked
    nlohmann::ordered_json summary;    ///< tools::run_summary once finished; null before

    bool finished() const { return !summary.is_null(); }

    /// Asks the run to stop (the executor stops the command in the target); once.
    bool request_cancel(std::string why)
    {
        if (finished() || !cancelled_by.empty())
            return false;
        cancelled_by = std::move(why);
        cancel.emit(boost::asio::cancellation_type::terminal);
        return true;
    }

    nlohmann::ordered_json to_json() const
    {
        nlohmann::ordered_json j;
        j["id"] = std::to_string(id);
        j["caller"] = caller;
        j["service"] = service;
        j["rule"] = rule;
        j["argv"] = argv;
        j["submitted_at"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                                submitted_at.time_since_epoch()).count();
        j["state"] = finished() ? "finished" : cancelled_by.empty() ? "running" : "stopping";
        if (!cancelled_by.empty())
            j["cancelled_by"] = cancelled_by;
        j["files"] = scanner.current().files;
        j["folders"] = scanner.current().folders;
        if (finished())
            for (const auto& [k, v] : summary.items())
                if (k != "service" && k != "argv")
                    j[k] = v;
        return j;
    }
};

/// Duration buckets of the runs histogram, in seconds (Prometheus `le`).
inline constexpr std::array<double, 9> duration_buckets = {0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200};

class run_registry
{
public:
    explicit run_registry(std::size_t keep) : keep_(keep) {}

    /// Who asks, from where, and what the whitelist allowed.
    struct submission
    {
        std::string caller, peer, service, rule;
        std::vector<std::string> argv;
    };

    std::shared_ptr<run_record> begin(submission s)
    {
        auto r = std::make_shared<run_record>();
        r->id = ++last_id_;
        r->caller = std::move(s.caller);
        r->peer = std::move(s.peer);
        r->service = std::move(s.service);
        r->rule = std::move(s.rule);
        r->argv = std::move(s.argv);
        r->submitted_at = std::chrono::system_clock::now();
        r->started = std::chrono::steady_clock::now();
        active_[r->id] = r;
        return r;
    }

    void finish(const std::shared_ptr<run_record>& r, nlohmann::ordered_json summary)
    {
        r->summary = std::move(summary);
        active_.erase(r->id);
        finished_.push_back(r);
        while (finished_.size() > keep_)
            finished_.pop_front();
        ++by_outcome_[r->summary["outcome"].get<std::string>()];
        const double s = r->summary["duration_ms"].get<double>() / 1000.0;
        for (std::size_t i = 0; i < duration_buckets.size(); ++i)
            if (s <= duration_buckets[i])
                ++bucket_counts_[i];
        ++duration_count_;
        duration_sum_ += s;
    }

    /// A request the whitelist refused (403): never a run, but counted as one's outcome.
    void record_refusal() { ++by_outcome_["refused"]; }

    std::shared_ptr<run_record> find(std::uint64_t id) const
    {
        if (auto it = active_.find(id); it != active_.end())
            return it->second;
        for (const auto& r : finished_)
            if (r->id == id)
                return r;
        return nullptr;
    }

    /// In flight first (oldest first), then finished (newest first).
    nlohmann::ordered_json list() const
    {
        auto a = nlohmann::ordered_json::array();
        for (const auto& [id, r] : active_)
            a.push_back(r->to_json());
        for (auto it = finished_.rbegin(); it != finished_.rend(); ++it)
            a.push_back((*it)->to_json());
        return a;
    }

    std::size_t in_flight() const noexcept { return active_.size(); }

    /// Runs in flight that `caller` started (the per-caller cap's count;
    /// a walk of the runs in flight, which --max-connections bounds).
    std::size_t in_flight_for(const std::string& caller) const
    {
        std::size_t n = 0;
        for (const auto& entry : active_)
            n += entry.second->caller == caller;
        return n;
    }

    /// A request over its caller's cap (429): never a run.
    void record_over_cap() { ++over_cap_; }
    std::uint64_t over_cap() const noexcept { return over_cap_; }

    /// Calls `f(run_record&)` for each run in flight (a copy of the set:
    /// `f` may finish runs).
    template<class F>
    void for_each_active(F&& f) const
    {
        const auto runs = active_;
        for (const auto& [id, r] : runs)
            f(*r);
    }
    std::size_t kept() const noexcept { return finished_.size(); }
    std::uint64_t outcome_count(const std::string& name) const
    {
        const auto it = by_outcome_.find(name);
        return it == by_outcome_.end() ? 0 : it->second;
    }
    const std::array<std::uint64_t, duration_buckets.size()>& bucket_counts() const noexcept { return bucket_counts_; }
    std::uint64_t duration_count() const noexcept { return duration_count_; }
    double duration_sum() const noexcept { return duration_sum_; }

private:
    std::size_t keep_;
    std::uint64_t last_id_ = 0;
    std::map<std::uint64_t, std::shared_ptr<run_record>> active_;
    std::uint64_t over_cap_ = 0;
    std::deque<std::shared_ptr<run_record>> finished_;
    std::map<std::string, std::uint64_t> by_outcome_;
    std::array<std::uint64_t, duration_buckets.size()> bucket_counts_{};
    std::uint64_t duration_count_ = 0;
    double duration_sum_ = 0;
};

} // namespace nextprism::agent

#endif
