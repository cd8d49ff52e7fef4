// The cluster adapter's housekeeping (cluster_adapter.h): the sweeper thread (expiry every tick,
// every index once a second, healthy() about once a second) and the store's /metrics lines.
#include <chrono>
#include <mutex>

#include "store/clock.h"
#include "store/cluster_adapter.h"
#include "store/cluster_ledger.h"
#include "store/store_metrics.h"

namespace stockd::store {
namespace {

constexpr std::int64_t kHealthEveryMs = 1000;  // the sweeper's healthy() probe

}  // namespace

void ClusterAdapter::sweeper_main() {
  std::int64_t next_health_ms = 0;
  std::int64_t next_full_ms = 0;
  std::unique_lock<std::mutex> lock(sweep_mu_);
  while (!sweep_stop_) {
    lock.unlock();
    auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.tick_ms);
    std::int64_t start_us = steady_us();
    const bool full = steady_ms() >= next_full_ms;
    if (full) next_full_ms = steady_ms() + kFullSweepEveryMs;
    std::size_t acted = sweep_store_->sweep(wall_clock_ms(), !full);
    swept_total_.fetch_add(acted, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(metrics_mu_);
      sweep_latency_.observe_us(steady_us() - start_us);
    }
    if (std::int64_t now = steady_ms(); now >= next_health_ms) {
      healthy_.store(sweep_store_->healthy(), std::memory_order_relaxed);
      next_health_ms = now + kHealthEveryMs;
    }
    lock.lock();
    sweep_cv_.wait_until(lock, next, [this] { return sweep_stop_; });
  }
}

void ClusterAdapter::render_metrics(std::string& out) const {
  net::Prometheus p(out);
  {
    std::lock_guard<std::mutex> g(metrics_mu_);
    p.family("stockd_cluster_sweep_seconds", "histogram",
             "Time of one sweep (expiry, repair, retention) of the cluster store.");
    sweep_latency_.render(p, "stockd_cluster_sweep_seconds", "");
  }
  auto d = [](auto v) { return static_cast<double>(v); };
  p.gauge("stockd_storage_healthy", "1 when the cluster answers and every slot is served.",
          healthy_.load(std::memory_order_relaxed) ? 1.0 : 0.0);
  p.gauge("stockd_cluster_workers", "Worker threads (one cluster store each).", d(stores_.size()));
  p.counter("stockd_cluster_swept_total", "Holds expired, repaired or forgotten by sweeps.",
            d(swept_total_.load(std::memory_order_relaxed)));
  if (!opt_.events_conninfo.empty()) {
    std::lock_guard<std::mutex> g(pubs_mu_);  // (as the watcher last read them: about once a second)
    render_channel_exposed(p, exposed_);
  }
  if (!opt_.events_conninfo.empty()) {
    p.gauge("stockd_events_last_seq", "The events feed's newest seq as last seen.",
            d(feed_last_.load(std::memory_order_relaxed)));
    p.counter("stockd_events_read_errors_total", "Failed reads of the ledger's events feed or SKU listing.",
              d(feed_errors_.load(std::memory_order_relaxed)));
    bool pushing = false;
    {
      std::lock_guard<std::mutex> g(pubs_mu_);
      pushing = pushing_;
    }
    p.gauge("stockd_deliveries_leading", "1 while this node pushes the listed channels' webhooks (it holds the lock).",
            pushing ? 1.0 : 0.0);
  }
  if (!opt_.ledger) return;
  backends::LedgerStats ls = opt_.ledger->stats();
  p.counter("stockd_ledger_entries_applied_total", "Outbox entries applied to PostgreSQL.", d(ls.entries_applied));
  p.counter("stockd_ledger_malformed_total", "Outbox entries that did not parse (acked).", d(ls.malformed));
  p.counter("stockd_ledger_rejected_total", "Outbox entries PostgreSQL refused (acked).", d(ls.rejected));
  p.counter("stockd_ledger_lost_total", "Pending entries trimmed before they were applied.", d(ls.lost));
  p.counter("stockd_ledger_errors_total", "Failed Redis or PostgreSQL calls of the ledger.", d(ls.errors));
  p.gauge("stockd_ledger_lag_seconds", "Age of the oldest entry of the last applying round.",
          static_cast<double>(ls.lag_ms) / 1000.0);
}

}  // namespace stockd::store
