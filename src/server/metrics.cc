#include "server/metrics.h"

#include <algorithm>
#include <vector>

#include "fmt/format.h"

namespace stockd::server {

void Histogram::observe_us(std::int64_t us) {
  double s = static_cast<double>(us) / 1e6;
  auto it = std::lower_bound(kBounds.begin(), kBounds.end(), s);
  ++counts_[it - kBounds.begin()];
  sum_s_ += s;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cum += counts_[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, kBounds[i], cum);
  }
  cum += counts_[kBounds.size()];
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cum);
  std::string l = labels.empty() ? "" : "{" + labels + "}";
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, l, sum_s_, name, l, count_);
}

void SizeHistogram::observe(std::uint64_t n) {
  auto it = std::lower_bound(kBounds.begin(), kBounds.end(), static_cast<double>(n));
  ++counts_[it - kBounds.begin()];
  sum_ += n;
  ++count_;
}

void SizeHistogram::render(std::string& out, const std::string& name) const {
  std::uint64_t cum = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cum += counts_[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], cum);
  }
  cum += counts_[kBounds.size()];
  fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cum, name,
                 sum_, name, count_);
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

void Metrics::render(std::string& out) const {
  std::vector<const char*> names;
  for (const auto& [name, _] : routes_) names.push_back(name);
  std::sort(names.begin(), names.end(), [](const char* a, const char* b) { return std::string_view(a) < b; });
  out += "# HELP stockd_requests_total Requests answered, by route and status.\n";
  out += "# TYPE stockd_requests_total counter\n";
  for (const char* name : names) {
    std::vector<std::pair<int, std::uint64_t>> st(routes_.at(name).by_status.begin(), routes_.at(name).by_status.end());
    std::sort(st.begin(), st.end());
    for (auto [status, n] : st)
      fmt::format_to(std::back_inserter(out), "stockd_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", name, status, n);
  }
  out += "# HELP stockd_request_duration_seconds Time from parsing a request to its reply, by route.\n";
  out += "# TYPE stockd_request_duration_seconds histogram\n";
  for (const char* name : names)
    routes_.at(name).latency.render(out, "stockd_request_duration_seconds", fmt::format("route=\"{}\"", name));
  out += "# HELP stockd_journal_sync_seconds Time to write and sync one engine batch.\n";
  out += "# TYPE stockd_journal_sync_seconds histogram\n";
  sync_.render(out, "stockd_journal_sync_seconds", "");
  out += "# HELP stockd_batch_items Commands per engine batch (one sync each).\n";
  out += "# TYPE stockd_batch_items histogram\n";
  batch_items_.render(out, "stockd_batch_items");
}

void render_metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}

}  // namespace stockd::server
