// cluster_store_impl.h: ClusterStore's internals, shared by cluster_store*.cc. Not a public header.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backends/cluster_client.h"
#include "backends/cluster_policy.h"
#include "backends/cluster_store.h"
#include "backends/outbox.h"
#include "core/batch.h"
#include "core/limits.h"

namespace stockd::backends {

extern const char* const kFunctionLibrary;  // cluster_functions.lua, embedded at build time
inline constexpr int kFunctionLibraryVersion = 9;
inline constexpr std::int64_t kTombstoneMs = 10 * 60 * 1000;  // see line_finish in the library
inline constexpr std::size_t kSweepBatch = 200;               // holds per index per partition per sweep
// Lua numbers are doubles: every figure the functions compute must stay exact.
static_assert(limits::kOnHandMax < (std::int64_t{1} << 53), "stock figures must be exact in Lua");

class ClusterShared {
 public:
  std::mutex mu;
  ChannelTable channels;
  std::int64_t channels_loaded_ms = -1;
  struct Alloc {
    std::string aver;
    AllocConfig cfg;
    int split = 0;  // shards the shared stock is split over now (0 or 1: not split)
    int smax = 0;   // the most shards it was ever split over (shards below it may hold units)
  };
  std::unordered_map<std::string, Alloc> alloc;  // by SKU, as last seen
};

// Keys (docs/cluster.md).
inline std::string tag_of(std::string_view name) { return partition_tag(partition_of(name)); }
inline std::string sku_key(std::string_view sku) { return tag_of(sku) + ":s:" + std::string(sku); }
inline std::string refs_key(std::string_view sku) { return tag_of(sku) + ":r:" + std::string(sku); }
inline std::string refs_index_key(std::string_view sku) { return tag_of(sku) + ":rx"; }
inline std::string line_key(std::string_view hold, std::string_view sku) {
  return tag_of(sku) + ":l:" + std::string(hold) + ":" + std::string(sku);
}
inline std::string live_lines_key(std::string_view sku) { return tag_of(sku) + ":ls:" + std::string(sku); }
inline std::string hold_key(std::string_view id) { return tag_of(id) + ":h:" + std::string(id); }
inline std::string channels_key() { return partition_tag(0) + ":channels"; }
inline std::string webhooks_key() { return partition_tag(0) + ":webhooks"; }  // channel -> encode_webhook
// Hot SKUs (cluster_store_split.cc): shard j of a SKU is the SKU-like hash of the name "<sku>#<j>"
// ('#' is no identifier character), in that name's partition.
inline constexpr int kSplitMax = static_cast<int>(limits::kSplitMax);
inline std::string shard_name(std::string_view sku, int j) { return std::string(sku) + "#" + std::to_string(j); }
inline std::string_view base_sku(std::string_view name) { return name.substr(0, name.find('#')); }
inline std::string transfers_key(int partition) { return partition_tag(partition) + ":spx"; }
std::string random_token();  // 16 hex digits
std::vector<std::string> hold_keys(std::string_view id);  // hold, expiry, repair, retention, outbox, pointer
std::vector<std::string> hold_keys_of_partition(int k, std::string_view id);

using Fields = std::map<std::string, std::string, std::less<>>;
Fields to_fields(const RedisReply& flat);  // HGETALL-style array -> map
std::int64_t field_int(const Fields& f, std::string_view name, std::int64_t dflt = 0);
std::string_view field_str(const Fields& f, std::string_view name);
// "sku:qty,sku:qty" of hold lines, in their order (cluster_store_holds.cc).
std::string join_lines(const std::vector<core::HoldLine>& lines);
// The hold record in a STATE/EXISTS/OK/NEW reply {tag, flat fields}; false when there is none.
bool record_of(const RedisReply& r, Fields* rec);

core::Outcome fail(core::Code code, std::string message);
ChannelRecord channel_record(const ChannelInfo& c);

struct LineRec {
  std::string sku;  // a SKU, or a shard "<sku>#<j>"
  std::int64_t qty = 0;
};
// The allocation a STALE reply carries: {"STALE", aver, cfg, spl, smax}.
ClusterShared::Alloc alloc_of_stale(const RedisReply& r);
bool is_stale(const RedisReply& r);

struct ClusterStore::Impl {
  ClusterStoreOptions opt;
  std::shared_ptr<ClusterShared> shared;
  std::unique_ptr<ClusterClient> cc;

  // Calls FCALL fn with keys and args; the first key routes it.
  RedisReply fcall(std::string_view fn, const std::vector<std::string>& keys, const std::vector<std::string>& args,
                   bool idempotent = false);
  ClusterClient::Call fcall_call(std::string_view fn, const std::vector<std::string>& keys,
                                 const std::vector<std::string>& args, bool idempotent = false);
  // A reply that is not what the library answers (I/O error, cluster down, script error).
  static core::Outcome transport_error(const RedisReply& r);
  // ERR replies of the library: {"ERR", code, message}.
  static bool library_error(const RedisReply& r, core::Outcome* out);
  // WAIT for the writes of this operation; unavailable when they did not reach enough replicas.
  core::Outcome replicate();
  // The operation's last WAIT: left to acknowledge() while `deferred`.
  core::Outcome acknowledged() { return deferred ? core::Outcome{} : replicate(); }
  bool deferred = false;
  bool load_library(std::string* error);

  // Channels (cached, reloaded after channel_cache_ms or on demand).
  bool load_channels(std::int64_t now_ms, bool force, std::string* error);
  ChannelTable channels_copy();
  // A SKU's allocation as cached (aver "" when never seen); remember() updates the cache.
  ClusterShared::Alloc alloc_of(const std::string& sku);
  void remember(const std::string& sku, const Fields& f);
  // Caches the allocation a STALE reply carries; returns it.
  ClusterShared::Alloc remember_stale(const std::string& sku, const RedisReply& stale);

  // cluster_store_expose.cc: listed channels. any_listed: the (cached) channel table lists one.
  // expose_sku: the core's expose_sku over the SKU's hash (`known`, else read), applied by
  // stockd_expose; *after (if given and anything changed): the hash after. expose_skus/expose_hold:
  // after writes (nothing when no channel is listed). expose_all: every SKU (a listing, priority or
  // state changed), after `dropped`'s exposures went back (a channel no longer listed).
  bool any_listed(std::int64_t now_ms);
  // settle: call stockd_expose even when nothing moved (it clears the SKU's stale mark).
  core::Outcome expose_sku(const std::string& sku, std::int64_t now_ms, const ChannelTable& t,
                           const Fields* known = nullptr, Fields* after = nullptr, bool settle = false);
  void expose_stale(int partition, const std::string& sku, std::int64_t now_ms);  // the sweep's
  void expose_skus(const std::vector<std::string>& skus, std::int64_t now_ms);
  void expose_hold(const Fields& rec, std::int64_t now_ms);
  core::Outcome expose_all(std::int64_t now_ms, const std::string& dropped);
  core::Outcome all_skus(std::vector<std::string>* skus);  // SCAN of every master
  core::Outcome ack_exposures(std::string_view channel, std::span<const PublicationAck> acks, std::int64_t now_ms);
  core::Outcome channel_exposed(std::vector<std::pair<std::string, std::int64_t>>* out);

  // cluster_store.cc: SKU and channel writes.
  core::Outcome put_channel(const core::PutChannel& c, std::int64_t now_ms, StoreReply* reply);
  core::Outcome put_sku(const core::PutSku& c, std::int64_t now_ms, StoreReply* reply);
  core::Outcome adjust(const core::Adjust& c, std::int64_t now_ms, StoreReply* reply);
  core::Outcome set_allocation(const core::SetAllocation& c, std::int64_t now_ms, StoreReply* reply);
  core::Outcome close_pool(const core::ClosePool& c, std::int64_t now_ms, StoreReply* reply);
  // Runs a SKU function that answers OK/REPLAY with the hash, or STALE (retried with a fresh
  // allocation); `make_args` builds the ARGV for the current channels and allocation.
  template <typename MakeArgs>
  core::Outcome sku_write(std::string_view fn, const std::string& sku, const std::vector<std::string>& keys,
                          MakeArgs make_args, std::int64_t now_ms, StoreReply* reply);

  // cluster_store_holds.cc (create_many, local_calls, create_local and the other local-hold functions:
  // cluster_store_local.cc)
  core::Outcome create_hold(const core::CreateHold& c, std::int64_t now_ms, StoreReply* reply);
  // What create_hold decides before its first call: the channel, the canonical lines, the TTL, the
  // attempt token, and the home partition of a local hold (-1: the multi-partition path).
  struct HoldPlan {
    ChannelTable channels;  // the channels as this hold sees them (one copy per hold)
    ChannelInfo ch;
    std::string canon;
    std::int64_t ttl_ms = 0;
    std::string att;
    int home = -1;
  };
  // False with *out when the hold is answered already (unknown channel, or its id taken then).
  bool plan_hold(const core::CreateHold& c, std::int64_t now_ms, HoldPlan* plan, core::Outcome* out);
  // create_hold after its plan; `first`: the replies to local_calls(..., with_claim) when the caller
  // already sent them (create_many), else nullptr.
  core::Outcome create_planned(const core::CreateHold& c, const HoldPlan& plan, std::int64_t now_ms,
                               StoreReply* reply, const std::vector<RedisReply>* first);
  // Many holds at once (ClusterStore::create_many).
  void create_many(std::span<const core::CreateHold* const> holds, std::span<const std::int64_t> now_ms,
                   std::span<core::Outcome> outs, std::span<StoreReply> replies);
  // The first round of a local hold: the create in its home partition, and the claim of its id when
  // with_claim (the id lives in another partition).
  std::vector<ClusterClient::Call> local_calls(const core::CreateHold& c, const ChannelTable& channels,
                                               const ChannelInfo& ch, int home,
                                               const std::string& canon, std::int64_t ttl_ms, const std::string& att,
                                               std::int64_t now_ms, bool with_claim);
  // A local sale whose id lives elsewhere claims its id alone, before its create (which consumes).
  bool local_claims_first(const core::CreateHold& c, int home);
  // A hold whose lines all live in one partition (and none is of a split SKU): that partition, else -1.
  int local_home(const core::CreateHold& c);
  // Creates such a hold in one call in its home partition (with, when that is not its id's partition,
  // the pointer there in the same round trip). False when it must take the multi-partition path
  // instead (*out unset); true with *out (and *reply) the answer otherwise.
  bool create_local(const core::CreateHold& c, const ChannelTable& channels, const ChannelInfo& ch, int home,
                    const std::string& canon,
                    std::int64_t ttl_ms, const std::string& att, std::int64_t now_ms, StoreReply* reply,
                    core::Outcome* out, const std::vector<RedisReply>* first = nullptr);
  // A replay of an existing hold: the hold as it is now (expired if its time is up); a sale of a hold
  // that is held is idempotency_conflict.
  core::Outcome replay(const core::CreateHold& c, std::int64_t now_ms, StoreReply* reply);
  // The answer to a pointer reply {PTR, home, canon, ch, att, t} met by a new hold: ok when it names
  // this very hold (home, canon and channel), a replaced dangling pointer, else idempotency_conflict.
  bool pointer_is_ours(const core::CreateHold& c, int home, const std::string& canon, const RedisReply& ptr,
                       const std::string& att, std::int64_t now_ms, core::Outcome* out);
  core::Outcome take_lines(const core::CreateHold& c, const ChannelInfo& ch, const std::string& att,
                           std::int64_t now_ms, StoreReply* reply);
  core::Outcome verdict(const core::CreateHold& c, const std::vector<RedisReply>& result);
  void repair(int partition, const std::string& id, std::int64_t now_ms);
  // Forgets a finished hold: its pointer (unless !unpoint: a hold never claimed), lines, record.
  void forget(int partition, const std::string& id, bool unpoint = true);
  void forget_ref(int partition, const std::string& member);
  // cluster_store_finish.cc. `partition`: where the hold's record is when the caller knows (-1: look
  // in the id's partition, which points to it when it lives elsewhere).
  core::Outcome finish_hold(const std::string& id, std::string_view action, const std::string& confirm_lines,
                            std::int64_t now_ms, StoreReply* reply, int partition = -1);
  core::Outcome extend_hold(const core::ExtendHold& c, std::int64_t now_ms, StoreReply* reply);
  // Drives a hold in an intermediate state (confirming, releasing, expiring, aborting) to its end.
  // Returns the record afterwards; false on a transport error (*out set).
  bool drive(const std::string& id, Fields* rec, std::int64_t now_ms, core::Outcome* out, int partition = -1);
  bool finish_lines(const std::string& id, const Fields& rec, std::string_view kind, std::int64_t now_ms,
                    core::Outcome* out);
  bool confirm_wants(const std::string& id, const Fields& rec, const std::vector<LineRec>& lines,
                     std::vector<std::int64_t>* want, core::Outcome* out);
  std::vector<LineRec> physical_lines(const Fields& rec, std::string_view kind);
  std::size_t sweep(std::int64_t now_ms, bool due_only);

  // cluster_store_split.cc: hot SKUs split over shards (docs/cluster.md "Hot SKUs").
  // Ends transfers begun at home (T, "<j>|out|<qty>" or "<j>|back|0"). False on a transport error.
  bool end_transfers(const std::string& sku, const std::vector<std::pair<std::string, std::string>>& begun,
                     std::int64_t max_per_hold, std::int64_t now_ms, core::Outcome* out);
  // Ends the transfers the home hash lists as begun and reads it again.
  bool settle(const std::string& sku, Fields* home, std::int64_t now_ms, core::Outcome* out);
  // Brings every shard's free units and unreported sales home (before a SKU write).
  bool gather(const std::string& sku, std::int64_t now_ms, core::Outcome* out);
  // Moves home's free shared units to the SKU's shards, evenly (after a SKU write).
  bool spread(const std::string& sku, const Fields& home, std::int64_t now_ms, core::Outcome* out);
  bool gather_shards(const std::string& sku, const std::vector<int>& shards, std::int64_t max_per_hold,
                     std::int64_t now_ms, core::Outcome* out);
  // Reads every shard of a split SKU after ending its transfers and bringing parked units home.
  struct ShardState {
    std::int64_t on_hand = 0, held = 0, moved_in = 0, free = 0;
  };
  bool read_shards(const std::string& sku, Fields* home, std::vector<ShardState>* shards, std::int64_t now_ms,
                   core::Outcome* out);
  // Adds the shards of a split SKU to its home fields: oh, hd and F:sh become the SKU's.
  bool merge_shards(const std::string& sku, Fields* home, std::int64_t now_ms, core::Outcome* out);
  // Takes one line of a split SKU: its shard first, then wherever the units are. Appends the
  // physical lines taken ("name:qty") to *taken; *result is what a take of the whole line answers.
  void take_split(const core::CreateHold& c, std::size_t line, const ChannelTable& channels, const std::string& att,
                  std::int64_t now_ms, RedisReply* result, std::vector<std::pair<std::string, std::int64_t>>* taken);
  // take_split's parts: the take call of `qty` units of c's line in `name` (home or shard), and one
  // round of reading the whole SKU and taking where the units are (true: *result is final).
  struct SplitTake {
    std::set<std::string> used;  // places a take of this line already succeeded in
    std::int64_t got = 0;        // units taken so far
    std::int64_t seen = 0;       // units the last round could reach
  };
  ClusterClient::Call split_take_call(const core::CreateHold& c, const std::string& name, std::int64_t qty,
                                      const std::string& aver, const std::vector<std::string>& order,
                                      std::int64_t now_ms, const std::string& att);
  bool take_split_round(const core::CreateHold& c, std::size_t line, const ChannelTable& channels,
                        const std::string& att, std::int64_t now_ms, int first, SplitTake* t, RedisReply* result,
                        std::vector<std::pair<std::string, std::int64_t>>* taken);
  void end_stuck_transfers(int partition, const std::string& member, std::int64_t now_ms);

  // cluster_store_batch.cc: stock batches (docs/cluster.md "Stock batches").
  struct BatchPart;
  core::Outcome stock_batch(const core::StockBatch& c, std::int64_t now_ms, StoreReply* reply);
  ClusterClient::Call batch_prep(const core::StockBatch& c, const std::string& id, const BatchPart& part,
                                 const core::BatchPlan& plan, std::int64_t now_ms);
  bool batch_figures(const std::vector<std::string>& skus, std::map<std::string, core::BatchFigures, std::less<>>* figures,
                     std::set<std::string, std::less<>>* split, core::Outcome* out);
  ClusterClient::Call batch_end(const std::string& id, int partition, const std::vector<std::string>& skus,
                                bool commit, std::int64_t now_ms);
  RedisReply batch_mark(const std::string& id, std::string_view from, std::string_view to, const std::string& answer);
  core::Outcome batch_views(const core::BatchAnswer& a, std::int64_t now_ms,
                            std::map<std::string, SkuRecord, std::less<>>* known, StoreReply* reply);
  void end_stuck_batch(int partition, const std::string& id, std::int64_t now_ms);

  // cluster_store_read.cc
  void fill_sku(const std::string& sku, const Fields& f, const ChannelTable& channels, SkuRecord* out);
  static void fill_hold(const std::string& id, const Fields& f, HoldRecord* out);
  core::Outcome get_sku(std::string_view sku, std::int64_t now_ms, StoreReply* reply);
  core::Outcome get_hold(std::string_view id, std::int64_t now_ms, StoreReply* reply);
  // The partition a {'AT', home} reply names, or -1 when r is not one.
  static int at_partition(const RedisReply& r);
  core::Outcome availability(std::string_view channel, const std::vector<std::string_view>& skus,
                             std::int64_t now_ms, StoreReply* reply);
  core::Outcome reconcile(bool repair, std::int64_t now_ms, StoreReply* reply);
  core::Outcome orphan_lines(const std::string& sku, bool repair, std::int64_t now_ms, StoreReply* reply);
};

}  // namespace stockd::backends
