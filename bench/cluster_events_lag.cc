// cluster_events_lag: how long after a write is acknowledged its event can be read from the cluster
// store's events feed (docs/cluster.md "Events feed"; figures in docs/benchmarks.md). A program that
// prints figures, not a test.
//
//   cluster_events_lag --cluster 127.0.0.1:7000 --pg postgresql://postgres@127.0.0.1:5432/postgres
//                      [--writes 2000] [--rate 200] [--writers 4] [--ledgers 1] [--idle-ms 100]
//
// Writers adjust (+1, ref "<prefix><i>") SKUs of their own through ClusterStore, paced to --rate
// writes/s in all, each acknowledged as stockd acknowledges it (WAIT 1). Ledger threads run the loop of
// stockd's ledger thread (src/store/cluster_ledger.cc: poll again at once while a round applied
// something, else after --idle-ms). A reader long-polls the feed (ClusterEvents::wait, then read) as a
// channel adapter would. Lag of a write = the time the reader got its stock_adjusted event - the time
// its apply() returned (0 when the event came first: the ledger may apply an entry before the store's
// WAIT returns). Output: p50, p90, p99 and max in ms, and how many events were never seen; first, how
// long the ledger took to apply what earlier runs left in the streams (the backlog: a throughput figure
// when the streams were filled on purpose).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "backends/cluster_client.h"
#include "backends/cluster_events.h"
#include "backends/cluster_store.h"
#include "backends/ledger.h"

namespace {

using namespace stockd;
using Clock = std::chrono::steady_clock;

constexpr int kSkus = 32;
constexpr std::size_t kWritesMax = 1'000'000;
constexpr int kThreadsMax = 64;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Run {
  std::string prefix;
  std::vector<std::atomic<std::int64_t>> acked_us, seen_us;  // 0: not yet
  explicit Run(std::size_t n) : acked_us(n), seen_us(n) {}
};

void ledger_loop(backends::LedgerOptions o, backends::ClusterOptions c, int idle_ms, const std::atomic<bool>& stop) {
  std::string error;
  auto ledger = backends::Ledger::open(o, c, &error);
  if (!ledger) {
    std::fprintf(stderr, "ledger: %s\n", error.c_str());
    return;
  }
  while (!stop.load()) {
    if (ledger->poll_once() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
  }
}

void reader_loop(const std::string& pg, std::uint64_t after, Run& run, const std::atomic<bool>& stop) {
  std::string error;
  auto events = backends::ClusterEvents::open({pg}, &error);
  if (!events) {
    std::fprintf(stderr, "reader: %s\n", error.c_str());
    return;
  }
  while (!stop.load()) {
    bool ready = false;
    if (!events->wait(after, 200, &ready, &error) || !ready) continue;
    std::vector<net::EventRecord> got;
    if (!events->read(after, backends::kEventsPageMax, &got, &after, &error)) continue;
    const std::int64_t t = now_us();
    for (const net::EventRecord& e : got) {
      if (e.type != core::EventType::stock_adjusted || e.ref.rfind(run.prefix, 0) != 0) continue;
      const std::size_t i = std::stoul(e.ref.substr(run.prefix.size()));
      if (i < run.seen_us.size()) run.seen_us[i] = t;
    }
  }
}

// `writes` adjustments over writes / 10 SKUs of their own, by 16 threads, without waiting for replicas:
// a backlog in the streams for the ledger to apply (its throughput).
bool fill_backlog(backends::ClusterStoreOptions so, std::shared_ptr<backends::ClusterShared> shared,
                  const std::string& prefix, std::size_t writes) {
  so.wait_replicas = 0;
  const std::size_t skus = std::max<std::size_t>(1, writes / 10);
  std::atomic<std::size_t> failed{0};
  const std::int64_t t0 = now_us();
  for (int phase = 0; phase < 2; ++phase) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; ++t) {
      ts.emplace_back([&, t] {
        std::string error;
        auto store = backends::ClusterStore::open(so, shared, &error);
        if (!store) return;
        const std::size_t n = phase == 0 ? skus : writes;
        for (std::size_t i = static_cast<std::size_t>(t); i < n; i += 16) {
          backends::StoreReply r;
          const std::string sku = prefix + "b" + std::to_string(i % skus);
          const core::Command c = phase == 0 ? core::Command{core::PutSku{sku, 1000, 0, {}, {}}}
                                             : core::Command{core::Adjust{sku, 1, "received", ""}};
          if (!store->apply(c, wall_ms(), &r).ok()) ++failed;
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  std::printf("backlog: %zu SKUs, %zu adjustments written in %.1f s, %zu failed\n", skus, writes,
              static_cast<double>(now_us() - t0) / 1e6, failed.load());
  return failed.load() == 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cluster, pg;
  std::size_t writes = 2000;
  double rate = 200;
  int writers = 4, ledgers = 1, idle_ms = 100;
  std::size_t backlog_writes = 0;
  CLI::App app{"cluster_events_lag: write-acknowledged to event-readable lag of the cluster events feed"};
  app.add_option("--cluster", cluster, "a Redis Cluster node host:port")->required();
  app.add_option("--pg", pg, "the ledger's PostgreSQL (postgresql://...)")->required();
  app.add_option("--writes", writes, "adjustments in all")->check(CLI::Range(std::size_t{1}, kWritesMax));
  app.add_option("--rate", rate, "writes per second in all")->check(CLI::Range(1.0, 100000.0));
  app.add_option("--writers", writers)->check(CLI::Range(1, kThreadsMax));
  app.add_option("--ledgers", ledgers, "ledger threads (consumers of one group)")->check(CLI::Range(1, kThreadsMax));
  app.add_option("--idle-ms", idle_ms, "the ledger loop's pause after a round with nothing")->check(CLI::Range(1, 10000));
  app.add_option("--backlog", backlog_writes, "adjustments written before any ledger runs (10 per SKU)")
      ->check(CLI::Range(std::size_t{0}, kWritesMax));
  CLI11_PARSE(app, argc, argv);

  backends::ClusterStoreOptions so;
  so.seeds = {cluster};
  std::string error;
  auto shared = backends::ClusterStore::make_shared_state();
  auto setup = backends::ClusterStore::open(so, shared, &error);
  if (!setup) {
    std::fprintf(stderr, "cluster: %s\n", error.c_str());
    return 1;
  }
  Run run(writes);
  run.prefix = "lag" + std::to_string(std::random_device{}() % 1000000) + "-";
  for (int s = 0; s < kSkus; ++s) {
    backends::StoreReply r;
    if (!setup->apply(core::PutSku{run.prefix + std::to_string(s), 1000, 0, {}, {}}, wall_ms(), &r).ok()) {
      std::fprintf(stderr, "setup failed\n");
      return 1;
    }
  }
  if (backlog_writes > 0 && !fill_backlog(so, shared, run.prefix, backlog_writes)) return 1;
  backends::ClusterOptions co;
  co.seeds = so.seeds;
  backends::LedgerOptions lo;
  lo.conninfo = pg;
  {  // the backlog of earlier runs first, so that it is not measured
    lo.consumer = "lag-setup";
    auto l = backends::Ledger::open(lo, co, &error);
    if (!l) {
      std::fprintf(stderr, "ledger: %s\n", error.c_str());
      return 1;
    }
    const std::int64_t b0 = now_us();
    std::size_t backlog = 0;
    while (const std::size_t n = l->poll_once()) backlog += n;
    std::printf("backlog: %zu entries applied in %.2f s (%llu events)\n", backlog,
                static_cast<double>(now_us() - b0) / 1e6, static_cast<unsigned long long>(l->stats().events));
  }
  auto events = backends::ClusterEvents::open({pg}, &error);
  std::uint64_t start = 0;
  if (!events || !events->last_seq(&start, &error)) {
    std::fprintf(stderr, "events: %s\n", error.c_str());
    return 1;
  }

  std::atomic<bool> stop{false}, stop_reader{false};
  std::vector<std::thread> threads;
  for (int l = 0; l < ledgers; ++l) {
    lo.consumer = run.prefix + "ledger" + std::to_string(l);
    threads.emplace_back(ledger_loop, lo, co, idle_ms, std::cref(stop));
  }
  std::thread reader(reader_loop, pg, start, std::ref(run), std::cref(stop_reader));
  const std::int64_t t0 = now_us();
  const double gap_us = 1e6 / rate;
  std::vector<std::thread> ws;
  for (int w = 0; w < writers; ++w) {
    ws.emplace_back([&, w] {
      std::string err;
      auto store = backends::ClusterStore::open(so, shared, &err);
      if (!store) return;
      for (std::size_t i = static_cast<std::size_t>(w); i < writes; i += static_cast<std::size_t>(writers)) {
        const auto due = t0 + static_cast<std::int64_t>(static_cast<double>(i) * gap_us);
        if (const std::int64_t wait = due - now_us(); wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(wait));
        backends::StoreReply r;
        const core::Adjust adj{run.prefix + std::to_string(i % kSkus), 1, "received", run.prefix + std::to_string(i)};
        if (store->apply(adj, wall_ms(), &r).ok()) run.acked_us[i] = now_us();
      }
    });
  }
  for (auto& t : ws) t.join();
  const double write_s = static_cast<double>(now_us() - t0) / 1e6;
  const std::int64_t deadline = now_us() + 30'000'000;
  auto all_seen = [&] {
    for (std::size_t i = 0; i < writes; ++i)
      if (run.acked_us[i].load() != 0 && run.seen_us[i].load() == 0) return false;
    return true;
  };
  while (!all_seen() && now_us() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop_reader = true;
  stop = true;
  reader.join();
  for (auto& t : threads) t.join();

  std::vector<double> lag_ms;
  std::size_t failed = 0, unseen = 0;
  for (std::size_t i = 0; i < writes; ++i) {
    const std::int64_t a = run.acked_us[i].load(), s = run.seen_us[i].load();
    if (a == 0) ++failed;
    else if (s == 0) ++unseen;
    else lag_ms.push_back(static_cast<double>(std::max<std::int64_t>(0, s - a)) / 1000.0);
  }
  std::sort(lag_ms.begin(), lag_ms.end());
  auto pct = [&](double p) {
    return lag_ms.empty() ? 0.0 : lag_ms[std::min(lag_ms.size() - 1, static_cast<std::size_t>(p * static_cast<double>(lag_ms.size())))];
  };
  std::printf("writes=%zu rate=%.0f/s achieved=%.0f/s writers=%d ledgers=%d idle_ms=%d failed=%zu unseen=%zu\n",
              writes, rate, static_cast<double>(writes) / write_s, writers, ledgers, idle_ms, failed, unseen);
  std::printf("lag_ms p50=%.1f p90=%.1f p99=%.1f max=%.1f\n", pct(0.50), pct(0.90), pct(0.99),
              lag_ms.empty() ? 0.0 : lag_ms.back());
  return 0;
}
