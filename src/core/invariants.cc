// Self-checks of every structural invariant. The simulation calls this after each step; load() calls
// it on every snapshot it accepts.
#include <string>

#include "core/inventory_state.h"

namespace stockd::core {
namespace {
std::string sku_problem(const Sku& k, const std::string& what) { return "sku " + k.name + ": " + what; }
}  // namespace

std::string Inventory::check_invariants() const {
  const State& s = *s_;
  // Held units per SKU and per bucket, recomputed from the holds' draws.
  std::vector<std::int64_t> held(s.skus.size(), 0);
  std::vector<std::int64_t> shared_held(s.skus.size(), 0);
  std::size_t live_held = 0;
  for (std::uint32_t h = 0; h < s.holds.size(); ++h) {
    const Hold& hold = s.holds[h];
    if (!hold.live) continue;
    auto it = s.hold_index.find(hold.id);
    if (it == s.hold_index.end() || it->second != h) return "hold " + hold.id + " is not indexed";
    if (hold.state != HoldState::held) {
      if (!hold.draws.empty()) return "finished hold " + hold.id + " still has draws";
      continue;
    }
    ++live_held;
    if (!s.expiry.contains(h) || s.expiry.at_of(h) != hold.expires_at) return "hold " + hold.id + " not in expiry";
    for (const Line& l : hold.lines) {
      std::int64_t sum = 0;
      for (std::uint16_t d = 0; d < l.n_draws; ++d) {
        const Draw& draw = hold.draws[l.first_draw + d];
        if (draw.qty <= 0) return "hold " + hold.id + " has an empty draw";
        sum += draw.qty;
        if (draw.bucket == kShared) shared_held[l.sku] += draw.qty;
      }
      if (sum != l.qty) return "hold " + hold.id + " draws do not add up to its line";
      held[l.sku] += l.qty;
    }
  }
  if (live_held != s.expiry.size() || !s.expiry.valid()) return "expiry heap out of step with held holds";
  if (s.hold_index.size() + s.free_slots.size() != s.holds.size()) return "hold slots out of step";
  for (std::uint32_t i = 0; i < s.skus.size(); ++i) {
    const Sku& k = s.skus[i];
    if (k.held != held[i]) return sku_problem(k, "held " + std::to_string(k.held) + " != holds " + std::to_string(held[i]));
    if (k.held < 0 || k.held > k.on_hand) return sku_problem(k, "held exceeds on_hand");
    if (k.shared_free < 0) return sku_problem(k, "negative shared stock");
    std::int64_t free_sum = k.shared_free;
    std::int64_t bucket_held = shared_held[i];
    if (k.alloc) {
      for (const Fence& f : k.alloc->fences) {
        if (f.free < 0 || f.held < 0) return sku_problem(k, "negative fence");
        if (!f.active && f.free != 0) return sku_problem(k, "removed fence has free units");
        free_sum += f.free;
        bucket_held += f.held;
      }
      for (const Pool& p : k.alloc->pools) {
        if (p.free < 0 || p.held < 0 || p.sold < 0) return sku_problem(k, "negative pool");
        if (!p.open && p.free != 0) return sku_problem(k, "closed pool has free units");
        if (p.open && p.free + p.held + p.sold > p.units && p.free > 0) return sku_problem(k, "pool over its units");
        free_sum += p.free;
        bucket_held += p.held;
      }
    }
    if (bucket_held != k.held) return sku_problem(k, "bucket held does not add up to held");
    if (free_sum != s.total_free(k))
      return sku_problem(k, "free buckets " + std::to_string(free_sum) + " != available " +
                                std::to_string(s.total_free(k)));
  }
  return {};
}

}  // namespace stockd::core
