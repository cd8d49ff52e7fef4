// The worked examples of docs/allocation.md, step by step with the same numbers. If one of these
// fails, either the core or the document is wrong: fix the one that disagrees with the rules.
#include <map>

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

struct Figures {
  std::int64_t on_hand, held, available, shared;
  std::int64_t app_fence, tmall_fence, live_pool;         // free units, -1: not in the allocation
  std::int64_t app, tmall, douyin, mini;                  // per-channel available
};

class DocsExamplesTest : public CoreTest {
 protected:
  void SetUp() override {
    channel("app", 1);
    channel("tmall", 2);
    channel("douyin", 3);
    channel("mini", 4);
  }
  std::int64_t fence_free(const SkuView& v, std::string_view ch) {
    for (const FenceView& f : v.fences)
      if (f.channel == ch) return f.size - f.held;
    return -1;
  }
  std::int64_t pool_free(const SkuView& v, std::string_view name) {
    for (const PoolView& p : v.pools)
      if (p.name == name) return p.size - p.held;
    return -1;
  }
  void expect(const char* step, const Figures& f) {
    SCOPED_TRACE(step);
    SkuView v = view("TEA");
    EXPECT_EQ(v.on_hand, f.on_hand);
    EXPECT_EQ(v.held, f.held);
    EXPECT_EQ(v.available, f.available);
    EXPECT_EQ(v.shared_free, f.shared);
    EXPECT_EQ(fence_free(v, "app"), f.app_fence);
    EXPECT_EQ(fence_free(v, "tmall"), f.tmall_fence);
    EXPECT_EQ(pool_free(v, "live"), f.live_pool);
    EXPECT_EQ(avail("TEA", "app"), f.app);
    EXPECT_EQ(avail("TEA", "tmall"), f.tmall);
    EXPECT_EQ(avail("TEA", "douyin"), f.douyin);
    EXPECT_EQ(avail("TEA", "mini"), f.mini);
  }
  void allocation(std::int64_t live_units, bool preempt) {
    ASSERT_EQ(allocate("TEA", {{"app", 0.2}, {"tmall", -1, 30}}, {PoolSpec{"live", live_units, {"douyin"}}}, preempt)
                  .code,
              Code::ok);
  }
};

TEST_F(DocsExamplesTest, TheStoryOfTea) {
  // 1. Set stock.
  ASSERT_EQ(set("TEA", 100, 10).code, Code::ok);
  expect("1 set", {100, 0, 90, 90, -1, -1, -1, 90, 90, 90, 90});
  EXPECT_EQ(view("TEA").low_stock_threshold, 10);

  // 2. Allocation: app 20 % fence, tmall 30-unit fence, douyin live pool of 20.
  allocation(20, false);
  expect("2 allocation", {100, 0, 90, 22, 18, 30, 20, 40, 52, 42, 22});

  // 3. douyin holds 30: live pool first (20), then shared (10).
  ASSERT_EQ(hold("h1", "douyin", {{"TEA", 30}}).code, Code::ok);
  expect("3 hold", {100, 30, 60, 12, 18, 30, 0, 30, 42, 12, 12});

  // 4. Sale: confirm h1. on_hand and held fall together; no bucket is resized.
  ASSERT_EQ(confirm("h1").code, Code::ok);
  expect("4 confirm", {70, 0, 60, 12, 18, 30, 0, 30, 42, 12, 12});

  // 5. Receipt: +50. Everything is resized; the pool's 20 sold units still count against its 20.
  ASSERT_EQ(adjust("TEA", 50, "RCV-1", "receipt").code, Code::ok);
  expect("5 receipt", {120, 0, 110, 58, 22, 30, 0, 80, 88, 58, 58});
  EXPECT_EQ(view("TEA").low_stock_threshold, 12);
  ASSERT_EQ(adjust("TEA", 50, "RCV-1", "receipt").code, Code::ok);
  EXPECT_TRUE(events.empty()) << "a repeated ref is applied once";
  expect("5 receipt replayed", {120, 0, 110, 58, 22, 30, 0, 80, 88, 58, 58});

  // 6. app holds 25 (fence 22, shared 3), then releases it: each draw goes back where it came from.
  ASSERT_EQ(hold("h2", "app", {{"TEA", 25}}).code, Code::ok);
  expect("6 hold", {120, 25, 85, 55, 0, 30, 0, 55, 85, 55, 55});
  ASSERT_EQ(release("h2").code, Code::ok);
  expect("6 release", {120, 0, 110, 58, 22, 30, 0, 80, 88, 58, 58});

  // 7. tmall holds 40 for 60 s (fence 30, shared 10); at expires_at the units come back by themselves.
  ASSERT_EQ(hold("h3", "tmall", {{"TEA", 40}}, 60).code, Code::ok);
  expect("7 hold", {120, 40, 70, 48, 22, 0, 0, 70, 48, 48, 48});
  advance_ms(60'000);
  tick();
  EXPECT_EQ(state_of("h3"), HoldState::expired);
  expect("7 expired", {120, 0, 110, 58, 22, 30, 0, 80, 88, 58, 58});

  // 8. Adjustment: -8 damaged. Resized: app floor(0.2 * 102) = 20.
  ASSERT_EQ(adjust("TEA", -8, "DMG-1", "damaged").code, Code::ok);
  expect("8 adjust", {112, 0, 102, 52, 20, 30, 0, 72, 82, 52, 52});
  ASSERT_EQ(hold("h4", "mini", {{"TEA", 50}}).code, Code::ok);
  EXPECT_EQ(adjust("TEA", -63).code, Code::invalid_state) << "112 - 63 = 49 is below the 50 held";
  ASSERT_EQ(release("h4").code, Code::ok);

  // 9. Preemption: app (priority 1) may take tmall's (priority 2) fence once the rest is gone.
  allocation(20, true);
  expect("9 preempt on", {112, 0, 102, 52, 20, 30, 0, 102, 82, 52, 52});
  ASSERT_EQ(hold("h5", "app", {{"TEA", 90}}).code, Code::ok);  // fence 20, shared 52, tmall's fence 18
  expect("9 preempted", {112, 90, 12, 0, 0, 12, 0, 12, 12, 0, 0});
  ASSERT_EQ(release("h5").code, Code::ok);
  expect("9 released", {112, 0, 102, 52, 20, 30, 0, 102, 82, 52, 52});

  // 10. A second live session: the pool's total goes to 35 (20 already sold), douyin holds 5, the
  //     session closes: the pool's free units go to shared; the held ones follow when released.
  allocation(35, true);
  expect("10 pool raised", {112, 0, 102, 37, 20, 30, 15, 87, 67, 52, 37});
  ASSERT_EQ(hold("h6", "douyin", {{"TEA", 5}}).code, Code::ok);
  expect("10 hold", {112, 5, 97, 37, 20, 30, 10, 87, 67, 47, 37});
  ASSERT_EQ(run(ClosePool{"TEA", "live"}).code, Code::ok);
  expect("10 closed", {112, 5, 97, 47, 20, 30, -1, 97, 77, 47, 47});
  ASSERT_EQ(release("h6").code, Code::ok);
  expect("10 released", {112, 0, 102, 52, 20, 30, -1, 102, 82, 52, 52});
}

TEST_F(DocsExamplesTest, SafetyStockRaisedAboveFree) {
  set("CUP", 10);
  ASSERT_EQ(hold("c1", "app", {{"CUP", 8}}).code, Code::ok);
  EXPECT_EQ(total("CUP"), 2);
  safety("CUP", 5);
  EXPECT_EQ(total("CUP"), 0) << "max(0, 10 - 5 - 8)";
  EXPECT_EQ(avail("CUP", "app"), 0);
  ASSERT_EQ(release("c1").code, Code::ok);
  EXPECT_EQ(view("CUP").held, 0);
  EXPECT_EQ(total("CUP"), 5) << "only 5 of the 8 released units become sellable";
  EXPECT_EQ(view("CUP").shared_free, 5);
}

TEST_F(DocsExamplesTest, PartialConfirm) {
  set("CUP", 10);
  allocate("CUP", {{"app", -1, 4}});
  ASSERT_EQ(hold("c1", "app", {{"CUP", 6}}).code, Code::ok);  // fence 4, shared 2
  ASSERT_EQ(confirm("c1", std::vector<HoldLine>{{"CUP", 5}}).code, Code::ok);
  SkuView v = view("CUP");
  EXPECT_EQ(v.on_hand, 5);
  EXPECT_EQ(v.held, 0);
  EXPECT_EQ(fence_free(v, "app"), 0) << "the fence's 4 were sold";
  EXPECT_EQ(v.shared_free, 5) << "1 of the 2 shared units sold, 1 came back";
}

TEST_F(DocsExamplesTest, ShortStockFencesByPriorityThenPools) {
  // 30 sellable units for fences of 6 (app) and 30 (tmall) and a pool of 20: app is served first.
  ASSERT_EQ(set("TEA", 40, 10).code, Code::ok);
  allocation(20, false);
  expect("short", {40, 0, 30, 0, 6, 24, 0, 6, 24, 0, 0});
  // A receipt of 60: sellable 90, everything is sized in full again (as in step 2 of the story).
  ASSERT_EQ(adjust("TEA", 60, "RCV-2", "receipt").code, Code::ok);
  expect("received", {100, 0, 90, 22, 18, 30, 20, 40, 52, 42, 22});
}

TEST_F(DocsExamplesTest, FrozenChannel) {
  ASSERT_EQ(set("TEA", 100, 10).code, Code::ok);
  allocation(20, false);
  ASSERT_EQ(hold("f1", "tmall", {{"TEA", 5}}).code, Code::ok);  // from tmall's fence
  ASSERT_EQ(freeze("tmall").code, Code::ok);
  expect("frozen", {100, 5, 85, 22, 18, 25, 20, 40, 0, 42, 22});
  EXPECT_EQ(hold("f2", "tmall", {{"TEA", 1}}).code, Code::channel_frozen);
  ASSERT_EQ(confirm("f1").code, Code::ok) << "a frozen channel's holds can still be confirmed";
  expect("confirmed", {95, 0, 85, 22, 18, 25, 20, 40, 0, 42, 22});
  // With preempt, app (priority 1) may use the frozen tmall's fence; douyin and mini may not.
  allocation(20, true);
  expect("preempt", {95, 0, 85, 18, 17, 30, 20, 65, 0, 38, 18});
  ASSERT_EQ(freeze("tmall", false).code, Code::ok);
  expect("active again", {95, 0, 85, 18, 17, 30, 20, 65, 48, 38, 18});
}

TEST_F(DocsExamplesTest, LowStockAlert) {
  ASSERT_EQ(set("TEA", 100, 10).code, Code::ok);  // threshold floor(100 * 10 %) = 10
  ASSERT_EQ(hold("l1", "app", {{"TEA", 80}}).code, Code::ok);
  EXPECT_TRUE(of_type(EventType::low_stock).empty()) << "available 10 is not below 10";
  ASSERT_EQ(hold("l2", "app", {{"TEA", 3}}).code, Code::ok);
  auto low = of_type(EventType::low_stock);
  ASSERT_EQ(low.size(), 1u);
  EXPECT_EQ(low[0].available, 7);
  EXPECT_EQ(low[0].threshold, 10);
  ASSERT_EQ(hold("l3", "app", {{"TEA", 2}}).code, Code::ok);
  EXPECT_TRUE(of_type(EventType::low_stock).empty()) << "already below: no second alert";
  ASSERT_EQ(release("l2").code, Code::ok);
  ASSERT_EQ(release("l3").code, Code::ok);  // available 10 again: the alert is re-armed
  ASSERT_EQ(hold("l4", "app", {{"TEA", 1}}).code, Code::ok);
  EXPECT_EQ(of_type(EventType::low_stock).size(), 1u) << "fell from 10 to 9: a new alert";
  // A receipt moves the threshold with on_hand: +100 -> threshold 20, available 109.
  ASSERT_EQ(adjust("TEA", 100, "RCV-3", "receipt").code, Code::ok);
  EXPECT_EQ(view("TEA").low_stock_threshold, 20);
  EXPECT_TRUE(of_type(EventType::low_stock).empty());
}

// docs/allocation.md, "Three marketplaces share 100 units".
class ListedExampleTest : public CoreTest {
 protected:
  struct Row {
    std::int64_t on_hand, held, exposed, available;
    std::int64_t tmall_pub, tmall_exp, jd_pub, jd_exp, douyin_pub, douyin_exp;
  };
  void list(const std::string& ch, std::int64_t priority, Listing l) {
    PutChannel c;
    c.channel = ch;
    c.priority = priority;
    c.listing = l;
    ASSERT_EQ(run(c).code, Code::ok);
  }
  void ack(const std::string& ch) {
    ASSERT_EQ(run(AckPublications{ch, inv.last_publication_seq(inv.find_channel(ch))}).code, Code::ok);
  }
  void expect(const char* step, const Row& r) {
    SCOPED_TRACE(step);
    SkuView v = view("CUP");
    EXPECT_EQ(v.on_hand, r.on_hand);
    EXPECT_EQ(v.held, r.held);
    EXPECT_EQ(v.exposed, r.exposed);
    EXPECT_EQ(v.available, r.available);
    EXPECT_EQ(avail("CUP", "app"), r.available);
    std::map<std::string_view, std::pair<std::int64_t, std::int64_t>> got;
    for (const auto& c : v.channels) got[c.channel] = {c.published, c.exposed};
    EXPECT_EQ(got["tmall"], std::make_pair(r.tmall_pub, r.tmall_exp));
    EXPECT_EQ(got["jd"], std::make_pair(r.jd_pub, r.jd_exp));
    EXPECT_EQ(got["douyin"], std::make_pair(r.douyin_pub, r.douyin_exp));
  }
};

TEST_F(ListedExampleTest, ThreeMarketplaces) {
  channel("app", 4);
  set("CUP", 100);
  list("tmall", 1, Listing{50, 0, -1, 0});
  list("jd", 2, Listing{50, 5, -1, 0});
  list("douyin", 3, Listing{100, 0, 20, 5});
  expect("1 listed", {100, 0, 90, 10, 50, 50, 20, 20, 20, 20});
  ASSERT_EQ(sale("t1", "tmall", {{"CUP", 30}}).code, Code::ok);
  expect("2 tmall sells 30", {70, 0, 70, 0, 30, 30, 12, 20, 15, 20});
  ack("jd");
  expect("3 jd acks", {70, 0, 67, 3, 35, 35, 12, 12, 20, 20});
  ack("douyin");
  expect("3 douyin acks", {70, 0, 67, 3, 35, 35, 12, 12, 20, 20});
  ASSERT_EQ(adjust("CUP", 30, "RCV-1", "received").code, Code::ok);
  expect("4 receipt", {100, 0, 90, 10, 50, 50, 20, 20, 20, 20});
  ASSERT_EQ(hold("a1", "app", {{"CUP", 10}}).code, Code::ok);
  expect("5 app holds 10", {100, 10, 90, 0, 45, 50, 15, 20, 20, 20});
  ack("tmall");
  expect("6 tmall acks", {100, 10, 85, 5, 45, 45, 17, 20, 20, 20});
  ack("jd");
  expect("6 jd acks", {100, 10, 82, 8, 45, 45, 17, 17, 20, 20});
  ASSERT_EQ(adjust("CUP", -60, "DMG-1", "damaged").code, Code::ok);
  EXPECT_EQ(of_type(EventType::exposure_deficit).size(), 3u);
  expect("7 damaged", {40, 10, 30, 0, 15, 30, 0, 0, 0, 0});
  ack("tmall");
  ack("jd");
  ack("douyin");
  expect("8 acks", {40, 10, 30, 0, 15, 15, 2, 2, 13, 13});
}

}  // namespace

}  // namespace stockd::core::testing
