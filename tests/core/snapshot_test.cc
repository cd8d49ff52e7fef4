// Snapshots: save -> load reproduces every view and every future behaviour; load rejects truncated,
// extended, foreign and corrupted input without touching the inventory it was called on.
#include <cstdio>
#include <random>
#include <string>

#include "core_test_util.h"

namespace stockd::core::testing {
namespace {

std::string snapshot(const Inventory& inv) {
  Writer w;
  inv.save(w);
  return w.buffer();
}

void expect_same_views(const Inventory& a, const Inventory& b, const std::vector<std::string>& hold_ids) {
  ASSERT_EQ(a.channel_count(), b.channel_count());
  for (std::uint32_t c = 0; c < a.channel_count(); ++c) {
    ChannelView x = a.channel(c), y = b.channel(c);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.priority, y.priority);
    EXPECT_EQ(x.hold_ttl_s, y.hold_ttl_s);
    EXPECT_EQ(x.state, y.state);
    EXPECT_EQ(b.find_channel(x.name), c);
  }
  ASSERT_EQ(a.sku_count(), b.sku_count());
  for (std::uint32_t i = 0; i < a.sku_count(); ++i) {
    SkuView x = a.sku(i), y = b.sku(i);
    SCOPED_TRACE(std::string(x.name));
    EXPECT_EQ(b.find_sku(x.name), i);
    EXPECT_EQ(x.on_hand, y.on_hand);
    EXPECT_EQ(x.safety_stock, y.safety_stock);
    EXPECT_EQ(x.held, y.held);
    EXPECT_EQ(x.available, y.available);
    EXPECT_EQ(x.max_per_hold, y.max_per_hold);
    EXPECT_EQ(x.low_stock_threshold, y.low_stock_threshold);
    EXPECT_EQ(x.low_stock_threshold_explicit, y.low_stock_threshold_explicit);
    EXPECT_EQ(x.version, y.version);
    EXPECT_EQ(x.shared_free, y.shared_free);
    EXPECT_EQ(x.preempt, y.preempt);
    ASSERT_EQ(x.channels.size(), y.channels.size());
    for (std::size_t c = 0; c < x.channels.size(); ++c) EXPECT_EQ(x.channels[c].available, y.channels[c].available);
    ASSERT_EQ(x.fences.size(), y.fences.size());
    for (std::size_t f = 0; f < x.fences.size(); ++f) {
      EXPECT_EQ(x.fences[f].channel, y.fences[f].channel);
      EXPECT_EQ(x.fences[f].ratio_ppb, y.fences[f].ratio_ppb);
      EXPECT_EQ(x.fences[f].units, y.fences[f].units);
      EXPECT_EQ(x.fences[f].size, y.fences[f].size);
      EXPECT_EQ(x.fences[f].held, y.fences[f].held);
    }
    ASSERT_EQ(x.pools.size(), y.pools.size());
    for (std::size_t p = 0; p < x.pools.size(); ++p) {
      EXPECT_EQ(x.pools[p].name, y.pools[p].name);
      EXPECT_EQ(x.pools[p].units, y.pools[p].units);
      EXPECT_EQ(x.pools[p].channels, y.pools[p].channels);
      EXPECT_EQ(x.pools[p].size, y.pools[p].size);
      EXPECT_EQ(x.pools[p].held, y.pools[p].held);
    }
  }
  for (const std::string& id : hold_ids) {
    SCOPED_TRACE(id);
    std::uint32_t h = a.find_hold(id);
    ASSERT_EQ(h, b.find_hold(id));
    if (h == kNoIndex) continue;
    HoldView x = a.hold(h), y = b.hold(h);
    EXPECT_EQ(x.channel, y.channel);
    EXPECT_EQ(x.state, y.state);
    EXPECT_EQ(x.created_at_ms, y.created_at_ms);
    EXPECT_EQ(x.expires_at_ms, y.expires_at_ms);
    EXPECT_EQ(x.finished_at_ms, y.finished_at_ms);
    ASSERT_EQ(x.lines.size(), y.lines.size());
    for (std::size_t l = 0; l < x.lines.size(); ++l) {
      EXPECT_EQ(x.lines[l].sku, y.lines[l].sku);
      EXPECT_EQ(x.lines[l].qty, y.lines[l].qty);
    }
  }
  Stats sa = a.stats(), sb = b.stats();
  EXPECT_EQ(sa.holds_held, sb.holds_held);
  EXPECT_EQ(sa.holds_confirmed, sb.holds_confirmed);
  EXPECT_EQ(sa.holds_released, sb.holds_released);
  EXPECT_EQ(sa.holds_expired, sb.holds_expired);
  EXPECT_EQ(sa.adjustment_refs, sb.adjustment_refs);
  EXPECT_EQ(a.last_event_seq(), b.last_event_seq());
  EXPECT_EQ(a.now_ms(), b.now_ms());
  EXPECT_EQ(a.next_due_ms(), b.next_due_ms());
  EXPECT_EQ(a.retention_ms(), b.retention_ms());
  EXPECT_EQ(a.low_stock_permille(), b.low_stock_permille());
}

// A state that uses every table: fences (ratio, units, removed but still held), pools (open, closed
// with sold units), preempt, holds in every state (partial confirm included), forgotten holds (free
// slots), adjustment refs, a frozen channel and a non-default configuration.
class SnapshotTest : public CoreTest {
 protected:
  std::vector<std::string> ids;

  Outcome h(const std::string& id, const std::string& ch, std::vector<HoldLine> lines,
            std::optional<std::int64_t> ttl_s = std::nullopt, bool sell = false) {
    ids.push_back(id);
    return hold(id, ch, std::move(lines), ttl_s, sell);
  }

  void SetUp() override {
    run(Configure{6 * kHourMs, 150});
    channel("app", 1, 900);
    channel("tmall", 2, 600);
    channel("douyin", 3, 300);
    channel("mini", 3, 60);
    set("A", 500, 20);
    set("B", 40);
    set("C", 90, 5);
    PutSku limit;
    limit.sku = "B";
    limit.max_per_hold = 7;
    limit.low_stock_threshold = 12;
    run(limit);
    allocate("A", {{"app", 0.1}, {"tmall", -1, 60}, {"mini", -1, 15}},
             {PoolSpec{"live", 80, {"douyin", "app"}}, PoolSpec{"flash", 20, {"mini"}}}, true);
    allocate("C", {{"douyin", -1, 30}}, {PoolSpec{"ev", 25, {"tmall"}}});
    // Old holds, finished and forgotten: their slots become free.
    for (int i = 0; i < 6; ++i) ASSERT_EQ(h("old" + std::to_string(i), "app", {{"B", 1}}).code, Code::ok);
    for (int i = 0; i < 6; i += 2) release("old" + std::to_string(i));
    advance_ms(7 * kHourMs);
    tick();
    ASSERT_EQ(h("s1", "douyin", {{"A", 70}, {"C", 20}}, 3600).code, Code::ok);
    ASSERT_EQ(h("s2", "tmall", {{"A", 100}, {"C", 30}}).code, Code::ok);
    ASSERT_EQ(h("s3", "mini", {{"A", 30}}, 30).code, Code::ok);
    ASSERT_EQ(h("s4", "app", {{"A", 5}, {"B", 3}}).code, Code::ok);
    ASSERT_EQ(h("sold", "app", {{"A", 4}, {"B", 2}}, std::nullopt, true).code, Code::ok);
    ASSERT_EQ(h("sold2", "douyin", {{"A", 5}}, std::nullopt, true).code, Code::ok);  // pool "live" sells 5
    ASSERT_EQ(confirm("s4", std::vector<HoldLine>{{"A", 2}}).code, Code::ok);
    ASSERT_EQ(h("s5", "douyin", {{"C", 10}}).code, Code::ok);
    ASSERT_EQ(confirm("s5").code, Code::ok);
    ASSERT_EQ(h("s6", "app", {{"B", 5}}, 5).code, Code::ok);
    ASSERT_EQ(h("s7", "app", {{"B", 1}}).code, Code::ok);
    ASSERT_EQ(release("s7").code, Code::ok);
    ASSERT_EQ(run(ClosePool{"C", "ev"}).code, Code::ok);
    allocate("C", {}, {});
    ASSERT_EQ(adjust("A", -7, "ADJ-1", "damaged").code, Code::ok);
    ASSERT_EQ(adjust("C", 12, "ADJ-1", "receipt").code, Code::ok);
    advance_ms(10'000);
    tick();  // s6 expires
    ASSERT_EQ(state_of("s6"), HoldState::expired);
    freeze("mini");
    for (int i = 0; i < 6; ++i) ids.push_back("old" + std::to_string(i));
    ASSERT_EQ(h("s8", "tmall", {{"B", 2}}).code, Code::ok);  // reuses a forgotten slot
  }
};

TEST_F(SnapshotTest, LoadReproducesEveryView) {
  std::string bytes = snapshot(inv);
  Inventory copy;
  ASSERT_TRUE(copy.load(bytes));
  EXPECT_EQ(copy.check_invariants(), "");
  expect_same_views(inv, copy, ids);
  EXPECT_EQ(snapshot(copy), bytes) << "save(load(s)) == s";
}

TEST_F(SnapshotTest, LoadedInventoryBehavesTheSameAfterwards) {
  Inventory copy;
  ASSERT_TRUE(copy.load(snapshot(inv)));
  std::vector<std::pair<std::int64_t, Command>> script = {
      {now + 1, CreateHold{"n1", "app", {{"A", 50}}, 10, false}},
      {now + 2, CreateHold{"n2", "douyin", {{"C", 5}, {"B", 1}}, std::nullopt, false}},
      {now + 3, ConfirmHold{"s2", std::vector<HoldLine>{{"C", 3}}}},
      {now + 4, CreateHold{"s1", "douyin", {{"C", 20}, {"A", 70}}, 3600, false}},
      {now + 5, ReleaseHold{"s3"}},
      {now + 6, Adjust{"A", -7, "again", "ADJ-1"}},
      {now + 7, PutSku{"A", 480, 30, std::nullopt, std::nullopt}},
      {now + 8, CreateHold{"n3", "mini", {{"A", 1}}, std::nullopt, false}},
      {now + 9, PutChannel{"mini", std::nullopt, std::nullopt, ChannelState::active}},
      {now + 10, CreateHold{"n3", "mini", {{"A", 40}}, std::nullopt, false}},
      {now + 20'000, Tick{}},
      {now + 5 * kHourMs, ExtendHold{"n2", 60}},
      {now + 7 * kHourMs, Tick{}},
      {now + 7 * kHourMs + 1, CreateHold{"s7", "app", {{"B", 1}}, std::nullopt, false}},
      {now + 30 * kHourMs, Tick{}},
      {now + 30 * kHourMs, CreateHold{"n4", "app", {{"A", 1}, {"B", 1}, {"C", 1}}, std::nullopt, false}},
  };
  for (const char* id : {"n1", "n2", "n3", "n4"}) ids.push_back(id);
  for (const auto& [t, cmd] : script) {
    std::vector<Event> ea, eb;
    Outcome a = inv.apply(cmd, t, &ea);
    Outcome b = copy.apply(cmd, t, &eb);
    EXPECT_EQ(a.code, b.code);
    EXPECT_EQ(a.created, b.created);
    EXPECT_EQ(a.changed, b.changed);
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.hold_state, b.hold_state);
    ASSERT_EQ(ea.size(), eb.size());
    for (std::size_t i = 0; i < ea.size(); ++i) {
      EXPECT_EQ(ea[i].seq, eb[i].seq);
      EXPECT_EQ(ea[i].type, eb[i].type);
      EXPECT_EQ(ea[i].sku, eb[i].sku);
      EXPECT_EQ(ea[i].channel, eb[i].channel);
      EXPECT_EQ(ea[i].hold, eb[i].hold);
      EXPECT_EQ(ea[i].available, eb[i].available);
    }
    EXPECT_EQ(copy.check_invariants(), "");
  }
  expect_same_views(inv, copy, ids);
  EXPECT_EQ(snapshot(inv), snapshot(copy));
}

TEST_F(SnapshotTest, EmptyInventoryRoundTrips) {
  Inventory empty, copy;
  std::string bytes = snapshot(empty);
  ASSERT_TRUE(copy.load(bytes));
  EXPECT_EQ(snapshot(copy), bytes);
  EXPECT_EQ(copy.sku_count(), 0u);
  EXPECT_EQ(copy.retention_ms(), limits::kDefaultRetentionMs);
}

TEST_F(SnapshotTest, EveryTruncationIsRejectedAndLeavesTheTargetAsItWas) {
  std::string bytes = snapshot(inv);
  Inventory target;
  target.apply(PutChannel{"keep", 1, 60, ChannelState::active}, 5, nullptr);
  std::string before = snapshot(target);
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    ASSERT_FALSE(target.load(std::string_view(bytes).substr(0, n))) << "accepted a snapshot cut to " << n;
  }
  EXPECT_EQ(snapshot(target), before);
  EXPECT_EQ(target.find_channel("keep"), 0u);
}

TEST_F(SnapshotTest, ForeignAndExtendedInputIsRejected) {
  std::string bytes = snapshot(inv);
  Inventory target;
  EXPECT_FALSE(target.load(bytes + std::string(1, '\0'))) << "trailing byte";
  std::string bad_magic = bytes;
  bad_magic[0] ^= 1;
  EXPECT_FALSE(target.load(bad_magic));
  std::string bad_version = bytes;
  bad_version[4] = 9;
  EXPECT_FALSE(target.load(bad_version));
  Writer cmd;
  encode_command(1, Tick{}, cmd);
  EXPECT_FALSE(target.load(cmd.buffer())) << "a journal record is not a snapshot";
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20'000; ++i) {
    std::string junk(rng() % 64, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    EXPECT_FALSE(target.load(junk));
  }
  EXPECT_EQ(target.sku_count(), 0u);
}

TEST(SnapshotLoadTest, ADrawNamingAFenceThatDoesNotExistIsRejected) {
  // Regression: the sums of held units still added up, so load() accepted it and the next release
  // dereferenced a missing fence.
  Inventory inv;
  inv.apply(PutChannel{"app", 1, 60, ChannelState::active}, 1, nullptr);
  inv.apply(PutChannel{"tmall", 2, 60, ChannelState::active}, 1, nullptr);
  inv.apply(PutSku{"A", 10, std::nullopt, std::nullopt, std::nullopt}, 1, nullptr);
  inv.apply(SetAllocation{"A", {{"app", -1, 5}}, {}, false}, 1, nullptr);
  ASSERT_EQ(inv.apply(CreateHold{"h", "app", {{"A", 3}}, std::nullopt, false}, 1, nullptr).code, Code::ok);
  std::string bytes = snapshot(inv);
  const std::string app_fence("\x80\x80\x80\x80\x04", 5);  // varint of kFenceTag | channel 0
  std::size_t at = bytes.rfind(app_fence);
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '\x81';  // kFenceTag | channel 1: tmall has no fence
  Inventory target;
  EXPECT_FALSE(target.load(bytes));
}

TEST(SnapshotLoadTest, APoolListingAChannelTwiceRoundTrips) {
  // Regression: validate() accepts a channel listed twice in a pool, but load() capped a pool's channel
  // list at the number of channels, so the snapshot of that state could not be loaded (a restart fails).
  Inventory inv;
  inv.apply(PutChannel{"app", 1, 60, ChannelState::active}, 1, nullptr);
  inv.apply(PutSku{"A", 10, std::nullopt, std::nullopt, std::nullopt}, 1, nullptr);
  ASSERT_EQ(inv.apply(SetAllocation{"A", {}, {{"live", 5, {"app", "app"}}}, false}, 1, nullptr).code, Code::ok);
  EXPECT_EQ(inv.available(0, 0), 10) << "the pool counts once for the channel";
  std::string bytes = snapshot(inv);
  Inventory copy;
  ASSERT_TRUE(copy.load(bytes));
  EXPECT_EQ(snapshot(copy), bytes);
}

TEST(SnapshotLoadTest, ASnapshotWhoseClockIsBeforeItsHistoryIsRejected) {
  Inventory inv;
  inv.apply(PutChannel{"app", 1, 60, ChannelState::active}, 1000, nullptr);
  inv.apply(PutSku{"A", 10, std::nullopt, std::nullopt, std::nullopt}, 1000, nullptr);
  inv.apply(CreateHold{"h", "app", {{"A", 3}}, std::nullopt, true}, 1000, nullptr);
  std::string bytes = snapshot(inv);
  ASSERT_EQ(static_cast<std::uint8_t>(bytes[8]), 0xd0) << "zigzag(1000) starts 0xd0 0x0f";
  bytes[8] = '\xce';  // now = 999, before the hold finished
  Inventory target;
  EXPECT_FALSE(target.load(bytes));
}

// Works an accepted snapshot hard: every hold is released or confirmed, stock and allocations are set
// again, time runs past every expiry and retention. Nothing may crash and no invariant may break.
void exercise(Inventory& inv, const std::vector<std::string>& ids, const std::string& what) {
  std::int64_t t = inv.now_ms();
  std::string broken;
  std::size_t steps = 0;
  auto step = [&](const Command& c) {
    if (!broken.empty()) return;
    inv.apply(c, ++t, nullptr);
    ++steps;
    broken = inv.check_invariants();
  };
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i % 3 == 0) step(ConfirmHold{ids[i], std::nullopt});
    if (i % 3 == 1) step(ReleaseHold{ids[i]});
    if (i % 3 == 2) step(ConfirmHold{ids[i], std::vector<HoldLine>{{"A", 1}}});
  }
  for (std::uint32_t s = 0; s < inv.sku_count(); ++s) {
    std::string name(inv.sku_name(s));
    step(PutSku{name, inv.sku(s).held + 3, 1, std::nullopt, std::nullopt});
    for (std::uint32_t c = 0; c < inv.channel_count(); ++c)
      step(CreateHold{"x" + std::to_string(s) + "-" + std::to_string(c), std::string(inv.channel_name(c)),
                      {{name, 1}}, 1, false});
    step(SetAllocation{name, {}, {}, false});
  }
  t += 40LL * 24 * kHourMs;
  step(Tick{});
  ASSERT_EQ(broken, "") << what << ": the snapshot loaded, then step " << steps << " broke an invariant";
  Writer w;
  inv.save(w);
  Inventory again;
  ASSERT_TRUE(again.load(w.buffer())) << what << ": a state the core reached does not load";
}

TEST_F(SnapshotTest, CorruptedSnapshotsAreRejectedOrLoadSomethingSafe) {
  std::string bytes = snapshot(inv);
  std::mt19937_64 rng(2024);
  int accepted = 0;
  for (std::size_t pos = 0; pos < bytes.size(); ++pos) {
    for (int k = 0; k < 3; ++k) {
      std::string bad = bytes;
      std::uint8_t mask = k == 0 ? 1 : k == 1 ? 0x80 : static_cast<std::uint8_t>(1 + rng() % 255);
      bad[pos] = static_cast<char>(static_cast<std::uint8_t>(bad[pos]) ^ mask);
      Inventory target;
      if (!target.load(bad)) continue;
      ++accepted;
      exercise(target, ids, "byte " + std::to_string(pos) + " ^ " + std::to_string(mask));
      if (HasFatalFailure()) return;
    }
  }
  RecordProperty("accepted", accepted);
  const int tried = 3 * static_cast<int>(bytes.size());
  // Both halves of the name must have run: some corruptions loaded (and were exercised above), and
  // load() rejected others (it validates what it reads; no checksum covers this layer).
  EXPECT_GT(accepted, 0) << "no corrupted snapshot loaded: the 'load something safe' half never ran";
  EXPECT_LT(accepted, tried) << "all " << tried << " corrupted snapshots loaded: load() checks nothing";
  std::printf("corrupted snapshots: %d of %d loaded\n", accepted, tried);
}

}  // namespace
}  // namespace stockd::core::testing
