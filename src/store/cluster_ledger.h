// cluster_ledger.h: the ledger writer inside a cluster-mode stockd (--ledger postgresql://...).
//
// A thread that runs backends::Ledger::poll_once() in a loop: at once again while a round applied
// something, else every idle_ms. Every stockd node given --ledger runs one; they share the consumer
// group "ledger", so entries are applied once and a dead node's pending entries are claimed by the
// others (docs/ledger.md). POST /v1/admin/reconcile asks it to compare PostgreSQL with Redis too.
// Thread-safe: the Ledger is used under a mutex (the loop and reconcile()).
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/cluster_client.h"
#include "backends/ledger.h"

namespace stockd::store {

class ClusterLedger {
 public:
  // Connects (PostgreSQL and the cluster) and creates the schema and groups; nullptr and *error on failure.
  static std::unique_ptr<ClusterLedger> open(const backends::LedgerOptions& options,
                                             const backends::ClusterOptions& cluster, std::string* error);
  ~ClusterLedger();  // stops the thread
  void start(std::int64_t idle_ms = 100);
  void stop();
  std::vector<std::string> reconcile(bool repair, std::size_t* skus_checked);
  backends::LedgerStats stats();  // as of the last round (never waits for one)

 private:
  explicit ClusterLedger(std::unique_ptr<backends::Ledger> ledger) : ledger_(std::move(ledger)) {}
  void loop(std::int64_t idle_ms);

  std::unique_ptr<backends::Ledger> ledger_;
  std::mutex mu_;  // guards ledger_ calls and stop_
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
  std::mutex stats_mu_;  // guards stats_
  backends::LedgerStats stats_;
};

}  // namespace stockd::store
