// allocation_policy.h: the allocation rules of docs/allocation.md, written once for both stores. The
// embedded core (stock.cc, sku.cc, exposure.cc) and the cluster store's policy
// (src/backends/cluster_policy.cc: what it tells Redis Functions) both call these; each passes a view
// of its own representation of channels and of a SKU's allocation.
//
// The rules:
//   - draw order: a channel draws from its fence, the open pools that list it (in slot order), shared
//     stock, then, with preempt, the fences of lower-priority channels, lowest priority first;
//   - sizing order: fences by channel priority (highest first; equal priorities in creation order),
//     then open pools in slot order; whatever they do not take is shared;
//   - sizes: a fence is its units or floor(ratio * (on_hand - safety)); a bucket's free units are what
//     it still wants (size - held; a pool: units - sold - held), at least 0, at most what is left;
//   - pool slots: a pool listed again keeps its slot; a new pool takes the first slot that is neither
//     kept nor taken in the same allocation and has nothing held, else a new slot at the end;
//   - an allocation with no fence, no preempt, no open pool and nothing held from a pool or a removed
//     fence is dropped.
// On the cluster store, the one step that cannot leave Redis is the arithmetic of sizing (sized_free,
// fence_size): it must run in the same atomic call as the change of on_hand that triggers it, so
// cluster_functions.lua's resize applies these two formulas to the order sizing_order() gave it
// (docs/cluster.md, "Policy in C++, mechanisms in Redis Functions").
//
// A view V over channels and one SKU's allocation, with channel keys K:
//   bool has_fence(K c) const;                 an active fence for channel c
//   std::size_t pool_slots() const;            pools by slot, open or closed
//   bool pool_open(std::size_t slot) const;
//   bool pool_lists(std::size_t slot, K c) const;
//   bool preempt() const;
//   std::int64_t priority(K c) const;          smaller is higher
//   const R& by_priority() const;              every channel key, highest priority first
// Pure: no state, no I/O.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace stockd::core::policy {

enum class BucketKind : std::uint8_t { fence, pool, shared };

// fence: key is the channel; pool: key is the slot; shared: no key.
template <typename K>
struct Bucket {
  BucketKind kind;
  K channel{};
  std::size_t slot = 0;
};

// Calls emit(Bucket<K>) for every bucket channel `c` draws from, in draw order, until emit returns
// false. The caller checks that the channel may draw at all (not frozen).
template <typename K, typename V, typename Emit>
void for_each_draw_bucket(const V& v, K c, Emit&& emit) {
  if (v.has_fence(c) && !emit(Bucket<K>{BucketKind::fence, c})) return;
  for (std::size_t slot = 0; slot < v.pool_slots(); ++slot)
    if (v.pool_open(slot) && v.pool_lists(slot, c) && !emit(Bucket<K>{BucketKind::pool, K{}, slot})) return;
  if (!emit(Bucket<K>{BucketKind::shared})) return;
  if (!v.preempt()) return;
  const std::int64_t own = v.priority(c);
  const auto& order = v.by_priority();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    if (v.priority(*it) <= own) break;
    if (v.has_fence(*it) && !emit(Bucket<K>{BucketKind::fence, *it})) return;
  }
}

// Whether channel `c` may draw from the fence of channel `owner` (its own, or with preempt a
// lower-priority channel's): the fences for_each_draw_bucket lists, whether or not still active.
template <typename K, typename V>
bool may_draw_fence(const V& v, K c, K owner) {
  return owner == c || (v.preempt() && v.priority(owner) > v.priority(c));
}

// Calls emit(Bucket<K>) for every bucket that is sized, in sizing order.
template <typename K, typename V, typename Emit>
void for_each_sized_bucket(const V& v, Emit&& emit) {
  for (const auto& c : v.by_priority())
    if (v.has_fence(c)) emit(Bucket<K>{BucketKind::fence, c});
  for (std::size_t slot = 0; slot < v.pool_slots(); ++slot)
    if (v.pool_open(slot)) emit(Bucket<K>{BucketKind::pool, K{}, slot});
}

// A fence's size: its units (units >= 0), else floor(ratio_ppb * sellable / 1e9).
inline std::int64_t fence_size(std::int64_t units, std::int64_t ratio_ppb, std::int64_t sellable) {
  if (units >= 0) return units;
  return static_cast<std::int64_t>(static_cast<__int128>(ratio_ppb) * sellable / 1'000'000'000);
}

// A sized bucket's free units: what it wants, at least 0, at most what is left to hand out.
inline std::int64_t sized_free(std::int64_t want, std::int64_t left) { return std::clamp<std::int64_t>(want, 0, left); }

// Pool slots for a new allocation. `slots`: the existing slots; name_of(i), held_of(i) their pool's
// name and units held; specs: the new allocation's pools (each with .name). Calls place(spec index,
// slot, reused) for each spec: the slot of its name (reused false), else the first slot neither kept
// nor taken in this allocation with nothing held (reused true: it starts with nothing sold), else
// slots, slots + 1, ... (new slots at the end, reused true).
template <typename Specs, typename NameOf, typename HeldOf, typename Place>
void assign_pool_slots(std::size_t slots, NameOf name_of, HeldOf held_of, const Specs& specs, Place place) {
  std::vector<bool> taken(slots, false);
  std::vector<std::size_t> unmatched;
  for (std::size_t s = 0; s < specs.size(); ++s) {
    std::size_t i = 0;
    while (i < slots && name_of(i) != specs[s].name) ++i;
    if (i == slots) {
      unmatched.push_back(s);
      continue;
    }
    taken[i] = true;
    place(s, i, false);
  }
  for (std::size_t s : unmatched) {
    std::size_t i = 0;
    while (i < taken.size() && (taken[i] || (i < slots && held_of(i) != 0))) ++i;
    if (i == taken.size()) taken.push_back(false);
    taken[i] = true;
    place(s, i, true);
  }
}

// Whether an allocation is dropped after a change: no fence, no preempt, no open pool, nothing held
// from a pool or from a removed fence.
inline bool allocation_idle(bool any_fence, bool preempt, bool removed_fence_held, bool any_pool_open_or_held) {
  return !any_fence && !preempt && !removed_fence_held && !any_pool_open_or_held;
}

}  // namespace stockd::core::policy
