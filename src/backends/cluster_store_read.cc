// Reads on the cluster store (SKU views, holds, availability) and the reconciler of Redis's own
// counters. A read that meets a hold whose time is up expires it first, as the embedded core does.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>

#include "backends/cluster_store_impl.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

std::int64_t sum_free(const Fields& f, const std::vector<std::string>& buckets) {
  std::int64_t sum = 0;
  for (const std::string& b : buckets) sum += field_int(f, "F:" + b);
  return sum;
}

core::HoldState state_of(std::string_view st) {
  if (st == "confirmed") return core::HoldState::confirmed;
  if (st == "released") return core::HoldState::released;
  if (st == "expired") return core::HoldState::expired;
  return core::HoldState::held;
}

}  // namespace

void ClusterStore::Impl::fill_sku(const std::string& sku, const Fields& f, const ChannelTable& channels, SkuRecord* out) {
  AllocConfig cfg;
  AllocConfig::decode(field_str(f, "cfg"), &cfg);
  *out = SkuRecord{};
  out->name = sku;
  out->on_hand = field_int(f, "oh");
  out->safety_stock = field_int(f, "ss");
  out->held = field_int(f, "hd");
  out->exposed = field_int(f, "ex");
  out->available = std::max<std::int64_t>(0, out->on_hand - out->safety_stock - out->held - out->exposed);
  out->max_per_hold = field_int(f, "mph");
  std::int64_t lst = field_int(f, "lst", -1);
  out->low_stock_threshold_explicit = lst >= 0;
  out->low_stock_threshold = lst >= 0 ? lst : field_int(f, "base") * opt.low_stock_permille / 1000;
  out->version = static_cast<std::uint64_t>(field_int(f, "ver"));
  for (const ChannelInfo& c : channels.channels) {
    std::int64_t avail = sum_free(f, draw_order(cfg, channels, c.name));
    if (c.listing) {
      const std::int64_t units = field_int(f, "E:" + c.name);
      if (c.state != core::ChannelState::frozen) avail += units;
      // A hold that took exposed units leaves the publication stale until the node exposes the SKU
      // again (right after that write): meanwhile at most what is set aside is shown.
      std::int64_t published = std::max<std::int64_t>(0, field_int(f, "EP:" + c.name));
      if (field_str(f, "ES:" + c.name) == "1") published = std::min(published, units);
      out->exposures.push_back({c.name, published, units, field_int(f, "EV:" + c.name)});
    }
    out->channels.emplace_back(c.name, avail);
  }
  for (const auto& fence : cfg.fences) {
    std::string b = fence_bucket(fence.channel);
    std::int64_t held = field_int(f, "H:" + b);
    out->fences.push_back({fence.channel, fence.ratio_ppb, fence.units, field_int(f, "F:" + b) + held, held});
  }
  for (const auto& pool : cfg.pools) {
    if (!pool.open) continue;
    std::string b = pool_bucket(pool.name);
    std::int64_t held = field_int(f, "H:" + b);
    out->pools.push_back({pool.name, pool.units, field_int(f, "F:" + b) + held, held, pool.channels});
  }
  out->shared_free = field_int(f, "F:sh");
  out->preempt = cfg.preempt;
  out->split = field_int(f, "spl");
}

void ClusterStore::Impl::fill_hold(const std::string& id, const Fields& f, HoldRecord* out) {
  *out = HoldRecord{};
  out->id = id;
  out->channel = std::string(field_str(f, "ch"));
  out->state = state_of(field_str(f, "st"));
  std::string_view lines = out->state == core::HoldState::confirmed && f.count("cl") ? field_str(f, "cl") : field_str(f, "lines");
  while (!lines.empty()) {
    auto comma = lines.find(',');
    std::string_view item = lines.substr(0, comma);
    auto colon = item.rfind(':');
    if (colon != std::string_view::npos) {
      core::HoldLine l{std::string(item.substr(0, colon)), 0};
      std::from_chars(item.data() + colon + 1, item.data() + item.size(), l.qty);
      out->lines.push_back(std::move(l));
    }
    if (comma == std::string_view::npos) break;
    lines.remove_prefix(comma + 1);
  }
  out->created_at_ms = field_int(f, "cat");
  out->expires_at_ms = field_int(f, "exp");
  out->finished_at_ms = field_int(f, "fin");
}

core::Outcome ClusterStore::Impl::get_sku(std::string_view sku, std::int64_t now_ms, StoreReply* reply) {
  std::string key = sku_key(sku);
  RedisReply r = cc->command(key, {"HGETALL", key}, true);
  if (r.type != RedisReply::Type::array) return transport_error(r);
  Fields f = to_fields(r);
  // No version: no SKU (a stock batch's lock on a SKU it is creating, docs/cluster.md "Stock batches").
  if (f.count("ver") == 0) return fail(core::Code::unknown_sku, "unknown sku " + std::string(sku));
  remember(std::string(sku), f);
  if (core::Outcome out; !merge_shards(std::string(sku), &f, now_ms, &out)) return out;
  load_channels(now_ms, false, nullptr);
  reply->kind = StoreReply::Kind::sku;
  fill_sku(std::string(sku), f, channels_copy(), &reply->sku);
  return {};
}

core::Outcome ClusterStore::Impl::get_hold(std::string_view id_view, std::int64_t now_ms, StoreReply* reply) {
  std::string id(id_view);
  std::vector<std::string> keys = hold_keys(id);
  // The record, or the pointer to a local hold in another partition: one round trip, then one more.
  std::vector<RedisReply> r = cc->pipeline({{keys[0], {"HGETALL", keys[0]}, true}, {keys[5], {"HGET", keys[5], "home"}, true}});
  if (r[0].type != RedisReply::Type::array) return transport_error(r[0]);
  if (r[1].is_error()) return transport_error(r[1]);
  Fields rec = to_fields(r[0]);
  int partition = -1;
  if (rec.empty() && r[1].type == RedisReply::Type::string) {
    partition = std::atoi(r[1].str.c_str());
    std::string key = hold_keys_of_partition(partition, id)[0];
    RedisReply h = cc->command(key, {"HGETALL", key}, true);
    if (h.type != RedisReply::Type::array) return transport_error(h);
    rec = to_fields(h);
  }
  std::string_view st = field_str(rec, "st");
  if (rec.empty() || st == "pending" || st == "aborting") return fail(core::Code::unknown_hold, "unknown hold " + id);
  if ((st == "held" && now_ms >= field_int(rec, "exp")) || st == "confirming" || st == "releasing" || st == "expiring") {
    core::Outcome out = finish_hold(id, "expire", "", now_ms, reply, partition);
    if (!out.ok()) return out;
    if (reply->kind == StoreReply::Kind::hold) return out;
    return get_hold(id, now_ms, reply);
  }
  reply->kind = StoreReply::Kind::hold;
  fill_hold(id, rec, &reply->hold);
  core::Outcome out;
  out.hold_state = reply->hold.state;
  return out;
}

core::Outcome ClusterStore::Impl::availability(std::string_view channel, const std::vector<std::string_view>& skus,
                                               std::int64_t now_ms, StoreReply* reply) {
  load_channels(now_ms, false, nullptr);
  ChannelTable channels = channels_copy();
  if (!channels.find(channel)) {
    load_channels(now_ms, true, nullptr);
    channels = channels_copy();
    if (!channels.find(channel)) return fail(core::Code::unknown_channel, "unknown channel " + std::string(channel));
  }
  std::vector<std::string> names;
  for (std::string_view s : skus)
    if (std::find(names.begin(), names.end(), s) == names.end()) names.emplace_back(s);
  std::vector<ClusterClient::Call> calls;
  for (const std::string& s : names) calls.push_back({sku_key(s), {"HGETALL", sku_key(s)}, true});
  std::vector<RedisReply> replies = cc->pipeline(calls);
  reply->kind = StoreReply::Kind::availability;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (replies[i].type != RedisReply::Type::array) return transport_error(replies[i]);
    Fields f = to_fields(replies[i]);
    if (f.empty()) {
      reply->unknown.push_back(names[i]);
      continue;
    }
    if (core::Outcome out; !merge_shards(names[i], &f, now_ms, &out)) return out;
    AllocConfig cfg;
    AllocConfig::decode(field_str(f, "cfg"), &cfg);
    std::int64_t units = sum_free(f, draw_order(cfg, channels, channel));
    if (const ChannelInfo* ci = channels.find(channel); ci && ci->listing && ci->state != core::ChannelState::frozen)
      units += field_int(f, "E:" + std::string(channel));
    reply->available.emplace_back(names[i], units);
  }
  return {};
}

// Every SKU is checked by stockd_sku_check, atomically in its slot: held equals the units of its live
// hold lines, the free units of its buckets add up to its available, on_hand >= held >= 0. With
// `repair`, a SKU that fails gets held = its lines' units and is resized (the lines are the record of
// what is held). SKUs are found with one SCAN per master.
core::Outcome ClusterStore::Impl::reconcile(bool repair, std::int64_t now_ms, StoreReply* reply) {
  reply->kind = StoreReply::Kind::reconcile;
  load_channels(now_ms, true, nullptr);
  ChannelTable channels = channels_copy();
  std::vector<std::string> skus;
  if (core::Outcome o = all_skus(&skus); !o.ok()) return o;
  for (const std::string& sku : skus) {
    ++reply->skus_checked;
    if (core::Outcome o = orphan_lines(sku, repair, now_ms, reply); !o.ok()) return o;
    for (int attempt = 0; attempt < 4; ++attempt) {
      ClusterShared::Alloc a = alloc_of(sku);
      RedisReply r = fcall("stockd_sku_check", {sku_key(sku), outbox_key(partition_of(sku)), live_lines_key(sku)},
                           {sku, std::to_string(now_ms), sizing_plan(a.cfg, channels), a.aver.empty() ? "-" : a.aver,
                            repair ? "1" : "0"});
      if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
      const std::string& tag = r.elements[0].str;
      if (is_stale(r)) {
        remember_stale(sku, r);
        continue;
      }
      if ((tag == "DRIFT" || tag == "REPAIRED") && r.elements.size() >= 6) {
        std::string line = "sku " + sku + ": held " + r.elements[1].str + " vs " + r.elements[2].str +
                           " in live hold lines, free " + r.elements[3].str + " vs available " + r.elements[4].str;
        if (tag == "REPAIRED") line += " (repaired: held set from the lines, buckets resized)";
        spdlog::warn("event=reconcile_drift {}", line);
        reply->drift.push_back(std::move(line));
      }
      break;
    }
  }
  return acknowledged();
}

// A held line whose hold record is gone, or belongs to another attempt, has no one to finish it: a
// failover lost the record (hold_begin) but kept the take. Nothing else creates one (a hold's record
// exists before its first take and goes after its lines are finished), so with `repair` its units are
// given back (line_finish for its own attempt), which also lets a retry with the same id succeed.
core::Outcome ClusterStore::Impl::orphan_lines(const std::string& sku, bool repair, std::int64_t now_ms,
                                               StoreReply* reply) {
  RedisReply ids = cc->command(live_lines_key(sku), {"SMEMBERS", live_lines_key(sku)}, true);
  if (ids.type != RedisReply::Type::array) return transport_error(ids);
  if (ids.elements.empty()) return {};
  std::vector<ClusterClient::Call> calls;
  for (const RedisReply& id : ids.elements) {
    calls.push_back({line_key(id.str, sku), {"HMGET", line_key(id.str, sku), "st", "a"}, true});
    calls.push_back({hold_key(id.str), {"HGET", hold_key(id.str), "att"}, true});
    // a local hold's record is in its lines' partition (cluster_store_local.cc)
    std::string local = tag_of(sku) + ":h:" + id.str;
    calls.push_back({local, {"HGET", local, "att"}, true});
  }
  std::vector<RedisReply> got = cc->pipeline(calls);
  for (std::size_t i = 0; i < ids.elements.size(); ++i) {
    const RedisReply& line = got[3 * i];
    const RedisReply& att = got[3 * i + 1];
    const RedisReply& local_att = got[3 * i + 2];
    if (line.type != RedisReply::Type::array || line.elements.size() != 2 || att.is_error() || local_att.is_error())
      return transport_error(line.is_error() ? line : att.is_error() ? att : local_att);
    if (line.elements[0].str != "held") continue;
    const std::string& line_att = line.elements[1].str;
    if (att.type == RedisReply::Type::string && att.str == line_att) continue;
    if (local_att.type == RedisReply::Type::string && local_att.str == line_att) continue;
    const std::string& id = ids.elements[i].str;
    // Read the line again, after the record: a hold finished meanwhile (lines first, record last)
    // no longer has this line held.
    RedisReply again = cc->command(line_key(id, sku), {"HMGET", line_key(id, sku), "st", "a"}, true);
    if (again.type != RedisReply::Type::array || again.elements.size() != 2) return transport_error(again);
    if (again.elements[0].str != "held" || again.elements[1].str != line_att) continue;
    std::string msg = "sku " + sku + ": hold line " + id + " is held but its hold " +
                      (att.type == RedisReply::Type::string ? "is another attempt" : "does not exist");
    if (repair) {
      RedisReply r = fcall("stockd_line_finish", {sku_key(sku), line_key(id, sku), outbox_key(partition_of(sku)), live_lines_key(sku)},
                           {sku, id, "abort", std::to_string(now_ms), std::to_string(kTombstoneMs), "0", line_att}, true);
      if (r.type != RedisReply::Type::array || r.elements.empty() || r.elements[0].str != "OK") return transport_error(r);
      msg += " (repaired: its units given back)";
    }
    spdlog::warn("event=reconcile_orphan_line {}", msg);
    reply->drift.push_back(std::move(msg));
  }
  return {};
}

// ---- views

core::ChannelView ChannelRecord::view() const {
  core::ChannelView v;
  v.name = name;
  v.priority = priority;
  v.hold_ttl_s = hold_ttl_s;
  v.state = state;
  v.frozen_reason = frozen_reason;
  v.exposed = exposed;
  v.listing = listing;
  v.webhook = webhook;
  v.last_publication_seq = last_publication_seq;
  v.acked_publication_seq = acked_publication_seq;
  v.pending_publications = pending_publications;
  return v;
}

core::SkuView SkuRecord::view() const {
  core::SkuView v;
  v.name = name;
  v.on_hand = on_hand;
  v.safety_stock = safety_stock;
  v.held = held;
  v.available = available;
  v.exposed = exposed;
  v.max_per_hold = max_per_hold;
  v.low_stock_threshold = low_stock_threshold;
  v.low_stock_threshold_explicit = low_stock_threshold_explicit;
  v.version = version;
  for (const auto& [ch, a] : channels) {
    v.channels.push_back({ch, a});
    for (const Exposure& e : exposures)
      if (e.channel == ch) {
        v.channels.back().published = e.published;
        v.channels.back().exposed = e.exposed;
      }
  }
  for (const Fence& f : fences) v.fences.push_back({f.channel, f.ratio_ppb, f.units, f.size, f.held});
  for (const Pool& p : pools) {
    core::PoolView pv{p.name, p.units, {}, p.size, p.held};
    for (const std::string& c : p.channels) pv.channels.push_back(c);
    v.pools.push_back(std::move(pv));
  }
  v.shared_free = shared_free;
  v.preempt = preempt;
  v.split = split;
  return v;
}

core::HoldView HoldRecord::view() const {
  core::HoldView v;
  v.id = id;
  v.channel = channel;
  v.state = state;
  for (const auto& l : lines) v.lines.push_back({l.sku, l.qty});
  v.created_at_ms = created_at_ms;
  v.expires_at_ms = expires_at_ms;
  v.finished_at_ms = finished_at_ms;
  return v;
}

}  // namespace stockd::backends
