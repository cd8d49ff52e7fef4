// Local holds on the cluster store (docs/cluster.md "Local holds"): a hold whose lines all live in one
// partition (and none is of a split SKU) lives there with its lines and is made by one call,
// hold_create, with the id's pointer (hold_claim) in the same round trip when the id's partition is
// another; and create_many, the adapter's path for the new holds of many connections at once (one
// call per partition, hold_create_many, and every claim, in one pipeline). The other holds are in
// cluster_store_holds.cc, every later step of a hold in cluster_store_finish.cc.
#include <map>

#include "backends/cluster_store_impl.h"
#include "core/assert.h"

namespace stockd::backends {

int ClusterStore::Impl::local_home(const core::CreateHold& c) {
  if (c.lines.empty()) return -1;
  int home = partition_of(c.lines[0].sku);
  for (const core::HoldLine& l : c.lines)
    if (partition_of(l.sku) != home || alloc_of(l.sku).smax > 0) return -1;
  return home;
}

bool ClusterStore::Impl::pointer_is_ours(const core::CreateHold& c, int home, const std::string& canon,
                                         const RedisReply& ptr, const std::string& att, std::int64_t now_ms,
                                         core::Outcome* out) {
  const auto& e = ptr.elements;
  if (e.size() >= 4 && e[1].str == std::to_string(home) && e[2].str == canon && e[3].str == c.channel) return true;
  *out = fail(core::Code::idempotency_conflict, "hold " + c.id + " exists with another channel or lines");
  // A pointer whose hold does not exist is left by a request that died or was refused between its two
  // calls: once older than repair_after_ms (its request is over), it is replaced.
  if (e.size() < 6 || now_ms - std::atoll(e[5].str.c_str()) < opt.repair_after_ms) return false;
  std::string target = partition_tag(std::atoi(e[1].str.c_str())) + ":h:" + c.id;
  RedisReply exists = cc->command(target, {"EXISTS", target}, true);
  if (exists.type != RedisReply::Type::integer || exists.integer != 0) return false;
  RedisReply r;
  if (home == partition_of(c.id)) {  // the hold goes here: the pointer goes (hold_create runs again)
    r = fcall("stockd_hold_unpoint", hold_keys(c.id), {c.id, e[1].str, e[4].str}, true);
    if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "OK") return *out = {}, true;
  } else {
    r = fcall("stockd_hold_claim", hold_keys(c.id),
              {c.id, std::to_string(home), canon, c.channel, join_lines(c.lines), att, e[4].str, std::to_string(now_ms)}, true);
    if (r.type == RedisReply::Type::array && !r.elements.empty() && r.elements[0].str == "NEW") return *out = {}, true;
  }
  *out = transport_error(r);
  return false;
}

// The common case: one call in the home partition, and the id's pointer in parallel when the id lives
// elsewhere (cc->pipeline writes to every master before it reads), then the operation's WAIT.
std::vector<ClusterClient::Call> ClusterStore::Impl::local_calls(const core::CreateHold& c, const ChannelTable& channels,
                                                                  const ChannelInfo& ch, int home,
                                                                  const std::string& canon,
                                                                  std::int64_t ttl_ms, const std::string& att,
                                                                  std::int64_t now_ms, bool with_claim) {
  const std::string lines = join_lines(c.lines);
  std::vector<std::string> args{c.id, c.channel, lines, canon, c.confirm ? "1" : "0", std::to_string(now_ms),
                                std::to_string(ttl_ms), att};
  for (const core::HoldLine& l : c.lines) {
    ClusterShared::Alloc a = alloc_of(l.sku);
    std::vector<std::string> order = draw_order(a.cfg, channels, ch.name);
    args.insert(args.end(), {l.sku, std::to_string(l.qty), a.aver.empty() ? "-" : a.aver, std::to_string(order.size())});
    args.insert(args.end(), order.begin(), order.end());
  }
  // The pointer key only where the id lives: elsewhere the id's partition is claimed instead.
  std::vector<std::string> keys = hold_keys_of_partition(home, c.id);
  if (home != partition_of(c.id)) keys.pop_back();
  std::vector<ClusterClient::Call> calls{fcall_call("stockd_hold_create", keys, args, true)};
  if (with_claim)
    calls.push_back(fcall_call("stockd_hold_claim", hold_keys(c.id),
                               {c.id, std::to_string(home), canon, c.channel, lines, att, "", std::to_string(now_ms)}, true));
  return calls;
}

bool ClusterStore::Impl::local_claims_first(const core::CreateHold& c, int home) {
  return c.confirm && home != partition_of(c.id);
}

bool ClusterStore::Impl::create_local(const core::CreateHold& c, const ChannelTable& channels, const ChannelInfo& ch,
                                      int home,
                                      const std::string& canon, std::int64_t ttl_ms, const std::string& att,
                                      std::int64_t now_ms, StoreReply* reply, core::Outcome* out,
                                      const std::vector<RedisReply>* first) {
  const bool remote = home != partition_of(c.id);
  STOCKD_ASSERT(first == nullptr || !local_claims_first(c, home));
  const std::string lines = join_lines(c.lines);
  bool claimed = false;  // the id's partition names this hold
  auto unclaim = [&] {
    if (remote) fcall("stockd_hold_unpoint", hold_keys(c.id), {c.id, std::to_string(home), att}, true);
  };
  // The answer of the id's partition to the claim: whether this hold may go on (claimed), else
  // whether the caller is answered (*out) or goes the multi-partition way (HERE).
  enum class Claim { ours, answered, here };
  auto judge_claim = [&](const RedisReply& cr) {
    std::string tag = cr.type == RedisReply::Type::array && !cr.elements.empty() ? cr.elements[0].str : "";
    if (tag == "NEW" || (tag == "PTR" && pointer_is_ours(c, home, canon, cr, att, now_ms, out))) return Claim::ours;
    if (tag == "HERE") return Claim::here;
    if (tag != "PTR") *out = transport_error(cr);
    return Claim::answered;
  };
  // A sale is consumed by its create and cannot be undone when the claim then fails (the id taken by
  // another hold): its claim goes first, alone (one more round trip for a sale whose id lives in
  // another partition than its lines).
  if (local_claims_first(c, home)) {
    std::vector<RedisReply> r = cc->pipeline({local_calls(c, channels, ch, home, canon, ttl_ms, att, now_ms, true)[1]});
    Claim verdict = judge_claim(r[0]);
    if (verdict != Claim::ours) return verdict == Claim::answered;
    claimed = true;
  }
  for (int round = 0; round < 4; ++round) {
    // The first round's replies may come from the caller (create_many: many holds' calls in one pipeline).
    std::vector<RedisReply> r;
    if (round == 0 && first != nullptr) r = *first;
    else r = cc->pipeline(local_calls(c, channels, ch, home, canon, ttl_ms, att, now_ms, remote && !claimed));
    const std::size_t ncalls = r.size();
    const RedisReply& made = r[0];
    bool is_new = made.type == RedisReply::Type::array && !made.elements.empty() && made.elements[0].str == "NEW";
    if (ncalls > 1) {
      Claim verdict = judge_claim(r[1]);
      if (verdict != Claim::ours) {
        // The id is taken in its own partition (HERE: take the multi-partition path, which answers for
        // it), or by another hold: a hold made here meanwhile (held: sales claim first) is undone
        // (released as an abort, "undo", then forgotten: it was never answered, and a later hold with
        // this id must not find it).
        STOCKD_ASSERT(!c.confirm);
        if (is_new && finish_hold(c.id, "undo", "", now_ms, reply, home).ok())
          forget(home, c.id, false);  // the pointer (if any) is not this hold's
        *reply = StoreReply{};
        return verdict == Claim::answered;
      }
      claimed = true;
    }
    if (library_error(made, out)) {
      if (claimed) unclaim();
      return true;
    }
    if (made.type != RedisReply::Type::array || made.elements.empty()) {
      *out = transport_error(made);
      return true;
    }
    std::string_view tag = made.elements[0].str;
    if (tag == "PTR") {  // the id's partition is this one, and it points elsewhere
      if (pointer_is_ours(c, home, canon, made, att, now_ms, out)) continue;  // removed a dangling one: again
      return true;
    }
    if (tag == "EXISTS") {
      Fields rec;
      record_of(made, &rec);
      std::string_view st = field_str(rec, "st");
      if (st == "pending" || st == "aborting")
        *out = fail(core::Code::overloaded, "hold " + c.id + " is being created by another request: retry");
      else
        *out = replay(c, now_ms, reply);
      return true;
    }
    if (tag == "REFUSED" && made.elements.size() >= 2) {
      const std::vector<RedisReply>& result = made.elements[1].elements;
      bool stale = false, split = false;
      for (std::size_t i = 0; i < result.size() && i < c.lines.size(); ++i) {
        if (!is_stale(result[i])) continue;
        stale = true;
        split |= remember_stale(c.lines[i].sku, result[i]).smax > 0;
      }
      if (split) {  // a line of a split SKU: the multi-partition path
        if (claimed) unclaim();
        return false;
      }
      if (stale) continue;
      if (result.size() != c.lines.size()) {
        *out = transport_error(made);
        return true;
      }
      *out = verdict(c, result);
      if (claimed) unclaim();  // a refused hold is not remembered
      return true;
    }
    if (tag != "NEW") {
      *out = transport_error(made);
      return true;
    }
    if (*out = acknowledged(); !out->ok()) return true;
    Fields rec;
    record_of(made, &rec);
    reply->kind = StoreReply::Kind::hold;
    fill_hold(c.id, rec, &reply->hold);
    out->created = true;
    out->changed = true;
    out->hold_state = reply->hold.state;
    return true;
  }
  if (claimed) unclaim();
  *out = fail(core::Code::unavailable, "the allocation of a line kept changing: retry");
  return true;
}

// Plans every hold; the creates of the local ones (not claiming first) go as one call per home
// partition (stockd_hold_create_many), with their claims, all in one pipeline; then each is finished
// as create_hold does, one after another, from its replies.
void ClusterStore::Impl::create_many(std::span<const core::CreateHold* const> holds, std::span<const std::int64_t> now_ms,
                                     std::span<core::Outcome> outs, std::span<StoreReply> replies) {
  std::vector<HoldPlan> plans(holds.size());
  std::vector<bool> planned(holds.size(), false);
  std::vector<std::vector<ClusterClient::Call>> first_calls(holds.size());  // create, claim (if any)
  std::map<int, std::vector<std::size_t>> by_home;                          // holds sent, by partition
  for (std::size_t i = 0; i < holds.size(); ++i) {
    const core::CreateHold& c = *holds[i];
    if (!plan_hold(c, now_ms[i], &plans[i], &outs[i])) continue;
    planned[i] = true;
    const HoldPlan& p = plans[i];
    if (p.home < 0 || local_claims_first(c, p.home)) continue;
    first_calls[i] = local_calls(c, p.channels, p.ch, p.home, p.canon, p.ttl_ms, p.att, now_ms[i],
                                 p.home != partition_of(c.id));
    by_home[p.home].push_back(i);
  }
  // The pipeline: per partition one call (the create itself when alone), then every claim.
  std::vector<ClusterClient::Call> calls;
  for (const auto& [home, members] : by_home) {
    if (members.size() == 1) {
      calls.push_back(first_calls[members.front()][0]);
      continue;
    }
    ClusterClient::Call many;
    many.key = first_calls[members.front()][0].key;
    many.idempotent = true;
    std::vector<std::string> keys, args{std::to_string(members.size())};
    for (std::size_t i : members) {
      const std::vector<std::string>& argv = first_calls[i][0].argv;  // FCALL fn numkeys keys... args...
      std::size_t nk = std::stoul(argv[2]);
      keys.insert(keys.end(), argv.begin() + 3, argv.begin() + 3 + static_cast<std::ptrdiff_t>(nk));
      args.push_back(argv[2]);
      args.push_back(std::to_string(argv.size() - 3 - nk));
      args.insert(args.end(), argv.begin() + 3 + static_cast<std::ptrdiff_t>(nk), argv.end());
    }
    many.argv = {"FCALL", "stockd_hold_create_many", std::to_string(keys.size())};
    many.argv.insert(many.argv.end(), keys.begin(), keys.end());
    many.argv.insert(many.argv.end(), args.begin(), args.end());
    calls.push_back(std::move(many));
  }
  const std::size_t creates = calls.size();
  std::vector<std::size_t> claim_call(holds.size(), SIZE_MAX);
  for (std::size_t i = 0; i < holds.size(); ++i)
    if (first_calls[i].size() > 1) {
      claim_call[i] = calls.size();
      calls.push_back(first_calls[i][1]);
    }
  std::vector<RedisReply> r = calls.empty() ? std::vector<RedisReply>{} : cc->pipeline(calls);
  // Each hold's first replies: its create's (from its partition's call) and its claim's.
  std::vector<std::vector<RedisReply>> first(holds.size());
  std::size_t k = 0;
  for (const auto& [home, members] : by_home) {
    const RedisReply& reply = r[k++];
    for (std::size_t j = 0; j < members.size(); ++j) {
      bool one = members.size() == 1;
      bool split = !one && reply.type == RedisReply::Type::array && reply.elements.size() == members.size();
      first[members[j]].push_back(one ? reply : split ? reply.elements[j] : reply);  // an error: every hold's
    }
  }
  STOCKD_ASSERT(k == creates);
  for (std::size_t i = 0; i < holds.size(); ++i)
    if (claim_call[i] != SIZE_MAX) first[i].push_back(std::move(r[claim_call[i]]));
  for (std::size_t i = 0; i < holds.size(); ++i) {
    if (!planned[i]) continue;
    outs[i] = create_planned(*holds[i], plans[i], now_ms[i], &replies[i], first[i].empty() ? nullptr : &first[i]);
  }
}

}  // namespace stockd::backends
