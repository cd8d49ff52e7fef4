// Holds on the cluster store: create (per-line takes with compensation), confirm, release, extend,
// expiry and the repair of operations a crashed node left half done.
//
// A hold's record lives in its id's partition, each line in its SKU's partition, so a hold is a
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
#include <cstdio>
#include <random>

#include "backends/cluster_store_impl.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

struct Line {
  std::string sku;
  std::int64_t qty = 0;
};

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

std::string join_lines(const std::vector<core::HoldLine>& lines) {
  std::string s;
  for (const auto& l : lines) s += (s.empty() ? "" : ",") + l.sku + ":" + std::to_string(l.qty);
  return s;
}

std::string new_attempt() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

bool is_intermediate(std::string_view st) {
  return st == "confirming" || st == "releasing" || st == "expiring" || st == "aborting";
}

// The hold record in a STATE/EXISTS/OK reply: {tag, flat fields}.
bool record_of(const RedisReply& r, Fields* rec) {
  if (r.type != RedisReply::Type::array || r.elements.size() < 2) return false;
  *rec = to_fields(r.elements[1]);
  return true;
}

}  // namespace

bool ClusterStore::Impl::finish_lines(const std::string& id, const Fields& rec, std::string_view kind,
                                      std::int64_t now_ms, core::Outcome* out) {
  std::vector<Line> lines = parse_lines(field_str(rec, "lines"));
  std::vector<Line> confirmed = parse_lines(field_str(rec, "cl"));
  std::vector<ClusterClient::Call> calls;
  for (const Line& l : lines) {
    std::int64_t want = 0;
    if (kind == "confirm")
      for (const Line& c : confirmed)
        if (c.sku == l.sku) want = c.qty;
    calls.push_back(fcall_call("stockd_line_finish",
                               {sku_key(l.sku), line_key(id, l.sku), outbox_key(partition_of(l.sku)), live_lines_key(l.sku)},
                               {l.sku, id, std::string(kind), std::to_string(now_ms), std::to_string(kTombstoneMs),
                                std::to_string(want), std::string(field_str(rec, "att"))},
                               true));
  }
  std::vector<RedisReply> replies = cc->pipeline(calls);
  for (const RedisReply& r : replies) {
    if (r.type != RedisReply::Type::array || r.elements.empty() || r.elements[0].str != "OK") {
      *out = transport_error(r);
      return false;
    }
  }
  return true;
}

bool ClusterStore::Impl::drive(const std::string& id, Fields* rec, std::int64_t now_ms, core::Outcome* out) {
  std::vector<std::string> keys = hold_keys(id);
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

core::Outcome ClusterStore::Impl::create_hold(const core::CreateHold& c, std::int64_t now_ms, StoreReply* reply) {
  load_channels(now_ms, false, nullptr);
  ChannelTable channels = channels_copy();
  if (!channels.find(c.channel)) {
    load_channels(now_ms, true, nullptr);
    channels = channels_copy();
  }
  const ChannelInfo* ch = channels.find(c.channel);
  std::vector<std::string> keys = hold_keys(c.id);
  if (!ch) {
    RedisReply r = cc->command(keys[0], {"EXISTS", keys[0]}, true);
    if (r.type == RedisReply::Type::integer && r.integer == 1)
      return fail(core::Code::idempotency_conflict, "hold " + c.id + " exists with another channel or lines");
    return fail(core::Code::unknown_channel, "unknown channel " + c.channel);
  }
  std::vector<core::HoldLine> sorted = c.lines;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.sku < b.sku; });
  std::int64_t ttl_ms = c.ttl_s.value_or(ch->hold_ttl_s) * 1000;
  std::string att = new_attempt();
  RedisReply r = fcall("stockd_hold_begin", keys,
                       {c.id, c.channel, join_lines(c.lines), join_lines(sorted), c.confirm ? "1" : "0",
                        std::to_string(now_ms), std::to_string(ttl_ms), att});
  core::Outcome out;
  if (library_error(r, &out)) return out;
  if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
  if (r.elements[0].str == "EXISTS") {
    Fields rec;
    record_of(r, &rec);
    std::string_view st = field_str(rec, "st");
    if (st == "pending" || st == "aborting")
      return fail(core::Code::overloaded, "hold " + c.id + " is being created by another request: retry");
    return get_hold(c.id, now_ms, reply);  // a replay: the hold as it is now (expired if its time is up)
  }
  if (ch->state == core::ChannelState::frozen) {
    Fields rec{{"lines", join_lines(c.lines)}, {"att", att}, {"st", "aborting"}};
    fcall("stockd_hold_abort", keys, {c.id, std::to_string(now_ms)});
    if (!drive(c.id, &rec, now_ms, &out)) return out;
    return fail(core::Code::channel_frozen, "channel " + c.channel + " is frozen");
  }
  return take_lines(c, *ch, att, now_ms, reply);
}

core::Outcome ClusterStore::Impl::take_lines(const core::CreateHold& c, const ChannelInfo& ch, const std::string& att,
                                             std::int64_t now_ms, StoreReply* reply) {
  ChannelTable channels = channels_copy();
  std::vector<std::string> keys = hold_keys(c.id);
  std::vector<RedisReply> result(c.lines.size());
  std::vector<std::size_t> todo(c.lines.size());
  for (std::size_t i = 0; i < todo.size(); ++i) todo[i] = i;
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
      if (r.type == RedisReply::Type::array && r.elements.size() >= 3 && r.elements[0].str == "STALE") {
        ClusterShared::Alloc a{r.elements[1].str, {}};
        AllocConfig::decode(r.elements[2].str, &a.cfg);
        {
          std::lock_guard lock(shared->mu);
          shared->alloc[c.lines[todo[j]].sku] = std::move(a);
        }
        again.push_back(todo[j]);
      }
      result[todo[j]] = r;
    }
    todo = std::move(again);
  }
  core::Outcome out = verdict(c, result);
  if (!out.ok()) {
    Fields rec{{"lines", join_lines(c.lines)}, {"att", att}, {"st", "aborting"}};
    RedisReply a = fcall("stockd_hold_abort", keys, {c.id, std::to_string(now_ms)});
    core::Outcome undo;
    if (!drive(c.id, &rec, now_ms, &undo) || a.is_error())
      spdlog::warn("event=hold_abort_deferred id={} reason=\"{}\"", c.id, undo.message);  // the sweep finishes it
    return out;
  }
  RedisReply r = fcall("stockd_hold_commit", keys, {c.id, std::to_string(now_ms), c.confirm ? "confirming" : "held"}, true);
  Fields rec;
  if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "GONE")
    return fail(core::Code::unavailable, "hold " + c.id + " took too long and was rolled back: retry");
  if (!record_of(r, &rec)) return transport_error(r);
  if (c.confirm && !drive(c.id, &rec, now_ms, &out)) return out;
  if (out = replicate(); !out.ok()) return out;
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

core::Outcome ClusterStore::Impl::finish_hold(const std::string& id, std::string_view action,
                                              const std::string& confirm_lines, std::int64_t now_ms, StoreReply* reply) {
  std::vector<std::string> keys = hold_keys(id);
  std::string cl;
  if (action == "confirm") {
    RedisReply r = cc->command(keys[0], {"HGETALL", keys[0]}, true);
    if (r.type != RedisReply::Type::array) return transport_error(r);
    Fields rec = to_fields(r);
    if (rec.empty()) return fail(core::Code::unknown_hold, "unknown hold " + id);
    std::vector<Line> held = parse_lines(field_str(rec, "lines"));
    if (confirm_lines.empty()) {
      cl = std::string(field_str(rec, "lines"));
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
  if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "UNKNOWN")
    return fail(core::Code::unknown_hold, "unknown hold " + id);
  Fields rec;
  if (!record_of(r, &rec)) return transport_error(r);
  core::Outcome out;
  if (!drive(id, &rec, now_ms, &out)) return out;
  std::string_view st = field_str(rec, "st");
  if (rec.empty() || st == "pending" || st == "aborting") {
    if (action == "expire") return {};
    return fail(rec.empty() ? core::Code::unknown_hold : core::Code::overloaded,
                rec.empty() ? "unknown hold " + id : "hold " + id + " is being created: retry");
  }
  if (action == "confirm" && st == "released") return fail(core::Code::invalid_state, "hold " + id + " was released");
  if (action == "confirm" && st == "expired") return fail(core::Code::hold_expired, "hold " + id + " has expired");
  if (action == "release" && st == "confirmed") return fail(core::Code::invalid_state, "hold " + id + " was confirmed");
  if (out = replicate(); !out.ok()) return out;
  reply->kind = StoreReply::Kind::hold;
  fill_hold(id, rec, &reply->hold);
  out.hold_state = reply->hold.state;
  return out;
}

core::Outcome ClusterStore::Impl::extend_hold(const core::ExtendHold& c, std::int64_t now_ms, StoreReply* reply) {
  std::vector<std::string> keys = hold_keys(c.id);
  RedisReply r = fcall("stockd_hold_extend", keys, {c.id, std::to_string(now_ms), std::to_string(c.ttl_s * 1000)}, true);
  if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "UNKNOWN")
    return fail(core::Code::unknown_hold, "unknown hold " + c.id);
  Fields rec;
  if (!record_of(r, &rec)) return transport_error(r);
  std::string st(field_str(rec, "st"));
  if (st == "held" && now_ms >= field_int(rec, "exp")) {
    StoreReply ignored;
    core::Outcome e = finish_hold(c.id, "expire", "", now_ms, &ignored);
    if (!e.ok()) return e;
    return fail(core::Code::hold_expired, "hold " + c.id + " has expired");
  }
  core::Outcome out;
  if (!drive(c.id, &rec, now_ms, &out)) return out;
  st = std::string(field_str(rec, "st"));
  if (rec.empty() || st == "pending" || st == "aborting") return fail(core::Code::unknown_hold, "unknown hold " + c.id);
  if (st == "expired") return fail(core::Code::hold_expired, "hold " + c.id + " has expired");
  if (st != "held") return fail(core::Code::invalid_state, "hold " + c.id + " is " + st);
  if (out = replicate(); !out.ok()) return out;
  reply->kind = StoreReply::Kind::hold;
  fill_hold(c.id, rec, &reply->hold);
  out.changed = true;
  return out;
}

// ---- sweep: expiry, repair, retention

std::size_t ClusterStore::Impl::sweep(std::int64_t now_ms) {
  std::string due = std::to_string(now_ms);
  std::string stuck = std::to_string(now_ms - opt.repair_after_ms);
  std::string old = std::to_string(now_ms - opt.hold_retention_ms);
  std::string limit = std::to_string(kSweepBatch);
  std::vector<ClusterClient::Call> calls;
  for (int k = 0; k < kPartitions; ++k) {
    std::string t = partition_tag(k);
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":x", "-inf", due, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":pend", "-inf", stuck, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":ret", "-inf", old, "LIMIT", "0", limit}, true});
    calls.push_back({t, {"ZRANGEBYSCORE", t + ":rx", "-inf", old, "LIMIT", "0", limit}, true});
  }
  std::vector<RedisReply> replies = cc->pipeline(calls);
  std::size_t acted = 0;
  StoreReply ignored;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].type != RedisReply::Type::array) continue;
    int k = static_cast<int>(i / 4);
    for (const RedisReply& member : replies[i].elements) {
      const std::string& id = member.str;
      switch (i % 4) {
        case 0: finish_hold(id, "expire", "", now_ms, &ignored); break;
        case 1: repair(k, id, now_ms); break;
        case 2: forget(id); break;
        case 3: forget_ref(k, id); break;
      }
      ++acted;
    }
  }
  return acted;
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
  if (!drive(id, &rec, now_ms, &out)) spdlog::warn("event=hold_repair_failed id={} error=\"{}\"", id, out.message);
}

void ClusterStore::Impl::forget(const std::string& id) {
  std::vector<std::string> keys = hold_keys(id);
  RedisReply r = cc->command(keys[0], {"HGETALL", keys[0]}, true);
  if (r.type != RedisReply::Type::array) return;
  Fields rec = to_fields(r);
  // Lines first: while the finished record exists no new attempt with this id can begin.
  std::vector<ClusterClient::Call> calls;
  for (const Line& l : parse_lines(field_str(rec, "lines")))
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
