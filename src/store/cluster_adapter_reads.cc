// The reads of the cluster adapter (cluster_adapter.h): the store's reads with the embedded store's
// checks and messages (run_read), and the events feed, SKU listing and movements from the ledger's
// PostgreSQL (the pool of readers; the watcher thread is in cluster_adapter_publications.cc).
#include <unistd.h>

#include <chrono>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "store/cluster_ledger.h"
#include "spdlog/spdlog.h"
#include "store/cluster_adapter.h"
#include "store/cluster_adapter_item.h"

namespace stockd::store {
namespace {

constexpr int kFeedReadersMax = 4;  // PostgreSQL connections for feed and listing reads

using Item = ClusterAdapter::Item;

void run_availability(backends::ClusterStore& s, Item& it) {
  std::string unknown_channel = "unknown channel " + it.name;
  if (!core::is_identifier(it.name)) {
    it.outcome = failure(core::Code::unknown_channel, unknown_channel);
    return;
  }
  if (it.skus.empty() || it.skus.size() > it.limit) {
    bool known = false;
    if (core::Outcome o = channel_known(s, it.name, &known); !o.ok()) it.outcome = std::move(o);
    else if (!known) it.outcome = failure(core::Code::unknown_channel, unknown_channel);
    else it.outcome = failure(core::Code::invalid_request,
                              it.skus.empty() ? "name at least one sku=" : "at most 1000 skus per request");
    return;
  }
  // Each name once, in the order asked; only identifiers go to the store (others are unknown).
  std::vector<std::string_view> asked, valid;
  std::unordered_set<std::string_view> seen;
  for (const std::string& name : it.skus) {
    if (!seen.insert(name).second) continue;
    asked.push_back(name);
    if (core::is_identifier(name)) valid.push_back(name);
  }
  std::unordered_map<std::string_view, std::int64_t> units;
  if (!valid.empty()) {
    core::Outcome o = s.availability(it.name, valid, it.now_ms, &it.reply);
    if (o.code == core::Code::unknown_channel) o.message = unknown_channel;
    if (!o.ok()) {
      it.outcome = std::move(o);
      return;
    }
    for (const auto& [name, n] : it.reply.available) units.emplace(name, n);
  } else {
    bool known = false;
    if (core::Outcome o = channel_known(s, it.name, &known); !o.ok()) {
      it.outcome = std::move(o);
      return;
    }
    if (!known) {
      it.outcome = failure(core::Code::unknown_channel, unknown_channel);
      return;
    }
  }
  for (std::string_view name : asked) {
    auto u = units.find(name);
    it.available.push_back({name, u == units.end() ? std::nullopt : std::optional(u->second)});
  }
}

// RESP AVAIL sku [channel]: checks in the embedded store's order: SKU, then channel.
void run_avail(backends::ClusterStore& s, Item& it) {
  std::string unknown_sku = "unknown sku " + it.name;
  if (!core::is_identifier(it.name)) {
    it.outcome = failure(core::Code::unknown_sku, unknown_sku);
    return;
  }
  if (it.channel.empty()) {
    it.outcome = s.get_sku(it.name, it.now_ms, &it.reply);
    if (it.outcome.code == core::Code::unknown_sku) it.outcome.message = unknown_sku;
    return;
  }
  core::Outcome o;
  if (core::is_identifier(it.channel)) o = s.availability(it.channel, {it.name}, it.now_ms, &it.reply);
  else o.code = core::Code::unknown_channel;
  if (o.code == core::Code::unknown_channel) {
    backends::StoreReply sr;
    core::Outcome so = s.get_sku(it.name, it.now_ms, &sr);
    it.outcome = so.code == core::Code::unknown_sku ? failure(so.code, unknown_sku)
                                                     : failure(core::Code::unknown_channel, "unknown channel " + it.channel);
  } else if (o.ok() && it.reply.available.empty()) {
    it.outcome = failure(core::Code::unknown_sku, unknown_sku);
  } else {
    it.outcome = std::move(o);
  }
}

}  // namespace

// The embedded store answers an unknown channel first.
core::Outcome channel_known(backends::ClusterStore& s, std::string_view channel, bool* known) {
  backends::StoreReply lr;
  core::Outcome o = s.list_channels(&lr);
  *known = false;
  for (const backends::ChannelRecord& ch : lr.channels) *known = *known || ch.name == channel;
  return o;
}

void run_read(backends::ClusterStore& s, Item& it, ClusterLedger* ledger) {
  switch (it.kind) {
    case ReadKind::sku: {
      std::string unknown = "unknown sku " + it.name;
      if (!core::is_identifier(it.name)) it.outcome = failure(core::Code::unknown_sku, unknown);
      else it.outcome = s.get_sku(it.name, it.now_ms, &it.reply);
      if (it.outcome.code == core::Code::unknown_sku) it.outcome.message = unknown;
      return;
    }
    case ReadKind::hold: {
      std::string unknown = "unknown hold " + it.name;
      if (!core::is_identifier(it.name)) it.outcome = failure(core::Code::unknown_hold, unknown);
      else it.outcome = s.get_hold(it.name, it.now_ms, &it.reply);
      if (it.outcome.code == core::Code::unknown_hold) it.outcome.message = unknown;
      if (it.outcome.ok() && !it.acting_channel.empty() && it.reply.hold.channel != it.acting_channel)
        it.outcome = failure(core::Code::forbidden, "hold " + it.name + " belongs to another channel");
      return;
    }
    case ReadKind::channels: it.outcome = s.list_channels(&it.reply); return;
    case ReadKind::availability: run_availability(s, it); return;
    case ReadKind::avail: run_avail(s, it); return;
    case ReadKind::reconcile:
      it.outcome = s.reconcile(true, it.now_ms, &it.reply);
      if (it.outcome.ok() && ledger != nullptr) {
        for (std::string& d : ledger->reconcile(true, nullptr)) it.reply.drift.push_back("ledger: " + std::move(d));
      }
      return;
    default: it.outcome = failure(core::Code::invalid_state, "not available on the cluster store"); return;
  }
}


std::unique_ptr<backends::ClusterEvents> ClusterAdapter::take_reader(std::string* error) {
  std::unique_lock<std::mutex> lock(readers_mu_);
  readers_cv_.wait(lock, [this] { return !readers_free_.empty() || readers_open_ < kFeedReadersMax; });
  if (!readers_free_.empty()) {
    std::unique_ptr<backends::ClusterEvents> r = std::move(readers_free_.back());
    readers_free_.pop_back();
    return r;
  }
  ++readers_open_;
  lock.unlock();
  // Readers only query: no LISTEN (libpq would keep every notification they never take).
  backends::ClusterEventsOptions o;
  o.conninfo = opt_.events_conninfo;
  o.listen_events = false;
  std::unique_ptr<backends::ClusterEvents> r = backends::ClusterEvents::open(o, error);
  if (!r) {
    lock.lock();
    --readers_open_;
    readers_cv_.notify_one();
  }
  return r;
}

void ClusterAdapter::give_reader(std::unique_ptr<backends::ClusterEvents> reader) {
  {
    std::lock_guard<std::mutex> g(readers_mu_);
    readers_free_.push_back(std::move(reader));
  }
  readers_cv_.notify_one();
}

void ClusterAdapter::run_feed_read(backends::ClusterStore& s, Item& it) {
  std::string error;
  std::unique_ptr<backends::ClusterEvents> ev = take_reader(&error);
  bool ok = ev != nullptr;
  if (ok && it.kind == ReadKind::movements) {
    // The SKU from the store (an unknown one is 404 at once), its history from the ledger (its lag).
    backends::StoreReply r;
    core::Outcome o = core::is_identifier(it.name) ? s.get_sku(it.name, it.now_ms, &r)
                                                    : failure(core::Code::unknown_sku, "unknown sku " + it.name);
    if (!o.ok()) {
      it.outcome = std::move(o);
      return give_reader(std::move(ev));
    }
    ok = ev->movements(it.name, it.after, it.limit, &it.movements, &it.next, &error);
  } else if (ok && it.kind == ReadKind::events) {
    std::vector<net::EventRecord> records;
    std::uint64_t next = 0;
    ok = ev->read(it.after, it.limit, &records, &next, &error);
    if (ok) net::render_events_page(records, next, it.json);
  } else if (ok) {
    // The names from the ledger (its lag: a SKU appears once its creation was applied), each view
    // from the store; a SKU the store no longer has is left out of the page.
    std::vector<std::string> names;
    std::uint64_t total = 0;
    ok = ev->list_skus(it.offset, it.limit, &names, &total, &error);
    it.total = static_cast<std::size_t>(total);
    for (std::size_t i = 0; ok && i < names.size(); ++i) {
      backends::StoreReply r;
      core::Outcome o = s.get_sku(names[i], it.now_ms, &r);
      if (o.ok()) it.listed.push_back(std::move(r.sku));
      else if (o.code != core::Code::unknown_sku) it.outcome = std::move(o);
      if (!it.outcome.ok()) return give_reader(std::move(ev));
    }
  }
  if (ev) give_reader(std::move(ev));
  if (!ok) {
    feed_errors_.fetch_add(1, std::memory_order_relaxed);
    it.outcome = failure(core::Code::unavailable, "the ledger's PostgreSQL: " + error);
  }
}

}  // namespace stockd::store
