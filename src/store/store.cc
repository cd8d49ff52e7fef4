#include "store/store.h"

namespace stockd::store {

const char* capability_message(Capability c) {
  switch (c) {
    case Capability::events_feed:
      return "the events feed is not available on the cluster store; use the ledger (PostgreSQL stock_movements)";
    case Capability::sku_listing: return "listing SKUs is not available on the cluster store; use GET /v1/skus/{sku}";
    case Capability::stock_batches: return "stock batches are not supported by this store";
    case Capability::publications:
      return "publications on the cluster store need a node that runs the ledger (--ledger)";
    case Capability::movements:
      return "the movements history is not available on the cluster store; use the ledger (PostgreSQL "
             "stock_movements)";
    case Capability::outbound: return "webhook deliveries on the cluster store need a node that runs the ledger (--ledger)";
    case Capability::alerts: return "alerts on the cluster store need a node that runs the ledger (--ledger)";
    case Capability::snapshot: return "snapshots belong to the embedded store";
    case Capability::sku_count: return "DBSIZE is not available on the cluster store";
  }
  return "not available on this store";
}

core::Outcome failure(core::Code code, std::string message) {
  core::Outcome o;
  o.code = code;
  o.message = std::move(message);
  return o;
}

}  // namespace stockd::store
