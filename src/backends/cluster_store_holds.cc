// Holds on the cluster store: create (per-line takes with compensation). Confirm, release, expiry,
// extend and the repair of operations a crashed node left half done are in cluster_store_finish.cc
// (their sweep in cluster_store_sweep.cc); the protocol of both is below.
//
// A local hold (every line in one partition, no split SKU) lives with its lines in that partition and
// is one call: hold_create (checks, takes, record "held"; a sale is confirmed in the same call), with
// the id's pointer (hold_claim) written in the same round trip when the id's partition is another;
// its confirm, release and expiry are one call of hold_finish_begin (docs/cluster.md "Local holds").
// Any other hold's record lives in its id's partition, each line in its SKU's partition, so it is a
// sequence of single-slot function calls:
//   create:  hold_begin (record "pending", idempotency check) -> take per line (pipelined) ->
//            all taken: hold_commit ("held", or "confirming" for a sale, then as confirm);
//            one refused: hold_abort ("aborting") -> give back the taken lines -> hold_drop.
//   confirm / release / expire: hold_finish_begin ("confirming" | "releasing" | "expiring") ->
//            line_finish per line (consume and/or give back) -> hold_finish_end (final state).
// Every step is idempotent, and every intermediate state is in the partition's repair index
// (":pend"), so whoever finds it there later (any node's sweep(), or a request for the same hold)
// drives it to its end: a crash between lines never leaks a unit nor returns one twice. A line
// record belongs to one attempt (att); a repair that gives up a "pending" hold tombstones the lines
// its attempt had not taken yet, so a take still in flight cannot land afterwards.
#include <algorithm>
#include <cstdlib>

#include "backends/cluster_store_impl.h"
#include "core/assert.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {

std::string join_lines(const std::vector<core::HoldLine>& lines) {
  std::string s;
  for (const auto& l : lines) s += (s.empty() ? "" : ",") + l.sku + ":" + std::to_string(l.qty);
  return s;
}

bool record_of(const RedisReply& r, Fields* rec) {
  if (r.type != RedisReply::Type::array || r.elements.size() < 2) return false;
  *rec = to_fields(r.elements[1]);
  return true;
}

bool ClusterStore::Impl::plan_hold(const core::CreateHold& c, std::int64_t now_ms, HoldPlan* plan, core::Outcome* out) {
  load_channels(now_ms, false, nullptr);
  ChannelTable channels = channels_copy();
  if (!channels.find(c.channel)) {
    load_channels(now_ms, true, nullptr);
    channels = channels_copy();
  }
  const ChannelInfo* ch = channels.find(c.channel);
  if (!ch) {
    std::vector<std::string> keys = hold_keys(c.id);
    RedisReply r = cc->command(keys[0], {"EXISTS", keys[0], keys[5]}, true);  // the record or its pointer
    if (r.type == RedisReply::Type::integer && r.integer >= 1)
      *out = fail(core::Code::idempotency_conflict, "hold " + c.id + " exists with another channel or lines");
    else
      *out = fail(core::Code::unknown_channel, "unknown channel " + c.channel);
    return false;
  }
  plan->ch = *ch;  // ch points into `channels`: copied before the table moves into the plan
  plan->channels = std::move(channels);
  std::vector<core::HoldLine> sorted = c.lines;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.sku < b.sku; });
  plan->canon = join_lines(sorted);
  plan->ttl_ms = c.ttl_s.value_or(plan->ch.hold_ttl_s) * 1000;
  plan->att = random_token();
  // (A frozen listed channel may still sell its exposure: its takes carry the bucket "~", draw_order.)
  plan->home = plan->ch.state == core::ChannelState::frozen && !plan->ch.listing ? -1 : local_home(c);
  return true;
}

core::Outcome ClusterStore::Impl::create_hold(const core::CreateHold& c, std::int64_t now_ms, StoreReply* reply) {
  HoldPlan plan;
  core::Outcome out;
  if (!plan_hold(c, now_ms, &plan, &out)) return out;
  return create_planned(c, plan, now_ms, reply, nullptr);
}

core::Outcome ClusterStore::Impl::create_planned(const core::CreateHold& c, const HoldPlan& plan, std::int64_t now_ms,
                                                 StoreReply* reply, const std::vector<RedisReply>* first) {
  const ChannelInfo* ch = &plan.ch;
  const std::string& att = plan.att;
  const std::int64_t ttl_ms = plan.ttl_ms;
  std::vector<std::string> keys = hold_keys(c.id);
  core::Outcome out;
  if (plan.home >= 0 && create_local(c, plan.channels, *ch, plan.home, plan.canon, ttl_ms, att, now_ms, reply, &out, first))
    return out;
  RedisReply r = fcall("stockd_hold_begin", keys,
                       {c.id, c.channel, join_lines(c.lines), plan.canon, c.confirm ? "1" : "0",
                        std::to_string(now_ms), std::to_string(ttl_ms), att});
  if (library_error(r, &out)) return out;
  if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
  if (r.elements[0].str == "PTR") {  // a local hold elsewhere has this id
    if (r.elements.size() < 4 || r.elements[2].str != plan.canon || r.elements[3].str != c.channel)
      return fail(core::Code::idempotency_conflict, "hold " + c.id + " exists with another channel or lines");
    return replay(c, now_ms, reply);
  }
  if (r.elements[0].str == "EXISTS") {
    Fields rec;
    record_of(r, &rec);
    std::string_view st = field_str(rec, "st");
    if (st == "pending" || st == "aborting")
      return fail(core::Code::overloaded, "hold " + c.id + " is being created by another request: retry");
    return get_hold(c.id, now_ms, reply);  // a replay: the hold as it is now (expired if its time is up)
  }
  if (ch->state == core::ChannelState::frozen && !ch->listing) {
    Fields rec{{"lines", join_lines(c.lines)}, {"pl", ""}, {"att", att}, {"st", "aborting"}};  // nothing taken
    fcall("stockd_hold_abort", keys, {c.id, std::to_string(now_ms)});
    if (!drive(c.id, &rec, now_ms, &out)) return out;
    return fail(core::Code::channel_frozen, "channel " + c.channel + " is frozen");
  }
  return take_lines(c, *ch, att, now_ms, reply);
}

core::Outcome ClusterStore::Impl::replay(const core::CreateHold& c, std::int64_t now_ms, StoreReply* reply) {
  core::Outcome out = get_hold(c.id, now_ms, reply);
  if (out.ok() && c.confirm && reply->hold.state == core::HoldState::held)
    return fail(core::Code::idempotency_conflict, "hold " + c.id + " exists and is held, not sold: confirm it instead");
  return out;
}

core::Outcome ClusterStore::Impl::take_lines(const core::CreateHold& c, const ChannelInfo& ch, const std::string& att,
                                             std::int64_t now_ms, StoreReply* reply) {
  ChannelTable channels = channels_copy();
  std::vector<std::string> keys = hold_keys(c.id);
  std::vector<RedisReply> result(c.lines.size());
  std::vector<std::vector<std::pair<std::string, std::int64_t>>> taken(c.lines.size());
  std::vector<std::size_t> todo, split_lines;
  for (std::size_t i = 0; i < c.lines.size(); ++i) (alloc_of(c.lines[i].sku).smax > 0 ? split_lines : todo).push_back(i);
  for (int round = 0; round < 4 && !todo.empty(); ++round) {
    std::vector<ClusterClient::Call> calls;
    for (std::size_t i : todo) {
      const core::HoldLine& l = c.lines[i];
      ClusterShared::Alloc a = alloc_of(l.sku);
      std::vector<std::string> args{l.sku, c.id, c.channel, std::to_string(l.qty), a.aver.empty() ? "-" : a.aver,
                                    std::to_string(now_ms), att};
      for (std::string& b : draw_order(a.cfg, channels, ch.name)) args.push_back(std::move(b));
      calls.push_back(fcall_call("stockd_take",
                                 {sku_key(l.sku), line_key(c.id, l.sku), outbox_key(partition_of(l.sku)), live_lines_key(l.sku)},
                                 args, true));
    }
    std::vector<RedisReply> replies = cc->pipeline(calls);
    std::vector<std::size_t> again;
    for (std::size_t j = 0; j < todo.size(); ++j) {
      const RedisReply& r = replies[j];
      const core::HoldLine& l = c.lines[todo[j]];
      if (is_stale(r)) {
        (remember_stale(l.sku, r).smax > 0 ? split_lines : again).push_back(todo[j]);
      } else if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "OK") {
        taken[todo[j]].emplace_back(l.sku, l.qty);
      }
      result[todo[j]] = r;
    }
    todo = std::move(again);
  }
  for (std::size_t i : split_lines) take_split(c, i, channels, att, now_ms, &result[i], &taken[i]);
  // The hold's line records ("pl"); the record keeps them only when a split SKU made them differ from
  // its lines.
  std::string pl;
  for (std::size_t i = 0; i < c.lines.size(); ++i) {
    if (std::find(split_lines.begin(), split_lines.end(), i) == split_lines.end()) {
      pl += (pl.empty() ? "" : ",") + c.lines[i].sku + ":" + std::to_string(c.lines[i].qty);
      continue;
    }
    for (const auto& [name, q] : taken[i]) pl += (pl.empty() ? "" : ",") + name + ":" + std::to_string(q);
  }
  core::Outcome out = verdict(c, result);
  if (!out.ok()) {
    // The lines this attempt may have taken, as it knows them: no need to look for shards.
    Fields rec{{"lines", join_lines(c.lines)}, {"pl", pl}, {"att", att}, {"st", "aborting"}};
    RedisReply a = fcall("stockd_hold_abort", keys, {c.id, std::to_string(now_ms)});
    core::Outcome undo;
    if (!drive(c.id, &rec, now_ms, &undo) || a.is_error())
      spdlog::warn("event=hold_abort_deferred id={} reason=\"{}\"", c.id, undo.message);  // the sweep finishes it
    return out;
  }
  // The takes must survive a failover before the record says "held" (else a lost take would leave a
  // hold whose units are not held). A timeout leaves the hold pending: the sweep rolls it back.
  if (out = replicate(); !out.ok()) return out;
  RedisReply r = fcall("stockd_hold_commit", keys,
                       {c.id, std::to_string(now_ms), c.confirm ? "confirming" : "held", split_lines.empty() ? "" : pl}, true);
  Fields rec;
  if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "GONE")
    return fail(core::Code::unavailable, "hold " + c.id + " took too long and was rolled back: retry");
  if (!record_of(r, &rec)) return transport_error(r);
  if (c.confirm && !drive(c.id, &rec, now_ms, &out)) return out;
  if (out = acknowledged(); !out.ok()) return out;
  reply->kind = StoreReply::Kind::hold;
  fill_hold(c.id, rec, &reply->hold);
  out.created = true;
  out.changed = true;
  out.hold_state = reply->hold.state;
  return out;
}

// The outcome of a hold's takes, as the embedded core would decide it: an unknown SKU first, then a
// line above max_per_hold, then the first short line.
core::Outcome ClusterStore::Impl::verdict(const core::CreateHold& c, const std::vector<RedisReply>& result) {
  for (const RedisReply& r : result)
    if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
  core::Outcome out;
  for (const RedisReply& r : result)
    if (library_error(r, &out)) return out;
  for (std::size_t i = 0; i < result.size(); ++i)
    if (result[i].elements[0].str == "UNKNOWN") return fail(core::Code::unknown_sku, "unknown sku " + c.lines[i].sku);
  for (std::size_t i = 0; i < result.size(); ++i)
    if (result[i].elements[0].str == "FROZEN")
      return fail(core::Code::channel_frozen, "channel " + c.channel + " is frozen (it may sell only its exposure)");
  for (std::size_t i = 0; i < result.size(); ++i) {
    if (result[i].elements[0].str != "LIMIT") continue;
    const std::string& sku = c.lines[i].sku;
    out = fail(core::Code::limit_exceeded, "sku " + sku + " allows at most " + result[i].elements[1].str + " per hold");
    out.detail_sku = sku;
    out.requested = c.lines[i].qty;
    out.available = std::stoll(result[i].elements[1].str);
    return out;
  }
  for (std::size_t i = 0; i < result.size(); ++i) {
    if (result[i].elements[0].str != "SHORT") continue;
    const std::string& sku = c.lines[i].sku;
    out = fail(core::Code::insufficient_stock, "insufficient stock for sku " + sku);
    out.detail_sku = sku;
    out.requested = c.lines[i].qty;
    out.available = std::stoll(result[i].elements[1].str);
    return out;
  }
  for (const RedisReply& r : result)
    if (r.elements[0].str != "OK") return fail(core::Code::unavailable, "hold line refused (" + r.elements[0].str + "): retry");
  return {};
}

}  // namespace stockd::backends
