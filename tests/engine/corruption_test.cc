// Damaged data directories: what recovery accepts (a torn tail, a damaged newest snapshot with a
// fallback) and what it refuses (a bad record before the tail, a missing segment, no valid snapshot
// and no journal from lsn 1), and that snapshot + replay equals pure replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "engine/engine.h"
#include "engine/journal_format.h"
#include "engine_test_util.h"
#include "fault_env.h"

namespace stockd::engine::testing {
namespace {

constexpr const char* kDir = "/db";

Options opts() {
  Options o;
  o.data_dir = kDir;
  o.segment_bytes = 1 << 20;
  o.snapshot_every_records = 0;
  return o;
}

std::string seg(std::uint64_t first) { return std::string(kDir) + "/" + format::segment_name(first); }
std::string snap(std::uint64_t lsn) { return std::string(kDir) + "/" + format::snapshot_name(lsn); }

// Record offsets of a segment file.
std::vector<std::size_t> offsets(const std::string& file) {
  std::vector<std::size_t> out;
  format::Record r;
  std::size_t pos = format::kSegmentHeaderBytes;
  while (format::read_record(file, pos, &r) == format::Read::ok) {
    out.push_back(pos);
    pos = r.next;
  }
  return out;
}

std::string expected(std::uint64_t seed, std::uint64_t n) {
  core::Inventory inv;
  apply_stream(inv, seed, 0, n);
  return state_bytes(inv);
}

// Items 0..n of the stream, one per batch, so record lsn i+1 is item i (the stream's invalid items
// are not journaled: they are kept out of these tests by choosing n within the setup prefix + valid).
std::uint64_t fill(FaultEnv& env, const Options& o, std::uint64_t seed, std::uint64_t n) {
  std::string error;
  auto e = open_engine(o, &env, &error);
  EXPECT_TRUE(e) << error;
  if (!e) return 0;
  run_stream(*e, seed, 0, n, 1);
  return e->stats().last_lsn;
}

// The number of stream items whose records are lsn 1..lsn (invalid items have none).
std::uint64_t items_for_lsn(std::uint64_t seed, std::uint64_t lsn) {
  std::uint64_t i = 0, seen = 0;
  std::string m;
  while (seen < lsn) {
    if (core::validate(stream_item(seed, i).cmd, &m) == core::Code::ok) ++seen;
    ++i;
  }
  return i;
}

TEST(Corruption, TornTailIsCutAndLogged) {
  FaultEnv env;
  fill(env, opts(), 1, 100);
  std::string* f = env.contents(seg(1));
  ASSERT_NE(f, nullptr);
  std::vector<std::size_t> offs = offsets(*f);
  std::size_t last = offs.back();
  f->resize(last + 9);  // the last record's header is torn
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().torn_tail_bytes, 9u);
  EXPECT_EQ(e->stats().last_lsn, offs.size() - 1);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(1, items_for_lsn(1, offs.size() - 1)));
  // Writing continues where the good records end; a later open sees no damage.
  run_stream(*e, 1, items_for_lsn(1, offs.size() - 1), 120, 4);
  e.reset();
  e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().torn_tail_bytes, 0u);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(1, 120));
}

TEST(Corruption, TornLastRecordPayloadIsCut) {
  FaultEnv env;
  fill(env, opts(), 2, 60);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  format::Record r;
  ASSERT_EQ(format::read_record(*f, offs.back(), &r), format::Read::ok);
  (*f)[r.next - 1] ^= 0x40;  // the last record's checksum fails and only zeros follow
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().last_lsn, offs.size() - 1);
  EXPECT_EQ(e->stats().torn_tail_bytes, r.next - offs.back());
}

TEST(Corruption, SegmentsArePreallocatedAndZerosEndTheJournal) {
  FaultEnv env;
  fill(env, opts(), 2, 60);
  std::string* f = env.contents(seg(1));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->size(), opts().segment_bytes) << "a segment is created at its full size";
  std::vector<std::size_t> offs = offsets(*f);
  format::Record r;
  ASSERT_EQ(format::read_record(*f, offs.back(), &r), format::Read::ok);
  EXPECT_EQ(format::nonzero_end(*f, r.next), r.next) << "zeros after the last record";
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().last_lsn, offs.size());
  EXPECT_EQ(e->stats().torn_tail_bytes, 0u);
}

TEST(Corruption, TornWriteIntoZerosIsCutAndNeverResurfaces) {
  // A crash in the middle of a batch leaves the head of a record (or of several) in the zeros.
  // Recovery cuts it, zeroes it durably, and shorter records written after it must not line up with
  // the stale bytes after a second crash.
  FaultEnv env;
  fill(env, opts(), 9, 80);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  format::Record r;
  ASSERT_EQ(format::read_record(*f, offs.back(), &r), format::Read::ok);
  std::string stale = f->substr(offs[offs.size() - 6], r.next - offs[offs.size() - 6]);
  f->replace(r.next, stale.size() - 20, stale.substr(0, stale.size() - 20));  // torn copy after the end
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().last_lsn, offs.size());
  EXPECT_EQ(e->stats().torn_tail_bytes, stale.size() - 20);
  std::uint64_t acked = run_stream(*e, 9, items_for_lsn(9, offs.size()), items_for_lsn(9, offs.size()) + 1, 1);
  env.crash();
  e.reset();
  e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().torn_tail_bytes, 0u) << "the torn bytes were zeroed before new records";
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(9, items_for_lsn(9, offs.size()) + acked));
}

TEST(Corruption, ZeroedRecordHeaderMidJournalRefuses) {
  FaultEnv env;
  fill(env, opts(), 10, 100);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  std::size_t victim = offs[offs.size() / 2];
  std::fill(f->begin() + static_cast<std::ptrdiff_t>(victim),
            f->begin() + static_cast<std::ptrdiff_t>(victim + format::kRecordHeaderBytes), '\0');
  std::string error;
  EXPECT_FALSE(open_engine(opts(), &env, &error)) << "zeros with good records after them are damage, not the end";
  EXPECT_NE(error.find("offset " + std::to_string(victim)), std::string::npos) << error;
}

TEST(Corruption, VersionOneSegmentIsReadButNotContinued) {
  FaultEnv env;
  fill(env, opts(), 11, 50);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  format::Record r;
  ASSERT_EQ(format::read_record(*f, offs.back(), &r), format::Read::ok);
  f->resize(r.next);  // a version 1 segment ends at its last record
  f->replace(0, 8, format::kSegmentMagicV1);
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().last_lsn, offs.size());
  EXPECT_EQ(e->stats().segments, 2u) << "new records go into a new (version 2) segment";
  std::uint64_t from = items_for_lsn(11, offs.size());
  std::uint64_t acked = run_stream(*e, 11, from, from + 20, 5);
  e.reset();
  e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(11, from + acked));
}

TEST(Corruption, FlippedBitMidJournalRefusesNamingFileAndOffset) {
  FaultEnv env;
  fill(env, opts(), 3, 100);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  std::size_t victim = offs[offs.size() / 2];
  (*f)[victim + format::kRecordHeaderBytes + 2] ^= 0x08;
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_FALSE(e) << "a damaged record with good ones after it must not be skipped or applied";
  EXPECT_NE(error.find(format::segment_name(1)), std::string::npos) << error;
  EXPECT_NE(error.find("offset " + std::to_string(victim)), std::string::npos) << error;

  Options cut = opts();
  cut.recover_truncate = true;
  e = open_engine(cut, &env, &error);
  ASSERT_TRUE(e) << error;
  std::uint64_t kept = offs.size() / 2;  // records before the victim
  EXPECT_EQ(e->stats().last_lsn, kept);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(3, items_for_lsn(3, kept)));
  e.reset();
  e = open_engine(opts(), &env, &error);  // the cut is permanent
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().last_lsn, kept);
}

TEST(Corruption, FlippedLengthFieldMidJournalRefuses) {
  FaultEnv env;
  fill(env, opts(), 4, 100);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  std::size_t victim = offs[10];
  (*f)[victim + 2] ^= 0x01;  // length now points far past the end: looks torn, but good records follow
  std::string error;
  EXPECT_FALSE(open_engine(opts(), &env, &error));
  EXPECT_NE(error.find("offset " + std::to_string(victim)), std::string::npos) << error;
}

TEST(Corruption, MissingSegmentRefuses) {
  FaultEnv env;
  Options o = opts();
  o.segment_bytes = 2048;
  fill(env, o, 5, 300);
  std::vector<std::string> names;
  env.list_dir(kDir, &names);
  std::vector<std::uint64_t> firsts;
  for (const auto& n : names) {
    std::uint64_t v;
    if (format::parse_segment_name(n, &v)) firsts.push_back(v);
  }
  std::sort(firsts.begin(), firsts.end());
  ASSERT_GE(firsts.size(), 3u);
  env.erase(seg(firsts[1]));
  std::string error;
  EXPECT_FALSE(open_engine(o, &env, &error));
  EXPECT_NE(error.find("missing"), std::string::npos) << error;
  EXPECT_NE(error.find(format::segment_name(firsts[0])), std::string::npos) << error;
  // With recover_truncate: everything from the hole on is dropped.
  o.recover_truncate = true;
  auto e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  std::uint64_t kept = items_for_lsn(5, firsts[1] - 1);
  EXPECT_EQ(e->stats().last_lsn, firsts[1] - 1);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(5, kept));
  // The cut is durable before new records follow it: dropped segments never come back.
  o.recover_truncate = false;
  e.reset();
  e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  std::uint64_t acked = run_stream(*e, 5, kept, kept + 40, 4);
  env.crash();
  e.reset();
  e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(5, kept + acked));
}

TEST(Corruption, RecoverTruncateRemovesLaterSegmentsDurably) {
  FaultEnv env;
  Options o = opts();
  o.segment_bytes = 2048;
  fill(env, o, 12, 200);
  std::string* f = env.contents(seg(1));
  std::vector<std::size_t> offs = offsets(*f);
  ASSERT_GT(offs.size(), 10u);
  (*f)[offs[5] + format::kRecordHeaderBytes] ^= 0x20;
  o.recover_truncate = true;
  std::string error;
  auto e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  ASSERT_EQ(e->stats().last_lsn, 5u);
  ASSERT_EQ(e->stats().segments, 1u);
  // New records go into the cut segment (no rotation, so no later directory sync); after a crash
  // the dropped segments must not come back and supersede them.
  std::uint64_t kept = items_for_lsn(12, 5);
  std::uint64_t acked = run_stream(*e, 12, kept, kept + 5, 5);
  ASSERT_EQ(e->stats().segments, 1u);
  env.crash();
  e.reset();
  o.recover_truncate = false;
  e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(12, kept + acked));
}

TEST(Corruption, DamagedNewestSnapshotFallsBackToThePreviousOne) {
  FaultEnv env;
  std::string error;
  Options o = opts();
  o.segment_bytes = 2048;
  auto e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  std::uint64_t a = 0, b = 0;
  run_stream(*e, 6, 0, 200, 10);
  ASSERT_TRUE(take_snapshot(*e, &a, &error)) << error;
  run_stream(*e, 6, 200, 400, 10);
  ASSERT_TRUE(take_snapshot(*e, &b, &error)) << error;
  run_stream(*e, 6, 400, 500, 10);
  e.reset();
  ASSERT_FALSE(env.exists(seg(1))) << "the second snapshot removes segments the first one covers";
  std::string* f = env.contents(snap(b));
  ASSERT_NE(f, nullptr);
  (*f)[f->size() / 2] ^= 0x10;
  e = open_engine(o, &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().snapshot_lsn, a);
  EXPECT_EQ(e->stats().snapshot_fallbacks, 1u);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(6, 500));
  e.reset();
  // Both damaged, and the journal no longer reaches lsn 1 (removed by the second snapshot): refuse.
  f = env.contents(snap(a));
  f->resize(f->size() - 3);
  e = open_engine(o, &env, &error);
  EXPECT_FALSE(e);
  EXPECT_NE(error.find("no valid snapshot"), std::string::npos) << error;
}

TEST(Corruption, DamagedOnlySnapshotReplaysTheWholeJournal) {
  FaultEnv env;
  std::string error;
  auto e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  std::uint64_t a = 0;
  run_stream(*e, 7, 0, 150, 10);
  ASSERT_TRUE(take_snapshot(*e, &a, &error)) << error;
  run_stream(*e, 7, 150, 200, 10);
  e.reset();
  (*env.contents(snap(a)))[40] ^= 1;
  e = open_engine(opts(), &env, &error);
  ASSERT_TRUE(e) << error;
  EXPECT_EQ(e->stats().snapshot_lsn, 0u);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected(7, 200));
}

TEST(Corruption, SnapshotPlusReplayEqualsPureReplay) {
  for (std::uint64_t seed = 100; seed < 112; ++seed) {
    std::mt19937_64 rng(seed);
    FaultEnv with, without;
    Options o = opts();
    o.segment_bytes = 1024 + rng() % 8192;
    std::string error;
    auto a = open_engine(o, &with, &error);
    auto b = open_engine(o, &without, &error);
    ASSERT_TRUE(a && b) << error;
    std::uint64_t n = 0;
    while (n < 1500) {
      std::uint64_t step = 1 + rng() % 200;
      std::size_t batch = 1 + rng() % 32;
      run_stream(*a, seed, n, n + step, batch);
      run_stream(*b, seed, n, n + step, batch);
      n += step;
      std::uint64_t lsn;
      if (rng() % 3 == 0) {
        ASSERT_TRUE(take_snapshot(*a, &lsn, &error)) << error;
      }
    }
    a.reset();
    b.reset();
    a = open_engine(o, &with, &error);
    b = open_engine(o, &without, &error);
    ASSERT_TRUE(a && b) << error;
    EXPECT_EQ(b->stats().snapshot_lsn, 0u);
    EXPECT_EQ(a->inventory().check_invariants(), "") << "seed " << seed;
    EXPECT_TRUE(state_bytes(a->inventory()) == state_bytes(b->inventory())) << "seed " << seed;
    EXPECT_TRUE(state_bytes(a->inventory()) == expected(seed, n)) << "seed " << seed;
  }
}

}  // namespace
}  // namespace stockd::engine::testing
