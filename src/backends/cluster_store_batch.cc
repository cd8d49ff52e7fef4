// Stock batches on the cluster store (POST /v1/stock/batches; docs/cluster.md "Stock batches").
//
// The rows are decided with the embedded core's rule (core::plan_stock_batch, core/batch.h) on the
// SKUs' figures read from Redis; the library's functions hold no row rule. The SKUs of one partition
// are then locked by one call (stockd_batch_prep) that first checks they still have the figures the
// rows were decided on (else CHANGED: read again, decide again). All partitions are prepared in one
// pipeline (each master fsyncs once for all of its partitions); a batch that meets another's lock
// (BUSY) gives its own locks back and goes on one partition after another in ascending order, so two
// batches that share SKUs never wait on each other in a cycle, retrying the locked partition for up to
// kBusyWaitMs, then giving up with 429. The ends are one pipeline too.
// A decrease's units are put aside at prepare (escrow), the net change of each SKU is applied at the
// end. The decision (commit or abort) is written to the batch record (its id's partition) before any
// partition ends, so that a node dying half way leaves a batch that any node's sweep ends the same
// way: abort while the record says prepare (the lease of the locks ran out), commit once it says
// commit. An atomic batch is all or nothing across every master; a non-atomic batch commits the rows
// that passed.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "backends/cluster_policy.h"
#include "backends/cluster_store_impl.h"
#include "core/batch.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

constexpr std::int64_t kLeaseMs = 30'000;         // a lock a dead node left is ended after this
constexpr std::int64_t kBusyWaitMs = 2'000;       // how long a batch waits for another's locks
constexpr std::int64_t kRecordRetentionMs = 86'400'000;  // a ref's answer is returned again for 24 h
constexpr const char* kAbandoned = "abandoned";   // the answer of a batch the sweep aborted

std::string batch_record_key(const std::string& id) { return tag_of(id) + ":b:" + id; }
std::string lock_index_key(int k) { return partition_tag(k) + ":bk"; }
std::string lock_record_key(int k, const std::string& id) { return partition_tag(k) + ":bl:" + id; }

// The answer as the batch record keeps it: "1" or "0" (failed), then per row "code\tactual\tsku\tmessage".
std::string encode_answer(const core::BatchAnswer& a) {
  std::string out = a.failed ? "1" : "0";
  for (const core::BatchRowResult& r : a.rows) {
    std::string msg = r.message;
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::replace(msg.begin(), msg.end(), '\t', ' ');
    out.push_back('\n');
    out.append(std::to_string(static_cast<int>(r.code))).push_back('\t');
    out.append(std::to_string(r.actual)).push_back('\t');
    out.append(r.sku).push_back('\t');
    out.append(msg);
  }
  return out;
}

bool decode_answer(const std::string& text, const std::string& ref, core::BatchAnswer* a) {
  a->ref = ref;
  std::size_t at = text.find('\n');
  a->failed = text.substr(0, at) == "1";
  while (at != std::string::npos) {
    std::size_t end = text.find('\n', at + 1);
    std::string line = text.substr(at + 1, end == std::string::npos ? std::string::npos : end - at - 1);
    at = end;
    std::size_t t1 = line.find('\t'), t2 = line.find('\t', t1 + 1), t3 = line.find('\t', t2 + 1);
    if (t1 == std::string::npos || t2 == std::string::npos || t3 == std::string::npos) return false;
    core::BatchRowResult r;
    r.code = static_cast<core::Code>(std::atoi(line.substr(0, t1).c_str()));
    r.actual = std::atoll(line.substr(t1 + 1, t2 - t1 - 1).c_str());
    r.sku = line.substr(t2 + 1, t3 - t2 - 1);
    r.message = line.substr(t3 + 1);
    a->rows.push_back(std::move(r));
  }
  return true;
}

}  // namespace

// One partition's part of a batch: its SKUs in order of first appearance.
struct ClusterStore::Impl::BatchPart {
  int partition = 0;
  std::vector<std::string> skus;
  bool locked = false;  // prepared
};

ClusterClient::Call ClusterStore::Impl::batch_prep(const core::StockBatch& c, const std::string& id,
                                                   const BatchPart& part, const core::BatchPlan& plan,
                                                   std::int64_t now_ms) {
  ChannelTable channels = channels_copy();
  std::vector<std::string> keys{outbox_key(part.partition), lock_index_key(part.partition),
                                lock_record_key(part.partition, id)};
  std::vector<std::string> args{std::to_string(now_ms), id, std::to_string(now_ms + kLeaseMs),
                                std::string(core::stock_reason_name(c.reason)), c.ref};
  std::size_t count_at = args.size();
  args.push_back("");
  std::size_t n = 0;
  for (const std::string& sku : part.skus) {
    auto it = plan.find(sku);
    if (it == plan.end() || !it->second.passed) continue;  // no row of it passed: not locked
    const core::BatchSkuPlan& p = it->second;
    keys.push_back(sku_key(sku));
    ClusterShared::Alloc a = alloc_of(sku);
    for (std::string v : {sku, sizing_plan(a.cfg, channels), a.aver.empty() ? std::string("0") : a.aver,
                          std::string(p.before.exists ? "1" : "0"), std::to_string(p.before.on_hand),
                          std::to_string(p.before.held), std::to_string(p.on_hand - p.before.on_hand),
                          std::string(p.before.exists ? "0" : "1"), std::string(p.moved ? "1" : "0")})
      args.push_back(std::move(v));
    ++n;
  }
  args[count_at] = std::to_string(n);
  return fcall_call("stockd_batch_prep", keys, args);
}

ClusterClient::Call ClusterStore::Impl::batch_end(const std::string& id, int partition,
                                                  const std::vector<std::string>& skus, bool commit,
                                                  std::int64_t now_ms) {
  ChannelTable channels = channels_copy();
  std::vector<std::string> keys{outbox_key(partition), lock_index_key(partition), lock_record_key(partition, id)};
  std::vector<std::string> args{std::to_string(now_ms), id, commit ? "1" : "0"};
  for (const std::string& s : skus) {
    keys.push_back(sku_key(s));
    args.push_back(s);
    args.push_back(sizing_plan(alloc_of(s).cfg, channels));
  }
  return fcall_call("stockd_batch_end", keys, args, true);
}

// {'OK'} or {'STATE', state, answer}.
RedisReply ClusterStore::Impl::batch_mark(const std::string& id, std::string_view from, std::string_view to,
                                          const std::string& answer) {
  return fcall("stockd_batch_mark", {batch_record_key(id)},
               {std::string(from), std::string(to), answer, std::to_string(kRecordRetentionMs)});
}

// The views of the SKUs of the ok rows, in row order (a replay reads them as they are now).
core::Outcome ClusterStore::Impl::batch_views(const core::BatchAnswer& a, std::int64_t now_ms,
                                              std::map<std::string, SkuRecord, std::less<>>* known,
                                              StoreReply* reply) {
  for (const core::BatchRowResult& r : a.rows) {
    if (r.code != core::Code::ok) continue;
    auto it = known->find(r.sku);
    if (it == known->end()) {
      StoreReply one;
      if (core::Outcome o = get_sku(r.sku, now_ms, &one); !o.ok()) return o;
      it = known->emplace(r.sku, std::move(one.sku)).first;
    }
    reply->batch_skus.push_back(it->second);
  }
  return {};
}

// The figures of `skus` (one pipelined round): exists, on_hand, held; split SKUs into *split.
bool ClusterStore::Impl::batch_figures(const std::vector<std::string>& skus,
                                       std::map<std::string, core::BatchFigures, std::less<>>* figures,
                                       std::set<std::string, std::less<>>* split, core::Outcome* out) {
  std::vector<ClusterClient::Call> calls;
  for (const std::string& sku : skus) calls.push_back({sku_key(sku), {"HMGET", sku_key(sku), "ver", "oh", "hd", "smax"}, true});
  std::vector<RedisReply> r = cc->pipeline(calls);
  for (std::size_t i = 0; i < skus.size(); ++i) {
    if (r[i].type != RedisReply::Type::array || r[i].elements.size() != 4) {
      *out = transport_error(r[i]);
      return false;
    }
    const auto& e = r[i].elements;
    core::BatchFigures f;
    f.exists = e[0].type == RedisReply::Type::string;
    f.on_hand = std::atoll(e[1].str.c_str());
    f.held = std::atoll(e[2].str.c_str());
    (*figures)[skus[i]] = f;
    if (std::atoll(e[3].str.c_str()) > 0) split->insert(skus[i]);
  }
  return true;
}

core::Outcome ClusterStore::Impl::stock_batch(const core::StockBatch& c, std::int64_t now_ms, StoreReply* reply) {
  // (Built by append: GCC 12 at -O3 warns -Wrestrict, wrongly, on "literal" + std::string&&.)
  std::string id = c.ref;
  if (id.empty()) id.append("~").append(random_token());
  std::map<std::string, SkuRecord, std::less<>> views;
  core::Outcome out;
  auto reply_with = [&](std::shared_ptr<core::BatchAnswer> a) {
    out.batch = std::move(a);
    reply->kind = StoreReply::Kind::batch;
    if (core::Outcome o = batch_views(*out.batch, now_ms, &views, reply); !o.ok()) return o;
    return out;
  };
  // The record: a repeated ref is answered from it.
  RedisReply m = batch_mark(id, "", "prep", "");
  if (library_error(m, &out)) return out;
  if (m.type != RedisReply::Type::array || m.elements.empty()) return transport_error(m);
  if (m.elements[0].str == "STATE") {
    const std::string ans = m.elements.size() > 2 ? m.elements[2].str : "";
    if (ans == kAbandoned) {
      return fail(core::Code::unavailable, "stock batch " + id + " was abandoned by the node applying it (nothing "
                                           "applied): send it again with a new ref");
    }
    if (ans.empty()) return fail(core::Code::overloaded, "stock batch " + id + " is being applied: retry");
    auto first = std::make_shared<core::BatchAnswer>();
    if (!decode_answer(ans, c.ref, first.get())) return fail(core::Code::unavailable, "stock batch record unreadable");
    // Decided, but a partition its node did not end (it died, or lost Redis) is ended by the sweep
    // after the lease: until then the views would not show the batch yet.
    std::vector<ClusterClient::Call> locks;
    std::set<std::string_view> asked;
    for (const core::BatchRowResult& r : first->rows)
      if (r.code == core::Code::ok && asked.insert(r.sku).second)
        locks.push_back({sku_key(r.sku), {"HGET", sku_key(r.sku), "bk"}, true});
    for (const RedisReply& l : cc->pipeline(locks)) {
      if (l.is_error()) return transport_error(l);
      if (l.type == RedisReply::Type::string && l.str == id)
        return fail(core::Code::overloaded, "stock batch " + id + " is being applied: retry");
    }
    return reply_with(std::move(first));
  }
  // The SKUs by partition (valid names only: a bad row fails in the plan), and their figures.
  std::map<int, BatchPart> parts;
  std::vector<std::string> names;
  {
    std::set<std::string_view> seen;
    for (const core::BatchRow& row : c.rows) {
      if (!core::is_identifier(row.sku) || !seen.insert(row.sku).second) continue;
      names.push_back(row.sku);
      BatchPart& p = parts[partition_of(row.sku)];
      p.partition = partition_of(row.sku);
      p.skus.push_back(row.sku);
    }
  }
  // Gives back every part prepared so far (the record stays as it is).
  auto release = [&] {
    std::vector<ClusterClient::Call> calls;
    for (auto& [k, p] : parts) {
      if (p.locked) calls.push_back(batch_end(id, k, p.skus, false, now_ms));
      p.locked = false;
    }
    if (!calls.empty()) cc->pipeline(calls);
  };
  // ... and removes the record: nothing of the batch stays.
  auto undo = [&](core::Outcome why) {
    release();
    batch_mark(id, "prep", "", "");
    replicate();
    return why;
  };
  std::map<std::string, core::BatchFigures, std::less<>> figures;
  std::set<std::string, std::less<>> split;
  if (!batch_figures(names, &figures, &split, &out)) return undo(out);
  load_channels(now_ms, false, nullptr);
  // Decides every row with the core's rule (core/batch.h) on the figures known now.
  std::shared_ptr<core::BatchAnswer> answer;
  core::BatchPlan plan;
  auto decide = [&] {
    answer = std::make_shared<core::BatchAnswer>();
    answer->ref = c.ref;
    answer->rows.resize(c.rows.size());
    for (std::size_t i = 0; i < c.rows.size(); ++i) {
      core::BatchRowResult& r = answer->rows[i];
      r.sku = c.rows[i].sku;
      if (split.count(r.sku)) {  // a SKU split over shards is set through PUT (docs/cluster.md)
        r.code = core::Code::invalid_request;
        r.message = "sku " + r.sku + " is split over shards: set it with PUT /v1/skus/" + r.sku;
      }
    }
    plan.clear();
    core::plan_stock_batch(c, [&](std::string_view sku) { return figures.find(sku)->second; }, answer.get(), &plan);
    return !core::fail_atomic_batch(c, answer.get());
  };
  bool commit = decide();
  auto any_passed = [&](const BatchPart& p) {
    return std::any_of(p.skus.begin(), p.skus.end(), [&](const std::string& s) {
      auto f = plan.find(s);
      return f != plan.end() && f->second.passed;
    });
  };
  // Prepares `todo` (one pipeline: each master fsyncs once for all its partitions). Returns false
  // with *out on a transport or library error; sets *busy when another batch holds a lock.
  auto prepare = [&](const std::vector<BatchPart*>& todo, bool* busy) {
    std::vector<ClusterClient::Call> calls;
    for (BatchPart* p : todo) calls.push_back(batch_prep(c, id, *p, plan, now_ms));
    std::vector<RedisReply> replies = cc->pipeline(calls);
    std::vector<std::string> reread;
    for (std::size_t i = 0; i < todo.size(); ++i) {
      const RedisReply& r = replies[i];
      if (library_error(r, &out) || r.type != RedisReply::Type::array || r.elements.empty()) {
        if (out.ok()) out = transport_error(r);
        return false;
      }
      const std::string& tag = r.elements[0].str;
      if (tag == "OK" || tag == "PREPARED") {
        todo[i]->locked = true;
        continue;
      }
      if (tag == "BUSY") {
        *busy = true;
      } else if (tag == "STALE" && r.elements.size() >= 6) {
        RedisReply stale;
        stale.type = RedisReply::Type::array;
        stale.elements.assign(r.elements.begin(), r.elements.end());
        stale.elements.erase(stale.elements.begin() + 1);  // {'STALE', aver, cfg, spl, smax}
        remember_stale(r.elements[1].str, stale);
      } else if (tag == "CHANGED" || tag == "SPLIT") {
        // The partition's SKUs changed since they were read: read them again and decide again (the
        // rows of other partitions' SKUs keep their verdicts: a row depends on its SKU only).
        reread.insert(reread.end(), todo[i]->skus.begin(), todo[i]->skus.end());
      } else {
        out = transport_error(r);
        return false;
      }
    }
    if (!reread.empty()) {
      if (!batch_figures(reread, &figures, &split, &out)) return false;
      commit = decide();
    }
    return true;
  };
  // First every partition at once; while another batch holds a lock, one partition after another in
  // ascending order (two batches then never wait on each other in a cycle).
  bool ordered = false;
  const auto busy_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyWaitMs);
  std::vector<BatchPart*> todo;
  for (auto& [k, p] : parts)
    if (any_passed(p)) todo.push_back(&p);
  for (int round = 0; commit && !todo.empty(); ++round) {
    if (round >= 64) return undo(fail(core::Code::overloaded, "the skus of this stock batch keep changing: retry"));
    bool busy = false;
    if (!prepare(ordered ? std::vector<BatchPart*>{todo.front()} : todo, &busy)) return undo(out);
    if (busy) {
      if (std::chrono::steady_clock::now() > busy_deadline) {
        return undo(fail(core::Code::overloaded, "a sku of this stock batch is being changed by another stock batch: retry"));
      }
      if (!ordered) {
        release();  // this batch's locks out of order could close a cycle with the other batch's
        ordered = true;
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 + round, 20)));
      }
    }
    std::vector<BatchPart*> next;
    for (auto& [k, p] : parts)
      if (!p.locked && any_passed(p)) next.push_back(&p);
    todo = std::move(next);
  }
  if (core::Outcome o = replicate(); !o.ok()) return undo(o);  // the locks and escrows are on replicas
  RedisReply d = batch_mark(id, "prep", commit ? "commit" : "abort", encode_answer(*answer));
  if (d.type != RedisReply::Type::array || d.elements.empty()) return undo(transport_error(d));
  if (d.elements[0].str != "OK") {
    // The sweep aborted it: this node took longer than the lease.
    undo({});
    return fail(core::Code::unavailable, "stock batch " + id + " took longer than its lease and was aborted: retry");
  }
  ChannelTable channels = channels_copy();
  std::vector<ClusterClient::Call> calls;
  std::vector<BatchPart*> ended;
  for (auto& [k, p] : parts) {
    if (!p.locked) continue;
    calls.push_back(batch_end(id, k, p.skus, commit, now_ms));
    ended.push_back(&p);
  }
  std::vector<RedisReply> replies = cc->pipeline(calls);
  for (std::size_t i = 0; i < ended.size(); ++i) {
    const RedisReply& e = replies[i];
    const BatchPart& p = *ended[i];
    if (e.type != RedisReply::Type::array || e.elements.size() != p.skus.size() + 1) {
      // Decided: the sweep finishes this partition after the lease.
      return transport_error(e);
    }
    for (std::size_t j = 0; j < p.skus.size(); ++j) {
      Fields fields = to_fields(e.elements[j + 1]);
      if (fields.count("ver") == 0) continue;
      remember(p.skus[j], fields);
      fill_sku(p.skus[j], fields, channels, &views[p.skus[j]]);
    }
  }
  if (core::Outcome o = acknowledged(); !o.ok()) return o;
  out.changed = commit;
  return reply_with(std::move(answer));
}

// A batch whose locks in partition k outlived their lease: its node died (or stalled) between its
// prepare and its end. The record decides: commit if the node decided so, else abort (and the record
// says so, so a late node cannot commit it any more).
void ClusterStore::Impl::end_stuck_batch(int k, const std::string& id, std::int64_t now_ms) {
  RedisReply m = batch_mark(id, "prep", "abort", kAbandoned);
  if (m.type != RedisReply::Type::array || m.elements.empty()) return;
  bool commit = m.elements[0].str == "STATE" && m.elements.size() > 1 && m.elements[1].str == "commit";
  if (m.elements[0].str == "STATE" && m.elements.size() > 1 && m.elements[1].str.empty()) {
    batch_mark(id, "", "abort", kAbandoned);  // no record (never written, or removed by an undo)
  }
  std::string rec = lock_record_key(k, id);
  RedisReply names = cc->command(rec, {"HGET", rec, "skus"}, true);
  std::vector<std::string> skus;
  if (names.type == RedisReply::Type::string) {
    for (std::size_t at = 0; at <= names.str.size();) {
      std::size_t end = names.str.find('\n', at);
      if (end == std::string::npos) end = names.str.size();
      if (end > at) skus.push_back(names.str.substr(at, end - at));
      at = end + 1;
    }
  }
  ClusterClient::Call call = batch_end(id, k, skus, commit, now_ms);
  cc->command(call.key, call.argv, true);
  replicate();
  spdlog::warn("event=stock_batch_ended_by_sweep batch={} partition={} decision={}", id, k, commit ? "commit" : "abort");
}

}  // namespace stockd::backends
