// backoff.h: the retry schedule of webhook deliveries and alerts: exponential backoff with full
// jitter (AWS's "Exponential Backoff And Jitter"): after the n-th consecutive failure (n from 1) the
// next attempt waits a uniformly random time in [0, min(cap, base * 2^(n-1))]. Full jitter spreads the
// retries of many stockd processes against one recovering endpoint; the cap bounds how long a
// recovered endpoint waits for its next attempt. Retries never end: only a success resets n.
// Pure: the random draw comes in as an argument in [0, 1), so tests fix it.
#pragma once
#include <algorithm>
#include <cstdint>

#include "core/assert.h"

namespace stockd::server {

struct Backoff {
  std::int64_t base_ms = 250;     // the first retry waits at most this long
  std::int64_t cap_ms = 30'000;   // no retry waits longer (docs/channels.md)

  // The ceiling of the wait after `failures` consecutive failures (>= 1).
  std::int64_t ceiling_ms(std::uint32_t failures) const {
    STOCKD_ASSERT(failures >= 1 && base_ms >= 1 && cap_ms >= base_ms);
    std::int64_t c = base_ms;
    for (std::uint32_t i = 1; i < failures && c < cap_ms; ++i) c *= 2;  // stops doubling at the cap
    return std::min(c, cap_ms);
  }
  // The wait: `uniform01` in [0, 1) scales the ceiling (full jitter).
  std::int64_t delay_ms(std::uint32_t failures, double uniform01) const {
    STOCKD_ASSERT(uniform01 >= 0.0 && uniform01 < 1.0);
    return static_cast<std::int64_t>(uniform01 * static_cast<double>(ceiling_ms(failures) + 1));
  }
};

}  // namespace stockd::server
