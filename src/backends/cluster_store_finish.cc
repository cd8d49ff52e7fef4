// The later steps of a hold on the cluster store: confirm, release, expiry and extend, and the repair
// that drives a hold a crashed node left in an intermediate state to its end (any node's sweep(), in
// cluster_store_sweep.cc, or a request for the same hold). The protocol is in cluster_store_holds.cc's
// header; a local hold's confirm, release and expiry are one call of hold_finish_begin
// (docs/cluster.md "Local holds").
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
  expose_hold(rec, now_ms);  // units came back or were sold: listed channels' targets move
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
