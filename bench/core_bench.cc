// core_bench: the core alone, in process, one thread (docs/benchmarks.md, "Core").
//
//   cmake --preset release && cmake --build build/release --target core_bench && build/release/bench/core_bench
//
// Every benchmark starts from a fresh Inventory with 1,000,000 SKUs (each with 1e12 units, so no hold is
// ever short) and one channel. Commands are built once and edited in place (hold id, SKU name) so the
// figures are the core's cost, not the benchmark's allocations; the events vector is reused, as the
// engine does. The clock moves forward by 1 ms per command.
//
//   BM_Hold/1000000    one-line holds of 1 unit on a random SKU (TTL 30 days: nothing expires meanwhile)
//   BM_Hold/1000       the same among 1,000 SKUs: the CPU cost without the cache misses, for comparison
//   BM_HoldBatched     the same, with the batch prefetch hints an engine applying a batch can give
//   BM_HoldConfirm     the same hold, then a ConfirmHold of it (items = holds)
//   BM_Sale            a one-step sale: CreateHold with confirm:true
//   BM_ExpireMillion   1,000,000 held one-line holds, then ONE Tick after their TTL (items = expired holds)
//   BM_Memory          heap bytes (mallinfo2) and RSS per SKU and per active one-line hold
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/inventory.h"

namespace stockd::core {
namespace {

constexpr std::uint32_t kSkus = 1'000'000;
constexpr std::int64_t kStartMs = 1'700'000'000'000;
constexpr std::int64_t kLongTtlS = 30LL * 24 * 3600;
constexpr std::int64_t kHoldIterations = 3'000'000;  // one run each: the 1,000,000 SKUs are set up once

// Small, fast and deterministic: the SKU sequence is the same on every run.
struct SplitMix64 {
  std::uint64_t x;
  std::uint64_t next() {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>((next() >> 32) * n >> 32); }
};

// "<prefix><n>" into `out` without a heap allocation (names stay within the small-string buffer).
void name(std::string& out, char prefix, std::uint64_t n) {
  char buf[24];
  buf[0] = prefix;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf, n);
  (void)ec;
  out.assign(buf, end);
}

struct Bed {
  Inventory inv;
  std::vector<Event> events;
  std::int64_t now = kStartMs;
  std::uint64_t next_id = 0;
  std::uint32_t skus = kSkus;
  SplitMix64 rng{42};

  void must(const Command& c) {
    Outcome o = inv.apply(c, now, &events);
    if (!o.ok()) {
      std::fprintf(stderr, "core_bench: setup command failed: %s\n", o.message.c_str());
      std::abort();
    }
    events.clear();
  }
  [[gnu::noinline]] void setup(std::uint32_t n) {
    skus = n;
    must(PutChannel{"web", 10, 900, ChannelState::active});
    PutSku p;
    p.on_hand = 1'000'000'000'000;
    for (std::uint32_t i = 0; i < n; ++i) {
      name(p.sku, 's', i);
      must(p);
    }
  }
  // A one-line CreateHold to edit in place.
  static Command hold_command(std::optional<std::int64_t> ttl_s, bool confirm) {
    CreateHold h;
    h.channel = "web";
    h.lines.push_back(HoldLine{"s0", 1});
    h.ttl_s = ttl_s;
    h.confirm = confirm;
    return h;
  }
  // Points `cmd` at a fresh id and a random SKU; returns the id.
  void next_hold(CreateHold& h) {
    name(h.id, 'h', next_id++);
    name(h.lines[0].sku, 's', rng.below(skus));
  }
};

// One-line holds of 1 unit on random SKUs, one per iteration (BM_Hold and its variants).
void run_holds(benchmark::State& state, Bed& bed) {
  Command cmd = Bed::hold_command(kLongTtlS, false);
  CreateHold& h = std::get<CreateHold>(cmd);
  std::int64_t failed = 0;
  for (auto _ : state) {
    bed.next_hold(h);
    ++bed.now;
    Outcome o = bed.inv.apply(cmd, bed.now, &bed.events);
    failed += !o.ok();
    bed.events.clear();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["failed"] = static_cast<double>(failed);
}

void BM_Hold(benchmark::State& state) {
  Bed bed;
  bed.setup(static_cast<std::uint32_t>(state.range(0)));
  run_holds(state, bed);
}
// 1,000,000 SKUs: the figure. 1,000 SKUs (all in cache): the CPU cost alone, for comparison.
BENCHMARK(BM_Hold)->Unit(benchmark::kNanosecond)->Iterations(kHoldIterations)->Arg(kSkus)->Arg(1000);

// BM_Hold's holds (a direct channel) while a listed channel is shown 20 % of every SKU: each hold
// changes what is sellable, so the core recomputes the listed channel's exposure target and
// publishes when it moves (issue 12 item 7: the cost of exposures on the write path).
void BM_HoldWithListedChannel(benchmark::State& state) {
  Bed bed;
  bed.setup(static_cast<std::uint32_t>(state.range(0)));
  PutChannel listed{"tmall", 5, 900, ChannelState::active};
  listed.listing = Listing{20, 0, -1, 0};
  bed.must(listed);
  run_holds(state, bed);
}
BENCHMARK(BM_HoldWithListedChannel)->Unit(benchmark::kNanosecond)->Iterations(kHoldIterations)->Arg(1000);

// The same holds applied as the engine applies a batch: while command i is applied, the index slots of
// command i + 2k and the rows of command i + k are being loaded (Inventory::prefetch_index/_rows).
void BM_HoldBatched(benchmark::State& state) {
  constexpr std::size_t kRing = 16, kAhead = 4;
  Bed bed;
  bed.setup(kSkus);
  std::vector<Command> ring(kRing, Bed::hold_command(kLongTtlS, false));
  for (std::size_t i = 0; i < 2 * kAhead; ++i) bed.next_hold(std::get<CreateHold>(ring[i]));
  std::int64_t failed = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    Command& next = ring[(i + 2 * kAhead) % kRing];
    bed.next_hold(std::get<CreateHold>(next));
    bed.inv.prefetch_index(next);
    bed.inv.prefetch_rows(ring[(i + kAhead) % kRing]);
    ++bed.now;
    Outcome o = bed.inv.apply(ring[i % kRing], bed.now, &bed.events);
    failed += !o.ok();
    bed.events.clear();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_HoldBatched)->Unit(benchmark::kNanosecond)->Iterations(kHoldIterations);

void BM_HoldConfirm(benchmark::State& state) {
  Bed bed;
  bed.setup(kSkus);
  Command cmd = Bed::hold_command(kLongTtlS, false);
  CreateHold& h = std::get<CreateHold>(cmd);
  Command confirm = ConfirmHold{};
  ConfirmHold& c = std::get<ConfirmHold>(confirm);
  std::int64_t failed = 0;
  for (auto _ : state) {
    bed.next_hold(h);
    ++bed.now;
    failed += !bed.inv.apply(cmd, bed.now, &bed.events).ok();
    c.id = h.id;
    failed += !bed.inv.apply(confirm, bed.now, &bed.events).ok();
    bed.events.clear();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_HoldConfirm)->Unit(benchmark::kNanosecond)->Iterations(kHoldIterations);

void BM_Sale(benchmark::State& state) {
  Bed bed;
  bed.setup(kSkus);
  Command cmd = Bed::hold_command(std::nullopt, true);
  CreateHold& h = std::get<CreateHold>(cmd);
  std::int64_t failed = 0;
  for (auto _ : state) {
    bed.next_hold(h);
    ++bed.now;
    failed += !bed.inv.apply(cmd, bed.now, &bed.events).ok();
    bed.events.clear();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["failed"] = static_cast<double>(failed);
}
BENCHMARK(BM_Sale)->Unit(benchmark::kNanosecond)->Iterations(kHoldIterations);

void BM_ExpireMillion(benchmark::State& state) {
  constexpr std::int64_t kHolds = 1'000'000;
  constexpr std::int64_t kTtlS = 60;
  for (auto _ : state) {
    state.PauseTiming();
    auto bed = std::make_unique<Bed>();
    bed->setup(kSkus);
    Command cmd = Bed::hold_command(kTtlS, false);
    CreateHold& h = std::get<CreateHold>(cmd);
    // All within one millisecond, so that they all fall due at once.
    for (std::int64_t i = 0; i < kHolds; ++i) {
      bed->next_hold(h);
      bed->must(cmd);
    }
    bed->events.reserve(3 * kHolds);  // the sink is the engine's: its growth is not the core's cost
    bed->now += kTtlS * 1000;
    state.ResumeTiming();
    bed->inv.apply(Tick{}, bed->now, &bed->events);
    state.PauseTiming();
    state.counters["expired"] = static_cast<double>(bed->inv.stats().holds_expired);
    state.counters["events"] = static_cast<double>(bed->events.size());
    bed.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kHolds);
}
BENCHMARK(BM_ExpireMillion)->Unit(benchmark::kMillisecond)->Iterations(3);

// Bytes in use by the allocator (small blocks and mmapped ones) and the resident set size.
std::int64_t heap_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return static_cast<std::int64_t>(mi.uordblks + mi.hblkhd);
}
std::int64_t rss_bytes() {
  long pages_total = 0, pages_rss = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_rss) != 2) pages_rss = 0;
    std::fclose(f);
  }
  return static_cast<std::int64_t>(pages_rss) * sysconf(_SC_PAGESIZE);
}

void BM_Memory(benchmark::State& state) {
  constexpr std::int64_t kHolds = 1'000'000;
  for (auto _ : state) {
    malloc_trim(0);
    std::int64_t heap0 = heap_bytes(), rss0 = rss_bytes();
    auto bed = std::make_unique<Bed>();
    bed->setup(kSkus);
    std::int64_t heap1 = heap_bytes(), rss1 = rss_bytes();
    Command cmd = Bed::hold_command(kLongTtlS, false);
    CreateHold& h = std::get<CreateHold>(cmd);
    for (std::int64_t i = 0; i < kHolds; ++i) {
      bed->next_hold(h);
      ++bed->now;
      bed->must(cmd);
    }
    std::int64_t heap2 = heap_bytes(), rss2 = rss_bytes();
    state.counters["heap_B_per_sku"] = static_cast<double>(heap1 - heap0) / kSkus;
    state.counters["rss_B_per_sku"] = static_cast<double>(rss1 - rss0) / kSkus;
    state.counters["heap_B_per_hold"] = static_cast<double>(heap2 - heap1) / kHolds;
    state.counters["rss_B_per_hold"] = static_cast<double>(rss2 - rss1) / kHolds;
    state.counters["holds_held"] = static_cast<double>(bed->inv.stats().holds_held);
    bed.reset();
  }
}
BENCHMARK(BM_Memory)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace stockd::core

BENCHMARK_MAIN();
