// workload.h: what each connection sends next, and what its answers mean.
//
// One Workload object per client thread (never shared between threads); what the whole run shares
// (the next buyer number, the operation budget) is in RunShared, by atomics. A connection asks next()
// whenever it may send; done() gets every answer exactly once.
//   flash-sale: each buyer (0 .. requests-1, handed out across all connections) asks once for one
//               unit of the hot SKU with its own hold id; overloaded is retried with the same id.
//               The cleanup after the run releases the holds of RunShared::release_buyers.
//   mixed:      a hold on a Zipf-drawn SKU from a uniformly drawn channel; when it succeeds its fate
//               (drawn with the hold) is sent next on the same connection: confirm or release, or
//               nothing (left to expire). At the end, pending confirms and releases are still sent.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "apps/stockbench/histogram.h"
#include "apps/stockbench/names.h"
#include "apps/stockbench/op.h"
#include "apps/stockbench/options.h"
#include "apps/stockbench/zipf.h"

namespace stockbench {

struct RunShared {
  std::atomic<std::uint64_t> next_buyer{0};   // flash-sale
  std::atomic<std::uint64_t> issued{0};       // mixed: new holds handed out (bounded by --requests)
  std::atomic<std::uint64_t> completed{0};    // every answered op (progress line)
  std::atomic<std::uint64_t> failed{0};       // answered with an error other than insufficient_stock
  std::atomic<std::uint64_t> sold{0};         // flash-sale: units held or sold
  std::atomic<bool> stop{false};
  // Cleanup (flash-sale): when set, every connection sends a release of these buyers' holds instead.
  const std::vector<std::uint64_t>* release_buyers = nullptr;
  std::atomic<std::uint64_t> next_release{0};
};

// Per thread; merged at the end.
struct Stats {
  std::array<std::array<std::uint64_t, kCodes>, kOpKinds> counts{};  // [kind][code]
  Histogram latency_ns;
  // --rate: how late each request was written after it was due or, when its connection was still
  // waiting for an answer then, after that answer came (the client's own share of the latency: its
  // wake-ups and its CPU). Large values say the client, not the server, made the tail.
  Histogram send_lag_ns;
  std::vector<std::int64_t> confirmed_units;  // mixed: per SKU index, units confirmed by this run
  std::vector<std::int64_t> held_units;       // flash-sale: units of successful holds/sales
  std::vector<std::uint64_t> held_buyers;     // flash-sale: buyers whose hold (not sale) succeeded
  std::uint64_t reconnects = 0;
  std::uint64_t unanswered = 0;  // ops in flight on a connection that could not be re-established
  std::uint64_t retried_overloaded = 0;
  void merge(const Stats& o);
  std::uint64_t total() const;
  std::uint64_t with_code(int code) const;
};

enum class Next : std::uint8_t { op, done };

class Workload {
 public:
  Workload(const Options& opt, const Names& names, RunShared& shared, std::uint32_t thread, std::uint32_t conns);
  // Fills *op for connection `conn` (a thread-local index), or says the connection has nothing left.
  Next next(std::uint32_t conn, Op* op);
  void done(std::uint32_t conn, const Op& op, int code, Stats& stats);

 private:
  Next next_flash(std::uint32_t conn, Op* op);
  Next next_mixed(std::uint32_t conn, Op* op);
  Next next_release(Op* op);

  const Options& opt_;
  const Names& names_;
  RunShared& shared_;
  std::uint32_t thread_;
  std::vector<std::deque<Op>> queued_;  // per connection: retries and follow-ups, sent first
  std::vector<std::uint64_t> seq_;      // per connection: ids made so far
  std::mt19937_64 rng_;
  std::unique_ptr<Zipf> zipf_;
};

}  // namespace stockbench
