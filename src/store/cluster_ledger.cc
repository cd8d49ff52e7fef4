// The ledger writer's thread in a cluster-mode stockd (see cluster_ledger.h).
#include "store/cluster_ledger.h"

#include <chrono>

#include "spdlog/spdlog.h"

namespace stockd::store {

std::unique_ptr<ClusterLedger> ClusterLedger::open(const backends::LedgerOptions& options,
                                                   const backends::ClusterOptions& cluster, std::string* error) {
  auto ledger = backends::Ledger::open(options, cluster, error);
  if (!ledger) return nullptr;
  return std::unique_ptr<ClusterLedger>(new ClusterLedger(std::move(ledger)));
}

ClusterLedger::~ClusterLedger() { stop(); }

void ClusterLedger::start(std::int64_t idle_ms) {
  thread_ = std::thread([this, idle_ms] { loop(idle_ms); });
}

void ClusterLedger::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ClusterLedger::loop(std::int64_t idle_ms) {
  std::unique_lock lock(mu_);
  while (!stop_) {
    std::size_t applied = ledger_->poll_once();
    {
      std::lock_guard g(stats_mu_);
      stats_ = ledger_->stats();
    }
    if (applied > 0) {
      // Let a reconcile() waiting for the mutex in between.
      lock.unlock();
      std::this_thread::yield();
      lock.lock();
      continue;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(idle_ms), [&] { return stop_; });
  }
}

std::vector<std::string> ClusterLedger::reconcile(bool repair, std::size_t* skus_checked) {
  std::lock_guard lock(mu_);
  return ledger_->reconcile(repair, skus_checked);
}

backends::LedgerStats ClusterLedger::stats() {
  std::lock_guard g(stats_mu_);
  return stats_;
}

}  // namespace stockd::store
