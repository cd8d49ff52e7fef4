// The movements history on disk: what the engine serves equals the movements the core produced for
// the acknowledged commands, across crashes (unsynced data gone, torn tails), snapshots (the journal cut)
// and reopenings: contiguous seqs, no duplicate, none lost. Retention removes whole old files.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>

#include "core/codec.h"
#include "engine/engine.h"
#include "engine/movement_store.h"
#include "engine_test_util.h"
#include "fault_env.h"

namespace stockd::engine::testing {
namespace {

constexpr const char* kDir = "/db";
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

Options opts() {
  Options o;
  o.data_dir = kDir;
  o.segment_bytes = 4096;
  o.snapshot_every_records = 0;
  o.movements_file_bytes = 4096;  // many files
  return o;
}

std::unique_ptr<Engine> open_ok(const Options& o, Env* env) {
  std::string error;
  auto e = open_engine(o, env, &error);
  if (!e) throw std::runtime_error("open failed: " + error);
  return e;
}

// The movements of the first n stream items, per SKU, computed on a fresh Inventory.
std::map<std::string, std::vector<MovementRecord>> expected_movements(std::uint64_t seed, std::uint64_t n) {
  core::Inventory inv;
  std::vector<core::Movement> moves;
  inv.set_movement_sink(&moves);
  std::map<std::string, std::vector<MovementRecord>> out;
  for (std::uint64_t i = 0; i < n; ++i) {
    apply_stream(inv, seed, i, i + 1);
    for (const core::Movement& m : moves) {
      MovementRecord r{m.seq, m.at_ms, m.cause, m.on_hand_delta, m.held_delta, m.exposed_delta,
                       std::string(inv.sku_name(m.sku)),
                       m.channel == core::kNoIndex ? "" : std::string(inv.channel_name(m.channel)),
                       m.hold == core::kNoIndex ? "" : std::string(inv.hold_id(m.hold)), m.ref, m.reason};
      out[r.sku].push_back(r);
    }
    moves.clear();
  }
  return out;
}

// Every SKU's whole history as the engine serves it, read in pages of `page`.
std::map<std::string, std::vector<MovementRecord>> served(Engine& e, std::size_t page) {
  std::map<std::string, std::vector<MovementRecord>> out;
  const core::Inventory& inv = e.inventory();
  for (std::uint32_t s = 0; s < inv.sku_count(); ++s) {
    std::string sku(inv.sku_name(s));
    std::uint64_t after = 0;
    for (;;) {
      std::vector<MovementRecord> got;
      core::Status st = e.movements(sku, after, page, &got);
      if (!st.ok()) throw std::runtime_error("movements: " + st.message);
      if (got.empty()) break;
      for (MovementRecord& r : got) out[sku].push_back(std::move(r));
      after = out[sku].back().seq;
    }
  }
  return out;
}

void expect_contiguous(const std::map<std::string, std::vector<MovementRecord>>& by_sku, std::uint64_t last) {
  std::set<std::uint64_t> seqs;
  std::size_t n = 0;
  for (const auto& [sku, list] : by_sku) {
    n += list.size();
    for (const MovementRecord& r : list) seqs.insert(r.seq);
  }
  EXPECT_EQ(n, seqs.size()) << "a seq is served twice";
  EXPECT_EQ(seqs.size(), last) << "seqs are 1.." << last << " with none missing";
  if (!seqs.empty()) {
    EXPECT_EQ(*seqs.begin(), 1u);
    EXPECT_EQ(*seqs.rbegin(), last);
  }
}

TEST(Movements, CrashesSnapshotsAndReopensKeepThemIdenticalAndContiguous) {
  // Small files (rotation syncs each finished one) and one big file (only the snapshots sync it).
  for (int round = 0; round < 4; ++round) {
    bool tear = round % 2 == 1;
    Options o = opts();
    if (round >= 2) o.movements_file_bytes = 1 << 20;
    SCOPED_TRACE(std::string(tear ? "torn crash" : "crash") + (round >= 2 ? ", one file" : ", small files"));
    FaultEnv env;
    auto e = open_ok(o, &env);
    ASSERT_EQ(run_stream(*e, 3, 0, 400, 23), 400u);
    std::uint64_t lsn = 0;
    std::string error;
    ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;  // the journal before it can go
    ASSERT_EQ(run_stream(*e, 3, 400, 700, 17), 300u);
    ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;
    ASSERT_EQ(run_stream(*e, 3, 700, 900, 9), 200u);
    env.crash(tear, 5);  // the movement files were synced at the snapshots only
    e.reset();
    e = open_ok(o, &env);
    auto want = expected_movements(3, 900);
    auto got = served(*e, 7);
    EXPECT_TRUE(got == want) << "movements after the crash differ from the acknowledged commands'";
    expect_contiguous(got, e->inventory().last_movement_seq());
    if (round < 2) {
      EXPECT_GT(e->movement_stats().files, 3u);
    }
    // Reopening again (nothing lost this time) changes nothing.
    e->close();
    e.reset();
    e = open_ok(o, &env);
    EXPECT_TRUE(served(*e, 1000) == want);
    ASSERT_EQ(run_stream(*e, 3, 900, 950, 5), 50u);
    EXPECT_TRUE(served(*e, 50) == expected_movements(3, 950));
  }
}

TEST(Movements, ATornMovementFileIsCutAndRegeneratedFromTheJournal) {
  FaultEnv env;
  Options o = opts();
  o.movements_file_bytes = 1 << 20;  // one file
  auto e = open_ok(o, &env);
  ASSERT_EQ(run_stream(*e, 4, 0, 300, 10), 300u);
  e->close();
  e.reset();
  std::string name = std::string(kDir) + "/" + MovementStore::file_name(1);
  std::string* data = env.contents(name);
  ASSERT_NE(data, nullptr);
  std::size_t cut = data->size() / 2;
  (*data)[cut] = static_cast<char>((*data)[cut] ^ 0x5a);  // damage in the middle: the rest is cut off
  e = open_ok(o, &env);
  EXPECT_GT(e->movement_stats().torn_bytes, 0u);
  EXPECT_TRUE(served(*e, 100) == expected_movements(4, 300));
}

TEST(Movements, RetentionRemovesWholeFilesOlderThanItAndNothingNewer) {
  FaultEnv env;
  Options o = opts();
  o.movements_retention_ms = 30 * kDayMs;
  auto e = open_ok(o, &env);
  ASSERT_EQ(run_stream(*e, 6, 0, 500, 10), 500u);  // stream times: about 1'700'000'000'000 + 10 ms per item
  e->maintain(0);  // flushes the last batch's movements
  MovementStoreStats before = e->movement_stats();
  ASSERT_GT(before.files, 3u);
  const std::int64_t t0 = 1'700'000'000'000;
  e->maintain(t0 + 30 * kDayMs - 10'000);  // every movement is younger than 30 days
  EXPECT_EQ(e->movement_stats().files, before.files);
  EXPECT_EQ(e->movement_stats().files_removed, 0u);
  e->maintain(t0 + 31 * kDayMs);  // every movement is older: all files but the one being written go
  MovementStoreStats after = e->movement_stats();
  EXPECT_EQ(after.files, 1u);
  EXPECT_EQ(after.files_removed, before.files - 1);
  EXPECT_LT(after.movements, before.movements);
  // What remains is the newest movements, served as before; nothing below the removed files' seqs.
  auto want = expected_movements(6, 500);
  auto got = served(*e, 100);
  std::uint64_t first_kept = UINT64_MAX;
  for (const auto& [sku, list] : got) {
    ASSERT_FALSE(list.empty());
    first_kept = std::min(first_kept, list.front().seq);
    const auto& all = want[sku];
    std::vector<MovementRecord> tail(all.end() - static_cast<std::ptrdiff_t>(list.size()), all.end());
    EXPECT_TRUE(tail == list) << "sku " << sku << ": the kept movements are the newest ones";
  }
  EXPECT_GT(first_kept, 1u);
  // The removal is durable: a reopen does not bring the files back.
  e->close();
  e.reset();
  e = open_ok(o, &env);
  EXPECT_EQ(e->movement_stats().files, 1u);
}

TEST(Movements, AFailedMovementWriteRefusesTheNextBatchUntilMaintainWroteThem) {
  for (Fault fault : {Fault::eio, Fault::short_write}) {  // a short write leaves a torn tail behind
  SCOPED_TRACE(fault == Fault::eio ? "eio" : "short write");
  FaultEnv env;
  auto e = open_ok(opts(), &env);
  ASSERT_EQ(run_stream(*e, 9, 0, 50, 5), 50u);
  env.arm(env.ops() + 1, fault, false);  // the next batch's first I/O call: the previous movements
  EXPECT_EQ(run_stream(*e, 9, 50, 55, 5), 0u) << "the batch is refused whole";
  EXPECT_FALSE(e->healthy());
  e->maintain(0);
  ASSERT_TRUE(e->healthy());
  ASSERT_EQ(run_stream(*e, 9, 50, 120, 5), 70u);
  EXPECT_TRUE(served(*e, 100) == expected_movements(9, 120));
  std::string error;
  std::uint64_t lsn = 0;
  ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;  // the journal cannot regenerate them after this
  ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;
  env.crash();
  e.reset();
  e = open_ok(opts(), &env);
  EXPECT_TRUE(served(*e, 100) == expected_movements(9, 120));
  }
}

TEST(Movements, RecordsRoundTripAndDamageIsDetected) {
  MovementRecord r{42, 1'700'000'000'123, core::MovementCause::adjust, -3, 0, 0, "SKU-1", "", "", "RMA-7", "damaged"};
  std::string buf(MovementStore::kMagic);
  MovementStore::encode(r, &buf);
  MovementRecord back;
  std::size_t next = 0;
  ASSERT_TRUE(MovementStore::decode(buf, MovementStore::kMagic.size(), &back, &next));
  EXPECT_TRUE(back == r);
  EXPECT_EQ(next, buf.size());
  for (std::size_t i = MovementStore::kMagic.size(); i < buf.size(); ++i) {
    std::string bad = buf;
    bad[i] = static_cast<char>(bad[i] ^ 1);
    EXPECT_FALSE(MovementStore::decode(bad, MovementStore::kMagic.size(), &back, &next)) << "byte " << i;
  }
  EXPECT_FALSE(MovementStore::decode(buf.substr(0, buf.size() - 1), MovementStore::kMagic.size(), &back, &next));
}

// The record layout of movement_store.h, built here field by field with codec.h's Writer: the files of
// earlier versions stay readable and new files stay readable by them. Extreme numbers give 10-byte
// varints; names up to the 256 bytes decode() accepts.
TEST(Movements, RecordsHaveTheDocumentedLayout) {
  std::vector<MovementRecord> cases = {
      {1, 0, core::MovementCause::hold, 0, 1, 0, "A", "web", "h-1", "", ""},
      {42, 1'700'000'000'123, core::MovementCause::batch, -3, 0, 0, "SKU-1", "", "", "RMA-7", "damaged"},
      {~0ull, INT64_MIN, core::MovementCause::exposure, INT64_MAX, INT64_MIN, -1, std::string(256, 's'),
       std::string(200, 'c'), std::string(128, 'h'), std::string(256, 'r'), std::string(256, 'x')},
  };
  for (const MovementRecord& r : cases) {
    core::Writer w;
    w.varint(r.seq);
    w.svarint(r.at_ms);
    w.u8(static_cast<std::uint8_t>(r.cause));
    w.svarint(r.on_hand_delta);
    w.svarint(r.held_delta);
    w.svarint(r.exposed_delta);
    for (const std::string& s : {r.sku, r.channel, r.hold, r.ref, r.reason}) w.str(s);
    const std::string& payload = w.buffer();
    auto len = static_cast<std::uint32_t>(payload.size());
    std::uint32_t crc = crc32c(0, payload.data(), payload.size());
    std::string expected("prefix");
    expected.append(reinterpret_cast<const char*>(&len), 4);
    expected.append(reinterpret_cast<const char*>(&crc), 4);
    expected += payload;
    std::string got("prefix");
    MovementStore::encode(r, &got);
    EXPECT_EQ(got, expected) << "seq " << r.seq;
    MovementRecord back;
    std::size_t next = 0;
    ASSERT_TRUE(MovementStore::decode(got, 6, &back, &next)) << "seq " << r.seq;
    EXPECT_TRUE(back == r) << "seq " << r.seq;
  }
}

}  // namespace
}  // namespace stockd::engine::testing
