// Tests of the cluster store against a real Redis Cluster (STOCKD_TEST_CLUSTER=host:port; ctest starts
// one with scripts/redis-cluster). By hand:
//   scripts/redis-cluster start /tmp/rc 7300 && STOCKD_TEST_CLUSTER=127.0.0.1:7300 ./cluster_store_test
//
// The differential test against the embedded core is cluster_differential_test.cc. Names here carry a
// random run prefix (printed), so reruns against one cluster never meet.
#include "backends/cluster_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "backends/cluster_client.h"
#include "core/inventory.h"

namespace stockd::backends {
namespace {

std::string cluster_seed() {
  const char* s = std::getenv("STOCKD_TEST_CLUSTER");
  return s ? s : "";
}

class ClusterStoreLive : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cluster_seed().empty()) {
      if (std::getenv("STOCKD_TEST_CLUSTER_REQUIRED")) FAIL() << "STOCKD_TEST_CLUSTER is not set";
      GTEST_SKIP() << "set STOCKD_TEST_CLUSTER=host:port to run the cluster store tests";
    }
    opt_.seeds = {cluster_seed()};
    opt_.wait_replicas = 1;
    shared_ = ClusterStore::make_shared_state();
    store_ = open();
    std::random_device rd;
    prefix_ = "t" + std::to_string(rd() % 1000000) + "-";
    std::printf("names prefixed %s\n", prefix_.c_str());
  }
  std::unique_ptr<ClusterStore> open() {
    std::string error;
    auto s = ClusterStore::open(opt_, shared_, &error);
    EXPECT_NE(s, nullptr) << error;
    return s;
  }
  std::string n(const std::string& name) const { return prefix_ + name; }
  // A plain cluster client, for what the store's API does not show (a dead node's half-done steps, the
  // hashes themselves).
  std::unique_ptr<ClusterClient> raw_client() {
    ClusterOptions co;
    co.seeds = opt_.seeds;
    std::string error;
    auto cc = ClusterClient::connect(co, &error);
    EXPECT_NE(cc, nullptr) << error;
    return cc;
  }
  // The reconciler (check only) finds nothing wrong with this run's SKUs.
  void expect_no_drift(std::int64_t now) {
    StoreReply rec;
    ASSERT_TRUE(store_->reconcile(false, now, &rec).ok());
    for (const std::string& d : rec.drift) EXPECT_EQ(d.find(prefix_), std::string::npos) << d;
  }

  // `threads` buyers, each with its own store, each making `per_thread` attempts buy(store, id, i)
  // with fresh ids (<prefix>b<thread>-<i>): how many succeeded, were refused insufficient_stock, failed otherwise.
  struct Race {
    int sold = 0, refused = 0, other = 0;
  };
  template <typename Buy>
  Race race(int threads, int per_thread, Buy buy) {
    std::atomic<int> sold{0}, refused{0}, other{0};
    std::vector<std::thread> buyers;
    for (int t = 0; t < threads; ++t)
      buyers.emplace_back([&, t] {
        auto store = open();
        for (int i = 0; i < per_thread; ++i) {
          core::Outcome o = buy(*store, n("b" + std::to_string(t) + "-" + std::to_string(i)), i);
          (o.ok() ? sold : o.code == core::Code::insufficient_stock ? refused : other)++;
        }
      });
    for (auto& b : buyers) b.join();
    return {sold.load(), refused.load(), other.load()};
  }

  ClusterStoreOptions opt_;
  std::shared_ptr<ClusterShared> shared_;
  std::unique_ptr<ClusterStore> store_;
  std::string prefix_;
};

core::Outcome apply(ClusterStore& s, const core::Command& c, std::int64_t now, StoreReply* r = nullptr) {
  StoreReply ignored;
  return s.apply(c, now, r ? r : &ignored);
}

TEST_F(ClusterStoreLive, HoldConfirmReleaseRoundTrip) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("A"), 100, 10, {}, {}}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("B"), 5, 0, {}, {}}, t0).ok());
  StoreReply r;
  core::Outcome o = apply(*store_, core::CreateHold{n("h1"), n("app"), {{n("A"), 30}, {n("B"), 5}}, 60, false}, t0, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_TRUE(o.created);
  EXPECT_EQ(r.hold.state, core::HoldState::held);
  EXPECT_EQ(r.hold.expires_at_ms, t0 + 60'000);
  // A replay answers the hold as it is; another request with the same id is a conflict.
  o = apply(*store_, core::CreateHold{n("h1"), n("app"), {{n("B"), 5}, {n("A"), 30}}, 60, false}, t0);
  EXPECT_TRUE(o.ok()) << o.message;
  EXPECT_FALSE(o.created);
  o = apply(*store_, core::CreateHold{n("h1"), n("app"), {{n("A"), 31}}, 60, false}, t0);
  EXPECT_EQ(o.code, core::Code::idempotency_conflict);
  // B is sold out: a second hold on it is refused and takes nothing from A either.
  o = apply(*store_, core::CreateHold{n("h2"), n("app"), {{n("A"), 1}, {n("B"), 1}}, 60, false}, t0);
  EXPECT_EQ(o.code, core::Code::insufficient_stock);
  EXPECT_EQ(o.detail_sku, n("B"));
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(n("A"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 30);
  EXPECT_EQ(sku.sku.available, 60);
  // Partial confirm: 20 of A sold, B released.
  o = apply(*store_, core::ConfirmHold{n("h1"), std::vector<core::HoldLine>{{n("A"), 20}}}, t0 + 1000, &r);
  ASSERT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(r.hold.state, core::HoldState::confirmed);
  ASSERT_EQ(r.hold.lines.size(), 1u);
  EXPECT_EQ(r.hold.lines[0].qty, 20);
  ASSERT_TRUE(store_->get_sku(n("A"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.on_hand, 80);
  EXPECT_EQ(sku.sku.held, 0);
  ASSERT_TRUE(store_->get_sku(n("B"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.on_hand, 5);
  EXPECT_EQ(sku.sku.available, 5);
  EXPECT_EQ(apply(*store_, core::ReleaseHold{n("h1")}, t0 + 2000).code, core::Code::invalid_state);
  EXPECT_EQ(apply(*store_, core::ConfirmHold{n("nope"), {}}, t0).code, core::Code::unknown_hold);
}

TEST_F(ClusterStoreLive, ExpiryReturnsUnitsOnceWithThreeSweepers) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("A"), 1000, 0, {}, {}}, t0).ok());
  const int holds = 60;
  for (int i = 0; i < holds; ++i) {
    core::Outcome o = apply(*store_, core::CreateHold{n("e" + std::to_string(i)), n("app"), {{n("A"), 3}}, 1, false}, t0);
    ASSERT_TRUE(o.ok()) << core::code_name(o.code) << ": " << o.message;
  }
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(n("A"), t0, &sku).ok());
  ASSERT_EQ(sku.sku.held, 3 * holds);
  std::vector<std::thread> sweepers;
  std::atomic<std::size_t> acted{0};
  for (int s = 0; s < 3; ++s)
    sweepers.emplace_back([&] {
      auto store = open();
      for (int round = 0; round < 5; ++round) acted += store->sweep(t0 + 1000 + round);
    });
  for (auto& t : sweepers) t.join();
  EXPECT_GE(acted.load(), static_cast<std::size_t>(holds));
  ASSERT_TRUE(store_->get_sku(n("A"), t0 + 2000, &sku).ok());
  EXPECT_EQ(sku.sku.held, 0);
  EXPECT_EQ(sku.sku.available, 1000) << "each expired hold must return its units exactly once";
  StoreReply h;
  ASSERT_TRUE(store_->get_hold(n("e7"), t0 + 2000, &h).ok());
  EXPECT_EQ(h.hold.state, core::HoldState::expired);
  EXPECT_EQ(apply(*store_, core::ConfirmHold{n("e7"), {}}, t0 + 2000).code, core::Code::hold_expired);
  core::Outcome o = apply(*store_, core::ReleaseHold{n("e7")}, t0 + 2000, &h);
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(h.hold.state, core::HoldState::expired);
}

TEST_F(ClusterStoreLive, FlashSaleRaceNeverOversells) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("HOT"), 100, 0, {}, {}}, t0).ok());
  Race r = race(8, 25, [&](ClusterStore& store, const std::string& id, int) {
    return apply(store, core::CreateHold{id, n("app"), {{n("HOT"), 1}}, 60, true}, t0);
  });
  EXPECT_EQ(r.sold, 100);
  EXPECT_EQ(r.refused, 100);
  EXPECT_EQ(r.other, 0);
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(n("HOT"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.on_hand, 0);
  EXPECT_EQ(sku.sku.held, 0);
}

TEST_F(ClusterStoreLive, RepairRollsBackAHoldWhoseCreatorDied) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("A"), 10, 0, {}, {}}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("B"), 10, 0, {}, {}}, t0).ok());
  // A creator that began the hold, took line A, and died before line B and the commit.
  auto cc = raw_client();
  ASSERT_NE(cc, nullptr);
  std::string id = n("dead");
  int hp = partition_of(id);
  std::string ht = "{p" + std::to_string(hp) + "}";
  auto tag = [](const std::string& s) { return "{p" + std::to_string(partition_of(s)) + "}"; };
  std::vector<std::string> begin{"FCALL", "stockd_hold_begin", "5", ht + ":h:" + id, ht + ":x", ht + ":pend", ht + ":ret",
                                 ht + ":out", id, n("app"), n("A") + ":4," + n("B") + ":4", n("A") + ":4," + n("B") + ":4",
                                 "0", std::to_string(t0), "60000", "att1"};
  ASSERT_EQ(cc->command(begin[3], begin).elements.at(0).str, "NEW");
  std::string a = n("A");
  std::vector<std::string> take{"FCALL", "stockd_take", "4", tag(a) + ":s:" + a, tag(a) + ":l:" + id + ":" + a,
                                tag(a) + ":out", tag(a) + ":ls:" + a, a, id, n("app"), "4", "-", std::to_string(t0), "att1", "sh"};
  RedisReply r = cc->command(take[3], take);
  if (r.elements.at(0).str == "STALE") {  // the allocation version: ask with the one it names
    take[11] = r.elements.at(1).str;
    r = cc->command(take[3], take);
  }
  ASSERT_EQ(r.elements.at(0).str, "OK");
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(a, t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 4);
  // Too early: the creator may still be at it.
  store_->sweep(t0 + 1000);
  ASSERT_TRUE(store_->get_sku(a, t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 4);
  // A sweep of the expiry indexes only (the adapter's every tick) leaves repairs to the full one.
  store_->sweep(t0 + opt_.repair_after_ms + 1, /*due_only=*/true);
  ASSERT_TRUE(store_->get_sku(a, t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 4);
  // After repair_after_ms the (full) sweep gives the hold up: A's units come back, B is tombstoned.
  store_->sweep(t0 + opt_.repair_after_ms + 1);
  ASSERT_TRUE(store_->get_sku(a, t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 0);
  EXPECT_EQ(sku.sku.available, 10);
  StoreReply h;
  EXPECT_EQ(store_->get_hold(id, t0, &h).code, core::Code::unknown_hold);
  // The dead creator's late take of B is refused.
  std::string b = n("B");
  std::vector<std::string> late{"FCALL", "stockd_take", "4", tag(b) + ":s:" + b, tag(b) + ":l:" + id + ":" + b,
                                tag(b) + ":out", tag(b) + ":ls:" + b, b, id, n("app"), "4", take[11], std::to_string(t0), "att1", "sh"};
  r = cc->command(late[3], late);
  ASSERT_FALSE(r.elements.empty());
  if (r.elements[0].str == "STALE") {
    late[11] = r.elements[1].str;
    r = cc->command(late[3], late);
  }
  EXPECT_EQ(r.elements.at(0).str, "TOMB");
  // The same id may be used again (a rejected attempt is not remembered).
  core::Outcome o = apply(*store_, core::CreateHold{id, n("app"), {{a, 4}, {b, 4}}, 60, false}, t0 + 10'000);
  EXPECT_TRUE(o.ok()) << o.message;
  ASSERT_TRUE(store_->get_sku(b, t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 4);
  expect_no_drift(t0);
}

TEST_F(ClusterStoreLive, ReconcileRepairsDriftAndStaysQuietUnderTraffic) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("R"), 1000, 0, {}, {}}, t0).ok());
  // Traffic on R while reconciles run: held changes all the time, but every check is atomic.
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    auto s = open();
    for (int i = 0; !stop; ++i) {
      std::string id = n("rt" + std::to_string(i));
      if (apply(*s, core::CreateHold{id, n("app"), {{n("R"), 1}}, 60, false}, t0).ok() && i % 2 == 0)
        apply(*s, core::ReleaseHold{id}, t0);
    }
  });
  for (int round = 0; round < 3; ++round) {
    StoreReply rec;
    ASSERT_TRUE(store_->reconcile(true, t0, &rec).ok());
    for (const std::string& d : rec.drift) EXPECT_EQ(d.find(prefix_), std::string::npos) << "false drift: " << d;
  }
  stop = true;
  traffic.join();
  StoreReply before;
  ASSERT_TRUE(store_->get_sku(n("R"), t0, &before).ok());
  // Corrupt held behind stockd's back: reconcile reports it, repair restores it from the lines.
  auto cc = raw_client();
  ASSERT_NE(cc, nullptr);
  std::string key = "{p" + std::to_string(partition_of(n("R"))) + "}:s:" + n("R");
  cc->command(key, {"HSET", key, "hd", std::to_string(before.sku.held + 7)});
  StoreReply rec;
  ASSERT_TRUE(store_->reconcile(false, t0, &rec).ok());
  int mine = 0;
  for (const std::string& d : rec.drift) mine += d.find(n("R") + ":") != std::string::npos;
  EXPECT_EQ(mine, 1) << "the corrupted held must be reported";
  StoreReply after;
  ASSERT_TRUE(store_->get_sku(n("R"), t0, &after).ok());
  EXPECT_EQ(after.sku.held, before.sku.held + 7) << "a check without repair changes nothing";
  rec = StoreReply{};
  ASSERT_TRUE(store_->reconcile(true, t0, &rec).ok());
  ASSERT_TRUE(store_->get_sku(n("R"), t0, &after).ok());
  EXPECT_EQ(after.sku.held, before.sku.held);
  EXPECT_EQ(after.sku.available, before.sku.available);
  rec = StoreReply{};
  ASSERT_TRUE(store_->reconcile(false, t0, &rec).ok());
  for (const std::string& d : rec.drift) EXPECT_EQ(d.find(prefix_), std::string::npos) << d;
}

TEST_F(ClusterStoreLive, ReconcileGivesBackALineWhoseHoldWasLost) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("O"), 10, 0, {}, {}}, t0).ok());
  // An id in O's partition: the record is then at the id's key wherever the hold's kind puts it (a
  // local hold lives in its lines' partition, docs/cluster.md).
  std::string id = n("lost");
  for (int i = 0; partition_of(id) != partition_of(n("O")); ++i) id = n("lost" + std::to_string(i));
  ASSERT_TRUE(apply(*store_, core::CreateHold{id, n("app"), {{n("O"), 3}}, 600, false}, t0).ok());
  // A failover lost the hold's record (its master) but kept the take (the SKU's master).
  auto cc = raw_client();
  ASSERT_NE(cc, nullptr);
  std::string rec = "{p" + std::to_string(partition_of(id)) + "}:h:" + id;
  ASSERT_EQ(cc->command(rec, {"DEL", rec}).integer, 1);
  // A retry with the same id finds the old attempt's line in the way.
  core::Outcome retry = apply(*store_, core::CreateHold{id, n("app"), {{n("O"), 3}}, 600, false}, t0);
  EXPECT_EQ(retry.code, core::Code::unavailable) << retry.message;
  StoreReply report;
  ASSERT_TRUE(store_->reconcile(false, t0, &report).ok());
  int mine = 0;
  for (const std::string& d : report.drift) mine += d.find("hold line " + id + " is held") != std::string::npos;
  EXPECT_EQ(mine, 1);
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(n("O"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 3) << "a check without repair changes nothing";
  report = StoreReply{};
  ASSERT_TRUE(store_->reconcile(true, t0, &report).ok());
  ASSERT_TRUE(store_->get_sku(n("O"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 0);
  EXPECT_EQ(sku.sku.available, 10);
  core::Outcome again = apply(*store_, core::CreateHold{id, n("app"), {{n("O"), 3}}, 600, false}, t0);
  EXPECT_TRUE(again.ok()) << again.message;
  ASSERT_TRUE(store_->get_sku(n("O"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.held, 3);
  report = StoreReply{};
  ASSERT_TRUE(store_->reconcile(false, t0, &report).ok());
  for (const std::string& d : report.drift) EXPECT_EQ(d.find(prefix_), std::string::npos) << d;
}

TEST_F(ClusterStoreLive, FlashSaleOnASplitSkuSellsExactlyTheStockFromSeveralShards) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  core::PutSku hot{n("HOT"), 100, 0, {}, {}};
  hot.split = 4;
  StoreReply created;
  ASSERT_TRUE(apply(*store_, hot, t0, &created).ok());
  EXPECT_EQ(created.sku.split, 4);
  EXPECT_EQ(created.sku.available, 100);
  Race r = race(8, 30, [&](ClusterStore& store, const std::string& id, int i) {
    core::Outcome o = apply(store, core::CreateHold{id, n("app"), {{n("HOT"), 1}}, 60, false}, t0);
    if (o.ok() && i % 3 == 0) o = apply(store, core::ConfirmHold{id, {}}, t0);  // every third one paid
    return o;
  });
  EXPECT_EQ(r.sold, 100);
  EXPECT_EQ(r.refused, 140);
  EXPECT_EQ(r.other, 0);
  StoreReply sku;
  ASSERT_TRUE(store_->get_sku(n("HOT"), t0, &sku).ok());
  EXPECT_EQ(sku.sku.available, 0);
  EXPECT_EQ(sku.sku.held + (100 - sku.sku.on_hand), 100) << "every unit is held or sold";
  // The units were taken in several slots, not only at home.
  auto cc = raw_client();
  ASSERT_NE(cc, nullptr);
  int shards_used = 0;
  for (int j = 0; j < 4; ++j) {
    std::string name = n("HOT") + "#" + std::to_string(j);
    std::string key = "{p" + std::to_string(partition_of(name)) + "}:s:" + name;
    RedisReply r = cc->command(key, {"HGET", key, "hd"});
    RedisReply in = cc->command(key, {"HGET", key, "in"});
    RedisReply oh = cc->command(key, {"HGET", key, "oh"});
    ASSERT_EQ(r.type, RedisReply::Type::string) << name;
    shards_used += std::atoll(r.str.c_str()) + std::atoll(in.str.c_str()) - std::atoll(oh.str.c_str()) > 0;
  }
  EXPECT_GE(shards_used, 3);
  // A restock while the SKU is split: every unit counted once.
  ASSERT_TRUE(apply(*store_, core::Adjust{n("HOT"), 40, "restock", "R1"}, t0, &sku).ok());
  EXPECT_EQ(sku.sku.available, 40);
  EXPECT_EQ(sku.sku.held + (140 - sku.sku.on_hand), 100);
  expect_no_drift(t0);
}

TEST_F(ClusterStoreLive, ATransferLeftHalfDoneIsEndedByTheSweep) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  core::PutSku ps{n("S"), 30, 0, {}, {}};
  ps.split = 2;
  ASSERT_TRUE(apply(*store_, ps, t0).ok());
  ASSERT_TRUE(apply(*store_, core::CreateHold{n("h1"), n("app"), {{n("S"), 4}}, 60, false}, t0).ok());
  // A node that moved shard 0's free units out (split_back) and died before telling home (split_end).
  auto cc = raw_client();
  ASSERT_NE(cc, nullptr);
  std::string sku = n("S"), shard = sku + "#0";
  auto tag = [](const std::string& s) { return "{p" + std::to_string(partition_of(s)) + "}"; };
  std::vector<std::string> begin{"FCALL", "stockd_split_begin", "3", tag(sku) + ":s:" + sku, tag(sku) + ":out",
                                 tag(sku) + ":spx", sku, std::to_string(t0), "T1", "0", "back", "0"};
  ASSERT_EQ(cc->command(begin[3], begin).elements.at(0).str, "OK");
  std::vector<std::string> back{"FCALL", "stockd_split_back", "2", tag(shard) + ":s:" + shard, tag(shard) + ":out",
                                shard, std::to_string(t0), "T1"};
  RedisReply moved = cc->command(back[3], back);
  ASSERT_EQ(moved.elements.at(0).str, "OK");
  EXPECT_NE(moved.elements.at(1).str.rfind("0|", 0), 0u) << "shard 0 had free units to move";
  // Too early for the sweep: the transfer is still listed at home.
  store_->sweep(t0 + 1000);
  std::string home = tag(sku) + ":s:" + sku;
  EXPECT_EQ(cc->command(home, {"HEXISTS", home, "P:T1"}).integer, 1);
  store_->sweep(t0 + opt_.repair_after_ms + 1);
  EXPECT_EQ(cc->command(home, {"HEXISTS", home, "P:T1"}).integer, 0);
  StoreReply v;
  ASSERT_TRUE(store_->get_sku(sku, t0, &v).ok());
  EXPECT_EQ(v.sku.on_hand, 30);
  EXPECT_EQ(v.sku.held, 4);
  EXPECT_EQ(v.sku.available, 26);
  // Every unit can still be sold, and no more.
  core::Outcome o = apply(*store_, core::CreateHold{n("h2"), n("app"), {{sku, 26}}, 60, false}, t0);
  EXPECT_TRUE(o.ok()) << o.message;
  o = apply(*store_, core::CreateHold{n("h3"), n("app"), {{sku, 1}}, 60, false}, t0);
  EXPECT_EQ(o.code, core::Code::insufficient_stock);
  expect_no_drift(t0);
}

// Regressions found by the differential test (cluster_differential_test.cc), each also met by its
// default seeds: the core is the reference for the order of checks and for the figures of a reply.
TEST_F(ClusterStoreLive, AnAllocationOfAnUnknownSkuNamesTheSkuBeforeAnUnknownChannel) {
  const std::int64_t t0 = 1'700'000'000'000;
  core::SetAllocation a{n("nosku"), {{n("ghost"), -1, 3}}, {}, false};
  EXPECT_EQ(apply(*store_, a, t0).code, core::Code::unknown_sku);
}

TEST_F(ClusterStoreLive, AWriteToASplitSkuAnswersEachUnitOnce) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  core::PutSku ps{n("S"), 42, 4, {}, {}};
  ps.split = 4;
  StoreReply r;
  ASSERT_TRUE(apply(*store_, ps, t0, &r).ok());
  EXPECT_EQ(r.sku.available, 38);
  EXPECT_EQ(r.sku.shared_free, 38) << "the reply of a write that spread units to the shards";
  ASSERT_TRUE(apply(*store_, core::Adjust{n("S"), 2, "test", ""}, t0, &r).ok());
  EXPECT_EQ(r.sku.on_hand, 44);
  EXPECT_EQ(r.sku.shared_free, 40);
  StoreReply read;
  ASSERT_TRUE(store_->get_sku(n("S"), t0, &read).ok());
  EXPECT_EQ(read.sku.shared_free, 40);
}

TEST_F(ClusterStoreLive, AConfirmOfAFinishedHoldAnswersItsStateWhateverTheLines) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::PutSku{n("B"), 10, 0, {}, {}}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::CreateHold{n("sold"), n("app"), {{n("B"), 3}}, 60, true}, t0).ok());
  std::vector<core::HoldLine> other{{n("B"), 1}, {n("D"), 1}};  // D is not in the hold
  StoreReply r;
  core::Outcome o = apply(*store_, core::ConfirmHold{n("sold"), other}, t0, &r);
  EXPECT_TRUE(o.ok()) << o.message;
  EXPECT_EQ(r.hold.state, core::HoldState::confirmed);
  ASSERT_TRUE(apply(*store_, core::CreateHold{n("gone"), n("app"), {{n("B"), 2}}, 60, false}, t0).ok());
  ASSERT_TRUE(apply(*store_, core::ReleaseHold{n("gone")}, t0).ok());
  EXPECT_EQ(apply(*store_, core::ConfirmHold{n("gone"), other}, t0).code, core::Code::invalid_state);
  ASSERT_TRUE(apply(*store_, core::CreateHold{n("due"), n("app"), {{n("B"), 2}}, 1, false}, t0).ok());
  EXPECT_EQ(apply(*store_, core::ConfirmHold{n("due"), other}, t0 + 1000).code, core::Code::hold_expired);
}

TEST_F(ClusterStoreLive, ClearingTheThresholdRecomputesItFromTheOnHandOfNow) {
  const std::int64_t t0 = 1'700'000'000'000;
  ASSERT_TRUE(apply(*store_, core::PutChannel{n("app"), 1, 900, core::ChannelState::active}, t0).ok());
  core::PutSku ps{n("T"), 50, 0, {}, {}};
  ASSERT_TRUE(apply(*store_, ps, t0).ok());
  ASSERT_TRUE(apply(*store_, core::CreateHold{n("sale"), n("app"), {{n("T"), 30}}, 60, true}, t0).ok());
  StoreReply r;
  ASSERT_TRUE(store_->get_sku(n("T"), t0, &r).ok());
  EXPECT_EQ(r.sku.low_stock_threshold, 5) << "a sale does not move the default threshold";
  core::PutSku clear{n("T"), {}, {}, {}, core::kClear};
  ASSERT_TRUE(apply(*store_, clear, t0, &r).ok());
  EXPECT_EQ(r.sku.low_stock_threshold, 2) << "null: 10 % of the 20 on hand now";
}

}  // namespace
}  // namespace stockd::backends
