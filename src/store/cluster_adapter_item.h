// cluster_adapter_item.h: inside ClusterAdapter (cluster_adapter.h), shared by its two files: one
// request and its result (Item), and the reads a worker runs (cluster_adapter_reads.cc).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/cluster_store.h"
#include "store/cluster_adapter.h"

namespace stockd::store {

class ClusterLedger;

// One request, owned by the adapter from submit()/read() until its completion was delivered.
struct ClusterAdapter::Item {
  bool is_read = false;
  Tag tag = kNoTag;
  // write
  core::Command cmd;
  std::int64_t now_ms = 0;
  Want want = Want::none;
  core::Status status;
  std::string hold_id;
  std::string acting_channel;
  // read
  ReadKind kind = ReadKind::sku;
  std::string name;
  std::string channel;
  std::vector<std::string> skus;
  std::uint64_t after = 0;
  std::size_t offset = 0;
  std::size_t limit = 0;
  // result
  core::Outcome outcome;
  backends::StoreReply reply;
  std::vector<Available> available;  // availability: points into skus
  std::string json;                  // events: the rendered page
  std::vector<backends::SkuRecord> listed;  // sku_list
  std::size_t total = 0;                    // sku_list
  std::vector<core::MovementRecord> movements;  // movements
  std::vector<backends::PublicationRow> publications;  // publications
  std::uint64_t next = 0;                       // movements, publications
};

// One read of the cluster store (not the events feed or the SKU listing: ClusterAdapter::run_feed_read),
// with the embedded store's checks and messages; reconcile includes the ledger's when there is one.
void run_read(backends::ClusterStore& s, ClusterAdapter::Item& it, ClusterLedger* ledger);

// Whether `channel` is a channel of the cluster (*known), read from Redis; the outcome of the read.
core::Outcome channel_known(backends::ClusterStore& s, std::string_view channel, bool* known);

}  // namespace stockd::store
