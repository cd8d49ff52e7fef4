// name_index.h: name -> row number, for tables whose rows carry their own name (SKUs, channels, holds).
//
// Open addressing with linear probing over 8-byte slots {32 bits of the name's hash, row number}; the
// name itself is stored only in its row. A lookup reads one slot run (usually one cache line) and then
// only the row whose hash bits match, which is the row the caller wants anyway: two dependent memory
// reads for a name among millions, where a map of strings needs three (control bytes, slot, row).
// Growing rehashes from the stored hash bits, never touching the rows. Erase shifts the run back (no
// tombstones), so a table with constant churn (holds come and are forgotten) never degrades.
// The layout never influences a result: nothing iterates the index.
//
// REQUIRES: a row's name does not change while the row is indexed (erase it first); the table object
// outlives the index and does not move (the index keeps its address; the rows themselves may move).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/hash/hash.h"
#include "core/assert.h"
#include "core/event.h"

namespace stockd::core {

inline std::uint32_t name_hash(std::string_view s) {
  std::uint64_t h = absl::Hash<absl::string_view>{}(absl::string_view(s.data(), s.size()));  // Debian's own type
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

template <typename Rows, typename KeyOf>
class NameIndex {
 public:
  explicit NameIndex(const Rows* rows) : rows_(rows) {}

  // Row number of `name`, or kNoIndex.
  std::uint32_t find(std::string_view name) const { return find(name, name_hash(name)); }
  std::uint32_t find(std::string_view name, std::uint32_t hash) const {
    if (slots_.empty()) return kNoIndex;
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.row == kNoIndex) return kNoIndex;
      if (s.hash == hash && KeyOf{}((*rows_)[s.row]) == name) return s.row;
    }
  }
  // Starts loading the slot find(name, hash) reads first; no effect on the contents.
  void prefetch_slot(std::uint32_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & mask_]);
  }
  // The row of the first slot whose hash bits match (without reading any row), or kNoIndex: what a
  // prefetch of the row should load.
  std::uint32_t candidate(std::uint32_t hash) const {
    if (slots_.empty()) return kNoIndex;
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.row == kNoIndex || s.hash == hash) return s.row;
    }
  }
  // REQUIRES: the row's name is set and `hash` is its name_hash; no row with that name is indexed.
  // (Only the cheap part is asserted: the row is a row; re-hashing the name would double the cost.)
  void insert_new(std::uint32_t row, std::uint32_t hash) {
    STOCKD_ASSERT(row < rows_->size());
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();  // load factor <= 3/4
    place(Slot{hash, row});
    ++size_;
  }
  // REQUIRES: the row's name is set; returns false if a row with that name is indexed already.
  bool insert(std::uint32_t row) {
    std::string_view name = KeyOf{}((*rows_)[row]);
    std::uint32_t hash = name_hash(name);
    if (find(name, hash) != kNoIndex) return false;
    insert_new(row, hash);
    return true;
  }
  // REQUIRES: the row is indexed and still has the name it was indexed with.
  void erase(std::uint32_t row) {
    STOCKD_ASSERT(size_ > 0);
    std::uint32_t hash = name_hash(KeyOf{}((*rows_)[row]));
    std::size_t i = hash & mask_;
    while (slots_[i].row != row) {
      STOCKD_ASSERT(slots_[i].row != kNoIndex);  // the row is not indexed (or was renamed while it was)
      i = (i + 1) & mask_;
    }
    // Backward shift: move each later slot of the run whose home is not in (i, j] into the hole.
    for (std::size_t j = i;;) {
      j = (j + 1) & mask_;
      if (slots_[j].row == kNoIndex) break;
      std::size_t home = slots_[j].hash & mask_;
      bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = Slot{};
    --size_;
  }
  std::size_t size() const { return size_; }
  void clear() {
    slots_.clear();
    mask_ = 0;
    size_ = 0;
  }

 private:
  struct Slot {
    std::uint32_t hash = 0;
    std::uint32_t row = kNoIndex;  // kNoIndex: empty
  };
  void place(Slot s) {
    std::size_t i = s.hash & mask_;
    while (slots_[i].row != kNoIndex) i = (i + 1) & mask_;
    slots_[i] = s;
  }
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& s : old)
      if (s.row != kNoIndex) place(s);
  }

  const Rows* rows_;
  std::vector<Slot> slots_;  // a power of two long, or empty
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace stockd::core
