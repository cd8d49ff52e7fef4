// store_metrics.h: the /metrics lines both stores render the same way (included by engine_store.cc
// and cluster_adapter.cc, which link the protocol layer; store.h itself depends on core only).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "net/prometheus.h"

namespace stockd::store {

// stockd_channel_exposed_units{channel}: units set aside for each listed channel, all SKUs.
inline void render_channel_exposed(net::Prometheus& p, const std::vector<std::pair<std::string, std::int64_t>>& exposed) {
  p.family("stockd_channel_exposed_units", "gauge", "Per listed channel: units set aside for it (exposed), all SKUs.");
  for (const auto& [channel, units] : exposed)
    p.sample("stockd_channel_exposed_units", "channel=\"" + channel + "\"", static_cast<std::uint64_t>(units < 0 ? 0 : units));
}

}  // namespace stockd::store
