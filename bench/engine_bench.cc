// engine_bench: the durable engine in process, one thread, on a real file system
// (docs/benchmarks.md, "Engine (in process)").
//
//   cmake --preset release && cmake --build build/release --target engine_bench && build/release/bench/engine_bench
//
// Data directories are made under $TMPDIR (default /tmp) and removed afterwards; the figures depend on
// that file system's fdatasync (~170 us on the development machine's disk).
//
//   BM_SyncLatency/<mode>      one write of 256 KiB (about a 4,096-hold batch) + fdatasync: mode 0 appends
//                              to a growing file (journal format 1), mode 1 overwrites a preallocated,
//                              zero-filled file (format 2). Time per iteration = write + sync.
//   BM_JournaledHolds/<batch>  one-line holds on random SKUs (of 100,000), FsyncMode::always, one
//                              execute() per batch = one write + one fdatasync (group commit), and one
//                              maintain() (the server's timer: it zero-fills the next segment ahead of
//                              need). Items/s is acknowledged, durable holds per second. Commands are
//                              built outside the timer. /<movements>: the movements history on (1, the
//                              default) or off (0, Options::movements): its cost on the write path.
//   BM_JournaledHoldsFixed/<movements>  the same with batches of 4,096 and exactly 32 batches, for
//                              instruction counts: each timed batch runs inside journaled_batch(), so
//                              valgrind --tool=callgrind --toggle-collect='*journaled_batch*' counts only
//                              them (Ir / 131,072 = instructions per hold, fdatasync excluded).
//   BM_MovementsQuery/<limit>  GET /v1/movements' engine call: one SKU with 1,000,000 movements
//                              (adjustments, interleaved 1:1 with another SKU's), pages of <limit> at a
//                              random `after`; p50_us/p99_us over the iterations, index bytes per movement.
//                              The files are in the page cache (just written): the warm case.
//   BM_Replay                  open() of a directory holding 1,000,000 hold records and no snapshot:
//                              items/s = replayed records per second (checksum, decode, apply).
//   BM_Snapshot/<background>   the writer's stall for one snapshot of 1,000,000 SKUs + 1,000,000 active
//                              holds: 0 = Engine::snapshot() in process (serialize + write + fdatasync),
//                              1 = maintain() forking the child (the stall is fork()); total_s = until
//                              the snapshot is installed.
//   BM_Restart                 open() of a directory with a snapshot of 1,000,000 SKUs and 1,000,000
//                              active holds (plus an empty journal after it): the restart time.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {
namespace {

constexpr std::int64_t kStartMs = 1'700'000'000'000;
constexpr std::int64_t kLongTtlS = 30LL * 24 * 3600;

struct SplitMix64 {
  std::uint64_t x;
  std::uint64_t next() {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string t = std::string(base ? base : "/tmp") + "/stockd-engine-bench-XXXXXX";
    if (mkdtemp(t.data()) == nullptr) std::abort();
    path_ = t;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string data() const { return path_ + "/data"; }

 private:
  std::string path_;
};

std::unique_ptr<Engine> open_or_die(const Options& o) {
  core::Result<std::unique_ptr<Engine>> e = Engine::open(o, Env::posix());
  if (!e.ok()) {
    std::fprintf(stderr, "open failed: %s\n", e.status().message.c_str());
    std::abort();
  }
  return std::move(e.value());
}

// One channel and `skus` SKUs with plenty of stock, in batches of 4096.
void setup(Engine& e, std::uint32_t skus) {
  std::vector<BatchItem> batch;
  batch.push_back(BatchItem{core::PutChannel{"web", 100, kLongTtlS, core::ChannelState::active}, kStartMs, {}, 0});
  for (std::uint32_t i = 0; i < skus; ++i) {
    core::PutSku p;
    p.sku = "sku-" + std::to_string(i);
    p.on_hand = 1'000'000'000'000;
    batch.push_back(BatchItem{std::move(p), kStartMs, {}, 0});
    if (batch.size() == 4096) {
      e.execute(batch, nullptr);
      batch.clear();
    }
  }
  e.execute(batch, nullptr);
}

void make_holds(std::vector<BatchItem>& batch, std::size_t n, std::uint64_t& next_id, SplitMix64& rng,
                std::uint32_t skus) {
  batch.clear();
  for (std::size_t i = 0; i < n; ++i) {
    core::CreateHold h;
    h.id = "h-" + std::to_string(next_id++);
    h.channel = "web";
    h.lines.push_back({"sku-" + std::to_string(rng.next() % skus), 1});
    h.ttl_s = kLongTtlS;
    batch.push_back(BatchItem{std::move(h), kStartMs, {}, 0});
  }
}

void BM_SyncLatency(benchmark::State& state) {
  TempDir dir;
  Env* env = Env::posix();
  if (env->make_dir(dir.data()) != 0) std::abort();
  const bool overwrite = state.range(0) == 1;
  const std::string path = dir.data() + "/f";
  constexpr std::uint64_t kFileBytes = 64ull << 20;
  const std::string block(256 << 10, 'x');
  std::unique_ptr<WritableFile> f;
  std::uint64_t at = 0;
  auto reset = [&] {
    if (f) f->close();
    if (env->open_writable(path, true, &f) != 0) std::abort();
    if (overwrite) {
      if (f->allocate(kFileBytes) != 0 || f->sync() != 0 || f->close() != 0) std::abort();
      if (env->open_existing(path, &f) != 0) std::abort();
    }
    at = 0;
  };
  reset();
  for (auto _ : state) {
    if (at + block.size() > kFileBytes) {
      state.PauseTiming();
      reset();
      state.ResumeTiming();
    }
    IoError e = overwrite ? f->write_at(at, block) : f->append(block);
    if (e != 0 || f->sync() != 0) state.SkipWithError("write or sync failed");
    at += block.size();
  }
  f->close();
}
BENCHMARK(BM_SyncLatency)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

// One timed batch of BM_JournaledHolds: not inlined, so that callgrind can count it alone.
[[gnu::noinline]] bool journaled_batch(Engine& e, std::vector<BatchItem>& batch) {
  e.execute(batch, nullptr);
  bool ok = batch.back().outcome.ok();
  e.maintain(kStartMs);
  return ok;
}

void journaled_holds(benchmark::State& state, std::size_t n, bool movements) {
  spdlog::set_level(spdlog::level::warn);
  TempDir dir;
  Options o;
  o.data_dir = dir.data();
  o.fsync = FsyncMode::always;
  o.snapshot_every_records = 0;
  o.movements = movements;
  auto e = open_or_die(o);
  constexpr std::uint32_t kSkus = 100'000;
  setup(*e, kSkus);
  std::vector<BatchItem> batch;
  std::uint64_t next_id = 0;
  SplitMix64 rng{42};
  std::uint64_t syncs0 = e->stats().syncs;
  for (auto _ : state) {
    state.PauseTiming();
    make_holds(batch, n, next_id, rng, kSkus);
    state.ResumeTiming();
    if (!journaled_batch(*e, batch)) state.SkipWithError("hold failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
  state.counters["syncs_per_batch"] =
      static_cast<double>(e->stats().syncs - syncs0) / static_cast<double>(state.iterations());
  state.counters["journal_MB"] = static_cast<double>(e->stats().journal_bytes) / 1e6;
}

void BM_JournaledHolds(benchmark::State& state) {
  journaled_holds(state, static_cast<std::size_t>(state.range(0)), state.range(1) != 0);
}
BENCHMARK(BM_JournaledHolds)
    ->Args({1, 1})
    ->Args({64, 1})
    ->Args({1000, 1})
    ->Args({4096, 1})
    ->Args({4096, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_JournaledHoldsFixed(benchmark::State& state) { journaled_holds(state, 4096, state.range(0) != 0); }
BENCHMARK(BM_JournaledHoldsFixed)->Arg(1)->Arg(0)->Iterations(32)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_MovementsQuery(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  TempDir dir;
  Options o;
  o.data_dir = dir.data();
  o.fsync = FsyncMode::off;
  o.snapshot_every_records = 0;
  auto e = open_or_die(o);
  constexpr std::uint64_t kMovements = 1'000'000;
  std::vector<BatchItem> batch;
  for (const char* sku : {"hot", "other"}) {
    core::PutSku p;
    p.sku = sku;
    p.on_hand = 1'000'000'000;
    batch.push_back(BatchItem{std::move(p), kStartMs, {}, 0});
  }
  e->execute(batch, nullptr);
  batch.clear();
  for (std::uint64_t i = 1; i < kMovements; ++i) {  // the PUT was the hot SKU's first movement
    for (const char* sku : {"hot", "other"}) batch.push_back(BatchItem{core::Adjust{sku, 1, "received", ""}, kStartMs, {}, 0});
    if (batch.size() >= 4096 || i + 1 == kMovements) {
      e->execute(batch, nullptr);
      batch.clear();
    }
  }
  e->maintain(kStartMs);
  const std::uint64_t last = e->movement_stats().last_seq;
  auto limit = static_cast<std::size_t>(state.range(0));
  std::vector<MovementRecord> page;
  std::vector<double> us;
  SplitMix64 rng{7};
  for (auto _ : state) {
    std::uint64_t after = rng.next() % last;
    auto t0 = std::chrono::steady_clock::now();
    core::Status st = e->movements("hot", after, limit, &page);
    auto t1 = std::chrono::steady_clock::now();
    if (!st.ok() || page.empty()) state.SkipWithError("movements query failed");
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
  MovementStoreStats ms = e->movement_stats();
  state.counters["movements"] = static_cast<double>(ms.movements);
  state.counters["index_B_per_mv"] = static_cast<double>(ms.index_bytes) / static_cast<double>(ms.movements);
  state.counters["file_B_per_mv"] = static_cast<double>(ms.bytes) / static_cast<double>(ms.movements);
}
BENCHMARK(BM_MovementsQuery)->Arg(100)->Arg(1000)->Iterations(20'000)->UseRealTime()->Unit(benchmark::kMicrosecond);

// A directory with `skus` SKUs and `holds` active one-line holds, journaled with FsyncMode::off
// (the engine syncs at close). snapshot: take one at the end (the journal after it is empty).
void build_dir(const std::string& data, std::uint32_t skus, std::uint64_t holds, bool snapshot) {
  Options o;
  o.data_dir = data;
  o.fsync = FsyncMode::off;
  o.snapshot_every_records = 0;
  auto e = open_or_die(o);
  setup(*e, skus);
  std::vector<BatchItem> batch;
  std::uint64_t next_id = 0;
  SplitMix64 rng{7};
  while (next_id < holds) {
    make_holds(batch, 4096, next_id, rng, skus);
    e->execute(batch, nullptr);
  }
  if (snapshot) {
    std::uint64_t lsn;
    if (!e->snapshot(&lsn).ok()) std::abort();
  }
  e->close();
}

void BM_Replay(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  TempDir dir;
  build_dir(dir.data(), 10'000, 1'000'000, false);
  Options o;
  o.data_dir = dir.data();
  std::uint64_t replayed = 0;
  for (auto _ : state) {
    auto e = open_or_die(o);
    replayed += e->stats().replayed_records;
    state.counters["open_s"] = static_cast<double>(e->stats().recovery_us) / 1e6;
    state.PauseTiming();
    e.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(replayed));
}
BENCHMARK(BM_Replay)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Snapshot(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  TempDir dir;
  build_dir(dir.data(), 1'000'000, 1'000'000, false);
  Options o;
  o.data_dir = dir.data();
  o.snapshot_every_records = 1;
  const bool background = state.range(0) == 1;
  auto e = open_or_die(o);
  std::vector<BatchItem> batch;
  std::uint64_t next_id = 2'000'000;
  SplitMix64 rng{9};
  double total_s = 0;
  for (auto _ : state) {
    state.PauseTiming();
    make_holds(batch, 16, next_id, rng, 1'000'000);
    e->execute(batch, nullptr);  // something new to snapshot
    state.ResumeTiming();
    if (background) {
      e->maintain(kStartMs);
      state.PauseTiming();
      while (e->stats().snapshot_in_progress) {
        usleep(2000);
        e->maintain(kStartMs);
      }
      state.ResumeTiming();
    } else {
      std::uint64_t lsn;
      if (core::Status s = e->snapshot(&lsn); !s.ok()) state.SkipWithError(s.message.c_str());
    }
    total_s += static_cast<double>(e->stats().snapshot_us) / 1e6;
  }
  state.counters["total_s"] = total_s / static_cast<double>(state.iterations());
  state.counters["fork_ms"] = static_cast<double>(e->stats().snapshot_fork_us) / 1e3;
}
BENCHMARK(BM_Snapshot)->Arg(0)->Arg(1)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Restart(benchmark::State& state) {
  spdlog::set_level(spdlog::level::warn);
  TempDir dir;
  build_dir(dir.data(), 1'000'000, 1'000'000, true);
  Options o;
  o.data_dir = dir.data();
  for (auto _ : state) {
    auto e = open_or_die(o);
    state.counters["open_s"] = static_cast<double>(e->stats().recovery_us) / 1e6;
    state.counters["holds"] = static_cast<double>(e->inventory().stats().holds_held);
    state.counters["skus"] = static_cast<double>(e->inventory().sku_count());
    state.PauseTiming();
    e.reset();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Restart)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace stockd::engine

BENCHMARK_MAIN();
