// ledger.h: the ledger writer: applies the cluster store's outbox (outbox.h) to PostgreSQL, the system
// of record, and reconciles PostgreSQL's stock levels with Redis, the live authority (docs/ledger.md).
//
// Delivery: every partition stream "{p<k>}:out" has a consumer group "ledger"; each ledger process
// reads it under its own consumer name. poll_once() takes, per partition, up to `batch` entries that a
// dead consumer left pending longer than claim_idle_ms (XAUTOCLAIM) and up to `batch` new ones
// (XREADGROUP ... >), applies them in one PostgreSQL transaction for all partitions (up to 10,000
// entries each; on a data error partition by partition, then entry by entry), and XACKs them only
// after COMMIT. So an entry is applied at least once; the apply rules make a repeat a no-op, so its
// effect happens exactly once. Entries that do not parse are logged, counted and acked (they never
// block a stream).
//
// Schema (created at open with CREATE TABLE IF NOT EXISTS):
//   stock_levels(sku text PRIMARY KEY, on_hand bigint, safety_stock bigint, held bigint,
//                version bigint, updated_at timestamptz)                      -- all NOT NULL
//   stock_movements(sku text, version bigint, kind text, delta_on_hand bigint, delta_held bigint,
//                   ref text, reason text, at timestamptz, PRIMARY KEY (sku, version))
//   holds(id text PRIMARY KEY, channel text, state text, lines jsonb, created_at timestamptz,
//         expires_at timestamptz, finished_at timestamptz NULL, version bigint)
//         lines: [{"sku": "...", "qty": n}, ...]; finished_at is NULL while the hold is held
//   channels(channel text PRIMARY KEY, priority bigint, hold_ttl_s bigint, state text,
//            updated_at timestamptz)
//   publication_channels(channel text PRIMARY KEY, last bigint, acked bigint)
//   publications(channel text, sku text, quantity bigint, version bigint, seq bigint, at timestamptz,
//                PRIMARY KEY (channel, sku)), index (channel, seq)
//         the listed channels' publications, coalesced: one row per (channel, SKU), its latest
// Apply rules (idempotent and independent of order, because an entry may come twice and two ledger
// writers may apply one stream's entries out of order):
//   t=sku   INSERT the movement ON CONFLICT (sku, version) DO NOTHING; upsert stock_levels
//           WHERE stock_levels.version < EXCLUDED.version (the highest version's levels win)
//   t=hold  upsert holds WHERE holds.version < EXCLUDED.version
//   t=ch    upsert channels WHERE channels.updated_at <= EXCLUDED.updated_at (last writer by `at`); if
//           the entry that won says the channel is direct (lst 0 or absent), its publications are
//           dropped: publication_channels.acked = last (as the embedded core's drop_listing)
//   t=pub   if publications has no row for (ch, sku) or its version < v: the row gets q, v, at and a new
//           seq = ++publication_channels.last (a channel's seqs start at 1 and grow in commit order,
//           under the events lock); else nothing (a repeat or an older publication)
//   t=dfc   no row: its exposure_deficit event only (ledger_events.cc), named by its fields
//
// Reconcile: see reconcile() below and docs/ledger.md.
//
// REQUIRES: external synchronization; one Ledger per thread (it owns a ClusterClient and a libpq
// connection). Nothing throws; failures are counted in stats() and logged.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/cluster_client.h"

namespace stockd::backends {

inline constexpr const char* kLedgerGroup = "ledger";
inline constexpr int kLedgerBatchMax = 10'000;  // LedgerOptions::batch is clamped to [1, this]

struct LedgerOptions {
  std::string conninfo;  // "postgresql://user@host:port/db" or "key=value ...", as libpq accepts
  std::string consumer;  // consumer name in the group; unique per process (e.g. "host:pid")
  int batch = 500;       // entries per partition and source (claimed, new) per poll
  std::int64_t claim_idle_ms = 30000;  // pending longer than this at another consumer: it is dead
  // The low-stock threshold of a SKU without an explicit one: on_hand last set or adjusted x this / 1000
  // (the cluster store's ClusterStoreOptions::low_stock_permille; give both the same value).
  std::int64_t low_stock_permille = 100;
};

// The events feed (docs/cluster.md "Events feed"): every ledger transaction derives the events of the
// entries it applies and inserts them into the table `events`, numbered in commit order, and NOTIFYs
// this channel with the last seq (payload: decimal) as it commits. ClusterEvents reads them.
inline constexpr const char* kEventsNotifyChannel = "stockd_events";
// Listed channels' publications (docs/cluster.md "Listed channels on the cluster store"): a ledger
// transaction that numbered new publications of a channel, or dropped or acknowledged some
// (ClusterEvents::save_publication_ack), NOTIFYs this channel once per channel, payload
// "<channel>:<its last seq>", delivered at COMMIT.
inline constexpr const char* kPublicationsNotifyChannel = "stockd_publications";

struct LedgerStats {
  std::uint64_t entries_applied = 0;  // well-formed entries committed (repeats included)
  std::uint64_t batches = 0;          // transactions committed
  std::uint64_t malformed = 0;        // entries that did not parse (logged, acked)
  std::uint64_t rejected = 0;         // parsed entries PostgreSQL refused even alone (logged, acked)
  std::uint64_t claimed = 0;          // entries taken over from other consumers (XAUTOCLAIM)
  std::uint64_t lost = 0;             // pending entries trimmed from the stream before they were applied
  std::uint64_t errors = 0;           // failed Redis or PostgreSQL calls (retried later)
  std::uint64_t events = 0;           // events committed to the feed
  std::uint64_t publications = 0;     // publications committed with a new seq (repeats not counted)
  std::int64_t lag_ms = 0;  // last poll that applied entries: max (COMMIT time - entry's stream id time)
};

class Ledger {
 public:
  // Connects to PostgreSQL and the cluster, creates the schema and the group "ledger" on every
  // partition stream (XGROUP CREATE key ledger 0 MKSTREAM; an existing group is kept).
  // nullptr and *error on failure.
  static std::unique_ptr<Ledger> open(const LedgerOptions& options, const ClusterOptions& cluster,
                                      std::string* error);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // One round over all partitions (non-blocking): claim, read, apply, COMMIT, XACK. Returns the number
  // of well-formed entries applied. On a PostgreSQL failure nothing of that partition is acked: its
  // entries stay pending under this consumer and are read again (XREADGROUP ... 0) next time.
  std::size_t poll_once();

  // Compares every SKU hash in Redis ("{p<k>}:s:<sku>", fields oh, ss, hd, ver) with stock_levels.
  // First drains the outbox (poll_once until a round finds nothing); a SKU whose row still differs is
  // read again after a second drain (it may have changed meanwhile); what differs then is drift. With
  // `repair`, a drifted row gets Redis's levels and version, plus one stock_movements row of kind
  // 'reconcile' (delta = redis - postgres, version = redis version, ON CONFLICT DO NOTHING); only if
  // its partition's stream is settled (every entry delivered to the group and acked: nothing in
  // flight could still bring the row forward) and the row still holds what was compared. SKUs in
  // stock_levels but not in Redis are reported, never repaired. Returns one human-readable line per
  // drift (and "reconcile incomplete: ..." if Redis or PostgreSQL failed midway); *skus_checked (if
  // not null) is the number of SKUs compared.
  std::vector<std::string> reconcile(bool repair, std::size_t* skus_checked);

  LedgerStats stats() const;

  struct Impl;

 private:
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stockd::backends
