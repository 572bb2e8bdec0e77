#ifndef NEXTPRISM_EXAMPLES_AGENT_CALLERS_HPP
#define NEXTPRISM_EXAMPLES_AGENT_CALLERS_HPP

// Who is calling: the bearer tokens the agent accepts, each with a name
// that the logs and the per-caller run cap use. A token is never logged or
// echoed; only its name is.

#include <nextprism/tools/assembly.hpp> // tools::config_error

#include <cctype>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace nextprism::agent {

/// Equal without a timing side channel on where they differ.
inline bool same_secret(std::string_view a, std::string_view b)
{
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
    return diff == 0 && !b.empty();
}

/** The token file: one caller per line, `NAME TOKEN` or a bare `TOKEN`
    (named `caller-LINE`); blank lines and lines starting with `#` are
    skipped. Names are words of letters, digits and `._-`, unique; tokens
    have at least 16 characters and no spaces. */
class caller_list
{
public:
    /// Without tokens: every (loopback) client is this one caller.
    static constexpr std::string_view local_caller = "local";

    static caller_list from_file(const std::string& path)
    {
        std::ifstream in(path);
        if (!in)
            throw tools::config_error(path + ": cannot be read");
        caller_list list;
        std::string line;
        std::set<std::string> names;
        for (std::size_t n = 1; std::getline(in, line); ++n) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
                line.pop_back();
            if (line.empty() || line.front() == '#')
                continue;
            std::istringstream fields(line);
            std::string first, second, extra;
            fields >> first >> second >> extra;
            const std::string where = path + ":" + std::to_string(n);
            if (!extra.empty())
                throw tools::config_error(where + ": NAME TOKEN or TOKEN, nothing more");
            entry e{second.empty() ? "caller-" + std::to_string(n) : first, second.empty() ? first : second};
            if (!is_name(e.name))
                throw tools::config_error(where + ": a caller's name is letters, digits and ._-");
            if (e.token.size() < 16)
                throw tools::config_error(where + ": the token must have at least 16 characters");
            if (!names.insert(e.name).second)
                throw tools::config_error(where + ": caller " + e.name + " is named twice");
            list.entries_.push_back(std::move(e));
        }
        if (in.bad())
            throw tools::config_error(path + ": cannot be read");
        if (list.entries_.empty())
            throw tools::config_error(path + ": no token in it");
        return list;
    }

    bool empty() const noexcept { return entries_.empty(); }
    std::size_t size() const noexcept { return entries_.size(); }

    /// The caller whose token `presented` is; every token is compared, so
    /// the time taken does not say which (or whether one) matched.
    std::optional<std::string> identify(std::string_view presented) const
    {
        const entry* found = nullptr;
        for (const auto& e : entries_)
            if (same_secret(presented, e.token) && !found)
                found = &e;
        return found ? std::optional<std::string>(found->name) : std::nullopt;
    }

private:
    struct entry
    {
        std::string name, token;
    };

    static bool is_name(const std::string& s)
    {
        if (s.empty() || s.size() > 64)
            return false;
        for (const unsigned char c : s)
            if (!std::isalnum(c) && c != '.' && c != '_' && c != '-')
                return false;
        return true;
    }

    std::vector<entry> entries_;
};

} // namespace nextprism::agent

#endif
