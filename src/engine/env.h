// env.h: the engine's storage seam. Every file operation of src/engine goes through Env, so tests can
// fail the Nth write/sync/rename (FaultEnv, tests/engine) and simulate a crash that throws away what
// was not synced. Modelled on LevelDB's Env and SQLite's VFS, reduced to what the journal and the
// snapshots need.
#pragma once
#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace stockd::engine {

// Result of one I/O call: 0 on success, else an errno value (EIO, ENOSPC, ...).
using IoError = int;
// The one seam where an Env error becomes stockd's error value: Code::unavailable with
// "<what>: <strerror(e)>" (docs/architecture.md, "Errors"). REQUIRES: e != 0.
core::Status io_status(std::string_view what, IoError e);

// A file opened for writing: for appending (open_writable: snapshot temp files, a segment being
// preallocated) or for overwriting at offsets (open_existing: journal segments, which are created
// at their full size, zero-filled, before records are written into them).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` or fails. A failure may have written a prefix (short write).
  // Only for files from open_writable (EINVAL otherwise).
  virtual IoError append(std::string_view data) = 0;
  // Writes all of `data` at `offset` (extending the file when it runs past the end) or fails; a
  // failure may have written a prefix. Only for files from open_existing (EINVAL otherwise).
  virtual IoError write_at(std::uint64_t offset, std::string_view data) = 0;
  // Extends the file to `size` bytes with zeros that are really written (blocks allocated and
  // initialized, not a hole or an unwritten extent), so that later overwrites of that range change
  // no file system metadata and a sync of them is a data-only flush. No-op when already that long.
  virtual IoError allocate(std::uint64_t size) = 0;
  // fdatasync (or fsync): everything written so far is durable when it returns 0.
  virtual IoError sync() = 0;
  // Cuts the file to `size` bytes (used to drop a record that was written but never acknowledged).
  virtual IoError truncate(std::uint64_t size) = 0;
  virtual IoError close() = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // The real file system (POSIX calls). Owned by the process; never null.
  static Env* posix();

  // Creates the file (truncating it when `truncate`, else appending at its end).
  virtual IoError open_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* out) = 0;
  // Opens an existing file for write_at (no truncation, no append mode). ENOENT when missing.
  virtual IoError open_existing(const std::string& path, std::unique_ptr<WritableFile>* out) = 0;
  virtual IoError read_file(const std::string& path, std::string* out) = 0;
  // Reads `n` bytes at `offset` into *out (EIO when the file is shorter). The default reads the whole
  // file (fine for in-memory test Envs); the posix Env uses pread.
  virtual IoError read_at(const std::string& path, std::uint64_t offset, std::size_t n, std::string* out) {
    std::string all;
    if (IoError e = read_file(path, &all); e != 0) return e;
    if (offset > all.size() || all.size() - offset < n) return EIO;
    out->assign(all, offset, n);
    return 0;
  }
  virtual IoError list_dir(const std::string& dir, std::vector<std::string>* names) = 0;
  virtual IoError make_dir(const std::string& dir) = 0;          // EEXIST is success
  virtual IoError remove_file(const std::string& path) = 0;
  virtual IoError rename_file(const std::string& from, const std::string& to) = 0;
  virtual IoError sync_dir(const std::string& dir) = 0;           // makes creates/renames/removes durable
  virtual IoError file_size(const std::string& path, std::uint64_t* size) = 0;
  // An exclusive lock on `path` held until unlock/exit (flock). EWOULDBLOCK when another process holds it.
  virtual IoError lock_file(const std::string& path, int* handle) = 0;
  virtual void unlock_file(int handle) = 0;
  // True when a forked child process may do this Env's I/O (the real file system): the engine then
  // writes periodic snapshots from a fork()ed child instead of stalling the writer. Test Envs that
  // live in memory return false and get the in-process path. A forkable Env's lock handles are file
  // descriptors (the child closes its copy).
  virtual bool forkable() const { return false; }
  // Monotonic microseconds, for metrics and the batch fsync timer only (never for the core's time).
  virtual std::int64_t now_us() = 0;
};

}  // namespace stockd::engine
