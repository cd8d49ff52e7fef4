// engine.h: the core behind a single writer, made durable by a journal with group commit.
//
// execute(batch): encodes every command of the batch (with its clamped time) as journal records,
// appends them with one write, makes them durable with one sync (FsyncMode::always), then applies
// them to the core in order and fills each item's outcome. Nothing is applied before its records are
// durable, so an outcome is only ever acknowledged for a durable command. If the write or sync fails,
// no item of the batch is applied, every outcome is `unavailable`, and the engine turns unhealthy: it
// answers every later batch `unavailable` (reads go on from inventory()) until maintain() has cut the
// journal back to its last durable offset, started a new segment and synced it. A failed sync is never
// retried on the same file (PostgreSQL's "fsyncgate": the kernel may have dropped the dirty pages).
//
// Data directory layout (docs/operations.md):
//   LOCK                               flock()ed while an engine has the directory open
//   journal-<first lsn, 20 digits>.log segments; rotated at Options::segment_bytes
//   snapshot-<lsn, 20 digits>.snap     state after record <lsn>; written to .tmp, synced, renamed, dir synced
//   journal-prepared.tmp               the next segment while it is zero-filled (removed at open)
// Journal record: u32 length of payload | u32 crc32c(lsn bytes + payload) | u64 lsn | payload
//   (payload = core::encode_command(now_ms, cmd)), little endian. A segment starts with a 16-byte header
//   "STKDJNL2" + u64 first lsn. Format 2: a segment is created at its full size (segment_bytes),
//   zero-filled and synced before it is needed, and records are overwritten into it, so a batch's
//   fdatasync flushes data only (no file-size change to commit). An all-zero record header at a record
//   boundary ends the written part. "STKDJNL1" segments (format 1, ending at their last record) are
//   still read at open, never continued.
//   movements-<first seq, 20 digits>.mov   the movements history (movement_store.h): written after
//                                      each batch is applied, synced before every snapshot
// Snapshot file: "STKDSNP1" | u64 lsn | u32 crc32c(body) | u64 body length | body, where the body is
//   varint-framed: core::Inventory::save() then EventSink::save().
//
// Recovery (open): newest snapshot whose checksum holds (an older one when the newest is damaged; none
// at all only when no snapshot was ever taken, i.e. the journal starts at lsn 1), then every journal
// record after it in lsn order. A torn record at the very end of the last segment (a bad record with
// nothing but zeros or nothing at all after it) is cut off, zeroed durably and logged.
// A bad record anywhere else (checksum, length, lsn gap, missing segment, zeros with good records after
// them) refuses to open with an error naming the file and offset, unless Options::recover_truncate,
// which cuts the journal there (and drops later segments) and logs what was dropped. A damaged record
// is never applied.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"
#include "core/event.h"
#include "core/inventory.h"
#include "engine/env.h"
#include "engine/movement_store.h"

namespace stockd::engine {

enum class FsyncMode : std::uint8_t {
  always,  // one sync per batch before any outcome is returned (default)
  batch,   // sync at most every fsync_batch_ms: an acknowledged command can be lost in a power loss
           // (not in a process crash: the page cache keeps it) within that window
  off,     // never sync (tests and benchmarks only; logged at open)
};

struct Options {
  std::string data_dir;
  FsyncMode fsync = FsyncMode::always;
  std::int64_t fsync_batch_ms = 5;
  std::uint64_t segment_bytes = 64ull << 20;
  // Take a snapshot (from maintain()) after this many journal records since the last one. 0: never.
  std::uint64_t snapshot_every_records = 2'000'000;
  std::size_t events_retained = 100'000;  // passed through to the EventSink owner; unused by the engine
  bool recover_truncate = false;
  // The movements history (movement_store.h): on by default. Files are removed once their newest
  // movement is older than movements_retention_ms; a file takes movements up to about this size.
  bool movements = true;
  std::int64_t movements_retention_ms = 30LL * 24 * 3600 * 1000;
  std::uint64_t movements_file_bytes = 64ull << 20;
};

struct BatchItem {
  core::Command cmd;
  std::int64_t now_ms = 0;       // wall-clock time of the request; the engine clamps it (effective_now)
  core::Outcome outcome{};       // filled by execute()
  std::size_t events_end = 0;    // filled by execute(): this item's events end at (*events)[events_end)
};

// Receives the events of every applied command, during execute() and during recovery replay, while
// the inventory still matches them (so indexes can be turned into names). Its state is saved in the
// snapshot, so what it keeps (the events feed) survives restarts.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_events(std::span<const core::Event> events, const core::Inventory& inv) = 0;
  virtual void save(std::string* out) const = 0;
  virtual bool load(std::string_view in) = 0;  // false: damaged
};

struct EngineStats {
  std::uint64_t last_lsn = 0;          // last durable journal record
  std::uint64_t snapshot_lsn = 0;      // lsn of the newest snapshot
  std::uint64_t batches = 0;
  std::uint64_t records = 0;           // journal records written since open
  std::uint64_t syncs = 0;
  std::uint64_t sync_failures = 0;
  std::uint64_t write_failures = 0;
  std::uint64_t replayed_records = 0;  // at open
  std::int64_t recovery_us = 0;        // time open() took
  std::uint64_t segments = 0;
  std::uint64_t journal_bytes = 0;     // in live segments
  std::uint64_t snapshots_written = 0;
  std::uint64_t snapshot_failures = 0;
  std::int64_t snapshot_us = 0;        // time the last snapshot took (background: fork to installed)
  std::int64_t snapshot_fork_us = 0;   // time the last fork() took: the writer's stall for a background one
  bool snapshot_in_progress = false;   // a background snapshot's child is writing
  std::uint64_t snapshot_fallbacks = 0;  // damaged snapshots skipped at open
  std::uint64_t torn_tail_bytes = 0;   // cut off the last segment at open
  std::uint64_t storage_recoveries = 0;  // maintain() recovered from a fault
  std::uint64_t segments_prepared = 0;   // segments zero-filled ahead of need
};

// Told by Engine::finish() about each item right after it was applied, while inventory() shows the
// state right after that item (and before the next): the server renders each write's reply from it.
class AppliedHook {
 public:
  virtual void applied(std::size_t index, const BatchItem& item) = 0;

 protected:
  ~AppliedHook() = default;
};

class Engine {
 public:
  // Locks and recovers the data directory (creating it when missing). A Status (Code::unavailable,
  // the message naming file and cause) when another process holds the lock, the journal is corrupt
  // without recover_truncate, or I/O fails. `env` and `sink` (optional) must outlive the engine.
  static core::Result<std::unique_ptr<Engine>> open(const Options& options, Env* env, EventSink* sink = nullptr);
  ~Engine();

  // Journals, syncs and applies a batch (see the top of this file). Appends the batch's events to
  // *events (may be null) and sets each item's events_end. Items whose command fails validation are
  // not journaled (they cannot change anything) but still get their outcome.
  void execute(std::span<BatchItem> batch, std::vector<core::Event>* events);

  // The same, split so that the caller can go on reading requests while the batch's sync runs
  // (pipelined group commit; the server's path). begin() validates, encodes and writes the batch and,
  // in FsyncMode::always, hands its fdatasync to the engine's sync thread. It returns false when it
  // refused the batch at once (outcomes set to unavailable, nothing written). After true the batch is
  // in flight: the caller keeps `batch` unchanged, waits until ready() (poll completion_fd() for
  // readability; ready() is true at once in the other fsync modes) and calls finish() with the same
  // batch, which applies it (or refuses it if the sync failed) and fills outcomes and events exactly as
  // execute() does. One batch at a time: begin() REQUIRES !in_flight(). Reads from inventory() between
  // begin() and finish() see the state before the batch; snapshot() refuses while a batch is in flight.
  bool begin(std::span<BatchItem> batch);
  bool ready();
  void wait();  // blocks until ready()
  // `hook` (may be null) is called per applied item; not when the batch is refused (failed sync).
  void finish(std::span<BatchItem> batch, std::vector<core::Event>* events, AppliedHook* hook = nullptr);
  bool in_flight() const;
  int completion_fd() const;  // eventfd, readable when the in-flight sync finished; -1 when none

  // Convenience: a batch of one.
  core::Outcome execute_one(const core::Command& cmd, std::int64_t now_ms, std::vector<core::Event>* events);

  const core::Inventory& inventory() const;
  // false after a write/sync failure (journal or movements) until maintain() recovered
  bool healthy() const;

  // Housekeeping, called by the owner's timer (e.g. every 10-100 ms): the sync of FsyncMode::batch,
  // recovery from a storage fault, zero-filling the next segment (4 MiB per call once the current one
  // is half full), and a periodic snapshot when snapshot_every_records is reached: with a forkable
  // Env (posix) written by a fork()ed child while the writer goes on (this call stalls only for the
  // fork; a later call installs the child's file), otherwise in process.
  void maintain(std::int64_t now_ms);

  // Writes a snapshot now, in process, and returns once it is durable (a background snapshot in
  // progress is finished first); then removes the journal segments and snapshots it makes obsolete
  // (keeps the previous snapshot as a fallback). *lsn = the snapshot's lsn. Stalls the writer for
  // the snapshot's duration (~0.6 s per million holds): for operators and backups, not a timer.
  core::Status snapshot(std::uint64_t* lsn);

  EngineStats stats() const;

  // The movements history of one SKU (GET /v1/movements): up to `limit` movements with seq > after,
  // in seq order. Code::unavailable when the history is off (Options::movements) or a read failed.
  // Writes the movements not yet written first (a failure: unavailable, and the engine refuses writes
  // until maintain() wrote them).
  core::Status movements(std::string_view sku, std::uint64_t after, std::size_t limit,
                         std::vector<MovementRecord>* out);
  MovementStoreStats movement_stats() const;  // all zero when the history is off

  // Syncs (whatever the mode) and releases the lock. Idempotent; the destructor calls it.
  void close();

 private:
  Engine();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// CRC-32C (Castagnoli), as used by the journal and snapshots.
std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t n);
// The same function without the SSE4.2 instruction (table-driven); tests compare the two.
std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t n);

}  // namespace stockd::engine
