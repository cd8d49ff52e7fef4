// Tests of local holds (docs/cluster.md "Local holds"): a hold whose lines share one partition lives
// there and is made, confirmed, released and expired by one function call each, with a pointer in its
// id's partition when that is another one. Against a real Redis Cluster (STOCKD_TEST_CLUSTER=host:port;
// ctest starts one with scripts/redis-cluster). By hand:
//   scripts/redis-cluster start /tmp/rc 7300 && STOCKD_TEST_CLUSTER=127.0.0.1:7300 ./cluster_local_hold_test
#include <gtest/gtest.h>

#include <string>

#include "live_cluster.h"

namespace stockd::backends {
namespace {

class LocalHolds : public LiveCluster {
 protected:
  void SetUp() override {
    opt_.hold_retention_ms = 60'000;
    connect("lh");
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_TRUE(apply(core::PutChannel{n("app"), 1, 900, core::ChannelState::active}).ok());
    ASSERT_TRUE(apply(core::PutSku{n("A"), 10, 0, {}, {}}).ok());
  }
  std::string n(const std::string& name) const { return prefix_ + name; }
  // A hold id whose partition is (same) or is not (!same) the partition of `sku`.
  std::string id_for(const std::string& base, const std::string& sku, bool same) const {
    std::string id = n(base);
    for (int i = 0; (partition_of(id) == partition_of(sku)) != same; ++i) id = n(base + std::to_string(i));
    return id;
  }
  static std::string tag(int k) { return "{p" + std::to_string(k) + "}"; }
  bool exists(const std::string& key) { return cc_->command(key, {"EXISTS", key}).integer == 1; }
  std::int64_t held(const std::string& sku) {
    StoreReply r;
    EXPECT_TRUE(store_->get_sku(sku, kT0, &r).ok());
    return r.sku.held;
  }

};

TEST_F(LocalHolds, LiveWithTheirLinesAndAreFoundByIdThroughThePointer) {
  std::string a = n("A");
  std::string id = id_for("h", a, false);
  StoreReply r;
  core::Outcome o = apply(core::CreateHold{id, n("app"), {{a, 3}}, 60, false}, kT0, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_TRUE(o.created);
  // The record is in A's partition, the id's partition has only the pointer.
  EXPECT_TRUE(exists(tag(partition_of(a)) + ":h:" + id));
  EXPECT_FALSE(exists(tag(partition_of(id)) + ":h:" + id));
  EXPECT_TRUE(exists(tag(partition_of(id)) + ":hp:" + id));
  EXPECT_EQ(held(a), 3);
  // Found by id: read, replay, extend, partial confirm.
  ASSERT_TRUE(store_->get_hold(id, kT0, &r).ok());
  EXPECT_EQ(r.hold.state, core::HoldState::held);
  o = apply(core::CreateHold{id, n("app"), {{a, 3}}, 60, false});
  EXPECT_TRUE(o.ok()) << o.message;
  EXPECT_FALSE(o.created);
  EXPECT_EQ(apply(core::CreateHold{id, n("app"), {{a, 4}}, 60, false}).code, core::Code::idempotency_conflict);
  EXPECT_EQ(held(a), 3) << "a replay or a conflict takes nothing";
  o = apply(core::ExtendHold{id, 120}, kT0 + 1000, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(r.hold.expires_at_ms, kT0 + 1000 + 120'000);
  o = apply(core::ConfirmHold{id, std::vector<core::HoldLine>{{a, 2}}}, kT0 + 2000, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(r.hold.state, core::HoldState::confirmed);
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(a, kT0, &sku).ok());
  EXPECT_EQ(sku.sku.on_hand, 8);
  EXPECT_EQ(sku.sku.held, 0);
  EXPECT_EQ(sku.sku.available, 8);
  EXPECT_EQ(apply(core::ReleaseHold{id}, kT0 + 3000).code, core::Code::invalid_state);
  // Retention over: a sweep of the expiry indexes only forgets nothing; the full sweep forgets
  // pointer, record and line; the id is free for other lines.
  store_->sweep(kT0 + 2000 + opt_.hold_retention_ms + 1, /*due_only=*/true);
  EXPECT_TRUE(exists(tag(partition_of(a)) + ":h:" + id));
  store_->sweep(kT0 + 2000 + opt_.hold_retention_ms + 1);
  EXPECT_FALSE(exists(tag(partition_of(id)) + ":hp:" + id));
  EXPECT_FALSE(exists(tag(partition_of(a)) + ":h:" + id));
  EXPECT_EQ(store_->get_hold(id, kT0, &r).code, core::Code::unknown_hold);
}

TEST_F(LocalHolds, ASaleIsConfirmedInOneCallAndExpiryReturnsUnitsOnce) {
  std::string a = n("A");
  StoreReply r;
  core::Outcome o = apply(core::CreateHold{id_for("s", a, false), n("app"), {{a, 2}}, 60, true}, kT0, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(r.hold.state, core::HoldState::confirmed);
  std::string e = id_for("e", a, true);  // the id's partition is the home: no pointer
  ASSERT_TRUE(apply(core::CreateHold{e, n("app"), {{a, 5}}, 10, false}).ok());
  EXPECT_FALSE(exists(tag(partition_of(e)) + ":hp:" + e));
  EXPECT_EQ(held(a), 5);
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(a, kT0, &sku).ok());
  EXPECT_EQ(sku.sku.on_hand, 8);
  EXPECT_EQ(sku.sku.available, 3);
  // Two sweeps after the TTL (of the expiry indexes only, as the adapter's every tick): the units
  // come back once.
  store_->sweep(kT0 + 10'001, /*due_only=*/true);
  store_->sweep(kT0 + 10'002, /*due_only=*/true);
  ASSERT_TRUE(store_->get_hold(e, kT0 + 10'003, &r).ok());
  EXPECT_EQ(r.hold.state, core::HoldState::expired);
  ASSERT_TRUE(store_->get_sku(a, kT0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 0);
  EXPECT_EQ(sku.sku.available, 8);
}

TEST_F(LocalHolds, ARefusedHoldLeavesNoPointerAndADanglingOneIsReplaced) {
  std::string a = n("A");
  std::string id = id_for("r", a, false);
  EXPECT_EQ(apply(core::CreateHold{id, n("app"), {{a, 11}}, 60, false}).code, core::Code::insufficient_stock);
  EXPECT_FALSE(exists(tag(partition_of(id)) + ":hp:" + id)) << "a refused attempt is not remembered";
  EXPECT_EQ(held(a), 0);
  // A pointer left by a node that died between its two calls names no hold: after repair_after_ms
  // another hold may take the id.
  std::string ptr = tag(partition_of(id)) + ":hp:" + id;
  cc_->command(ptr, {"HSET", ptr, "home", std::to_string((partition_of(a) + 1) % kPartitions), "canon", "x:1", "ch",
                     n("app"), "lines", "x:1", "att", "dead", "t", std::to_string(kT0)});
  EXPECT_EQ(apply(core::CreateHold{id, n("app"), {{a, 1}}, 60, false}, kT0 + 1000).code,
            core::Code::idempotency_conflict)
      << "too early: its creator may still be at it";
  core::Outcome o = apply(core::CreateHold{id, n("app"), {{a, 1}}, 60, false}, kT0 + opt_.repair_after_ms + 1);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(held(a), 1);
  StoreReply r;
  ASSERT_TRUE(store_->get_hold(id, kT0 + opt_.repair_after_ms + 2, &r).ok());
  ASSERT_EQ(r.hold.lines.size(), 1u);
  EXPECT_EQ(r.hold.lines[0].qty, 1);
}

TEST_F(LocalHolds, AnIdTakenByAHoldAcrossPartitionsIsAConflictAndTheLocalAttemptIsUndone) {
  // B and C in two other partitions than A: a hold on B and C has its record in its id's partition.
  std::string a = n("A");
  std::string b = n("B"), c = n("C");
  for (int i = 0; partition_of(b) == partition_of(a); ++i) b = n("B" + std::to_string(i));
  for (int i = 0; partition_of(c) == partition_of(a) || partition_of(c) == partition_of(b); ++i) c = n("C" + std::to_string(i));
  ASSERT_TRUE(apply(core::PutSku{b, 10, 0, {}, {}}).ok());
  ASSERT_TRUE(apply(core::PutSku{c, 10, 0, {}, {}}).ok());
  std::string id = id_for("x", a, false);
  ASSERT_TRUE(apply(core::CreateHold{id, n("app"), {{b, 1}, {c, 1}}, 60, false}).ok());
  EXPECT_TRUE(exists(tag(partition_of(id)) + ":h:" + id));
  // The same id for a local hold on A: its call in A's partition succeeds, its claim finds the id
  // taken; the local hold is given back and the answer is the conflict.
  EXPECT_EQ(apply(core::CreateHold{id, n("app"), {{a, 2}}, 60, false}).code, core::Code::idempotency_conflict);
  EXPECT_EQ(held(a), 0) << "the local attempt's units are given back";
  StoreReply r;
  ASSERT_TRUE(store_->get_hold(id, kT0, &r).ok());
  EXPECT_EQ(r.hold.lines.size(), 2u) << "the id still names the first hold";
  // A sale with that id: a sale consumes units as it is made, so nothing may be made before the claim.
  EXPECT_EQ(apply(core::CreateHold{id, n("app"), {{a, 3}}, 60, true}).code, core::Code::idempotency_conflict);
  StoreReply sa;
  ASSERT_TRUE(store_->get_sku(a, kT0, &sa).ok());
  EXPECT_EQ(std::make_pair(sa.sku.on_hand, sa.sku.held), std::make_pair(std::int64_t{10}, std::int64_t{0})) << "the sale took nothing";
  ASSERT_TRUE(apply(core::ReleaseHold{id}).ok());
  EXPECT_EQ(held(b), 0);
  EXPECT_EQ(held(c), 0);
}

// create_many (the cluster adapter's path for the holds of many connections at once): the first calls
// of all local holds go out in one pipeline; every hold is answered as if it had been made alone, and
// the stock is never oversold.
TEST_F(LocalHolds, ManyHoldsAtOnceAreAnsweredAsAloneAndNeverOversell) {
  std::string a = n("A"), b = n("B");
  for (int i = 0; partition_of(b) == partition_of(a); ++i) b = n("B" + std::to_string(i));
  ASSERT_TRUE(apply(core::PutSku{b, 5, 0, {}, {}}).ok());
  StoreReply before;
  ASSERT_TRUE(store_->get_sku(a, kT0, &before).ok());
  std::vector<core::CreateHold> holds;
  for (int i = 0; i < 30; ++i) {
    holds.push_back(core::CreateHold{n("m" + std::to_string(i)), n("app"), {{a, 1}}, 60, false});
    // A sale whose id lives with A: it goes in A's one call, between holds that share A's hash.
    if (i == 3) holds.push_back(core::CreateHold{id_for("sale-here", a, true), n("app"), {{a, 1}}, 60, true});
  }
  holds.push_back(core::CreateHold{n("dup"), n("app"), {{a, 1}}, 60, false});
  holds.push_back(core::CreateHold{n("dup"), n("app"), {{a, 1}}, 60, false});        // the same request again
  holds.push_back(core::CreateHold{id_for("sale", a, false), n("app"), {{a, 2}}, 60, true});  // claims first
  holds.push_back(core::CreateHold{n("across"), n("app"), {{a, 1}, {b, 1}}, 60, false});      // multi-partition
  holds.push_back(core::CreateHold{n("nochan"), n("ghost"), {{a, 1}}, 60, false});
  std::string unknown = n("Q");  // no such SKU, in A's partition: its create goes in the same call as A's
  for (int i = 0; partition_of(unknown) != partition_of(a); ++i) unknown = n("Q" + std::to_string(i));
  holds.push_back(core::CreateHold{n("unknown"), n("app"), {{unknown, 1}}, 60, false});
  std::vector<const core::CreateHold*> ptrs;
  for (const auto& h : holds) ptrs.push_back(&h);
  std::vector<std::int64_t> nows(holds.size(), kT0);
  std::vector<core::Outcome> outs(holds.size());
  std::vector<StoreReply> replies(holds.size());
  store_->create_many(ptrs, nows, outs, replies);

  std::int64_t held_a = 0, sold_a = 0, held_b = 0, refused = 0, changes_a = 0;
  for (std::size_t i = 0; i < holds.size(); ++i) {
    const core::CreateHold& h = holds[i];
    if (h.channel == n("ghost")) {
      EXPECT_EQ(outs[i].code, core::Code::unknown_channel);
      continue;
    }
    if (h.id == n("unknown")) {
      EXPECT_EQ(outs[i].code, core::Code::unknown_sku) << outs[i].message;
      continue;
    }
    if (!outs[i].ok()) {
      EXPECT_EQ(outs[i].code, core::Code::insufficient_stock) << h.id << ": " << outs[i].message;
      StoreReply none;
      EXPECT_EQ(store_->get_hold(h.id, kT0, &none).code, core::Code::unknown_hold) << "a refused hold is not kept";
      ++refused;
      continue;
    }
    EXPECT_EQ(replies[i].hold.id, h.id);
    if (i + 1 < holds.size() && holds[i + 1].id == h.id) continue;  // dup: counted once, below
    for (const core::HoldLine& l : h.lines) {
      std::int64_t& sum = l.sku == b ? held_b : (h.confirm ? sold_a : held_a);
      sum += l.qty;
      if (l.sku == a) changes_a += h.confirm ? 2 : 1;  // a take, and for a sale its consumption
    }
  }
  const std::size_t dup = 31;
  ASSERT_EQ(holds[dup].id, n("dup"));
  if (outs[dup].ok() && outs[dup + 1].ok()) {
    EXPECT_NE(outs[dup].created, outs[dup + 1].created) << "one creates, the same request again replays";
  }
  EXPECT_GT(refused, 0) << "34 units asked of 10";
  StoreReply sa, sb;
  ASSERT_TRUE(store_->get_sku(a, kT0, &sa).ok());
  ASSERT_TRUE(store_->get_sku(b, kT0, &sb).ok());
  EXPECT_EQ(sa.sku.on_hand, 10 - sold_a);
  EXPECT_EQ(sa.sku.held, held_a);
  EXPECT_EQ(sb.sku.held, held_b);
  EXPECT_LE(sa.sku.held + sold_a, 10) << "never oversold";
  EXPECT_EQ(sa.sku.available, sa.sku.on_hand - sa.sku.held);
  EXPECT_EQ(sa.sku.version, before.sku.version + changes_a) << "one version per change, as the core counts them";
  EXPECT_GT(sold_a, 0) << "the sale in A's call was made";
}

}  // namespace
}  // namespace stockd::backends
