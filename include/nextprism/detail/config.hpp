#ifndef NEXTPRISM_DETAIL_CONFIG_HPP
#define NEXTPRISM_DETAIL_CONFIG_HPP

// Included first by every nextprism header.
//
// GCC 12 in C++20 mode trips over Boost.Asio headers that use std::exchange
// without including <utility>; including it here, before any Boost header,
// keeps every translation unit independent of include order.
#include <utility>

#include <boost/system/error_code.hpp>

namespace boost::asio {}

namespace nextprism {

using error_code = boost::system::error_code;

/// As in Boost.Beast: the short name for Boost.Asio in every nextprism header.
namespace net = boost::asio;

} // namespace nextprism

#endif
