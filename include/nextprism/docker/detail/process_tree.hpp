#ifndef NEXTPRISM_DOCKER_DETAIL_PROCESS_TREE_HPP
#define NEXTPRISM_DOCKER_DETAIL_PROCESS_TREE_HPP

#include <nextprism/detail/config.hpp>

#include <csignal>
#include <dirent.h>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <sys/types.h>
#include <vector>

namespace nextprism::docker::detail::process_tree {

/// Parent pid of `pid` from /proc/PID/stat, or -1.
inline int parent_of(int pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    // The command name (field 2) may contain spaces and ')': parse after the last ')'.
    const auto close = stat.rfind(')');
    if (close == std::string::npos)
        return -1;
    std::istringstream rest(stat.substr(close + 1));
    char state;
    int ppid = -1;
    rest >> state >> ppid;
    return ppid;
}

/// Whether /proc/PID/cgroup names the container (its full id).
inline bool in_container(int pid, const std::string& container_id)
{
    if (container_id.size() < 12)
        return false;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line;
    while (std::getline(in, line))
        if (line.find(container_id) != std::string::npos)
            return true;
    return false;
}

/// `root` and all its descendants, parents first.
inline std::vector<int> tree(int root)
{
    std::multimap<int, int> children;
    if (DIR* d = ::opendir("/proc")) {
        while (dirent* e = ::readdir(d)) {
            char* end = nullptr;
            const long pid = std::strtol(e->d_name, &end, 10);
            if (*end == '\0' && pid > 0)
                children.emplace(parent_of(static_cast<int>(pid)), static_cast<int>(pid));
        }
        ::closedir(d);
    }
    std::vector<int> out{root};
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto [first, last] = children.equal_range(out[i]);
        for (auto it = first; it != last; ++it)
            out.push_back(it->second);
    }
    return out;
}

/** Sends `sig` to `root` and its descendants that run in the container.
    The cgroup check guards against a reused PID: a process outside the
    container is never signalled. Returns how many were signalled. */
inline int signal(int root, const std::string& container_id, int sig)
{
    int count = 0;
    for (int pid : tree(root))
        if (in_container(pid, container_id) && ::kill(pid, sig) == 0)
            ++count;
    return count;
}

} // namespace nextprism::docker::detail::process_tree

#endif
