// The one place the core writes anything itself: the last words of a failed STOCKD_ASSERT.
#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace stockd::core {

void assert_failed(const char* expression, const char* file, int line) noexcept {
  std::fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expression);
  std::fflush(stderr);
  std::abort();
}

}  // namespace stockd::core
