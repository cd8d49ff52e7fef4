// engine_impl.h: the engine's state, shared by engine.cc (execute, maintain, metrics), journal_writer.cc
// (segments, commit, fault recovery), snapshot.cc and recovery.cc (open). Not part of the public API.
#pragma once
#include <climits>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/inventory.h"
#include "engine/engine.h"
#include "engine/env.h"

namespace stockd::engine {

struct Segment {
  std::uint64_t first_lsn = 0;
  std::string path;
  std::uint64_t bytes = 0;
};

struct Engine::Impl {
  Options opt;
  Env* env = nullptr;
  EventSink* sink = nullptr;
  int lock_handle = -1;
  bool closed = false;
  core::Inventory inv;

  // Journal writer. `file` is the last of `segments`, open for appending; null only after a fault.
  std::unique_ptr<WritableFile> file;
  std::vector<Segment> segments;     // live segments in lsn order
  std::uint64_t written_offset = 0;  // end of the last batch written to `file`
  std::uint64_t durable_offset = 0;  // end of what a sync made durable (FsyncMode::off: what was written)
  std::uint64_t last_lsn = 0;        // last record written and applied
  // FsyncMode::batch: the records written since the last sync, kept so that a failed sync can write
  // them again into a new segment instead of retrying the sync of the old file.
  std::string unsynced;
  std::uint64_t unsynced_first_lsn = 0;
  std::int64_t last_sync_us = 0;
  bool dirty = false;  // written since the last sync
  bool healthy = true;
  // The next segment, zero-filled ahead of need under format::kPreparedSegmentName.
  std::unique_ptr<WritableFile> prep_file;  // open while it is being filled
  std::uint64_t prep_bytes = 0;             // zeros written (and, unless FsyncMode::off, synced) so far
  bool prep_ready = false;                  // whole, synced and closed: start_segment() renames it

  // Snapshots on disk (lsns, ascending); snapshot_lsn is the newest valid one (0: none).
  std::vector<std::uint64_t> snapshots;
  std::vector<std::uint64_t> bad_snapshots;  // found damaged at open; never a fallback
  std::uint64_t snapshot_lsn = 0;
  std::int64_t snapshot_retry_us = 0;  // after a failed periodic snapshot, do not retry before this
  // A background snapshot's writer (snapshot.cc): a forked child writing the state at `lsn`.
  struct Child {
    long pid = 0;  // 0: none running
    std::uint64_t lsn = 0;
    std::int64_t start_us = 0;
  };
  Child child;

  // Reused by every batch: no allocation per record on the hot path once they have grown.
  core::Writer buf;
  std::vector<std::int64_t> times;  // per item: the clamped time, or kNotJournaled
  std::vector<core::Event> scratch_events;

  EngineStats st;

  // The movements history (null when Options::movements is off). finish() adds each command's
  // movements; they are written with one write per batch by the next begin() (before its journal
  // write, so a failure refuses that batch whole), by maintain(), by a query and before a snapshot.
  // A failed write keeps them in memory and sets moves_failed: batches are refused (like a journal
  // fault) until maintain() wrote them, and no snapshot is taken meanwhile, so the journal can still
  // regenerate them after a crash.
  std::unique_ptr<MovementStore> moves;
  std::vector<core::Movement> scratch_moves;
  bool moves_failed = false;
  void flush_movements();
  core::Status sync_movements();  // before a snapshot lets the journal go

  // Pipelined group commit (FsyncMode::always; engine.h, begin/ready/finish): the fdatasync of a
  // written batch runs in this thread while the caller goes on reading and parsing the next requests.
  // Only one sync is ever outstanding and the caller's thread does not touch the journal file while
  // it runs (begin() requires !pending), so the file needs no locking; the mutex orders the handover.
  struct Syncer {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    WritableFile* file = nullptr;  // the file to sync; set with `request`
    bool request = false;
    bool done = false;
    bool stop = false;
    IoError result = 0;
    int event_fd = -1;             // written once per finished sync (completion_fd())
  };
  std::unique_ptr<Syncer> syncer;
  bool pending = false;            // a batch was begun and not finished
  bool pending_sync = false;       // ... and its sync is outstanding in the syncer
  bool pending_failed = false;     // ... and its write or sync failed: finish() refuses it
  std::uint64_t pending_lsn = 0;   // last lsn of the pending batch (== last_lsn when nothing journaled)
  std::uint64_t pending_first = 0; // first lsn of the pending batch
  void start_syncer();
  void stop_syncer();
  bool write_batch(std::uint64_t first_lsn);  // rotate if full, write buf; no sync (commit() syncs)
  void take_sync_result();                     // REQUIRES: the syncer is done

  std::string path(std::string_view name) const;

  // journal_writer.cc
  bool prepare_segment(std::uint64_t budget_bytes);
  void discard_prepared();
  core::Status start_segment(std::uint64_t first_lsn, std::string_view records);
  bool rotate_if_full(std::size_t incoming_bytes, std::uint64_t first_lsn);
  bool commit(std::uint64_t first_lsn);  // appends buf (and syncs in FsyncMode::always)
  bool sync_now();                       // FsyncMode::batch timer and close()
  bool recover_from_fault();
  void mark_unhealthy(const char* op, const std::string& file_path, IoError e);

  // snapshot.cc
  core::Status write_snapshot(std::uint64_t* lsn);  // in process
  IoError write_snapshot_file(std::uint64_t lsn, const std::string& tmp, const char** op, std::uint64_t* bytes);
  core::Status install_snapshot(std::uint64_t lsn, const std::string& tmp, std::int64_t t0_us, std::uint64_t bytes);
  core::Status snapshot_failed(std::uint64_t lsn, const char* op, const std::string& file, IoError e);
  bool start_background_snapshot();  // fork; false when none was started
  bool poll_snapshot_child(bool wait);
  void remove_obsolete();

  // recovery.cc
  core::Status recover();
  class Recovery;  // the steps of recover()
};

inline constexpr std::int64_t kNotJournaled = INT64_MIN;
// A failed periodic snapshot is retried after this long, not on every maintain() call.
inline constexpr std::int64_t kSnapshotRetryUs = 10'000'000;
// Exit statuses of a background snapshot's child other than 0 (success).
inline constexpr int kChildOrphaned = 3;
inline constexpr int kChildIoFailed = 4;

}  // namespace stockd::engine
