#include "fault_env.h"

#include <cerrno>
#include <random>

namespace stockd::engine::testing {
namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

class FaultFile final : public WritableFile {
 public:
  FaultFile(FaultEnv* env, std::shared_ptr<FaultEnv::Node> node) : env_(env), node_(std::move(node)), gen_(env->generation()) {}

  IoError append(std::string_view data) override {
    if (IoError e = usable(); e != 0) return e;
    bool short_write = false;
    if (IoError e = env_->next_op(&short_write); e != 0) {
      node_->failed = true;
      if (short_write) node_->data.append(data.substr(0, data.size() / 2));
      return e;
    }
    node_->data.append(data);
    return 0;
  }

  IoError sync() override {
    if (IoError e = usable(); e != 0) return e;
    env_->count_sync();
    if (IoError e = env_->next_op(); e != 0) {
      // The kernel may drop the dirty pages and mark them clean: they never become durable.
      node_->lost_begin = std::min<std::uint64_t>(node_->durable.size(), node_->data.size());
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
  FaultEnv* env_;
  std::shared_ptr<FaultEnv::Node> node_;
  std::uint64_t gen_;
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
    if (tear && !node->failed && node->data.size() > node->durable.size() &&
        node->data.compare(0, node->durable.size(), node->durable) == 0) {
      // Part of the unsynced tail reached the disk, cut at a 512-byte boundary.
      std::uint64_t lo = node->durable.size() / 512 + 1, hi = node->data.size() / 512;
      if (lo <= hi) {
        std::uint64_t cut = 512 * (lo + rng() % (hi - lo + 1));
        n->data = node->data.substr(0, cut);
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
  *out = std::make_unique<FaultFile>(this, node);
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
