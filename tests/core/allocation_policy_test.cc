// The allocation rules of src/core/allocation_policy.h, over a toy view (the core's and the cluster
// store's views are exercised through them by the core tests and the cluster differential test).
#include "core/allocation_policy.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stockd::core::policy {
namespace {

// Channels 0..n-1 with priorities; fences by channel; pools with their channels.
struct ToyView {
  std::vector<std::int64_t> prio;
  std::vector<bool> fence;
  struct P {
    bool open;
    std::vector<int> chs;
  };
  std::vector<P> pools;
  bool pre = false;
  std::vector<int> order;  // by priority

  bool has_fence(int c) const { return fence[static_cast<std::size_t>(c)]; }
  std::size_t pool_slots() const { return pools.size(); }
  bool pool_open(std::size_t s) const { return pools[s].open; }
  bool pool_lists(std::size_t s, int c) const {
    for (int x : pools[s].chs)
      if (x == c) return true;
    return false;
  }
  bool preempt() const { return pre; }
  std::int64_t priority(int c) const { return prio[static_cast<std::size_t>(c)]; }
  const std::vector<int>& by_priority() const { return order; }
};

std::string name(const Bucket<int>& b) {
  // Appended, not "f" + std::to_string(...): that insert-at-0 trips GCC 12's -Wrestrict at -O3.
  std::string r;
  switch (b.kind) {
    case BucketKind::fence: r = "f"; r += std::to_string(b.channel); break;
    case BucketKind::pool: r = "p"; r += std::to_string(b.slot); break;
    case BucketKind::shared: r = "sh"; break;
  }
  return r;
}

std::vector<std::string> draws(const ToyView& v, int c, std::size_t stop_after = 99) {
  std::vector<std::string> out;
  for_each_draw_bucket(v, c, [&](const Bucket<int>& b) {
    out.push_back(name(b));
    return out.size() < stop_after;
  });
  return out;
}

// Channel 0 (priority 1), 1 (priority 5), 2 (priority 5, created later), 3 (priority 9).
ToyView four_channels() {
  ToyView v;
  v.prio = {1, 5, 5, 9};
  v.fence = {true, true, false, true};
  v.pools = {{true, {1, 2}}, {false, {1}}, {true, {0, 1}}};
  v.order = {0, 1, 2, 3};
  return v;
}

TEST(AllocationPolicy, DrawOrderIsOwnFenceThenOpenPoolsListingItInSlotOrderThenShared) {
  ToyView v = four_channels();
  EXPECT_EQ(draws(v, 1), (std::vector<std::string>{"f1", "p0", "p2", "sh"}));
  EXPECT_EQ(draws(v, 2), (std::vector<std::string>{"p0", "sh"}));  // no fence; the closed pool is skipped
  EXPECT_EQ(draws(v, 3), (std::vector<std::string>{"f3", "sh"}));
}

TEST(AllocationPolicy, PreemptAddsStrictlyLowerPriorityFencesLowestFirst) {
  ToyView v = four_channels();
  v.pre = true;
  EXPECT_EQ(draws(v, 0), (std::vector<std::string>{"f0", "p2", "sh", "f3", "f1"}));
  // Equal priority (1 and 2) never preempts each other.
  EXPECT_EQ(draws(v, 2), (std::vector<std::string>{"p0", "sh", "f3"}));
  EXPECT_EQ(draws(v, 3), (std::vector<std::string>{"f3", "sh"}));
  EXPECT_TRUE(may_draw_fence(v, 0, 3));
  EXPECT_FALSE(may_draw_fence(v, 3, 0));
  EXPECT_FALSE(may_draw_fence(v, 1, 2));
  EXPECT_TRUE(may_draw_fence(v, 2, 2));
  v.pre = false;
  EXPECT_FALSE(may_draw_fence(v, 0, 3));
}

TEST(AllocationPolicy, DrawOrderStopsWhenTheCallerHasEnough) {
  ToyView v = four_channels();
  v.pre = true;
  EXPECT_EQ(draws(v, 0, 2), (std::vector<std::string>{"f0", "p2"}));
}

TEST(AllocationPolicy, SizingOrderIsFencesByPriorityThenOpenPoolsBySlot) {
  ToyView v = four_channels();
  v.order = {0, 2, 1, 3};  // by_priority as the store keeps it (ties in creation order: here 2 first)
  std::vector<std::string> out;
  for_each_sized_bucket<int>(v, [&](const Bucket<int>& b) { out.push_back(name(b)); });
  EXPECT_EQ(out, (std::vector<std::string>{"f0", "f1", "f3", "p0", "p2"}));
}

TEST(AllocationPolicy, FenceSizeIsItsUnitsOrTheFloorOfItsRatioOfSellable) {
  EXPECT_EQ(fence_size(7, -1, 1000), 7);
  EXPECT_EQ(fence_size(-1, 200'000'000, 101), 20);  // 20 % of 101
  EXPECT_EQ(fence_size(-1, 333'333'333, 3), 0);
  EXPECT_EQ(fence_size(-1, 1'000'000'000, 1'000'000'000'000'000), 1'000'000'000'000'000);
  // No overflow at the limits (10^9 ppb x 10^15 units).
  EXPECT_EQ(fence_size(-1, 999'999'999, 1'000'000'000'000'000), 999'999'999'000'000);
}

TEST(AllocationPolicy, SizedFreeIsWhatTheBucketWantsWithinWhatIsLeft) {
  EXPECT_EQ(sized_free(5, 10), 5);
  EXPECT_EQ(sized_free(15, 10), 10);
  EXPECT_EQ(sized_free(-3, 10), 0);  // held above its size
  EXPECT_EQ(sized_free(4, 0), 0);
}

struct Spec {
  std::string name;
};

std::vector<std::pair<std::size_t, bool>> slots_for(const std::vector<std::string>& names,
                                                    const std::vector<std::int64_t>& held,
                                                    const std::vector<Spec>& specs) {
  std::vector<std::pair<std::size_t, bool>> out(specs.size(), {999, false});
  assign_pool_slots(
      names.size(), [&](std::size_t i) -> const std::string& { return names[i]; },
      [&](std::size_t i) { return held[i]; }, specs,
      [&](std::size_t s, std::size_t slot, bool reused) { out[s] = {slot, reused}; });
  return out;
}

TEST(AllocationPolicy, APoolListedAgainKeepsItsSlot) {
  auto r = slots_for({"a", "b"}, {0, 0}, {{"b"}, {"a"}});
  EXPECT_EQ(r[0], (std::pair<std::size_t, bool>{1, false}));
  EXPECT_EQ(r[1], (std::pair<std::size_t, bool>{0, false}));
}

TEST(AllocationPolicy, ANewPoolTakesTheFirstFreeSlotWithNothingHeldElseANewOne) {
  // Slot 0 kept (a), slot 1 still holds units (b), slot 2 is free (c): x takes 2, y a new slot 3.
  auto r = slots_for({"a", "b", "c"}, {0, 4, 0}, {{"x"}, {"a"}, {"y"}});
  EXPECT_EQ(r[0], (std::pair<std::size_t, bool>{2, true}));
  EXPECT_EQ(r[1], (std::pair<std::size_t, bool>{0, false}));
  EXPECT_EQ(r[2], (std::pair<std::size_t, bool>{3, true}));
  // With no slot at all, new pools take slots 0, 1, ...
  auto fresh = slots_for({}, {}, {{"x"}, {"y"}});
  EXPECT_EQ(fresh[0], (std::pair<std::size_t, bool>{0, true}));
  EXPECT_EQ(fresh[1], (std::pair<std::size_t, bool>{1, true}));
}

TEST(AllocationPolicy, AnAllocationIsDroppedOnlyWhenNothingUsesIt) {
  EXPECT_TRUE(allocation_idle(false, false, false, false));
  EXPECT_FALSE(allocation_idle(true, false, false, false));
  EXPECT_FALSE(allocation_idle(false, true, false, false));
  EXPECT_FALSE(allocation_idle(false, false, true, false));
  EXPECT_FALSE(allocation_idle(false, false, false, true));
}

}  // namespace
}  // namespace stockd::core::policy
