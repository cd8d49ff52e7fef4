// GET /metrics: the server's counters and histograms, plus gauges read from the engine and core.
#include "core/inventory.h"
#include "server/alerts.h"
#include "server/conn.h"
#include "server/delivery.h"
#include "server/server.h"

namespace stockd::server {

void Server::render_metrics(std::string& out) const {
  Prometheus p(out);
  metrics_.render(p);
  core::Stats st = engine_.inventory().stats();
  p.family("stockd_holds", "gauge", "Holds by state (finished holds while remembered).");
  p.sample("stockd_holds", "state=\"held\"", std::uint64_t{st.holds_held});
  p.sample("stockd_holds", "state=\"confirmed\"", std::uint64_t{st.holds_confirmed});
  p.sample("stockd_holds", "state=\"released\"", std::uint64_t{st.holds_released});
  p.sample("stockd_holds", "state=\"expired\"", std::uint64_t{st.holds_expired});
  p.gauge("stockd_skus", "SKUs known.", static_cast<double>(st.skus));
  p.gauge("stockd_channels", "Channels known.", static_cast<double>(st.channels));
  p.gauge("stockd_connections", "Open client connections.", static_cast<double>(open_conns_));
  p.gauge("stockd_queue_depth", "Write requests waiting for the current batch.", static_cast<double>(batch_.size()));
  p.gauge("stockd_long_polls", "Parked GET /v1/events long polls.", static_cast<double>(polls_.size()));
  p.counter("stockd_overloaded_total", "Requests and connections refused as overloaded.",
            static_cast<double>(overloaded_total_));
  p.gauge("stockd_events_last_seq", "Sequence number of the newest event.",
          static_cast<double>(engine_.inventory().last_event_seq()));
  engine::MovementStoreStats mv = engine_.movement_stats();
  p.gauge("stockd_movements_last_seq", "Seq of the newest movement written.", static_cast<double>(mv.last_seq));
  p.gauge("stockd_movements_retained", "Movements in the history (GET /v1/movements).",
          static_cast<double>(mv.movements));
  p.gauge("stockd_movements_files", "Movement files in the data directory.", static_cast<double>(mv.files));
  p.gauge("stockd_movements_bytes", "Bytes of the movement files.", static_cast<double>(mv.bytes));
  p.gauge("stockd_movements_index_bytes", "Memory of the movements index (16 bytes per movement).",
          static_cast<double>(mv.index_bytes));
  p.counter("stockd_movements_files_removed_total", "Movement files removed by retention.",
            static_cast<double>(mv.files_removed));
  p.counter("stockd_movements_write_failures_total", "Failed writes of movement files.",
            static_cast<double>(mv.write_failures));
  p.gauge("stockd_storage_healthy", "1 when the engine accepts writes.", engine_.healthy() ? 1.0 : 0.0);
  render_engine_metrics(p, engine_.stats());
  if (outbound_.alerts) outbound_.alerts->render_metrics(p);
  if (outbound_.deliveries) outbound_.deliveries->render_metrics(p, now_ms());
}

}  // namespace stockd::server
