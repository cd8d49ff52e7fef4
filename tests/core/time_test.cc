// Time: expiry (exactly once, at expires_at, by any command), retention of finished holds and
// adjustment refs, Configure, and the clock that never runs backwards.
#include <limits>

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class TimeTest : public CoreTest {
 protected:
  void SetUp() override {
    channel("app", 1, 60);
    set("A", 10);
    set("B", 10);
  }
};

TEST_F(TimeTest, ExpiryReturnsTheUnitsExactlyOnceAtExpiresAt) {
  ASSERT_EQ(hold("o1", "app", {{"A", 4}, {"B", 1}}, 10).code, Code::ok);
  advance_ms(9'999);
  Outcome t = tick();
  EXPECT_FALSE(t.changed);
  EXPECT_EQ(state_of("o1"), HoldState::held);
  EXPECT_EQ(total("A"), 6);
  advance_ms(1);
  t = tick();
  EXPECT_TRUE(t.changed);
  EXPECT_EQ(state_of("o1"), HoldState::expired);
  EXPECT_EQ(hold_view("o1").finished_at_ms, now);
  EXPECT_EQ(total("A"), 10);
  EXPECT_EQ(total("B"), 10);
  ASSERT_EQ(of_type(EventType::hold_expired).size(), 1u);
  EXPECT_EQ(of_type(EventType::hold_expired)[0].hold, inv.find_hold("o1"));
  EXPECT_EQ(avail_event("A", "app"), 10);
  for (int i = 0; i < 3; ++i) {
    advance_ms(1000);
    EXPECT_FALSE(tick().changed);
    EXPECT_TRUE(events.empty()) << "an expired hold gives its units back once";
  }
  Outcome r = release("o1");
  EXPECT_EQ(r.hold_state, HoldState::expired);
  EXPECT_FALSE(r.changed);
  EXPECT_EQ(total("A"), 10);
  EXPECT_EQ(view("A").held, 0);
}

TEST_F(TimeTest, AnyCommandExpiresDueHoldsBeforeItRuns) {
  ASSERT_EQ(hold("o1", "app", {{"A", 10}}, 5).code, Code::ok);
  EXPECT_EQ(hold("o2", "app", {{"A", 1}}).code, Code::insufficient_stock);
  advance_ms(5'000);
  // The new hold can use the units that o1 gives back in the same apply().
  Outcome out = hold("o2", "app", {{"A", 10}});
  EXPECT_EQ(out.code, Code::ok);
  EXPECT_EQ(state_of("o1"), HoldState::expired);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type, EventType::hold_expired) << "expiry runs first";
}

TEST_F(TimeTest, HoldsDueTogetherExpireInOneApply) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(hold("o" + std::to_string(i), "app", {{"A", 1}}, 1 + i).code, Code::ok);
  advance_ms(60'000);
  tick();
  EXPECT_EQ(of_type(EventType::hold_expired).size(), 5u);
  EXPECT_EQ(total("A"), 10);
  // In expires_at order.
  auto expired = of_type(EventType::hold_expired);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(inv.hold_id(expired[i].hold), "o" + std::to_string(i));
}

TEST_F(TimeTest, NextDueIsTheEarliestExpiryOrRetention) {
  EXPECT_EQ(inv.next_due_ms(), std::numeric_limits<std::int64_t>::max());
  hold("o1", "app", {{"A", 1}}, 30);
  hold("o2", "app", {{"A", 1}}, 10);
  EXPECT_EQ(inv.next_due_ms(), now + 10'000);
  confirm("o2");
  EXPECT_EQ(inv.next_due_ms(), now + 30'000);
  release("o1");
  EXPECT_EQ(inv.next_due_ms(), now + limits::kDefaultRetentionMs) << "finished holds are forgotten then";
}

TEST_F(TimeTest, FinishedHoldsAreForgottenAfterRetentionAndTheIdCanBeUsedAgain) {
  ASSERT_EQ(hold("o1", "app", {{"A", 2}}).code, Code::ok);
  ASSERT_EQ(confirm("o1").code, Code::ok);
  std::int64_t confirmed_at = now;
  now = confirmed_at + limits::kDefaultRetentionMs - 1;
  Outcome replay = hold("o1", "app", {{"A", 2}});
  EXPECT_EQ(replay.code, Code::ok);
  EXPECT_FALSE(replay.created) << "remembered for 24 h";
  EXPECT_EQ(replay.hold_state, HoldState::confirmed);
  EXPECT_EQ(hold("o1", "app", {{"A", 3}}).code, Code::idempotency_conflict);

  now = confirmed_at + limits::kDefaultRetentionMs;
  tick();
  EXPECT_EQ(inv.find_hold("o1"), kNoIndex);
  EXPECT_EQ(inv.stats().holds_confirmed, 0u);
  EXPECT_EQ(confirm("o1").code, Code::unknown_hold);
  Outcome anew = hold("o1", "app", {{"A", 3}});
  EXPECT_EQ(anew.code, Code::ok);
  EXPECT_TRUE(anew.created) << "after retention the id is new again";
  EXPECT_EQ(view("A").on_hand, 8);
  EXPECT_EQ(view("A").held, 3);
}

TEST_F(TimeTest, RetentionCountsFromTheEndOfTheHold) {
  ASSERT_EQ(hold("exp", "app", {{"A", 1}}, 60).code, Code::ok);
  ASSERT_EQ(hold("rel", "app", {{"A", 1}}).code, Code::ok);
  advance_ms(30'000);
  release("rel");
  advance_ms(30'000);
  tick();  // "exp" expires now
  std::int64_t expired_at = now;
  now = expired_at + limits::kDefaultRetentionMs - 30'001;
  tick();
  EXPECT_NE(inv.find_hold("rel"), kNoIndex);
  advance_ms(1);
  tick();
  EXPECT_EQ(inv.find_hold("rel"), kNoIndex);
  EXPECT_NE(inv.find_hold("exp"), kNoIndex);
  now = expired_at + limits::kDefaultRetentionMs;
  tick();
  EXPECT_EQ(inv.find_hold("exp"), kNoIndex);
}

TEST_F(TimeTest, HeldHoldsAreNeverForgotten) {
  ASSERT_EQ(hold("o1", "app", {{"A", 2}}, limits::kTtlSecondsMax).code, Code::ok);
  advance_ms(limits::kDefaultRetentionMs * 3);
  tick();
  EXPECT_EQ(state_of("o1"), HoldState::held);
  EXPECT_EQ(view("A").held, 2);
}

TEST_F(TimeTest, AdjustmentRefsAreForgottenAfterRetention) {
  ASSERT_EQ(adjust("A", 5, "r1").code, Code::ok);
  advance_ms(limits::kDefaultRetentionMs - 1);
  ASSERT_EQ(adjust("A", 5, "r1").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 15) << "a repeated ref within retention is applied once";
  EXPECT_EQ(inv.stats().adjustment_refs, 1u);
  advance_ms(1);
  ASSERT_EQ(adjust("A", 5, "r1").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 20) << "after retention the ref is new again";
}

TEST_F(TimeTest, ConfigureChangesRetentionAndAppliesItAtOnce) {
  ASSERT_EQ(hold("o1", "app", {{"A", 1}}).code, Code::ok);
  ASSERT_EQ(release("o1").code, Code::ok);
  ASSERT_EQ(adjust("A", 1, "r1").code, Code::ok);
  advance_ms(2 * kHourMs);
  tick();
  EXPECT_NE(inv.find_hold("o1"), kNoIndex);
  Outcome out = run(Configure{kHourMs, 100});
  EXPECT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(inv.retention_ms(), kHourMs);
  EXPECT_EQ(inv.find_hold("o1"), kNoIndex) << "Configure forgets what the new retention no longer covers";
  EXPECT_EQ(inv.stats().adjustment_refs, 0u);
  EXPECT_EQ(run(Configure{kHourMs, 100}).changed, false);
  EXPECT_EQ(run(Configure{-1, 100}).code, Code::invalid_request);
  EXPECT_EQ(run(Configure{kHourMs, 1001}).code, Code::invalid_request);
}

TEST_F(TimeTest, TimeGoingBackwardsIsClamped) {
  advance_ms(10'000);
  tick();
  std::int64_t latest = now;
  EXPECT_EQ(inv.now_ms(), latest);
  now = latest - kHourMs;
  EXPECT_EQ(inv.effective_now(now), latest);
  ASSERT_EQ(hold("o1", "app", {{"A", 1}}, 10).code, Code::ok);
  EXPECT_EQ(hold_view("o1").created_at_ms, latest) << "a command from the past happens at the latest time";
  EXPECT_EQ(hold_view("o1").expires_at_ms, latest + 10'000);
  EXPECT_EQ(inv.now_ms(), latest);
  for (const Event& e : events) EXPECT_EQ(e.at_ms, latest);
  // A hold does not come back to life when the clock goes back after its expiry.
  now = latest + 10'000;
  tick();
  EXPECT_EQ(state_of("o1"), HoldState::expired);
  now = latest;
  tick();
  EXPECT_EQ(state_of("o1"), HoldState::expired);
  EXPECT_EQ(confirm("o1").code, Code::hold_expired);
  EXPECT_EQ(view("A").held, 0);
}

TEST_F(TimeTest, NegativeTimeIsClampedToZeroOnAFreshInventory) {
  Inventory fresh;
  fresh.apply(PutChannel{"c", 1, 10, ChannelState::active}, -5, nullptr);
  EXPECT_EQ(fresh.now_ms(), 0);
}

}  // namespace
}  // namespace stockd::core::testing
