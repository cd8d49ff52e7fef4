// Listed channels on the cluster store, the adapter's side (docs/cluster.md "Listed channels on the
// cluster store"): the watcher thread, which follows the ledger's NOTIFYs (the events feed's and the
// publications') and the cluster's channels for the loop; a channel's publications page and an
// acknowledgement, run by the workers with a reader connection.
//
// Why a watcher keeps copies: the loop asks feed_has_after(), channel_exists() and the deliveries'
// source (webhook_channels(), pending_publications()) many times a second and must never wait for
// PostgreSQL or Redis. The copies are refreshed when the ledger NOTIFYs (a commit that numbered,
// dropped or acknowledged publications) and the channels about once a second; a reconnection reads
// everything again, since notifications sent meanwhile are lost.
//
// An acknowledgement of seq S (run_ack): the rows not yet acknowledged up to S (their SKU and
// version) go to ClusterStore::ack_exposures, which releases in each SKU's partition the units set
// aside above a lowered publication if that version is still the SKU's latest; only once Redis has
// done so (and replicated it) is S saved as acked in PostgreSQL. A crash in between leaves S
// unacknowledged: the channel acknowledges again, and both steps are idempotent.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/assert.h"
#include "spdlog/spdlog.h"
#include "store/clock.h"
#include "store/cluster_adapter.h"
#include "store/cluster_adapter_item.h"

namespace stockd::store {
namespace {

constexpr int kFeedWaitMs = 250;  // the watcher's wait on the socket (bounds its reaction to stop)

using Item = ClusterAdapter::Item;

core::Outcome ledger_failure(const std::string& error) {
  return failure(core::Code::unavailable, "the ledger's PostgreSQL: " + error);
}

}  // namespace

bool ClusterAdapter::feed_has_after(std::string_view channel, std::uint64_t after) {
  if (channel.empty()) return feed_last_.load(std::memory_order_acquire) > after;
  std::lock_guard<std::mutex> g(pubs_mu_);
  auto it = pub_seqs_.find(channel);
  return it != pub_seqs_.end() && it->second.last > std::max(after, it->second.acked);
}

bool ClusterAdapter::channel_exists(std::string_view channel) {
  std::lock_guard<std::mutex> g(pubs_mu_);
  return !channels_loaded_ || channel_names_.contains(channel);
}

void ClusterAdapter::webhook_channels(std::vector<backends::ChannelRecord>* out) const {
  std::lock_guard<std::mutex> g(pubs_mu_);
  if (pushing_) out->insert(out->end(), webhooks_.begin(), webhooks_.end());
}

void ClusterAdapter::pending_publications(std::string_view channel, std::uint64_t after, std::size_t limit,
                                          std::vector<backends::PublicationRow>* out) const {
  std::lock_guard<std::mutex> g(pubs_mu_);
  auto it = pending_.find(channel);
  if (it == pending_.end()) return;
  const std::vector<backends::PublicationRow>& rows = it->second.rows;
  auto first = std::upper_bound(rows.begin(), rows.end(), after,
                                [](std::uint64_t seq, const backends::PublicationRow& r) { return seq < r.seq; });
  for (; first != rows.end() && limit > 0; ++first, --limit) out->push_back(*first);
}

std::size_t ClusterAdapter::publication_backlog(std::string_view channel) const {
  std::lock_guard<std::mutex> g(pubs_mu_);
  auto it = pending_.find(channel);
  return it == pending_.end() ? 0 : it->second.pending;
}

void ClusterAdapter::wake_loop() {
  feed_advanced_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof one);
}

// ---- The watcher thread

// Follows the feed's newest seq and the channels' publication seqs: waits on the ledger's NOTIFYs,
// and when something moved on tells the loop (feed_advanced_, the eventfd: the loop answers parked
// long polls and steps the deliveries). A lost connection is retried after a pause; meanwhile long
// polls are answered at their deadline.
void ClusterAdapter::feed_watcher_main() {
  std::unique_ptr<backends::ClusterEvents> ev;
  std::uint64_t known = 0;
  std::int64_t next_channels_ms = 0, next_lead_ms = 0;
  bool channels_failing = false;  // logged once per run of failures
  std::vector<std::pair<std::string, std::uint64_t>> notified;
  auto stopping = [this] {
    std::lock_guard<std::mutex> g(sweep_mu_);
    return sweep_stop_;
  };
  while (!stopping()) {
    if (channels_dirty_.exchange(false) || steady_ms() >= next_channels_ms) {
      const bool ok = refresh_channels();
      if (!ok && !channels_failing) spdlog::warn("event=channels_refresh_failed action=keep_the_last_copy");
      channels_failing = !ok;
      next_channels_ms = steady_ms() + kChannelsRefreshMs;
    }
    std::string error;
    bool fresh = false;
    if (!ev) {
      backends::ClusterEventsOptions o;
      o.conninfo = opt_.events_conninfo;
      o.listen_publications = true;
      ev = backends::ClusterEvents::open(o, &error);
      fresh = ev != nullptr;
    }
    std::uint64_t last = 0;
    notified.clear();
    bool ok = ev != nullptr;
    if (ok && (fresh || steady_ms() >= next_lead_ms)) {
      ok = lead_deliveries(*ev, &error);
      next_lead_ms = steady_ms() + kChannelsRefreshMs;
    }
    // Just (re)connected: the tables once, for what was committed while nobody listened.
    if (ok && fresh) ok = ev->last_seq(&last, &error) && refresh_publications(*ev, nullptr, &error);
    auto take = [&] {
      last = std::max(last, ev->take_notified());
      ev->take_publications_notified(&notified);
    };
    if (ok) {
      take();  // what the queries above (or the last round's) received meanwhile
      if (last <= known && notified.empty()) {
        pollfd p{ev->notify_fd(), POLLIN, 0};
        if (p.fd >= 0) ::poll(&p, 1, kFeedWaitMs);
        take();
      }
      if (ev->notify_fd() < 0) {
        ok = false;
        error = "postgresql: the connection was lost";
      }
    }
    if (ok) ok = refresh_publications(*ev, &notified, &error);
    if (!ok) {
      feed_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("event=events_feed_watch_failed error=\"{}\"", error);
      {
        std::lock_guard<std::mutex> g(pubs_mu_);
        pushing_ = false;  // the lock goes with the connection
      }
      ev.reset();
      std::unique_lock<std::mutex> lock(sweep_mu_);
      sweep_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return sweep_stop_; });
      continue;
    }
    if (last > known) {
      known = last;
      feed_last_.store(last, std::memory_order_release);
      wake_loop();
    } else if (!notified.empty() || fresh) {
      wake_loop();
    }
  }
}

// The cluster's channels from Redis: their names, and those with a webhook. False (the copy is kept)
// when Redis failed.
bool ClusterAdapter::refresh_channels() {
  backends::StoreReply r;
  if (!watch_store_->list_channels(&r).ok()) return false;
  std::set<std::string, std::less<>> names;
  std::vector<backends::ChannelRecord> hooks;
  std::vector<std::pair<std::string, std::int64_t>> exposed;
  for (backends::ChannelRecord& c : r.channels) {
    names.insert(c.name);
    if (c.listing) exposed.emplace_back(c.name, c.exposed);
    if (c.webhook) hooks.push_back(std::move(c));
  }
  std::lock_guard<std::mutex> g(pubs_mu_);
  channel_names_ = std::move(names);
  webhooks_ = std::move(hooks);
  exposed_ = std::move(exposed);
  channels_loaded_ = true;
  return true;
}

// Takes (or keeps) the deliveries lock on the watcher's connection: this node pushes while it holds
// it. A lost connection loses it, and another node's watcher takes it within kChannelsRefreshMs.
bool ClusterAdapter::lead_deliveries(backends::ClusterEvents& ev, std::string* error) {
  bool leading = false;
  const bool ok = ev.lead_deliveries(&leading, error);
  std::lock_guard<std::mutex> g(pubs_mu_);
  if (ok && leading != pushing_) spdlog::info("event=deliveries_leader leading={}", leading);
  pushing_ = ok && leading;
  return ok;
}

// Keeps the channels' publication seqs and the webhook channels' pending rows: without `notified`
// (after a reconnection), every channel's seqs and every webhook channel's rows; else the seqs of the
// channels notified since, and the rows of the webhook channels whose seqs moved (a notification, an
// acknowledgement on this node) or that have none yet. Drops the rows of channels that lost their
// webhook, and all of them while another node pushes.
bool ClusterAdapter::refresh_publications(backends::ClusterEvents& ev,
                                          const std::vector<std::pair<std::string, std::uint64_t>>* notified,
                                          std::string* error) {
  if (notified == nullptr) {
    std::vector<backends::PublicationSeqs> seqs;
    if (!ev.publication_lasts(&seqs, error)) return false;
    std::lock_guard<std::mutex> g(pubs_mu_);
    pub_seqs_.clear();
    for (const backends::PublicationSeqs& s : seqs) pub_seqs_[s.channel] = {s.last, s.acked};
    pending_.clear();
  } else {
    for (const auto& [channel, seq] : *notified) {
      std::uint64_t last = 0, acked = 0, pending = 0;
      if (!ev.publication_seqs(channel, &last, &acked, &pending, error)) return false;
      std::lock_guard<std::mutex> g(pubs_mu_);
      pub_seqs_[channel] = {last, acked};
    }
  }
  std::vector<std::string> load;
  {
    std::lock_guard<std::mutex> g(pubs_mu_);
    std::erase_if(pending_, [this](const auto& kv) {
      return !pushing_ ||
             std::none_of(webhooks_.begin(), webhooks_.end(), [&](const auto& w) { return w.name == kv.first; });
    });
    for (const backends::ChannelRecord& w : webhooks_) {
      if (!pushing_) break;
      auto it = pending_.find(w.name);
      auto seqs = pub_seqs_.find(w.name);
      if (it == pending_.end()) {
        load.push_back(w.name);
      } else if (seqs != pub_seqs_.end()) {
        const PendingCache& c = it->second;
        if (c.rows_last != seqs->second.last || c.rows_acked != seqs->second.acked) load.push_back(w.name);
      }
    }
  }
  for (const std::string& channel : load) {
    if (!load_pending(ev, channel, error)) return false;
  }
  return true;
}

// A webhook channel's first kPendingCacheMax unacknowledged publications and their number.
bool ClusterAdapter::load_pending(backends::ClusterEvents& ev, const std::string& channel, std::string* error) {
  std::uint64_t last = 0, acked = 0, pending = 0, next = 0;
  PendingCache c;
  if (!ev.publication_seqs(channel, &last, &acked, &pending, error) ||
      !ev.publications(channel, acked, kPendingCacheMax, &c.rows, &next, error)) {
    return false;
  }
  c.pending = static_cast<std::size_t>(pending);
  c.rows_last = last;
  c.rows_acked = acked;
  std::lock_guard<std::mutex> g(pubs_mu_);
  pub_seqs_[channel] = {last, acked};
  pending_[channel] = std::move(c);
  return true;
}

// ---- Reads and writes on a worker

void ClusterAdapter::run_publications_read(backends::ClusterStore& s, Item& it) {
  const std::string unknown = "unknown channel " + it.name;
  bool known = false;
  if (core::is_identifier(it.name)) {
    if (core::Outcome o = channel_known(s, it.name, &known); !o.ok()) {
      it.outcome = std::move(o);
      return;
    }
  }
  if (!known) {
    it.outcome = failure(core::Code::unknown_channel, unknown);
    return;
  }
  std::string error;
  std::unique_ptr<backends::ClusterEvents> ev = take_reader(&error);
  bool ok = ev != nullptr && ev->publications(it.name, it.after, it.limit, &it.publications, &it.next, &error);
  if (ev) give_reader(std::move(ev));
  if (!ok) {
    feed_errors_.fetch_add(1, std::memory_order_relaxed);
    it.outcome = ledger_failure(error);
    return;
  }
  cap_by_exposure(s, it);
}

// A page comes from PostgreSQL, a ledger round behind the SKUs' hashes: a row written before a sale the
// channel has since reported (say a raise, then the sale, whose own publication is still on its way)
// would show the sold units again, and a marketplace that applies its page under its sale lock, as the
// contract asks, could then sell units that are no longer set aside (docs/cluster.md "Listed channels
// on the cluster store"). So each row's quantity is capped by the units set aside for the channel now,
// read after the page: never more than is backed. A lower quantity is only for a moment: units set
// aside below the latest publication mean a sale or a cut made it stale, so a publication follows.
void ClusterAdapter::cap_by_exposure(backends::ClusterStore& s, Item& it) {
  if (it.publications.empty()) return;
  std::vector<std::string> skus;
  skus.reserve(it.publications.size());
  for (const backends::PublicationRow& p : it.publications) skus.push_back(p.sku);
  std::vector<std::int64_t> units;
  if (core::Outcome o = s.exposed_units(it.name, skus, &units); !o.ok()) {
    it.outcome = std::move(o);
    it.publications.clear();
    return;
  }
  for (std::size_t i = 0; i < units.size(); ++i)
    it.publications[i].quantity = std::min(it.publications[i].quantity, units[i]);
}

// The embedded core's checks and messages (core/exposure.cc ack_publications): unknown channel, a seq
// above the last publication, an ack at or below acked (ok, nothing changes).
void ClusterAdapter::run_ack(backends::ClusterStore& s, Item& it) {
  const auto& c = std::get<core::AckPublications>(it.cmd);
  if (opt_.events_conninfo.empty()) {  // the routes are 501 and there are no deliveries: not reached
    it.outcome = failure(core::Code::invalid_state, capability_message(Capability::publications));
    return;
  }
  backends::StoreReply lr;
  if (core::Outcome o = s.list_channels(&lr); !o.ok()) {
    it.outcome = std::move(o);
    return;
  }
  auto rec = std::find_if(lr.channels.begin(), lr.channels.end(),
                          [&](const backends::ChannelRecord& r) { return r.name == c.channel; });
  if (rec == lr.channels.end()) {
    it.outcome = failure(core::Code::unknown_channel, "unknown channel " + c.channel);
    return;
  }
  std::string error;
  std::unique_ptr<backends::ClusterEvents> ev = take_reader(&error);
  if (!ev) {
    it.outcome = ledger_failure(error);
    return;
  }
  std::uint64_t last = 0, acked = 0, pending = 0;
  bool ok = ev->publication_seqs(c.channel, &last, &acked, &pending, &error);
  if (ok && c.seq > last) {
    it.outcome = failure(core::Code::invalid_request, "seq " + std::to_string(c.seq) +
                                                          " is above the channel's last publication " +
                                                          std::to_string(last));
    return give_reader(std::move(ev));
  }
  if (ok && c.seq > acked) {
    std::vector<backends::PublicationRow> rows;
    ok = ev->publications_upto(c.channel, c.seq, &rows, &error);
    std::vector<backends::ClusterStore::PublicationAck> acks;
    for (const backends::PublicationRow& r : rows) acks.push_back({r.sku, r.version});
    // Redis first, replicated (this job's writes wait for their WAIT only at its end): PostgreSQL must
    // not call S acknowledged while the release behind it could still be lost in a failover.
    core::Outcome o;
    if (ok && !acks.empty()) o = s.ack_exposures(c.channel, acks, it.now_ms);
    if (ok && o.ok() && !acks.empty()) o = s.acknowledge();
    if (!o.ok()) {
      it.outcome = std::move(o);
      return give_reader(std::move(ev));
    }
    ok = ok && ev->save_publication_ack(c.channel, c.seq, &error) &&
         ev->publication_seqs(c.channel, &last, &acked, &pending, &error);
    it.outcome.changed = ok;
  }
  give_reader(std::move(ev));
  if (!ok) {
    feed_errors_.fetch_add(1, std::memory_order_relaxed);
    it.outcome = ledger_failure(error);
    return;
  }
  {
    std::lock_guard<std::mutex> g(pubs_mu_);  // the loop's long polls see it before the NOTIFY
    PublicationSeqs& known = pub_seqs_[c.channel];
    known.last = std::max(known.last, last);
    known.acked = std::max(known.acked, acked);
  }
  it.reply.kind = backends::StoreReply::Kind::channel;
  it.reply.channel = std::move(*rec);
  it.reply.channel.last_publication_seq = last;
  it.reply.channel.acked_publication_seq = acked;
  it.reply.channel.pending_publications = pending;
}

// The publication seqs of listed channels' views (a channel list, a channel put): from PostgreSQL, one
// query per listed channel. Left at 0 when PostgreSQL fails: the views are Redis's, and these figures
// are also on GET /v1/channels/{c}/publications.
void ClusterAdapter::fill_publication_seqs(std::span<backends::ChannelRecord* const> channels) {
  if (opt_.events_conninfo.empty()) return;
  if (std::none_of(channels.begin(), channels.end(), [](const auto* c) { return c->listing.has_value(); })) return;
  std::string error;
  std::unique_ptr<backends::ClusterEvents> ev = take_reader(&error);
  bool ok = ev != nullptr;
  for (std::size_t i = 0; ok && i < channels.size(); ++i) {
    backends::ChannelRecord& c = *channels[i];
    if (!c.listing) continue;
    std::uint64_t last = 0, acked = 0, pending = 0;
    ok = ev->publication_seqs(c.name, &last, &acked, &pending, &error);
    c.last_publication_seq = last;
    c.acked_publication_seq = acked;
    c.pending_publications = pending;
  }
  if (ev) give_reader(std::move(ev));
  if (!ok) {
    feed_errors_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("event=publication_seqs_read_failed error=\"{}\"", error);
  }
}

}  // namespace stockd::store
