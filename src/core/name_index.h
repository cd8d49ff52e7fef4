// name_index.h: name -> row number, for tables whose rows carry their own name (SKUs, channels, holds).
//
// The index stores only the 4-byte row number; hashing and comparison go through the table, so a key is
// never stored twice. With 1,000,000 SKUs and holds that is ~5 bytes a slot instead of ~41 for a
// flat_hash_map<std::string, uint32_t>: smaller tables, fewer cache and TLB misses per lookup.
//
// REQUIRES: a row's name does not change while the row is indexed (erase it first); the table object
// outlives the index and does not move (the index keeps its address; the rows themselves may move).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "core/event.h"

namespace stockd::core {

template <typename Rows, typename KeyOf>
class NameIndex {
 public:
  explicit NameIndex(const Rows* rows) : set_(0, Hash{rows}, Eq{rows}) {}

  // Row number of `name`, or kNoIndex.
  std::uint32_t find(std::string_view name) const {
    auto it = set_.find(name);
    return it == set_.end() ? kNoIndex : *it;
  }
  // Starts loading what find(name) will read; no effect on the contents.
  void prefetch(std::string_view name) const { set_.prefetch(name); }
  // REQUIRES: the row's name is set; returns false if a row with that name is indexed already.
  bool insert(std::uint32_t row) { return set_.insert(row).second; }
  // REQUIRES: the row still has the name it was indexed with.
  void erase(std::uint32_t row) { set_.erase(row); }
  std::size_t size() const { return set_.size(); }
  void reserve(std::size_t n) { set_.reserve(n); }
  void clear() { set_.clear(); }

 private:
  static std::size_t hash_of(std::string_view s) {
    return absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));  // Debian's is its own type
  }
  struct Hash {
    using is_transparent = void;
    const Rows* rows;
    std::size_t operator()(std::uint32_t row) const { return hash_of(KeyOf{}((*rows)[row])); }
    std::size_t operator()(std::string_view name) const { return hash_of(name); }
  };
  struct Eq {
    using is_transparent = void;
    const Rows* rows;
    bool operator()(std::uint32_t a, std::uint32_t b) const {
      return a == b || KeyOf{}((*rows)[a]) == KeyOf{}((*rows)[b]);
    }
    bool operator()(std::uint32_t row, std::string_view name) const { return KeyOf{}((*rows)[row]) == name; }
    bool operator()(std::string_view name, std::uint32_t row) const { return KeyOf{}((*rows)[row]) == name; }
  };
  absl::flat_hash_set<std::uint32_t, Hash, Eq> set_;
};

}  // namespace stockd::core
