// fault_env.h: an in-memory Env for the engine's tests that fails chosen I/O calls and simulates
// crashes of the machine.
//
// Every mutating call (open_writable, open_existing, append, write_at, allocate, sync, truncate,
// rename, remove, sync_dir) gets a number from 1; arm() makes call N fail with EIO, ENOSPC or a
// short write (a prefix is written, then EIO), once or for every call from N on. A file's content
// is durable only as of its last successful sync; a directory entry (create, rename, remove) only
// once its directory was synced. crash() throws away everything else, optionally keeping part of
// each file's unsynced changes: the new content up to a 512-byte boundary past the first changed
// byte, the durable content after it (a torn append, or a torn overwrite of preallocated space).
// A failed write or sync never reached the disk: that file's unsynced bytes are not torn but
// dropped at the crash (a device that reports a failure but keeps the data cannot be told apart
// from one that acknowledged it; docs/operations.md). After a failed sync the unsynced bytes are
// "lost": a later sync of the same file that succeeds makes zeros durable there, as Linux may do
// (fsyncgate).
// Handles opened before crash() fail with EIO afterwards and change nothing.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/env.h"

namespace stockd::engine::testing {

enum class Fault : std::uint8_t { eio, enospc, short_write };

class FaultEnv final : public Env {
 public:
  struct Node {
    std::string data;     // what reads see
    std::string durable;  // what survives crash()
    std::uint64_t lost_begin = 0, lost_end = 0;  // range poisoned by a failed sync
    bool failed = false;  // a write, sync or truncate failed since the last successful sync
  };

  void arm(std::uint64_t op, Fault fault, bool persistent) {
    fail_at_ = op;
    fault_ = fault;
    persistent_ = persistent;
  }
  void disarm() { fail_at_ = 0; }
  std::uint64_t ops() const { return ops_; }
  std::uint64_t faults() const { return faults_; }
  std::uint64_t syncs() const { return syncs_; }
  void crash(bool tear = false, std::uint64_t seed = 0);
  void advance_us(std::int64_t us) { now_us_ += us; }
  // The live content of a file, for corruption tests (also made durable). Null when missing.
  std::string* contents(const std::string& path);
  bool exists(const std::string& path) const { return live_.count(path) != 0; }
  void erase(const std::string& path);  // as if removed and the directory synced

  IoError open_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* out) override;
  IoError open_existing(const std::string& path, std::unique_ptr<WritableFile>* out) override;
  IoError read_file(const std::string& path, std::string* out) override;
  IoError list_dir(const std::string& dir, std::vector<std::string>* names) override;
  IoError make_dir(const std::string& dir) override;
  IoError remove_file(const std::string& path) override;
  IoError rename_file(const std::string& from, const std::string& to) override;
  IoError sync_dir(const std::string& dir) override;
  IoError file_size(const std::string& path, std::uint64_t* size) override;
  IoError lock_file(const std::string& path, int* handle) override;
  void unlock_file(int handle) override;
  std::int64_t now_us() override { return now_us_; }

  // For FaultFile: 0 or the errno of the injected fault for this call.
  IoError next_op(bool* short_write = nullptr);
  std::uint64_t generation() const { return generation_; }
  void count_sync() { ++syncs_; }

 private:
  std::map<std::string, std::shared_ptr<Node>> live_;
  std::map<std::string, std::shared_ptr<Node>> durable_;  // directory entries that survive a crash
  std::set<std::string> dirs_;
  std::map<int, std::string> locks_;
  int next_lock_ = 1;
  std::uint64_t ops_ = 0, fail_at_ = 0, faults_ = 0, syncs_ = 0;
  Fault fault_ = Fault::eio;
  bool persistent_ = false;
  std::uint64_t generation_ = 0;
  std::int64_t now_us_ = 1'000'000;
};

}  // namespace stockd::engine::testing
