// assert.h: STOCKD_ASSERT, the check of a precondition, postcondition or invariant that stays on in
// every build (TigerBeetle's rule; unlike assert(), NDEBUG does not remove it).
//
// A failed check means the code is wrong, not the request: it prints "file:line: assertion failed:
// <expression>" to stderr and aborts, so the process stops before it acknowledges anything built on a
// broken state (docs/architecture.md, "Invariants and assertions"). Requests that are merely invalid
// are answered with an error value, never with an assertion.
//
// Use it only where the check is cheap next to the work it guards (a compare, a loop over a SKU's few
// buckets): it runs on the hot path of every command.
#pragma once

namespace stockd::core {

// Prints the failed check and aborts. Out of line and cold, so that a check costs a compare and a
// predicted-not-taken branch at its call site.
[[noreturn, gnu::cold, gnu::noinline]] void assert_failed(const char* expression, const char* file, int line) noexcept;

}  // namespace stockd::core

#define STOCKD_ASSERT(cond)                                                            \
  do {                                                                                 \
    if (__builtin_expect(!(cond), 0)) ::stockd::core::assert_failed(#cond, __FILE__, __LINE__); \
  } while (0)
