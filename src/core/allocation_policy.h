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
//   - exposures of listed channels (expose_sku, deficit_cuts): docs/allocation.md "Listed channels".
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

#include "core/command.h"  // Listing

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

// Exposures (docs/allocation.md "Listed channels"). A listed channel's target on a SKU from d, what it
// could hold with no exposure of its own: floor(percent * d / 100) - buffer, at most cap, 0 below min,
// never below 0.
inline std::int64_t exposure_target(const Listing& l, std::int64_t d) {
  std::int64_t t = static_cast<std::int64_t>(static_cast<__int128>(l.percent) * d / 100) - l.buffer;
  if (l.cap >= 0) t = std::min(t, l.cap);
  if (t < l.min) t = 0;
  return std::max<std::int64_t>(t, 0);
}

// Recomputes the exposures of one SKU: the listed channels in priority order (equal priorities in
// creation order). Channel i's d is the free units it may draw, plus its own exposure, plus the
// exposures of lower-priority listed channels it could draw (they are served after it), minus what
// higher-priority channels still miss of their targets; so a channel's target does not move when a
// lower-priority one is exposed more, and a higher target that free stock cannot cover waits for
// lower channels to acknowledge their lower publications. A higher target is drawn at once (as far as
// free units go); a lower one is only published (the units leave on acknowledgement, ack_excess);
// a frozen channel's exposure is never raised. What is published is never more than is set aside.
// Returns whether anything was drawn or published. An exposure view X of one SKU answers:
//   std::size_t listed() const;                 the listed channels, by priority
//   const Listing& listing(std::size_t i) const;
//   bool frozen(std::size_t i) const;
//   std::int64_t units(std::size_t i) const;    set aside for channel i now
//   std::int64_t free(std::size_t i) const;     free units channel i may draw now
//   std::int64_t drawable(std::size_t i, std::size_t j) const;  units of j's exposure i could draw
//   void draw(std::size_t i, std::int64_t qty); set aside qty more for i, from its buckets in draw order
//   std::int64_t published(std::size_t i) const;  -1: never
//   bool stale(std::size_t i) const;            a hold took exposed units: publish again
//   void publish(std::size_t i, std::int64_t qty);
template <typename X>
bool expose_sku(X& x) {
  bool changed = false;
  std::int64_t missing = 0;  // higher-priority channels' targets not covered yet
  for (std::size_t i = 0; i < x.listed(); ++i) {
    std::int64_t lower = 0;
    for (std::size_t j = i + 1; j < x.listed(); ++j) lower += x.drawable(i, j);
    const std::int64_t free = x.free(i);
    const std::int64_t units = x.units(i);
    std::int64_t t = exposure_target(x.listing(i), std::max<std::int64_t>(0, free + units + lower - missing));
    if (x.frozen(i)) t = std::min(t, units);
    if (std::int64_t more = std::min(t - units, free); more > 0) {
      x.draw(i, more);
      changed = true;
    }
    const std::int64_t now = x.units(i);
    missing += std::max<std::int64_t>(0, t - now);
    const std::int64_t show = std::min(t, now);
    if (show != x.published(i) || x.stale(i)) {
      x.publish(i, show);
      changed = true;
    }
  }
  return changed;
}

// Stock fell below held + exposed: the exposures shrink to `room` (on_hand - safety - held, at least
// 0), lowest priority first. Calls cut(i, qty) for each exposure cut, from the last listed channel.
// units(i): as for expose_sku.
template <typename Units, typename Cut>
void deficit_cuts(std::size_t listed, std::int64_t exposed, std::int64_t room, Units units, Cut cut) {
  for (std::size_t k = listed; k-- > 0 && exposed > room;) {
    const std::int64_t u = units(k);
    if (u == 0) continue;
    const std::int64_t q = std::min(u, exposed - room);
    cut(k, q);
    exposed -= q;
  }
}

// The units an acknowledged publication releases: what is set aside above the acknowledged quantity.
inline std::int64_t ack_excess(std::int64_t units, std::int64_t published) { return std::max<std::int64_t>(0, units - published); }

}  // namespace stockd::core::policy
