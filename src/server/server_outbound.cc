// The outbound pushes (alerts, webhook deliveries) are driven by the loop's timer: their requests go
// to OutboundWorker threads, never through this thread's sockets. Their routes: server_http.cc.
#include "server/alerts.h"
#include "server/conn.h"
#include "server/delivery.h"
#include "server/server.h"
#include "spdlog/spdlog.h"

namespace stockd::server {
namespace {

// Metrics labels of the server's own commands (their outcomes answer no client).
const char* route_of(DeliveryAction::Kind k) {
  switch (k) {
    case DeliveryAction::Kind::ack: return "delivery ack";
    case DeliveryAction::Kind::freeze: return "delivery freeze";
    case DeliveryAction::Kind::unfreeze: return "delivery unfreeze";
  }
  return "delivery";
}

}  // namespace

// Called from on_timer before the tick's batch is handed over, so that acknowledgements, freezes and
// unfreezes join it.
void Server::outbound_step(std::int64_t now) {
  if (outbound_.deliveries) {
    outbound_.deliveries->step(now);
    if (outbound_.actions) {
      for (const DeliveryAction& a : outbound_.actions->take()) {
        std::optional<core::Command> cmd = outbound_.to_command ? outbound_.to_command(a) : std::nullopt;
        if (!cmd) continue;
        store::Write w;  // answers nobody (kNoTag): the delivery sees its effect in the publications
        w.cmd = &*cmd;
        w.now_ms = now;
        if (core::Code code = store_.submit(w); code != core::Code::ok)
          spdlog::warn("event=delivery_action_refused action=\"{}\" code={}", route_of(a.kind), core::code_name(code));
      }
    }
  }
  if (outbound_.alerts && outbound_.take_events) {
    std::vector<net::EventRecord> records;
    outbound_.take_events(&records);
    if (!records.empty()) outbound_.alerts->on_records(records);
  }
  if (outbound_.alerts) outbound_.alerts->step(now);
}

}  // namespace stockd::server
