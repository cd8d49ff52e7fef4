// cluster_policy_inl.h: apply_allocation (a template over how held units are looked up).
#pragma once
#include <algorithm>

#include "core/allocation_policy.h"

namespace stockd::backends {

template <typename HeldOf>
AllocConfig apply_allocation(const AllocConfig& old, const core::SetAllocation& c, HeldOf held_of,
                             bool hidden_fence_held, std::vector<std::pair<std::string, std::string>>* settings) {
  AllocConfig a;
  a.preempt = c.preempt;
  for (const core::FenceSpec& f : c.fences) {
    a.fences.push_back({f.channel, f.ratio_ppb, f.units});
    settings->emplace_back(fence_bucket(f.channel),
                           f.units >= 0 ? "u" + std::to_string(f.units) : "r" + std::to_string(f.ratio_ppb));
  }
  a.pools = old.pools;
  for (auto& p : a.pools) p.open = false;
  std::vector<bool> fresh(a.pools.size(), false);  // a new or reused slot: nothing sold yet
  core::policy::assign_pool_slots(
      old.pools.size(), [&](std::size_t i) -> const std::string& { return old.pools[i].name; },
      [&](std::size_t i) { return held_of(pool_bucket(old.pools[i].name)); }, c.pools,
      [&](std::size_t spec, std::size_t slot, bool reused) {
        const core::PoolSpec& ps = c.pools[spec];
        if (slot >= a.pools.size()) {
          a.pools.resize(slot + 1);
          fresh.resize(slot + 1, false);
        }
        a.pools[slot] = AllocConfig::Pool{ps.name, ps.units, true, ps.channels};
        fresh[slot] = reused;
      });
  // As the core drops an allocation that has become idle: its closed pools are forgotten, with what
  // they sold.
  bool pool_in_use = std::any_of(a.pools.begin(), a.pools.end(),
                                 [&](const auto& p) { return p.open || held_of(pool_bucket(p.name)) != 0; });
  if (core::policy::allocation_idle(!a.fences.empty(), a.preempt, hidden_fence_held, pool_in_use)) a.pools.clear();
  for (std::size_t i = 0; i < a.pools.size(); ++i)
    if (a.pools[i].open)
      settings->emplace_back(pool_bucket(a.pools[i].name),
                             (fresh[i] ? "n" : "") + std::to_string(a.pools[i].units));
  return a;
}

}  // namespace stockd::backends
