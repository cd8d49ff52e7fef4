// The cluster store: connection, the function library, and the SKU writes (set stock,
// adjust, allocation, pool close). Holds are in cluster_store_holds.cc, cluster_store_local.cc and
// cluster_store_finish.cc, reads in cluster_store_read.cc, channels in cluster_store_channels.cc, listed
// channels' exposures in cluster_store_expose.cc.
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "backends/cluster_store_impl.h"
#include "core/assert.h"
#include "core/limits.h"
#include "spdlog/spdlog.h"

namespace stockd::backends {

int partition_of(std::string_view name) { return key_slot(name) % kPartitions; }

std::vector<std::string> hold_keys_of_partition(int k, std::string_view id) {
  std::string t = partition_tag(k);
  return {t + ":h:" + std::string(id), t + ":x", t + ":pend", t + ":ret", t + ":out", t + ":hp:" + std::string(id)};
}
std::vector<std::string> hold_keys(std::string_view id) { return hold_keys_of_partition(partition_of(id), id); }

Fields to_fields(const RedisReply& flat) {
  Fields f;
  for (std::size_t i = 0; i + 1 < flat.elements.size(); i += 2) f[flat.elements[i].str] = flat.elements[i + 1].str;
  return f;
}

std::int64_t field_int(const Fields& f, std::string_view name, std::int64_t dflt) {
  auto it = f.find(name);
  if (it == f.end()) return dflt;
  std::int64_t v = dflt;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

std::string_view field_str(const Fields& f, std::string_view name) {
  auto it = f.find(name);
  return it == f.end() ? std::string_view() : std::string_view(it->second);
}

std::string random_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

bool is_stale(const RedisReply& r) {
  return r.type == RedisReply::Type::array && r.elements.size() >= 3 && r.elements[0].str == "STALE";
}

ClusterShared::Alloc alloc_of_stale(const RedisReply& r) {
  ClusterShared::Alloc a{r.elements[1].str, {}};
  AllocConfig::decode(r.elements[2].str, &a.cfg);
  if (r.elements.size() >= 5) {
    a.split = std::atoi(r.elements[3].str.c_str());
    a.smax = std::atoi(r.elements[4].str.c_str());
  }
  return a;
}

core::Outcome fail(core::Code code, std::string message) {
  core::Outcome o;
  o.code = code;
  o.message = std::move(message);
  return o;
}

ClusterClient::Call ClusterStore::Impl::fcall_call(std::string_view fn, const std::vector<std::string>& keys,
                                                   const std::vector<std::string>& args, bool idempotent) {
  ClusterClient::Call call;
  call.key = keys.front();
  call.idempotent = idempotent;
  call.argv.reserve(3 + keys.size() + args.size());
  call.argv.emplace_back("FCALL");
  call.argv.emplace_back(fn);
  call.argv.push_back(std::to_string(keys.size()));
  call.argv.insert(call.argv.end(), keys.begin(), keys.end());
  call.argv.insert(call.argv.end(), args.begin(), args.end());
  return call;
}

RedisReply ClusterStore::Impl::fcall(std::string_view fn, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& args, bool idempotent) {
  ClusterClient::Call call = fcall_call(fn, keys, args, idempotent);
  return cc->command(call.key, call.argv, idempotent);
}

core::Outcome ClusterStore::Impl::transport_error(const RedisReply& r) {
  if (r.is_error()) return fail(core::Code::unavailable, "redis: " + r.str);
  return fail(core::Code::unavailable, "redis: unexpected reply");
}

bool ClusterStore::Impl::library_error(const RedisReply& r, core::Outcome* out) {
  if (r.type != RedisReply::Type::array || r.elements.size() < 3 || r.elements[0].str != "ERR") return false;
  static constexpr std::pair<std::string_view, core::Code> kCodes[] = {
      {"invalid_request", core::Code::invalid_request},     {"unknown_sku", core::Code::unknown_sku},
      {"invalid_state", core::Code::invalid_state},         {"idempotency_conflict", core::Code::idempotency_conflict},
      {"unknown_channel", core::Code::unknown_channel},     {"unknown_hold", core::Code::unknown_hold},
      {"overloaded", core::Code::overloaded},               {"precondition_failed", core::Code::precondition_failed}};
  core::Code code = core::Code::unavailable;
  for (const auto& [name, c] : kCodes)
    if (r.elements[1].str == name) code = c;
  *out = fail(code, r.elements[2].str);
  return true;
}

core::Outcome ClusterStore::Impl::replicate() {
  if (opt.wait_replicas <= 0) return {};
  std::vector<std::string> behind = cc->wait(opt.wait_replicas, opt.wait_timeout_ms);
  if (behind.empty()) return {};
  std::string who;
  for (const std::string& a : behind) who += (who.empty() ? "" : ",") + a;
  return fail(core::Code::unavailable, "not confirmed by " + std::to_string(opt.wait_replicas) + " replica(s) within " +
                                           std::to_string(opt.wait_timeout_ms) + " ms on " + who +
                                           " (it may still have been applied: retry with the same id or ref)");
}

// Loads the library on every master that lacks it, has an older version, or has the same version
// with other code (a development build); refuses to run against a newer version.
bool ClusterStore::Impl::load_library(std::string* error) {
  for (const ClusterNode& node : cc->masters()) {
    RedisReply v = cc->on_node(node.addr, {"FCALL_RO", "stockd_version", "0"});
    bool load = v.type != RedisReply::Type::integer || v.integer < kFunctionLibraryVersion;
    if (v.type == RedisReply::Type::integer && v.integer > kFunctionLibraryVersion) {
      *error = node.addr + " has function library version " + std::to_string(v.integer) + ", newer than this stockd's " +
               std::to_string(kFunctionLibraryVersion) + ": upgrade this node";
      return false;
    }
    if (!load) {
      RedisReply list = cc->on_node(node.addr, {"FUNCTION", "LIST", "LIBRARYNAME", "stockd", "WITHCODE"});
      bool same = false;
      for (const RedisReply& lib : list.elements)
        for (std::size_t i = 0; i + 1 < lib.elements.size(); i += 2)
          if (lib.elements[i].str == "library_code") same = lib.elements[i + 1].str == kFunctionLibrary;
      load = !same;
    }
    if (!load) continue;
    RedisReply r = cc->on_node(node.addr, {"FUNCTION", "LOAD", "REPLACE", kFunctionLibrary});
    if (r.is_error()) {
      *error = "FUNCTION LOAD on " + node.addr + ": " + r.str;
      return false;
    }
    spdlog::info("event=function_library_loaded node={} version={}", node.addr, kFunctionLibraryVersion);
  }
  return true;
}

// ---- SKU allocations as this process last saw them

ClusterShared::Alloc ClusterStore::Impl::alloc_of(const std::string& sku) {
  std::lock_guard lock(shared->mu);
  auto it = shared->alloc.find(sku);
  return it == shared->alloc.end() ? ClusterShared::Alloc{} : it->second;
}

void ClusterStore::Impl::remember(const std::string& sku, const Fields& f) {
  ClusterShared::Alloc a;
  a.aver = std::string(field_str(f, "aver"));
  if (a.aver.empty()) a.aver = "0";
  AllocConfig::decode(field_str(f, "cfg"), &a.cfg);
  a.split = static_cast<int>(field_int(f, "spl"));
  a.smax = static_cast<int>(field_int(f, "smax"));
  std::lock_guard lock(shared->mu);
  shared->alloc[sku] = std::move(a);
}

ClusterShared::Alloc ClusterStore::Impl::remember_stale(const std::string& sku, const RedisReply& stale) {
  ClusterShared::Alloc a = alloc_of_stale(stale);
  std::lock_guard lock(shared->mu);
  shared->alloc[sku] = a;
  return a;
}

// ---- SKU writes

template <typename MakeArgs>
core::Outcome ClusterStore::Impl::sku_write(std::string_view fn, const std::string& sku,
                                            const std::vector<std::string>& keys, MakeArgs make_args,
                                            std::int64_t now_ms, StoreReply* reply) {
  load_channels(now_ms, false, nullptr);
  ClusterShared::Alloc a = alloc_of(sku);
  if (a.aver.empty()) a.aver = "0";
  for (int attempt = 0; attempt < 8; ++attempt) {
    ChannelTable channels = channels_copy();
    core::Outcome made;
    std::vector<std::string> args = make_args(a, channels, &made);
    if (!made.ok()) return made;
    core::Outcome out;
    // A split SKU's write sees the whole SKU: its shards' free units and sales come home first (a
    // version check below guarantees this node knew the SKU was split when it wrote).
    if (a.smax > 0 && !gather(sku, now_ms, &out)) return out;
    RedisReply r = fcall(fn, keys, args);
    if (library_error(r, &out)) return out;
    if (r.type != RedisReply::Type::array || r.elements.empty()) return transport_error(r);
    const std::string& tag = r.elements[0].str;
    if (is_stale(r)) {
      a = alloc_of_stale(r);
      continue;
    }
    if ((tag != "OK" && tag != "REPLAY") || r.elements.size() < 2) return transport_error(r);
    Fields f = to_fields(r.elements[1]);
    remember(sku, f);
    if (field_int(f, "smax") == 0) {
      Fields exposed;
      if (core::Outcome e = expose_sku(sku, now_ms, channels, &f, &exposed); !e.ok())
        spdlog::warn("event=expose_failed sku={} error=\"{}\"", sku, e.message);
      if (!exposed.empty()) f = std::move(exposed);
    }
    if (field_int(f, "smax") > 0) {
      if (!spread(sku, f, now_ms, &out)) return out;
      // The spread changed home (its shared units went to the shards): sum the shards with home as it
      // is now, not as the write left it, or the reply counts those units twice (differential test).
      RedisReply again = cc->command(sku_key(sku), {"HGETALL", sku_key(sku)}, true);
      if (again.type != RedisReply::Type::array) return transport_error(again);
      f = to_fields(again);
      if (!merge_shards(sku, &f, now_ms, &out)) return out;
    }
    if (out = acknowledged(); !out.ok()) return out;
    reply->kind = StoreReply::Kind::sku;
    fill_sku(sku, f, channels, &reply->sku);
    out.changed = tag == "OK";
    return out;
  }
  return fail(core::Code::overloaded, "the allocation of sku " + sku + " keeps changing: retry");
}

core::Outcome ClusterStore::Impl::put_sku(const core::PutSku& c, std::int64_t now_ms, StoreReply* reply) {
  if (c.split && *c.split > 1 && any_listed(now_ms))
    return fail(core::Code::invalid_request, "a channel is listed: skus cannot be split over shards on the cluster "
                                             "store while listed channels exist");
  auto opt_int = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string(); };
  std::string mph = c.max_per_hold ? std::to_string(*c.max_per_hold == core::kClear ? 0 : *c.max_per_hold) : "";
  auto make = [&](const ClusterShared::Alloc& a, const ChannelTable& ch, core::Outcome*) {
    return std::vector<std::string>{c.sku, std::to_string(now_ms), sizing_plan(a.cfg, ch), a.aver,
                                    opt_int(c.on_hand), opt_int(c.safety_stock), mph, opt_int(c.low_stock_threshold),
                                    std::to_string(opt.low_stock_permille), opt_int(c.split)};
  };
  return sku_write("stockd_sku_put", c.sku, {sku_key(c.sku), outbox_key(partition_of(c.sku))}, make, now_ms, reply);
}

core::Outcome ClusterStore::Impl::adjust(const core::Adjust& c, std::int64_t now_ms, StoreReply* reply) {
  auto make = [&](const ClusterShared::Alloc& a, const ChannelTable& ch, core::Outcome*) {
    return std::vector<std::string>{c.sku, std::to_string(now_ms), sizing_plan(a.cfg, ch), a.aver,
                                    std::to_string(c.delta), c.reason, c.ref};
  };
  return sku_write("stockd_sku_adjust", c.sku,
                   {sku_key(c.sku), outbox_key(partition_of(c.sku)), refs_key(c.sku), refs_index_key(c.sku)}, make,
                   now_ms, reply);
}

core::Outcome ClusterStore::Impl::set_allocation(const core::SetAllocation& c, std::int64_t now_ms, StoreReply* reply) {
  load_channels(now_ms, true, nullptr);
  // What is held from each bucket now decides which pool slots may be reused (read just before; a
  // hold landing in between can only make a reused slot's old units go to shared when released).
  RedisReply current = cc->command(sku_key(c.sku), {"HGETALL", sku_key(c.sku)}, true);
  if (current.type != RedisReply::Type::array) return transport_error(current);
  Fields now_fields = to_fields(current);
  // An unknown SKU is named before an unknown channel, as by the core (the differential test's seed 2).
  if (now_fields.empty()) return fail(core::Code::unknown_sku, "unknown sku " + c.sku);
  auto held_of = [&](const std::string& bucket) { return field_int(now_fields, "H:" + bucket); };
  bool hidden_fence_held = false;
  for (const auto& [name, value] : now_fields) {
    if (name.rfind("H:f:", 0) != 0 || field_int(now_fields, name) == 0) continue;
    std::string_view ch = std::string_view(name).substr(4);
    hidden_fence_held |= std::none_of(c.fences.begin(), c.fences.end(), [&](const auto& f) { return f.channel == ch; });
  }
  auto make = [&](const ClusterShared::Alloc& a, const ChannelTable& ch, core::Outcome* made) {
    for (const auto& f : c.fences)
      if (!ch.find(f.channel)) *made = fail(core::Code::unknown_channel, "unknown channel " + f.channel);
    for (const auto& p : c.pools)
      for (const auto& name : p.channels)
        if (!ch.find(name)) *made = fail(core::Code::unknown_channel, "unknown channel " + name);
    std::vector<std::pair<std::string, std::string>> settings;
    AllocConfig next = apply_allocation(a.cfg, c, held_of, hidden_fence_held, &settings);
    std::vector<std::string> args{c.sku, std::to_string(now_ms), sizing_plan(next, ch), a.aver, next.encode()};
    for (auto& [b, s] : settings) {
      args.push_back(b);
      args.push_back(s);
    }
    return args;
  };
  return sku_write("stockd_sku_alloc", c.sku, {sku_key(c.sku), outbox_key(partition_of(c.sku))}, make, now_ms, reply);
}

core::Outcome ClusterStore::Impl::close_pool(const core::ClosePool& c, std::int64_t now_ms, StoreReply* reply) {
  auto make = [&](const ClusterShared::Alloc& a, const ChannelTable&, core::Outcome*) {
    AllocConfig next = a.cfg;
    for (auto& p : next.pools)
      if (p.name == c.pool) p.open = false;
    return std::vector<std::string>{c.sku, std::to_string(now_ms), a.aver, next.encode(), c.pool};
  };
  return sku_write("stockd_pool_close", c.sku, {sku_key(c.sku), outbox_key(partition_of(c.sku))}, make, now_ms, reply);
}

// ---- public surface

ClusterStore::ClusterStore() : impl_(std::make_unique<Impl>()) {}
ClusterStore::~ClusterStore() = default;

std::shared_ptr<ClusterShared> ClusterStore::make_shared_state() { return std::make_shared<ClusterShared>(); }

std::unique_ptr<ClusterStore> ClusterStore::open(const ClusterStoreOptions& options,
                                                 std::shared_ptr<ClusterShared> shared, std::string* error) {
  ClusterOptions co;
  co.seeds = options.seeds;
  co.password = options.password;
  auto cc = ClusterClient::connect(co, error);
  if (!cc) return nullptr;
  std::unique_ptr<ClusterStore> store(new ClusterStore());
  store->impl_->opt = options;
  store->impl_->shared = shared ? std::move(shared) : make_shared_state();
  store->impl_->cc = std::move(cc);
  if (!store->impl_->load_library(error)) return nullptr;
  return store;
}

core::Outcome ClusterStore::apply(const core::Command& cmd, std::int64_t now_ms, StoreReply* reply) {
  std::string message;
  if (core::validate(cmd, &message) != core::Code::ok) return fail(core::Code::invalid_request, message);
  Impl& m = *impl_;
  return std::visit(
      [&](const auto& c) -> core::Outcome {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, core::PutChannel>) return m.put_channel(c, now_ms, reply);
        else if constexpr (std::is_same_v<T, core::PutSku>) return m.put_sku(c, now_ms, reply);
        else if constexpr (std::is_same_v<T, core::Adjust>) return m.adjust(c, now_ms, reply);
        else if constexpr (std::is_same_v<T, core::SetAllocation>) return m.set_allocation(c, now_ms, reply);
        else if constexpr (std::is_same_v<T, core::ClosePool>) return m.close_pool(c, now_ms, reply);
        else if constexpr (std::is_same_v<T, core::CreateHold>) {
          core::Outcome out = m.create_hold(c, now_ms, reply);
          if (out.ok() && out.changed) {
            std::vector<std::string> skus;
            for (const core::HoldLine& l : c.lines) skus.push_back(l.sku);
            m.expose_skus(skus, now_ms);
          }
          return out;
        }
        else if constexpr (std::is_same_v<T, core::ConfirmHold>) {
          std::string lines;
          if (c.lines)
            for (const auto& l : *c.lines) lines += (lines.empty() ? "" : ",") + l.sku + ":" + std::to_string(l.qty);
          if (c.lines && c.lines->empty()) lines = ",";  // "confirm nothing": every line released
          return m.finish_hold(c.id, "confirm", lines, now_ms, reply);
        } else if constexpr (std::is_same_v<T, core::ReleaseHold>) return m.finish_hold(c.id, "release", "", now_ms, reply);
        else if constexpr (std::is_same_v<T, core::ExtendHold>) return m.extend_hold(c, now_ms, reply);
        else if constexpr (std::is_same_v<T, core::StockBatch>) {
          core::Outcome out = m.stock_batch(c, now_ms, reply);
          if (out.ok()) {
            std::vector<std::string> skus;
            for (const SkuRecord& r : reply->batch_skus) skus.push_back(r.name);
            if (!skus.empty() && m.any_listed(now_ms)) {
              m.expose_skus(skus, now_ms);
              for (SkuRecord& r : reply->batch_skus) {  // the views after the exposures moved
                StoreReply again;
                if (m.get_sku(r.name, now_ms, &again).ok()) r = std::move(again.sku);
              }
            }
          }
          return out;
        }
        else return core::Outcome{};
      },
      cmd);
}

void ClusterStore::create_many(std::span<const core::CreateHold* const> holds, std::span<const std::int64_t> now_ms,
                               std::span<core::Outcome> outs, std::span<StoreReply> replies) {
  STOCKD_ASSERT(now_ms.size() == holds.size() && outs.size() == holds.size() && replies.size() == holds.size());
  impl_->create_many(holds, now_ms, outs, replies);
  if (holds.empty() || !impl_->any_listed(now_ms[0])) return;
  std::vector<std::string> skus;
  for (std::size_t i = 0; i < holds.size(); ++i)
    if (outs[i].ok() && outs[i].changed)
      for (const core::HoldLine& l : holds[i]->lines) skus.push_back(l.sku);
  impl_->expose_skus(skus, now_ms.back());
}

core::Outcome ClusterStore::get_sku(std::string_view sku, std::int64_t now_ms, StoreReply* reply) {
  return impl_->get_sku(sku, now_ms, reply);
}
core::Outcome ClusterStore::get_hold(std::string_view id, std::int64_t now_ms, StoreReply* reply) {
  return impl_->get_hold(id, now_ms, reply);
}
core::Outcome ClusterStore::list_channels(StoreReply* reply) {
  std::string error;
  if (!impl_->load_channels(0, true, &error)) return fail(core::Code::unavailable, "redis: " + error);
  reply->kind = StoreReply::Kind::channels;
  const ChannelTable t = impl_->channels_copy();
  std::vector<std::pair<std::string, std::int64_t>> exposed;
  if (!t.listed.empty())
    if (core::Outcome o = channel_exposed(&exposed); !o.ok()) return o;
  for (const ChannelInfo& c : t.channels) {
    reply->channels.push_back(channel_record(c));
    for (const auto& [name, units] : exposed)
      if (name == c.name && c.listing) reply->channels.back().exposed = units;
  }
  return {};
}
core::Outcome ClusterStore::availability(std::string_view channel, const std::vector<std::string_view>& skus,
                                         std::int64_t now_ms, StoreReply* reply) {
  return impl_->availability(channel, skus, now_ms, reply);
}
std::size_t ClusterStore::sweep(std::int64_t now_ms, bool due_only) { return impl_->sweep(now_ms, due_only); }
core::Outcome ClusterStore::reconcile(bool repair, std::int64_t now_ms, StoreReply* reply) {
  return impl_->reconcile(repair, now_ms, reply);
}
void ClusterStore::defer_acknowledgement(bool on) { impl_->deferred = on; }
core::Outcome ClusterStore::acknowledge() { return impl_->replicate(); }

bool ClusterStore::healthy() {
  RedisReply r = impl_->cc->command(partition_tag(0), {"PING"}, true);
  return r.type == RedisReply::Type::status;
}

}  // namespace stockd::backends
