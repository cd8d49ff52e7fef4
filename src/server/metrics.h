// metrics.h: counters and histograms for GET /metrics (Prometheus text format 0.0.4).
// Single-threaded: only the event loop updates and renders them.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"

namespace stockd::server {

// Fixed-bucket histogram in seconds, as Prometheus expects (cumulative on render).
class Histogram {
 public:
  static constexpr std::array<double, 15> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,    0.025,  0.05,    0.1,    0.25,  0.5,   1.0, 5.0};
  void observe_us(std::int64_t us);
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};
  double sum_s_ = 0;
  std::uint64_t count_ = 0;
};

// Count histogram for batch sizes (items per engine batch).
class SizeHistogram {
 public:
  static constexpr std::array<double, 10> kBounds = {1, 2, 4, 8, 16, 64, 256, 1024, 4096, 16384};
  void observe(std::uint64_t n);
  void render(std::string& out, const std::string& name) const;

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};
  std::uint64_t sum_ = 0, count_ = 0;
};

class Metrics {
 public:
  // `route` is a template such as "POST /v1/holds" or "RESP HOLD"; must outlive the Metrics (literal).
  void request(const char* route, int status, std::int64_t latency_us);
  void batch(std::uint64_t items, std::int64_t sync_us);
  Histogram& sync() { return sync_; }

  // Appends everything this object holds; the caller appends gauges it owns.
  void render(std::string& out) const;

 private:
  struct RouteStats {
    absl::flat_hash_map<int, std::uint64_t> by_status;
    Histogram latency;
  };
  absl::flat_hash_map<const char*, RouteStats> routes_;
  Histogram sync_;
  SizeHistogram batch_items_;
};

// Appends one gauge/counter sample with HELP and TYPE lines.
void render_metric(std::string& out, const char* name, const char* type, const char* help, double value);

}  // namespace stockd::server
