// Holds on the cluster store: create (per-line takes with compensation), confirm, release, extend,
// expiry and the repair of operations a crashed node left half done (their sweep is in
// cluster_store_sweep.cc).
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
#include <charconv>
#include <cstdlib>

#include "backends/cluster_store_impl.h"
#include "core/assert.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

using Line = LineRec;

std::vector<Line> parse_lines(std::string_view s) {
  std::vector<Line> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string_view item = s.substr(0, comma);
    auto colon = item.rfind(':');
    if (colon != std::string_view::npos) {
      Line l{std::string(item.substr(0, colon)), 0};
      std::string_view q = item.substr(colon + 1);
      std::from_chars(q.data(), q.data() + q.size(), l.qty);
      out.push_back(std::move(l));
    }
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

bool is_intermediate(std::string_view st) {
  return st == "confirming" || st == "releasing" || st == "expiring" || st == "aborting";
}

}  // namespace

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

bool ClusterStore::Impl::finish_lines(const std::string& id, const Fields& rec, std::string_view kind,
                                      std::int64_t now_ms, core::Outcome* out) {
  std::vector<Line> lines = physical_lines(rec, kind);
  std::vector<std::int64_t> want(lines.size(), 0);
  if (kind == "confirm" && !confirm_wants(id, rec, lines, &want, out)) return false;
  std::vector<ClusterClient::Call> calls;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    calls.push_back(fcall_call("stockd_line_finish",
                               {sku_key(l.sku), line_key(id, l.sku), outbox_key(partition_of(l.sku)), live_lines_key(l.sku)},
                               {l.sku, id, std::string(kind), std::to_string(now_ms), std::to_string(kTombstoneMs),
                                std::to_string(want[i]), std::string(field_str(rec, "att"))},
                               true));
  }
  std::vector<RedisReply> replies = calls.empty() ? std::vector<RedisReply>{} : cc->pipeline(calls);
  for (const RedisReply& r : replies) {
    if (r.type != RedisReply::Type::array || r.elements.empty() || r.elements[0].str != "OK") {
      *out = transport_error(r);
      return false;
    }
  }
  // Units given back in a closed shard of a split SKU are parked there: they go home now, before the
  // hold is finished, so that they come back in the order the core would give them back.
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].elements.size() < 2 || replies[i].elements[1].str != "PARKED") continue;
    const std::string& name = lines[i].sku;
    auto hash = name.rfind('#');
    if (hash == std::string::npos) continue;
    std::string sku(base_sku(name));
    if (!gather_shards(sku, {std::atoi(name.c_str() + hash + 1)}, 0, now_ms, out)) return false;
  }
  // The lines' changes must survive a failover before the hold's record says they happened.
  *out = replicate();
  return out->ok();
}

// How much of each physical line a confirm consumes. The embedded core consumes a line draw by draw in
// draw order (own fence, pools, shared, lower-priority fences), so for a split SKU the home record's
// draws up to shared come first, then the shards (shared), then the home record's preempted fences.
bool ClusterStore::Impl::confirm_wants(const std::string& id, const Fields& rec, const std::vector<Line>& lines,
                                       std::vector<std::int64_t>* want, core::Outcome* out) {
  const std::string own_fence = fence_bucket(field_str(rec, "ch"));
  for (const Line& c : parse_lines(field_str(rec, "cl"))) {
    std::int64_t left = c.qty;
    std::size_t home = lines.size();
    std::int64_t home_before = 0;
    bool has_shards = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].sku == c.sku) home = i;
      has_shards |= lines[i].sku != c.sku && base_sku(lines[i].sku) == c.sku;
    }
    if (home < lines.size()) {
      home_before = lines[home].qty;
      if (has_shards) {  // only then does the split of the home record's draws matter
        RedisReply d = cc->command(line_key(id, c.sku), {"HGET", line_key(id, c.sku), "d"}, true);
        if (d.is_error()) return *out = transport_error(d), false;
        home_before = 0;
        std::string_view draws = d.str;
        while (!draws.empty()) {
          std::string_view item = draws.substr(0, draws.find(';'));
          auto eq = item.find('=');
          std::string_view b = item.substr(0, eq);
          if (b == "sh" || b.rfind("p:", 0) == 0 || b == own_fence)
            home_before += std::atoll(std::string(item.substr(eq + 1)).c_str());
          draws.remove_prefix(std::min(draws.size(), item.size() + 1));
        }
      }
      (*want)[home] = std::min(left, home_before);
      left -= (*want)[home];
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (i == home || base_sku(lines[i].sku) != c.sku) continue;
      (*want)[i] = std::min(left, lines[i].qty);
      left -= (*want)[i];
    }
    if (home < lines.size()) (*want)[home] += std::min(left, lines[home].qty - (*want)[home]);
  }
  return true;
}

// The line records of a hold: "pl" when it has lines of split SKUs, else its lines. A hold given up
// before it committed (a repair; no "pl") may have taken from any shard of a split SKU.
std::vector<LineRec> ClusterStore::Impl::physical_lines(const Fields& rec, std::string_view kind) {
  if (rec.count("pl")) return parse_lines(field_str(rec, "pl"));
  std::vector<Line> lines = parse_lines(field_str(rec, "lines"));
  if (kind != "abort") return lines;
  std::vector<ClusterClient::Call> calls;
  for (const Line& l : lines) calls.push_back({sku_key(l.sku), {"HGET", sku_key(l.sku), "smax"}, true});
  std::vector<RedisReply> smax = calls.empty() ? std::vector<RedisReply>{} : cc->pipeline(calls);
  std::vector<Line> out = lines;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    int n = smax[i].type == RedisReply::Type::string ? std::atoi(smax[i].str.c_str()) : 0;
    for (int j = 0; j < std::min(n, kSplitMax); ++j) out.push_back({shard_name(lines[i].sku, j), lines[i].qty});
  }
  return out;
}

bool ClusterStore::Impl::drive(const std::string& id, Fields* rec, std::int64_t now_ms, core::Outcome* out,
                               int partition) {
  std::vector<std::string> keys = partition < 0 ? hold_keys(id) : hold_keys_of_partition(partition, id);
  std::string st(field_str(*rec, "st"));
  if (st == "pending") {
    if (now_ms - field_int(*rec, "t0") < opt.repair_after_ms) return true;  // its creator is still at it
    RedisReply r = fcall("stockd_hold_abort", keys, {id, std::to_string(now_ms)}, true);
    if (!record_of(r, rec)) {
      *out = transport_error(r);
      return false;
    }
    st = std::string(field_str(*rec, "st"));
    if (st == "aborting") spdlog::warn("event=hold_repair id={} action=abort_pending", id);
  }
  if (!is_intermediate(st)) return true;
  std::string_view kind = st == "confirming" ? "confirm" : st == "releasing" ? "release" : st == "expiring" ? "expire" : "abort";
  if (!finish_lines(id, *rec, kind, now_ms, out)) return false;
  if (kind == "abort") {
    RedisReply r = fcall("stockd_hold_drop", keys, {id}, true);
    if (r.is_error()) {
      *out = transport_error(r);
      return false;
    }
    rec->clear();
    return true;
  }
  RedisReply r = fcall("stockd_hold_finish_end", keys, {id, std::to_string(now_ms), std::to_string(opt.hold_retention_ms)}, true);
  if (!record_of(r, rec)) {
    *out = transport_error(r);
    return false;
  }
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
  plan->home = plan->ch.state == core::ChannelState::frozen ? -1 : local_home(c);
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
  if (ch->state == core::ChannelState::frozen) {
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

int ClusterStore::Impl::at_partition(const RedisReply& r) {
  if (r.type != RedisReply::Type::array || r.elements.size() < 2 || r.elements[0].str != "AT") return -1;
  int k = std::atoi(r.elements[1].str.c_str());
  return k >= 0 && k < kPartitions ? k : -1;
}

core::Outcome ClusterStore::Impl::finish_hold(const std::string& id, std::string_view action,
                                              const std::string& confirm_lines, std::int64_t now_ms, StoreReply* reply,
                                              int partition) {
  std::vector<std::string> keys = partition < 0 ? hold_keys(id) : hold_keys_of_partition(partition, id);
  std::string cl;
  const bool whole = action == "release" || (action == "confirm" && confirm_lines.empty());
  if (whole && partition < 0) {
    // Every line in full needs no look at the record first: stockd_hold_finish_begin takes the lines
    // from it ("*"). Only where it lives: the id's pointer (a plain read, far cheaper for Redis than a
    // function call answering AT), else the id's partition (an unknown hold answers UNKNOWN there).
    RedisReply home = cc->command(keys[5], {"HGET", keys[5], "home"}, true);
    if (home.is_error()) return transport_error(home);
    if (home.type == RedisReply::Type::string) {
      partition = std::atoi(home.str.c_str());
      keys = hold_keys_of_partition(partition, id);
    }
  }
  if (action == "confirm" && confirm_lines.empty()) {
    cl = "*";
  } else if (action == "confirm") {
    // The record, or the pointer to it (one round trip to the id's partition), then the record.
    std::vector<RedisReply> r = cc->pipeline({{keys[0], {"HGETALL", keys[0]}, true}, {keys[5], {"HGET", keys[5], "home"}, true}});
    if (r[0].type != RedisReply::Type::array) return transport_error(r[0]);
    if (r[1].is_error()) return transport_error(r[1]);
    Fields rec = to_fields(r[0]);
    if (rec.empty() && r[1].type == RedisReply::Type::string) {
      partition = std::atoi(r[1].str.c_str());
      keys = hold_keys_of_partition(partition, id);
      RedisReply h = cc->command(keys[0], {"HGETALL", keys[0]}, true);
      if (h.type != RedisReply::Type::array) return transport_error(h);
      rec = to_fields(h);
    }
    if (rec.empty()) return fail(core::Code::unknown_hold, "unknown hold " + id);
    std::vector<Line> held = parse_lines(field_str(rec, "lines"));
    // Only a hold still held is confirmed: any other (finished, or due to expire) answers its state
    // whatever lines were asked, as the core does (differential test, seed 2 with split SKUs).
    if (field_str(rec, "st") != "held" || now_ms >= field_int(rec, "exp")) {
      // cl stays empty: hold_finish_begin does not confirm such a hold.
    } else {
      std::vector<std::int64_t> want(held.size(), 0);
      for (const Line& w : parse_lines(confirm_lines == "," ? "" : confirm_lines)) {
        auto it = std::find_if(held.begin(), held.end(), [&](const Line& l) { return l.sku == w.sku; });
        if (it == held.end()) return fail(core::Code::invalid_request, "sku " + w.sku + " is not in hold " + id);
        if (w.qty > it->qty)
          return fail(core::Code::invalid_request, "confirm of " + std::to_string(w.qty) + " for sku " + w.sku +
                                                       " exceeds the " + std::to_string(it->qty) + " held");
        want[it - held.begin()] = w.qty;
      }
      for (std::size_t i = 0; i < held.size(); ++i)
        if (want[i] > 0) cl += (cl.empty() ? "" : ",") + held[i].sku + ":" + std::to_string(want[i]);
    }
  }
  RedisReply r = fcall("stockd_hold_finish_begin", keys, {id, std::string(action), std::to_string(now_ms), cl}, true);
  if (int at = at_partition(r); at >= 0) {  // a local hold in another partition (a local one is finished by this call)
    partition = at;
    keys = hold_keys_of_partition(at, id);
    r = fcall("stockd_hold_finish_begin", keys, {id, std::string(action), std::to_string(now_ms), cl}, true);
  }
  if (r.type == RedisReply::Type::array && !r.elements.empty() && (r.elements[0].str == "UNKNOWN" || r.elements[0].str == "AT"))
    return fail(core::Code::unknown_hold, "unknown hold " + id);
  Fields rec;
  if (!record_of(r, &rec)) return transport_error(r);
  core::Outcome out;
  if (!drive(id, &rec, now_ms, &out, partition)) return out;
  std::string_view st = field_str(rec, "st");
  if (rec.empty() || st == "pending" || st == "aborting") {
    if (action == "expire") return {};
    return fail(rec.empty() ? core::Code::unknown_hold : core::Code::overloaded,
                rec.empty() ? "unknown hold " + id : "hold " + id + " is being created: retry");
  }
  if (action == "confirm" && st == "released") return fail(core::Code::invalid_state, "hold " + id + " was released");
  if (action == "confirm" && st == "expired") return fail(core::Code::hold_expired, "hold " + id + " has expired");
  if (action == "release" && st == "confirmed") return fail(core::Code::invalid_state, "hold " + id + " was confirmed");
  if (out = acknowledged(); !out.ok()) return out;
  reply->kind = StoreReply::Kind::hold;
  fill_hold(id, rec, &reply->hold);
  out.hold_state = reply->hold.state;
  return out;
}

core::Outcome ClusterStore::Impl::extend_hold(const core::ExtendHold& c, std::int64_t now_ms, StoreReply* reply) {
  std::vector<std::string> keys = hold_keys(c.id);
  RedisReply r = fcall("stockd_hold_extend", keys, {c.id, std::to_string(now_ms), std::to_string(c.ttl_s * 1000)}, true);
  int partition = at_partition(r);
  if (partition >= 0) {  // a local hold in another partition
    keys = hold_keys_of_partition(partition, c.id);
    r = fcall("stockd_hold_extend", keys, {c.id, std::to_string(now_ms), std::to_string(c.ttl_s * 1000)}, true);
  }
  if (r.type == RedisReply::Type::array && !r.elements.empty() && (r.elements[0].str == "UNKNOWN" || r.elements[0].str == "AT"))
    return fail(core::Code::unknown_hold, "unknown hold " + c.id);
  Fields rec;
  if (!record_of(r, &rec)) return transport_error(r);
  std::string st(field_str(rec, "st"));
  if (st == "held" && now_ms >= field_int(rec, "exp")) {
    StoreReply ignored;
    core::Outcome e = finish_hold(c.id, "expire", "", now_ms, &ignored, partition);
    if (!e.ok()) return e;
    return fail(core::Code::hold_expired, "hold " + c.id + " has expired");
  }
  core::Outcome out;
  if (!drive(c.id, &rec, now_ms, &out, partition)) return out;
  st = std::string(field_str(rec, "st"));
  if (rec.empty() || st == "pending" || st == "aborting") return fail(core::Code::unknown_hold, "unknown hold " + c.id);
  if (st == "expired") return fail(core::Code::hold_expired, "hold " + c.id + " has expired");
  if (st != "held") return fail(core::Code::invalid_state, "hold " + c.id + " is " + st);
  if (out = acknowledged(); !out.ok()) return out;
  reply->kind = StoreReply::Kind::hold;
  fill_hold(c.id, rec, &reply->hold);
  out.changed = true;
  return out;
}

}  // namespace stockd::backends
