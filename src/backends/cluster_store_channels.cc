// The cluster store's channels: the channel table (cached for channel_cache_ms, in ClusterShared),
// and PUT /v1/channels/{c} with listings and webhooks (stockd_channel_put), whose changes of a
// listing, priority or state expose every SKU again (cluster_store_expose.cc).
#include <charconv>
#include <chrono>
#include <thread>

#include "backends/cluster_store_impl.h"
#include "core/limits.h"

namespace stockd::backends {

ChannelRecord channel_record(const ChannelInfo& c) {
  ChannelRecord r;
  r.name = c.name;
  r.priority = c.priority;
  r.hold_ttl_s = c.hold_ttl_s;
  r.state = c.state;
  r.frozen_reason = c.frozen_reason;
  r.listing = c.listing;
  r.webhook = c.webhook;
  return r;
}

bool ClusterStore::Impl::load_channels(std::int64_t now_ms, bool force, std::string* error) {
  {
    std::lock_guard lock(shared->mu);
    if (!force && shared->channels_loaded_ms >= 0 && now_ms - shared->channels_loaded_ms < opt.channel_cache_ms)
      return true;
  }
  std::vector<RedisReply> got = cc->pipeline({{channels_key(), {"HGETALL", channels_key()}, true},
                                              {channels_key(), {"HGETALL", webhooks_key()}, true}});
  for (const RedisReply& r : got) {
    if (r.type != RedisReply::Type::array) {
      if (error) *error = r.str;
      return false;
    }
  }
  const Fields hooks = to_fields(got[1]);
  ChannelTable t;
  // "<priority>|<ttl>|<state>|<order>|<frozen reason>|<listing>" (stockd_channel_put; the last two
  // since library version 9)
  for (const auto& [name, value] : to_fields(got[0])) {
    if (name.empty() || name[0] == '#') continue;
    std::vector<std::string_view> p;
    for (std::string_view v = value;;) {
      auto bar = v.find('|');
      p.push_back(v.substr(0, bar));
      if (bar == std::string_view::npos) break;
      v.remove_prefix(bar + 1);
    }
    p.resize(std::max<std::size_t>(p.size(), 6));
    ChannelInfo c;
    c.name = name;
    std::from_chars(p[0].data(), p[0].data() + p[0].size(), c.priority);
    std::from_chars(p[1].data(), p[1].data() + p[1].size(), c.hold_ttl_s);
    c.state = p[2] == "frozen" ? core::ChannelState::frozen : core::ChannelState::active;
    std::from_chars(p[3].data(), p[3].data() + p[3].size(), c.order);
    if (c.state == core::ChannelState::frozen)
      c.frozen_reason = p[4] == "delivery_failing" ? core::FrozenReason::delivery_failing : core::FrozenReason::manual;
    if (!p[5].empty()) c.listing = decode_listing(p[5]);
    if (auto h = hooks.find(name); h != hooks.end()) c.webhook = decode_webhook(h->second);
    t.channels.push_back(std::move(c));
  }
  t.rebuild();
  std::lock_guard lock(shared->mu);
  shared->channels = std::move(t);
  shared->channels_loaded_ms = now_ms;
  return true;
}

ChannelTable ClusterStore::Impl::channels_copy() {
  std::lock_guard lock(shared->mu);
  return shared->channels;
}

core::Outcome ClusterStore::Impl::put_channel(const core::PutChannel& c, std::int64_t now_ms, StoreReply* reply) {
  load_channels(now_ms, true, nullptr);
  const ChannelTable before = channels_copy();
  const ChannelInfo* was = before.find(c.channel);
  // Listed channels and hot-SKU splits exclude each other on this store for now (docs/cluster.md
  // "Listed channels on the cluster store": an exposure lives in the SKU's home hash, and a split
  // SKU's takes go to its shards).
  if (c.listing && before.listed.empty()) {
    std::vector<std::string> skus;
    if (core::Outcome o = all_skus(&skus); !o.ok()) return o;
    for (const std::string& sku : skus) {
      if (base_sku(sku) == sku) continue;
      return fail(core::Code::invalid_request, "sku " + std::string(base_sku(sku)) +
                                                   " is split over shards: listed channels need every sku unsplit "
                                                   "on the cluster store (PUT the sku with \"split\":1 first)");
    }
  }
  auto opt_int = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string(); };
  std::string state;
  if (c.state) state = *c.state == core::ChannelState::frozen ? "frozen" : "active";
  std::string reason;
  if (c.state && c.reason) reason = std::string(core::frozen_reason_name(*c.reason));
  std::string listing = c.clear_listing ? "-" : c.listing ? encode_listing(c.listing) : "";
  std::string webhook = c.clear_webhook ? "-" : c.webhook ? encode_webhook(*c.webhook) : "";
  RedisReply r = fcall("stockd_channel_put", {channels_key(), outbox_key(0), webhooks_key()},
                       {c.channel, opt_int(c.priority), opt_int(c.hold_ttl_s), state, std::to_string(now_ms),
                        std::to_string(limits::kChannelsMax), reason, listing, webhook});
  core::Outcome out;
  if (library_error(r, &out)) return out;
  if (r.type != RedisReply::Type::array || r.elements.size() < 2) return transport_error(r);
  if (out = acknowledged(); !out.ok()) return out;
  load_channels(now_ms, true, nullptr);
  ChannelTable t = channels_copy();
  // The core's put_channel: a change of priority, state or listing moves the listed channels' targets.
  const bool dropped = c.clear_listing && was && was->listing;
  const bool moves = c.priority || c.state || c.listing || dropped;
  if (moves && (!before.listed.empty() || !t.listed.empty())) {
    // A channel no longer listed: wait until every node's channel cache has seen it (channel_cache_ms),
    // so no node exposes to it again after its exposures went back.
    if (dropped) std::this_thread::sleep_for(std::chrono::milliseconds(opt.channel_cache_ms));
    if (core::Outcome o = expose_all(now_ms, dropped ? c.channel : std::string()); !o.ok()) return o;
    if (out = acknowledged(); !out.ok()) return out;
  }
  if (const ChannelInfo* ci = t.find(c.channel)) {
    reply->kind = StoreReply::Kind::channel;
    reply->channel = channel_record(*ci);
    std::vector<std::pair<std::string, std::int64_t>> exposed;
    if (ci->listing && channel_exposed(&exposed).ok())
      for (const auto& [name, units] : exposed)
        if (name == ci->name) reply->channel.exposed = units;
  }
  out.changed = true;
  return out;
}

}  // namespace stockd::backends
