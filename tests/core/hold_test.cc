// Holds: all or nothing, the order of the checks, idempotency by id, confirm (whole, partial, in one
// step), release, extend, frozen channels, purchase limits.
#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class HoldTest : public CoreTest {
 protected:
  void SetUp() override {
    channel("app", 1, 900);
    channel("tmall", 2, 600);
    set("A", 10);
    set("B", 5);
  }
};

TEST_F(HoldTest, HoldTakesUnitsFromAvailable) {
  Outcome out = hold("o1", "app", {{"A", 3}});
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.created);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(out.hold_state, HoldState::held);
  EXPECT_EQ(out.index, inv.find_hold("o1"));
  EXPECT_EQ(view("A").held, 3);
  EXPECT_EQ(view("A").on_hand, 10);
  EXPECT_EQ(total("A"), 7);
  EXPECT_EQ(avail("A", "app"), 7);
  EXPECT_EQ(avail("A", "tmall"), 7);
  EXPECT_EQ(avail_event("A", "app"), 7);
  EXPECT_EQ(avail_event("A", "tmall"), 7);
  HoldView h = hold_view("o1");
  EXPECT_EQ(h.channel, "app");
  EXPECT_EQ(h.created_at_ms, now);
  EXPECT_EQ(h.finished_at_ms, 0);
  ASSERT_EQ(h.lines.size(), 1u);
  EXPECT_EQ(h.lines[0].sku, "A");
  EXPECT_EQ(h.lines[0].qty, 3);
}

TEST_F(HoldTest, HoldIsAllOrNothing) {
  Outcome out = hold("o1", "app", {{"A", 2}, {"B", 6}});
  EXPECT_EQ(out.code, Code::insufficient_stock);
  EXPECT_EQ(out.detail_sku, "B");
  EXPECT_EQ(out.requested, 6);
  EXPECT_EQ(out.available, 5);
  EXPECT_FALSE(out.changed);
  EXPECT_EQ(view("A").held, 0) << "line A must not be held when line B is short";
  EXPECT_EQ(view("B").held, 0);
  EXPECT_EQ(inv.find_hold("o1"), kNoIndex);
  EXPECT_TRUE(events.empty());
}

TEST_F(HoldTest, InsufficientStockNamesTheFirstShortLine) {
  Outcome out = hold("o1", "app", {{"B", 9}, {"A", 11}});
  ASSERT_EQ(out.code, Code::insufficient_stock);
  EXPECT_EQ(out.detail_sku, "B");
  EXPECT_EQ(out.requested, 9);
  EXPECT_EQ(out.available, 5);
}

TEST_F(HoldTest, HoldOfExactlyAvailableSucceedsOneMoreFails) {
  EXPECT_EQ(hold("o1", "app", {{"A", 10}}).code, Code::ok);
  EXPECT_EQ(total("A"), 0);
  Outcome out = hold("o2", "tmall", {{"A", 1}});
  EXPECT_EQ(out.code, Code::insufficient_stock);
  EXPECT_EQ(out.available, 0);
}

TEST_F(HoldTest, ReplayOfTheSameRequestReturnsTheHoldAsItIsNow) {
  ASSERT_EQ(hold("o1", "app", {{"A", 2}, {"B", 1}}).code, Code::ok);
  Outcome again = hold("o1", "app", {{"B", 1}, {"A", 2}});  // lines in another order
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_FALSE(again.created);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.hold_state, HoldState::held);
  EXPECT_EQ(again.index, inv.find_hold("o1"));
  EXPECT_EQ(view("A").held, 2) << "a replay must not hold twice";
  EXPECT_TRUE(events.empty());

  ASSERT_EQ(confirm("o1").code, Code::ok);
  again = hold("o1", "app", {{"A", 2}, {"B", 1}});
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.hold_state, HoldState::confirmed);
  EXPECT_EQ(view("A").on_hand, 8);
}

TEST_F(HoldTest, ReplayWinsOverLaterChecks) {
  ASSERT_EQ(hold("o1", "app", {{"A", 10}}).code, Code::ok);
  freeze("app");
  // Frozen channel and no stock left: the replay still answers with the hold.
  Outcome again = hold("o1", "app", {{"A", 10}});
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_FALSE(again.created);
}

TEST_F(HoldTest, SameIdWithOtherLinesOrChannelIsAConflict) {
  ASSERT_EQ(hold("o1", "app", {{"A", 2}, {"B", 1}}).code, Code::ok);
  EXPECT_EQ(hold("o1", "tmall", {{"A", 2}, {"B", 1}}).code, Code::idempotency_conflict) << "other channel";
  EXPECT_EQ(hold("o1", "app", {{"A", 3}, {"B", 1}}).code, Code::idempotency_conflict) << "other qty";
  EXPECT_EQ(hold("o1", "app", {{"A", 2}}).code, Code::idempotency_conflict) << "a line fewer";
  EXPECT_EQ(hold("o1", "app", {{"A", 2}, {"B", 1}, {"C", 1}}).code, Code::idempotency_conflict)
      << "a line more (even of an unknown sku)";
  EXPECT_EQ(hold("o1", "app", {{"A", 1}, {"B", 2}}).code, Code::idempotency_conflict) << "qty swapped";
  EXPECT_EQ(view("A").held, 2);
  EXPECT_EQ(view("B").held, 1);
}

TEST_F(HoldTest, SaleRepeatingTheIdOfAnOpenHoldIsAConflict) {
  ASSERT_EQ(hold("o1", "app", {{"A", 2}}).code, Code::ok);
  Outcome o = sale("o1", "app", {{"A", 2}});
  EXPECT_EQ(o.code, Code::idempotency_conflict) << "answering held would let the caller believe it sold";
  EXPECT_EQ(view("A").on_hand, 10);
  EXPECT_EQ(view("A").held, 2);
  ASSERT_EQ(sale("s1", "app", {{"A", 1}}).code, Code::ok);
  Outcome replay = sale("s1", "app", {{"A", 1}});
  EXPECT_EQ(replay.code, Code::ok) << "a replayed sale finds its hold confirmed";
  EXPECT_EQ(replay.hold_state, HoldState::confirmed);
  EXPECT_EQ(hold("s1", "app", {{"A", 1}}).hold_state, HoldState::confirmed) << "a plain replay: as it is now";
  EXPECT_EQ(view("A").on_hand, 9);
}

TEST_F(HoldTest, RejectedAttemptIsNotRemembered) {
  EXPECT_EQ(hold("o1", "app", {{"A", 20}}).code, Code::insufficient_stock);
  EXPECT_EQ(hold("o1", "nope", {{"A", 1}}).code, Code::unknown_channel);
  adjust("A", 15);
  Outcome out = hold("o1", "app", {{"A", 20}});
  EXPECT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.created);
}

TEST_F(HoldTest, ChecksRunInTheContractsOrder) {
  PutSku limit;
  limit.sku = "A";
  limit.max_per_hold = 2;
  run(limit);
  freeze("tmall");
  // unknown_channel before channel_frozen/unknown_sku/limit/insufficient.
  EXPECT_EQ(hold("o1", "nope", {{"Z", 99}}).code, Code::unknown_channel);
  // channel_frozen before unknown_sku.
  EXPECT_EQ(hold("o1", "tmall", {{"Z", 99}}).code, Code::channel_frozen);
  // unknown_sku (any line) before limit_exceeded.
  EXPECT_EQ(hold("o1", "app", {{"A", 3}, {"Z", 1}}).code, Code::unknown_sku);
  // limit_exceeded (any line) before insufficient_stock.
  Outcome out = hold("o1", "app", {{"B", 50}, {"A", 3}});
  EXPECT_EQ(out.code, Code::limit_exceeded);
  EXPECT_EQ(out.detail_sku, "A");
  EXPECT_EQ(out.requested, 3);
  EXPECT_EQ(out.available, 2);
  EXPECT_EQ(hold("o1", "app", {{"B", 50}, {"A", 2}}).code, Code::insufficient_stock);
  EXPECT_EQ(hold("o1", "app", {{"B", 5}, {"A", 2}}).code, Code::ok);
}

TEST_F(HoldTest, MaxPerHoldCanBeClearedAndZeroMeansNoLimit) {
  PutSku c;
  c.sku = "A";
  c.max_per_hold = 2;
  run(c);
  EXPECT_EQ(view("A").max_per_hold, 2);
  EXPECT_EQ(hold("o1", "app", {{"A", 2}}).code, Code::ok);
  EXPECT_EQ(hold("o2", "app", {{"A", 3}}).code, Code::limit_exceeded);
  EXPECT_EQ(view("A").held, 2);
  c.max_per_hold = kClear;
  run(c);
  EXPECT_EQ(view("A").max_per_hold, 0);
  EXPECT_EQ(hold("o2", "app", {{"A", 3}}).code, Code::ok);
  c.max_per_hold = 0;
  run(c);
  EXPECT_EQ(hold("o3", "app", {{"A", 5}}).code, Code::ok);
}

TEST_F(HoldTest, TtlDefaultsToTheChannelsHoldTtl) {
  ASSERT_EQ(hold("o1", "tmall", {{"A", 1}}).code, Code::ok);
  EXPECT_EQ(hold_view("o1").expires_at_ms, now + 600 * 1000);
  ASSERT_EQ(hold("o2", "tmall", {{"A", 1}}, 30).code, Code::ok);
  EXPECT_EQ(hold_view("o2").expires_at_ms, now + 30 * 1000);
}

TEST_F(HoldTest, ConfirmSellsTheHeldUnits) {
  ASSERT_EQ(hold("o1", "app", {{"A", 3}, {"B", 2}}).code, Code::ok);
  advance_ms(1000);
  Outcome out = confirm("o1");
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(out.hold_state, HoldState::confirmed);
  EXPECT_EQ(view("A").on_hand, 7);
  EXPECT_EQ(view("A").held, 0);
  EXPECT_EQ(total("A"), 7) << "a sale does not change what is free";
  EXPECT_EQ(view("B").on_hand, 3);
  EXPECT_EQ(state_of("o1"), HoldState::confirmed);
  EXPECT_EQ(hold_view("o1").finished_at_ms, now);
  ASSERT_EQ(of_type(EventType::hold_confirmed).size(), 1u);
  EXPECT_EQ(of_type(EventType::hold_confirmed)[0].hold, inv.find_hold("o1"));
  EXPECT_TRUE(of_type(EventType::availability).empty()) << "available did not change";
  EXPECT_EQ(inv.stats().holds_confirmed, 1u);
  EXPECT_EQ(inv.stats().holds_held, 0u);
}

TEST_F(HoldTest, ConfirmIsIdempotentAndRefusesFinishedHolds) {
  ASSERT_EQ(hold("o1", "app", {{"A", 1}}).code, Code::ok);
  ASSERT_EQ(hold("o2", "app", {{"A", 1}}).code, Code::ok);
  ASSERT_EQ(hold("o3", "app", {{"A", 1}}, 5).code, Code::ok);
  ASSERT_EQ(confirm("o1").code, Code::ok);
  Outcome again = confirm("o1");
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.hold_state, HoldState::confirmed);
  EXPECT_EQ(view("A").on_hand, 9) << "a repeated confirm sells once";

  ASSERT_EQ(release("o2").code, Code::ok);
  EXPECT_EQ(confirm("o2").code, Code::invalid_state);

  advance_ms(5000);
  EXPECT_EQ(confirm("o3").code, Code::hold_expired);
  EXPECT_EQ(confirm("nope").code, Code::unknown_hold);
  EXPECT_EQ(view("A").on_hand, 9);
  EXPECT_EQ(view("A").held, 0);
}

TEST_F(HoldTest, ReleaseGivesUnitsBackAndIsIdempotent) {
  ASSERT_EQ(hold("o1", "app", {{"A", 4}}).code, Code::ok);
  Outcome out = release("o1");
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.changed);
  EXPECT_EQ(out.hold_state, HoldState::released);
  EXPECT_EQ(view("A").held, 0);
  EXPECT_EQ(total("A"), 10);
  EXPECT_EQ(avail_event("A", "app"), 10);
  EXPECT_EQ(of_type(EventType::hold_released).size(), 1u);

  Outcome again = release("o1");
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.hold_state, HoldState::released);
  EXPECT_EQ(total("A"), 10) << "a repeated release gives back nothing";
  EXPECT_TRUE(events.empty());
}

TEST_F(HoldTest, ReleaseOfAnExpiredHoldAnswersExpiredAndOfAConfirmedOneIsInvalid) {
  ASSERT_EQ(hold("o1", "app", {{"A", 4}}, 1).code, Code::ok);
  ASSERT_EQ(hold("o2", "app", {{"A", 4}}).code, Code::ok);
  advance_ms(1000);
  Outcome out = release("o1");
  EXPECT_EQ(out.code, Code::ok);
  EXPECT_EQ(out.hold_state, HoldState::expired);
  EXPECT_EQ(total("A"), 6);
  ASSERT_EQ(confirm("o2").code, Code::ok);
  EXPECT_EQ(release("o2").code, Code::invalid_state);
  EXPECT_EQ(release("nope").code, Code::unknown_hold);
  EXPECT_EQ(view("A").on_hand, 6);
}

TEST_F(HoldTest, ExtendMovesExpiryFromNow) {
  ASSERT_EQ(hold("o1", "app", {{"A", 4}}, 10).code, Code::ok);
  advance_ms(8000);
  Outcome out = extend("o1", 60);
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_EQ(out.hold_state, HoldState::held);
  EXPECT_EQ(hold_view("o1").expires_at_ms, now + 60'000);
  advance_ms(59'999);
  tick();
  EXPECT_EQ(state_of("o1"), HoldState::held) << "expires_at moved to now + ttl_s";
  EXPECT_EQ(view("A").held, 4);
  advance_ms(1);
  tick();
  EXPECT_EQ(state_of("o1"), HoldState::expired);
  EXPECT_EQ(view("A").held, 0);
}

TEST_F(HoldTest, ExtendCanShortenAHold) {
  ASSERT_EQ(hold("o1", "app", {{"A", 4}}, 600).code, Code::ok);
  ASSERT_EQ(extend("o1", 1).code, Code::ok);
  advance_ms(1000);
  tick();
  EXPECT_EQ(state_of("o1"), HoldState::expired);
}

TEST_F(HoldTest, ExtendRefusesFinishedHolds) {
  ASSERT_EQ(hold("o1", "app", {{"A", 1}}, 1).code, Code::ok);
  ASSERT_EQ(hold("o2", "app", {{"A", 1}}).code, Code::ok);
  ASSERT_EQ(hold("o3", "app", {{"A", 1}}).code, Code::ok);
  ASSERT_EQ(confirm("o2").code, Code::ok);
  ASSERT_EQ(release("o3").code, Code::ok);
  advance_ms(1000);
  EXPECT_EQ(extend("o1", 60).code, Code::hold_expired);
  EXPECT_EQ(extend("o2", 60).code, Code::invalid_state);
  EXPECT_EQ(extend("o3", 60).code, Code::invalid_state);
  EXPECT_EQ(extend("nope", 60).code, Code::unknown_hold);
}

TEST_F(HoldTest, ConfirmTrueReservesAndSellsInOneStep) {
  Outcome out = sale("pos1", "app", {{"A", 3}, {"B", 5}});
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_TRUE(out.created);
  EXPECT_EQ(out.hold_state, HoldState::confirmed);
  EXPECT_EQ(view("A").on_hand, 7);
  EXPECT_EQ(view("A").held, 0);
  EXPECT_EQ(view("B").on_hand, 0);
  EXPECT_EQ(state_of("pos1"), HoldState::confirmed);
  EXPECT_EQ(of_type(EventType::hold_confirmed).size(), 1u);
  EXPECT_EQ(inv.stats().holds_held, 0u) << "nothing is left to expire";
  EXPECT_EQ(avail_event("A", "app"), 7);
  // Replay of the sale: same answer, sold once.
  out = sale("pos1", "app", {{"B", 5}, {"A", 3}});
  EXPECT_EQ(out.code, Code::ok);
  EXPECT_FALSE(out.created);
  EXPECT_EQ(out.hold_state, HoldState::confirmed);
  EXPECT_EQ(view("A").on_hand, 7);
  // A sale is all or nothing as well.
  EXPECT_EQ(sale("pos2", "app", {{"A", 1}, {"B", 1}}).code, Code::insufficient_stock);
  EXPECT_EQ(view("A").on_hand, 7);
}

TEST_F(HoldTest, PartialConfirmSellsTheNamedQuantitiesAndReleasesTheRest) {
  ASSERT_EQ(hold("o1", "app", {{"A", 5}, {"B", 3}}).code, Code::ok);
  Outcome out = confirm("o1", std::vector<HoldLine>{{"A", 2}});
  ASSERT_EQ(out.code, Code::ok);
  EXPECT_EQ(out.hold_state, HoldState::confirmed);
  EXPECT_EQ(view("A").on_hand, 8);
  EXPECT_EQ(view("A").held, 0);
  EXPECT_EQ(total("A"), 8) << "3 unconfirmed units of A come back";
  EXPECT_EQ(view("B").on_hand, 5);
  EXPECT_EQ(view("B").held, 0);
  EXPECT_EQ(total("B"), 5) << "B was not named: all of it comes back";
  HoldView h = hold_view("o1");
  ASSERT_EQ(h.lines.size(), 1u) << "the hold shows the confirmed lines";
  EXPECT_EQ(h.lines[0].sku, "A");
  EXPECT_EQ(h.lines[0].qty, 2);
  // The original request is still recognised as a replay, not a conflict.
  Outcome again = hold("o1", "app", {{"A", 5}, {"B", 3}});
  EXPECT_EQ(again.code, Code::ok);
  EXPECT_EQ(again.hold_state, HoldState::confirmed);
  EXPECT_EQ(hold("o1", "app", {{"A", 2}}).code, Code::idempotency_conflict);
  // Confirm again (whole or partial): idempotent.
  EXPECT_EQ(confirm("o1").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 8);
}

TEST_F(HoldTest, PartialConfirmOfEverythingIsAWholeConfirm) {
  ASSERT_EQ(hold("o1", "app", {{"A", 5}}).code, Code::ok);
  ASSERT_EQ(confirm("o1", std::vector<HoldLine>{{"A", 5}}).code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 5);
  EXPECT_EQ(hold_view("o1").lines[0].qty, 5);
}

TEST_F(HoldTest, PartialConfirmRejectsLinesNotHeld) {
  ASSERT_EQ(hold("o1", "app", {{"A", 5}}).code, Code::ok);
  EXPECT_EQ(confirm("o1", std::vector<HoldLine>{{"A", 6}}).code, Code::invalid_request) << "more than held";
  EXPECT_EQ(confirm("o1", std::vector<HoldLine>{{"B", 1}}).code, Code::invalid_request) << "sku not in hold";
  EXPECT_EQ(confirm("o1", std::vector<HoldLine>{{"A", 0}}).code, Code::invalid_request) << "qty 0";
  EXPECT_EQ(state_of("o1"), HoldState::held) << "a rejected confirm changes nothing";
  EXPECT_EQ(view("A").held, 5);
}

TEST_F(HoldTest, FrozenChannelMakesNoNewHoldButFinishesOldOnes) {
  ASSERT_EQ(hold("o1", "tmall", {{"A", 2}}).code, Code::ok);
  ASSERT_EQ(hold("o2", "tmall", {{"A", 3}}).code, Code::ok);
  Outcome f = freeze("tmall");
  ASSERT_EQ(f.code, Code::ok);
  ASSERT_EQ(of_type(EventType::channel_updated).size(), 1u);
  EXPECT_EQ(inv.channel(inv.find_channel("tmall")).state, ChannelState::frozen);
  EXPECT_EQ(avail("A", "tmall"), 0);
  EXPECT_EQ(avail("A", "app"), 5);
  EXPECT_EQ(view("A").available, 5);
  EXPECT_EQ(hold("o3", "tmall", {{"A", 1}}).code, Code::channel_frozen);
  EXPECT_EQ(confirm("o1").code, Code::ok);
  EXPECT_EQ(release("o2").code, Code::ok);
  EXPECT_EQ(view("A").on_hand, 8);
  EXPECT_EQ(avail("A", "tmall"), 0);
  EXPECT_EQ(avail("A", "app"), 8);
  freeze("tmall", false);
  EXPECT_EQ(avail("A", "tmall"), 8);
  EXPECT_EQ(hold("o3", "tmall", {{"A", 1}}).code, Code::ok);
}

TEST_F(HoldTest, UnknownNamesAreReported) {
  EXPECT_EQ(hold("o1", "nope", {{"A", 1}}).code, Code::unknown_channel);
  EXPECT_EQ(hold("o1", "app", {{"Z", 1}}).code, Code::unknown_sku);
  EXPECT_EQ(confirm("zz").code, Code::unknown_hold);
  EXPECT_EQ(release("zz").code, Code::unknown_hold);
  EXPECT_EQ(extend("zz", 5).code, Code::unknown_hold);
}

TEST_F(HoldTest, ReleasedHoldIdCannotBeReusedForAnotherRequestWithinRetention) {
  ASSERT_EQ(hold("o1", "app", {{"A", 1}}).code, Code::ok);
  ASSERT_EQ(release("o1").code, Code::ok);
  EXPECT_EQ(hold("o1", "app", {{"A", 2}}).code, Code::idempotency_conflict);
  Outcome same = hold("o1", "app", {{"A", 1}});
  EXPECT_EQ(same.code, Code::ok);
  EXPECT_EQ(same.hold_state, HoldState::released) << "the replay reports the hold as it is now";
  EXPECT_EQ(view("A").held, 0);
}

TEST_F(HoldTest, StatsCountHoldsByState) {
  hold("o1", "app", {{"A", 1}});
  hold("o2", "app", {{"A", 1}});
  hold("o3", "app", {{"A", 1}}, 1);
  hold("o4", "app", {{"A", 1}});
  confirm("o1");
  release("o2");
  advance_ms(1000);
  tick();
  Stats st = inv.stats();
  EXPECT_EQ(st.holds_held, 1u);
  EXPECT_EQ(st.holds_confirmed, 1u);
  EXPECT_EQ(st.holds_released, 1u);
  EXPECT_EQ(st.holds_expired, 1u);
  EXPECT_EQ(st.skus, 2u);
  EXPECT_EQ(st.channels, 2u);
}

}  // namespace
}  // namespace stockd::core::testing
