// The cluster store behind the Store interface: jobs per stream run by a pool of synchronous
// ClusterStores; completions handed back to the loop through an eventfd. The design is in
// cluster_adapter.h; the checks and their order are the embedded store's (docs/cluster.md).
#include "store/cluster_adapter.h"
#include "store/cluster_adapter_item.h"

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
#include "store/clock.h"
#include "store/cluster_ledger.h"
#include "spdlog/spdlog.h"

namespace stockd::store {
namespace {

constexpr std::size_t kWritesPerJobMax = 64;   // consecutive writes of a stream acknowledged together
// A hold round (see worker_main) takes every stream whose next request is a new hold, up to this many.
constexpr std::size_t kStreamsPerRoundMax = 4096;

}  // namespace


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
// per master for all), the rest applied one by one, but for acknowledgements of publications, which
// need the ledger: they are left in *acks for the caller (ClusterAdapter::run_ack).
void run_writes(backends::ClusterStore& s, std::span<Item* const> items, std::vector<Item*>* acks) {
  std::vector<const core::CreateHold*> holds;
  std::vector<std::int64_t> nows;
  std::vector<Item*> hold_items;
  for (Item* it : items) {
    if (!check_write(s, *it)) continue;
    if (std::holds_alternative<core::AckPublications>(it->cmd)) {
      acks->push_back(it);
    } else if (const auto* c = std::get_if<core::CreateHold>(&it->cmd)) {
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
  if (!options.events_conninfo.empty()) {
    a->watch_store_ = backends::ClusterStore::open(options.store, shared, error);
    if (!a->watch_store_) return nullptr;
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
  if (opt_.events_conninfo.empty()) {
    c = c.without(Capability::events_feed)
            .without(Capability::sku_listing)
            .without(Capability::movements)
            .without(Capability::alerts)
            .without(Capability::publications)
            .without(Capability::outbound);
  }
  return c.without(Capability::snapshot).without(Capability::sku_count);
}

core::Code ClusterAdapter::submit(Write& w) {
  // A listed channel's publications are numbered and read in the ledger's PostgreSQL (docs/cluster.md
  // "Listed channels on the cluster store"): a node without it cannot serve them.
  if (const auto* pc = std::get_if<core::PutChannel>(w.cmd);
      pc && w.status.ok() && opt_.events_conninfo.empty() &&
      (pc->listing || pc->clear_listing || pc->webhook || pc->clear_webhook)) {
    w.status = core::Status{core::Code::invalid_request,
                            "listing and webhook need a node with the ledger (--ledger) on the cluster store"};
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
    // A new hold while every hold round runs waits for the next round (a round that ends wakes a
    // worker): waking one now would only put it back to sleep, a context switch per hold.
    if (next_of(s) == Next::hold && hold_rounds_ >= kHoldRoundsMax) return;
  }
  cv_.notify_one();
}

// What a stream's next request is, for the choice of jobs below.
ClusterAdapter::Next ClusterAdapter::next_of(const Stream& s) {
  const Item& it = *s.queue.front();
  if (it.is_read) return Next::read;
  return std::holds_alternative<core::CreateHold>(it.cmd) ? Next::hold : Next::write;
}

// Takes the next job and runs it. A job is one of:
// - one read;
// - a hold round: every stream whose next request is a new hold (up to kStreamsPerRoundMax), while
//   fewer than kHoldRoundsMax rounds run. This is the group commit into Redis: the holds that arrived
//   while the previous round waited go out together, one call per partition (create_many) and one
//   WAIT per master for all of them, so a round's cost is shared by however many holds it carries and
//   the number of holds in flight is not capped by the number of threads;
// - the consecutive writes (up to kWritesPerJobMax) of one stream whose next request is another
//   write (confirm, release, stock): one stream, because a job applies such writes one after another,
//   so with 64 streams per job (before) the last confirm of a job waited for 63 others (hold + confirm
//   on the cluster: p99 157-171 ms at 150 connections; one stream per job, jobs on many workers at
//   once: p99 54-56 ms and 12 % more pairs/s, docs/benchmarks.md).
// A job's writes run in waves (the k-th write of every stream in wave k: writes of one wave are of
// different streams, so they go to Redis together), with one acknowledgement (WAIT) for the whole job.
// Hands the completions back and puts a stream with more requests back in line.
void ClusterAdapter::worker_main(backends::ClusterStore* store) {
  struct Part {
    std::uint64_t stream = 0;
    std::vector<std::unique_ptr<Item>> items;
  };
  std::vector<Part> parts;
  // Under mu_: the first runnable stream this worker may take (a hold round only while one is free).
  auto takeable = [&] {
    for (auto r = runnable_.begin(); r != runnable_.end(); ++r)
      if (next_of(streams_[*r]) != Next::hold || hold_rounds_ < kHoldRoundsMax) return r;
    return runnable_.end();
  };
  for (;;) {
    parts.clear();
    bool round = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || takeable() != runnable_.end(); });
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
      auto first = takeable();
      Next kind = next_of(streams_[*first]);
      std::uint64_t stream = *first;
      runnable_.erase(first);
      take(stream);
      round = kind == Next::hold;
      if (round) {
        for (auto r = runnable_.begin(); r != runnable_.end() && parts.size() < kStreamsPerRoundMax;) {
          if (next_of(streams_[*r]) != Next::hold) {
            ++r;
            continue;
          }
          take(*r);
          r = runnable_.erase(r);
        }
        ++hold_rounds_;
      }
    }
    if (Item& r = *parts.front().items.front(); r.is_read) {
      if (r.kind == ReadKind::events || r.kind == ReadKind::sku_list || r.kind == ReadKind::movements) {
        run_feed_read(*store, r);
      } else if (r.kind == ReadKind::publications) {
        run_publications_read(*store, r);  // cluster_adapter_publications.cc
      } else {
        run_read(*store, r, opt_.ledger);  // cluster_adapter_reads.cc
        if (r.kind == ReadKind::channels && r.outcome.ok()) {
          std::vector<backends::ChannelRecord*> views;
          for (backends::ChannelRecord& c : r.reply.channels) views.push_back(&c);
          fill_publication_seqs(views);
        }
      }
    } else {
      run_job_writes(*store, parts);
    }
    {
      std::lock_guard<std::mutex> g(mu_);
      if (round) {
        --hold_rounds_;
        cv_.notify_one();  // a round is free: a worker may take the holds that waited meanwhile
      }
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
  std::vector<Item*> wave, acks;
  std::vector<backends::ChannelRecord*> listed;  // channel views to complete with publication seqs
  for (std::size_t k = 0;; ++k) {
    wave.clear();
    for (auto& part : parts)
      if (k < part.items.size()) wave.push_back(part.items[k].get());
    if (wave.empty()) break;
    acks.clear();
    run_writes(store, wave, &acks);
    for (Item* it : acks) run_ack(store, *it);  // cluster_adapter_publications.cc
    for (Item* it : wave) {
      if (std::holds_alternative<core::PutChannel>(it->cmd) && it->outcome.ok() && it->reply.channel.listing)
        listed.push_back(&it->reply.channel);
    }
  }
  store.defer_acknowledgement(false);
  fill_publication_seqs(listed);
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
    // A channel put here is known at once (channel_exists), and its webhook reaches the deliveries
    // with the watcher's next read of the channels rather than within kChannelsRefreshMs.
    if (const auto* pc = std::get_if<core::PutChannel>(&it.cmd); pc && o.ok() && !opt_.events_conninfo.empty()) {
      {
        std::lock_guard<std::mutex> g(pubs_mu_);
        channel_names_.insert(pc->channel);
      }
      channels_dirty_.store(true, std::memory_order_relaxed);
    }
    if (it.tag == kNoTag) return;
    WriteDone d;
    d.tag = it.tag;
    d.outcome = &o;
    core::ChannelView ch;
    core::SkuView sku;
    core::HoldView hold;
    std::vector<core::SkuView> batch_skus;
    if (o.ok()) {
      switch (it.want) {
        case Want::channel:
        case Want::ack:
          ch = it.reply.channel.view();
          ch.last_publication_seq = it.reply.channel.last_publication_seq;
          ch.acked_publication_seq = it.reply.channel.acked_publication_seq;
          ch.pending_publications = it.reply.channel.pending_publications;
          d.channel = &ch;
          break;
        case Want::sku: sku = it.reply.sku.view(); d.sku = &sku; break;
        case Want::hold: hold = it.reply.hold.view(); d.hold = &hold; break;
        case Want::batch:
          for (const backends::SkuRecord& r : it.reply.batch_skus) batch_skus.push_back(r.view());
          d.batch_skus = batch_skus;
          break;
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
  std::vector<core::PublicationView> publications;
  if (o.ok()) {
    switch (it.kind) {
      case ReadKind::sku: sku = it.reply.sku.view(); d.sku = &sku; break;
      case ReadKind::hold: hold = it.reply.hold.view(); d.hold = &hold; break;
      case ReadKind::channels:
        for (const backends::ChannelRecord& c : it.reply.channels) {
          core::ChannelView& v = channels.emplace_back(c.view());
          v.last_publication_seq = c.last_publication_seq;
          v.acked_publication_seq = c.acked_publication_seq;
          v.pending_publications = c.pending_publications;
        }
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
      case ReadKind::movements: d.movements = it.movements; d.next = it.next; break;
      case ReadKind::publications:
        for (const backends::PublicationRow& p : it.publications) publications.push_back({p.sku, p.quantity, p.seq});
        d.publications = publications;
        d.next = it.next;
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
// followed at once by the next) until the destructor: the expiry indexes each time, everything every
// kFullSweepEveryMs.
}  // namespace stockd::store
