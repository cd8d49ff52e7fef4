// metrics.h: the request and batch metrics the front end keeps for GET /metrics (written with the one
// Prometheus writer, net/prometheus.h).
// Single-threaded: the embedded server's event loop updates and renders them (cluster mode locks).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "net/prometheus.h"

namespace stockd::server {

using net::Histogram;
using net::Prometheus;
using net::SizeHistogram;

class Metrics {
 public:
  // `route` is a template such as "POST /v1/holds" or "RESP HOLD"; must outlive the Metrics (literal).
  void request(const char* route, int status, std::int64_t latency_us);
  void batch(std::uint64_t items, std::int64_t sync_us);
  Histogram& sync() { return sync_; }

  // Writes everything this object holds; the caller writes the gauges it owns.
  void render(Prometheus& p) const;

 private:
  struct RouteStats {
    absl::flat_hash_map<int, std::uint64_t> by_status;
    Histogram latency;
  };
  absl::flat_hash_map<const char*, RouteStats> routes_;
  Histogram sync_;
  SizeHistogram batch_items_;
};

}  // namespace stockd::server
