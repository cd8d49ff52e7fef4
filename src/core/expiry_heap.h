// expiry_heap.h: the holds that can expire, ordered by (expires_at, hold index).
//
// An indexed binary min-heap: each hold knows its position, so extend/confirm/release update or remove
// it in O(log n) and nothing stale accumulates; expiring k holds costs O(k log n), never a scan of all
// holds. The hold index breaks ties, so the order in which holds expiring in the same millisecond are
// reported is the same live, after a snapshot and on replay.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/assert.h"

namespace stockd::core {

class ExpiryHeap {
 public:
  static constexpr std::uint32_t kAbsent = 0xffffffffu;

  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  std::int64_t top_at() const { return heap_.front().at; }      // REQUIRES: !empty()
  std::uint32_t top_hold() const { return heap_.front().hold; }  // REQUIRES: !empty()
  bool contains(std::uint32_t hold) const { return hold < pos_.size() && pos_[hold] != kAbsent; }
  std::int64_t at_of(std::uint32_t hold) const { return heap_[pos_[hold]].at; }

  // REQUIRES: !contains(hold).
  void push(std::uint32_t hold, std::int64_t at) {
    STOCKD_ASSERT(hold != kAbsent && !contains(hold));
    if (hold >= pos_.size()) pos_.resize(std::max<std::size_t>(hold + 1, 2 * pos_.size()), kAbsent);
    heap_.push_back({at, hold});
    pos_[hold] = static_cast<std::uint32_t>(heap_.size() - 1);
    up(heap_.size() - 1);
  }
  // REQUIRES (update, erase): contains(hold).
  void update(std::uint32_t hold, std::int64_t at) {
    STOCKD_ASSERT(contains(hold));
    std::size_t i = pos_[hold];
    heap_[i].at = at;
    up(i);
    down(pos_[hold]);
  }
  void erase(std::uint32_t hold) {
    STOCKD_ASSERT(contains(hold));
    std::size_t i = pos_[hold];
    pos_[hold] = kAbsent;
    std::size_t last = heap_.size() - 1;
    if (i != last) {
      heap_[i] = heap_[last];
      pos_[heap_[i].hold] = static_cast<std::uint32_t>(i);
      heap_.pop_back();
      std::uint32_t moved = heap_[i].hold;
      up(i);
      down(pos_[moved]);
    } else {
      heap_.pop_back();
    }
  }
  void clear() {
    heap_.clear();
    pos_.clear();
  }
  // For invariant checks: true when every parent orders before its children and positions agree.
  bool valid() const {
    for (std::size_t i = 0; i < heap_.size(); ++i) {
      if (pos_[heap_[i].hold] != i) return false;
      if (i > 0 && less(i, (i - 1) / 2)) return false;
    }
    return true;
  }

 private:
  struct Entry {
    std::int64_t at;
    std::uint32_t hold;
  };
  bool less(std::size_t a, std::size_t b) const {
    return heap_[a].at != heap_[b].at ? heap_[a].at < heap_[b].at : heap_[a].hold < heap_[b].hold;
  }
  void swap_at(std::size_t a, std::size_t b) {
    std::swap(heap_[a], heap_[b]);
    pos_[heap_[a].hold] = static_cast<std::uint32_t>(a);
    pos_[heap_[b].hold] = static_cast<std::uint32_t>(b);
  }
  void up(std::size_t i) {
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!less(i, parent)) break;
      swap_at(i, parent);
      i = parent;
    }
  }
  void down(std::size_t i) {
    for (;;) {
      std::size_t l = 2 * i + 1, r = l + 1, m = i;
      if (l < heap_.size() && less(l, m)) m = l;
      if (r < heap_.size() && less(r, m)) m = r;
      if (m == i) break;
      swap_at(i, m);
      i = m;
    }
  }

  std::vector<Entry> heap_;
  std::vector<std::uint32_t> pos_;  // by hold index
};

}  // namespace stockd::core
