// SKU commands: set stock, adjust it (idempotent by ref), set the allocation, close an event pool.
// Each captures per-channel availability first and publishes what changed afterwards.
#include <algorithm>
#include <cstring>
#include <string>

#include "core/allocation_policy.h"
#include "core/inventory_state.h"

namespace stockd::core {
namespace {

Outcome error(Code code, std::string message) {
  Outcome out;
  out.code = code;
  out.message = std::move(message);
  return out;
}

std::string ref_key(std::uint32_t sku, std::string_view ref) {
  std::string key(4, '\0');
  std::memcpy(key.data(), &sku, 4);
  key.append(ref);
  return key;
}

}  // namespace

Outcome Inventory::State::put_sku(const PutSku& c) { return set_stock(c, MovementCause::set, "set", {}); }

Outcome Inventory::State::set_stock(const PutSku& c, MovementCause cause, std::string_view reason,
                                    std::string_view ref) {
  std::uint32_t found = sku_index.find(c.sku);
  bool is_new = found == kNoIndex;
  if (!is_new) {
    const Sku& s = skus[found];
    if (c.on_hand && *c.on_hand < s.held)
      return error(Code::invalid_state, "on_hand " + std::to_string(*c.on_hand) + " is below the " +
                                            std::to_string(s.held) + " units held");
  }
  std::uint32_t idx;
  if (is_new) {
    idx = static_cast<std::uint32_t>(skus.size());
    skus.emplace_back();
    skus.back().name = c.sku;
    sku_index.insert(idx);
  } else {
    idx = found;
  }
  Sku& s = skus[idx];
  capture(s);
  std::int64_t total_before = is_new ? 0 : sellable(s);
  std::int64_t threshold_before = is_new ? 0 : s.low_threshold;
  std::int64_t old_on_hand = s.on_hand;
  if (c.on_hand) s.on_hand = *c.on_hand;
  if (c.safety_stock) s.safety = *c.safety_stock;
  if (c.max_per_hold) s.max_per_hold = *c.max_per_hold == kClear ? 0 : *c.max_per_hold;
  if (c.low_stock_threshold) {
    s.threshold_explicit = *c.low_stock_threshold != kClear;
    if (s.threshold_explicit) s.low_threshold = *c.low_stock_threshold;
  }
  if (!s.threshold_explicit && (c.on_hand || is_new || c.low_stock_threshold))
    s.low_threshold = static_cast<std::int64_t>(static_cast<__int128>(s.on_hand) * low_stock_permille / 1000);
  cover_deficit(idx);
  resize(s);
  ++s.version;
  if (is_new || s.on_hand != old_on_hand) {
    Event e;
    e.type = EventType::stock_adjusted;
    e.sku = idx;
    e.on_hand = s.on_hand;
    e.delta = s.on_hand - old_on_hand;
    e.reason = reason;
    e.ref = ref;
    emit(std::move(e));
  }
  if (s.on_hand != old_on_hand) {
    Movement& m = move(cause, idx, s.on_hand - old_on_hand, 0);
    if (cause == MovementCause::batch) {
      m.reason = reason;
      m.ref = ref;
    }
  }
  publish(idx, total_before, threshold_before);
  Outcome out;
  out.changed = true;
  out.index = idx;
  return out;
}

Outcome Inventory::State::adjust(const Adjust& c) {
  std::uint32_t found = sku_index.find(c.sku);
  if (found == kNoIndex) return error(Code::unknown_sku, "unknown sku " + c.sku);
  std::uint32_t idx = found;
  Sku& s = skus[idx];
  Outcome out;
  out.index = idx;
  std::string key;
  if (!c.ref.empty()) {
    key = ref_key(idx, c.ref);
    if (auto r = refs.find(key); r != refs.end()) {
      if (r->second == c.delta) return out;  // a replay: applied once already
      return error(Code::idempotency_conflict,
                   "ref " + c.ref + " was applied with delta " + std::to_string(r->second));
    }
  }
  std::int64_t on_hand = s.on_hand + c.delta;
  if (on_hand < s.held)
    return error(Code::invalid_state, "adjustment would take on_hand to " + std::to_string(on_hand) +
                                          ", below the " + std::to_string(s.held) + " units held");
  if (on_hand > limits::kOnHandMax)
    return error(Code::invalid_request, "on_hand would exceed " + std::to_string(limits::kOnHandMax));
  capture(s);
  std::int64_t total_before = sellable(s);
  std::int64_t threshold_before = s.low_threshold;
  s.on_hand = on_hand;
  if (!s.threshold_explicit)
    s.low_threshold = static_cast<std::int64_t>(static_cast<__int128>(s.on_hand) * low_stock_permille / 1000);
  cover_deficit(idx);
  resize(s);
  ++s.version;
  if (!key.empty()) {
    refs.emplace(key, c.delta);
    ref_log.push_back(RefRecord{now, std::move(key)});
  }
  Movement& m = move(MovementCause::adjust, idx, c.delta, 0);
  m.reason = c.reason;
  m.ref = c.ref;
  Event e;
  e.type = EventType::stock_adjusted;
  e.sku = idx;
  e.on_hand = s.on_hand;
  e.delta = c.delta;
  e.reason = c.reason;
  e.ref = c.ref;
  emit(std::move(e));
  publish(idx, total_before, threshold_before);
  out.changed = true;
  return out;
}

Outcome Inventory::State::set_allocation(const SetAllocation& c) {
  std::uint32_t found = sku_index.find(c.sku);
  if (found == kNoIndex) return error(Code::unknown_sku, "unknown sku " + c.sku);
  auto channel_of = [&](const std::string& name) { return channel_index.find(name); };
  for (const FenceSpec& f : c.fences)
    if (channel_of(f.channel) == kNoIndex) return error(Code::unknown_channel, "unknown channel " + f.channel);
  for (const PoolSpec& p : c.pools)
    for (const std::string& ch : p.channels)
      if (channel_of(ch) == kNoIndex) return error(Code::unknown_channel, "unknown channel " + ch);

  std::uint32_t idx = found;
  Sku& s = skus[idx];
  capture(s);
  std::int64_t total_before = sellable(s);
  if (!s.alloc) s.alloc = std::make_unique<Allocation>();
  Allocation& a = *s.alloc;

  for (Fence& f : a.fences) f.active = false;
  for (const FenceSpec& spec : c.fences) {
    std::uint32_t ch = channel_of(spec.channel);
    Fence* f = fence_of(s, ch);
    if (!f) f = &a.fences.emplace_back();
    f->channel = ch;
    f->ratio_ppb = spec.ratio_ppb;
    f->units = spec.units;
    f->active = true;
  }
  std::erase_if(a.fences, [](const Fence& f) { return !f.active && f.held == 0; });

  for (Pool& p : a.pools) p.open = false;
  policy::assign_pool_slots(
      a.pools.size(), [&](std::size_t i) -> const std::string& { return a.pools[i].name; },
      [&](std::size_t i) { return a.pools[i].held; }, c.pools,
      [&](std::size_t spec, std::size_t slot, bool reused) {
        const PoolSpec& ps = c.pools[spec];
        if (slot >= a.pools.size()) a.pools.resize(slot + 1);
        Pool& p = a.pools[slot];
        if (reused) p = Pool{ps.name, ps.units, {}, 0, 0, 0, true};  // nothing sold in a reused slot
        p.units = ps.units;
        p.open = true;
        p.channels.clear();
        for (const std::string& ch : ps.channels) p.channels.push_back(channel_of(ch));
      });
  a.preempt = c.preempt;
  bool any_fence = std::any_of(a.fences.begin(), a.fences.end(), [](const Fence& f) { return f.active; });
  bool removed_fence_held = std::any_of(a.fences.begin(), a.fences.end(), [](const Fence& f) { return !f.active; });
  bool pool_in_use = std::any_of(a.pools.begin(), a.pools.end(), [](const Pool& p) { return p.open || p.held != 0; });
  if (policy::allocation_idle(any_fence, a.preempt, removed_fence_held, pool_in_use)) s.alloc.reset();

  resize(s);
  ++s.version;
  publish(idx, total_before, s.low_threshold);
  Outcome out;
  out.changed = true;
  out.index = idx;
  return out;
}

Outcome Inventory::State::close_pool(const ClosePool& c) {
  std::uint32_t found = sku_index.find(c.sku);
  if (found == kNoIndex) return error(Code::unknown_sku, "unknown sku " + c.sku);
  Sku& s = skus[found];
  Pool* pool = nullptr;
  if (s.alloc)
    for (Pool& p : s.alloc->pools)
      if (p.open && p.name == c.pool) pool = &p;
  if (!pool) return error(Code::invalid_request, "sku " + c.sku + " has no open pool " + c.pool);
  capture(s);
  std::int64_t total_before = sellable(s);
  pool->open = false;
  s.shared_free += pool->free;  // the leftover returns to shared stock
  pool->free = 0;
  ++s.version;
  publish(found, total_before, s.low_threshold);
  Outcome out;
  out.changed = true;
  out.index = found;
  return out;
}

}  // namespace stockd::core
