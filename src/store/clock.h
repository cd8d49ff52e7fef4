// clock.h: the clocks of the stores and the front end: the monotonic clock that latencies and local
// deadlines are measured with, and the wall clock handed to the core (time comes into the core as an
// argument; this is where it is read).
#pragma once
#include <chrono>
#include <cstdint>

namespace stockd::store {

inline std::int64_t steady_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

inline std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

inline std::int64_t wall_clock_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace stockd::store
