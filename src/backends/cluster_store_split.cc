// Hot SKUs on the cluster store: one SKU's shared stock split over several slots ("virtual
// buckets"), so that a flash sale on one SKU is served by several masters at once.
//
// A split SKU keeps its home hash (stock, safety stock, fences, pools, and the shared units not moved
// out) and has up to kSplitMax shards, SKU-like hashes named "<sku>#<j>" in other partitions. To the
// home a shard is one big hold on shared stock (its units count in home's hd and X:<j>); in the shard
// the units are free shared stock that any hold may take with the ordinary take/line_finish functions.
// Units move between home and a shard only by transfers (split_begin -> split_in | split_back ->
// split_end -> split_forget), each step idempotent, each step's writes confirmed by WAIT before the
// next one builds on them, and half-done transfers are ended by any node's sweep. So a unit is
// always in exactly one place, and availability is the exact sum:
//   on_hand = home.oh - sum(in_j - oh_j)      (in_j - oh_j: sold in shard j, not yet reported home)
//   held    = home.hd - sum(X_j) + sum(hd_j)
//   shared  = home.F:sh + sum(F:sh_j)
// A SKU write (set, adjust, allocation, pool close) first gathers every shard's free units and sales
// home, applies the change to the whole SKU exactly as for an unsplit SKU, then spreads home's free
// shared units over the shards evenly. A hold line takes from the shard its hold id hashes to (one
// call in that shard's slot, home untouched) when the channel draws from shared stock first; if that
// shard is short, or the channel has a fence or pools, it reads home and every shard and takes the
// line where the units are, in the channel's draw order (fence, pools, shared at home and in the
// shards, then lower-priority fences with preempt), possibly from several places at once.
#include <algorithm>
#include <set>

#include "backends/cluster_store_impl.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

std::vector<std::string> home_keys(const std::string& sku) {
  int k = partition_of(sku);
  return {sku_key(sku), outbox_key(k), transfers_key(k)};
}

std::vector<std::string> shard_keys(const std::string& shard) { return {sku_key(shard), outbox_key(partition_of(shard))}; }

RedisReply tagged(std::initializer_list<std::string> parts) {
  RedisReply r;
  r.type = RedisReply::Type::array;
  for (const std::string& p : parts) {
    RedisReply e;
    e.type = RedisReply::Type::string;
    e.str = p;
    r.elements.push_back(std::move(e));
  }
  return r;
}

bool ok_reply(const RedisReply& r) {
  return r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "OK";
}

// "<j>|<dir>|<qty>"
struct Begun {
  int shard = 0;
  bool out = false;
  std::int64_t qty = 0;
};
Begun parse_begun(std::string_view p) {
  Begun b;
  auto bar = p.find('|');
  b.shard = std::atoi(std::string(p.substr(0, bar)).c_str());
  if (bar == std::string_view::npos) return b;
  std::string_view rest = p.substr(bar + 1);
  auto bar2 = rest.find('|');
  b.out = rest.substr(0, bar2) == "out";
  if (bar2 != std::string_view::npos) b.qty = std::atoll(std::string(rest.substr(bar2 + 1)).c_str());
  return b;
}

std::vector<std::pair<std::string, std::string>> begun_of(const Fields& home) {
  std::vector<std::pair<std::string, std::string>> begun;
  for (auto it = home.lower_bound("P:"); it != home.end() && it->first.rfind("P:", 0) == 0; ++it)
    begun.emplace_back(it->first.substr(2), it->second);
  return begun;
}

}  // namespace

bool ClusterStore::Impl::end_transfers(const std::string& sku, const std::vector<std::pair<std::string, std::string>>& begun,
                                       std::int64_t max_per_hold, std::int64_t now_ms, core::Outcome* out) {
  if (begun.empty()) return true;
  // The home side of every transfer must survive a failover before a shard builds on it.
  if (*out = replicate(); !out->ok()) return false;
  std::string now = std::to_string(now_ms);
  std::vector<ClusterClient::Call> calls;
  for (const auto& [t, p] : begun) {
    Begun b = parse_begun(p);
    std::string shard = shard_name(sku, b.shard);
    if (b.out)
      calls.push_back(fcall_call("stockd_split_in", shard_keys(shard),
                                 {shard, sku, now, t, std::to_string(b.qty), std::to_string(max_per_hold)}, true));
    else
      calls.push_back(fcall_call("stockd_split_back", shard_keys(shard), {shard, now, t}, true));
  }
  std::vector<RedisReply> replies = cc->pipeline(calls);
  for (const RedisReply& r : replies)
    if (!ok_reply(r)) return *out = transport_error(r), false;
  if (*out = replicate(); !out->ok()) return false;
  calls.clear();
  for (std::size_t i = 0; i < begun.size(); ++i) {
    std::string free = "0", sold = "0";
    if (replies[i].elements.size() >= 2) {  // split_back: "<free>|<sold>|<at>"
      std::string_view rec = replies[i].elements[1].str;
      auto bar = rec.find('|');
      free = std::string(rec.substr(0, bar));
      if (bar != std::string_view::npos) sold = std::string(rec.substr(bar + 1, rec.find('|', bar + 1) - bar - 1));
    }
    calls.push_back(fcall_call("stockd_split_end", home_keys(sku), {sku, now, begun[i].first, free, sold}, true));
  }
  for (const RedisReply& r : cc->pipeline(calls))
    if (!ok_reply(r)) return *out = transport_error(r), false;
  calls.clear();
  for (const auto& [t, p] : begun)
    calls.push_back(fcall_call("stockd_split_forget", {sku_key(shard_name(sku, parse_begun(p).shard))}, {t}, true));
  cc->pipeline(calls);  // a leftover t:<T> field is harmless
  return true;
}

bool ClusterStore::Impl::settle(const std::string& sku, Fields* home, std::int64_t now_ms, core::Outcome* out) {
  auto begun = begun_of(*home);
  if (begun.empty()) return true;
  if (!end_transfers(sku, begun, field_int(*home, "mph"), now_ms, out)) return false;
  RedisReply r = cc->command(sku_key(sku), {"HGETALL", sku_key(sku)}, true);
  if (r.type != RedisReply::Type::array) return *out = transport_error(r), false;
  *home = to_fields(r);
  return true;
}

bool ClusterStore::Impl::gather(const std::string& sku, std::int64_t now_ms, core::Outcome* out) {
  RedisReply r = cc->command(sku_key(sku), {"HGETALL", sku_key(sku)}, true);
  if (r.type != RedisReply::Type::array) return *out = transport_error(r), false;
  Fields home = to_fields(r);
  if (!settle(sku, &home, now_ms, out)) return false;
  std::vector<int> shards;
  for (int j = 0; j < std::min<std::int64_t>(field_int(home, "smax"), kSplitMax); ++j)
    if (field_int(home, "X:" + std::to_string(j)) > 0) shards.push_back(j);
  return gather_shards(sku, shards, field_int(home, "mph"), now_ms, out);
}

bool ClusterStore::Impl::gather_shards(const std::string& sku, const std::vector<int>& shards, std::int64_t max_per_hold,
                                       std::int64_t now_ms, core::Outcome* out) {
  std::vector<ClusterClient::Call> calls;
  std::string now = std::to_string(now_ms);
  for (int j : shards)
    calls.push_back(fcall_call("stockd_split_begin", home_keys(sku), {sku, now, random_token(), std::to_string(j), "back", "0"}, true));
  if (calls.empty()) return true;
  std::vector<std::pair<std::string, std::string>> begun;
  std::vector<RedisReply> replies = cc->pipeline(calls);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (!ok_reply(replies[i]) || replies[i].elements.size() < 2) return *out = transport_error(replies[i]), false;
    begun.emplace_back(calls[i].argv[8], replies[i].elements[1].str);  // argv: FCALL fn 3 k k k sku now T ...
  }
  return end_transfers(sku, begun, max_per_hold, now_ms, out);
}

bool ClusterStore::Impl::spread(const std::string& sku, const Fields& home, std::int64_t now_ms, core::Outcome* out) {
  std::int64_t n = std::min<std::int64_t>(field_int(home, "spl"), kSplitMax);
  std::int64_t free = field_int(home, "F:sh");
  if (n <= 1 || free <= 0) return true;
  std::vector<ClusterClient::Call> calls;
  std::string now = std::to_string(now_ms);
  for (std::int64_t j = 0; j < n; ++j) {
    std::int64_t q = free / n + (j < free % n ? 1 : 0);
    if (q > 0)
      calls.push_back(fcall_call("stockd_split_begin", home_keys(sku),
                                 {sku, now, random_token(), std::to_string(j), "out", std::to_string(q)}, true));
  }
  std::vector<std::pair<std::string, std::string>> begun;
  std::vector<RedisReply> replies = cc->pipeline(calls);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].type == RedisReply::Type::array && !replies[i].elements.empty() && replies[i].elements[0].str == "NONE")
      continue;  // home's shared units were taken meanwhile
    if (!ok_reply(replies[i]) || replies[i].elements.size() < 2) return *out = transport_error(replies[i]), false;
    begun.emplace_back(calls[i].argv[8], replies[i].elements[1].str);
  }
  return end_transfers(sku, begun, field_int(home, "mph"), now_ms, out);
}

bool ClusterStore::Impl::read_shards(const std::string& sku, Fields* home, std::vector<ShardState>* shards,
                                     std::int64_t now_ms, core::Outcome* out) {
  for (int round = 0; round < 4; ++round) {
    if (!settle(sku, home, now_ms, out)) return false;
    std::int64_t smax = std::min<std::int64_t>(field_int(*home, "smax"), kSplitMax);
    std::vector<ClusterClient::Call> calls;
    for (std::int64_t j = 0; j < smax; ++j) {
      std::string key = sku_key(shard_name(sku, static_cast<int>(j)));
      calls.push_back({key, {"HMGET", key, "oh", "hd", "in", "F:sh"}, true});
    }
    std::vector<RedisReply> replies = calls.empty() ? std::vector<RedisReply>{} : cc->pipeline(calls);
    shards->assign(smax, ShardState{});
    std::vector<int> parked;
    for (std::int64_t j = 0; j < smax; ++j) {
      const RedisReply& r = replies[j];
      if (r.type != RedisReply::Type::array || r.elements.size() != 4) return *out = transport_error(r), false;
      auto num = [&](int i) { return r.elements[i].type == RedisReply::Type::nil ? 0 : std::atoll(r.elements[i].str.c_str()); };
      (*shards)[j] = ShardState{num(0), num(1), num(2), num(3)};
      if (num(0) - num(1) - num(3) > 0) parked.push_back(static_cast<int>(j));
    }
    if (parked.empty()) return true;
    // Units released in a closed shard: home decides whether they are free (as the core would).
    if (!gather_shards(sku, parked, field_int(*home, "mph"), now_ms, out)) return false;
    RedisReply r = cc->command(sku_key(sku), {"HGETALL", sku_key(sku)}, true);
    if (r.type != RedisReply::Type::array) return *out = transport_error(r), false;
    *home = to_fields(r);
  }
  return *out = fail(core::Code::overloaded, "sku " + sku + " keeps changing: retry"), false;
}

bool ClusterStore::Impl::merge_shards(const std::string& sku, Fields* home, std::int64_t now_ms, core::Outcome* out) {
  if (field_int(*home, "smax") <= 0) return true;
  std::vector<ShardState> shards;
  if (!read_shards(sku, home, &shards, now_ms, out)) return false;
  std::int64_t oh = field_int(*home, "oh"), hd = field_int(*home, "hd"), shared = field_int(*home, "F:sh");
  for (std::size_t j = 0; j < shards.size(); ++j) {
    oh -= shards[j].moved_in - shards[j].on_hand;
    hd += shards[j].held - field_int(*home, "X:" + std::to_string(j));
    shared += shards[j].free;
  }
  (*home)["oh"] = std::to_string(oh);
  (*home)["hd"] = std::to_string(hd);
  (*home)["F:sh"] = std::to_string(shared);
  return true;
}

namespace {

// Where one round of a split line's take finds its units, in the channel's draw order: home's buckets
// up to shared stock, the shards with free units from the hold's own shard on, then (with preempt)
// home's lower-priority fences.
struct SplitPlan {
  std::int64_t total = 0;   // units this round can reach
  std::int64_t home_q = 0;  // units to take at home
  std::vector<std::pair<std::string, std::int64_t>> shards;  // (shard, units) to take there
};

SplitPlan plan_split_round(const Fields& home, const std::vector<std::int64_t>& shard_free,
                           const std::vector<std::string>& order, const std::set<std::string>& used,
                           const std::string& sku, int first, std::int64_t need) {
  SplitPlan p;
  const std::int64_t smax = static_cast<std::int64_t>(shard_free.size());
  std::int64_t before = 0, after = 0;
  bool past_shared = false;
  if (!used.count(sku)) {
    for (const std::string& b : order) {
      (past_shared ? after : before) += field_int(home, "F:" + b);
      if (b == "sh") past_shared = true;
    }
  }
  std::vector<std::pair<std::string, std::int64_t>> free;  // from the hold's own shard on
  bool draws_shared = std::find(order.begin(), order.end(), "sh") != order.end();
  for (std::int64_t k = 0; k < smax && draws_shared; ++k) {
    int j = static_cast<int>((first + k) % smax);
    std::string name = shard_name(sku, j);
    std::int64_t q = shard_free[j];
    if (q > 0 && !used.count(name)) free.emplace_back(name, q);
  }
  p.total = before + after;
  for (const auto& f : free) p.total += f.second;
  if (p.total < need) return p;
  p.home_q = std::min(need, before);
  std::int64_t rest = need - p.home_q;
  for (const auto& [name, q] : free) {
    if (rest == 0) break;
    p.shards.emplace_back(name, std::min(rest, q));
    rest -= p.shards.back().second;
  }
  p.home_q += rest;  // from the fences taken with preempt
  return p;
}

bool is_tagged(const RedisReply& r, std::initializer_list<std::string_view> tags) {
  if (r.type != RedisReply::Type::array || r.elements.empty()) return false;
  return std::find(tags.begin(), tags.end(), r.elements[0].str) != tags.end();
}

}  // namespace

ClusterClient::Call ClusterStore::Impl::split_take_call(const core::CreateHold& c, const std::string& name,
                                                        std::int64_t qty, const std::string& aver,
                                                        const std::vector<std::string>& order, std::int64_t now_ms,
                                                        const std::string& att) {
  std::vector<std::string> args{name, c.id, c.channel, std::to_string(qty), aver, std::to_string(now_ms), att};
  args.insert(args.end(), order.begin(), order.end());
  return fcall_call("stockd_take", {sku_key(name), line_key(c.id, name), outbox_key(partition_of(name)), live_lines_key(name)},
                    args, true);
}

void ClusterStore::Impl::take_split(const core::CreateHold& c, std::size_t line, const ChannelTable& channels,
                                    const std::string& att, std::int64_t now_ms, RedisReply* result,
                                    std::vector<std::pair<std::string, std::int64_t>>* taken) {
  const core::HoldLine& l = c.lines[line];
  ClusterShared::Alloc a = alloc_of(l.sku);
  std::vector<std::string> order = draw_order(a.cfg, channels, c.channel);
  const int first = a.split > 1 ? key_slot(c.id + "/" + l.sku) % a.split : 0;
  // Fast path: the hold's own shard, in one call, when shared stock is what the channel draws first.
  if (a.split > 1 && !order.empty() && order.front() == "sh") {
    std::string shard = shard_name(l.sku, first);
    ClusterClient::Call call = split_take_call(c, shard, l.qty, "0", {"sh"}, now_ms, att);
    RedisReply r = cc->command(call.key, call.argv, true);
    if (ok_reply(r)) {
      taken->emplace_back(shard, l.qty);
      *result = r;
      return;
    }
    if (!is_tagged(r, {"SHORT", "UNKNOWN", "LIMIT"})) {
      *result = r;  // a transport error, TOMB or a library error: as for an unsplit line
      return;
    }
  }
  // The whole SKU: read home and every shard, take the line where the units are.
  SplitTake t;
  for (int round = 0; round < 4; ++round) {
    if (take_split_round(c, line, channels, att, now_ms, first, &t, result, taken)) return;
  }
  *result = tagged({"SHORT", std::to_string(t.seen)});
}

bool ClusterStore::Impl::take_split_round(const core::CreateHold& c, std::size_t line, const ChannelTable& channels,
                                          const std::string& att, std::int64_t now_ms, int first, SplitTake* t,
                                          RedisReply* result,
                                          std::vector<std::pair<std::string, std::int64_t>>* taken) {
  const core::HoldLine& l = c.lines[line];
  auto answer = [&](RedisReply r) {  // the line's take is decided: *result is what it answers
    *result = std::move(r);
    return true;
  };
  RedisReply hr = cc->command(sku_key(l.sku), {"HGETALL", sku_key(l.sku)}, true);
  if (hr.type != RedisReply::Type::array) return answer(hr);
  Fields home = to_fields(hr);
  if (home.empty()) return answer(tagged({"UNKNOWN"}));
  core::Outcome settled;
  std::vector<ShardState> state;
  if (!read_shards(l.sku, &home, &state, now_ms, &settled)) return answer(RedisReply::error(settled.message));
  remember(l.sku, home);
  std::vector<std::string> order = draw_order(alloc_of(l.sku).cfg, channels, c.channel);
  std::int64_t mph = field_int(home, "mph");
  if (mph > 0 && l.qty > mph) return answer(tagged({"LIMIT", std::to_string(mph)}));
  std::vector<std::int64_t> shard_free;
  for (const ShardState& s : state) shard_free.push_back(s.free);
  SplitPlan plan = plan_split_round(home, shard_free, order, t->used, l.sku, first, l.qty - t->got);
  t->seen = t->got + plan.total;
  if (plan.total < l.qty - t->got) return answer(tagged({"SHORT", std::to_string(t->seen)}));
  std::vector<ClusterClient::Call> calls;
  if (plan.home_q > 0) {
    std::string aver(field_str(home, "aver"));
    calls.push_back(split_take_call(c, l.sku, plan.home_q, aver.empty() ? "0" : aver, order, now_ms, att));
  }
  for (const auto& [name, q] : plan.shards) calls.push_back(split_take_call(c, name, q, "0", {"sh"}, now_ms, att));
  std::vector<RedisReply> replies = cc->pipeline(calls);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    const RedisReply& r = replies[i];
    std::string name = calls[i].argv[7];  // FCALL fn 4 k1 k2 k3 k4 name id channel qty ...
    std::int64_t q = std::atoll(calls[i].argv[10].c_str());
    if (ok_reply(r)) {
      t->used.insert(name);
      taken->emplace_back(name, q);
      t->got += q;
      continue;
    }
    if (is_stale(r)) {
      remember_stale(l.sku, r);
      continue;
    }
    if (!is_tagged(r, {"SHORT", "UNKNOWN"})) return answer(r);
  }
  if (t->got == l.qty) return answer(tagged({"OK"}));
  return false;
}

void ClusterStore::Impl::end_stuck_transfers(int partition, const std::string& member, std::int64_t now_ms) {
  auto nl = member.find('\n');
  if (nl == std::string::npos) return;
  std::string sku = member.substr(0, nl);
  std::string t = member.substr(nl + 1);
  RedisReply r = cc->command(sku_key(sku), {"HGETALL", sku_key(sku)}, true);
  if (r.type != RedisReply::Type::array) return;
  Fields home = to_fields(r);
  std::string_view p = field_str(home, "P:" + t);
  core::Outcome out;
  if (p.empty()) {
    cc->command(transfers_key(partition), {"ZREM", transfers_key(partition), member});
    return;
  }
  spdlog::warn("event=split_transfer_repair sku={} transfer={} step=\"{}\"", sku, t, p);
  if (!end_transfers(sku, {{t, std::string(p)}}, field_int(home, "mph"), now_ms, &out))
    spdlog::warn("event=split_transfer_repair_failed sku={} transfer={} error=\"{}\"", sku, t, out.message);
}

}  // namespace stockd::backends
