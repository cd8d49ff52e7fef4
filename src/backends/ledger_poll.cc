// The ledger's poll round: claim, read, apply, COMMIT, XACK.
//
// One pipeline carries, per partition, XREADGROUP (new entries, or this consumer's own pending ones
// after a failure) and XAUTOCLAIM (entries a dead consumer left pending), so a round costs one round
// trip per master whatever the number of partitions. The round's entries (all partitions, up to
// kGroupEntriesMax per transaction) then become ONE transaction: BEGIN, the events lock, a read of the
// touched SKUs, ONE apply statement (data-modifying CTEs over json_to_recordset: the entries travel as
// one JSON parameter, parsed as `json`, which is much cheaper to bind than `jsonb` for 10,000 entries),
// the publications (ledger_publications.cc), the events (ledger_events.cc), COMMIT: one fsync per
// round. XACK follows COMMIT: a crash in between redelivers entries whose effects are already there,
// and the apply rules make that a no-op.
//
// A failed transaction is retried partition by partition, then entry by entry, only when PostgreSQL
// calls the data wrong (SQLSTATE class 22 data exception, 23 integrity violation); an entry that fails
// alone then is rejected (logged, acked), so it cannot block its stream. Any other failure (connection, timeout, deadlock, disk full) is
// transient: nothing is acked and the entries are read again.
#include <algorithm>
#include <cassert>
#include <charconv>

#include "backends/ledger_impl.h"
#include "backends/outbox.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

constexpr int kDrainRoundsMax = 10'000;
// Entries per transaction: a round's partitions share transactions up to this size (a partition's
// batch is never split).
constexpr std::size_t kGroupEntriesMax = 10'000;

// Timestamps travel as epoch ms; 'epoch' + ms * 1 ms is exact for every time kEpochMsMax allows.
constexpr const char* kApplySql = R"sql(
WITH s AS (
  SELECT * FROM json_to_recordset($1::json) AS r(sku text, ver bigint, kind text, d_oh bigint, d_hd bigint,
                                                   ref text, reason text, at bigint, oh bigint, ss bigint, hd bigint,
                                                   fr text, cfg text, lst bigint, base bigint, ch text)
), mv AS (
  INSERT INTO stock_movements (sku, version, kind, delta_on_hand, delta_held, ref, reason, at, channel)
  SELECT s.sku, s.ver, s.kind, s.d_oh, s.d_hd, s.ref, s.reason,
         'epoch'::timestamptz + s.at * interval '1 millisecond', coalesce(s.ch, '')
  FROM s ORDER BY s.sku, s.ver
  ON CONFLICT (sku, version) DO NOTHING
), lv AS (
  INSERT INTO stock_levels AS t (sku, on_hand, safety_stock, held, version, updated_at, frees, cfg,
                                 low_stock_threshold, base_on_hand)
  SELECT DISTINCT ON (s.sku) s.sku, s.oh, s.ss, s.hd, s.ver, 'epoch'::timestamptz + s.at * interval '1 millisecond',
         s.fr, coalesce(s.cfg, ''), coalesce(s.lst, -1), coalesce(s.base, 0)
  FROM s ORDER BY s.sku, s.ver DESC
  ON CONFLICT (sku) DO UPDATE SET on_hand = EXCLUDED.on_hand, safety_stock = EXCLUDED.safety_stock,
    held = EXCLUDED.held, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at,
    frees = coalesce(EXCLUDED.frees, t.frees),
    cfg = CASE WHEN EXCLUDED.frees IS NULL THEN t.cfg ELSE EXCLUDED.cfg END,
    low_stock_threshold = CASE WHEN EXCLUDED.frees IS NULL THEN t.low_stock_threshold ELSE EXCLUDED.low_stock_threshold END,
    base_on_hand = CASE WHEN EXCLUDED.frees IS NULL THEN t.base_on_hand ELSE EXCLUDED.base_on_hand END
  WHERE t.version < EXCLUDED.version
), h AS (
  INSERT INTO holds AS t (id, channel, state, lines, created_at, expires_at, finished_at, version)
  SELECT DISTINCT ON (r.id) r.id, r.ch, r.st, r.lines,
         'epoch'::timestamptz + r.cat * interval '1 millisecond',
         'epoch'::timestamptz + r.exp * interval '1 millisecond',
         CASE WHEN r.fin = 0 THEN NULL ELSE 'epoch'::timestamptz + r.fin * interval '1 millisecond' END,
         r.hver
  FROM json_to_recordset($2::json) AS r(id text, ch text, st text, lines jsonb, cat bigint, exp bigint,
                                         fin bigint, hver bigint)
  ORDER BY r.id, r.hver DESC
  ON CONFLICT (id) DO UPDATE SET channel = EXCLUDED.channel, state = EXCLUDED.state, lines = EXCLUDED.lines,
    created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, finished_at = EXCLUDED.finished_at,
    version = EXCLUDED.version
  WHERE t.version < EXCLUDED.version
), c AS (
  INSERT INTO channels AS t (channel, priority, hold_ttl_s, state, updated_at)
  SELECT DISTINCT ON (r.ch) r.ch, r.prio, r.ttl, r.st, 'epoch'::timestamptz + r.at * interval '1 millisecond'
  FROM json_to_recordset($3::json) AS r(ch text, prio bigint, ttl bigint, st text, at bigint, seq bigint)
  ORDER BY r.ch, r.at DESC, r.seq DESC
  ON CONFLICT (channel) DO UPDATE SET priority = EXCLUDED.priority, hold_ttl_s = EXCLUDED.hold_ttl_s,
    state = EXCLUDED.state, updated_at = EXCLUDED.updated_at
  WHERE t.updated_at <= EXCLUDED.updated_at
)
SELECT 1
)sql";

bool parse_stream_id(std::string_view id, std::uint64_t* ms, std::uint64_t* seq) {
  const std::size_t dash = id.find('-');
  if (dash == std::string_view::npos) return false;
  auto [p1, e1] = std::from_chars(id.data(), id.data() + dash, *ms);
  auto [p2, e2] = std::from_chars(id.data() + dash + 1, id.data() + id.size(), *seq);
  return e1 == std::errc() && e2 == std::errc() && p1 == id.data() + dash && p2 == id.data() + id.size();
}

// [[id, [field, value, ...] | nil], ...] -> entries. False if the reply has another shape.
bool read_entries(const RedisReply& list, std::vector<RawEntry>* out) {
  if (list.type == RedisReply::Type::nil) return true;
  if (list.type != RedisReply::Type::array) return false;
  for (const RedisReply& e : list.elements) {
    if (e.type != RedisReply::Type::array || e.elements.size() != 2) return false;
    RawEntry raw;
    raw.id = e.elements[0].str;
    if (!parse_stream_id(raw.id, &raw.ms, &raw.seq)) return false;
    const RedisReply& f = e.elements[1];
    raw.deleted = f.type != RedisReply::Type::array;
    for (std::size_t i = 0; !raw.deleted && i + 1 < f.elements.size(); i += 2) {
      raw.fields.emplace_back(f.elements[i].str, f.elements[i + 1].str);
    }
    out->push_back(std::move(raw));
  }
  return true;
}

// XREADGROUP: nil, or [[key, entries]].
bool read_group_reply(const RedisReply& r, std::vector<RawEntry>* out) {
  if (r.type == RedisReply::Type::nil) return true;
  if (r.type != RedisReply::Type::array) return false;
  for (const RedisReply& stream : r.elements) {
    if (stream.type != RedisReply::Type::array || stream.elements.size() != 2) return false;
    if (!read_entries(stream.elements[1], out)) return false;
  }
  return true;
}

// XAUTOCLAIM (Redis 7): [next cursor, entries, ids of pending entries that no longer exist].
bool autoclaim_reply(const RedisReply& r, std::vector<RawEntry>* out, std::size_t* deleted, std::string* cursor) {
  if (r.type != RedisReply::Type::array || r.elements.size() < 2) return false;
  if (r.elements.size() >= 3) *deleted = r.elements[2].elements.size();
  *cursor = r.elements[0].type == RedisReply::Type::string ? r.elements[0].str : "0-0";
  return read_entries(r.elements[1], out);
}

// SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the input is wrong,
// sending it again cannot help.
bool is_data_error(const PGresult* r) {
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  return state != nullptr && (std::string_view(state, 2) == "22" || std::string_view(state, 2) == "23");
}

}  // namespace

bool Ledger::Impl::exec_batch(const std::vector<const OutboxChange*>& changes, std::string* error) {
  std::vector<const SkuChange*> skus;
  std::vector<const HoldChange*> holds;
  std::vector<const ChannelChange*> channels;
  for (const OutboxChange* c : changes) {
    if (const auto* s = std::get_if<SkuChange>(c)) skus.push_back(s);
    if (const auto* h = std::get_if<HoldChange>(c)) holds.push_back(h);
    if (const auto* ch = std::get_if<ChannelChange>(c)) channels.push_back(ch);
  }
  // One transaction: the changes and the events derived from them commit together, under the events
  // lock, so that events are numbered in commit order (docs/cluster.md "Events feed").
  PgResult r = pg_exec(pg.get(), "BEGIN");
  if (pg_ok(r.get())) r = pg_exec(pg.get(), "SELECT pg_advisory_xact_lock($1::bigint)", {std::to_string(kEventsLockKey)});
  if (pg_ok(r.get())) r = events_before(changes);
  if (pg_ok(r.get())) {
    r = pg_exec(pg.get(), kApplySql, {sku_changes_json(skus), hold_changes_json(holds), channel_changes_json(channels)});
  }
  if (pg_ok(r.get())) r = apply_publications(changes);
  if (pg_ok(r.get())) r = write_events(changes);
  if (pg_ok(r.get())) r = pg_exec(pg.get(), "COMMIT");
  if (pg_ok(r.get())) {
    stats.events += batch_events;
    stats.publications += batch_publications;
    return true;
  }
  *error = pg_error(pg.get(), r.get());
  last_exec_data_error = is_data_error(r.get()) && PQstatus(pg.get()) == CONNECTION_OK;
  pg_exec(pg.get(), "ROLLBACK");
  return false;
}

void Ledger::Impl::prepare(PartitionBatch* p) {
  std::vector<RawEntry>* entries = &p->entries;
  std::sort(entries->begin(), entries->end(),
            [](const RawEntry& a, const RawEntry& b) { return a.ms != b.ms ? a.ms < b.ms : a.seq < b.seq; });
  entries->erase(std::unique(entries->begin(), entries->end(),
                             [](const RawEntry& a, const RawEntry& b) { return a.id == b.id; }),
                 entries->end());
  p->changes.reserve(entries->size());
  for (const RawEntry& e : *entries) {
    std::string error;
    if (e.deleted) {
      ++stats.lost;
      spdlog::warn("event=ledger_entry_lost stream={} id={} reason=trimmed_while_pending", outbox_key(p->k), e.id);
      p->acks.push_back(e.id);
    } else if (!parse_outbox_entry(e.fields, &p->changes.emplace_back(), &error)) {
      p->changes.pop_back();
      ++stats.malformed;
      spdlog::warn("event=ledger_entry_malformed stream={} id={} error=\"{}\" action=acked", outbox_key(p->k), e.id,
                   error);
      p->acks.push_back(e.id);
    } else {
      p->sources.push_back(&e);
    }
  }
}

bool Ledger::Impl::apply_group(const std::vector<PartitionBatch*>& group, std::size_t* applied) {
  std::vector<const OutboxChange*> all;
  for (const PartitionBatch* p : group) {
    for (const OutboxChange& c : p->changes) all.push_back(&c);
  }
  if (all.empty()) return true;
  std::string error;
  if (exec_batch(all, &error)) {
    ++stats.batches;
    for (PartitionBatch* p : group) committed(p->sources, &p->acks, applied);
    return true;
  }
  ++stats.errors;
  if (!last_exec_data_error) {
    spdlog::warn("event=ledger_batch_failed partitions={} entries={} error=\"{}\" action=retry_later", group.size(),
                 all.size(), error);
    return false;
  }
  if (group.size() == 1) return apply_one_by_one(group[0], error, applied);
  spdlog::warn("event=ledger_batch_failed partitions={} entries={} error=\"{}\" action=apply_by_partition",
               group.size(), all.size(), error);
  for (PartitionBatch* p : group) {
    if (!apply_group({p}, applied)) return false;
  }
  return true;
}

bool Ledger::Impl::apply_one_by_one(PartitionBatch* p, const std::string& why, std::size_t* applied) {
  spdlog::warn("event=ledger_batch_failed stream={} entries={} error=\"{}\" action=apply_one_by_one",
               outbox_key(p->k), p->changes.size(), why);
  std::string error;
  for (std::size_t i = 0; i < p->changes.size(); ++i) {
    if (exec_batch({&p->changes[i]}, &error)) {
      ++stats.batches;
      committed({p->sources[i]}, &p->acks, applied);
    } else if (last_exec_data_error) {
      ++stats.rejected;
      spdlog::error("event=ledger_entry_rejected stream={} id={} error=\"{}\" action=acked", outbox_key(p->k),
                    p->sources[i]->id, error);
      p->acks.push_back(p->sources[i]->id);
    } else {
      ++stats.errors;
      return false;
    }
  }
  return true;
}

void Ledger::Impl::committed(const std::vector<const RawEntry*>& sources, std::vector<std::string>* acks,
                             std::size_t* applied) {
  const std::int64_t now = now_ms();
  for (const RawEntry* e : sources) {
    acks->push_back(e->id);
    round_lag_ms = std::max(round_lag_ms, now - static_cast<std::int64_t>(e->ms));
  }
  *applied += sources.size();
  stats.entries_applied += sources.size();
}

// Per partition: XREADGROUP ... 0 (only while own_pending[k]), XREADGROUP ... >, XAUTOCLAIM.
// first[k] is the index of partition k's first call.
std::vector<ClusterClient::Call> Ledger::Impl::read_calls(std::vector<std::size_t>* first) const {
  const std::string count = std::to_string(opt.batch);
  const std::string idle = std::to_string(opt.claim_idle_ms);
  std::vector<ClusterClient::Call> calls;
  calls.reserve(3 * kPartitions);
  first->assign(kPartitions + 1, 0);
  for (int k = 0; k < kPartitions; ++k) {
    const std::string key = outbox_key(k);
    (*first)[k] = calls.size();
    if (own_pending[k]) {
      calls.push_back({key, {"XREADGROUP", "GROUP", kLedgerGroup, opt.consumer, "COUNT", count, "STREAMS", key, "0"},
                       true});
    }
    calls.push_back({key, {"XREADGROUP", "GROUP", kLedgerGroup, opt.consumer, "COUNT", count, "STREAMS", key, ">"},
                     false});
    calls.push_back({key, {"XAUTOCLAIM", key, kLedgerGroup, opt.consumer, idle, claim_cursor[k], "COUNT", count},
                     false});
  }
  (*first)[kPartitions] = calls.size();
  return calls;
}

// False (counted, logged) if `r` is an error. *unseen: entries may have been delivered to this
// consumer without reaching us (the connection broke after the command was sent).
bool Ledger::Impl::reply_ok(int k, const RedisReply& r, bool* unseen) {
  if (!r.is_error()) return true;
  ++stats.errors;
  if (r.is_io_error()) *unseen = true;
  if (r.str.rfind("NOGROUP", 0) == 0) {
    // The stream was deleted (and maybe recreated since): its group went with it. Every entry in it
    // now is unseen, so the group starts again at 0.
    redis->command(outbox_key(k), {"XGROUP", "CREATE", outbox_key(k), kLedgerGroup, "0", "MKSTREAM"}, true);
    claim_cursor[k] = "0-0";
    spdlog::warn("event=ledger_group_recreated stream={}", outbox_key(k));
  } else {
    spdlog::warn("event=ledger_read_failed stream={} error=\"{}\"", outbox_key(k), r.str);
  }
  return false;
}

// Partition k's entries from its replies (see read_calls), and whether its next round must read this
// consumer's own pending entries again (own_pending[k]).
void Ledger::Impl::take_replies(int k, const RedisReply* replies, std::size_t n, std::vector<RawEntry>* out) {
  bool unseen = false;        // entries may have been delivered to us without reaching `out`
  bool pel_drained = false;   // the read of our own pending entries returned all of them
  for (std::size_t i = 0; i < n; ++i) {
    const RedisReply& r = replies[i];
    const bool claim = i + 1 == n;
    const bool pel = n == 3 && i == 0;
    if (!reply_ok(k, r, &unseen)) continue;
    const std::size_t before = out->size();
    std::size_t deleted = 0;
    if (!(claim ? autoclaim_reply(r, out, &deleted, &claim_cursor[k]) : read_group_reply(r, out))) {
      spdlog::warn("event=ledger_read_failed stream={} error=\"unexpected {} reply\"", outbox_key(k),
                   claim ? "XAUTOCLAIM" : "XREADGROUP");
      ++stats.errors;
      unseen = true;
      continue;
    }
    if (pel) pel_drained = out->size() - before < static_cast<std::size_t>(opt.batch);
    if (claim) stats.claimed += out->size() - before;
    if (deleted > 0) {
      stats.lost += deleted;
      spdlog::warn("event=ledger_entry_lost stream={} count={} reason=trimmed_while_pending", outbox_key(k), deleted);
    }
  }
  if (unseen) {
    own_pending[k] = true;
  } else if (pel_drained) {
    own_pending[k] = false;  // what was pending is in `out` now, and is applied or marked again below
  }
}

std::size_t Ledger::Impl::poll(std::size_t* handled) {
  *handled = 0;
  if (!pg_ready()) return 0;
  std::vector<std::size_t> first;
  const std::vector<RedisReply> replies = redis->pipeline(read_calls(&first));
  assert(replies.size() == first[kPartitions]);
  round_lag_ms = 0;
  channels_fresh = false;  // read again, once, by the first partition that derives events
  std::size_t applied = 0;
  // Every partition's entries, parsed; then applied in transactions of up to kGroupEntriesMax entries
  // (one fsync and one turn of the events lock for many partitions).
  std::vector<PartitionBatch> parts;
  parts.reserve(kPartitions);
  for (int k = 0; k < kPartitions; ++k) {
    PartitionBatch& p = parts.emplace_back();
    p.k = k;
    take_replies(k, &replies[first[k]], first[k + 1] - first[k], &p.entries);
    if (p.entries.empty()) {
      parts.pop_back();
      continue;
    }
    prepare(&p);
  }
  bool pg_up = true;
  std::vector<PartitionBatch*> group;
  std::size_t group_entries = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    group.push_back(&parts[i]);
    group_entries += parts[i].changes.size();
    if (i + 1 < parts.size() && group_entries + parts[i + 1].changes.size() <= kGroupEntriesMax) continue;
    if (!pg_up || !apply_group(group, &applied)) {
      pg_up = false;  // the rest of this round would fail the same way
      for (PartitionBatch* p : group) own_pending[p->k] = true;
    }
    group.clear();
    group_entries = 0;
  }
  std::vector<ClusterClient::Call> acks;
  std::vector<int> ack_partitions;
  for (PartitionBatch& p : parts) {
    *handled += p.acks.size();
    if (p.acks.empty()) continue;
    ClusterClient::Call ack{outbox_key(p.k), {"XACK", outbox_key(p.k), kLedgerGroup}, true};
    ack.argv.insert(ack.argv.end(), p.acks.begin(), p.acks.end());
    acks.push_back(std::move(ack));
    ack_partitions.push_back(p.k);
  }
  if (!acks.empty()) {
    const std::vector<RedisReply> acked = redis->pipeline(acks);
    assert(acked.size() == acks.size());
    for (std::size_t i = 0; i < acked.size(); ++i) {
      if (!acked[i].is_error()) continue;
      ++stats.errors;
      own_pending[ack_partitions[i]] = true;  // read them again; applying them again changes nothing
      spdlog::warn("event=ledger_ack_failed stream={} error=\"{}\"", acks[i].key, acked[i].str);
    }
  }
  if (applied > 0) stats.lag_ms = round_lag_ms;
  return applied;
}

void Ledger::Impl::drain() {
  for (int round = 0; round < kDrainRoundsMax; ++round) {
    std::size_t handled = 0;
    poll(&handled);
    if (handled == 0) return;
  }
  spdlog::warn("event=ledger_drain_incomplete rounds={}", kDrainRoundsMax);
}

}  // namespace stockd::backends
