// Buckets and channels: how a SKU's sellable units are split into buckets (resize), how a channel
// draws from them (take) and how units go back or are consumed; the availability events a change
// publishes; the channel command. The SKU commands that trigger sizing are in sku.cc.
// docs/allocation.md explains the rules with worked examples.
//
// Sizing (resize) runs when the allocation is set and whenever stock is set or adjusted, never on
// holds, confirms, releases or expiry. It hands the free units out in a fixed order: fences by channel
// priority (highest first), then open pools in slot order, then whatever is left is shared:
//   fence size  = floor(ratio * (on_hand - safety)) or its units; its free = size - its held
//   pool  free  = units - sold - held (a pool is a total for its event, sold units stay counted)
// each capped by what is still free, so the buckets never promise more than exists. The orders and the
// formulas are the rules of allocation_policy.h, which the cluster store's policy calls too.
#include <algorithm>

#include "core/allocation_policy.h"
#include "core/assert.h"
#include "core/inventory_state.h"

namespace stockd::core {

std::int64_t Inventory::State::total_free(const Sku& s) const {
  return std::max<std::int64_t>(0, s.on_hand - s.safety - s.held - s.exposed);
}

std::int64_t Inventory::State::sellable(const Sku& s) const {
  return std::max<std::int64_t>(0, s.on_hand - s.safety - s.held);
}

Fence* Inventory::State::fence_of(Sku& s, std::uint32_t channel) const {
  if (!s.alloc) return nullptr;
  for (Fence& f : s.alloc->fences)
    if (f.channel == channel) return &f;
  return nullptr;
}

// A listed channel may also take its own exposure (exposure.cc); nobody else may.
std::int64_t Inventory::State::avail(const Sku& s, std::uint32_t channel) const {
  if (channels[channel].state == ChannelState::frozen) return 0;
  std::int64_t sum = bucket_avail(s, channel);
  if (s.expo)
    if (const Exposure* e = exposure_of(s, channel)) sum += e->units;
  return sum;
}

std::int64_t Inventory::State::bucket_avail(const Sku& s, std::uint32_t channel) const {
  if (!s.alloc) return s.shared_free;
  std::int64_t sum = 0;
  policy::for_each_draw_bucket(AllocView{*this, s}, channel, [&](const policy::Bucket<std::uint32_t>& b) {
    switch (b.kind) {
      case policy::BucketKind::fence: sum += fence_of(s, b.channel)->free; break;
      case policy::BucketKind::pool: sum += s.alloc->pools[b.slot].free; break;
      case policy::BucketKind::shared: sum += s.shared_free; break;
    }
    return true;
  });
  return sum;
}

void Inventory::State::resize(Sku& s) {
  const std::int64_t sellable = std::max<std::int64_t>(0, s.on_hand - s.safety);
  std::int64_t remaining = total_free(s);
  if (s.alloc) {
    for (Fence& f : s.alloc->fences) f.free = 0;
    for (Pool& p : s.alloc->pools) p.free = 0;
    policy::for_each_sized_bucket<std::uint32_t>(AllocView{*this, s}, [&](const policy::Bucket<std::uint32_t>& b) {
      std::int64_t* free = nullptr;
      std::int64_t want = 0;
      if (b.kind == policy::BucketKind::fence) {
        Fence* f = fence_of(s, b.channel);
        free = &f->free;
        want = policy::fence_size(f->units, f->ratio_ppb, sellable) - f->held;
      } else {
        Pool& p = s.alloc->pools[b.slot];
        free = &p.free;
        want = p.units - p.sold - p.held;
      }
      *free = policy::sized_free(want, remaining);
      remaining -= *free;
    });
  }
  STOCKD_ASSERT(remaining >= 0);
  s.shared_free = remaining;
}

// A hold's units: a listed channel's own exposure first (exposure.cc), then the buckets in its draw
// order. For a channel with a webhook, while its latest publication of the SKU is unacknowledged, free
// units come first: that publication may be in a batch already on its way, which the marketplace
// applies after this sale and then sells in full, so the exposure must go on backing it; the lower
// publication that follows releases the extra units once acknowledged. A pulling channel reads and
// applies its page under its own sale lock (docs/channels.md), so it keeps the contract's order.
// REQUIRES: avail(s, channel) >= qty.
void Inventory::State::take(Sku& s, std::uint32_t channel, std::int64_t qty, DrawList& draws,
                            std::uint16_t* n) {
  STOCKD_ASSERT(qty > 0);
  const Channel& ch = channels[channel];
  if (Exposure* e = s.expo ? exposure_of(s, channel) : nullptr;
      ch.webhook && e && e->units > 0 && e->pub_seq > ch.pub_acked && ch.state != ChannelState::frozen) {
    std::int64_t q = std::min(qty, bucket_avail(s, channel));
    if (q > 0) {
      // Published again even if the quantity stays: the marketplace counted this sale down, and when
      // no batch is on its way (applied, its acknowledgement not yet here) nothing else would bring
      // its counter back to what stays published (the proof's convergence, cluster store).
      e->stale = true;
      s.held += q;
      draw_buckets(s, channel, q, draws, n);
      qty -= q;
      if (qty == 0) return;
    }
  }
  if (s.expo) take_exposed(s, channel, qty, draws, n);
  if (qty == 0) return;
  s.held += qty;
  draw_buckets(s, channel, qty, draws, n);
}

// Draw order for `channel`: its fence, the pools it is listed in, shared stock, then (with preempt)
// the fences of lower-priority channels, lowest priority first. The caller counts the units (held or
// exposed). REQUIRES: qty > 0 and bucket_avail(s, channel) >= qty.
void Inventory::State::draw_buckets(Sku& s, std::uint32_t channel, std::int64_t qty, DrawList& draws,
                                    std::uint16_t* n) {
  // The precondition bucket_avail(s, channel) >= qty is checked at the end, for free: the draws below
  // take from exactly the buckets bucket_avail() adds up, so a short SKU leaves qty > 0.
  STOCKD_ASSERT(qty > 0);
  auto draw = [&](std::int64_t& free, std::int64_t* bucket_held, std::uint32_t bucket) {
    std::int64_t q = std::min(free, qty);
    if (q <= 0) return;
    free -= q;
    if (bucket_held) *bucket_held += q;
    qty -= q;
    draws.push_back({bucket, q});
    ++*n;
  };
  policy::for_each_draw_bucket(AllocView{*this, s}, channel, [&](const policy::Bucket<std::uint32_t>& b) {
    switch (b.kind) {
      case policy::BucketKind::fence: {
        Fence* f = fence_of(s, b.channel);
        draw(f->free, &f->held, kFenceTag | b.channel);
        break;
      }
      case policy::BucketKind::pool: {
        Pool& p = s.alloc->pools[b.slot];
        draw(p.free, &p.held, kPoolTag | static_cast<std::uint32_t>(b.slot));
        break;
      }
      case policy::BucketKind::shared: draw(s.shared_free, nullptr, kShared); break;
    }
    return qty > 0;
  });
  STOCKD_ASSERT(qty == 0);  // every unit came out of a bucket: avail(s, channel) was >= qty
}

// Units of a draw come back (release, expiry, the unconfirmed rest of a partial confirm). They go to
// the bucket they came from if it still exists (an open pool only up to its total), else to shared
// stock; when safety stock was raised above what is free, only the part that makes the SKU sellable
// again becomes free.
void Inventory::State::give_back(Sku& s, const Draw& d, std::int64_t Sku::*counter) {
  STOCKD_ASSERT(d.qty > 0 && d.qty <= s.*counter);
  std::int64_t before = total_free(s);
  s.*counter -= d.qty;
  std::int64_t back = total_free(s) - before;
  std::int64_t* target = &s.shared_free;
  if (d.bucket & kPoolTag) {
    Pool& p = pool_of(s, d.bucket);
    p.held -= d.qty;
    STOCKD_ASSERT(p.held >= 0);
    if (p.open) {
      // A pool is a total for its event (its units may have been cut while these were held): what
      // would take sold + held + free past its units goes to shared stock.
      std::int64_t to_pool = std::min(back, std::max<std::int64_t>(0, p.units - p.sold - p.held - p.free));
      p.free += to_pool;
      back -= to_pool;
    }
  } else if (d.bucket & kFenceTag) {
    Fence* f = fence_of(s, d.bucket & kBucketKeyMask);
    STOCKD_ASSERT(f != nullptr);  // a fence with held units is kept (inactive) until they are gone
    f->held -= d.qty;
    STOCKD_ASSERT(f->held >= 0);
    if (f->active) target = &f->free;
  }
  STOCKD_ASSERT(back >= 0);
  *target += back;
}

// Units of a draw are sold (confirm): on hand and held go down together, free stays as it is.
void Inventory::State::consume(Sku& s, const Draw& d) {
  STOCKD_ASSERT(d.qty > 0 && d.qty <= s.held);
  s.held -= d.qty;
  s.on_hand -= d.qty;
  if (d.bucket & kPoolTag) {
    Pool& p = pool_of(s, d.bucket);
    p.held -= d.qty;
    p.sold += d.qty;
    STOCKD_ASSERT(p.held >= 0);
  } else if (d.bucket & kFenceTag) {
    Fence* f = fence_of(s, d.bucket & kBucketKeyMask);
    STOCKD_ASSERT(f != nullptr);
    f->held -= d.qty;
    STOCKD_ASSERT(f->held >= 0);
  }
}

// A draw's pool. REQUIRES: the draw names a pool slot of this SKU (slots are never removed).
Pool& Inventory::State::pool_of(Sku& s, std::uint32_t bucket) const {
  STOCKD_ASSERT(s.alloc != nullptr && (bucket & kPoolTag) != 0);
  std::uint32_t slot = bucket & kBucketKeyMask;
  STOCKD_ASSERT(slot < s.alloc->pools.size());
  return s.alloc->pools[slot];
}

// The invariants of one SKU's buckets: none is negative, removed fences and closed pools have no free
// units, and the buckets' held units are part of the SKU's. Returns the free units of all buckets.
std::int64_t Inventory::State::check_buckets(const Sku& s) const {
  std::int64_t free_sum = 0;
  std::int64_t bucket_held = 0;
  for (const Fence& f : s.alloc->fences) {
    STOCKD_ASSERT((f.free | f.held) >= 0);
    STOCKD_ASSERT(f.active || f.free == 0);
    free_sum += f.free;
    bucket_held += f.held;
  }
  for (const Pool& p : s.alloc->pools) {
    STOCKD_ASSERT((p.free | p.held | p.sold) >= 0);
    STOCKD_ASSERT(p.open || p.free == 0);
    free_sum += p.free;
    bucket_held += p.held;
  }
  STOCKD_ASSERT(bucket_held <= s.held + s.exposed);
  return free_sum;
}

// The invariants of one SKU: no figure is negative, held never exceeds on_hand, on_hand stays within
// its limit, and the free buckets add up to exactly what is free (max(0, on_hand - safety - held)).
// publish() runs it at the end of every change to a SKU, so every applied command checks the SKUs it
// touched (check_invariants(), which walks everything, runs only in tests and on snapshot load). The
// bucket loops are out of line: most SKUs have no allocation, and this stays a few compares for them.
// Exposures: held + exposed <= on_hand - safety_stock (cover_deficit() cuts exposures when stock falls;
// only held alone may exceed it, when safety stock was raised while units were held).
void Inventory::State::check_sku(const Sku& s) const {
  STOCKD_ASSERT((s.safety | s.held | s.shared_free | s.exposed) >= 0);  // none is negative
  STOCKD_ASSERT(s.held <= s.on_hand && s.on_hand <= limits::kOnHandMax && s.safety <= limits::kOnHandMax);
  STOCKD_ASSERT(s.exposed == 0 || s.held + s.exposed <= s.on_hand - s.safety);
  std::int64_t free_sum = s.alloc ? s.shared_free + check_buckets(s) : s.shared_free;
  STOCKD_ASSERT(free_sum == total_free(s));
}

void Inventory::State::capture(const Sku& s) {
  scratch_avail.resize(channels.size());
  for (std::uint32_t c = 0; c < channels.size(); ++c) scratch_avail[c] = avail(s, c);
}

// Emits an availability event per channel whose figure changed since capture(), low_stock when the
// SKU's sellable units (on_hand - safety_stock - held: exposed units are still for sale, on their
// marketplace) fell from at or above its threshold to below it, and out_of_stock when they fell to 0.
// Without listed channels that is the SKU's available.
// Listed channels' exposures of the SKU are brought to their targets first (exposure.cc).
void Inventory::State::publish(std::uint32_t sku, std::int64_t total_before, std::int64_t threshold_before) {
  if (!listed.empty()) expose(sku);
  const Sku& s = skus[sku];
  check_sku(s);
  for (std::uint32_t c = 0; c < channels.size(); ++c) {
    std::int64_t now_avail = avail(s, c);
    if (now_avail == scratch_avail[c]) continue;
    Event& e = emit_new(EventType::availability);
    e.sku = sku;
    e.channel = c;
    e.available = now_avail;
  }
  std::int64_t total = sellable(s);
  if (total < s.low_threshold && !(total_before < threshold_before)) {
    Event& e = emit_new(EventType::low_stock);
    e.sku = sku;
    e.available = total;
    e.threshold = s.low_threshold;
  }
  if (total == 0 && total_before > 0) {
    Event& e = emit_new(EventType::out_of_stock);
    e.sku = sku;
    e.available = 0;
  }
}

void Inventory::State::rebuild_priority_order() {
  by_priority.resize(channels.size());
  for (std::uint32_t i = 0; i < by_priority.size(); ++i) by_priority[i] = i;
  std::stable_sort(by_priority.begin(), by_priority.end(),
                   [&](std::uint32_t a, std::uint32_t b) { return channels[a].priority < channels[b].priority; });
  listed.clear();
  for (std::uint32_t c : by_priority)
    if (channels[c].listing) listed.push_back(c);
}

namespace {
// A state change from the delivery side (reason delivery_failing) never overrides a manual freeze.
void set_state(Channel& ch, ChannelState state, FrozenReason why) {
  if (why == FrozenReason::delivery_failing) {
    bool freeze = state == ChannelState::frozen && ch.state == ChannelState::active;
    bool unfreeze = state == ChannelState::active && ch.frozen_reason == FrozenReason::delivery_failing;
    if (!freeze && !unfreeze) return;
  }
  ch.state = state;
  ch.frozen_reason = state == ChannelState::frozen ? why : FrozenReason::none;
}
}  // namespace

Outcome Inventory::State::put_channel(const PutChannel& c) {
  Outcome out;
  std::uint32_t idx = channel_index.find(c.channel);
  if (idx == kNoIndex) {
    if (channels.size() >= limits::kChannelsMax) {
      out.code = Code::invalid_request;
      out.message = "too many channels (at most 1024)";
      return out;
    }
    idx = static_cast<std::uint32_t>(channels.size());
    Channel& fresh = channels.emplace_back();
    fresh.name = c.channel;
    fresh.priority = 100;
    fresh.ttl_s = limits::kDefaultHoldTtlSeconds;
    channel_index.insert(idx);
  }
  Channel& ch = channels[idx];
  bool listed_before = !listed.empty();
  if (c.priority) ch.priority = *c.priority;
  if (c.hold_ttl_s) ch.ttl_s = *c.hold_ttl_s;
  const bool was_frozen = ch.state == ChannelState::frozen;
  if (c.state) set_state(ch, *c.state, c.reason.value_or(FrozenReason::manual));
  if (!was_frozen && ch.state == ChannelState::frozen) {  // alerts are events too (docs/api.md)
    if (ch.frozen_reason == FrozenReason::delivery_failing) emit_new(EventType::delivery_failing).channel = idx;
    Event& e = emit_new(EventType::channel_frozen);
    e.channel = idx;
    e.reason = std::string(frozen_reason_name(ch.frozen_reason));
  }
  if (c.webhook) ch.webhook = *c.webhook;
  if (c.clear_webhook) ch.webhook.reset();
  if (c.clear_listing && ch.listing) drop_listing(idx);
  if (c.listing) ch.listing = *c.listing;
  rebuild_priority_order();
  // A change of priority, state or listing may move the listed channels' targets (priority order,
  // freeze, rules, units released by a dropped listing): every SKU is recomputed, O(SKUs x listed
  // channels). A TTL or webhook change moves nothing.
  bool moves = c.priority || c.state || c.listing || c.clear_listing;
  if (moves && (listed_before || !listed.empty())) expose_all();
  Event e;
  e.type = EventType::channel_updated;
  e.channel = idx;
  emit(std::move(e));
  out.changed = true;
  out.index = idx;
  return out;
}

}  // namespace stockd::core
