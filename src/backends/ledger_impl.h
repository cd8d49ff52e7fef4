// ledger_impl.h: the Ledger's state and the small libpq helpers its files share (ledger.cc: open and
// schema; ledger_poll.cc: claim, read, apply, ack; ledger_events.cc: the events feed;
// ledger_publications.cc: listed channels' publications; ledger_reconcile.cc).
#pragma once
#include <libpq-fe.h>

#include <array>
#include <map>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/cluster_client.h"
#include "backends/cluster_policy.h"
#include "backends/cluster_store.h"
#include "backends/ledger.h"
#include "backends/ledger_entry.h"

namespace stockd::backends {

struct PgResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
struct PgConnFree {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PgResult = std::unique_ptr<PGresult, PgResultFree>;
using PgConn = std::unique_ptr<PGconn, PgConnFree>;

// Runs one statement with text parameters (cast in the SQL, e.g. $1::bigint). Never null: a failed
// send yields an empty PGRES_FATAL_ERROR result.
PgResult pg_exec(PGconn* conn, const char* sql, const std::vector<std::string>& params = {});
bool pg_ok(const PGresult* r);  // PGRES_COMMAND_OK or PGRES_TUPLES_OK
std::string pg_error(PGconn* conn, const PGresult* r);  // one line: SQLSTATE and message
std::int64_t pg_int(const PGresult* r, int row, int col);  // a bigint column (0 if NULL)

std::int64_t now_ms();

// Taken (pg_advisory_xact_lock) by every ledger transaction before it writes, held until its COMMIT:
// events get their seq in commit order (docs/cluster.md "Events feed").
inline constexpr std::int64_t kEventsLockKey = 0x73746f636b657674;  // "stockevt"

// A stream entry as read from Redis. `deleted`: it was trimmed while pending (no fields left).
struct RawEntry {
  std::string id;
  std::uint64_t ms = 0, seq = 0;  // the id's two parts, for ordering and lag
  StreamFields fields;
  bool deleted = false;
};

// A SKU's figures as the events feed compares them before and after a transaction (ledger_events.cc),
// summed over its home row and its shards' rows in stock_levels.
struct SkuFigures {
  bool exists = false;   // the home row exists
  bool buckets = false;  // it carries bucket figures (entries of an older library do not)
  std::int64_t on_hand = 0, safety_stock = 0, held = 0, lst = -1, base = 0;
  std::string cfg;
  std::map<std::string, std::int64_t, std::less<>> free;  // by bucket ("sh" includes the shards')
};

// One partition's entries of a poll round: parsed changes (changes[i] came from *sources[i], which
// points into entries) and the ids to XACK once this round is over.
struct PartitionBatch {
  int k = 0;
  std::vector<RawEntry> entries;
  std::vector<OutboxChange> changes;
  std::vector<const RawEntry*> sources;
  std::vector<std::string> acks;
};

struct Ledger::Impl {
  LedgerOptions opt;
  std::unique_ptr<ClusterClient> redis;
  PgConn pg;
  LedgerStats stats;
  // Partitions whose next round also reads XREADGROUP ... 0 (this consumer's own pending entries):
  // after a failed apply, a read or ack whose answer was lost, and at open (a previous process of the
  // same consumer name may have died with entries pending). Cleared once such a read returns them all.
  std::array<bool, kPartitions> own_pending{};
  // Where each partition's XAUTOCLAIM goes on: it examines at most 10 x COUNT pending entries per call,
  // so restarting at 0-0 every round would never reach idle entries behind many busy ones.
  std::array<std::string, kPartitions> claim_cursor;
  bool last_exec_data_error = false;
  std::int64_t round_lag_ms = 0;
  // The channels (from Redis's "{p0}:channels"), read once per round that derives events: the
  // per-channel availability of a SKU follows their priorities and states.
  ChannelTable channel_table;
  bool channels_fresh = false;
  std::size_t batch_events = 0;  // events of the transaction in progress (counted at its COMMIT)
  std::size_t batch_publications = 0;  // new seqs of the transaction in progress (likewise)
  // What the transaction in progress found before it applied its changes: the figures of the SKUs
  // and the states of the channels they touch (events_before()).
  std::map<std::string, SkuFigures, std::less<>> figures_before;
  std::map<std::string, std::string, std::less<>> channel_states_before;

  // The PostgreSQL connection, reconnected if it broke. False (logged) if it is still down.
  bool pg_ready();
  bool create_schema(std::string* error);
  bool create_groups(std::string* error);

  // One poll round; returns entries applied, *handled = entries taken off the streams by any outcome
  // (applied, malformed, rejected, lost), which is what "the outbox is drained" counts.
  std::size_t poll(std::size_t* handled);
  // Sorts and parses a partition's entries; malformed and lost ones go straight to p->acks.
  void prepare(PartitionBatch* p);
  // Applies the changes of `group` in one transaction; on a data error partition by partition, and a
  // partition's entries one by one (the one PostgreSQL refuses is rejected and acked). Committed ids
  // go to each partition's acks. False if PostgreSQL failed other than on bad data: what is not in
  // acks stays pending. *applied counts well-formed entries committed.
  bool apply_group(const std::vector<PartitionBatch*>& group, std::size_t* applied);
  bool apply_one_by_one(PartitionBatch* p, const std::string& why, std::size_t* applied);
  // One statement for `changes`. On failure *error, and last_exec_data_error says whether PostgreSQL
  // called the data wrong (SQLSTATE class 22 or 23; retrying cannot help) rather than failed.
  bool exec_batch(const std::vector<const OutboxChange*>& changes, std::string* error);
  // Inside exec_batch's transaction, after the changes were applied (ledger_events.cc): inserts the
  // events they make, numbered after the last one. Returns the last statement's result (the failed
  // one on failure).
  PgResult write_events(const std::vector<const OutboxChange*>& changes);
  // Inside the transaction, under the events lock, before the changes are applied.
  PgResult events_before(const std::vector<const OutboxChange*>& changes);
  // Inside exec_batch's transaction, under the events lock, after the apply statement
  // (ledger_publications.cc): numbers the t=pub changes and drops the publications of channels that
  // became direct. Returns the last statement's result (the failed one on failure).
  PgResult apply_publications(const std::vector<const OutboxChange*>& changes);
  void load_channels();
  void committed(const std::vector<const RawEntry*>& sources, std::vector<std::string>* acks, std::size_t* applied);
  std::vector<ClusterClient::Call> read_calls(std::vector<std::size_t>* first) const;
  bool reply_ok(int k, const RedisReply& r, bool* unseen);
  void take_replies(int k, const RedisReply* replies, std::size_t n, std::vector<RawEntry>* out);
  // poll() until a round handles nothing (bounded by kDrainRoundsMax).
  void drain();
};

}  // namespace stockd::backends
