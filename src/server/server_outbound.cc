// The outbound pushes (alerts, webhook deliveries) are driven by the loop's timer: their requests go
// to OutboundWorker threads, never through this thread's sockets. Their routes: server_http.cc.
#include "server/alerts.h"
#include "server/conn.h"
#include "server/delivery.h"
#include "server/server.h"

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
        batch_.push_back(engine::BatchItem{std::move(*cmd), now, {}, 0});
        pending_.push_back(Pending{nullptr, route_of(a.kind), now_us(), 0, false});
      }
    }
  }
  if (outbound_.alerts) outbound_.alerts->step(now);
}

}  // namespace stockd::server
