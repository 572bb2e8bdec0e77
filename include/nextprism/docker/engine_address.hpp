#ifndef NEXTPRISM_DOCKER_ENGINE_ADDRESS_HPP
#define NEXTPRISM_DOCKER_ENGINE_ADDRESS_HPP

#include <nextprism/detail/config.hpp>
#include <nextprism/error.hpp>

#include <cstdlib>
#include <string>
#include <string_view>

namespace nextprism::docker {

/** Where the Docker engine listens, as in the docker CLI's DOCKER_HOST:
    `unix:///path/to/docker.sock` or `tcp://host:port` (plain HTTP; TLS is
    not supported: reach a remote engine through the proxy instead). */
struct engine_address
{
    enum class kind { unix_socket, tcp };
    kind type = kind::unix_socket;
    std::string path = "/var/run/docker.sock"; ///< for unix_socket
    std::string host;                          ///< for tcp
    std::string port = "2375";                 ///< for tcp

    std::string to_string() const
    {
        return type == kind::unix_socket ? "unix://" + path : "tcp://" + host + ":" + port;
    }
};

inline engine_address parse_engine_address(std::string_view text, error_code& ec)
{
    ec = {};
    engine_address a;
    if (text.starts_with("unix://")) {
        a.path = std::string(text.substr(7));
        if (a.path.empty() || a.path.front() != '/')
            ec = error::invalid_configuration;
        return a;
    }
    if (text.starts_with("tcp://")) {
        a.type = engine_address::kind::tcp;
        auto rest = text.substr(6);
        if (!rest.empty() && rest.back() == '/')
            rest.remove_suffix(1);
        const auto colon = rest.rfind(':');
        if (colon == std::string_view::npos) {
            a.host = std::string(rest);
        } else {
            a.host = std::string(rest.substr(0, colon));
            a.port = std::string(rest.substr(colon + 1));
        }
        if (a.host.starts_with("[") && a.host.ends_with("]"))
            a.host = a.host.substr(1, a.host.size() - 2);
        if (a.host.empty() || a.port.empty() ||
            a.port.find_first_not_of("0123456789") != std::string::npos)
            ec = error::invalid_configuration;
        return a;
    }
    ec = error::invalid_configuration;
    return a;
}

/// DOCKER_HOST if set, else the default unix socket.
inline engine_address engine_address_from_environment(error_code& ec)
{
    ec = {};
    const char* v = std::getenv("DOCKER_HOST");
    if (!v || !*v)
        return engine_address{};
    return parse_engine_address(v, ec);
}

} // namespace nextprism::docker

#endif
