// The outbound pushes (alerts, webhook deliveries) are driven by the loop's timer: their requests go
// to OutboundWorker threads, never through this thread's sockets. Their routes: server_http.cc.
#include "server/alerts.h"
#include "server/delivery.h"
#include "server/server.h"

namespace stockd::server {

void Server::outbound_step(std::int64_t now_ms) {
  if (deliveries_) deliveries_->step(now_ms);
  if (alerts_) alerts_->step(now_ms);
}

}  // namespace stockd::server
