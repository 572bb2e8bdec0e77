#ifndef NEXTPRISM_DOCKER_DETAIL_FRAME_DECODER_HPP
#define NEXTPRISM_DOCKER_DETAIL_FRAME_DECODER_HPP

// Docker's multiplexed stdout/stderr stream (non-TTY attach), demultiplexed.
// Included by docker/impl/client.hpp, after the client's declaration.

#include <nextprism/output.hpp>

#include <cstddef>
#include <cstring>

namespace nextprism::docker::detail {

/// Demultiplexes Docker's stdout/stderr framing ([type,0,0,0,size BE32]
/// then payload), delivering payload bytes as they arrive.
class frame_decoder
{
public:
    /// Feeds bytes; returns false on a malformed header.
    bool feed(const char* data, std::size_t size, const output_handler& sink)
    {
        while (size > 0) {
            if (remaining_ == 0) {
                const std::size_t take = std::min<std::size_t>(8 - header_size_, size);
                std::memcpy(header_ + header_size_, data, take);
                header_size_ += take;
                data += take;
                size -= take;
                if (header_size_ < 8)
                    return true;
                header_size_ = 0;
                const auto type = static_cast<unsigned char>(header_[0]);
                if (type > 3 || header_[1] || header_[2] || header_[3])
                    return false;
                stream_ = type == 1 ? output_stream::out : output_stream::err;
                remaining_ = (std::uint32_t(static_cast<unsigned char>(header_[4])) << 24) |
                             (std::uint32_t(static_cast<unsigned char>(header_[5])) << 16) |
                             (std::uint32_t(static_cast<unsigned char>(header_[6])) << 8) |
                             std::uint32_t(static_cast<unsigned char>(header_[7]));
                continue;
            }
            const std::size_t take = std::min<std::size_t>(remaining_, size);
            if (sink)
                sink(stream_, std::string_view(data, take));
            remaining_ -= take;
            data += take;
            size -= take;
        }
        return true;
    }

    /// True between frames: a stream that ends here ended cleanly.
    bool at_boundary() const noexcept { return remaining_ == 0 && header_size_ == 0; }

private:
    char header_[8]{};
    std::size_t header_size_ = 0;
    std::uint32_t remaining_ = 0;
    output_stream stream_ = output_stream::out;
};

} // namespace nextprism::docker::detail

#endif
