// The cluster store's sweep, which every node runs about every --tick-ms: expires due holds (in
// expiry-time order across partitions), rolls back or finishes operations a crashed node left half
// done (holds, the transfers of split SKUs, stock batches), forgets finished holds and adjustment refs past
// their retention.
#include <algorithm>
#include <cstdlib>
#include <tuple>

#include "backends/cluster_store_impl.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {
constexpr std::size_t kSweepCalls = 7;  // per partition: due holds, stuck holds, old holds, old refs,
                                        // stuck transfers, stuck stock batches, stale publications
}  // namespace

std::size_t ClusterStore::Impl::sweep(std::int64_t now_ms, bool due_only) {
  std::string due = std::to_string(now_ms);
  std::string stuck = std::to_string(now_ms - opt.repair_after_ms);
  std::string old = std::to_string(now_ms - opt.hold_retention_ms);
  std::string limit = std::to_string(kSweepBatch);
  std::vector<ClusterClient::Call> calls;
  for (int k = 0; k < kPartitions; ++k) {
    std::string t = partition_tag(k);
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":x", "-inf", due, "WITHSCORES", "LIMIT", "0", limit}, true});
    if (due_only) continue;
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":pend", "-inf", stuck, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":ret", "-inf", old, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":rx", "-inf", old, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":spx", "-inf", stuck, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":bk", "-inf", due, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"SRANDMEMBER", t + ":exd", limit}, true});
  }
  std::vector<RedisReply> replies = cc->pipeline(calls);
  const std::size_t per_partition = due_only ? 1 : kSweepCalls;
  std::size_t acted = 0;
  StoreReply ignored;
  // Due holds expire in the order of their expiry time across partitions, as in the embedded core
  // (it decides which bucket gets units back when safety stock is short).
  std::vector<std::tuple<double, int, std::string>> due_holds;  // expires_at, partition, id
  for (std::size_t i = 0; i < replies.size(); i += per_partition) {
    const auto& e = replies[i].elements;
    if (replies[i].type == RedisReply::Type::array)
      for (std::size_t j = 0; j + 1 < e.size(); j += 2)
        due_holds.emplace_back(std::atof(e[j + 1].str.c_str()), static_cast<int>(i / per_partition), e[j].str);
  }
  std::stable_sort(due_holds.begin(), due_holds.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
  for (const auto& [at, k, id] : due_holds) {
    finish_hold(id, "expire", "", now_ms, &ignored, k);
    ++acted;
  }
  if (due_only) return acted;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].type != RedisReply::Type::array || i % kSweepCalls == 0) continue;
    int k = static_cast<int>(i / kSweepCalls);
    for (const RedisReply& member : replies[i].elements) {
      const std::string& id = member.str;
      switch (i % kSweepCalls) {
        case 1: repair(k, id, now_ms); break;
        case 2: forget(k, id); break;
        case 3: forget_ref(k, id); break;
        case 4: end_stuck_transfers(k, id, now_ms); break;
        case 5: end_stuck_batch(k, id, now_ms); break;
        case 6: expose_stale(k, id, now_ms); break;
      }
      ++acted;
    }
  }
  return acted;
}

// A SKU whose publication went stale (a hold took exposed units) and that its node did not expose
// again (it died, or every try met a newer version): exposed now (cluster_store_expose.cc).
void ClusterStore::Impl::expose_stale(int k, const std::string& sku, std::int64_t now_ms) {
  load_channels(now_ms, false, nullptr);
  const ChannelTable t = channels_copy();
  if (t.listed.empty()) {  // no channel listed any more: nothing to publish
    cc->command(partition_tag(k), {"SREM", partition_tag(k) + ":exd", sku});
    return;
  }
  if (core::Outcome o = expose_sku(sku, now_ms, t, nullptr, nullptr, true); !o.ok())
    spdlog::warn("event=expose_failed sku={} error=\"{}\"", sku, o.message);
}

void ClusterStore::Impl::repair(int k, const std::string& id, std::int64_t now_ms) {
  std::vector<std::string> keys = hold_keys_of_partition(k, id);
  RedisReply r = cc->command(keys[0], {"HGETALL", keys[0]}, true);
  if (r.type != RedisReply::Type::array) return;
  Fields rec = to_fields(r);
  if (rec.empty()) {
    cc->command(keys[2], {"ZREM", keys[2], id});
    return;
  }
  core::Outcome out;
  if (!drive(id, &rec, now_ms, &out, k)) spdlog::warn("event=hold_repair_failed id={} error=\"{}\"", id, out.message);
}

void ClusterStore::Impl::forget(int k, const std::string& id, bool unpoint) {
  std::vector<std::string> keys = hold_keys_of_partition(k, id);
  RedisReply r = cc->command(keys[0], {"HGETALL", keys[0]}, true);
  if (r.type != RedisReply::Type::array) return;
  Fields rec = to_fields(r);
  // A local hold in another partition than its id's: its pointer goes first (a pointer without its
  // hold would block the id; a hold without its pointer is found here again by the next sweep).
  if (unpoint && k != partition_of(id)) {
    RedisReply u = fcall("stockd_hold_unpoint", hold_keys(id), {id, std::to_string(k), ""}, true);
    if (u.type != RedisReply::Type::array) return;
  }
  // Lines first: while the finished record exists no new attempt with this id can begin.
  std::vector<ClusterClient::Call> calls;
  for (const LineRec& l : physical_lines(rec, "forget"))
    calls.push_back({line_key(id, l.sku), {"DEL", line_key(id, l.sku)}, true});
  for (const RedisReply& d : cc->pipeline(calls))
    if (d.is_error()) return;
  fcall("stockd_hold_forget", keys, {id}, true);
}

void ClusterStore::Impl::forget_ref(int k, const std::string& member) {
  auto nl = member.find('\n');
  if (nl == std::string::npos) return;
  std::string sku = member.substr(0, nl);
  std::string t = partition_tag(k);
  cc->command(refs_key(sku), {"HDEL", refs_key(sku), member.substr(nl + 1)});
  cc->command(t, {"ZREM", t + ":rx", member});
}

}  // namespace stockd::backends
