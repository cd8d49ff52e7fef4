// The Prometheus text writer and histograms (prometheus.h).
#include "net/prometheus.h"

#include <cstdio>
#include <iterator>

#include "fmt/format.h"

namespace stockd::net {

void Prometheus::counter(std::string_view name, std::string_view help, double value) {
  family(name, "counter", help);
  sample(name, {}, value);
}

void Prometheus::gauge(std::string_view name, std::string_view help, double value) {
  family(name, "gauge", help);
  sample(name, {}, value);
}

void Prometheus::family(std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void Prometheus::labelled(std::string_view name, std::string_view labels) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    out_ += labels;
    out_ += '}';
  }
  out_ += ' ';
}

void Prometheus::sample(std::string_view name, std::string_view labels, double value) {
  labelled(name, labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void Prometheus::sample(std::string_view name, std::string_view labels, std::uint64_t value) {
  labelled(name, labels);
  fmt::format_to(std::back_inserter(out_), "{}\n", value);
}

void Prometheus::histogram(std::string_view name, std::string_view labels, std::span<const double> bounds,
                           std::span<const std::uint64_t> counts, double sum, std::uint64_t count) {
  const std::string bucket = fmt::format("{}_bucket", name);
  const std::string_view sep = labels.empty() ? "" : ",";
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cum += counts[i];
    sample(bucket, fmt::format("{}{}le=\"{}\"", labels, sep, bounds[i]), cum);
  }
  cum += counts[bounds.size()];
  sample(bucket, fmt::format("{}{}le=\"+Inf\"", labels, sep), cum);
  sample(fmt::format("{}_sum", name), labels, sum);
  sample(fmt::format("{}_count", name), labels, count);
}

void Histogram::observe_us(std::int64_t us) {
  double s = static_cast<double>(us) / 1e6;
  auto it = std::lower_bound(kBounds.begin(), kBounds.end(), s);
  ++counts_[it - kBounds.begin()];
  sum_s_ += s;
  ++count_;
}

void Histogram::render(Prometheus& p, std::string_view name, std::string_view labels) const {
  p.histogram(name, labels, kBounds, counts_, sum_s_, count_);
}

void SizeHistogram::observe(std::uint64_t n) {
  auto it = std::lower_bound(kBounds.begin(), kBounds.end(), static_cast<double>(n));
  ++counts_[it - kBounds.begin()];
  sum_ += n;
  ++count_;
}

void SizeHistogram::render(Prometheus& p, std::string_view name) const {
  p.histogram(name, {}, kBounds, counts_, static_cast<double>(sum_), count_);
}

}  // namespace stockd::net
