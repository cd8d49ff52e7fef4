// The cluster store's allocation policy: the rules of src/core/allocation_policy.h (which the embedded
// core calls too) over the cluster's representation, and the encoding of a SKU's allocation.
#include "backends/cluster_policy.h"

#include <algorithm>
#include <charconv>

#include "core/allocation_policy.h"

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
  listed.clear();
  for (std::size_t c : by_priority)
    if (channels[c].listing) listed.push_back(c);
}

std::string encode_listing(const std::optional<core::Listing>& l) {
  if (!l) return {};
  std::string s = std::to_string(l->percent);
  for (std::int64_t v : {l->buffer, l->cap, l->min}) {
    s += ',';
    s += std::to_string(v);
  }
  return s;
}

std::optional<core::Listing> decode_listing(std::string_view s) {
  auto parts = split(s, ',');
  core::Listing l;
  if (parts.size() != 4 || !to_i64(parts[0], &l.percent) || !to_i64(parts[1], &l.buffer) ||
      !to_i64(parts[2], &l.cap) || !to_i64(parts[3], &l.min))
    return std::nullopt;
  return l;
}

std::string encode_webhook(const core::Webhook& w) {
  std::string s = std::to_string(w.freeze_after_s);
  s += '|';
  s += std::to_string(w.secret.size());
  s += '|';
  s += w.secret;
  s += w.url;
  return s;
}

std::optional<core::Webhook> decode_webhook(std::string_view s) {
  auto a = s.find('|');
  if (a == std::string_view::npos) return std::nullopt;
  auto b = s.find('|', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  core::Webhook w;
  std::int64_t len = 0;
  if (!to_i64(s.substr(0, a), &w.freeze_after_s) || !to_i64(s.substr(a + 1, b - a - 1), &len) || len < 0 ||
      static_cast<std::size_t>(len) > s.size() - b - 1)
    return std::nullopt;
  w.secret = std::string(s.substr(b + 1, static_cast<std::size_t>(len)));
  w.url = std::string(s.substr(b + 1 + static_cast<std::size_t>(len)));
  return w;
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

namespace {

// The view of allocation_policy.h over an AllocConfig and the channel table (keys: channel indexes).
struct ConfigView {
  const AllocConfig& cfg;
  const ChannelTable& t;
  bool has_fence(std::size_t c) const { return cfg.fence_of(t.channels[c].name) != nullptr; }
  std::size_t pool_slots() const { return cfg.pools.size(); }
  bool pool_open(std::size_t slot) const { return cfg.pools[slot].open; }
  bool pool_lists(std::size_t slot, std::size_t c) const {
    const auto& chs = cfg.pools[slot].channels;
    return std::find(chs.begin(), chs.end(), t.channels[c].name) != chs.end();
  }
  bool preempt() const { return cfg.preempt; }
  std::int64_t priority(std::size_t c) const { return t.channels[c].priority; }
  const std::vector<std::size_t>& by_priority() const { return t.by_priority; }
};

std::string bucket_id(const AllocConfig& cfg, const ChannelTable& t, const core::policy::Bucket<std::size_t>& b) {
  switch (b.kind) {
    case core::policy::BucketKind::fence: return fence_bucket(t.channels[b.channel].name);
    case core::policy::BucketKind::pool: return pool_bucket(cfg.pools[b.slot].name);
    case core::policy::BucketKind::shared: break;
  }
  return std::string(kSharedBucket);
}

}  // namespace

std::string sizing_plan(const AllocConfig& cfg, const ChannelTable& channels) {
  std::string plan;
  core::policy::for_each_sized_bucket<std::size_t>(ConfigView{cfg, channels}, [&](const auto& b) {
    if (!plan.empty()) plan += ',';
    plan += bucket_id(cfg, channels, b);
  });
  if (!channels.listed.empty()) {
    plan += '|';
    for (auto it = channels.listed.rbegin(); it != channels.listed.rend(); ++it) {
      if (it != channels.listed.rbegin()) plan += ',';
      plan += channels.channels[*it].name;
    }
  }
  return plan;
}

std::vector<std::string> draw_order(const AllocConfig& cfg, const ChannelTable& channels, std::string_view channel) {
  std::vector<std::string> order;
  const ChannelInfo* ch = channels.find(channel);
  if (!ch) return order;
  if (ch->state == core::ChannelState::frozen) {
    if (ch->listing) order.emplace_back("~");  // it may take only its exposure (stockd_take)
    return order;
  }
  if (ch->listing && ch->webhook) order.emplace_back("@");
  std::vector<std::string> buckets = bucket_order(cfg, channels, static_cast<std::size_t>(ch - channels.channels.data()));
  order.insert(order.end(), std::make_move_iterator(buckets.begin()), std::make_move_iterator(buckets.end()));
  return order;
}

std::vector<std::string> bucket_order(const AllocConfig& cfg, const ChannelTable& channels, std::size_t c) {
  std::vector<std::string> order;
  core::policy::for_each_draw_bucket(ConfigView{cfg, channels}, c, [&](const auto& b) {
    order.push_back(bucket_id(cfg, channels, b));
    return true;
  });
  return order;
}

bool may_draw_bucket(const AllocConfig& cfg, const ChannelTable& channels, std::size_t c, std::string_view b) {
  if (b == kSharedBucket) return true;
  const ConfigView v{cfg, channels};
  if (b.starts_with("p:")) {
    for (std::size_t slot = 0; slot < cfg.pools.size(); ++slot)
      if (cfg.pools[slot].name == b.substr(2)) return v.pool_open(slot) && v.pool_lists(slot, c);
    return false;
  }
  if (!b.starts_with("f:")) return false;
  const ChannelInfo* owner = channels.find(b.substr(2));
  if (!owner) return false;
  return core::policy::may_draw_fence(v, c, static_cast<std::size_t>(owner - channels.channels.data()));
}

}  // namespace stockd::backends
