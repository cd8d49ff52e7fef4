// Listed channels on the cluster store (docs/cluster.md "Listed channels on the cluster store"): the
// node runs the core's rules (core/allocation_policy.h expose_sku) over a view of a SKU's hash, as the
// call that changed the SKU left it, and stockd_expose applies the result atomically with a check of
// the SKU's version (STALE: computed again from the hash it returns). Safe by construction: Lua only
// moves free units into an exposure and publishes what is set aside; nothing published is released
// before the channel acknowledged a lower quantity (stockd_expose_ack).
//
// When: after every write that changed a SKU (the SKU writes, holds made and finished, stock
// batches, acknowledgements), for every SKU when a channel's listing, priority or state changes, and
// never when no channel is listed (one look at the cached channel table).
#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "backends/cluster_store_impl.h"
#include "core/allocation_policy.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {
namespace {

constexpr int kExposeTries = 4;  // then the SKU's next change exposes it

// The draws "b=n;b=n" of an exposure.
std::vector<std::pair<std::string, std::int64_t>> draws_of(std::string_view s) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  while (!s.empty()) {
    auto semi = s.find(';');
    std::string_view d = s.substr(0, semi);
    auto eq = d.find('=');
    if (eq != std::string_view::npos) out.emplace_back(std::string(d.substr(0, eq)), std::atoll(std::string(d.substr(eq + 1)).c_str()));
    if (semi == std::string_view::npos) break;
    s.remove_prefix(semi + 1);
  }
  return out;
}

// policy::expose_sku's view of one SKU's hash (a copy, changed as the rules draw and publish).
struct ExposeView {
  const ChannelTable& t;
  const AllocConfig& cfg;
  Fields& f;
  std::vector<std::vector<std::string>> orders;  // per listed channel: its buckets in draw order
  struct Out {
    std::int64_t more = 0;
    std::int64_t pub = -1;
  };
  std::vector<Out> out;

  ExposeView(const ChannelTable& t_, const AllocConfig& cfg_, Fields& f_) : t(t_), cfg(cfg_), f(f_) {
    for (std::size_t c : t.listed) orders.push_back(bucket_order(cfg, t, c));
    out.resize(t.listed.size());
  }
  const std::string& name(std::size_t i) const { return t.channels[t.listed[i]].name; }
  std::size_t listed() const { return t.listed.size(); }
  const core::Listing& listing(std::size_t i) const { return *t.channels[t.listed[i]].listing; }
  bool frozen(std::size_t i) const { return t.channels[t.listed[i]].state == core::ChannelState::frozen; }
  std::int64_t units(std::size_t i) const { return field_int(f, "E:" + name(i)); }
  std::int64_t free(std::size_t i) const {
    std::int64_t sum = 0;
    for (const std::string& b : orders[i]) sum += field_int(f, "F:" + b);
    return sum;
  }
  std::int64_t drawable(std::size_t i, std::size_t j) const {
    std::int64_t sum = 0;
    for (const auto& [b, q] : draws_of(field_str(f, "ED:" + name(j))))
      if (may_draw_bucket(cfg, t, t.listed[i], b)) sum += q;
    return sum;
  }
  void draw(std::size_t i, std::int64_t more) {
    out[i].more += more;
    std::int64_t left = more;
    for (const std::string& b : orders[i]) {
      const std::int64_t free_b = field_int(f, "F:" + b);
      const std::int64_t q = std::min(free_b, left);
      if (q <= 0) continue;
      f["F:" + b] = std::to_string(free_b - q);
      left -= q;
    }
    f["E:" + name(i)] = std::to_string(units(i) + more);
  }
  std::int64_t published(std::size_t i) const { return field_int(f, "EP:" + name(i), -1); }
  bool stale(std::size_t i) const { return field_str(f, "ES:" + name(i)) == "1"; }
  void publish(std::size_t i, std::int64_t qty) {
    out[i].pub = qty;
    f["EP:" + name(i)] = std::to_string(qty);
    f["ES:" + name(i)] = "0";
  }
};

}  // namespace

// The stockd_expose arguments for a SKU whose hash is f (policy::expose_sku over it), or false when
// nothing moves (and not `settle`).
static bool expose_args(const std::string& sku, std::int64_t now_ms, const ChannelTable& t, const Fields& f, bool settle,
                        std::vector<std::string>* args) {
  AllocConfig cfg;
  AllocConfig::decode(field_str(f, "cfg"), &cfg);
  Fields work = f;
  ExposeView v(t, cfg, work);
  if (!core::policy::expose_sku(v) && !settle) return false;
  *args = {sku, std::to_string(now_ms), std::string(field_str(f, "ver"))};
  for (std::size_t i = 0; i < v.listed(); ++i) {
    if (v.out[i].more == 0 && v.out[i].pub < 0) continue;
    args->push_back(v.name(i));
    args->push_back(std::to_string(v.out[i].more));
    args->push_back(std::to_string(v.out[i].pub));
    args->push_back(std::to_string(v.orders[i].size()));
    args->insert(args->end(), v.orders[i].begin(), v.orders[i].end());
  }
  return true;
}

bool ClusterStore::Impl::any_listed(std::int64_t now_ms) {
  load_channels(now_ms, false, nullptr);
  std::lock_guard lock(shared->mu);
  return !shared->channels.listed.empty();
}

core::Outcome ClusterStore::Impl::expose_sku(const std::string& sku, std::int64_t now_ms, const ChannelTable& t,
                                             const Fields* known, Fields* after, bool settle) {
  if (t.listed.empty() || base_sku(sku) != sku) return {};
  Fields f;
  if (known) {
    f = *known;
  } else {
    RedisReply r = cc->command(sku_key(sku), {"HGETALL", sku_key(sku)}, true);
    if (r.type != RedisReply::Type::array) return transport_error(r);
    f = to_fields(r);
  }
  for (int attempt = 0; attempt < kExposeTries; ++attempt) {
    if (f.empty() && settle) cc->command(sku_key(sku), {"SREM", tag_of(sku) + ":exd", sku});
    if (f.empty() || f.count("bk")) return {};  // gone, or a stock batch's: its end exposes it
    std::vector<std::string> args;
    if (!expose_args(sku, now_ms, t, f, settle, &args)) return {};
    RedisReply r = fcall("stockd_expose", {sku_key(sku), outbox_key(partition_of(sku))}, args);
    core::Outcome out;
    if (library_error(r, &out)) return out;
    if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
    const std::string& tag = r.elements[0].str;
    if (tag == "GONE") return {};
    if (r.elements.size() < 2) return transport_error(r);
    f = to_fields(r.elements[1]);
    if (tag == "OK") {
      if (after) *after = std::move(f);
      return {};
    }
    // STALE: the SKU changed since it was read; compute again on what it is now.
  }
  spdlog::debug("event=expose_gave_up sku={} (its next change or a sweep exposes it)", sku);
  return {};
}

void ClusterStore::Impl::expose_skus(const std::vector<std::string>& skus, std::int64_t now_ms) {
  if (skus.empty() || !any_listed(now_ms)) return;
  const ChannelTable t = channels_copy();
  std::set<std::string, std::less<>> seen;
  for (const std::string& name : skus) {
    std::string sku(base_sku(name));
    if (!seen.insert(sku).second) continue;
    if (core::Outcome o = expose_sku(sku, now_ms, t); !o.ok())
      spdlog::warn("event=expose_failed sku={} error=\"{}\"", sku, o.message);
  }
}

void ClusterStore::Impl::expose_hold(const Fields& rec, std::int64_t now_ms) {
  std::vector<std::string> skus;
  std::string_view lines = field_str(rec, "lines");
  while (!lines.empty()) {
    auto comma = lines.find(',');
    std::string_view item = lines.substr(0, comma);
    if (auto colon = item.rfind(':'); colon != std::string_view::npos) skus.emplace_back(item.substr(0, colon));
    if (comma == std::string_view::npos) break;
    lines.remove_prefix(comma + 1);
  }
  expose_skus(skus, now_ms);
}

core::Outcome ClusterStore::Impl::all_skus(std::vector<std::string>* skus) {
  for (const ClusterNode& node : cc->masters()) {
    std::string cursor = "0";
    do {
      RedisReply r = cc->on_node(node.addr, {"SCAN", cursor, "MATCH", "{p*}:s:*", "COUNT", "1000"});
      if (r.type != RedisReply::Type::array || r.elements.size() < 2) return transport_error(r);
      cursor = r.elements[0].str;
      for (const RedisReply& key : r.elements[1].elements) {
        auto at = key.str.find("}:s:");
        if (at != std::string::npos) skus->push_back(key.str.substr(at + 4));
      }
    } while (cursor != "0");
  }
  return {};
}

// A change of a channel's listing, priority or state: every SKU is exposed again (the core's
// expose_all), after the exposures of a channel that is no longer listed went back (`dropped`). In
// chunks: the reads (or drops, which answer the hash) of a chunk in one pipeline, then its
// stockd_expose calls in another, so each master fsyncs once per chunk instead of once per SKU; a
// SKU that changed in between (STALE) is exposed on its own.
core::Outcome ClusterStore::Impl::expose_all(std::int64_t now_ms, const std::string& dropped) {
  constexpr std::size_t kChunk = 256;
  std::vector<std::string> skus;
  if (core::Outcome o = all_skus(&skus); !o.ok()) return o;
  std::erase_if(skus, [](const std::string& s) { return base_sku(s) != s; });
  std::sort(skus.begin(), skus.end());
  const ChannelTable t = channels_copy();
  const std::string now = std::to_string(now_ms);
  for (std::size_t at = 0; at < skus.size(); at += kChunk) {
    const std::size_t end = std::min(skus.size(), at + kChunk);
    std::vector<ClusterClient::Call> reads;
    for (std::size_t i = at; i < end; ++i) {
      const std::string& sku = skus[i];
      if (dropped.empty())
        reads.push_back({sku_key(sku), {"HGETALL", sku_key(sku)}, true});
      else
        reads.push_back(fcall_call("stockd_expose_drop", {sku_key(sku), outbox_key(partition_of(sku))}, {sku, now, dropped}));
    }
    std::vector<RedisReply> got = cc->pipeline(reads);
    std::vector<ClusterClient::Call> writes;
    std::vector<std::size_t> of;  // the SKU index of each write
    for (std::size_t i = at; i < end; ++i) {
      const RedisReply& r = got[i - at];
      core::Outcome out;
      if (library_error(r, &out)) return out;
      if (r.type != RedisReply::Type::array) return transport_error(r);
      Fields f;
      if (dropped.empty()) f = to_fields(r);
      else if (!r.elements.empty() && r.elements[0].str == "OK" && r.elements.size() >= 2) f = to_fields(r.elements[1]);
      if (f.empty() || f.count("bk") || t.listed.empty()) continue;
      std::vector<std::string> args;
      if (!expose_args(skus[i], now_ms, t, f, false, &args)) continue;
      writes.push_back(fcall_call("stockd_expose", {sku_key(skus[i]), outbox_key(partition_of(skus[i]))}, args));
      of.push_back(i);
    }
    std::vector<RedisReply> done = cc->pipeline(writes);
    for (std::size_t w = 0; w < done.size(); ++w) {
      const RedisReply& r = done[w];
      core::Outcome out;
      if (library_error(r, &out)) return out;
      if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
      if (r.elements[0].str == "STALE")
        if (core::Outcome o = expose_sku(skus[of[w]], now_ms, t); !o.ok()) return o;
    }
  }
  return {};
}

core::Outcome ClusterStore::Impl::ack_exposures(std::string_view channel, std::span<const PublicationAck> acks,
                                                std::int64_t now_ms) {
  load_channels(now_ms, false, nullptr);
  const ChannelTable t = channels_copy();
  for (const PublicationAck& a : acks) {
    RedisReply r = fcall("stockd_expose_ack", {sku_key(a.sku), outbox_key(partition_of(a.sku))},
                         {a.sku, std::to_string(now_ms), std::string(channel), std::to_string(a.version)}, true);
    core::Outcome out;
    if (library_error(r, &out)) return out;
    if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
    if (r.elements[0].str != "OK" || r.elements.size() < 2) continue;  // GONE
    const Fields f = to_fields(r.elements[1]);
    if (core::Outcome o = expose_sku(a.sku, now_ms, t, &f); !o.ok()) return o;
  }
  return acknowledged();
}

core::Outcome ClusterStore::Impl::channel_exposed(std::vector<std::pair<std::string, std::int64_t>>* out) {
  std::vector<ClusterClient::Call> calls;
  for (int k = 0; k < kPartitions; ++k) {
    std::string key = partition_tag(k) + ":exs";
    calls.push_back({key, {"HGETALL", key}, true});
  }
  std::map<std::string, std::int64_t, std::less<>> sum;
  for (const RedisReply& r : cc->pipeline(calls)) {
    if (r.type != RedisReply::Type::array) return transport_error(r);
    for (const auto& [channel, units] : to_fields(r)) sum[channel] += std::atoll(units.c_str());
  }
  out->assign(sum.begin(), sum.end());
  return {};
}

core::Outcome ClusterStore::channel_exposed(std::vector<std::pair<std::string, std::int64_t>>* out) {
  return impl_->channel_exposed(out);
}

core::Outcome ClusterStore::exposed_units(std::string_view channel, std::span<const std::string> skus,
                                          std::vector<std::int64_t>* units) {
  Impl& m = *impl_;
  std::string field = "E:";
  field += channel;
  std::vector<ClusterClient::Call> calls;
  calls.reserve(skus.size());
  for (const std::string& sku : skus) calls.push_back({sku_key(sku), {"HGET", sku_key(sku), field}, true});
  units->clear();
  for (const RedisReply& r : m.cc->pipeline(calls)) {
    if (r.type == RedisReply::Type::nil) units->push_back(0);
    else if (r.type == RedisReply::Type::string) units->push_back(std::atoll(r.str.c_str()));
    else return Impl::transport_error(r);
  }
  return {};
}

core::Outcome ClusterStore::ack_exposures(std::string_view channel, std::span<const PublicationAck> acks,
                                          std::int64_t now_ms) {
  return impl_->ack_exposures(channel, acks, now_ms);
}

}  // namespace stockd::backends
