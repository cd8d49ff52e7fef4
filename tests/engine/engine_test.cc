// Engine basics: checksum, group commit, validation, modes, snapshots, idempotency after a crash,
// the event sink, the LOCK file, the posix Env. FaultEnv crashes show what survives.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "core/codec.h"
#include "engine/engine.h"
#include "engine/journal_format.h"
#include "engine_test_util.h"
#include "fault_env.h"

namespace stockd::engine::testing {
namespace {

constexpr const char* kDir = "/db";

Options opts(FsyncMode mode = FsyncMode::always) {
  Options o;
  o.data_dir = kDir;
  o.fsync = mode;
  o.segment_bytes = 4096;
  o.snapshot_every_records = 0;
  return o;
}

std::unique_ptr<Engine> open_ok(const Options& o, Env* env, EventSink* sink = nullptr) {
  std::string error;
  auto e = open_engine(o, env, &error, sink);
  if (!e) throw std::runtime_error("open failed: " + error);  // gtest reports it as the test's failure
  return e;
}

std::string expected_bytes(std::uint64_t seed, std::uint64_t n) {
  core::Inventory inv;
  apply_stream(inv, seed, 0, n);
  return state_bytes(inv);
}

TEST(Crc32c, KnownVectorAndBothImplementationsAgree) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(0, "", 0), 0u);
  std::mt19937_64 rng(7);
  std::string buf(4096, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (int t = 0; t < 200; ++t) {
    std::size_t off = rng() % 64, n = rng() % 4000;
    std::uint32_t seed = static_cast<std::uint32_t>(rng());
    ASSERT_EQ(crc32c(seed, buf.data() + off, n), crc32c_portable(seed, buf.data() + off, n)) << "off " << off << " n " << n;
    // Extending equals one pass.
    std::size_t half = n / 2;
    ASSERT_EQ(crc32c(crc32c(0, buf.data(), half), buf.data() + half, n - half), crc32c(0, buf.data(), n));
  }
}

TEST(Replay, DecodingIntoAReusedCommandEqualsDecodingIntoAFreshOne) {
  // Recovery decodes every record into a few reused Commands (no allocation per record); nothing of
  // a previous command may leak into the next one (e.g. a partial confirm's lines).
  core::Command reused;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    for (std::uint64_t i = 0; i < 3000; ++i) {
      StreamItem it = stream_item(seed, i);
      core::Writer w;
      core::encode_command(it.now_ms, it.cmd, w);
      core::Command fresh;
      std::int64_t t1 = 0, t2 = 0;
      ASSERT_TRUE(core::decode_command(w.buffer(), &t1, &fresh));
      ASSERT_TRUE(core::decode_command(w.buffer(), &t2, &reused));
      core::Writer a, b;
      core::encode_command(t1, fresh, a);
      core::encode_command(t2, reused, b);
      ASSERT_EQ(a.buffer(), b.buffer()) << "seed " << seed << " item " << i;
      ASSERT_EQ(b.buffer(), w.buffer()) << "seed " << seed << " item " << i;
    }
  }
  // A partial confirm (lines), then a full one (none): the lines must not survive into the second.
  core::Command partial = core::ConfirmHold{"h-1", std::vector<core::HoldLine>{{"sku-1", 2}, {"sku-2", 1}}};
  core::Command full = core::ConfirmHold{"h-22", std::nullopt};
  for (const core::Command* c : {&partial, &full, &partial}) {
    core::Writer w, again;
    core::encode_command(5, *c, w);
    std::int64_t t = 0;
    ASSERT_TRUE(core::decode_command(w.buffer(), &t, &reused));
    core::encode_command(t, reused, again);
    ASSERT_EQ(again.buffer(), w.buffer());
  }
}

TEST(Engine, GroupCommitIsOneSyncPerBatchAndStateSurvivesCrash) {
  FaultEnv env;
  auto e = open_ok(opts(), &env);
  std::uint64_t syncs_before = env.syncs();
  std::uint64_t acked = run_stream(*e, 1, 0, 64, 64);  // one batch
  ASSERT_EQ(acked, 64u);
  EXPECT_EQ(env.syncs() - syncs_before, 1u) << "one batch must cost exactly one sync";
  EXPECT_EQ(e->stats().batches, 1u);
  acked += run_stream(*e, 1, 64, 600, 37);
  EXPECT_GT(e->stats().segments, 1u) << "segments rotate at segment_bytes";
  EXPECT_EQ(e->inventory().check_invariants(), "");
  env.crash();
  e.reset();
  e = open_ok(opts(), &env);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(1, 600));
  EXPECT_EQ(e->stats().last_lsn, e->stats().replayed_records);
}

TEST(Engine, InvalidCommandsAreAnsweredButNotJournaled) {
  FaultEnv env;
  auto e = open_ok(opts(), &env);
  core::Outcome o = e->execute_one(core::ReleaseHold{""}, 1000, nullptr);
  EXPECT_EQ(o.code, core::Code::invalid_request);
  EXPECT_EQ(e->stats().last_lsn, 0u);
  o = e->execute_one(core::PutChannel{"web", 100, 60, core::ChannelState::active}, 1000, nullptr);
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(e->stats().last_lsn, 1u);
}

TEST(Engine, EventsEndMarksEachItemsSliceAndTheSinkSeesThem) {
  struct CountingSink : EventSink {
    std::uint64_t seen = 0;
    void on_events(std::span<const core::Event> ev, const core::Inventory&) override { seen += ev.size(); }
    void save(std::string* out) const override { *out = std::to_string(seen); }
    bool load(std::string_view in) override {
      seen = std::stoull(std::string(in));
      return true;
    }
  };
  FaultEnv env;
  CountingSink sink;
  auto e = open_ok(opts(), &env, &sink);
  std::vector<BatchItem> items;
  for (std::uint64_t i = 0; i < 40; ++i) {
    StreamItem s = stream_item(3, i);
    items.push_back(BatchItem{s.cmd, s.now_ms, {}, 0});
  }
  std::vector<core::Event> events;
  e->execute(items, &events);
  std::size_t prev = 0;
  for (const BatchItem& it : items) {
    EXPECT_GE(it.events_end, prev);
    prev = it.events_end;
  }
  EXPECT_EQ(prev, events.size());
  EXPECT_EQ(sink.seen, events.size());
  std::uint64_t lsn = 0;
  std::string error;
  ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;
  run_stream(*e, 3, 40, 200, 16);
  std::uint64_t total = sink.seen;
  EXPECT_EQ(total, e->inventory().last_event_seq());
  e.reset();
  CountingSink again;
  e = open_ok(opts(), &env, &again);
  EXPECT_EQ(again.seen, total) << "sink state = snapshot part + events of the replayed records";
}

TEST(Engine, HoldIdReplayedAfterCrashReturnsTheOriginalOutcome) {
  FaultEnv env;
  auto e = open_ok(opts(), &env);
  ASSERT_TRUE(e->execute_one(core::PutChannel{"web", 100, 600, core::ChannelState::active}, 1000, nullptr).ok());
  core::PutSku p;
  p.sku = "A";
  p.on_hand = 10;
  ASSERT_TRUE(e->execute_one(p, 1000, nullptr).ok());
  core::CreateHold h{"order-1", "web", {{"A", 3}}, std::nullopt, false};
  core::Outcome first = e->execute_one(h, 2000, nullptr);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first.created);
  core::Adjust a{"A", 5, "delivery", "po-9"};
  ASSERT_TRUE(e->execute_one(a, 2000, nullptr).ok());
  // Crash between commit and reply: the client never saw the answer and retries.
  env.crash();
  e.reset();
  e = open_ok(opts(), &env);
  ASSERT_NE(e->inventory().find_sku("A"), core::kNoIndex) << "acknowledged commands lost in the crash";
  core::Outcome retry = e->execute_one(h, 2500, nullptr);
  EXPECT_TRUE(retry.ok());
  EXPECT_FALSE(retry.created) << "a replayed hold id is not a new hold";
  EXPECT_EQ(retry.hold_state, core::HoldState::held);
  EXPECT_EQ(e->inventory().sku(e->inventory().find_sku("A")).held, 3);
  core::Outcome again = e->execute_one(a, 2500, nullptr);
  EXPECT_TRUE(again.ok());
  EXPECT_EQ(e->inventory().sku(e->inventory().find_sku("A")).on_hand, 15) << "adjustment ref applied once";
}

TEST(Engine, BatchModeLosesAtMostTheUnsyncedWindow) {
  for (int round = 0; round < 2; ++round) {
    FaultEnv env;
    Options o = opts(FsyncMode::batch);
    o.fsync_batch_ms = 5;
    auto e = open_ok(o, &env);
    std::uint64_t synced = 0, acked = 0;
    for (std::uint64_t b = 0; b < 40; ++b) {
      acked += run_stream(*e, 5, acked, acked + 13, 13);
      env.advance_us(2000);
      std::uint64_t syncs = env.syncs();
      e->maintain(0);
      if (env.syncs() > syncs) synced = acked;
    }
    ASSERT_GT(synced, 0u);
    env.crash(round == 1, 11);
    e.reset();
    e = open_ok(o, &env);
    // The recovered state is exactly some prefix K with synced <= K <= acked.
    core::Inventory inv;
    apply_stream(inv, 5, 0, synced);
    std::uint64_t k = synced;
    std::string got = state_bytes(e->inventory());
    while (state_bytes(inv) != got && k < acked) apply_stream(inv, 5, k, k + 1), ++k;
    EXPECT_TRUE(state_bytes(inv) == got) << "recovered state is no prefix in [" << synced << ", " << acked << "]";
  }
}

TEST(Engine, CloseSyncsEvenWithFsyncOff) {
  FaultEnv env;
  Options o = opts(FsyncMode::off);
  o.segment_bytes = 1 << 20;  // FsyncMode::off does not sync rotated segments: one segment here
  auto e = open_ok(o, &env);
  run_stream(*e, 6, 0, 300, 20);
  e->close();
  env.crash();
  e.reset();
  e = open_ok(o, &env);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(6, 300));
}

TEST(Engine, SnapshotSurvivesCrashAndRemovesObsoleteSegments) {
  FaultEnv env;
  auto e = open_ok(opts(), &env);
  std::uint64_t lsn1 = 0, lsn2 = 0;
  std::string error;
  run_stream(*e, 8, 0, 300, 25);
  ASSERT_TRUE(take_snapshot(*e, &lsn1, &error)) << error;
  run_stream(*e, 8, 300, 600, 25);
  std::uint64_t segs_before = e->stats().segments;
  ASSERT_TRUE(take_snapshot(*e, &lsn2, &error)) << error;
  EXPECT_LT(e->stats().segments, segs_before) << "segments before the previous snapshot are removed";
  EXPECT_FALSE(env.exists(std::string(kDir) + "/" + format::segment_name(1)));
  env.crash();
  e.reset();
  e = open_ok(opts(), &env);
  EXPECT_EQ(e->stats().snapshot_lsn, lsn2) << "an acknowledged snapshot survives a crash";
  EXPECT_EQ(e->stats().snapshot_fallbacks, 0u);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(8, 600));
}

TEST(Engine, MaintainTakesPeriodicSnapshots) {
  FaultEnv env;
  Options o = opts();
  o.snapshot_every_records = 100;
  auto e = open_ok(o, &env);
  run_stream(*e, 9, 0, 250, 50);
  e->maintain(0);
  EXPECT_GE(e->stats().snapshot_lsn, 200u);
  EXPECT_EQ(e->stats().snapshots_written, 1u);
}

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string t = std::string(base ? base : "/tmp") + "/stockd-engine-test-XXXXXX";
    char* p = mkdtemp(t.data());
    EXPECT_NE(p, nullptr);
    path_ = t;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(Engine, TwoEnginesCannotOpenOneDirectory) {
  TempDir dir;
  Options o = opts();
  o.data_dir = dir.path() + "/data";
  auto a = open_ok(o, Env::posix());
  std::string error;
  auto b = open_engine(o, Env::posix(), &error);
  EXPECT_FALSE(b);
  EXPECT_NE(error.find("locked"), std::string::npos) << error;
  a.reset();
  b = open_engine(o, Env::posix(), &error);
  EXPECT_TRUE(b) << "the lock is released by close: " << error;
}

TEST(Engine, PosixEnvRoundTripAndReopen) {
  TempDir dir;
  Options o = opts();
  o.data_dir = dir.path() + "/data";
  {
    auto e = open_ok(o, Env::posix());
    run_stream(*e, 10, 0, 500, 50);
    std::uint64_t lsn;
    std::string error;
    ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;
    run_stream(*e, 10, 500, 700, 50);
  }
  auto e = open_ok(o, Env::posix());
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(10, 700));
  Env* env = Env::posix();
  std::unique_ptr<WritableFile> f;
  ASSERT_EQ(env->open_writable(dir.path() + "/x", true, &f), 0);
  ASSERT_EQ(f->append("hello world"), 0);
  ASSERT_EQ(f->truncate(5), 0);
  ASSERT_EQ(f->append("!"), 0);
  ASSERT_EQ(f->sync(), 0);
  ASSERT_EQ(f->close(), 0);
  ASSERT_EQ(env->rename_file(dir.path() + "/x", dir.path() + "/y"), 0);
  ASSERT_EQ(env->sync_dir(dir.path()), 0);
  std::string content;
  ASSERT_EQ(env->read_file(dir.path() + "/y", &content), 0);
  EXPECT_EQ(content, "hello!");
  // Preallocation and positional writes (journal segments).
  ASSERT_EQ(f->close(), 0);
  ASSERT_EQ(env->open_writable(dir.path() + "/z", true, &f), 0);
  ASSERT_EQ(f->allocate(3 << 20), 0);
  EXPECT_EQ(f->write_at(0, "x"), EINVAL) << "an append-mode file refuses positional writes";
  ASSERT_EQ(f->close(), 0);
  ASSERT_EQ(env->open_existing(dir.path() + "/z", &f), 0);
  EXPECT_EQ(f->append("x"), EINVAL);
  ASSERT_EQ(f->write_at(5, "abc"), 0);
  ASSERT_EQ(f->write_at((3 << 20) - 1, "yz"), 0);  // runs past the end: extends
  ASSERT_EQ(f->sync(), 0);
  ASSERT_EQ(f->close(), 0);
  ASSERT_EQ(env->read_file(dir.path() + "/z", &content), 0);
  ASSERT_EQ(content.size(), (3u << 20) + 1);
  EXPECT_EQ(content.substr(0, 9), std::string("\0\0\0\0\0abc\0", 9));
  EXPECT_EQ(content.substr(content.size() - 2), "yz");
  EXPECT_EQ(env->open_existing(dir.path() + "/missing", &f), ENOENT);
}

TEST(Engine, RotationFinishesAHalfPreparedSegment) {
  // Under load maintain() may have zero-filled only part of the next segment when the current one
  // fills up: rotation must finish it (this used to overflow "prepared + everything" and fail).
  FaultEnv env;
  Options o = opts();
  o.segment_bytes = (8u << 20) + 4096;  // more than one maintain() chunk
  auto e = open_ok(o, &env);
  const std::string prepared = std::string(kDir) + "/" + std::string(format::kPreparedSegmentName);
  std::uint64_t i = 0;
  while (e->stats().journal_bytes < o.segment_bytes / 2) i += run_stream(*e, 12, i, i + 2000, 2000);
  e->maintain(0);
  ASSERT_TRUE(env.exists(prepared)) << "maintain() started the next segment";
  EXPECT_EQ(e->stats().segments_prepared, 1u) << "... but one call does not finish it";
  std::uint64_t segs = e->stats().segments;
  while (e->stats().segments == segs && e->healthy()) i += run_stream(*e, 12, i, i + 2000, 2000);
  EXPECT_TRUE(e->healthy());
  EXPECT_EQ(e->stats().segments, segs + 1);
  EXPECT_EQ(e->stats().segments_prepared, 2u);
  e.reset();
  e = open_ok(o, &env);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(12, i));
}

TEST(Engine, MaintainPreparesTheNextSegmentAndRotationUsesIt) {
  FaultEnv env;
  Options o = opts();
  o.segment_bytes = 8192;
  auto e = open_ok(o, &env);
  const std::string prepared = std::string(kDir) + "/" + std::string(format::kPreparedSegmentName);
  EXPECT_EQ(e->stats().segments_prepared, 1u) << "the first segment is created from a prepared one";
  std::uint64_t i = 0;
  while (e->stats().journal_bytes < o.segment_bytes / 2) i += run_stream(*e, 12, i, i + 5, 5);
  EXPECT_FALSE(env.exists(prepared));
  e->maintain(0);
  EXPECT_TRUE(env.exists(prepared)) << "past half full, maintain() zero-fills the next segment";
  EXPECT_EQ(e->stats().segments_prepared, 2u);
  std::uint64_t segs = e->stats().segments;
  std::uint64_t syncs = env.syncs();
  while (e->stats().segments == segs) i += run_stream(*e, 12, i, i + 5, 5);
  EXPECT_FALSE(env.exists(prepared)) << "rotation renamed the prepared segment";
  EXPECT_EQ(e->stats().segments_prepared, 2u) << "rotation did not have to zero-fill a segment itself";
  EXPECT_GE(env.syncs() - syncs, 3u);
  env.crash(true, 3);
  e.reset();
  e = open_ok(o, &env);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(12, i));
}

// Background snapshots (posix Env only: fork). The sink's save() runs in the child; these sinks use
// that to stall or fail the child on purpose.
struct ChildControlSink : EventSink {
  pid_t parent = ::getpid();
  std::uint64_t seen = 0;
  enum class InChild { run, exit_failure, report_pid_and_sleep } in_child = InChild::run;
  std::string pid_file;
  void on_events(std::span<const core::Event> ev, const core::Inventory&) override { seen += ev.size(); }
  void save(std::string* out) const override {
    if (::getpid() != parent) {
      if (in_child == InChild::exit_failure) ::_exit(9);
      if (in_child == InChild::report_pid_and_sleep) {
        std::string tmp = pid_file + ".w";
        if (FILE* f = std::fopen(tmp.c_str(), "w")) {
          std::fprintf(f, "%d", static_cast<int>(::getpid()));
          std::fclose(f);
          std::rename(tmp.c_str(), pid_file.c_str());
        }
        ::sleep(60);
      }
    }
    *out = std::to_string(seen);
  }
  bool load(std::string_view in) override {
    seen = std::stoull(std::string(in));
    return true;
  }
};

// Calls maintain() until the background snapshot is finished (bounded: 60 s).
void finish_background_snapshot(Engine& e) {
  for (int i = 0; i < 6000 && e.stats().snapshot_in_progress; ++i) {
    ::usleep(10'000);
    e.maintain(0);
  }
  ASSERT_FALSE(e.stats().snapshot_in_progress) << "the background snapshot did not finish within 60 s";
}

std::vector<std::string> tmp_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().string().ends_with(".tmp")) out.push_back(entry.path().filename().string());
  }
  return out;
}

TEST(BackgroundSnapshot, TakenWhileWritesContinueAndHoldsTheStateAtItsLsn) {
  TempDir dir;
  Options o = opts();
  o.data_dir = dir.path() + "/data";
  o.snapshot_every_records = 200;
  ChildControlSink sink;
  auto e = open_ok(o, Env::posix(), &sink);
  std::uint64_t n = run_stream(*e, 13, 0, 260, 20);
  std::uint64_t at_fork = e->stats().last_lsn;
  e->maintain(0);
  ASSERT_TRUE(e->stats().snapshot_in_progress) << "maintain() forks a child for the periodic snapshot";
  EXPECT_EQ(e->stats().snapshots_written, 0u) << "the writer does not wait for it";
  n += run_stream(*e, 13, n, n + 150, 20);  // writes go on while the child writes (< 200 records: no
  ASSERT_EQ(n, 410u);                         // second periodic snapshot)
  finish_background_snapshot(*e);
  EXPECT_EQ(e->stats().snapshots_written, 1u);
  EXPECT_EQ(e->stats().snapshot_failures, 0u);
  EXPECT_EQ(e->stats().snapshot_lsn, at_fork) << "the snapshot holds the state at the fork, not later";
  EXPECT_TRUE(std::filesystem::exists(o.data_dir + "/" + format::snapshot_name(at_fork)));
  EXPECT_TRUE(tmp_files(o.data_dir).empty());
  std::uint64_t total_events = sink.seen;
  e.reset();
  ChildControlSink again;
  e = open_ok(o, Env::posix(), &again);
  EXPECT_EQ(e->stats().snapshot_lsn, at_fork);
  EXPECT_EQ(e->stats().replayed_records, e->stats().last_lsn - at_fork);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(13, n));
  EXPECT_EQ(again.seen, total_events) << "the sink part is the sink's state at the snapshot's lsn";
}

TEST(BackgroundSnapshot, AFailedChildLosesNothingAndLeavesNoFile) {
  TempDir dir;
  Options o = opts();
  o.data_dir = dir.path() + "/data";
  o.snapshot_every_records = 100;
  ChildControlSink sink;
  sink.in_child = ChildControlSink::InChild::exit_failure;
  auto e = open_ok(o, Env::posix(), &sink);
  std::uint64_t n = run_stream(*e, 14, 0, 150, 10);
  e->maintain(0);
  ASSERT_TRUE(e->stats().snapshot_in_progress);
  finish_background_snapshot(*e);
  EXPECT_EQ(e->stats().snapshot_failures, 1u);
  EXPECT_EQ(e->stats().snapshots_written, 0u);
  EXPECT_EQ(e->stats().snapshot_lsn, 0u);
  EXPECT_TRUE(e->healthy()) << "a failed snapshot is no storage fault of the journal";
  EXPECT_TRUE(tmp_files(o.data_dir).empty());
  n += run_stream(*e, 14, n, n + 100, 10);
  sink.in_child = ChildControlSink::InChild::run;
  std::uint64_t lsn = 0;
  std::string error;
  ASSERT_TRUE(take_snapshot(*e, &lsn, &error)) << error;  // the in-process path still works
  e.reset();
  e = open_ok(o, Env::posix());
  EXPECT_EQ(e->stats().snapshot_lsn, lsn);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(14, n));
}

TEST(BackgroundSnapshot, ChildKilledMidWriteLeavesThePreviousSnapshotAndJournalUsable) {
  TempDir dir;
  Options o = opts();
  o.data_dir = dir.path() + "/data";
  o.snapshot_every_records = 100;
  ChildControlSink sink;
  sink.pid_file = dir.path() + "/child.pid";
  auto e = open_ok(o, Env::posix(), &sink);
  std::uint64_t n = run_stream(*e, 15, 0, 120, 10);
  std::uint64_t first = 0;
  std::string error;
  ASSERT_TRUE(take_snapshot(*e, &first, &error)) << error;
  n += run_stream(*e, 15, n, n + 150, 10);
  sink.in_child = ChildControlSink::InChild::report_pid_and_sleep;
  e->maintain(0);
  ASSERT_TRUE(e->stats().snapshot_in_progress);
  pid_t child = 0;
  for (int i = 0; i < 6000 && child == 0; ++i) {
    if (FILE* f = std::fopen(sink.pid_file.c_str(), "r")) {
      int v = 0;
      if (std::fscanf(f, "%d", &v) == 1) child = v;
      std::fclose(f);
    }
    if (child == 0) ::usleep(10'000);
  }
  ASSERT_GT(child, 0) << "the child never reported its pid";
  // A crash of the machine or of the child in the middle of the write: the .tmp stays unnamed.
  std::string leftover = o.data_dir + "/" + format::snapshot_name(9999) + ".4242.tmp";
  if (FILE* f = std::fopen(leftover.c_str(), "w")) {
    std::fputs("half a snapshot", f);
    std::fclose(f);
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  finish_background_snapshot(*e);
  EXPECT_EQ(e->stats().snapshot_failures, 1u);
  EXPECT_EQ(e->stats().snapshot_lsn, first);
  n += run_stream(*e, 15, n, n + 50, 10);
  e.reset();
  e = open_ok(o, Env::posix());
  EXPECT_EQ(e->stats().snapshot_lsn, first);
  EXPECT_EQ(e->stats().snapshot_fallbacks, 0u);
  EXPECT_TRUE(state_bytes(e->inventory()) == expected_bytes(15, n));
  EXPECT_TRUE(tmp_files(o.data_dir).empty()) << "leftover snapshot temp files are removed at open";
}

}  // namespace
}  // namespace stockd::engine::testing
