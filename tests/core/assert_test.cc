// STOCKD_ASSERT: a broken precondition or invariant stops the process with file:line and the
// expression, in every build (this file is compiled with NDEBUG, as a release build is).
#ifndef NDEBUG
#define NDEBUG 1
#endif
#include "core/assert.h"

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

TEST(AssertDeathTest, AFailedCheckAbortsWithFileLineAndExpression) {
  std::int64_t held = 5, on_hand = 3;
  EXPECT_DEATH(STOCKD_ASSERT(held <= on_hand), "assert_test\\.cc:[0-9]+: assertion failed: held <= on_hand");
}

TEST(AssertDeathTest, APassingCheckLetsTheCodeGoOn) {
  int evaluated = 0;
  STOCKD_ASSERT(++evaluated == 1);
  EXPECT_EQ(evaluated, 1) << "the condition is evaluated exactly once, NDEBUG or not";
}

// A precondition of the core's public surface: an index that names no SKU stops the process instead of
// reading past the table.
TEST_F(CoreTest, ASkuIndexOutOfRangeAborts) {
  set("A", 10);
  EXPECT_EQ(inv.sku(0).on_hand, 10);
  EXPECT_DEATH(inv.sku(1), "inventory\\.cc:[0-9]+: assertion failed: i < s\\.skus\\.size\\(\\)");
  EXPECT_DEATH(inv.available(0, 7), "assertion failed: sku < s_->skus\\.size\\(\\) && channel < s_->channels\\.size\\(\\)");
}

}  // namespace
}  // namespace stockd::core::testing
