// cluster_bench: throughput and latency of the cluster store (src/backends/cluster_store.h) against a
// running Redis Cluster, on a multi-SKU workload (docs/benchmarks.md, "Cluster store: 1 vs 3 masters";
// bench/cluster-compare runs it against 1 and 3 masters). A program that prints figures, not a test.
//
//   cluster_bench --cluster 127.0.0.1:7000 [--skus 10000] [--threads 32] [--seconds 10]
//                 [--warmup 1] [--wait-replicas 1] [--setup-threads 8] [--seed N] [--split N]
//
// A hot SKU (docs/benchmarks.md, "Cluster store: a hot SKU split over shards"): --skus 1 makes every
// hold a 1-line hold of the same SKU; --split N creates the SKUs split over N shards (1: not split).
//
// Setup: a random run prefix names 2 channels and --skus SKUs with ample stock (kOnHand, never short),
// created by --setup-threads threads. Then --threads workers, each with its own ClusterStore over one
// shared state (as stockd's threads are), repeat until --warmup + --seconds are over: a CreateHold of
// 1..kLinesMax lines of 1 unit on distinct, uniformly random SKUs in one of the two channels, then a
// ConfirmHold or a ReleaseHold (half each). Every operation is acknowledged as stockd acknowledges it:
// after WAIT --wait-replicas on each master it wrote to. Operations begun during the warm-up are not
// counted. Each thread records latencies in its own log-linear histogram (stockbench's), merged at the
// end; rates are per second of the measured window.
//
// Output: a header, `setup:` and `measuring:` lines as it goes, one `summary:` line of key=value pairs
// (what bench/cluster-compare reads), a table per operation, and the errors by code with one message
// each (insufficient_stock cannot happen with this stock; anything reported there is worth a look).
// Exit code: 0 when it ran, 1 when it could not (no cluster, setup failed), 2 for a usage error.
#include <sys/resource.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "apps/stockbench/histogram.h"
#include "backends/cluster_client.h"
#include "backends/cluster_store.h"
#include "core/limits.h"

namespace stockd::bench {
namespace {

using backends::ClusterStore;
using backends::StoreReply;
using Clock = std::chrono::steady_clock;
using stockbench::Histogram;

constexpr std::int64_t kOnHand = 1'000'000'000'000;  // below Redis's 2^53 limit; never runs short
constexpr std::size_t kLinesMax = 3;
constexpr std::int64_t kHoldTtlS = 600;
constexpr std::size_t kThreadsMax = 1024;
constexpr std::size_t kSkusMax = 10'000'000;
constexpr double kSecondsMax = 3600;
constexpr std::size_t kCodes = static_cast<std::size_t>(core::Code::unavailable) + 1;

struct Options {
  std::string cluster = "127.0.0.1:7000";
  std::size_t skus = 10'000;
  std::size_t threads = 32;
  double seconds = 10;
  double warmup_s = 1;
  int wait_replicas = 1;
  std::size_t setup_threads = 8;
  std::uint64_t seed = 0;  // 0: random
  std::int64_t split = 1;  // shards per SKU (1: not split)
};

enum Op : std::size_t { kCreate = 0, kConfirm = 1, kRelease = 2, kOps = 3 };
constexpr const char* kOpNames[kOps] = {"create_hold", "confirm", "release"};

// What one worker counted in the measured window; merged after the workers joined.
struct Stats {
  std::array<Histogram, kOps> latency_ns;  // successful operations only
  std::array<std::array<std::uint64_t, kCodes>, kOps> codes{};
  std::array<std::string, kCodes> first_message;
  Clock::time_point last_end{};

  void merge(const Stats& o) {
    for (std::size_t k = 0; k < kOps; ++k) {
      latency_ns[k].merge(o.latency_ns[k]);
      for (std::size_t c = 0; c < kCodes; ++c) codes[k][c] += o.codes[k][c];
    }
    for (std::size_t c = 0; c < kCodes; ++c)
      if (first_message[c].empty()) first_message[c] = o.first_message[c];
    last_end = std::max(last_end, o.last_end);
  }
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

std::string sku_name(const std::string& prefix, std::size_t i) { return prefix + "s" + std::to_string(i); }

backends::ClusterStoreOptions store_options(const Options& o) {
  backends::ClusterStoreOptions so;
  so.seeds = {o.cluster};
  so.wait_replicas = o.wait_replicas;
  return so;
}

// 2 channels and o.skus SKUs, in o.setup_threads threads. False and *error on the first failure.
bool set_up(const Options& o, const std::shared_ptr<backends::ClusterShared>& shared, const std::string& prefix,
            std::string* error) {
  std::string err;
  auto store = ClusterStore::open(store_options(o), shared, &err);
  if (!store) {
    *error = "cannot open the cluster store: " + err;
    return false;
  }
  StoreReply reply;
  for (const char* ch : {"web", "app"}) {
    core::Outcome out = store->apply(core::PutChannel{prefix + ch, 100, 900, core::ChannelState::active}, wall_ms(), &reply);
    if (!out.ok()) {
      *error = "PutChannel: " + std::string(core::code_name(out.code)) + " " + out.message;
      return false;
    }
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::string> errors(o.setup_threads);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < o.setup_threads; ++t) {
    threads.emplace_back([&, t] {
      auto s = ClusterStore::open(store_options(o), shared, &errors[t]);
      StoreReply r;
      for (std::size_t i = next++; s && i < o.skus && !failed; i = next++) {
        core::PutSku put{sku_name(prefix, i), kOnHand, 0, {}, {}};
        if (o.split > 1) put.split = o.split;
        core::Outcome out = s->apply(put, wall_ms(), &r);
        if (!out.ok()) {
          errors[t] = "PutSku " + sku_name(prefix, i) + ": " + std::string(core::code_name(out.code)) + " " + out.message;
          break;
        }
      }
      if (!errors[t].empty()) failed = true;
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) {
    if (e.empty()) continue;
    *error = e;
    return false;
  }
  return true;
}

// One worker: hold, then confirm or release, until `end`; counts what began at or after `measure_from`.
class Worker {
 public:
  Worker(const Options& o, const std::string& prefix, std::size_t index, std::uint64_t seed)
      : o_(o), prefix_(prefix), index_(index), rng_(seed) {}

  void run(ClusterStore& store, Clock::time_point measure_from, Clock::time_point end, Stats* stats) {
    StoreReply reply;
    for (std::uint64_t n = 0; Clock::now() < end; ++n) {
      core::CreateHold hold{prefix_ + "h" + std::to_string(index_) + "-" + std::to_string(n),
                            prefix_ + (rng_() % 2 ? "web" : "app"), pick_lines(), kHoldTtlS, false};
      std::string id = hold.id;
      if (!timed(store, kCreate, core::Command(std::move(hold)), measure_from, stats, &reply)) continue;
      if (rng_() % 2)
        timed(store, kConfirm, core::ConfirmHold{id, std::nullopt}, measure_from, stats, &reply);
      else
        timed(store, kRelease, core::ReleaseHold{id}, measure_from, stats, &reply);
    }
  }

 private:
  std::vector<core::HoldLine> pick_lines() {
    std::size_t n = 1 + rng_() % std::min(kLinesMax, o_.skus);
    std::array<std::size_t, kLinesMax> picked{};
    std::vector<core::HoldLine> lines;
    for (std::size_t k = 0; k < n;) {
      std::size_t i = rng_() % o_.skus;
      if (std::find(picked.begin(), picked.begin() + k, i) != picked.begin() + k) continue;  // distinct SKUs
      picked[k++] = i;
      lines.push_back({sku_name(prefix_, i), 1});
    }
    return lines;
  }

  bool timed(ClusterStore& store, Op op, const core::Command& cmd, Clock::time_point measure_from, Stats* stats,
             StoreReply* reply) {
    Clock::time_point t0 = Clock::now();
    core::Outcome out = store.apply(cmd, wall_ms(), reply);
    Clock::time_point t1 = Clock::now();
    if (t0 >= measure_from) {
      auto c = static_cast<std::size_t>(out.code);
      ++stats->codes[op][c];
      if (out.ok())
        stats->latency_ns[op].record(static_cast<std::uint64_t>(std::chrono::nanoseconds(t1 - t0).count()));
      else if (stats->first_message[c].empty())
        stats->first_message[c] = std::string(kOpNames[op]) + ": " + out.message;
      stats->last_end = t1;
    }
    return out.ok();
  }

  const Options& o_;
  const std::string& prefix_;
  std::size_t index_;  // hold ids are <prefix>h<index>-<n>: unique per run
  std::mt19937_64 rng_;
};

std::string ms(std::uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ns) / 1e6);
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void report(const Stats& st, double elapsed_s, double client_cpu_s) {
  auto ok = [&](Op k) { return st.codes[k][0]; };
  std::uint64_t errors = 0;
  for (std::size_t k = 0; k < kOps; ++k)
    for (std::size_t c = 1; c < kCodes; ++c) errors += st.codes[k][c];
  double per_s = elapsed_s > 0 ? 1 / elapsed_s : 0;
  const Histogram& h = st.latency_ns[kCreate];
  std::printf("summary: holds/s=%s finishes/s=%s create_p50_ms=%s create_p99_ms=%s create_p999_ms=%s create_max_ms=%s "
              "errors=%llu elapsed_s=%s client_cpu_s=%s\n",
              fixed(static_cast<double>(ok(kCreate)) * per_s, 0).c_str(),
              fixed(static_cast<double>(ok(kConfirm) + ok(kRelease)) * per_s, 0).c_str(), ms(h.percentile(50)).c_str(),
              ms(h.percentile(99)).c_str(), ms(h.percentile(99.9)).c_str(), ms(h.max()).c_str(),
              static_cast<unsigned long long>(errors), fixed(elapsed_s, 2).c_str(), fixed(client_cpu_s, 2).c_str());
  std::printf("%-12s %10s %10s %9s %9s %9s %9s %9s\n", "op", "ok", "ok/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
              "errors");
  for (std::size_t k = 0; k < kOps; ++k) {
    const Histogram& l = st.latency_ns[k];
    std::uint64_t failed = 0;
    for (std::size_t c = 1; c < kCodes; ++c) failed += st.codes[k][c];
    std::printf("%-12s %10llu %10s %9s %9s %9s %9s %9llu\n", kOpNames[k], static_cast<unsigned long long>(l.count()),
                fixed(static_cast<double>(l.count()) * per_s, 0).c_str(), ms(l.percentile(50)).c_str(),
                ms(l.percentile(99)).c_str(), ms(l.percentile(99.9)).c_str(), ms(l.max()).c_str(),
                static_cast<unsigned long long>(failed));
  }
  if (errors == 0) std::printf("errors: none\n");
  for (std::size_t c = 1; c < kCodes; ++c) {
    std::uint64_t n = st.codes[kCreate][c] + st.codes[kConfirm][c] + st.codes[kRelease][c];
    if (n == 0) continue;
    std::printf("errors: %s %llu (create %llu, confirm %llu, release %llu), e.g. %s\n",
                std::string(core::code_name(static_cast<core::Code>(c))).c_str(), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(st.codes[kCreate][c]), static_cast<unsigned long long>(st.codes[kConfirm][c]),
                static_cast<unsigned long long>(st.codes[kRelease][c]), st.first_message[c].c_str());
  }
}

struct Measured {
  Stats total;
  double elapsed_s = 0;
  double client_cpu_s = 0;
};

// Starts one worker per store together, joins them, merges their stats. Opening the stores (connections,
// library check) happened before and is not measured.
Measured measure(const Options& o, const std::string& prefix, std::uint64_t seed,
                 const std::vector<std::unique_ptr<ClusterStore>>& stores) {
  std::vector<Stats> stats(stores.size());
  std::latch ready(static_cast<std::ptrdiff_t>(stores.size()) + 1);
  Clock::time_point measure_from, end;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < stores.size(); ++t) {
    threads.emplace_back([&, t] {
      Worker w(o, prefix, t, seed + 1 + t);
      ready.arrive_and_wait();
      w.run(*stores[t], measure_from, end, &stats[t]);
    });
  }
  auto seconds = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  measure_from = Clock::now() + seconds(o.warmup_s);
  end = measure_from + seconds(o.seconds);
  ready.arrive_and_wait();  // after measure_from and end are set: the workers read them after the latch
  std::this_thread::sleep_until(measure_from);
  double cpu_before = cpu_s();
  std::printf("measuring: %zu threads for %s s\n", stores.size(), fixed(o.seconds, 1).c_str());  // cluster-compare's mark
  std::fflush(stdout);
  for (auto& th : threads) th.join();
  Measured m;
  m.client_cpu_s = cpu_s() - cpu_before;
  for (const Stats& st : stats) m.total.merge(st);
  m.elapsed_s = std::chrono::duration<double>(std::max(m.total.last_end, measure_from) - measure_from).count();
  return m;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "cluster_bench: %s\n", what.c_str());
  return 1;
}

int run(const Options& o) {
  std::string error;
  backends::ClusterOptions co;
  co.seeds = {o.cluster};
  auto cc = backends::ClusterClient::connect(co, &error);
  if (!cc) return fail(o.cluster + ": " + error);
  std::uint64_t seed = o.seed ? o.seed : std::random_device{}() | std::uint64_t{std::random_device{}()} << 32;
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "b%08llx-", static_cast<unsigned long long>(seed & 0xffffffffu));
  std::printf("cluster_bench: cluster=%s masters=%zu threads=%zu seconds=%s warmup_s=%s skus=%zu split=%lld "
              "wait_replicas=%d seed=%llu prefix=%s\n",
              o.cluster.c_str(), cc->masters().size(), o.threads, fixed(o.seconds, 1).c_str(),
              fixed(o.warmup_s, 1).c_str(), o.skus, static_cast<long long>(o.split), o.wait_replicas,
              static_cast<unsigned long long>(seed), prefix);
  std::fflush(stdout);

  auto shared = ClusterStore::make_shared_state();
  Clock::time_point t0 = Clock::now();
  if (!set_up(o, shared, prefix, &error)) return fail("setup: " + error);
  std::printf("setup: 2 channels + %zu SKUs in %s s (%zu threads)\n", o.skus,
              fixed(std::chrono::duration<double>(Clock::now() - t0).count(), 2).c_str(), o.setup_threads);
  std::fflush(stdout);

  std::vector<std::unique_ptr<ClusterStore>> stores;
  for (std::size_t t = 0; t < o.threads; ++t) {
    stores.push_back(ClusterStore::open(store_options(o), shared, &error));
    if (!stores.back()) return fail("open: " + error);
  }
  Measured m = measure(o, prefix, seed, stores);
  report(m.total, m.elapsed_s, m.client_cpu_s);
  return 0;
}

}  // namespace
}  // namespace stockd::bench

int main(int argc, char** argv) {
  using stockd::bench::Options;
  Options o;
  CLI::App app{"cluster_bench: holds, confirms and releases against a Redis Cluster through the cluster store",
               "cluster_bench"};
  app.add_option("--cluster", o.cluster, "host:port of any node of the cluster")->capture_default_str();
  app.add_option("--skus", o.skus)->check(CLI::Range(std::size_t{1}, stockd::bench::kSkusMax))
      ->capture_default_str();
  app.add_option("--threads", o.threads, "worker threads, each with its own ClusterStore")
      ->check(CLI::Range(std::size_t{1}, stockd::bench::kThreadsMax))->capture_default_str();
  app.add_option("--seconds", o.seconds, "measured seconds")->check(CLI::Range(0.1, stockd::bench::kSecondsMax))
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "seconds run before measuring")->check(CLI::Range(0.0, stockd::bench::kSecondsMax))
      ->capture_default_str();
  app.add_option("--wait-replicas", o.wait_replicas, "WAIT for this many replicas per write (0: none)")
      ->check(CLI::Range(0, 16))->capture_default_str();
  app.add_option("--setup-threads", o.setup_threads)->check(CLI::Range(std::size_t{1}, std::size_t{256}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "random seed (0: random); names and picks follow from it")->capture_default_str();
  app.add_option("--split", o.split, "create the SKUs split over this many shards (1: not split)")
      ->check(CLI::Range(std::int64_t{1}, stockd::limits::kSplitMax))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return stockd::bench::run(o);
}
