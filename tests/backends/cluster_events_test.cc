// Tests of the cluster store's events feed and SKU listing (src/backends/cluster_events.h, the events
// part of the ledger writer: ledger_events.cc), against a real Redis Cluster (STOCKD_TEST_CLUSTER) and
// PostgreSQL (STOCKD_TEST_PG); ctest starts both (tests/backends/CMakeLists.txt). By hand:
//   scripts/redis-cluster start /tmp/rc 7150 && scripts/postgres start /tmp/pg 7170 &&
//   STOCKD_TEST_CLUSTER=127.0.0.1:7150 STOCKD_TEST_PG=postgresql://postgres@127.0.0.1:7170/postgres
//   ./cluster_events_test       (both variables in the environment of this command)
// Names carry a random prefix (printed): other tests' SKUs and channels live in the same cluster, and
// only this run's are compared. No assertion depends on timing: the ledger is drained by hand.
#include "backends/cluster_events.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backends/cluster_store.h"
#include "backends/ledger.h"
#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "core/inventory.h"

#include "live_cluster.h"

namespace stockd::backends {
namespace {

class ClusterEventsLive : public ::testing::Test {
 protected:
  void SetUp() override {
    ledger_env(&cluster_, &conninfo_);
    if (HasFatalFailure() || IsSkipped()) return;
    std::string error;
    store_opt_.seeds = cluster_.seeds;
    shared_ = ClusterStore::make_shared_state();
    store_ = ClusterStore::open(store_opt_, shared_, &error);
    ASSERT_NE(store_, nullptr) << error;
    ledger_ = open_ledger("events-a");
    ASSERT_NE(ledger_, nullptr);
    events_ = open_events();
    ASSERT_NE(events_, nullptr);
    prefix_ = "ev" + std::to_string(std::random_device{}() % 1000000) + "-";
    std::printf("name prefix of this test: %s\n", prefix_.c_str());
    drain(*ledger_);  // what earlier tests left in the streams
  }

  std::unique_ptr<Ledger> open_ledger(const std::string& consumer) {
    LedgerOptions o;
    o.conninfo = conninfo_;
    o.consumer = consumer;
    std::string error;
    auto l = Ledger::open(o, cluster_, &error);
    EXPECT_NE(l, nullptr) << error;
    return l;
  }

  std::unique_ptr<ClusterEvents> open_events() {
    std::string error;
    auto e = ClusterEvents::open({conninfo_}, &error);
    EXPECT_NE(e, nullptr) << error;
    return e;
  }

  static void drain(Ledger& l) {
    for (int i = 0; i < 1000 && l.poll_once() > 0; ++i) {
    }
  }

  std::string n(const std::string& name) const { return prefix_ + name; }

  core::Outcome apply(const core::Command& c, std::int64_t now) {
    StoreReply ignored;
    return store_->apply(c, now, &ignored);
  }

  std::uint64_t last_seq() {
    std::uint64_t seq = 0;
    std::string error;
    EXPECT_TRUE(events_->last_seq(&seq, &error)) << error;
    return seq;
  }

  // Every event after `after` (all pages), checking that seqs follow each other without a gap.
  std::vector<net::EventRecord> read_all(std::uint64_t after) {
    std::vector<net::EventRecord> out;
    for (int page = 0; page < 10'000; ++page) {
      std::vector<net::EventRecord> got;
      std::uint64_t next = 0;
      std::string error;
      EXPECT_TRUE(events_->read(after, 100, &got, &next, &error)) << error;
      if (got.empty()) {
        EXPECT_EQ(next, after) << "`next` of an empty page is `after`";
        break;
      }
      for (const net::EventRecord& e : got) {
        EXPECT_EQ(e.seq, after + 1) << "seq " << e.seq << " follows " << after;
        after = e.seq;
      }
      EXPECT_EQ(next, got.back().seq);
      out.insert(out.end(), got.begin(), got.end());
    }
    return out;
  }

  // An event is this test's when every name it carries has the prefix.
  bool mine(const net::EventRecord& e) const {
    auto ours = [&](const std::string& s) { return s.empty() || s.rfind(prefix_, 0) == 0; };
    return ours(e.sku) && ours(e.channel) && ours(e.hold);
  }

  // The JSON of an event without its seq: what both stores must agree on.
  static std::string shape(net::EventRecord e) {
    e.seq = 0;
    std::string out;
    net::render_event(e, out);
    return out;
  }

  void step_by_step(bool split);

  std::string conninfo_;
  ClusterOptions cluster_;
  ClusterStoreOptions store_opt_;
  std::shared_ptr<ClusterShared> shared_;
  std::unique_ptr<ClusterStore> store_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<ClusterEvents> events_;
  std::string prefix_;
};

// The same commands on the embedded core and on the cluster store (the ledger drained after each):
// every step's events, rendered without seq, must be the same set.
TEST_F(ClusterEventsLive, EveryTypeMatchesTheEmbeddedCoreStepByStep) { step_by_step(false); }

// The same with SKU A split over 2 shards (the core ignores `split`): its figures are the sum of its
// home's and its shards' rows, whose entries come from other partitions.
TEST_F(ClusterEventsLive, ASplitSkuGivesTheSameEventsAsTheEmbeddedCore) { step_by_step(true); }

void ClusterEventsLive::step_by_step(bool split) {
  const std::int64_t t0 = now_ms();
  const std::string app = n("app"), web = n("web"), a = n("A"), b = n("B");
  core::PutSku put_b{b, 20, 0, {}, 8};
  core::PutChannel freeze{web, {}, {}, core::ChannelState::frozen};
  struct Step {
    core::Command cmd;
    std::int64_t now;
  };
  const std::vector<Step> steps = {
      {core::PutChannel{app, 1, 900, core::ChannelState::active}, t0},
      {core::PutChannel{web, 5, 900, core::ChannelState::active}, t0},
      {core::PutSku{a, 100, 5, {}, {}, split ? std::optional<std::int64_t>(2) : std::nullopt}, t0},
      {put_b, t0},
      {core::SetAllocation{a, {{app, -1, 30}}, {}, false}, t0},
      {core::CreateHold{n("h1"), app, {{a, 10}, {b, 5}}, 60, false}, t0 + 1},
      {core::CreateHold{n("h2"), web, {{a, 70}}, 60, false}, t0 + 2},  // insufficient: web sees 65
      {core::ConfirmHold{n("h1"), std::vector<core::HoldLine>{{a, 4}}}, t0 + 3},
      {core::Adjust{a, -6, "damaged", "adj-1"}, t0 + 4},
      {core::Adjust{a, -6, "damaged", "adj-1"}, t0 + 5},  // a replay: no event
      {core::CreateHold{n("h3"), web, {{b, 13}}, 1, false}, t0 + 6},  // B falls below its threshold 8
      {core::Tick{}, t0 + 2000},                                     // h3 expires
      {core::CreateHold{n("h4"), app, {{b, 20}}, 60, true}, t0 + 2001},  // a sale: B out of stock
      {core::CreateHold{n("h5"), app, {{a, 5}}, 60, false}, t0 + 2002},
      {core::ReleaseHold{n("h5")}, t0 + 2003},
      {freeze, t0 + 2004},
      {core::PutSku{a, 200, {}, {}, {}}, t0 + 2005},
  };
  core::Inventory inv;
  std::uint64_t after = last_seq();
  std::set<std::string> types;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    std::vector<core::Event> core_events;
    const core::Outcome want = inv.apply(s.cmd, s.now, &core_events);
    std::vector<std::string> expected;
    for (const core::Event& e : core_events) expected.push_back(shape(net::make_event_record(e, inv)));
    if (std::holds_alternative<core::Tick>(s.cmd)) {
      store_->sweep(s.now);
    } else {
      const core::Outcome got = apply(s.cmd, s.now);
      ASSERT_EQ(got.code, want.code) << "step " << i << ": " << got.message << " / " << want.message;
    }
    drain(*ledger_);
    std::vector<std::string> actual;
    for (const net::EventRecord& e : read_all(after)) {
      after = e.seq;
      if (!mine(e)) continue;
      actual.push_back(shape(e));
      types.insert(std::string(core::event_type_name(e.type)));
    }
    std::sort(expected.begin(), expected.end());
    std::sort(actual.begin(), actual.end());
    EXPECT_EQ(actual, expected) << "step " << i;
  }
  for (const char* t : {"availability", "low_stock", "hold_expired", "hold_confirmed", "hold_released",
                        "stock_adjusted", "out_of_stock", "channel_frozen", "channel_updated"}) {
    EXPECT_TRUE(types.count(t)) << "no " << t << " event was seen";
  }
}

TEST_F(ClusterEventsLive, AfterIsExclusiveAndNextResumes) {
  ASSERT_TRUE(apply(core::PutSku{n("X"), 10, 0, {}, {}}, now_ms()).ok());
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(apply(core::Adjust{n("X"), i, "received", ""}, now_ms()).ok());
  drain(*ledger_);
  const std::uint64_t last = last_seq();
  ASSERT_GE(last, 5u);
  std::vector<net::EventRecord> page;
  std::uint64_t next = 0;
  std::string error;
  ASSERT_TRUE(events_->read(last - 3, 2, &page, &next, &error)) << error;
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].seq, last - 2) << "after is exclusive";
  EXPECT_EQ(page[1].seq, last - 1);
  EXPECT_EQ(next, last - 1);
  page.clear();
  ASSERT_TRUE(events_->read(next, 10, &page, &next, &error)) << error;
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].seq, last);
  EXPECT_EQ(next, last);
  page.clear();
  ASSERT_TRUE(events_->read(last, 10, &page, &next, &error)) << error;
  EXPECT_TRUE(page.empty());
  EXPECT_EQ(next, last) << "nothing new: next stays at after";
  page.clear();
  ASSERT_TRUE(events_->read(0, 1, &page, &next, &error)) << error;
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].seq, 1u) << "seq starts at 1";
}

// A crash between COMMIT and XACK delivers the entries again: their events must not be repeated.
TEST_F(ClusterEventsLive, AnEntryAppliedTwiceMakesItsEventsOnce) {
  const std::string x = n("twice");
  const std::string stream = outbox_key(partition_of(x));
  ASSERT_TRUE(apply(core::PutSku{x, 50, 0, {}, {}}, now_ms()).ok());
  drain(*ledger_);
  std::string error;
  auto cc = ClusterClient::connect(cluster_, &error);
  ASSERT_NE(cc, nullptr) << error;
  RedisReply info = cc->command(stream, {"XINFO", "STREAM", stream}, true);
  std::string before_id;
  for (std::size_t i = 0; i + 1 < info.elements.size(); i += 2) {
    if (info.elements[i].str == "last-generated-id") before_id = info.elements[i + 1].str;
  }
  ASSERT_FALSE(before_id.empty()) << info.str;
  ASSERT_TRUE(apply(core::Adjust{x, -45, "damaged", "r1"}, now_ms()).ok());  // stock_adjusted, availability, low_stock
  drain(*ledger_);
  const std::uint64_t once = last_seq();
  std::size_t mine_once = 0;
  for (const net::EventRecord& e : read_all(0)) mine_once += e.sku == x;
  ASSERT_GE(mine_once, 3u);

  RedisReply setid = cc->command(stream, {"XGROUP", "SETID", stream, kLedgerGroup, before_id});
  ASSERT_FALSE(setid.is_error()) << setid.str;
  const LedgerStats before = ledger_->stats();
  drain(*ledger_);
  EXPECT_GE(ledger_->stats().entries_applied, before.entries_applied + 1) << "the adjustment was applied again";
  EXPECT_EQ(last_seq(), once) << "and made no event";
  std::size_t mine_twice = 0;
  for (const net::EventRecord& e : read_all(0)) mine_twice += e.sku == x;
  EXPECT_EQ(mine_twice, mine_once);
}

TEST_F(ClusterEventsLive, RestartKeepsSeq) {
  ASSERT_TRUE(apply(core::PutSku{n("R"), 10, 0, {}, {}}, now_ms()).ok());
  drain(*ledger_);
  const std::uint64_t before = last_seq();
  ASSERT_GT(before, 0u);
  ledger_.reset();
  events_.reset();
  ledger_ = open_ledger("events-b");
  events_ = open_events();
  ASSERT_NE(events_, nullptr);
  EXPECT_EQ(last_seq(), before);
  ASSERT_TRUE(apply(core::Adjust{n("R"), 5, "received", ""}, now_ms()).ok());
  drain(*ledger_);
  const std::vector<net::EventRecord> got = read_all(before);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().seq, before + 1) << "numbering goes on after a restart";
}

// Several ledgers commit at once (they share the consumer group) while a reader follows the feed: the
// reader must never see a gap (seq N+1 before N), and every adjustment makes exactly one event.
TEST_F(ClusterEventsLive, SeqHasNoGapsWhileSeveralLedgersCommit) {
  constexpr int kSkus = 24, kWriters = 2, kAdjusts = 60;
  std::vector<std::string> skus;
  for (int i = 0; i < kSkus; ++i) {
    skus.push_back(n("g" + std::to_string(i)));
    ASSERT_TRUE(apply(core::PutSku{skus.back(), 1000, 0, {}, {}}, now_ms()).ok());
  }
  drain(*ledger_);
  const std::uint64_t start = last_seq();
  std::atomic<bool> stop{false};
  std::atomic<int> gaps{0};
  std::vector<std::thread> threads;
  for (int l = 0; l < 3; ++l) {
    threads.emplace_back([&, l] {
      auto ledger = open_ledger("events-w" + std::to_string(l));
      while (!stop.load()) ledger->poll_once();
    });
  }
  std::thread reader([&] {
    auto events = open_events();
    std::uint64_t after = start;
    while (!stop.load()) {
      std::vector<net::EventRecord> got;
      std::uint64_t next = 0;
      std::string error;
      if (!events->read(after, 50, &got, &next, &error)) continue;
      for (const net::EventRecord& e : got) {
        if (e.seq != after + 1) ++gaps;
        after = e.seq;
      }
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::string error;
      auto store = ClusterStore::open(store_opt_, shared_, &error);
      ASSERT_NE(store, nullptr) << error;
      for (int i = 0; i < kAdjusts; ++i) {
        StoreReply r;
        const core::Adjust adj{skus[(w * 7 + i) % kSkus], -1, "damaged", "w" + std::to_string(w) + "-" + std::to_string(i)};
        EXPECT_TRUE(store->apply(adj, now_ms(), &r).ok());
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  for (auto& t : threads) t.join();
  reader.join();
  drain(*ledger_);
  EXPECT_EQ(gaps.load(), 0) << "a reader saw a seq before an earlier one had committed";
  int adjusted = 0;
  for (const net::EventRecord& e : read_all(start)) {
    adjusted += e.type == core::EventType::stock_adjusted && mine(e);
  }
  EXPECT_EQ(adjusted, kWriters * kAdjusts) << "one stock_adjusted event per adjustment";
}

TEST_F(ClusterEventsLive, WaitReturnsWhenAnEventCommits) {
  const std::uint64_t last = last_seq();
  bool ready = true;
  std::string error;
  ASSERT_TRUE(events_->wait(last, 20, &ready, &error)) << error;
  EXPECT_FALSE(ready) << "nothing after " << last;
  ASSERT_TRUE(events_->wait(last - 1, 20, &ready, &error)) << error;
  EXPECT_TRUE(ready) << "seq " << last << " is after " << last - 1;
  std::atomic<bool> woke{false};
  std::thread waiter([&] {
    auto events = open_events();
    bool r = false;
    std::string e;
    EXPECT_TRUE(events->wait(last, 60'000, &r, &e)) << e;
    woke = r;
  });
  ASSERT_TRUE(apply(core::PutSku{n("W"), 3, 0, {}, {}}, now_ms()).ok());
  drain(*ledger_);
  waiter.join();
  EXPECT_TRUE(woke.load()) << "the long poll ends with the ledger's commit";
}

TEST_F(ClusterEventsLive, ListsSkusInNameOrderWithTotal) {
  const std::vector<std::string> names = {n("b"), n("a"), n("c-1"), n("C")};
  for (const std::string& s : names) ASSERT_TRUE(apply(core::PutSku{s, 1, 0, {}, {}}, now_ms()).ok());
  ASSERT_TRUE(apply(core::PutSku{n("split"), 40, 0, {}, {}, 2}, now_ms()).ok());  // rows "<sku>#<j>" too
  drain(*ledger_);
  std::vector<std::string> all;
  std::uint64_t total = 0;
  for (std::uint64_t offset = 0; offset < 10'000'000; offset += 1000) {
    std::vector<std::string> page;
    std::string error;
    ASSERT_TRUE(events_->list_skus(offset, 1000, &page, &total, &error)) << error;
    all.insert(all.end(), page.begin(), page.end());
    if (page.size() < 1000) break;
  }
  EXPECT_EQ(all.size(), total);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end())) << "byte order";
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "no name twice";
  std::vector<std::string> ours;
  for (const std::string& s : all) {
    if (s.rfind(prefix_, 0) == 0) ours.push_back(s);
  }
  EXPECT_EQ(ours, (std::vector<std::string>{n("C"), n("a"), n("b"), n("c-1"), n("split")}))
      << "byte order puts upper case first; shards are not listed";
}

}  // namespace
}  // namespace stockd::backends
