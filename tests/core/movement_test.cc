// Movements: every change of a SKU's on_hand or held gives one movement per (SKU, change) with the
// right cause and deltas; seqs are contiguous, counted without a sink, saved in snapshots, and replay
// regenerates exactly the same movements.
#include <string>
#include <tuple>
#include <vector>

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class MovementTest : public CoreTest {
 protected:
  std::vector<Movement> moves;
  void SetUp() override { inv.set_movement_sink(&moves); }

  // (cause, sku, on_hand_delta, held_delta) of every movement since the last take().
  using Row = std::tuple<std::string, std::string, std::int64_t, std::int64_t>;
  std::vector<Row> take() {
    std::vector<Row> rows;
    for (const Movement& m : moves)
      rows.emplace_back(std::string(movement_cause_name(m.cause)), std::string(inv.sku_name(m.sku)),
                        m.on_hand_delta, m.held_delta);
    moves.clear();
    return rows;
  }
};

TEST_F(MovementTest, SetGivesTheOnHandChangeAndNothingWhenUnchanged) {
  set("A", 10);
  EXPECT_EQ(take(), (std::vector<Row>{{"set", "A", 10, 0}}));
  set("A", 7);
  EXPECT_EQ(take(), (std::vector<Row>{{"set", "A", -3, 0}}));
  set("A", 7);
  safety("A", 2);
  set("B", 0);  // a new SKU at 0: no figure changed
  EXPECT_EQ(take(), std::vector<Row>{});
}

TEST_F(MovementTest, AdjustCarriesItsReasonAndRef) {
  set("A", 10);
  take();
  adjust("A", -4, "RMA-1", "damaged");
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].cause, MovementCause::adjust);
  EXPECT_EQ(moves[0].on_hand_delta, -4);
  EXPECT_EQ(moves[0].ref, "RMA-1");
  EXPECT_EQ(moves[0].reason, "damaged");
  EXPECT_EQ(moves[0].channel, kNoIndex);
  EXPECT_EQ(moves[0].hold, kNoIndex);
  moves.clear();
  adjust("A", -4, "RMA-1", "damaged");  // a replay changes nothing: no movement
  EXPECT_TRUE(moves.empty());
}

TEST_F(MovementTest, AMultiLineHoldGivesOneMovementPerLineNamingHoldAndChannel) {
  channel("web");
  set("A", 10);
  set("B", 10);
  take();
  ASSERT_TRUE(hold("h1", "web", {{"A", 2}, {"B", 3}}).ok());
  ASSERT_EQ(moves.size(), 2u);
  for (const Movement& m : moves) {
    EXPECT_EQ(m.hold, inv.find_hold("h1"));
    EXPECT_EQ(m.channel, inv.find_channel("web"));
    EXPECT_EQ(m.at_ms, now);
    EXPECT_TRUE(m.ref.empty() && m.reason.empty());
  }
  EXPECT_EQ(take(), (std::vector<Row>{{"hold", "A", 0, 2}, {"hold", "B", 0, 3}}));
}

TEST_F(MovementTest, EachEndOfAHoldHasItsCause) {
  channel("web", 100, 60);
  set("A", 100);
  hold("c", "web", {{"A", 5}});
  hold("r", "web", {{"A", 4}});
  hold("e", "web", {{"A", 3}});
  hold("p", "web", {{"A", 6}});
  take();
  confirm("c");
  EXPECT_EQ(take(), (std::vector<Row>{{"confirm", "A", -5, -5}}));
  release("r");
  EXPECT_EQ(take(), (std::vector<Row>{{"release", "A", 0, -4}}));
  confirm("p", std::vector<HoldLine>{{"A", 2}});  // partial: 2 sold, 4 released
  EXPECT_EQ(take(), (std::vector<Row>{{"confirm", "A", -2, -2}, {"release", "A", 0, -4}}));
  advance_ms(61'000);
  tick();
  EXPECT_EQ(take(), (std::vector<Row>{{"expire", "A", 0, -3}}));
  sale("s", "web", {{"A", 1}});
  EXPECT_EQ(take(), (std::vector<Row>{{"confirm", "A", -1, 0}}));
}

TEST_F(MovementTest, RejectedCommandsGiveNoMovement) {
  channel("web");
  set("A", 1);
  take();
  EXPECT_FALSE(hold("h", "web", {{"A", 2}}).ok());
  EXPECT_FALSE(adjust("A", -5).ok());
  EXPECT_TRUE(moves.empty());
}

TEST_F(MovementTest, SeqsAreContiguousAndCountedWithoutASink) {
  channel("web");
  set("A", 10);
  inv.set_movement_sink(nullptr);
  hold("h1", "web", {{"A", 1}});
  EXPECT_EQ(inv.last_movement_seq(), 2u);
  moves.clear();
  inv.set_movement_sink(&moves);
  hold("h2", "web", {{"A", 1}});
  ASSERT_EQ(moves.size(), 1u);
  EXPECT_EQ(moves[0].seq, 3u);
}

// The sums of a SKU's movement deltas are its figures, and replay from a snapshot regenerates exactly
// the movements (seqs included) that the original run produced after it.
TEST_F(MovementTest, SnapshotThenReplayRegeneratesTheSameMovements) {
  std::vector<std::pair<Command, std::int64_t>> tail;
  channel("web", 100, 30);
  set("A", 50);
  hold("x", "web", {{"A", 5}});
  Writer w;
  inv.save(w);
  moves.clear();
  auto step = [&](Command c) {
    tail.emplace_back(c, now);
    run(c);
    now += 10'000;
  };
  step(CreateHold{"h1", "web", {{"A", 3}}, std::nullopt, false});
  step(Adjust{"A", 7, "received", "PO-9"});
  step(ConfirmHold{"h1", std::nullopt});
  step(CreateHold{"h2", "web", {{"A", 2}}, 1, false});
  step(Tick{});  // x and h2 expire
  std::vector<Movement> original = moves;

  Inventory replayed;
  ASSERT_TRUE(replayed.load(w.buffer()));
  std::vector<Movement> again;
  replayed.set_movement_sink(&again);
  for (auto& [c, t] : tail) replayed.apply(c, t, nullptr);
  ASSERT_EQ(again.size(), original.size());
  for (std::size_t i = 0; i < again.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(again[i].seq, original[i].seq);
    EXPECT_EQ(again[i].at_ms, original[i].at_ms);
    EXPECT_EQ(again[i].cause, original[i].cause);
    EXPECT_EQ(again[i].on_hand_delta, original[i].on_hand_delta);
    EXPECT_EQ(again[i].held_delta, original[i].held_delta);
    EXPECT_EQ(again[i].ref, original[i].ref);
    EXPECT_EQ(again[i].reason, original[i].reason);
    ASSERT_EQ(again[i].hold == kNoIndex, original[i].hold == kNoIndex);
    if (again[i].hold != kNoIndex) {
      EXPECT_EQ(replayed.hold_id(again[i].hold), inv.hold_id(original[i].hold));
    }
  }
  EXPECT_EQ(replayed.last_movement_seq(), inv.last_movement_seq());
  EXPECT_EQ(original.front().seq, 3u);  // set A, hold x came before the snapshot
}

}  // namespace
}  // namespace stockd::core::testing
