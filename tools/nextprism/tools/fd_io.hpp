#ifndef NEXTPRISM_TOOLS_FD_IO_HPP
#define NEXTPRISM_TOOLS_FD_IO_HPP

// Writing to the process's own descriptors, for every binary of the
// project: the proxy's (whose stdout/stderr are sshd's channel, made
// non-blocking by the async writers) and the command-line tools'.

#include <cerrno>
#include <poll.h>
#include <string_view>
#include <unistd.h>

namespace nextprism::tools {

/// Writes all of `data` to a blocking or non-blocking `fd`; gives up when
/// the reader is gone, or after ~2 s without progress.
inline void write_all(int fd, std::string_view data)
{
    int idle = 0;
    while (!data.empty() && fd >= 0) {
        const auto n = ::write(fd, data.data(), data.size());
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            idle = 0;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN && ++idle < 200) {
            pollfd p{fd, POLLOUT, 0};
            ::poll(&p, 1, 10);
        } else {
            return;
        }
    }
}

} // namespace nextprism::tools

#endif
