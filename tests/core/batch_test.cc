// Stock batches (docs/api.md, "Stock batches"): set and delta rows, compare-and-set, every row error,
// atomic all-or-nothing, replays by ref (also from a snapshot), retention, events and invariants.
#include "core/codec.h"
#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

class BatchTest : public CoreTest {
 protected:
  void SetUp() override { channel("app", 1); }

  Outcome batch(std::vector<BatchRow> rows, const std::string& ref = "", bool atomic = false,
                StockReason reason = StockReason::cycle_count) {
    StockBatch b;
    b.ref = ref;
    b.reason = reason;
    b.atomic = atomic;
    b.rows = std::move(rows);
    Outcome out = run(b);
    EXPECT_EQ(out.code, Code::ok) << "a batch is always answered row by row";
    EXPECT_NE(out.batch, nullptr);
    return out;
  }
  static BatchRow set_row(const std::string& sku, std::int64_t on_hand, std::optional<std::int64_t> expect = {}) {
    return BatchRow{sku, true, on_hand, expect};
  }
  static BatchRow delta_row(const std::string& sku, std::int64_t delta, std::optional<std::int64_t> expect = {}) {
    return BatchRow{sku, false, delta, expect};
  }
  std::vector<Code> codes(const Outcome& o) const {
    std::vector<Code> out;
    for (const BatchRowResult& r : o.batch->rows) out.push_back(r.code);
    return out;
  }
};

TEST_F(BatchTest, EveryRowErrorAndTheRowsThatPass) {
  set("A", 10);
  ASSERT_EQ(hold("h1", "app", {{"A", 3}}).code, Code::ok);
  Outcome o = batch({
      set_row("A", 12, 11),                    // precondition_failed, actual 10
      delta_row("NOPE", 1),                    // unknown_sku
      set_row("NOPE2", 5, 0),                  // unknown_sku: expect on an unknown SKU
      set_row("A", 2),                         // invalid_state: 3 held
      delta_row("A", -11),                     // invalid_state: negative (as adjustments)
      set_row("A", -1),                        // invalid_request
      set_row("bad sku!", 1),                  // invalid_request
      delta_row("A", 1'000'000'000'000'000),   // invalid_request: on_hand past 10^15
      delta_row("A", 1'000'000'000'000'001),   // invalid_request: |delta| past 10^15
      set_row("A", 5, -1),                     // invalid_request: expect_on_hand
      set_row("NEW", 7),                       // ok: created
      set_row("A", 20, 10),                    // ok
      delta_row("A", -5, 20),                  // ok: sees the row before
      delta_row("NEW", 0, 7),                  // ok: no change
  });
  EXPECT_EQ(codes(o), (std::vector<Code>{Code::precondition_failed, Code::unknown_sku, Code::unknown_sku,
                                         Code::invalid_state, Code::invalid_state, Code::invalid_request,
                                         Code::invalid_request, Code::invalid_request, Code::invalid_request,
                                         Code::invalid_request, Code::ok, Code::ok, Code::ok, Code::ok}));
  EXPECT_EQ(o.batch->rows[0].actual, 10);
  EXPECT_FALSE(o.batch->failed);
  EXPECT_EQ(view("A").on_hand, 15);
  EXPECT_EQ(view("A").held, 3);
  EXPECT_EQ(view("NEW").on_hand, 7);
  EXPECT_EQ(inv.find_sku("NOPE"), kNoIndex);
  EXPECT_EQ(inv.find_sku("NOPE2"), kNoIndex);
  auto adjusted = of_type(EventType::stock_adjusted);
  ASSERT_EQ(adjusted.size(), 3u) << "NEW created, A set, A adjusted; the no-op row emits nothing";
  for (const Event& e : adjusted) EXPECT_EQ(e.reason, "cycle_count");
  EXPECT_EQ(adjusted[2].delta, -5);
}

TEST_F(BatchTest, AFailedAtomicBatchChangesNothing) {
  set("A", 10);
  std::uint64_t seq = inv.last_event_seq();
  Outcome o = batch({set_row("A", 50), set_row("C", 1), delta_row("A", -2, 11)}, "AT-1", true);
  EXPECT_TRUE(o.batch->failed);
  EXPECT_EQ(codes(o), (std::vector<Code>{Code::invalid_state, Code::invalid_state, Code::precondition_failed}));
  EXPECT_EQ(o.batch->rows[2].actual, 50) << "row 2 sees row 0's planned on_hand";
  EXPECT_EQ(view("A").on_hand, 10);
  EXPECT_EQ(inv.find_sku("C"), kNoIndex);
  EXPECT_EQ(inv.last_event_seq(), seq) << "no event";
  Outcome ok = batch({set_row("A", 50), set_row("C", 1), delta_row("A", -2, 50)}, "AT-2", true);
  EXPECT_FALSE(ok.batch->failed);
  EXPECT_EQ(view("A").on_hand, 48);
  EXPECT_EQ(view("C").on_hand, 1);
}

TEST_F(BatchTest, ARepeatedRefReturnsTheFirstAnswerAndAppliesOnce) {
  set("A", 10);
  Outcome first = batch({delta_row("A", 5)}, "R-1", false, StockReason::received);
  Outcome again = batch({delta_row("A", 100), delta_row("B", 1)}, "R-1");
  EXPECT_EQ(again.batch, first.batch) << "the same answer";
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(view("A").on_hand, 15);
  batch({delta_row("A", 5)});  // no ref: never remembered
  batch({delta_row("A", 5)});
  EXPECT_EQ(view("A").on_hand, 25);
  EXPECT_EQ(inv.batch_ref_count(), 1u);
}

TEST_F(BatchTest, RefsAreForgottenAfterTheRetentionPeriod) {
  set("A", 10);
  batch({delta_row("A", 5)}, "R-1");
  advance_ms(limits::kDefaultRetentionMs - 1);
  batch({delta_row("A", 5)}, "R-1");
  EXPECT_EQ(view("A").on_hand, 15);
  advance_ms(1);
  batch({delta_row("A", 5)}, "R-1");
  EXPECT_EQ(view("A").on_hand, 20) << "past retention the ref is new again";
}

TEST_F(BatchTest, AnswersSurviveASnapshot) {
  set("A", 10);
  Outcome first = batch({set_row("A", 12, 11), delta_row("A", 1)}, "S-1");
  batch({delta_row("X", 1)}, "S-2", true);
  Writer w;
  inv.save(w);
  Inventory copy;
  ASSERT_TRUE(copy.load(w.buffer()));
  Writer again;
  copy.save(again);
  EXPECT_EQ(again.buffer(), w.buffer()) << "save(load(s)) == s";
  StockBatch replay;
  replay.ref = "S-1";
  replay.rows = {delta_row("A", 100)};
  Outcome o = copy.apply(replay, now, nullptr);
  ASSERT_NE(o.batch, nullptr);
  ASSERT_EQ(o.batch->rows.size(), 2u);
  EXPECT_EQ(o.batch->rows[0].code, Code::precondition_failed);
  EXPECT_EQ(o.batch->rows[0].actual, 10);
  EXPECT_EQ(o.batch->rows[0].message, first.batch->rows[0].message);
  EXPECT_EQ(o.batch->rows[1].code, Code::ok);
  EXPECT_EQ(copy.sku(copy.find_sku("A")).on_hand, 11);
  replay.ref = "S-2";
  EXPECT_TRUE(copy.apply(replay, now, nullptr).batch->failed);
}

// A snapshot of format 1 (stockd up to 785f107), written field by field as that version's save() did: a
// frozen channel and one SKU, no holds. It loads with none of the format-2 parts (exposures, batch
// answers, movement seq) and a frozen channel counts as frozen by hand.
TEST_F(BatchTest, AVersionOneSnapshotStillLoads) {
  Writer w;
  w.u32(0x4b434f53);  // magic
  w.u32(1);           // format 1
  w.svarint(5'000);   // now
  w.varint(7);        // last event seq
  w.svarint(86'400'000);  // retention_ms
  w.svarint(100);         // low_stock_permille
  w.varint(1);            // channels
  w.str("app");
  w.svarint(3);    // priority
  w.svarint(900);  // hold ttl
  w.u8(1);         // frozen
  w.varint(1);     // skus
  w.str("A");
  for (std::int64_t v : {10, 1, 0, 9, 0, 1}) w.svarint(v);  // on_hand, safety, held, shared_free, max_per_hold, low
  w.u8(0);      // threshold not explicit
  w.varint(4);  // version
  w.u8(0);      // no allocation
  w.varint(0);  // hold slots
  w.varint(0);  // free slots
  w.varint(0);  // finished holds
  w.varint(0);  // adjustment refs
  Inventory old;
  ASSERT_TRUE(old.load(w.buffer()));
  EXPECT_EQ(old.sku(old.find_sku("A")).on_hand, 10);
  EXPECT_EQ(old.sku(old.find_sku("A")).available, 9);
  EXPECT_EQ(old.channel(old.find_channel("app")).state, ChannelState::frozen);
  EXPECT_EQ(old.channel(old.find_channel("app")).frozen_reason, FrozenReason::manual);
  EXPECT_EQ(old.batch_ref_count(), 0u);
  EXPECT_EQ(old.last_event_seq(), 7u);
  std::string v3 = w.buffer();
  v3[4] = 3;
  EXPECT_FALSE(old.load(v3)) << "a newer format is refused";
  std::string cut = w.buffer();
  cut.pop_back();
  EXPECT_FALSE(old.load(cut)) << "a truncated snapshot is refused";
}

TEST_F(BatchTest, ValidateRefusesTheBatchItselfNotItsRows) {
  StockBatch b;
  b.reason = StockReason::other;
  std::string message;
  EXPECT_EQ(validate(b, &message), Code::invalid_request) << "no rows";
  b.rows.assign(10'001, set_row("A", 1));  // docs/api.md: at most 10,000 rows
  EXPECT_EQ(validate(b, &message), Code::invalid_request);
  b.rows.resize(10'000);
  EXPECT_EQ(validate(b, &message), Code::ok);
  b.rows[0] = set_row("bad sku!", -1);
  EXPECT_EQ(validate(b, &message), Code::ok) << "a bad row is a row error";
  b.ref = "bad ref!";
  EXPECT_EQ(validate(b, &message), Code::invalid_request);
}

}  // namespace
}  // namespace stockd::core::testing
