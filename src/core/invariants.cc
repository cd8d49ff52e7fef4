// Self-checks of every structural invariant. The simulation calls this after each step; load() calls
// it on every snapshot it accepts.
#include <algorithm>
#include <string>
#include <tuple>

#include "core/inventory_state.h"

namespace stockd::core {
namespace {
std::string sku_problem(const Sku& k, const std::string& what) { return "sku " + k.name + ": " + what; }

// Exposures: only listed channels have them, each adds up to its draws, the SKU's and the channel's
// exposed totals add up, and a channel's unacknowledged publications are exactly its exposures
// published after its ack.
std::string exposure_problem(const Inventory::State& s) {
  std::vector<std::int64_t> by_channel(s.channels.size(), 0);
  std::vector<std::size_t> pending(s.channels.size(), 0);
  for (std::uint32_t i = 0; i < s.skus.size(); ++i) {
    const Sku& k = s.skus[i];
    std::int64_t sum = 0;
    if (k.expo) {
      std::vector<bool> seen(s.channels.size(), false);
      for (const Exposure& e : *k.expo) {
        const Channel& ch = s.channels[e.channel];
        if (!ch.listing || seen[e.channel]) return sku_problem(k, "exposure of a direct channel, or two");
        seen[e.channel] = true;
        std::int64_t drawn = 0;
        for (const Draw& d : e.draws) {
          if (d.qty <= 0) return sku_problem(k, "an empty exposure draw");
          drawn += d.qty;
        }
        if (drawn != e.units || e.units < 0) return sku_problem(k, "exposure draws do not add up");
        if (e.pub_seq > ch.pub_last || (e.pub_seq == 0) != (e.published < 0))
          return sku_problem(k, "exposure publication out of step");
        if (e.pub_seq > ch.pub_acked) {
          auto it = ch.pending.find(e.pub_seq);
          if (it == ch.pending.end() || it->second != i) return sku_problem(k, "publication not pending");
          ++pending[e.channel];
        }
        sum += e.units;
        by_channel[e.channel] += e.units;
      }
    }
    if (sum != k.exposed) return sku_problem(k, "exposed is not the sum of its exposures");
    if (k.exposed > 0 && k.held + k.exposed > k.on_hand - k.safety)
      return sku_problem(k, "held + exposed exceeds on_hand - safety_stock");
  }
  for (std::uint32_t c = 0; c < s.channels.size(); ++c) {
    const Channel& ch = s.channels[c];
    if (ch.exposed != by_channel[c]) return "channel " + ch.name + ": exposed out of step";
    if (ch.pending.size() != pending[c] || ch.pub_acked > ch.pub_last) return "channel " + ch.name + ": publications out of step";
    if ((ch.state == ChannelState::frozen) != (ch.frozen_reason != FrozenReason::none))
      return "channel " + ch.name + ": frozen_reason out of step";
  }
  return {};
}

// The tables that point at each other agree: name indexes, one fence per channel, every draw names a
// bucket that exists and each bucket's held is the sum of the draws on it, each free slot and each
// finished hold is queued once, each remembered ref is logged once. A snapshot that breaks one of these
// would pass the sums below yet corrupt the state at the next release or forget.
std::string cross_problem(const Inventory::State& s) {
  if (s.channel_index.size() != s.channels.size()) return "channel index out of step";
  for (std::uint32_t c = 0; c < s.channels.size(); ++c)
    if (s.channel_index.find(s.channels[c].name) != c)
      return "channel " + s.channels[c].name + " is not indexed";
  if (s.sku_index.size() != s.skus.size()) return "sku index out of step";
  for (std::uint32_t i = 0; i < s.skus.size(); ++i)
    if (s.sku_index.find(s.skus[i].name) != i)
      return sku_problem(s.skus[i], "not indexed");
  std::vector<std::tuple<std::uint32_t, std::uint32_t, std::int64_t>> on_buckets;  // sku, bucket, qty
  for (const Hold& hold : s.holds) {
    if (!hold.live || hold.state != HoldState::held) continue;
    for (const Line& l : hold.lines)
      for (std::uint16_t d = 0; d < l.n_draws; ++d)
        if (const Draw& draw = hold.draws[l.first_draw + d]; draw.bucket != kShared)
          on_buckets.emplace_back(l.sku, draw.bucket, draw.qty);
  }
  for (std::uint32_t i = 0; i < s.skus.size(); ++i)
    if (s.skus[i].expo)
      for (const Exposure& e : *s.skus[i].expo)
        for (const Draw& d : e.draws)
          if (d.bucket != kShared) on_buckets.emplace_back(i, d.bucket, d.qty);
  std::sort(on_buckets.begin(), on_buckets.end());
  std::vector<std::pair<std::uint32_t, std::int64_t>> sums;  // per SKU in turn: bucket, held
  for (std::uint32_t i = 0, next = 0; i < s.skus.size(); ++i) {
    const Sku& k = s.skus[i];
    sums.clear();
    for (; next < on_buckets.size() && std::get<0>(on_buckets[next]) == i; ++next) {
      auto [sku, bucket, qty] = on_buckets[next];
      if (!sums.empty() && sums.back().first == bucket) sums.back().second += qty;
      else sums.emplace_back(bucket, qty);
    }
    std::vector<bool> fenced(s.channels.size(), false);
    std::size_t buckets_held = 0;
    if (k.alloc) {
      for (const Fence& f : k.alloc->fences) {
        if (fenced[f.channel]) return sku_problem(k, "two fences for one channel");
        fenced[f.channel] = true;
        buckets_held += f.held > 0;
      }
      for (const Pool& p : k.alloc->pools) buckets_held += p.held > 0;
    }
    if (sums.size() != buckets_held) return sku_problem(k, "draws and bucket held disagree");
    for (auto [bucket, held] : sums) {
      std::int64_t bucket_held = -1;
      std::uint32_t key = bucket & kBucketKeyMask;
      if (k.alloc && (bucket & kPoolTag) && !(bucket & kFenceTag) && key < k.alloc->pools.size())
        bucket_held = k.alloc->pools[key].held;
      if (k.alloc && (bucket & kFenceTag) && !(bucket & kPoolTag))
        for (const Fence& f : k.alloc->fences)
          if (f.channel == key) bucket_held = f.held;
      if (bucket_held != held) return sku_problem(k, "a draw names a bucket that does not hold it");
    }
  }
  std::vector<bool> seen(s.holds.size(), false);
  for (std::uint32_t h : s.free_slots) {
    if (h >= s.holds.size() || s.holds[h].live || seen[h]) return "free slot list is wrong";
    seen[h] = true;
  }
  std::size_t finished_holds = 0;
  for (const Hold& hold : s.holds) finished_holds += hold.live && hold.state != HoldState::held;
  if (s.finished.size() != finished_holds) return "finished queue out of step";
  std::fill(seen.begin(), seen.end(), false);
  for (std::size_t i = 0; i < s.finished.size(); ++i) {
    const Finished& f = s.finished[i];
    if (f.hold >= s.holds.size() || seen[f.hold] || s.holds[f.hold].finished_at != f.at || f.at > s.now ||
        (i > 0 && s.finished[i - 1].at > f.at))
      return "finished queue is wrong";
    seen[f.hold] = true;
  }
  if (std::string expo = exposure_problem(s); !expo.empty()) return expo;
  if (s.refs.size() != s.ref_log.size()) return "adjustment refs out of step";
  for (std::size_t i = 0; i < s.ref_log.size(); ++i)
    if (!s.refs.contains(s.ref_log[i].key) || s.ref_log[i].at > s.now ||
        (i > 0 && s.ref_log[i - 1].at > s.ref_log[i].at))
      return "adjustment ref log is wrong";
  if (s.batch_refs.size() != s.batch_ref_log.size()) return "batch refs out of step";
  for (std::size_t i = 0; i < s.batch_ref_log.size(); ++i)
    if (!s.batch_refs.contains(s.batch_ref_log[i].key) || s.batch_ref_log[i].at > s.now ||
        (i > 0 && s.batch_ref_log[i - 1].at > s.batch_ref_log[i].at))
      return "batch ref log is wrong";
  return {};
}
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
    if (s.hold_index.find(hold.id) != h) return "hold " + hold.id + " is not indexed";
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
  if (std::string cross = cross_problem(s); !cross.empty()) return cross;
  for (std::uint32_t i = 0; i < s.skus.size(); ++i)
    if (s.skus[i].expo)
      for (const Exposure& e : *s.skus[i].expo)
        for (const Draw& d : e.draws)
          if (d.bucket == kShared) shared_held[i] += d.qty;
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
    if (bucket_held != k.held + k.exposed) return sku_problem(k, "bucket held does not add up to held + exposed");
    if (free_sum != s.total_free(k))
      return sku_problem(k, "free buckets " + std::to_string(free_sum) + " != available " +
                                std::to_string(s.total_free(k)));
  }
  return {};
}

}  // namespace stockd::core
