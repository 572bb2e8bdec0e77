#ifndef NEXTPRISM_TESTS_SUPPORT_FAKE_CLOCK_HPP
#define NEXTPRISM_TESTS_SUPPORT_FAKE_CLOCK_HPP

#include <chrono>

namespace nextprism::test {

/// A clock the test moves by hand: no real sleeps for TTLs and breakers.
struct fake_clock
{
    using duration = std::chrono::milliseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<fake_clock>;
    static constexpr bool is_steady = true;
    static inline time_point current{};
    static time_point now() { return current; }
};

} // namespace nextprism::test

#endif
