// cluster_store.h: the contract's operations over a Redis 7 Cluster (stockd --store redis-cluster://...).
//
// Several stateless stockd nodes may serve the same cluster. The state lives in Redis; every
// mutation is a call of the versioned Redis Function library `stockd` (cluster_functions.lua,
// FUNCTION LOAD'ed by the first node that finds it missing or older), atomic within one slot.
// Policy stays in C++ (cluster_policy.h, shared with the embedded core's rules in
// docs/allocation.md): which buckets a channel draws from and in which order, how buckets are sized.
// The functions are mechanisms: size buckets in a given order, take from an ordered list of buckets
// all or nothing, give back, consume; each also appends its change to the partition's outbox stream.
//
// Key layout (docs/cluster.md): names are spread over kPartitions partitions by
// partition_of(name) = crc16(name) % kPartitions; a partition's keys share the hash tag "{p<k>}", so
// one partition is one slot. A SKU's keys are in partition_of(sku); a hold line's record is in its
// SKU's partition. A hold whose lines share one partition lives there too and is one atomic call
// (with a pointer in partition_of(hold id) when that is another); any other hold's record, expiry
// and repair index are in partition_of(hold id), and it is made of per-line takes with compensation
// (all or nothing for the client), repaired by sweep() after a crash.
//
// Acknowledgement: when ClusterStoreOptions::wait_replicas > 0 an operation returns ok only after
// WAIT confirmed that every master it wrote to replicated its writes to that many replicas; otherwise
// it answers Code::unavailable (the client retries with the same hold id / ref, which is safe).
//
// REQUIRES: external synchronization: one ClusterStore per thread. The caches they share
// (channels, SKU allocation plans) live in a ClusterShared that is thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"
#include "core/inventory.h"
#include "core/status.h"
#include "core/views.h"

namespace stockd::backends {

inline constexpr int kPartitions = 256;
int partition_of(std::string_view name);  // crc16(name) % kPartitions (crc16 as in key_slot)

struct ClusterStoreOptions {
  std::vector<std::string> seeds;  // "host:port"
  std::string password;
  int wait_replicas = 1;           // --redis-wait-replicas
  int wait_timeout_ms = 1000;      // a WAIT that times out is answered 503
  std::int64_t hold_retention_ms = 24LL * 3600 * 1000;
  std::int64_t low_stock_permille = 100;
  std::int64_t channel_cache_ms = 1000;  // other nodes' channel changes are seen within this
  std::int64_t repair_after_ms = 5000;   // an unfinished multi-step operation older than this is repaired
};

// Owning records; view() points into the record (valid while it lives and is not changed).
struct ChannelRecord {
  std::string name;
  std::int64_t priority = 100;
  std::int64_t hold_ttl_s = 900;
  core::ChannelState state = core::ChannelState::active;
  core::FrozenReason frozen_reason = core::FrozenReason::none;
  std::int64_t exposed = 0;  // a listed channel: units set aside for it, all SKUs
  std::optional<core::Listing> listing;
  std::optional<core::Webhook> webhook;
  // Publications (from the ledger: the adapter fills them; 0 here).
  std::uint64_t last_publication_seq = 0, acked_publication_seq = 0, pending_publications = 0;
  core::ChannelView view() const;
};

struct SkuRecord {
  struct Fence {
    std::string channel;
    std::int64_t ratio_ppb = -1, units = -1, size = 0, held = 0;
  };
  struct Pool {
    std::string name;
    std::int64_t units = 0, size = 0, held = 0;
    std::vector<std::string> channels;
  };
  std::string name;
  std::int64_t on_hand = 0, safety_stock = 0, held = 0, available = 0, exposed = 0;
  std::int64_t max_per_hold = 0, low_stock_threshold = 0;
  bool low_stock_threshold_explicit = false;
  std::uint64_t version = 0;
  std::vector<std::pair<std::string, std::int64_t>> channels;  // every channel's available, by name
  // Listed channels (docs/cluster.md "Listed channels on the cluster store"): per channel the quantity
  // published, the units set aside, and the version of the latest publication (ack_exposures).
  struct Exposure {
    std::string channel;
    std::int64_t published = 0, exposed = 0, version = 0;
  };
  std::vector<Exposure> exposures;
  std::vector<Fence> fences;
  std::vector<Pool> pools;
  std::int64_t shared_free = 0;  // home and shards
  bool preempt = false;
  std::int64_t split = 0;  // shards of a hot SKU (docs/cluster.md "Hot SKUs"), 0 or 1: not split
  core::SkuView view() const;
};

struct HoldRecord {
  std::string id;
  std::string channel;
  core::HoldState state = core::HoldState::held;
  std::vector<core::HoldLine> lines;
  std::int64_t created_at_ms = 0, expires_at_ms = 0, finished_at_ms = 0;
  core::HoldView view() const;
};

// What an operation answers with, besides its Outcome.
struct StoreReply {
  enum class Kind : std::uint8_t { none, channel, sku, hold, channels, availability, reconcile, batch };
  Kind kind = Kind::none;
  ChannelRecord channel;
  SkuRecord sku;
  HoldRecord hold;
  std::vector<ChannelRecord> channels;
  // availability: (sku, available) for known SKUs, in the order asked (no repeats); unknown names.
  std::vector<std::pair<std::string, std::int64_t>> available;
  std::vector<std::string> unknown;
  // reconcile: SKUs compared, and one line per drift found (and what was repaired).
  std::size_t skus_checked = 0;
  std::vector<std::string> drift;
  // batch: the SKU of every ok row of the outcome's batch answer, in row order.
  std::vector<SkuRecord> batch_skus;
};

class ClusterShared;  // caches shared by the ClusterStores of one process (thread-safe)

class ClusterStore {
 public:
  // Connects, loads (or upgrades) the function library. nullptr and *error when the cluster cannot
  // be reached or refuses the library.
  static std::unique_ptr<ClusterStore> open(const ClusterStoreOptions& options,
                                            std::shared_ptr<ClusterShared> shared, std::string* error);
  static std::shared_ptr<ClusterShared> make_shared_state();
  ~ClusterStore();

  // Every write of the contract: PutChannel, PutSku, Adjust, SetAllocation, ClosePool, CreateHold,
  // ConfirmHold, ReleaseHold, ExtendHold (Tick and Configure are answered ok and do nothing).
  // Fills reply (channel for PutChannel, hold for holds, sku otherwise) when the outcome is ok.
  core::Outcome apply(const core::Command& cmd, std::int64_t now_ms, StoreReply* reply);
  // Creates many holds as apply() creates each, with the first calls of all local holds (lines in
  // one partition) in one pipeline: the masters take them in one turn of their event loop, one
  // fsync for all (group commit into Redis); every other step is create_hold's own. REQUIRES: the
  // holds are independent requests (no two of one client connection, whose order would matter) and
  // each passed core::validate. now_ms (each hold's time), outs and replies have holds.size() entries.
  void create_many(std::span<const core::CreateHold* const> holds, std::span<const std::int64_t> now_ms,
                   std::span<core::Outcome> outs, std::span<StoreReply> replies);

  // Reads.
  core::Outcome get_sku(std::string_view sku, std::int64_t now_ms, StoreReply* reply);
  core::Outcome get_hold(std::string_view id, std::int64_t now_ms, StoreReply* reply);
  core::Outcome list_channels(StoreReply* reply);
  core::Outcome availability(std::string_view channel, const std::vector<std::string_view>& skus,
                             std::int64_t now_ms, StoreReply* reply);

  // Expires due holds, finishes or rolls back operations a crashed node left half done, forgets
  // finished holds past retention. Every node calls it about every 100-500 ms; any number of nodes
  // may sweep at once (each hold expires exactly once). Returns the number of holds acted on.
  // due_only: only the expiry indexes (256 reads instead of 1,536): the adapter sweeps everything
  // else once a second (kFullSweepEveryMs in src/store/cluster_adapter.h), which is soon enough for
  // repairs (repair_after_ms), retention and stock batch leases.
  std::size_t sweep(std::int64_t now_ms, bool due_only = false);

  // Compares every SKU's counters with the sum of its buckets and its live hold lines, and (with
  // the ledger) PostgreSQL; repairs by the rules of docs/cluster.md when `repair`.
  core::Outcome reconcile(bool repair, std::int64_t now_ms, StoreReply* reply);

  bool healthy();  // the cluster answers and every slot is served

  // Listed channels (docs/cluster.md "Listed channels on the cluster store"). An acknowledged
  // publication: the SKU and the version of its publication to the channel (outbox t=pub, field v).
  struct PublicationAck {
    std::string sku;
    std::int64_t version = 0;
  };
  // The channel acknowledged these publications (read from the ledger's PostgreSQL): for each SKU
  // whose latest publication to the channel is still that version, the units set aside above the
  // published quantity go back (stockd_expose_ack in the SKU's partition), and the SKU is exposed
  // again. Idempotent. Returns unavailable when Redis failed (the caller retries the whole ack).
  core::Outcome ack_exposures(std::string_view channel, std::span<const PublicationAck> acks, std::int64_t now_ms);
  // Units exposed to each channel, all SKUs (the partitions' counters, one pipelined read per master),
  // by channel name; channels with none are absent.
  core::Outcome channel_exposed(std::vector<std::pair<std::string, std::int64_t>>* out);
  // The units set aside now for `channel` in each of `skus` (0 for a SKU that is gone or not exposed
  // to it), one pipelined read: what caps a pulled page (ClusterAdapter::run_publications_read).
  core::Outcome exposed_units(std::string_view channel, std::span<const std::string> skus,
                              std::vector<std::int64_t>* units);

  // Acknowledgement per batch (the front's pipelined requests): while deferred, an operation's last
  // WAIT is left out (the WAITs between its dependent steps are not), and acknowledge() then issues
  // one WAIT on every master written since. Its outcome applies to every write of the batch: a write
  // answered ok while deferred must be answered unavailable instead when acknowledge() fails.
  void defer_acknowledgement(bool on);
  core::Outcome acknowledge();

 private:
  ClusterStore();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stockd::backends
