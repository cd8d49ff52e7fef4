// GET /metrics: the server's counters and histograms, plus gauges read from the engine and core.
#include "core/inventory.h"
#include "server/conn.h"
#include "server/server.h"

namespace stockd::server {

void Server::render_metrics(std::string& out) const {
  metrics_.render(out);
  core::Stats st = engine_.inventory().stats();
  out += "# HELP stockd_holds Holds by state (finished holds while remembered).\n# TYPE stockd_holds gauge\n";
  out += "stockd_holds{state=\"held\"} " + std::to_string(st.holds_held) + "\n";
  out += "stockd_holds{state=\"confirmed\"} " + std::to_string(st.holds_confirmed) + "\n";
  out += "stockd_holds{state=\"released\"} " + std::to_string(st.holds_released) + "\n";
  out += "stockd_holds{state=\"expired\"} " + std::to_string(st.holds_expired) + "\n";
  render_metric(out, "stockd_skus", "gauge", "SKUs known.", static_cast<double>(st.skus));
  render_metric(out, "stockd_channels", "gauge", "Channels known.", static_cast<double>(st.channels));
  render_metric(out, "stockd_connections", "gauge", "Open client connections.", static_cast<double>(open_conns_));
  render_metric(out, "stockd_queue_depth", "gauge", "Write requests waiting for the current batch.",
                static_cast<double>(batch_.size()));
  render_metric(out, "stockd_long_polls", "gauge", "Parked GET /v1/events long polls.",
                static_cast<double>(polls_.size()));
  render_metric(out, "stockd_overloaded_total", "counter", "Requests and connections refused as overloaded.",
                static_cast<double>(overloaded_total_));
  render_metric(out, "stockd_events_last_seq", "gauge", "Sequence number of the newest event.",
                static_cast<double>(engine_.inventory().last_event_seq()));
  render_metric(out, "stockd_storage_healthy", "gauge", "1 when the engine accepts writes.",
                engine_.healthy() ? 1.0 : 0.0);
  engine_.render_metrics(out);
}

}  // namespace stockd::server
