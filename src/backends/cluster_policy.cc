// The cluster store's allocation policy: the same draw order and sizing order as src/core/stock.cc.
#include "backends/cluster_policy.h"

#include <algorithm>
#include <charconv>

namespace stockd::backends {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  if (s.empty()) return out;
  while (true) {
    auto i = s.find(sep);
    out.push_back(s.substr(0, i));
    if (i == std::string_view::npos) break;
    s.remove_prefix(i + 1);
  }
  return out;
}

bool to_i64(std::string_view s, std::int64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

const ChannelInfo* ChannelTable::find(std::string_view name) const {
  for (const ChannelInfo& c : channels)
    if (c.name == name) return &c;
  return nullptr;
}

void ChannelTable::rebuild() {
  std::sort(channels.begin(), channels.end(), [](const ChannelInfo& a, const ChannelInfo& b) { return a.order < b.order; });
  by_priority.resize(channels.size());
  for (std::size_t i = 0; i < by_priority.size(); ++i) by_priority[i] = i;
  std::stable_sort(by_priority.begin(), by_priority.end(),
                   [&](std::size_t a, std::size_t b) { return channels[a].priority < channels[b].priority; });
}

std::string fence_bucket(std::string_view channel) { return "f:" + std::string(channel); }
std::string pool_bucket(std::string_view pool) { return "p:" + std::string(pool); }

std::string AllocConfig::encode() const {
  std::string s = preempt ? "1" : "0";
  for (const Fence& f : fences) {
    s += ";f|" + f.channel + "|";
    // Appended, not "u" + std::string: that insert-at-0 trips GCC 12's -Wrestrict at -O3.
    s += f.units >= 0 ? 'u' : 'r';
    s += f.units >= 0 ? std::to_string(f.units) : std::to_string(f.ratio_ppb);
  }
  for (const Pool& p : pools) {
    s += ";p|" + p.name + "|" + std::to_string(p.units) + "|" + (p.open ? "1" : "0") + "|";
    for (std::size_t i = 0; i < p.channels.size(); ++i) {
      if (i > 0) s += ',';
      s += p.channels[i];
    }
  }
  return s;
}

bool AllocConfig::decode(std::string_view s, AllocConfig* out) {
  *out = AllocConfig{};
  if (s.empty()) return true;
  auto items = split(s, ';');
  if (items[0] != "0" && items[0] != "1") return false;
  out->preempt = items[0] == "1";
  for (std::size_t i = 1; i < items.size(); ++i) {
    auto f = split(items[i], '|');
    if (f.size() == 3 && f[0] == "f" && f[2].size() > 1) {
      Fence fence{std::string(f[1]), -1, -1};
      std::int64_t v = 0;
      if (!to_i64(f[2].substr(1), &v)) return false;
      (f[2][0] == 'u' ? fence.units : fence.ratio_ppb) = v;
      out->fences.push_back(std::move(fence));
    } else if (f.size() == 5 && f[0] == "p") {
      Pool pool{std::string(f[1]), 0, f[3] == "1", {}};
      if (!to_i64(f[2], &pool.units)) return false;
      for (std::string_view ch : split(f[4], ',')) pool.channels.emplace_back(ch);
      out->pools.push_back(std::move(pool));
    } else {
      return false;
    }
  }
  return true;
}

const AllocConfig::Fence* AllocConfig::fence_of(std::string_view channel) const {
  for (const Fence& f : fences)
    if (f.channel == channel) return &f;
  return nullptr;
}

std::string sizing_plan(const AllocConfig& cfg, const ChannelTable& channels) {
  std::string plan;
  auto add = [&](const std::string& b) {
    if (!plan.empty()) plan += ',';
    plan += b;
  };
  for (std::size_t i : channels.by_priority)
    if (cfg.fence_of(channels.channels[i].name)) add(fence_bucket(channels.channels[i].name));
  for (const auto& p : cfg.pools)
    if (p.open) add(pool_bucket(p.name));
  return plan;
}

std::vector<std::string> draw_order(const AllocConfig& cfg, const ChannelTable& channels, std::string_view channel) {
  std::vector<std::string> order;
  const ChannelInfo* ch = channels.find(channel);
  if (!ch || ch->state == core::ChannelState::frozen) return order;
  if (cfg.fence_of(channel)) order.push_back(fence_bucket(channel));
  for (const auto& p : cfg.pools)
    if (p.open && std::find(p.channels.begin(), p.channels.end(), channel) != p.channels.end())
      order.push_back(pool_bucket(p.name));
  order.emplace_back(kSharedBucket);
  if (cfg.preempt) {
    for (auto it = channels.by_priority.rbegin(); it != channels.by_priority.rend(); ++it) {
      const ChannelInfo& other = channels.channels[*it];
      if (other.priority <= ch->priority) break;
      if (cfg.fence_of(other.name)) order.push_back(fence_bucket(other.name));
    }
  }
  return order;
}

}  // namespace stockd::backends
