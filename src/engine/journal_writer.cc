// The journal writer: segments, group commit, rotation, and recovery from a storage fault.
//
// A batch is one write of all its records and (FsyncMode::always) one sync. Segments are created at
// their full size and zero-filled ahead of need (prepare_segment, from maintain(), a bounded chunk per
// call), so a batch overwrites blocks that are allocated and initialized: its fdatasync flushes data
// only, without the file system journal commit that a growing file costs (0.7-3 ms on ext4 here).
// Rotation then only writes the header into the prepared file, renames it and syncs the directory. A fault leaves the
// engine unhealthy; recover_from_fault() cuts the segment back to its durable end and continues in a
// NEW segment, because after a failed fsync the kernel may have dropped the dirty pages while marking
// them clean, so a second fsync of the same file could report success for data that is gone
// (PostgreSQL's "fsyncgate"). Recovery at open prefers the newer segment when two overlap (see
// recovery.cc), so a cut that never reached the disk is harmless.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/assert.h"
#include "engine/engine_impl.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include "engine/journal_format.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {
namespace {
// FsyncMode::batch keeps what it has not synced yet in memory; past this it syncs before writing more.
constexpr std::size_t kUnsyncedBytesMax = 32u << 20;
}  // namespace

std::string Engine::Impl::path(std::string_view name) const {
  std::string p = opt.data_dir;
  p += '/';
  p += name;
  return p;
}

void Engine::Impl::mark_unhealthy(const char* op, const std::string& file_path, IoError e) {
  if (healthy) {
    spdlog::error("event=storage_fault op={} file={} error=\"{}\" action=refusing_writes_until_recovered", op,
                  file_path, std::strerror(e));
  }
  healthy = false;
}

// Advances the zero-filling of the next segment (format::kPreparedSegmentName) by up to `budget`
// bytes, syncing what it wrote, so one maintain() call stalls the writer for a bounded time. True once
// the whole segment is written, synced and closed. A failure discards it (logged) and it is started
// again later: a full disk delays it, and then start_segment() reports the fault.
bool Engine::Impl::prepare_segment(std::uint64_t budget) {
  if (prep_ready) return true;
  const std::string p = path(format::kPreparedSegmentName);
  const std::uint64_t target = std::max<std::uint64_t>(opt.segment_bytes, format::kSegmentHeaderBytes);
  const char* op = "create";
  IoError e = 0;
  if (!prep_file) {
    e = env->open_writable(p, true, &prep_file);
    prep_bytes = 0;
  }
  if (e == 0) {
    op = "allocate";
    // Saturating: budget may be "everything" (UINT64_MAX) when rotation must finish the segment.
    std::uint64_t step = std::max<std::uint64_t>(budget, 1);
    std::uint64_t to = target - prep_bytes <= step ? target : prep_bytes + step;
    e = prep_file->allocate(to);
    if (e == 0) prep_bytes = to;
  }
  if (e == 0 && opt.fsync != FsyncMode::off) op = "sync", e = prep_file->sync();
  if (e == 0 && prep_bytes == target) {
    op = "close";
    e = prep_file->close();
    prep_file.reset();
    prep_ready = e == 0;
    if (prep_ready) ++st.segments_prepared;
  }
  if (e != 0) {
    spdlog::warn("event=segment_prepare_failed op={} file={} error=\"{}\" action=retry_later", op, p, std::strerror(e));
    discard_prepared();
    return false;
  }
  return prep_ready;
}

void Engine::Impl::discard_prepared() {
  if (prep_file) prep_file->close();
  prep_file.reset();
  prep_ready = false;
  prep_bytes = 0;
  env->remove_file(path(format::kPreparedSegmentName));  // ENOENT is fine; a leftover is removed at open
}

// Makes the prepared segment journal-<first_lsn>.log holding `records` (already sealed): its header
// and the records are written over its zeros and synced, then it is renamed and the directory synced,
// so a segment file always exists whole, with a valid header, and durable before anything in it is
// acknowledged. An old file of the same name (an empty segment left by a fault) is replaced.
core::Status Engine::Impl::start_segment(std::uint64_t first_lsn, std::string_view records) {
  std::string p = path(format::segment_name(first_lsn));
  if (!segments.empty() && segments.back().first_lsn == first_lsn) {
    st.journal_bytes -= segments.back().bytes;
    segments.pop_back();
  }
  if (!prepare_segment(std::numeric_limits<std::uint64_t>::max())) {
    return core::Status::error(core::Code::unavailable,
                               fmt::format("prepare segment {}: the zero-filling failed (logged)", p));
  }
  const std::string prepared = path(format::kPreparedSegmentName);
  prep_ready = false;  // consumed, whatever happens next
  std::unique_ptr<WritableFile> f;
  std::string head;
  format::append_segment_header(&head, first_lsn);
  head.append(records);
  const char* op = "open";
  IoError e = env->open_existing(prepared, &f);
  if (e == 0) op = "write", e = f->write_at(0, head);
  if (e == 0 && opt.fsync != FsyncMode::off) {
    op = "sync";
    ++st.syncs;
    e = f->sync();
    if (e != 0) ++st.sync_failures;
  }
  if (e == 0) op = "rename", e = env->rename_file(prepared, p);
  if (e == 0 && opt.fsync != FsyncMode::off) op = "sync_dir", e = env->sync_dir(opt.data_dir);
  if (e != 0) {
    if (f) f->close();
    env->remove_file(prepared);
    return io_status(fmt::format("start segment {}: {} failed", p, op), e);
  }
  file = std::move(f);
  segments.push_back(Segment{first_lsn, p, head.size()});
  st.journal_bytes += head.size();
  st.segments = segments.size();
  written_offset = durable_offset = head.size();
  dirty = false;
  last_sync_us = env->now_us();
  return {};
}

bool Engine::Impl::rotate_if_full(std::size_t incoming_bytes, std::uint64_t first_lsn) {
  if (written_offset <= format::kSegmentHeaderBytes || written_offset + incoming_bytes <= opt.segment_bytes) {
    return true;
  }
  // The old segment must be complete on disk before a newer one exists: recovery treats a hole
  // before a later segment as a missing record.
  if (opt.fsync == FsyncMode::batch && dirty && !sync_now()) return false;
  std::string old = segments.back().path;
  if (IoError e = file->close(); e != 0) {
    file.reset();
    mark_unhealthy("close", old, e);
    return false;
  }
  file.reset();
  if (core::Status s = start_segment(first_lsn, {}); !s.ok()) {
    spdlog::error("event=segment_rotation_failed error=\"{}\"", s.message);
    mark_unhealthy("rotate", old, EIO);
    return false;
  }
  return true;
}

bool Engine::Impl::commit(std::uint64_t first_lsn) {
  const std::string& b = buf.buffer();
  if (opt.fsync == FsyncMode::batch && unsynced.size() + b.size() > kUnsyncedBytesMax && !sync_now()) return false;
  if (!write_batch(first_lsn)) return false;
  switch (opt.fsync) {
    case FsyncMode::always:
      return sync_now();
    case FsyncMode::batch:
      if (unsynced.empty()) unsynced_first_lsn = first_lsn;
      unsynced.append(b);
      return true;
    case FsyncMode::off:
      durable_offset = written_offset;
      return true;
  }
  return true;
}

// Rotates when the segment is full and writes the batch's records (buf) after the last batch; no sync.
bool Engine::Impl::write_batch(std::uint64_t first_lsn) {
  const std::string& b = buf.buffer();
  if (!rotate_if_full(b.size(), first_lsn)) return false;
  STOCKD_ASSERT(durable_offset <= written_offset && written_offset >= format::kSegmentHeaderBytes);
  if (IoError e = file->write_at(written_offset, b); e != 0) {
    ++st.write_failures;
    mark_unhealthy("write", segments.back().path, e);
    return false;
  }
  written_offset += b.size();
  segments.back().bytes = written_offset;
  st.journal_bytes += b.size();
  dirty = true;
  return true;
}

void Engine::Impl::take_sync_result() {
  IoError e;
  {
    std::lock_guard<std::mutex> lock(syncer->mu);
    e = syncer->result;
    syncer->done = false;
  }
  std::uint64_t one;
  [[maybe_unused]] ssize_t n = ::read(syncer->event_fd, &one, sizeof one);  // drain (non-blocking)
  pending_sync = false;
  ++st.syncs;
  if (e != 0) {
    ++st.sync_failures;
    mark_unhealthy("sync", segments.back().path, e);
    pending_failed = true;
    return;
  }
  durable_offset = written_offset;
  dirty = false;
  last_sync_us = env->now_us();
}

void Engine::Impl::start_syncer() {
  syncer = std::make_unique<Syncer>();
  syncer->event_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  Syncer* sy = syncer.get();
  // The thread is created with every signal blocked (it inherits the mask), so signals such as the
  // server's SIGTERM (taken through a signalfd by the main thread) are never delivered to it.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  syncer->thread = std::thread([sy] {
    std::unique_lock<std::mutex> lock(sy->mu);
    for (;;) {
      sy->cv.wait(lock, [sy] { return sy->request || sy->stop; });
      if (sy->stop) return;
      WritableFile* f = sy->file;
      sy->request = false;
      lock.unlock();
      IoError e = f->sync();  // the caller does not touch the file until `done`
      lock.lock();
      sy->result = e;
      sy->done = true;
      sy->cv.notify_all();
      std::uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(sy->event_fd, &one, sizeof one);
    }
  });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void Engine::Impl::stop_syncer() {
  if (!syncer) return;
  {
    std::lock_guard<std::mutex> lock(syncer->mu);
    syncer->stop = true;
    syncer->cv.notify_all();
  }
  syncer->thread.join();
  if (syncer->event_fd >= 0) ::close(syncer->event_fd);
  syncer.reset();
}

bool Engine::Impl::sync_now() {
  if (!file || !healthy) return false;
  if (!dirty) return true;
  ++st.syncs;
  if (IoError e = file->sync(); e != 0) {
    ++st.sync_failures;
    mark_unhealthy("sync", segments.back().path, e);
    return false;
  }
  durable_offset = written_offset;
  unsynced.clear();
  dirty = false;
  last_sync_us = env->now_us();
  return true;
}

bool Engine::Impl::recover_from_fault() {
  if (file) {
    if (IoError e = file->truncate(durable_offset); e != 0) {
      spdlog::warn("event=storage_recovery_failed op=truncate file={} error=\"{}\"", segments.back().path,
                   std::strerror(e));
      return false;
    }
    st.journal_bytes -= segments.back().bytes - durable_offset;
    segments.back().bytes = durable_offset;
    file->close();  // the file is abandoned; its close status changes nothing
    file.reset();
  }
  std::uint64_t first = unsynced.empty() ? last_lsn + 1 : unsynced_first_lsn;
  if (core::Status s = start_segment(first, unsynced); !s.ok()) {
    spdlog::warn("event=storage_recovery_failed error=\"{}\"", s.message);
    return false;
  }
  unsynced.clear();
  healthy = true;
  ++st.storage_recoveries;
  spdlog::info("event=storage_recovered segment={} first_lsn={}", segments.back().path, first);
  return true;
}

}  // namespace stockd::engine
