// cluster_policy_inl.h: apply_allocation (a template over how held units are looked up).
#pragma once
#include <algorithm>

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
  std::vector<bool> fresh(a.pools.size(), false);
  std::vector<const core::PoolSpec*> unmatched;
  for (const core::PoolSpec& spec : c.pools) {
    auto slot = std::find_if(a.pools.begin(), a.pools.end(), [&](const auto& p) { return p.name == spec.name; });
    if (slot == a.pools.end()) {
      unmatched.push_back(&spec);
      continue;
    }
    slot->units = spec.units;
    slot->open = true;
    slot->channels = spec.channels;
  }
  for (const core::PoolSpec* spec : unmatched) {
    std::size_t i = 0;
    while (i < a.pools.size() && (a.pools[i].open || fresh[i] || held_of(pool_bucket(a.pools[i].name)) != 0)) ++i;
    if (i == a.pools.size()) {
      a.pools.emplace_back();
      fresh.push_back(false);
    }
    a.pools[i] = AllocConfig::Pool{spec->name, spec->units, true, spec->channels};
    fresh[i] = true;
  }
  // As the core drops an allocation that has become empty (no fence, no open pool, nothing held from
  // a pool or a removed fence, no preempt): its closed pools are forgotten, with what they sold.
  bool idle = a.fences.empty() && !a.preempt && !hidden_fence_held &&
              std::all_of(a.pools.begin(), a.pools.end(),
                          [&](const auto& p) { return !p.open && held_of(pool_bucket(p.name)) == 0; });
  if (idle) a.pools.clear();
  for (std::size_t i = 0; i < a.pools.size(); ++i)
    if (a.pools[i].open)
      settings->emplace_back(pool_bucket(a.pools[i].name),
                             (fresh[i] ? "n" : "") + std::to_string(a.pools[i].units));
  return a;
}

}  // namespace stockd::backends
