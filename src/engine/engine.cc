// The engine's public face: execute (encode, commit, apply), maintain, snapshot, stats and close.
// The journal writer is in journal_writer.cc, snapshots in snapshot.cc, open() in recovery.cc.
#include "engine/engine.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "core/assert.h"
#include "engine/engine_impl.h"
#include "engine/journal_format.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {
namespace {

// Zeros written into the next segment per maintain() call once the current one is half full: the
// stall of one call is bounded (a few ms), and a 64 MiB segment is ready after 16 calls.
constexpr std::uint64_t kPrepareChunkBytes = 4u << 20;
// Prefetch distances while applying a batch (Inventory::prefetch_index/prefetch_rows).
constexpr std::size_t kPrefetchIndexAhead = 8;
constexpr std::size_t kPrefetchRowsAhead = 4;
// A batch of at most this many records is written and synced right here, in the caller's thread, not
// handed to the syncer thread. At low load (paced clients, one or two requests per batch) the hand-over
// (mutex, condition variable, eventfd, two wake-ups) cost more CPU than the request itself, and on a
// small (2-core, virtualized) machine that CPU is what made the latency tail. The loop is blocked for
// one sync, but a request arriving meanwhile would wait for that sync anyway (one batch in flight).
constexpr std::uint64_t kInlineSyncRecordsMax = 4;
// maintain() syncs the movement files once this much was written to them since the last sync.
constexpr std::uint64_t kMovementsSyncChunkBytes = 4u << 20;

core::Outcome unavailable(std::string message) {
  core::Outcome o;
  o.code = core::Code::unavailable;
  o.message = std::move(message);
  return o;
}

}  // namespace

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() { close(); }

namespace {
void refuse(std::span<BatchItem> batch, std::vector<core::Event>* events, const char* why) {
  std::size_t end = events ? events->size() : 0;
  for (BatchItem& it : batch) {
    it.outcome = unavailable(why);
    it.events_end = end;
  }
}
}  // namespace

bool Engine::begin(std::span<BatchItem> batch) {
  Impl& m = *impl_;
  if (m.pending) {  // a caller error: one batch at a time
    refuse(batch, nullptr, "internal error: a batch is already in flight");
    return false;
  }
  if (m.closed || !m.healthy || m.moves_failed) {
    refuse(batch, nullptr, "storage unavailable: the engine refuses writes until it recovers");
    return false;
  }
  // The previous batch's movements are written first: if that fails, this batch is refused whole.
  m.flush_movements();
  if (m.moves_failed) {
    refuse(batch, nullptr, "storage unavailable: the movements write failed, nothing of this batch was applied");
    return false;
  }

  // 1. Encode every valid command with the time apply() will use, into one reused buffer.
  std::string& b = m.buf.buffer();
  b.clear();
  m.times.clear();
  std::int64_t clock = m.inv.now_ms();
  std::uint64_t lsn = m.last_lsn;
  for (BatchItem& it : batch) {
    std::string message;
    if (core::validate(it.cmd, &message) != core::Code::ok) {
      m.times.push_back(kNotJournaled);
      it.outcome = core::Outcome{};
      it.outcome.code = core::Code::invalid_request;
      it.outcome.message = std::move(message);
      continue;
    }
    clock = std::max(clock, it.now_ms);  // the batch's times never go back: replay sees the same order
    m.times.push_back(clock);
    std::size_t at = b.size();
    b.resize(at + format::kRecordHeaderBytes);
    core::encode_command(clock, it.cmd, m.buf);
    format::seal_record(&b, at, ++lsn);
  }

  // 2. One write and (FsyncMode::always) one sync for the whole batch: in the syncer thread when there
  //    is one (finish() waits for it), else right here.
  m.pending_first = m.last_lsn + 1;
  m.pending_lsn = lsn;
  m.pending_failed = false;
  m.pending_sync = false;
  if (lsn > m.last_lsn) {
    bool ok;
    if (m.syncer && m.opt.fsync == FsyncMode::always && lsn - m.last_lsn > kInlineSyncRecordsMax) {
      ok = m.write_batch(m.last_lsn + 1);
      if (ok) {
        std::lock_guard<std::mutex> lock(m.syncer->mu);
        m.syncer->file = m.file.get();
        m.syncer->request = true;
        m.syncer->done = false;
        m.pending_sync = true;
        m.syncer->cv.notify_all();
      }
    } else {
      ok = m.commit(m.last_lsn + 1);
    }
    if (!ok) {
      refuse(batch, nullptr, "storage unavailable: the journal write or sync failed, nothing of this batch was applied");
      return false;
    }
  }
  m.pending = true;
  return true;
}

bool Engine::ready() {
  Impl& m = *impl_;
  if (!m.pending) return false;
  if (!m.pending_sync) return true;
  {
    std::lock_guard<std::mutex> lock(m.syncer->mu);
    if (!m.syncer->done) return false;
  }
  m.take_sync_result();
  return true;
}

void Engine::wait() {
  Impl& m = *impl_;
  if (!m.pending || !m.pending_sync) return;
  {
    std::unique_lock<std::mutex> lock(m.syncer->mu);
    m.syncer->cv.wait(lock, [&] { return m.syncer->done; });
  }
  m.take_sync_result();
}

int Engine::completion_fd() const { return impl_->syncer ? impl_->syncer->event_fd : -1; }
bool Engine::in_flight() const { return impl_->pending; }

void Engine::finish(std::span<BatchItem> batch, std::vector<core::Event>* events, AppliedHook* hook) {
  Impl& m = *impl_;
  wait();
  m.pending = false;
  if (m.pending_failed) {
    refuse(batch, events, "storage unavailable: the journal sync failed, nothing of this batch was applied");
    return;
  }
  std::uint64_t lsn = m.pending_lsn;
  // begin() encoded this very batch: one time per item, lsns after the last applied one.
  STOCKD_ASSERT(m.times.size() == batch.size() && m.pending_first == m.last_lsn + 1 && lsn >= m.last_lsn);
  if (lsn > m.last_lsn) {
    ++m.st.batches;
    m.st.records += lsn - m.last_lsn;
  }
  m.last_lsn = lsn;
  m.st.last_lsn = lsn;

  // 3. Apply, in order, now that the records are durable.
  std::vector<core::Event>* evs = events;
  if (evs == nullptr && m.sink != nullptr) {
    evs = &m.scratch_events;
    evs->clear();
  }
  m.inv.set_movement_sink(m.moves ? &m.scratch_moves : nullptr);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    // The core's prefetch hints: index slots of the command kPrefetchIndexAhead places ahead, rows of
    // the one kPrefetchRowsAhead ahead, so their cache misses overlap this command's work.
    if (i + kPrefetchIndexAhead < batch.size()) m.inv.prefetch_index(batch[i + kPrefetchIndexAhead].cmd);
    if (i + kPrefetchRowsAhead < batch.size()) m.inv.prefetch_rows(batch[i + kPrefetchRowsAhead].cmd);
    BatchItem& it = batch[i];
    std::size_t begin = evs ? evs->size() : 0;
    if (m.times[i] != kNotJournaled) {
      it.outcome = m.inv.apply(it.cmd, m.times[i], evs);
      if (m.sink != nullptr && evs->size() > begin) {
        m.sink->on_events(std::span<const core::Event>(evs->data() + begin, evs->size() - begin), m.inv);
      }
    }
    if (!m.scratch_moves.empty()) {  // turned into names before the next apply
      m.moves->add(m.scratch_moves, m.inv);
      m.scratch_moves.clear();
    }
    it.events_end = events ? events->size() : 0;
    if (evs == &m.scratch_events) evs->clear();
    if (hook != nullptr) hook->applied(i, it);
  }
}

void Engine::Impl::flush_movements() {
  if (!moves || !moves->has_unwritten()) return;
  if (IoError e = moves->flush(); e != 0) {
    if (!moves_failed) {
      spdlog::error("event=storage_fault op=movements_write error=\"{}\" unwritten_bytes={} "
                    "action=refusing_writes_until_recovered",
                    std::strerror(e), moves->unwritten_bytes());
    }
    moves_failed = true;
    return;
  }
  if (moves_failed) spdlog::info("event=storage_recovered op=movements_write");
  moves_failed = false;
}

core::Status Engine::Impl::sync_movements() {
  if (!moves) return {};
  flush_movements();
  if (moves_failed) return core::Status::error(core::Code::unavailable, "movements history: a write failed (logged)");
  if (IoError e = moves->sync(); e != 0) return io_status("sync movements", e);
  return {};
}

core::Status Engine::movements(std::string_view sku, std::uint64_t after, std::size_t limit,
                               std::vector<MovementRecord>* out) {
  Impl& m = *impl_;
  out->clear();
  if (!m.moves) return core::Status::error(core::Code::unavailable, "the movements history is off");
  m.flush_movements();  // the last batch's movements: a reader sees its own writes
  if (m.moves_failed) return core::Status::error(core::Code::unavailable, "the movements write failed (logged)");
  if (IoError e = m.moves->page(sku, after, limit, out); e != 0) return io_status("read movements", e);
  return {};
}

MovementStoreStats Engine::movement_stats() const {
  return impl_->moves ? impl_->moves->stats() : MovementStoreStats{};
}

void Engine::execute(std::span<BatchItem> batch, std::vector<core::Event>* events) {
  if (!begin(batch)) {
    std::size_t end = events ? events->size() : 0;
    for (BatchItem& it : batch) it.events_end = end;
    return;
  }
  finish(batch, events);
}

core::Outcome Engine::execute_one(const core::Command& cmd, std::int64_t now_ms, std::vector<core::Event>* events) {
  BatchItem item{cmd, now_ms, {}, 0};
  execute(std::span<BatchItem>(&item, 1), events);
  return std::move(item.outcome);
}

const core::Inventory& Engine::inventory() const { return impl_->inv; }
bool Engine::healthy() const { return impl_->healthy && !impl_->moves_failed && !impl_->closed; }

void Engine::maintain(std::int64_t now_ms) {
  Impl& m = *impl_;
  if (m.closed) return;
  if (m.moves) {
    m.flush_movements();
    // Synced in chunks between batches, so that the sync before a snapshot (which the writer waits
    // for) has at most a chunk to flush. A failure is logged by the store and stops snapshots.
    if (m.moves->unsynced_bytes() >= kMovementsSyncChunkBytes) m.moves->sync();
    m.moves->compact(now_ms, m.opt.movements_retention_ms);
  }
  if (!m.healthy && !m.recover_from_fault()) return;
  std::int64_t now_us = m.env->now_us();
  if (m.opt.fsync == FsyncMode::batch && m.dirty && now_us - m.last_sync_us >= m.opt.fsync_batch_ms * 1000) {
    if (!m.sync_now()) return;
  }
  if (!m.prep_ready && m.written_offset >= m.opt.segment_bytes / 2) m.prepare_segment(kPrepareChunkBytes);
  m.poll_snapshot_child(false);
  if (m.opt.snapshot_every_records > 0 && m.child.pid == 0 && !m.pending &&
      m.last_lsn - m.snapshot_lsn >= m.opt.snapshot_every_records && now_us >= m.snapshot_retry_us) {
    if (m.env->forkable()) {
      if (!m.start_background_snapshot()) m.snapshot_retry_us = now_us + kSnapshotRetryUs;
      return;
    }
    // In process (test Envs): the writer stalls for the snapshot's duration.
    std::uint64_t lsn = 0;
    if (core::Status s = snapshot(&lsn); !s.ok()) {
      m.snapshot_retry_us = now_us + kSnapshotRetryUs;
      spdlog::warn("event=periodic_snapshot_failed error=\"{}\" retry_in_s={}", s.message, kSnapshotRetryUs / 1'000'000);
    }
  }
}

core::Status Engine::snapshot(std::uint64_t* lsn) {
  Impl& m = *impl_;
  if (m.closed) return core::Status::error(core::Code::unavailable, "engine closed");
  if (m.pending) return core::Status::error(core::Code::invalid_state, "a batch is in flight: finish it first");
  m.poll_snapshot_child(true);  // a background snapshot in progress is finished first
  return m.write_snapshot(lsn);
}

EngineStats Engine::stats() const { return impl_->st; }

void Engine::close() {
  if (!impl_) return;
  Impl& m = *impl_;
  if (m.closed) return;
  // A batch still in flight is made durable (it is replayed at the next open) but not applied.
  wait();
  m.pending = false;
  m.stop_syncer();
  m.poll_snapshot_child(true);  // a background snapshot in progress is completed, not abandoned
  m.closed = true;
  if (m.file) {
    // FsyncMode::off never syncs while running; closing makes everything durable, names included.
    if (m.healthy && m.sync_now() && m.opt.fsync == FsyncMode::off) m.env->sync_dir(m.opt.data_dir);
    m.file->close();
    m.file.reset();
  }
  if (m.moves) {
    if (core::Status s = m.sync_movements(); !s.ok()) spdlog::warn("event=movements_sync_failed error=\"{}\"", s.message);
    m.moves.reset();
  }
  if (m.prep_file) m.prep_file->close();  // a half-filled prepared segment is removed at the next open
  m.prep_file.reset();
  if (m.lock_handle >= 0) m.env->unlock_file(m.lock_handle);
  m.lock_handle = -1;
}

}  // namespace stockd::engine
