#ifndef NEXTPRISM_TARGET_NAMES_HPP
#define NEXTPRISM_TARGET_NAMES_HPP

#include <nextprism/detail/config.hpp>

#include <initializer_list>
#include <map>
#include <string>
#include <utility>

namespace nextprism {

/** Which Swarm service (or container) a whitelisted service runs in, where
    that is not the service's own name: `nextcloud` → `cloud_app`. A service
    not named here is its own target.

    One map with one reader: the configuration's `"targets"` fills it;
    discovery asks it which Swarm service to look for, the direct transport
    which container to exec in, and the proxy (a single target) builds one
    from its `--container`. */
class target_names
{
public:
    target_names() = default;
    explicit target_names(std::map<std::string, std::string> names) : names_(std::move(names)) {}
    target_names(std::initializer_list<std::pair<const std::string, std::string>> names) : names_(names) {}

    /// The target `service` runs in.
    std::string of(const std::string& service) const
    {
        const auto it = names_.find(service);
        return it == names_.end() ? service : it->second;
    }

    void set(std::string service, std::string target) { names_[std::move(service)] = std::move(target); }

    const std::map<std::string, std::string>& entries() const noexcept { return names_; }

    friend bool operator==(const target_names&, const target_names&) = default;

private:
    std::map<std::string, std::string> names_;
};

} // namespace nextprism

#endif
