// Snapshots: the whole state (Inventory::save, then EventSink::save) at one journal lsn.
// Written to <name>.tmp (<name>.<pid>.tmp by a background child), synced, renamed, directory synced:
// a snapshot file either exists whole or not at all. Periodic snapshots are written by a forked
// child when the Env is the real file system (start_background_snapshot), so the writer does not
// stall for the serialization; Engine::snapshot() and the tests' FaultEnv write in process. Then what it makes obsolete is removed: snapshots older than the previous one, and
// segments holding only records the previous snapshot already covers. The previous snapshot and its
// journal stay as the fallback for a newest snapshot damaged later.
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "engine/engine_impl.h"
#include "engine/journal_format.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {

namespace {

std::string tmp_name(const std::string& final_path, long pid) {
  return pid > 0 ? fmt::format("{}.{}.tmp", final_path, pid) : final_path + ".tmp";
}

}  // namespace

// Serializes the state at `lsn` into `tmp` and syncs it. No logging and no engine bookkeeping: it
// also runs in the forked child, which may only write its file and _exit.
IoError Engine::Impl::write_snapshot_file(std::uint64_t lsn, const std::string& tmp, const char** op,
                                          std::uint64_t* bytes) {
  core::Writer inv_bytes;
  inv.save(inv_bytes);
  std::string sink_bytes;
  if (sink != nullptr) sink->save(&sink_bytes);
  core::Writer frame;  // varint length of the inventory part
  frame.varint(inv_bytes.buffer().size());
  core::Writer tail;  // varint length of the sink part, then the sink part
  tail.str(sink_bytes);
  std::uint32_t crc = crc32c(0, frame.buffer().data(), frame.buffer().size());
  crc = crc32c(crc, inv_bytes.buffer().data(), inv_bytes.buffer().size());
  crc = crc32c(crc, tail.buffer().data(), tail.buffer().size());
  std::string head;
  std::uint64_t body = frame.buffer().size() + inv_bytes.buffer().size() + tail.buffer().size();
  format::append_snapshot_header(&head, lsn, crc, body);
  *bytes = head.size() + body;

  *op = "open";
  std::unique_ptr<WritableFile> f;
  IoError e = env->open_writable(tmp, true, &f);
  if (e != 0) return e;
  *op = "write";
  e = f->append(head);
  if (e == 0) e = f->append(frame.buffer());
  if (e == 0) e = f->append(inv_bytes.buffer());
  if (e == 0) e = f->append(tail.buffer());
  if (e == 0) *op = "sync", e = f->sync();
  IoError ce = f->close();
  if (e == 0) *op = "close", e = ce;
  return e;
}

// Makes a written and synced `tmp` the snapshot at `lsn`: rename, directory sync, bookkeeping, then
// removal of what it makes obsolete.
core::Status Engine::Impl::install_snapshot(std::uint64_t lsn, const std::string& tmp, std::int64_t t0_us,
                                            std::uint64_t bytes) {
  const std::string final_path = path(format::snapshot_name(lsn));
  const char* op = "rename";
  IoError e = env->rename_file(tmp, final_path);
  if (e == 0) op = "sync_dir", e = env->sync_dir(opt.data_dir);
  if (e != 0) {
    if (std::strcmp(op, "sync_dir") != 0) env->remove_file(tmp);
    return snapshot_failed(lsn, op, tmp, e);
  }
  snapshots.erase(std::remove(snapshots.begin(), snapshots.end(), lsn), snapshots.end());
  snapshots.push_back(lsn);
  std::sort(snapshots.begin(), snapshots.end());
  snapshot_lsn = lsn;
  st.snapshot_lsn = lsn;
  ++st.snapshots_written;
  st.snapshot_us = env->now_us() - t0_us;
  spdlog::info("event=snapshot lsn={} bytes={} duration_ms={} background={}", lsn, bytes, st.snapshot_us / 1000,
               child.pid > 0);
  remove_obsolete();
  return {};
}

core::Status Engine::Impl::snapshot_failed(std::uint64_t lsn, const char* op, const std::string& file, IoError e) {
  ++st.snapshot_failures;
  spdlog::error("event=snapshot_failed lsn={} op={} error=\"{}\"", lsn, op, std::strerror(e));
  return io_status(fmt::format("snapshot {} {}", op, file), e);
}

core::Status Engine::Impl::write_snapshot(std::uint64_t* out_lsn) {
  if (!healthy) {
    ++st.snapshot_failures;
    return core::Status::error(core::Code::unavailable, "storage unavailable");
  }
  const std::uint64_t lsn = last_lsn;
  *out_lsn = lsn;
  if (!snapshots.empty() && snapshots.back() == lsn && snapshot_lsn == lsn) return {};  // nothing new
  if (core::Status s = sync_movements(); !s.ok()) {  // the journal must keep what the files may lack
    ++st.snapshot_failures;
    return s;
  }
  std::int64_t t0 = env->now_us();
  const std::string tmp = tmp_name(path(format::snapshot_name(lsn)), 0);
  const char* op = "open";
  std::uint64_t bytes = 0;
  if (IoError e = write_snapshot_file(lsn, tmp, &op, &bytes); e != 0) {
    env->remove_file(tmp);
    return snapshot_failed(lsn, op, tmp, e);
  }
  return install_snapshot(lsn, tmp, t0, bytes);
}

// The background path (Env::forkable(): the real file system). fork() gives the child a
// copy-on-write image of the state at `lsn`; it writes and syncs <name>.<pid>.tmp and _exits with 0
// only when all of that succeeded. The parent goes on serving; poll_snapshot_child() installs the
// file when the child succeeded. The child dies with the parent (PR_SET_PDEATHSIG), so a restarted
// engine never races an orphan writing a snapshot file, and an orphan never keeps the LOCK.
bool Engine::Impl::start_background_snapshot() {
  if (child.pid > 0 || !healthy) return false;
  const std::uint64_t lsn = last_lsn;
  if (!snapshots.empty() && snapshots.back() == lsn && snapshot_lsn == lsn) return true;
  if (core::Status s = sync_movements(); !s.ok()) {  // the journal must keep what the files may lack
    ++st.snapshot_failures;
    spdlog::warn("event=snapshot_failed lsn={} error=\"{}\"", lsn, s.message);
    return false;
  }
  std::int64_t t0 = env->now_us();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    snapshot_failed(lsn, "fork", opt.data_dir, errno);  // logged and counted; maintain() retries later
    return false;
  }
  if (pid == 0) {
    // The child: no logging, no atexit handlers, no destructors; only its own file.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(kChildOrphaned);
    // Every inherited descriptor is closed (as Redis's child closes its listening sockets): the
    // LOCK's (closed, not unlocked, which would release the parent's flock too), so that a dying
    // child never keeps a restarted stockd out, and the server's sockets, so that a connection the
    // server closes is not held open by the child.
    if (::close_range(3, ~0U, 0) != 0 && lock_handle >= 0) ::close(lock_handle);
    const char* op = "open";
    std::uint64_t bytes = 0;
    IoError e = write_snapshot_file(lsn, tmp_name(path(format::snapshot_name(lsn)), ::getpid()), &op, &bytes);
    ::_exit(e == 0 ? 0 : kChildIoFailed);
  }
  child = Child{pid, lsn, t0};
  st.snapshot_fork_us = env->now_us() - t0;
  st.snapshot_in_progress = true;
  return true;
}

// Reaps the child when it has exited (wait: block until it does). True when no child is left.
bool Engine::Impl::poll_snapshot_child(bool wait) {
  if (child.pid <= 0) return true;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(child.pid, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  const Child done = child;
  const std::string tmp = tmp_name(path(format::snapshot_name(done.lsn)), done.pid);
  if (r < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    env->remove_file(tmp);
    snapshot_failed(done.lsn, WIFSIGNALED(status) ? "child killed" : "child write", tmp, r < 0 ? errno : EIO);
    snapshot_retry_us = env->now_us() + kSnapshotRetryUs;
  } else if (std::uint64_t bytes = 0;  // the child wrote it: its size is the file's
             env->file_size(tmp, &bytes), !install_snapshot(done.lsn, tmp, done.start_us, bytes).ok()) {
    snapshot_retry_us = env->now_us() + kSnapshotRetryUs;
  }
  child = Child{};
  st.snapshot_in_progress = false;
  return true;
}

void Engine::Impl::remove_obsolete() {
  // The fallback is the newest snapshot older than the newest one that was not found damaged.
  auto newest = std::find(snapshots.begin(), snapshots.end(), snapshot_lsn);
  if (newest == snapshots.end()) return;
  auto fallback = newest;
  while (fallback != snapshots.begin()) {
    --fallback;
    if (std::find(bad_snapshots.begin(), bad_snapshots.end(), *fallback) == bad_snapshots.end()) break;
  }
  if (fallback == newest || std::find(bad_snapshots.begin(), bad_snapshots.end(), *fallback) != bad_snapshots.end()) {
    return;  // no fallback yet: keep the whole journal
  }
  const std::uint64_t keep_from = *fallback;
  std::vector<std::uint64_t> kept;
  for (std::uint64_t s : snapshots) {
    if (s >= keep_from && std::find(bad_snapshots.begin(), bad_snapshots.end(), s) == bad_snapshots.end()) {
      kept.push_back(s);
      continue;
    }
    if (s > snapshot_lsn) {  // a damaged snapshot newer than the one in use: leave it for inspection
      kept.push_back(s);
      continue;
    }
    if (IoError e = env->remove_file(path(format::snapshot_name(s))); e != 0 && e != ENOENT) {
      spdlog::warn("event=remove_failed file={} error=\"{}\"", format::snapshot_name(s), std::strerror(e));
    }
  }
  snapshots = std::move(kept);
  // Segment i holds only records <= keep_from when segment i+1 starts at or before keep_from + 1.
  std::size_t n = 0;
  while (n + 1 < segments.size() && segments[n + 1].first_lsn <= keep_from + 1) ++n;
  for (std::size_t i = 0; i < n; ++i) {
    if (IoError e = env->remove_file(segments[i].path); e != 0 && e != ENOENT) {
      spdlog::warn("event=remove_failed file={} error=\"{}\"", segments[i].path, std::strerror(e));
    }
    st.journal_bytes -= segments[i].bytes;
  }
  segments.erase(segments.begin(), segments.begin() + static_cast<std::ptrdiff_t>(n));
  st.segments = segments.size();
}

}  // namespace stockd::engine
