#ifndef NEXTPRISM_OUTPUT_HPP
#define NEXTPRISM_OUTPUT_HPP

#include <nextprism/detail/config.hpp>

#include <cstdint>
#include <functional>
#include <string_view>

namespace nextprism {

/// Which stream a chunk of a command's output belongs to (the values are
/// the Docker attach stream's frame types).
enum class output_stream : std::uint8_t { out = 1, err = 2 };

/// Receives output as it arrives; called on the operation's executor.
using output_handler = std::function<void(output_stream, std::string_view)>;

} // namespace nextprism

#endif
