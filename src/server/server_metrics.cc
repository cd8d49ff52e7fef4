// GET /metrics: the server's counters and histograms, then the store's own (Store::render_metrics).
#include "server/alerts.h"
#include "server/conn.h"
#include "server/delivery.h"
#include "server/server.h"

namespace stockd::server {

void Server::render_metrics(std::string& out) const {
  Prometheus p(out);
  metrics_.render(p);
  p.gauge("stockd_connections", "Open client connections.", static_cast<double>(open_conns_));
  p.gauge("stockd_queue_depth", "Write requests waiting for the current batch.", static_cast<double>(store_.queued()));
  p.gauge("stockd_long_polls", "Parked GET /v1/events long polls.", static_cast<double>(polls_.size()));
  p.counter("stockd_overloaded_total", "Requests and connections refused as overloaded.",
            static_cast<double>(overloaded_total_));
  store_.render_metrics(out);
  if (outbound_.alerts) outbound_.alerts->render_metrics(p);
  if (outbound_.render_source_metrics) outbound_.render_source_metrics(p);
  if (outbound_.deliveries) outbound_.deliveries->render_metrics(p, now_ms());
}

}  // namespace stockd::server
