#include "server/metrics.h"

#include <algorithm>
#include <vector>

#include "engine/engine.h"
#include "fmt/format.h"

namespace stockd::server {

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

void Metrics::request(const char* route, int status, std::int64_t latency_us) {
  RouteStats& r = routes_[route];
  ++r.by_status[status];
  r.latency.observe_us(latency_us);
}

void Metrics::batch(std::uint64_t items, std::int64_t sync_us) {
  batch_items_.observe(items);
  sync_.observe_us(sync_us);
}

void Metrics::render(Prometheus& p) const {
  std::vector<const char*> names;
  for (const auto& [name, _] : routes_) names.push_back(name);
  std::sort(names.begin(), names.end(), [](const char* a, const char* b) { return std::string_view(a) < b; });
  p.family("stockd_requests_total", "counter", "Requests answered, by route and status.");
  for (const char* name : names) {
    std::vector<std::pair<int, std::uint64_t>> st(routes_.at(name).by_status.begin(), routes_.at(name).by_status.end());
    std::sort(st.begin(), st.end());
    for (auto [status, n] : st)
      p.sample("stockd_requests_total", fmt::format("route=\"{}\",status=\"{}\"", name, status), n);
  }
  p.family("stockd_request_duration_seconds", "histogram", "Time from parsing a request to its reply, by route.");
  for (const char* name : names)
    routes_.at(name).latency.render(p, "stockd_request_duration_seconds", fmt::format("route=\"{}\"", name));
  p.family("stockd_journal_sync_seconds", "histogram", "Time to write and sync one engine batch.");
  sync_.render(p, "stockd_journal_sync_seconds", "");
  p.family("stockd_batch_items", "histogram", "Commands per engine batch (one sync each).");
  batch_items_.render(p, "stockd_batch_items");
}

void render_engine_metrics(Prometheus& p, const engine::EngineStats& s) {
  auto d = [](auto v) { return static_cast<double>(v); };
  p.gauge("stockd_journal_last_lsn", "Sequence number of the last durable journal record.", d(s.last_lsn));
  p.counter("stockd_journal_batches_total", "Batches written to the journal since start.", d(s.batches));
  p.counter("stockd_journal_records_total", "Journal records written since start.", d(s.records));
  p.counter("stockd_journal_syncs_total", "fdatasync calls on journal segments since start.", d(s.syncs));
  p.counter("stockd_journal_sync_failures_total", "Failed journal syncs since start.", d(s.sync_failures));
  p.counter("stockd_journal_write_failures_total", "Failed journal writes since start.", d(s.write_failures));
  p.counter("stockd_journal_storage_recoveries_total", "Recoveries from a storage fault since start.",
            d(s.storage_recoveries));
  p.gauge("stockd_journal_segments", "Live journal segment files.", d(s.segments));
  p.gauge("stockd_journal_bytes", "Bytes in live journal segments.", d(s.journal_bytes));
  p.gauge("stockd_journal_replayed_records", "Journal records replayed at start.", d(s.replayed_records));
  p.gauge("stockd_journal_recovery_seconds", "Time the last open (recovery) took.", d(s.recovery_us) / 1e6);
  p.gauge("stockd_snapshot_lsn", "Journal sequence number of the newest snapshot.", d(s.snapshot_lsn));
  p.counter("stockd_snapshot_written_total", "Snapshots written since start.", d(s.snapshots_written));
  p.counter("stockd_snapshot_failures_total", "Failed snapshots since start.", d(s.snapshot_failures));
  p.gauge("stockd_snapshot_duration_seconds", "Time the last snapshot took (background: fork to installed).",
          d(s.snapshot_us) / 1e6);
  p.gauge("stockd_snapshot_fork_seconds", "Time the last background snapshot's fork() stalled the writer.",
          d(s.snapshot_fork_us) / 1e6);
  p.gauge("stockd_snapshot_in_progress", "1 while a background snapshot is being written.",
          d(s.snapshot_in_progress ? 1 : 0));
}

}  // namespace stockd::server
