// clock.h: the monotonic clock both server modes measure latencies and local deadlines with. (The wall
// clock handed to the core is wall_clock_ms() in server.h.)
#pragma once
#include <chrono>
#include <cstdint>

namespace stockd::server {

inline std::int64_t steady_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
}

inline std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace stockd::server
