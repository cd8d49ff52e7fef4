// Stock batches on the cluster store (docs/cluster.md "Stock batches"): all or nothing across
// partitions, a prepare on figures that changed since they were read changes nothing, a locked SKU
// refuses other stock writes but not holds (which cannot take the units a decrease puts aside), and a
// batch whose node died between prepare and end is ended by the sweep as its record decided (abort
// while it says prepare, commit once it says commit).
// A dead node is played by calling the library's functions directly. Against a real Redis Cluster
// (STOCKD_TEST_CLUSTER=host:port; ctest starts one with scripts/redis-cluster).
#include <gtest/gtest.h>

#include <string>

#include "live_cluster.h"

namespace stockd::backends {
namespace {

class Batches : public LiveCluster {
 protected:
  void SetUp() override {
    connect("bt");
    if (IsSkipped() || HasFatalFailure()) return;
    // B's partition after A's: partitions are prepared in ascending order.
    a_ = prefix_ + "A";
    for (int i = 0; partition_of(a_) > 200; ++i) a_ = prefix_ + "A" + std::to_string(i);
    b_ = prefix_ + "B";
    for (int i = 0; partition_of(b_) <= partition_of(a_); ++i) b_ = prefix_ + "B" + std::to_string(i);
    ASSERT_TRUE(apply(core::PutChannel{prefix_ + "app", 1, 900, core::ChannelState::active}).ok());
    ASSERT_TRUE(apply(core::PutSku{a_, 10, 0, {}, {}}).ok());
    ASSERT_TRUE(apply(core::PutSku{b_, 5, 0, {}, {}}).ok());
  }
  std::int64_t on_hand(const std::string& sku) {
    StoreReply r;
    core::Outcome o = store_->get_sku(sku, kT0, &r);
    EXPECT_TRUE(o.ok()) << o.message;
    return r.sku.on_hand;
  }
  static core::BatchRow set_row(const std::string& sku, std::int64_t v, std::optional<std::int64_t> expect = {}) {
    return core::BatchRow{sku, true, v, expect};
  }
  static core::BatchRow delta_row(const std::string& sku, std::int64_t v, std::optional<std::int64_t> expect = {}) {
    return core::BatchRow{sku, false, v, expect};
  }
  // What a node does first for batch `id`: the record, then the prepare of one SKU's single set row
  // in its partition (the SKU has 10 on hand, none held). Then it "dies".
  void prepare_and_die(const std::string& id, const std::string& sku, std::int64_t value) {
    std::string rec = "{p" + std::to_string(partition_of(id)) + "}:b:" + id;
    RedisReply m = cc_->command(rec, {"FCALL", "stockd_batch_mark", "1", rec, "", "prep", "", "86400000"});
    ASSERT_EQ(m.elements.size(), 1u);
    ASSERT_EQ(m.elements[0].str, "OK");
    std::string t = "{p" + std::to_string(partition_of(sku)) + "}";
    RedisReply r = cc_->command(t, {"FCALL", "stockd_batch_prep", "4", t + ":out", t + ":bk", t + ":bl:" + id,
                                    t + ":s:" + sku, std::to_string(kT0), id, std::to_string(kT0 + kLease),
                                    "correction", id, "1", sku, "", "0", "1", "10", "0", std::to_string(value - 10), "0",
                                    "1"});
    ASSERT_EQ(r.elements.size(), 1u) << r.str;
    ASSERT_EQ(r.elements[0].str, "OK");
  }

  static constexpr std::int64_t kLease = 30'000;  // cluster_store_batch.cc kLeaseMs
  std::string a_, b_;
};

TEST_F(Batches, AnAtomicBatchAcrossPartitionsIsAllOrNothing) {
  // B's row fails on the figures read: decided before anything is locked, nothing changes.
  core::StockBatch bad{prefix_ + "at-1", core::StockReason::cycle_count, true,
                       {set_row(a_, 4), delta_row(b_, -2, 4)}};
  StoreReply r;
  core::Outcome o = apply(bad, kT0, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  ASSERT_NE(o.batch, nullptr);
  EXPECT_TRUE(o.batch->failed);
  EXPECT_EQ(o.batch->rows[0].code, core::Code::invalid_state);
  EXPECT_EQ(o.batch->rows[0].message, "not applied: row 1 of this atomic batch failed");
  EXPECT_EQ(o.batch->rows[1].code, core::Code::precondition_failed);
  EXPECT_EQ(o.batch->rows[1].actual, 5);
  EXPECT_EQ(on_hand(a_), 10);
  EXPECT_EQ(on_hand(b_), 5);
  // Corrected, under a new ref: both applied, and the views are the SKUs after the batch.
  core::StockBatch good{prefix_ + "at-2", core::StockReason::cycle_count, true,
                        {set_row(a_, 4), delta_row(b_, -2, 5)}};
  o = apply(good, kT0, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_FALSE(o.batch->failed);
  ASSERT_EQ(r.batch_skus.size(), 2u);
  EXPECT_EQ(r.batch_skus[0].on_hand, 4);
  EXPECT_EQ(r.batch_skus[1].on_hand, 3);
  EXPECT_EQ(on_hand(a_), 4);
  EXPECT_EQ(on_hand(b_), 3);
  // The first answer again for a repeated ref, whatever the body.
  o = apply(core::StockBatch{prefix_ + "at-1", core::StockReason::other, false, {delta_row(a_, 100)}}, kT0, &r);
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o.batch->failed);
  EXPECT_EQ(o.batch->rows.size(), 2u);
  EXPECT_EQ(on_hand(a_), 4);
}

TEST_F(Batches, ADeadNodesBatchIsAbortedByTheSweepAndItsEscrowComesBack) {
  const std::string id = prefix_ + "dead-1";
  prepare_and_die(id, a_, 3);  // a decrease of 7: its units are put aside at once (on_hand moves at the end)
  EXPECT_EQ(on_hand(a_), 10);
  // Locked: other stock writes wait (429), holds take what is left.
  core::Outcome o = apply(core::PutSku{a_, 50, {}, {}, {}});
  EXPECT_EQ(o.code, core::Code::overloaded) << o.message;
  o = apply(core::CreateHold{prefix_ + "h1", prefix_ + "app", {{a_, 2}}, 600, false});
  ASSERT_TRUE(o.ok()) << o.message;
  o = apply(core::CreateHold{prefix_ + "h2", prefix_ + "app", {{a_, 2}}, 600, false});
  EXPECT_EQ(o.code, core::Code::insufficient_stock) << "the escrowed units are nobody's";
  // Within the lease the sweep leaves it; after it, the record still says prepare: abort.
  store_->sweep(kT0 + kLease - 1);
  o = apply(core::CreateHold{prefix_ + "h3", prefix_ + "app", {{a_, 2}}, 600, false});
  EXPECT_EQ(o.code, core::Code::insufficient_stock) << "still locked within the lease";
  store_->sweep(kT0 + kLease + 1);
  EXPECT_EQ(on_hand(a_), 10);
  o = apply(core::CreateHold{prefix_ + "h4", prefix_ + "app", {{a_, 8}}, 600, false});
  ASSERT_TRUE(o.ok()) << "the escrowed units are back: " << o.message;
  ASSERT_TRUE(apply(core::ReleaseHold{prefix_ + "h4"}).ok());
  ASSERT_TRUE(apply(core::PutSku{a_, 12, {}, {}, {}}).ok()) << "unlocked";
  StoreReply r;
  ASSERT_TRUE(store_->get_sku(a_, kT0, &r).ok());
  EXPECT_EQ(r.sku.held, 2);
  // Its ref answers that it was abandoned, nothing applied.
  o = apply(core::StockBatch{id, core::StockReason::correction, true, {set_row(a_, 3)}});
  EXPECT_EQ(o.code, core::Code::unavailable);
  EXPECT_NE(o.message.find("abandoned"), std::string::npos) << o.message;
  EXPECT_EQ(on_hand(a_), 12);
}

TEST_F(Batches, ABatchDecidedBeforeItsNodeDiedIsCommittedByTheSweep) {
  const std::string id = prefix_ + "dead-2";
  prepare_and_die(id, a_, 20);  // an increase: applied at the end
  EXPECT_EQ(on_hand(a_), 10);
  std::string rec = "{p" + std::to_string(partition_of(id)) + "}:b:" + id;
  RedisReply m = cc_->command(rec, {"FCALL", "stockd_batch_mark", "1", rec, "prep", "commit", "0\n0\t0\t" + a_ + "\t",
                                    "86400000"});
  ASSERT_EQ(m.elements.size(), 1u);
  EXPECT_EQ(m.elements[0].str, "OK");
  // Decided, not ended: its ref answers "retry" rather than views without the batch.
  core::Outcome early = apply(core::StockBatch{id, core::StockReason::correction, true, {set_row(a_, 99)}});
  EXPECT_EQ(early.code, core::Code::overloaded) << early.message;
  store_->sweep(kT0 + kLease + 1);
  EXPECT_EQ(on_hand(a_), 20);
  // Its ref answers the decided answer, with the SKU as it is now.
  StoreReply r;
  core::Outcome o = apply(core::StockBatch{id, core::StockReason::correction, true, {set_row(a_, 99)}}, kT0, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  ASSERT_EQ(o.batch->rows.size(), 1u);
  EXPECT_EQ(o.batch->rows[0].code, core::Code::ok);
  ASSERT_EQ(r.batch_skus.size(), 1u);
  EXPECT_EQ(r.batch_skus[0].on_hand, 20);
}

TEST_F(Batches, ABatchMeetingAnothersLockGivesItsOwnBackAndCanBeSentAgain) {
  prepare_and_die(prefix_ + "dead-3", a_, 3);  // A stays locked until the sweep ends it
  core::StockBatch b{prefix_ + "busy-1", core::StockReason::received, true, {set_row(b_, 7), set_row(a_, 8)}};
  core::Outcome o = apply(b);
  EXPECT_EQ(o.code, core::Code::overloaded) << o.message;
  EXPECT_EQ(on_hand(b_), 5) << "nothing of it applied";
  ASSERT_TRUE(apply(core::PutSku{b_, 5, {}, {}, {}}).ok()) << "B's lock was given back";
  store_->sweep(kT0 + kLease + 1);
  StoreReply r;
  o = apply(b, kT0, &r);  // the same ref again: it was never decided, so it runs now
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_FALSE(o.batch->failed);
  EXPECT_EQ(on_hand(a_), 8);
  EXPECT_EQ(on_hand(b_), 7);
}

TEST_F(Batches, APrepareOnFiguresThatChangedChangesNothing) {
  // The node decided on on_hand 9 (a stale read): the library refuses, the SKU stays as it is.
  std::string t = "{p" + std::to_string(partition_of(a_)) + "}";
  const std::string id = prefix_ + "stale";
  RedisReply r = cc_->command(t, {"FCALL", "stockd_batch_prep", "4", t + ":out", t + ":bk", t + ":bl:" + id,
                                  t + ":s:" + a_, std::to_string(kT0), id, std::to_string(kT0 + kLease), "correction",
                                  id, "1", a_, "", "0", "1", "9", "0", "-6", "0", "1"});
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_EQ(r.elements[0].str, "CHANGED");
  EXPECT_EQ(on_hand(a_), 10);
  ASSERT_TRUE(apply(core::PutSku{a_, 11, {}, {}, {}}).ok()) << "not locked";
}

TEST_F(Batches, TwoBatchesOnTheSameSkusNeverBothWin) {
  // Sequentially: the second one's compare-and-set sees the first one's result.
  core::StockBatch x{prefix_ + "x", core::StockReason::cycle_count, false, {set_row(a_, 11, 10), set_row(b_, 6, 5)}};
  core::StockBatch y{prefix_ + "y", core::StockReason::cycle_count, false, {set_row(a_, 22, 10), set_row(b_, 7, 5)}};
  core::Outcome ox = apply(x), oy = apply(y);
  ASSERT_TRUE(ox.ok() && oy.ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(ox.batch->rows[i].code, core::Code::ok);
    EXPECT_EQ(oy.batch->rows[i].code, core::Code::precondition_failed);
  }
  EXPECT_EQ(on_hand(a_), 11);
  EXPECT_EQ(on_hand(b_), 6);
}

}  // namespace
}  // namespace stockd::backends
