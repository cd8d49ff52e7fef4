// The listed channels' publications, the ledger's side (docs/cluster.md "Listed channels on the cluster
// store"): t=pub entries numbered per channel into `publications`, and the drop of a channel's pending
// publications when a t=ch entry says it became direct.
//
// Numbering: a channel's seqs start at 1 and grow by one per new publication, in commit order. The
// caller (exec_batch) holds the events lock from BEGIN to COMMIT, and every ledger transaction takes
// it, so reading publication_channels.last and writing last + n cannot race another ledger: the
// transaction holding seq N+1 began numbering after the one holding N committed, and a reader whose
// snapshot has N+1 has N (no gap that is filled later, as for the events feed).
//
// Coalescing: one row per (channel, SKU), its latest version. A publication whose version is not
// above the row's (a repeat, or an older one applied after a newer) changes nothing and takes no seq.
// A newer one moves the row to a new seq, so a reader paging by seq sees each SKU once, with its
// latest quantity (GET /v1/channels/{c}/publications, as the embedded core's pending map).
//
// Two statements, not one CTE chain with the apply statement: the sub-statements of one statement
// share a snapshot and must not modify the same row twice, and the drop must see the batch's new
// publications and the channel row the apply statement just wrote.
//
// NOTIFY: each statement ends with pg_notify(kPublicationsNotifyChannel, "<channel>:<last>") per
// channel it changed (one notification per channel, delivered at COMMIT; PostgreSQL folds identical
// ones of a transaction), so a node's watcher learns which channel to look at again.
#include <string_view>

#include "backends/ledger_impl.h"

namespace stockd::backends {
namespace {

// $1: pub_changes_json. Per (channel, SKU) the highest version of the batch (ties: the later entry);
// those above the row's version are numbered after the channel's last seq in the batch's order.
constexpr const char* kPublishSql = R"sql(
WITH r AS (
  SELECT DISTINCT ON (r.ch, r.sku) r.ch, r.sku, r.q, r.v, r.at, r.i
  FROM json_to_recordset($1::json) AS r(ch text, sku text, q bigint, v bigint, at bigint, i bigint)
  ORDER BY r.ch, r.sku, r.v DESC, r.i DESC
), fresh AS (
  SELECT r.* FROM r LEFT JOIN publications p ON p.channel = r.ch AND p.sku = r.sku
  WHERE p.version IS NULL OR p.version < r.v
), numbered AS (
  SELECT f.ch, f.sku, f.q, f.v, f.at, coalesce(c.last, 0) + row_number() OVER (PARTITION BY f.ch ORDER BY f.i) AS seq
  FROM fresh f LEFT JOIN publication_channels c ON c.channel = f.ch
), p AS (
  INSERT INTO publications AS t (channel, sku, quantity, version, seq, at)
  SELECT n.ch, n.sku, n.q, n.v, n.seq, 'epoch'::timestamptz + n.at * interval '1 millisecond' FROM numbered n
  ON CONFLICT (channel, sku) DO UPDATE SET quantity = EXCLUDED.quantity, version = EXCLUDED.version,
    seq = EXCLUDED.seq, at = EXCLUDED.at
  WHERE t.version < EXCLUDED.version
), c AS (
  INSERT INTO publication_channels AS t (channel, last, acked)
  SELECT n.ch, max(n.seq), 0 FROM numbered n GROUP BY n.ch
  ON CONFLICT (channel) DO UPDATE SET last = EXCLUDED.last
  RETURNING t.channel, t.last
)
SELECT c.channel, c.last, (SELECT count(*) FROM numbered n WHERE n.ch = c.channel),
       pg_notify('stockd_publications', c.channel || ':' || c.last)
FROM c
)sql";

// $1: channel_changes_json. The batch's latest entry per channel (as the apply statement chose it:
// `at`, then stream order) drops the channel's pending publications when it says "direct" and it is
// the entry the channels row now holds (an older entry, applied late, does not).
constexpr const char* kDropSql = R"sql(
WITH d AS (
  SELECT DISTINCT ON (r.ch) r.ch, r.lst, r.at
  FROM json_to_recordset($1::json) AS r(ch text, lst bigint, at bigint, seq bigint)
  ORDER BY r.ch, r.at DESC, r.seq DESC
), u AS (
  UPDATE publication_channels t SET acked = t.last
  FROM d JOIN channels c ON c.channel = d.ch
  WHERE t.channel = d.ch AND coalesce(d.lst, 0) = 0 AND t.acked < t.last
    AND c.updated_at = 'epoch'::timestamptz + d.at * interval '1 millisecond'
  RETURNING t.channel, t.last
)
SELECT u.channel, u.last, pg_notify('stockd_publications', u.channel || ':' || u.last) FROM u
)sql";

}  // namespace

PgResult Ledger::Impl::apply_publications(const std::vector<const OutboxChange*>& changes) {
  static_assert(std::string_view(kPublicationsNotifyChannel) == "stockd_publications", "the SQL above names it");
  batch_publications = 0;
  std::vector<const PubChange*> pubs;
  std::vector<const ChannelChange*> channels;
  bool any_direct = false;
  for (const OutboxChange* c : changes) {
    if (const auto* p = std::get_if<PubChange>(c)) pubs.push_back(p);
    if (const auto* ch = std::get_if<ChannelChange>(c)) {
      channels.push_back(ch);
      any_direct = any_direct || !ch->listed;
    }
  }
  PgResult r(PQmakeEmptyPGresult(pg.get(), PGRES_COMMAND_OK));
  if (!pubs.empty()) {
    r = pg_exec(pg.get(), kPublishSql, {pub_changes_json(pubs)});
    if (!pg_ok(r.get())) return r;
    for (int i = 0; i < PQntuples(r.get()); ++i) batch_publications += static_cast<std::size_t>(pg_int(r.get(), i, 2));
  }
  // After the publications: a channel that became direct drops the batch's publications too. The
  // channel changes go whole (the latest of each channel decides, listed or not).
  if (any_direct) r = pg_exec(pg.get(), kDropSql, {channel_changes_json(channels)});
  return r;
}

}  // namespace stockd::backends
