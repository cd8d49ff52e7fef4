// Allocation: fences (ratio and units) sized in priority order, event pools (a total per event, closed
// by ClosePool or by leaving them out), shared stock, preemption, and what sizing never does.
#include <algorithm>

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class AllocationTest : public CoreTest {
 protected:
  void SetUp() override {
    channel("app", 1);     // index 0
    channel("tmall", 2);   // index 1
    channel("douyin", 3);  // index 2
    channel("mini", 4);    // index 3
  }
  const FenceView* fence(const SkuView& v, std::string_view ch) {
    for (const FenceView& f : v.fences)
      if (f.channel == ch) return &f;
    return nullptr;
  }
  const PoolView* pool(const SkuView& v, std::string_view name) {
    for (const PoolView& p : v.pools)
      if (p.name == name) return &p;
    return nullptr;
  }
  // Free units of a fence / pool (its size minus what is held from it).
  std::int64_t fence_free(const std::string& sku, std::string_view ch) {
    SkuView v = view(sku);
    const FenceView* f = fence(v, ch);
    return f ? f->size - f->held : -1;
  }
  std::int64_t pool_free(const std::string& sku, std::string_view name) {
    SkuView v = view(sku);
    const PoolView* p = pool(v, name);
    return p ? p->size - p->held : -1;
  }
};

PoolSpec pool_spec(std::string name, std::int64_t units, std::vector<std::string> channels) {
  return PoolSpec{std::move(name), units, std::move(channels)};
}

TEST_F(AllocationTest, RatioFenceIsAShareOfSellableAndOnlyItsChannelUsesIt) {
  set("A", 100, 10);
  ASSERT_EQ(allocate("A", {{"app", 0.2}}).code, Code::ok);
  SkuView v = view("A");
  ASSERT_EQ(v.fences.size(), 1u);
  EXPECT_EQ(v.fences[0].ratio_ppb, 200'000'000);
  EXPECT_EQ(v.fences[0].units, -1);
  EXPECT_EQ(v.fences[0].size, 18) << "floor(0.2 * (100 - 10))";
  EXPECT_EQ(v.shared_free, 72);
  EXPECT_EQ(v.available, 90);
  EXPECT_EQ(avail("A", "app"), 90);
  EXPECT_EQ(avail("A", "tmall"), 72);
  EXPECT_EQ(hold("o1", "tmall", {{"A", 73}}).code, Code::insufficient_stock);
  EXPECT_EQ(hold("o1", "app", {{"A", 90}}).code, Code::ok);
}

TEST_F(AllocationTest, RatioFenceRoundsDown) {
  set("A", 7);
  allocate("A", {{"app", 0.5}});
  EXPECT_EQ(fence_free("A", "app"), 3);
  EXPECT_EQ(view("A").shared_free, 4);
}

TEST_F(AllocationTest, FencesAreSizedInPriorityOrderAndCappedByWhatIsFree) {
  set("A", 10);
  // Listed low priority first: the order of the spec does not matter, priority does.
  allocate("A", {{"tmall", -1, 8}, {"app", -1, 8}});
  EXPECT_EQ(fence_free("A", "app"), 8);
  EXPECT_EQ(fence_free("A", "tmall"), 2);
  EXPECT_EQ(view("A").shared_free, 0);
  EXPECT_EQ(avail("A", "app"), 8);
  EXPECT_EQ(avail("A", "tmall"), 2);
  EXPECT_EQ(avail("A", "douyin"), 0);
}

TEST_F(AllocationTest, FenceTiesGoByChannelIndex) {
  channel("pdd", 2);  // index 4, same priority as tmall (index 1)
  set("A", 10);
  allocate("A", {{"pdd", -1, 8}, {"tmall", -1, 8}});
  EXPECT_EQ(fence_free("A", "tmall"), 8);
  EXPECT_EQ(fence_free("A", "pdd"), 2);
}

TEST_F(AllocationTest, PriorityChangeTakesEffectAtTheNextSizing) {
  set("A", 10);
  allocate("A", {{"app", -1, 8}, {"tmall", -1, 8}});
  channel("tmall", 1);
  channel("app", 5);
  EXPECT_EQ(fence_free("A", "app"), 8) << "a channel change does not resize";
  set("A", 10);
  EXPECT_EQ(fence_free("A", "tmall"), 8);
  EXPECT_EQ(fence_free("A", "app"), 2);
}

TEST_F(AllocationTest, HeldUnitsCountTowardTheFenceSize) {
  set("A", 100);
  allocate("A", {{"app", -1, 10}});
  ASSERT_EQ(hold("o1", "app", {{"A", 6}}).code, Code::ok);
  EXPECT_EQ(fence_free("A", "app"), 4);
  set("A", 100);  // resize
  EXPECT_EQ(fence_free("A", "app"), 4) << "size 10 = 6 held + 4 free";
  SkuView v = view("A");
  EXPECT_EQ(fence(v, "app")->size, 10);
  EXPECT_EQ(fence(v, "app")->held, 6);
  EXPECT_EQ(v.shared_free, 90);
}

TEST_F(AllocationTest, SizingNeverHappensOnHoldsConfirmsReleasesOrExpiry) {
  set("A", 100);
  allocate("A", {{"app", 0.5}});
  EXPECT_EQ(fence_free("A", "app"), 50);
  ASSERT_EQ(hold("o1", "app", {{"A", 60}}, 1).code, Code::ok);  // 50 from the fence, 10 shared
  EXPECT_EQ(fence_free("A", "app"), 0);
  EXPECT_EQ(view("A").shared_free, 40);
  ASSERT_EQ(hold("o2", "app", {{"A", 20}}).code, Code::ok);  // shared
  ASSERT_EQ(confirm("o2").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 80);
  EXPECT_EQ(fence_free("A", "app"), 0) << "a sale does not resize the fence to floor(0.5 * 80)";
  EXPECT_EQ(view("A").shared_free, 20);
  advance_ms(1000);
  tick();  // o1 expires: its draws go back where they came from
  EXPECT_EQ(fence_free("A", "app"), 50);
  EXPECT_EQ(view("A").shared_free, 30);
  set("A", 80);  // now it resizes: floor(0.5 * 80) = 40
  EXPECT_EQ(fence_free("A", "app"), 40);
  EXPECT_EQ(view("A").shared_free, 40);
}

TEST_F(AllocationTest, DrawOrderIsOwnFencePoolsSharedThenLowerFences) {
  set("A", 100);
  allocate("A", {{"app", -1, 10}, {"tmall", -1, 20}, {"mini", -1, 5}},
           {pool_spec("p1", 7, {"app", "douyin"}), pool_spec("p2", 3, {"app"})}, true);
  // free: app 10, tmall 20, mini 5, p1 7, p2 3, shared 55.
  EXPECT_EQ(view("A").shared_free, 55);
  EXPECT_EQ(avail("A", "app"), 100) << "shared + own + pools + lower fences (tmall, mini)";
  EXPECT_EQ(avail("A", "tmall"), 80) << "shared + own + mini's fence";
  EXPECT_EQ(avail("A", "douyin"), 67) << "shared + p1 + mini's fence";
  EXPECT_EQ(avail("A", "mini"), 60) << "shared + own, nobody below";

  ASSERT_EQ(hold("o1", "app", {{"A", 10 + 7 + 3 + 55 + 5 + 1}}).code, Code::ok);
  SkuView v = view("A");
  EXPECT_EQ(fence(v, "app")->held, 10);
  EXPECT_EQ(pool(v, "p1")->held, 7);
  EXPECT_EQ(pool(v, "p2")->held, 3);
  EXPECT_EQ(v.shared_free, 0);
  EXPECT_EQ(fence(v, "mini")->held, 5) << "lowest priority fence is taken first";
  EXPECT_EQ(fence(v, "tmall")->held, 1);
  EXPECT_EQ(avail("A", "app"), 19);
  EXPECT_EQ(avail("A", "tmall"), 19);
  EXPECT_EQ(avail("A", "mini"), 0);
  EXPECT_EQ(avail("A", "douyin"), 0);
}

TEST_F(AllocationTest, WithoutPreemptFencesOfOthersAreNotAvailable) {
  set("A", 20);
  allocate("A", {{"tmall", -1, 15}});
  EXPECT_EQ(avail("A", "app"), 5);
  EXPECT_EQ(hold("o1", "app", {{"A", 6}}).code, Code::insufficient_stock);
  allocate("A", {{"tmall", -1, 15}}, {}, true);
  EXPECT_EQ(avail("A", "app"), 20);
  EXPECT_EQ(avail("A", "douyin"), 5) << "douyin (3) cannot take from tmall (2)";
  EXPECT_EQ(hold("o1", "app", {{"A", 20}}).code, Code::ok);
  EXPECT_EQ(avail("A", "tmall"), 0);
}

TEST_F(AllocationTest, PreemptNeedsAStrictlyLowerPriority) {
  channel("pdd", 2);
  set("A", 20);
  allocate("A", {{"tmall", -1, 15}}, {}, true);
  EXPECT_EQ(avail("A", "pdd"), 5) << "same priority: no preemption";
}

TEST_F(AllocationTest, PreemptTakesFencesOfFrozenChannelsToo) {
  set("A", 20);
  allocate("A", {{"mini", -1, 15}}, {}, true);
  freeze("mini");
  EXPECT_EQ(avail("A", "mini"), 0);
  EXPECT_EQ(avail("A", "app"), 20);
}

TEST_F(AllocationTest, PoolIsATotalForItsEventSoldUnitsStayCounted) {
  set("A", 100);
  allocate("A", {}, {pool_spec("live", 20, {"douyin"})});
  EXPECT_EQ(pool_free("A", "live"), 20);
  EXPECT_EQ(avail("A", "douyin"), 100);
  EXPECT_EQ(avail("A", "app"), 80);
  ASSERT_EQ(sale("s1", "douyin", {{"A", 15}}).code, Code::ok);
  EXPECT_EQ(pool_free("A", "live"), 5);
  adjust("A", 15);  // resize: the pool's 15 sold units still count
  EXPECT_EQ(pool_free("A", "live"), 5);
  EXPECT_EQ(view("A").shared_free, 95);
  allocate("A", {}, {pool_spec("live", 30, {"douyin"})});  // raise the event's total
  EXPECT_EQ(pool_free("A", "live"), 15);
}

TEST_F(AllocationTest, PoolsAreSizedInSlotOrderAfterFences) {
  set("A", 10);
  allocate("A", {{"app", -1, 4}}, {pool_spec("p1", 4, {"douyin"}), pool_spec("p2", 4, {"douyin"})});
  EXPECT_EQ(fence_free("A", "app"), 4);
  EXPECT_EQ(pool_free("A", "p1"), 4);
  EXPECT_EQ(pool_free("A", "p2"), 2);
  EXPECT_EQ(view("A").shared_free, 0);
}

TEST_F(AllocationTest, SeveralNewPoolsCanBeOpenedInOneAllocation) {
  // Regression: the second new pool of one SetAllocation read past the end of the slot-match table.
  set("A", 100);
  allocate("A", {}, {pool_spec("p1", 1, {"app"}), pool_spec("p2", 2, {"app"}), pool_spec("p3", 3, {"tmall"})});
  EXPECT_EQ(view("A").pools.size(), 3u);
  allocate("A", {}, {pool_spec("q1", 4, {"app"})});  // reuses a closed idle slot
  allocate("A", {}, {pool_spec("q1", 4, {"app"}), pool_spec("r1", 5, {"app"}), pool_spec("r2", 6, {"app"}),
                     pool_spec("r3", 7, {"app"}), pool_spec("r4", 8, {"app"})});
  SkuView v = view("A");
  ASSERT_EQ(v.pools.size(), 5u);
  EXPECT_EQ(pool_free("A", "r4"), 8);
  EXPECT_EQ(v.shared_free, 100 - 4 - 5 - 6 - 7 - 8);
}

TEST_F(AllocationTest, APoolMadeSmallerWhileHeldNeverGrowsPastItsTotal) {
  // Regression: released units went back to the pool in full, so a pool cut from 14 to 6 while 7 were
  // held offered 7 again: its event could sell more than its total.
  set("A", 100);
  allocate("A", {}, {pool_spec("live", 14, {"douyin"})});
  ASSERT_EQ(hold("o1", "douyin", {{"A", 7}}).code, Code::ok);
  allocate("A", {}, {pool_spec("live", 6, {"douyin"})});
  EXPECT_EQ(pool_free("A", "live"), 0);
  ASSERT_EQ(release("o1").code, Code::ok);
  EXPECT_EQ(pool_free("A", "live"), 6) << "a pool is a total: units - sold - held";
  EXPECT_EQ(view("A").shared_free, 94) << "the rest goes to shared";
  EXPECT_EQ(total("A"), 100);
  ASSERT_EQ(hold("o2", "douyin", {{"A", 3}}).code, Code::ok);
  ASSERT_EQ(confirm("o2").code, Code::ok);  // sold 3 from the pool
  ASSERT_EQ(hold("o3", "douyin", {{"A", 3}}).code, Code::ok);
  allocate("A", {}, {pool_spec("live", 4, {"douyin"})});
  ASSERT_EQ(release("o3").code, Code::ok);
  EXPECT_EQ(pool_free("A", "live"), 1) << "4 - 3 sold";
}

TEST_F(AllocationTest, ClosingAPoolReturnsItsFreeUnitsToShared) {
  set("A", 100);
  allocate("A", {}, {pool_spec("live", 20, {"douyin"})});
  ASSERT_EQ(hold("o1", "douyin", {{"A", 5}}).code, Code::ok);  // from the pool
  Outcome out = run(ClosePool{"A", "live"});
  ASSERT_EQ(out.code, Code::ok);
  SkuView v = view("A");
  EXPECT_TRUE(v.pools.empty()) << "a closed pool is no longer shown";
  EXPECT_EQ(v.shared_free, 95);
  EXPECT_EQ(avail("A", "app"), 95);
  EXPECT_EQ(avail_event("A", "app"), 95);
  EXPECT_FALSE(avail_event("A", "douyin").has_value()) << "douyin's figure did not change";
  release("o1");  // the pool is closed: its units go to shared
  EXPECT_EQ(view("A").shared_free, 100);
  EXPECT_EQ(run(ClosePool{"A", "live"}).code, Code::invalid_request) << "already closed";
  EXPECT_EQ(run(ClosePool{"A", "nope"}).code, Code::invalid_request);
  EXPECT_EQ(run(ClosePool{"Z", "live"}).code, Code::unknown_sku);
}

TEST_F(AllocationTest, PoolsLeftOutOfTheAllocationAreClosed) {
  set("A", 100);
  allocate("A", {}, {pool_spec("live", 20, {"douyin"}), pool_spec("other", 10, {"app"})});
  allocate("A", {}, {pool_spec("other", 10, {"app"})});
  SkuView v = view("A");
  ASSERT_EQ(v.pools.size(), 1u);
  EXPECT_EQ(v.pools[0].name, "other");
  EXPECT_EQ(v.shared_free, 90);
  EXPECT_EQ(avail("A", "douyin"), 90);
}

TEST_F(AllocationTest, ConfirmFromAClosedPoolStillCountsAsSold) {
  set("A", 100);
  allocate("A", {}, {pool_spec("live", 20, {"douyin"})});
  ASSERT_EQ(hold("o1", "douyin", {{"A", 20}}).code, Code::ok);
  run(ClosePool{"A", "live"});
  ASSERT_EQ(confirm("o1").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 80);
  EXPECT_EQ(view("A").held, 0);
  EXPECT_EQ(view("A").shared_free, 80);
}

TEST_F(AllocationTest, RemovedFenceKeepsItsHeldUnitsUntilTheyComeBackToShared) {
  set("A", 20);
  allocate("A", {{"tmall", -1, 10}});
  ASSERT_EQ(hold("o1", "tmall", {{"A", 6}}).code, Code::ok);
  allocate("A", {});
  SkuView v = view("A");
  EXPECT_TRUE(v.fences.empty());
  EXPECT_EQ(v.shared_free, 14);
  EXPECT_EQ(avail("A", "app"), 14);
  release("o1");
  EXPECT_EQ(view("A").shared_free, 20);
  EXPECT_EQ(avail("A", "app"), 20);
}

TEST_F(AllocationTest, AFenceSetAgainWhileItsUnitsAreHeldKeepsThem) {
  set("A", 20);
  allocate("A", {{"tmall", -1, 10}});
  ASSERT_EQ(hold("o1", "tmall", {{"A", 6}}).code, Code::ok);
  allocate("A", {});
  allocate("A", {{"tmall", -1, 10}});
  EXPECT_EQ(fence_free("A", "tmall"), 4) << "the 6 held units still count toward the fence";
  release("o1");
  EXPECT_EQ(fence_free("A", "tmall"), 10);
  EXPECT_EQ(view("A").shared_free, 10);
}

TEST_F(AllocationTest, SetAllocationRejectsUnknownNamesAndChangesNothing) {
  set("A", 20);
  allocate("A", {{"tmall", -1, 10}});
  std::uint64_t version = view("A").version;
  EXPECT_EQ(allocate("A", {{"nope", -1, 1}}).code, Code::unknown_channel);
  EXPECT_EQ(allocate("A", {}, {pool_spec("p", 1, {"app", "nope"})}).code, Code::unknown_channel);
  EXPECT_EQ(allocate("Z", {}).code, Code::unknown_sku);
  EXPECT_EQ(view("A").version, version);
  EXPECT_EQ(fence_free("A", "tmall"), 10);
}

TEST_F(AllocationTest, FrozenChannelsFenceStaysItsOwn) {
  set("A", 20);
  allocate("A", {{"tmall", -1, 10}});
  freeze("tmall");
  EXPECT_EQ(avail("A", "tmall"), 0);
  EXPECT_EQ(avail("A", "app"), 10) << "without preempt nobody else takes a frozen channel's fence";
  EXPECT_EQ(view("A").available, 20) << "the top-level figure is everything free";
}

TEST_F(AllocationTest, SafetyStockRaisedAboveFreeGivesBackOnlyWhatBecomesSellable) {
  set("A", 10);
  ASSERT_EQ(hold("o1", "app", {{"A", 8}}).code, Code::ok);
  safety("A", 5);
  EXPECT_EQ(total("A"), 0);
  EXPECT_EQ(view("A").shared_free, 0);
  release("o1");
  EXPECT_EQ(view("A").held, 0);
  EXPECT_EQ(total("A"), 5) << "10 - 5 - 0: not the 8 released";
  EXPECT_EQ(view("A").shared_free, 5);
}

TEST_F(AllocationTest, SafetyStockRaisedFenceDrawGivesBackOnlyTheGrowth) {
  set("A", 10);
  allocate("A", {{"app", -1, 4}});
  ASSERT_EQ(hold("o1", "app", {{"A", 8}}).code, Code::ok);  // fence 4, shared 4
  safety("A", 5);  // total_free max(0, 10 - 5 - 8) = 0
  EXPECT_EQ(total("A"), 0);
  // The fence draw comes back first: 10 - 5 - 4 = 1 unit becomes free (in the fence), then the
  // shared draw: 10 - 5 - 0 = 5, so 4 more (in shared).
  release("o1");
  SkuView v = view("A");
  EXPECT_EQ(total("A"), 5);
  EXPECT_EQ(v.shared_free + (fence(v, "app")->size - fence(v, "app")->held), 5);
  EXPECT_EQ(fence_free("A", "app"), 1);
  EXPECT_EQ(v.shared_free, 4);
}

TEST_F(AllocationTest, PartialConfirmGivesTheRestBackToItsBuckets) {
  set("A", 100);
  allocate("A", {{"app", -1, 10}});
  ASSERT_EQ(hold("o1", "app", {{"A", 15}}).code, Code::ok);  // fence 10, shared 5
  ASSERT_EQ(confirm("o1", std::vector<HoldLine>{{"A", 12}}).code, Code::ok);
  // Consumed in draw order: 10 from the fence, 2 from shared; 3 shared come back.
  EXPECT_EQ(view("A").on_hand, 88);
  EXPECT_EQ(fence_free("A", "app"), 0);
  EXPECT_EQ(view("A").shared_free, 88);
}

TEST_F(AllocationTest, EmptyAllocationMakesEverythingShared) {
  set("A", 30);
  allocate("A", {{"app", -1, 10}}, {pool_spec("p", 5, {"douyin"})}, true);
  allocate("A", {});
  SkuView v = view("A");
  EXPECT_TRUE(v.fences.empty());
  EXPECT_TRUE(v.pools.empty());
  EXPECT_FALSE(v.preempt);
  EXPECT_EQ(v.shared_free, 30);
  for (const char* ch : {"app", "tmall", "douyin", "mini"}) EXPECT_EQ(avail("A", ch), 30) << ch;
}

TEST_F(AllocationTest, EveryChannelFigureMatchesTheFormula) {
  set("A", 57, 3);
  allocate("A", {{"app", 0.1}, {"douyin", -1, 9}}, {pool_spec("p", 6, {"tmall", "mini"})}, true);
  SkuView v = view("A");
  std::int64_t app_f = fence_free("A", "app"), dy_f = fence_free("A", "douyin"), p_f = pool_free("A", "p");
  EXPECT_EQ(app_f, 5);
  EXPECT_EQ(dy_f, 9);
  EXPECT_EQ(p_f, 6);
  EXPECT_EQ(v.shared_free, 54 - 5 - 9 - 6);
  EXPECT_EQ(avail("A", "app"), v.shared_free + app_f + dy_f);
  EXPECT_EQ(avail("A", "tmall"), v.shared_free + p_f + dy_f);
  EXPECT_EQ(avail("A", "douyin"), v.shared_free + dy_f);
  EXPECT_EQ(avail("A", "mini"), v.shared_free + p_f);
  for (const auto& c : v.channels) EXPECT_EQ(c.available, avail("A", std::string(c.channel)));
}

}  // namespace
}  // namespace stockd::core::testing
