// prometheus.h: GET /metrics in Prometheus text format 0.0.4: the one writer of every metric stockd
// exports (Prometheus), and the histograms the front end and the stores keep for it.
// Single-threaded: whoever keeps a histogram updates and renders it (cluster mode locks).
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace stockd::net {

// Appends Prometheus text to `out`. Every family is written whole: HELP, TYPE, then its samples.
// Labels are passed already formatted (`route="POST /v1/holds",status="200"`); callers only pass
// label values that need no escaping (route templates, states, numbers).
class Prometheus {
 public:
  explicit Prometheus(std::string& out) : out_(out) {}
  // A family of one unlabelled sample.
  void counter(std::string_view name, std::string_view help, double value);
  void gauge(std::string_view name, std::string_view help, double value);
  // A family of labelled samples: family() once, then sample() per label set. `type` is "counter",
  // "gauge" or "histogram".
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::string_view labels, double value);
  void sample(std::string_view name, std::string_view labels, std::uint64_t value);
  // One histogram's samples after family(name, "histogram", ...): cumulative `name_bucket`s (counts
  // has one more entry than bounds: the +Inf bucket), then `name_sum` and `name_count`.
  void histogram(std::string_view name, std::string_view labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum, std::uint64_t count);

 private:
  void labelled(std::string_view name, std::string_view labels);
  std::string& out_;
};

// Fixed-bucket histogram in seconds, as Prometheus expects (cumulative on render).
class Histogram {
 public:
  static constexpr std::array<double, 15> kBounds = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,    0.025,  0.05,    0.1,    0.25,  0.5,   1.0, 5.0};
  void observe_us(std::int64_t us);
  // The samples of this histogram; the caller writes the family (Prometheus::family).
  void render(Prometheus& p, std::string_view name, std::string_view labels) const;

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
  void render(Prometheus& p, std::string_view name) const;

 private:
  std::array<std::uint64_t, kBounds.size() + 1> counts_{};
  std::uint64_t sum_ = 0, count_ = 0;
};

}  // namespace stockd::net
