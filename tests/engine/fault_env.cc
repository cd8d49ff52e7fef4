#include "fault_env.h"

#include <algorithm>
#include <cerrno>
#include <random>

namespace stockd::engine::testing {
namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The first byte at which `a` and `b` differ (the shorter one's size when one is a prefix of the other).
std::size_t first_difference(const std::string& a, const std::string& b) {
  std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultEnv* env, std::shared_ptr<FaultEnv::Node> node, bool append_mode)
      : env_(env), node_(std::move(node)), gen_(env->generation()), append_mode_(append_mode) {}

  IoError append(std::string_view data) override {
    if (IoError e = usable(); e != 0) return e;
    if (!append_mode_) return EINVAL;
    return write(node_->data.size(), data);
  }

  IoError write_at(std::uint64_t offset, std::string_view data) override {
    if (IoError e = usable(); e != 0) return e;
    if (append_mode_) return EINVAL;
    return write(offset, data);
  }

  IoError allocate(std::uint64_t size) override {
    if (IoError e = usable(); e != 0) return e;
    if (size <= node_->data.size()) return 0;
    return write(node_->data.size(), std::string(size - node_->data.size(), '\0'));
  }

  IoError sync() override {
    if (IoError e = usable(); e != 0) return e;
    env_->count_sync();
    if (IoError e = env_->next_op(); e != 0) {
      // The kernel may drop the dirty pages and mark them clean: they never become durable.
      node_->lost_begin = first_difference(node_->durable, node_->data);
      node_->lost_end = node_->data.size();
      node_->failed = true;
      return e;
    }
    node_->durable = node_->data;
    node_->failed = false;
    for (std::uint64_t i = node_->lost_begin; i < node_->lost_end && i < node_->durable.size(); ++i) {
      node_->durable[i] = 0;
    }
    return 0;
  }

  IoError truncate(std::uint64_t size) override {
    if (IoError e = usable(); e != 0) return e;
    if (IoError e = env_->next_op(); e != 0) {
      node_->failed = true;
      return e;
    }
    node_->data.resize(size);
    return 0;
  }

  IoError close() override {
    closed_ = true;
    return 0;
  }

 private:
  IoError usable() const { return closed_ ? EBADF : env_->generation() != gen_ ? EIO : 0; }

  // One I/O call: all of `data` at `offset`, or (short write) its first half, or nothing.
  IoError write(std::uint64_t offset, std::string_view data) {
    bool short_write = false;
    IoError e = env_->next_op(&short_write);
    if (e != 0) {
      node_->failed = true;
      if (!short_write) return e;
      data = data.substr(0, data.size() / 2);
    }
    std::string& d = node_->data;
    if (d.size() < offset + data.size()) d.resize(offset + data.size(), '\0');
    d.replace(offset, data.size(), data);
    return e;
  }

  FaultEnv* env_;
  std::shared_ptr<FaultEnv::Node> node_;
  std::uint64_t gen_;
  bool append_mode_;
  bool closed_ = false;
};

}  // namespace

IoError FaultEnv::next_op(bool* short_write) {
  ++ops_;
  if (fail_at_ == 0 || ops_ < fail_at_ || (ops_ > fail_at_ && !persistent_)) return 0;
  ++faults_;
  if (fault_ == Fault::short_write) {
    if (short_write != nullptr) *short_write = true;
    return EIO;
  }
  return fault_ == Fault::enospc ? ENOSPC : EIO;
}

void FaultEnv::crash(bool tear, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::string, std::shared_ptr<Node>> after;
  for (const auto& [path, node] : durable_) {
    auto n = std::make_shared<Node>();
    n->data = node->durable;
    std::size_t changed = first_difference(node->durable, node->data);
    if (tear && !node->failed && (changed < node->data.size() || node->data.size() != node->durable.size())) {
      // Part of what changed since the last sync (appended or overwritten) reached the disk: the
      // new content up to a 512-byte boundary past the first change, the durable content after it.
      std::uint64_t lo = changed / 512 + 1, hi = node->data.size() / 512;
      if (lo <= hi) {
        std::uint64_t cut = 512 * (lo + rng() % (hi - lo + 1));
        n->data = node->data.substr(0, cut);
        if (node->durable.size() > cut) n->data.append(node->durable, cut);
      }
    }
    n->durable = n->data;
    after[path] = n;
  }
  live_ = after;
  durable_ = after;
  locks_.clear();
  ++generation_;
  fail_at_ = 0;
}

std::string* FaultEnv::contents(const std::string& path) {
  auto it = live_.find(path);
  if (it == live_.end()) return nullptr;
  it->second->durable = it->second->data;  // edits are made "on disk"
  return &it->second->data;
}

void FaultEnv::erase(const std::string& path) {
  live_.erase(path);
  durable_.erase(path);
}

IoError FaultEnv::open_writable(const std::string& path, bool truncate, std::unique_ptr<WritableFile>* out) {
  if (IoError e = next_op(); e != 0) return e;
  if (!dirs_.count(parent_of(path))) return ENOENT;
  auto& node = live_[path];
  if (!node) node = std::make_shared<Node>();
  if (truncate) node->data.clear();
  *out = std::make_unique<FaultFile>(this, node, true);
  return 0;
}

IoError FaultEnv::open_existing(const std::string& path, std::unique_ptr<WritableFile>* out) {
  if (IoError e = next_op(); e != 0) return e;
  auto it = live_.find(path);
  if (it == live_.end()) return ENOENT;
  *out = std::make_unique<FaultFile>(this, it->second, false);
  return 0;
}

IoError FaultEnv::read_file(const std::string& path, std::string* out) {
  auto it = live_.find(path);
  if (it == live_.end()) return ENOENT;
  *out = it->second->data;
  return 0;
}

IoError FaultEnv::list_dir(const std::string& dir, std::vector<std::string>* names) {
  if (!dirs_.count(dir)) return ENOENT;
  names->clear();
  for (const auto& [path, node] : live_) {
    if (parent_of(path) == dir) names->push_back(path.substr(dir.size() + 1));
  }
  return 0;
}

IoError FaultEnv::make_dir(const std::string& dir) {
  dirs_.insert(dir);  // directories themselves are taken as durable
  return 0;
}

IoError FaultEnv::remove_file(const std::string& path) {
  if (IoError e = next_op(); e != 0) return e;
  return live_.erase(path) ? 0 : ENOENT;
}

IoError FaultEnv::rename_file(const std::string& from, const std::string& to) {
  if (IoError e = next_op(); e != 0) return e;
  auto it = live_.find(from);
  if (it == live_.end()) return ENOENT;
  auto node = it->second;
  live_.erase(it);
  live_[to] = node;
  return 0;
}

IoError FaultEnv::sync_dir(const std::string& dir) {
  ++syncs_;
  if (IoError e = next_op(); e != 0) return e;
  for (auto it = durable_.begin(); it != durable_.end();) {
    it = parent_of(it->first) == dir && !live_.count(it->first) ? durable_.erase(it) : std::next(it);
  }
  for (const auto& [path, node] : live_) {
    if (parent_of(path) == dir) durable_[path] = node;
  }
  return 0;
}

IoError FaultEnv::file_size(const std::string& path, std::uint64_t* size) {
  auto it = live_.find(path);
  if (it == live_.end()) return ENOENT;
  *size = it->second->data.size();
  return 0;
}

IoError FaultEnv::lock_file(const std::string& path, int* handle) {
  for (const auto& [h, p] : locks_) {
    if (p == path) return EWOULDBLOCK;
  }
  *handle = next_lock_++;
  locks_[*handle] = path;
  return 0;
}

void FaultEnv::unlock_file(int handle) { locks_.erase(handle); }

}  // namespace stockd::engine::testing
