#include "server/metrics.h"

#include <algorithm>
#include <vector>

#include "engine/engine.h"
#include "fmt/format.h"

namespace stockd::server {

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

}  // namespace stockd::server
