// Stock: channels, setting and adjusting on hand (idempotent refs), safety stock, low_stock alerts and
// the event sequence.
#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class StockTest : public CoreTest {
 protected:
  void SetUp() override {
    channel("app", 1);
    channel("tmall", 2);
  }
};

TEST_F(StockTest, NewChannelTakesDefaults) {
  Outcome out = run(PutChannel{"new", std::nullopt, std::nullopt, std::nullopt});
  ASSERT_EQ(out.code, Code::ok);
  ChannelView c = inv.channel(out.index);
  EXPECT_EQ(c.name, "new");
  EXPECT_EQ(c.priority, 100);
  EXPECT_EQ(c.hold_ttl_s, 900) << "docs/api.md: hold_ttl_s defaults to 900";
  EXPECT_EQ(c.state, ChannelState::active);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::channel_updated);
  EXPECT_EQ(events[0].channel, out.index);
  // Fields not given keep their value.
  run(PutChannel{"new", 7, std::nullopt, std::nullopt});
  c = inv.channel(out.index);
  EXPECT_EQ(c.priority, 7);
  EXPECT_EQ(c.hold_ttl_s, 900) << "docs/api.md: hold_ttl_s defaults to 900";
}

TEST_F(StockTest, ChannelCountIsLimited) {
  for (std::size_t i = inv.channel_count(); i < 1024; ++i)  // docs/api.md: 1,024 channels
    ASSERT_EQ(channel("c" + std::to_string(i)).code, Code::ok);
  EXPECT_EQ(channel("one-too-many").code, Code::invalid_request);
  EXPECT_EQ(inv.channel_count(), 1024u);
  EXPECT_EQ(channel("app", 3).code, Code::ok) << "an existing channel can still be updated";
}

TEST_F(StockTest, PutSkuCreatesASkuAndReportsIt) {
  Outcome out = set("A", 100, 10);
  ASSERT_EQ(out.code, Code::ok);
  SkuView v = view("A");
  EXPECT_EQ(v.on_hand, 100);
  EXPECT_EQ(v.safety_stock, 10);
  EXPECT_EQ(v.held, 0);
  EXPECT_EQ(v.available, 90);
  EXPECT_EQ(v.shared_free, 90);
  EXPECT_EQ(v.low_stock_threshold, 10);
  EXPECT_FALSE(v.low_stock_threshold_explicit);
  EXPECT_EQ(v.version, 1u);
  ASSERT_EQ(v.channels.size(), 2u);
  EXPECT_EQ(v.channels[0].channel, "app");
  EXPECT_EQ(v.channels[0].available, 90);
  auto adjusted = of_type(EventType::stock_adjusted);
  ASSERT_EQ(adjusted.size(), 1u);
  EXPECT_EQ(adjusted[0].reason, "set");
  EXPECT_EQ(adjusted[0].delta, 100);
  EXPECT_EQ(adjusted[0].on_hand, 100);
  EXPECT_EQ(avail_event("A", "app"), 90);
  EXPECT_EQ(avail_event("A", "tmall"), 90);
}

TEST_F(StockTest, PutSkuKeepsFieldsNotGiven) {
  set("A", 100, 10);
  PutSku c;
  c.sku = "A";
  c.max_per_hold = 4;
  run(c);
  SkuView v = view("A");
  EXPECT_EQ(v.on_hand, 100);
  EXPECT_EQ(v.safety_stock, 10);
  EXPECT_EQ(v.max_per_hold, 4);
  EXPECT_EQ(v.version, 2u);
  EXPECT_TRUE(of_type(EventType::stock_adjusted).empty()) << "on_hand did not change";
  EXPECT_TRUE(of_type(EventType::availability).empty());
}

TEST_F(StockTest, PutSkuBelowHeldIsInvalidState) {
  set("A", 10);
  ASSERT_EQ(hold("o1", "app", {{"A", 6}}).code, Code::ok);
  Outcome out = set("A", 5);
  EXPECT_EQ(out.code, Code::invalid_state);
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(view("A").on_hand, 10);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(set("A", 6).code, Code::ok) << "exactly what is held is allowed";
  EXPECT_EQ(view("A").available, 0);
}

TEST_F(StockTest, SetStockRecomputesAvailableFromOnHand) {
  set("A", 10);
  ASSERT_EQ(hold("o1", "app", {{"A", 4}}).code, Code::ok);
  set("A", 20);
  EXPECT_EQ(view("A").on_hand, 20);
  EXPECT_EQ(view("A").held, 4);
  EXPECT_EQ(total("A"), 16);
  EXPECT_EQ(of_type(EventType::stock_adjusted)[0].delta, 10);
}

TEST_F(StockTest, AdjustAddsDeltaAndReportsIt) {
  set("A", 10);
  Outcome out = adjust("A", 5, "ADJ-1", "receipt");
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(view("A").on_hand, 15);
  auto adjusted = of_type(EventType::stock_adjusted);
  ASSERT_EQ(adjusted.size(), 1u);
  EXPECT_EQ(adjusted[0].delta, 5);
  EXPECT_EQ(adjusted[0].on_hand, 15);
  EXPECT_EQ(adjusted[0].reason, "receipt");
  EXPECT_EQ(adjusted[0].ref, "ADJ-1");
  EXPECT_EQ(avail_event("A", "app"), 15);
  EXPECT_EQ(adjust("A", -3, "", "damaged").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 12);
  EXPECT_EQ(adjust("Z", 1).code, Code::unknown_sku);
}

TEST_F(StockTest, AdjustRefIsAppliedOnceAndConflictsOnAnotherDelta) {
  set("A", 10);
  set("B", 10);
  ASSERT_EQ(adjust("A", -3, "ADJ-17").code, Code::ok);
  Outcome again = adjust("A", -3, "ADJ-17");
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_FALSE(again.changed);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(view("A").on_hand, 7);
  EXPECT_EQ(adjust("A", -4, "ADJ-17").code, Code::idempotency_conflict);
  EXPECT_EQ(view("A").on_hand, 7);
  EXPECT_EQ(adjust("B", -4, "ADJ-17").code, Code::ok) << "refs are per SKU";
  EXPECT_EQ(view("B").on_hand, 6);
  EXPECT_EQ(adjust("A", 1).code, Code::ok);
  EXPECT_EQ(adjust("A", 1).code, Code::ok) << "no ref: applied every time";
  EXPECT_EQ(view("A").on_hand, 9);
  EXPECT_EQ(inv.stats().adjustment_refs, 2u);
}

TEST_F(StockTest, AdjustBelowHeldIsInvalidStateAndNotRemembered) {
  set("A", 10);
  ASSERT_EQ(hold("o1", "app", {{"A", 8}}).code, Code::ok);
  Outcome out = adjust("A", -3, "r1");
  EXPECT_EQ(out.code, Code::invalid_state);
  EXPECT_EQ(view("A").on_hand, 10);
  EXPECT_EQ(adjust("A", -2, "r1").code, Code::ok) << "a rejected ref is not remembered";
  EXPECT_EQ(view("A").on_hand, 8);
  EXPECT_EQ(view("A").available, 0);
}

// on_hand and |delta| are limited to 10^15 (docs/api.md, "Conventions"; the number written out on purpose).
TEST_F(StockTest, AdjustOutOfRangeIsInvalidRequest) {
  set("A", 999'999'999'999'999);
  Outcome out = adjust("A", 2);
  EXPECT_EQ(out.code, Code::invalid_request) << "on_hand above 10^15";
  EXPECT_EQ(out.message, "on_hand would exceed 1000000000000000");
  EXPECT_EQ(view("A").on_hand, 999'999'999'999'999) << "a refused adjustment changes nothing";
  EXPECT_EQ(adjust("A", 1).code, Code::ok) << "exactly 10^15";
  EXPECT_EQ(adjust("A", 0).code, Code::invalid_request);
  EXPECT_EQ(adjust("A", 1'000'000'000'000'001).code, Code::invalid_request) << "|delta| above 10^15";
  EXPECT_EQ(view("A").on_hand, 1'000'000'000'000'000);
  EXPECT_EQ(adjust("A", -1'000'000'000'000'000).code, Code::ok) << "delta -10^15";
  EXPECT_EQ(view("A").on_hand, 0);
}

TEST_F(StockTest, SafetyStockIsNeverOffered) {
  set("A", 10, 4);
  EXPECT_EQ(total("A"), 6);
  EXPECT_EQ(avail("A", "app"), 6);
  EXPECT_EQ(hold("o1", "app", {{"A", 7}}).code, Code::insufficient_stock);
  ASSERT_EQ(hold("o1", "app", {{"A", 6}}).code, Code::ok);
  EXPECT_EQ(total("A"), 0);
  EXPECT_EQ(view("A").held, 6);
  safety("A", 20);
  EXPECT_EQ(total("A"), 0) << "safety above on_hand: nothing sellable, never negative";
  EXPECT_EQ(avail("A", "tmall"), 0);
  safety("A", 0);
  EXPECT_EQ(total("A"), 4);
}

TEST_F(StockTest, LowStockFiresWhenAvailableFallsBelowTenPercent) {
  set("A", 100);
  EXPECT_EQ(view("A").low_stock_threshold, 10);
  ASSERT_EQ(hold("o1", "app", {{"A", 90}}).code, Code::ok);
  EXPECT_TRUE(of_type(EventType::low_stock).empty()) << "available 10 is not below 10";
  ASSERT_EQ(hold("o2", "app", {{"A", 1}}).code, Code::ok);
  auto low = of_type(EventType::low_stock);
  ASSERT_EQ(low.size(), 1u);
  EXPECT_EQ(low[0].sku, inv.find_sku("A"));
  EXPECT_EQ(low[0].available, 9);
  EXPECT_EQ(low[0].threshold, 10);
  ASSERT_EQ(hold("o3", "app", {{"A", 1}}).code, Code::ok);
  EXPECT_TRUE(of_type(EventType::low_stock).empty()) << "already below: no new alert";
  release("o2");
  release("o3");
  EXPECT_TRUE(of_type(EventType::low_stock).empty());
  ASSERT_EQ(hold("o4", "app", {{"A", 5}}).code, Code::ok);
  EXPECT_EQ(of_type(EventType::low_stock).size(), 1u) << "fell again from >= threshold";
}

TEST_F(StockTest, LowStockThresholdFollowsTheLastSetOrAdjustOnly) {
  set("A", 100);
  sale("s1", "app", {{"A", 50}});
  EXPECT_EQ(view("A").low_stock_threshold, 10) << "a sale does not move the threshold";
  adjust("A", 150);
  EXPECT_EQ(view("A").low_stock_threshold, 20);
  safety("A", 5);
  EXPECT_EQ(view("A").low_stock_threshold, 20) << "setting only safety stock keeps it";
  set("A", 33);
  EXPECT_EQ(view("A").low_stock_threshold, 3) << "floor(33 * 100 / 1000)";
}

TEST_F(StockTest, ExplicitLowStockThresholdAndClear) {
  PutSku c;
  c.sku = "A";
  c.on_hand = 100;
  c.low_stock_threshold = 50;
  run(c);
  EXPECT_EQ(view("A").low_stock_threshold, 50);
  EXPECT_TRUE(view("A").low_stock_threshold_explicit);
  adjust("A", 100);
  EXPECT_EQ(view("A").low_stock_threshold, 50) << "an explicit threshold stays";
  ASSERT_EQ(hold("o1", "app", {{"A", 151}}).code, Code::ok);
  ASSERT_EQ(of_type(EventType::low_stock).size(), 1u);
  EXPECT_EQ(of_type(EventType::low_stock)[0].threshold, 50);
  c = PutSku{};
  c.sku = "A";
  c.low_stock_threshold = kClear;
  run(c);
  EXPECT_FALSE(view("A").low_stock_threshold_explicit);
  EXPECT_EQ(view("A").low_stock_threshold, 20);
}

TEST_F(StockTest, LowStockFiresOnAdjustAndSet) {
  set("A", 100);
  adjust("A", -95);
  // Threshold is recomputed first (floor(5 * 10 %) = 0), so available 5 is not below it.
  EXPECT_TRUE(of_type(EventType::low_stock).empty());
  PutSku c;
  c.sku = "A";
  c.low_stock_threshold = 8;
  run(c);
  auto low = of_type(EventType::low_stock);
  ASSERT_EQ(low.size(), 1u) << "raising the threshold above available fires";
  EXPECT_EQ(low[0].available, 5);
  EXPECT_EQ(low[0].threshold, 8);
}

TEST_F(StockTest, LowStockPermilleIsConfigurable) {
  run(Configure{limits::kDefaultRetentionMs, 500});
  set("A", 100);
  EXPECT_EQ(view("A").low_stock_threshold, 50);
  EXPECT_EQ(inv.low_stock_permille(), 500);
}

TEST_F(StockTest, EventSeqStartsAtOneAndStrictlyIncreases) {
  Inventory fresh;
  std::vector<Event> all;
  fresh.apply(PutChannel{"a", 1, 60, ChannelState::active}, 1, &all);
  fresh.apply(PutChannel{"b", 2, 60, ChannelState::active}, 2, &all);
  PutSku s;
  s.sku = "A";
  s.on_hand = 10;
  fresh.apply(s, 3, &all);
  fresh.apply(CreateHold{"h", "a", {{"A", 9}}, 1, false}, 4, &all);
  fresh.apply(Tick{}, 2000, &all);
  fresh.apply(CreateHold{"h2", "a", {{"A", 99}}, 1, false}, 2001, &all);  // rejected: no events
  fresh.apply(Tick{}, 2000, nullptr);  // events not collected still take no seq
  fresh.apply(Adjust{"A", 1, "", ""}, 2002, &all);
  ASSERT_GE(all.size(), 8u);
  EXPECT_EQ(all[0].seq, 1u);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_EQ(all[i].seq, all[i - 1].seq + 1) << i;
  EXPECT_EQ(fresh.last_event_seq(), all.back().seq);
}

TEST_F(StockTest, EventsWithoutASinkStillAdvanceTheSequence) {
  std::uint64_t before = inv.last_event_seq();
  inv.apply(PutChannel{"x", 1, 60, ChannelState::active}, now, nullptr);
  EXPECT_EQ(inv.last_event_seq(), before + 1) << "seq must not depend on who listens (replay)";
}

}  // namespace
}  // namespace stockd::core::testing
