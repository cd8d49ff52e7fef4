// The cluster store behind the Store interface: jobs per stream run by a pool of synchronous
// ClusterStores; completions handed back to the loop through an eventfd. The design is in
// cluster_adapter.h; the checks and their order are the embedded store's (docs/cluster.md).
#include "store/cluster_adapter.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "core/assert.h"
#include "server/clock.h"
#include "server/cluster_ledger.h"
#include "server/server.h"  // wall_clock_ms
#include "spdlog/spdlog.h"

namespace stockd::store {
namespace {

constexpr std::size_t kWritesPerJobMax = 64;   // consecutive writes of a stream acknowledged together
constexpr std::size_t kStreamsPerJobMax = 64;  // streams whose writes one job runs together
constexpr std::int64_t kHealthEveryMs = 1000;  // the sweeper's healthy() probe
constexpr int kFeedReadersMax = 4;              // PostgreSQL connections for feed and listing reads
constexpr int kFeedWaitMs = 250;                // the watcher's wait (bounds its reaction to stop)

}  // namespace

// One request, owned by the adapter from submit()/read() until its completion was delivered.
struct ClusterAdapter::Item {
  bool is_read = false;
  Tag tag = kNoTag;
  // write
  core::Command cmd;
  std::int64_t now_ms = 0;
  Want want = Want::none;
  core::Status status;
  std::string hold_id;
  std::string acting_channel;
  // read
  ReadKind kind = ReadKind::sku;
  std::string name;
  std::string channel;
  std::vector<std::string> skus;
  std::uint64_t after = 0;
  std::size_t offset = 0;
  std::size_t limit = 0;
  // result
  core::Outcome outcome;
  backends::StoreReply reply;
  std::vector<Available> available;  // availability: points into skus
  std::string json;                  // events: the rendered page
  std::vector<backends::SkuRecord> listed;  // sku_list
  std::size_t total = 0;                    // sku_list
};

namespace {

using Item = ClusterAdapter::Item;

// A channel's token acting on a hold by id: forbidden when the hold belongs to another channel; an
// unknown hold is answered unknown_hold after the request's own checks (and nothing is written).
void check_hold_owner(backends::ClusterStore& s, const Item& it, bool* forbidden, core::Outcome* unknown) {
  *forbidden = false;
  if (it.acting_channel.empty() || !core::is_identifier(it.hold_id)) return;
  backends::StoreReply r;
  core::Outcome o = s.get_hold(it.hold_id, it.now_ms, &r);
  if (o.ok()) *forbidden = r.hold.channel != it.acting_channel;
  else if (o.code == core::Code::unknown_hold) *unknown = std::move(o);
}

// A write's checks, in the order of the embedded store: owner, decoder, core::validate (the embedded
// engine's check and message), unknown hold. False with it.outcome when the write is answered.
bool check_write(backends::ClusterStore& s, Item& it) {
  core::Outcome unknown_hold;
  bool forbidden = false;
  check_hold_owner(s, it, &forbidden, &unknown_hold);
  if (forbidden) {
    it.outcome = failure(core::Code::forbidden, "hold " + it.hold_id + " belongs to another channel");
    return false;
  }
  if (!it.status.ok()) {
    it.outcome = failure(it.status.code, it.status.message);
    return false;
  }
  std::string message;
  if (core::validate(it.cmd, &message) != core::Code::ok) {
    it.outcome = failure(core::Code::invalid_request, std::move(message));
    return false;
  }
  if (!unknown_hold.ok()) {
    it.outcome = std::move(unknown_hold);
    return false;
  }
  return true;
}

// Writes of different connections (independent: any order is a valid one): each checked, the new
// holds created together (ClusterStore::create_many: their first calls in one pipeline, one fsync
// per master for all), the rest applied one by one.
void run_writes(backends::ClusterStore& s, std::span<Item* const> items) {
  std::vector<const core::CreateHold*> holds;
  std::vector<std::int64_t> nows;
  std::vector<Item*> hold_items;
  for (Item* it : items) {
    if (!check_write(s, *it)) continue;
    if (const auto* c = std::get_if<core::CreateHold>(&it->cmd)) {
      holds.push_back(c);
      nows.push_back(it->now_ms);
      hold_items.push_back(it);
    } else {
      it->outcome = s.apply(it->cmd, it->now_ms, &it->reply);
    }
  }
  if (holds.empty()) return;
  std::vector<core::Outcome> outs(holds.size());
  std::vector<backends::StoreReply> replies(holds.size());
  s.create_many(holds, nows, outs, replies);
  for (std::size_t i = 0; i < holds.size(); ++i) {
    hold_items[i]->outcome = std::move(outs[i]);
    hold_items[i]->reply = std::move(replies[i]);
  }
}

// Whether `channel` is a channel of the cluster (the embedded store answers an unknown channel first).
core::Outcome channel_known(backends::ClusterStore& s, std::string_view channel, bool* known) {
  backends::StoreReply lr;
  core::Outcome o = s.list_channels(&lr);
  *known = false;
  for (const backends::ChannelRecord& ch : lr.channels) *known = *known || ch.name == channel;
  return o;
}

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

void run_read(backends::ClusterStore& s, Item& it, server::ClusterLedger* ledger) {
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

}  // namespace

ClusterAdapter::ClusterAdapter(const ClusterAdapterOptions& options) : opt_(options) {}

std::unique_ptr<ClusterAdapter> ClusterAdapter::open(const ClusterAdapterOptions& options, std::string* error) {
  std::unique_ptr<ClusterAdapter> a(new ClusterAdapter(options));
  a->event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (a->event_fd_ < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  std::shared_ptr<backends::ClusterShared> shared = backends::ClusterStore::make_shared_state();
  int workers = std::max(1, std::min(options.workers, kClusterWorkersMax));
  for (int i = 0; i <= workers; ++i) {
    std::unique_ptr<backends::ClusterStore> s = backends::ClusterStore::open(options.store, shared, error);
    if (!s) return nullptr;
    if (i == workers) a->sweep_store_ = std::move(s);
    else a->stores_.push_back(std::move(s));
  }
  // The threads block every signal: SIGTERM and SIGINT are the loop's (its signalfd), whichever
  // thread made the adapter.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  if (!options.events_conninfo.empty()) a->feed_watcher_ = std::thread([p = a.get()] { p->feed_watcher_main(); });
  for (auto& s : a->stores_) a->threads_.emplace_back([p = a.get(), st = s.get()] { p->worker_main(st); });
  a->sweeper_ = std::thread([p = a.get()] { p->sweeper_main(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return a;
}

ClusterAdapter::~ClusterAdapter() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  {
    std::lock_guard<std::mutex> g(sweep_mu_);
    sweep_stop_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  if (feed_watcher_.joinable()) feed_watcher_.join();  // sees sweep_stop_ within kFeedWaitMs
  if (event_fd_ >= 0) close(event_fd_);
}

Capabilities ClusterAdapter::capabilities() const {
  Capabilities c = Capabilities::all();
  if (opt_.events_conninfo.empty()) c = c.without(Capability::events_feed).without(Capability::sku_listing);
  return c.without(Capability::stock_batches)
      .without(Capability::publications)
      .without(Capability::movements)
      .without(Capability::outbound)
      .without(Capability::snapshot)
      .without(Capability::sku_count);
}

core::Code ClusterAdapter::submit(Write& w) {
  // Listed channels live in the embedded store's core only (docs/channels.md): no second copy here.
  if (const auto* pc = std::get_if<core::PutChannel>(w.cmd);
      pc && w.status.ok() && (pc->listing || pc->clear_listing || pc->webhook || pc->clear_webhook)) {
    w.status = core::Status{core::Code::invalid_request,
                            "listing and webhook are not available on the cluster store yet (embedded store only)"};
  }
  // Without a hold to check, a bad request is refused at once (with the hold, the owner goes first).
  if (w.acting_channel.empty() && !w.status.ok()) return w.status.code;
  if (outstanding_ >= w.queue_max) return core::Code::overloaded;
  auto it = std::make_unique<Item>();
  it->tag = w.tag;
  it->cmd = std::move(*w.cmd);
  it->now_ms = w.now_ms;
  it->want = w.want;
  it->status = w.status;
  it->hold_id = std::string(w.hold_id);
  it->acting_channel = std::string(w.acting_channel);
  enqueue(w.stream, std::move(it));
  return core::Code::ok;
}

void ClusterAdapter::read(const Read& r) {
  auto it = std::make_unique<Item>();
  it->is_read = true;
  it->tag = r.tag;
  it->kind = r.kind;
  it->now_ms = r.now_ms;
  it->name = std::string(r.name);
  it->channel = std::string(r.channel);
  it->acting_channel = std::string(r.acting_channel);
  for (std::string_view s : r.skus) it->skus.emplace_back(s);
  it->after = r.after;
  it->offset = r.offset;
  it->limit = r.limit;
  enqueue(r.stream, std::move(it));
}

void ClusterAdapter::enqueue(std::uint64_t stream, std::unique_ptr<Item> item) {
  ++outstanding_;
  {
    std::lock_guard<std::mutex> g(mu_);
    Stream& s = streams_[stream];
    s.queue.push_back(std::move(item));
    if (s.busy) return;  // the job running will hand the stream on
    s.busy = true;
    runnable_.push_back(stream);
  }
  cv_.notify_one();
}

// Takes the next job and runs it: one read, or the consecutive writes of up to kStreamsPerJobMax
// streams (connections) whose next request is a write, run in waves (the k-th write of every stream
// in wave k: writes of one wave are of different streams, so they go to Redis together), with one
// acknowledgement (WAIT) for the whole job. Hands the completions back and puts a stream with more
// requests back in line.
void ClusterAdapter::worker_main(backends::ClusterStore* store) {
  struct Part {
    std::uint64_t stream = 0;
    std::vector<std::unique_ptr<Item>> items;
  };
  std::vector<Part> parts;
  for (;;) {
    parts.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !runnable_.empty(); });
      if (stop_) return;
      auto take = [&](std::uint64_t stream) {
        Stream& s = streams_[stream];
        STOCKD_ASSERT(s.busy && !s.queue.empty());
        Part& part = parts.emplace_back();
        part.stream = stream;
        bool reads = s.queue.front()->is_read;
        while (!s.queue.empty() && s.queue.front()->is_read == reads &&
               part.items.size() < (reads ? 1 : kWritesPerJobMax)) {
          part.items.push_back(std::move(s.queue.front()));
          s.queue.pop_front();
        }
      };
      std::uint64_t first = runnable_.front();
      runnable_.pop_front();
      take(first);
      if (!parts.front().items.front()->is_read) {
        for (auto r = runnable_.begin(); r != runnable_.end() && parts.size() < kStreamsPerJobMax;) {
          if (streams_[*r].queue.front()->is_read) {
            ++r;
            continue;
          }
          take(*r);
          r = runnable_.erase(r);
        }
      }
    }
    if (Item& r = *parts.front().items.front(); r.is_read) {
      if (r.kind == ReadKind::events || r.kind == ReadKind::sku_list) run_feed_read(*store, r);
      else run_read(*store, r, opt_.ledger);
    } else {
      run_job_writes(*store, parts);
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      for (Part& part : parts) {
        for (auto& it : part.items) done_.push_back(std::move(it));
        Stream& s = streams_[part.stream];
        if (s.queue.empty()) {
          streams_.erase(part.stream);
        } else {
          runnable_.push_back(part.stream);
          cv_.notify_one();
        }
      }
    }
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof one);
  }
}

template <typename Parts>
void ClusterAdapter::run_job_writes(backends::ClusterStore& store, Parts& parts) {
  store.defer_acknowledgement(true);
  std::vector<Item*> wave;
  for (std::size_t k = 0;; ++k) {
    wave.clear();
    for (auto& part : parts)
      if (k < part.items.size()) wave.push_back(part.items[k].get());
    if (wave.empty()) break;
    run_writes(store, wave);
  }
  store.defer_acknowledgement(false);
  bool any_ok = false;
  for (auto& part : parts)
    for (auto& it : part.items) any_ok = any_ok || it->outcome.ok();
  if (!any_ok) return;
  core::Outcome ack = store.acknowledge();
  if (ack.ok()) return;
  for (auto& part : parts)
    for (auto& it : part.items)
      if (it->outcome.ok()) it->outcome = failure(ack.code, ack.message);
}

void ClusterAdapter::on_completion() {
  std::uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(event_fd_, &count, sizeof count);
  {
    std::lock_guard<std::mutex> g(mu_);
    delivering_.swap(done_);
  }
  for (auto& it : delivering_) {
    --outstanding_;
    deliver(*it);
  }
  delivering_.clear();
  // The feed advanced: parked long polls are answered (the front end asks feed_has_after()).
  if (feed_advanced_.exchange(false, std::memory_order_acq_rel)) sink_->batch_done(0, 0, true);
}

void ClusterAdapter::deliver(Item& it) {
  const core::Outcome& o = it.outcome;
  if (!it.is_read) {
    if (it.tag == kNoTag) return;
    WriteDone d;
    d.tag = it.tag;
    d.outcome = &o;
    core::ChannelView ch;
    core::SkuView sku;
    core::HoldView hold;
    if (o.ok()) {
      switch (it.want) {
        case Want::channel:
        case Want::ack: ch = it.reply.channel.view(); d.channel = &ch; break;
        case Want::sku: sku = it.reply.sku.view(); d.sku = &sku; break;
        case Want::hold: hold = it.reply.hold.view(); d.hold = &hold; break;
        case Want::batch:
        case Want::none: break;
      }
    }
    sink_->write_done(d);
    return;
  }
  ReadDone d;
  d.tag = it.tag;
  d.kind = it.kind;
  d.outcome = &o;
  core::SkuView sku;
  core::HoldView hold;
  std::vector<core::ChannelView> channels;
  std::vector<core::SkuView> skus;
  if (o.ok()) {
    switch (it.kind) {
      case ReadKind::sku: sku = it.reply.sku.view(); d.sku = &sku; break;
      case ReadKind::hold: hold = it.reply.hold.view(); d.hold = &hold; break;
      case ReadKind::channels:
        for (const backends::ChannelRecord& c : it.reply.channels) channels.push_back(c.view());
        d.channels = channels;
        break;
      case ReadKind::availability: d.channel = it.name; d.available = it.available; break;
      case ReadKind::avail:
        d.count = it.channel.empty() ? it.reply.sku.available : it.reply.available.front().second;
        break;
      case ReadKind::reconcile: d.skus_checked = it.reply.skus_checked; d.drift = it.reply.drift; break;
      case ReadKind::events: d.json = it.json; break;
      case ReadKind::sku_list:
        for (const backends::SkuRecord& r : it.listed) skus.push_back(r.view());
        d.skus = skus;
        d.total = it.total;
        break;
      default: break;
    }
  }
  sink_->read_done(d);
}

void ClusterAdapter::complete_all() {
  while (outstanding_ > 0) {
    pollfd p{event_fd_, POLLIN, 0};
    poll(&p, 1, 100);
    on_completion();
  }
}

// Sweeps every tick_ms (from the start of one sweep to the start of the next, so a slow sweep is
// followed at once by the next) until the destructor.
void ClusterAdapter::sweeper_main() {
  std::int64_t next_health_ms = 0;
  std::unique_lock<std::mutex> lock(sweep_mu_);
  while (!sweep_stop_) {
    lock.unlock();
    auto next = std::chrono::steady_clock::now() + std::chrono::milliseconds(opt_.tick_ms);
    std::int64_t start_us = server::steady_us();
    std::size_t acted = sweep_store_->sweep(server::wall_clock_ms());
    swept_total_.fetch_add(acted, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> g(metrics_mu_);
      sweep_latency_.observe_us(server::steady_us() - start_us);
    }
    if (std::int64_t now = server::steady_ms(); now >= next_health_ms) {
      healthy_.store(sweep_store_->healthy(), std::memory_order_relaxed);
      next_health_ms = now + kHealthEveryMs;
    }
    lock.lock();
    sweep_cv_.wait_until(lock, next, [this] { return sweep_stop_; });
  }
}

// Follows the feed's newest seq: waits on the ledger's NOTIFY (ClusterEvents::wait), and when the
// seq moved on tells the loop (feed_advanced_, the eventfd). A lost connection is retried after a
// pause; meanwhile long polls are answered at their deadline.
void ClusterAdapter::feed_watcher_main() {
  std::unique_ptr<backends::ClusterEvents> ev;
  std::uint64_t known = 0;
  auto stopping = [this] {
    std::lock_guard<std::mutex> g(sweep_mu_);
    return sweep_stop_;
  };
  while (!stopping()) {
    std::string error;
    if (!ev) ev = backends::ClusterEvents::open({opt_.events_conninfo}, &error);
    bool ready = false;
    std::uint64_t last = 0;
    if (!ev || !ev->wait(known, kFeedWaitMs, &ready, &error) || (ready && !ev->last_seq(&last, &error))) {
      feed_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::warn("event=events_feed_watch_failed error=\"{}\"", error);
      ev.reset();
      std::unique_lock<std::mutex> lock(sweep_mu_);
      sweep_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return sweep_stop_; });
      continue;
    }
    if (ready && last > known) {
      known = last;
      feed_last_.store(last, std::memory_order_release);
      feed_advanced_.store(true, std::memory_order_release);
      std::uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof one);
    }
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
  std::unique_ptr<backends::ClusterEvents> r = backends::ClusterEvents::open({opt_.events_conninfo}, error);
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
  if (ok && it.kind == ReadKind::events) {
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

void ClusterAdapter::render_metrics(std::string& out) const {
  server::Prometheus p(out);
  {
    std::lock_guard<std::mutex> g(metrics_mu_);
    p.family("stockd_cluster_sweep_seconds", "histogram",
             "Time of one sweep (expiry, repair, retention) of the cluster store.");
    sweep_latency_.render(p, "stockd_cluster_sweep_seconds", "");
  }
  auto d = [](auto v) { return static_cast<double>(v); };
  p.gauge("stockd_storage_healthy", "1 when the cluster answers and every slot is served.",
          healthy_.load(std::memory_order_relaxed) ? 1.0 : 0.0);
  p.gauge("stockd_cluster_workers", "Worker threads (one cluster store each).", d(stores_.size()));
  p.counter("stockd_cluster_swept_total", "Holds expired, repaired or forgotten by sweeps.",
            d(swept_total_.load(std::memory_order_relaxed)));
  if (!opt_.events_conninfo.empty()) {
    p.gauge("stockd_events_last_seq", "The events feed's newest seq as last seen.",
            d(feed_last_.load(std::memory_order_relaxed)));
    p.counter("stockd_events_read_errors_total", "Failed reads of the ledger's events feed or SKU listing.",
              d(feed_errors_.load(std::memory_order_relaxed)));
  }
  if (!opt_.ledger) return;
  backends::LedgerStats ls = opt_.ledger->stats();
  p.counter("stockd_ledger_entries_applied_total", "Outbox entries applied to PostgreSQL.", d(ls.entries_applied));
  p.counter("stockd_ledger_malformed_total", "Outbox entries that did not parse (acked).", d(ls.malformed));
  p.counter("stockd_ledger_rejected_total", "Outbox entries PostgreSQL refused (acked).", d(ls.rejected));
  p.counter("stockd_ledger_lost_total", "Pending entries trimmed before they were applied.", d(ls.lost));
  p.counter("stockd_ledger_errors_total", "Failed Redis or PostgreSQL calls of the ledger.", d(ls.errors));
  p.gauge("stockd_ledger_lag_seconds", "Age of the oldest entry of the last applying round.",
          static_cast<double>(ls.lag_ms) / 1000.0);
}

}  // namespace stockd::store
