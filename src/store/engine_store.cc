// The embedded store: group commit over the engine (writes) and the inventory in memory (reads).
#include "store/engine_store.h"
#include "store/store_metrics.h"

#include <string>
#include <unordered_set>

#include "core/assert.h"
#include "store/clock.h"
#include "net/prometheus.h"

namespace stockd::store {

void render_engine_metrics(net::Prometheus& p, const engine::EngineStats& s) {
  auto d = [](auto v) { return static_cast<double>(v); };
  p.gauge("stockd_journal_last_lsn", "Sequence number of the last durable journal record.", d(s.last_lsn));
  p.counter("stockd_journal_batches_total", "Batches written to the journal since start.", d(s.batches));
  p.counter("stockd_journal_records_total", "Journal records written since start.", d(s.records));
  p.counter("stockd_journal_syncs_total", "fdatasync calls on journal segments since start.", d(s.syncs));
  p.counter("stockd_journal_sync_failures_total", "Failed journal syncs since start.", d(s.sync_failures));
  p.counter("stockd_journal_write_failures_total", "Failed journal writes since start.", d(s.write_failures));
  p.counter("stockd_journal_storage_recoveries_total", "Recoveries from a storage fault since start.",
            d(s.storage_recoveries));
  p.gauge("stockd_journal_segments", "Live journal segment files.", d(s.segments));
  p.gauge("stockd_journal_bytes", "Bytes in live journal segments.", d(s.journal_bytes));
  p.gauge("stockd_journal_replayed_records", "Journal records replayed at start.", d(s.replayed_records));
  p.gauge("stockd_journal_recovery_seconds", "Time the last open (recovery) took.", d(s.recovery_us) / 1e6);
  p.gauge("stockd_snapshot_lsn", "Journal sequence number of the newest snapshot.", d(s.snapshot_lsn));
  p.counter("stockd_snapshot_written_total", "Snapshots written since start.", d(s.snapshots_written));
  p.counter("stockd_snapshot_failures_total", "Failed snapshots since start.", d(s.snapshot_failures));
  p.gauge("stockd_snapshot_duration_seconds", "Time the last snapshot took (background: fork to installed).",
          d(s.snapshot_us) / 1e6);
  p.gauge("stockd_snapshot_fork_seconds", "Time the last background snapshot's fork() stalled the writer.",
          d(s.snapshot_fork_us) / 1e6);
  p.gauge("stockd_snapshot_in_progress", "1 while a background snapshot is being written.",
          d(s.snapshot_in_progress ? 1 : 0));
}

namespace {

constexpr std::int64_t kGatherUs = 150;  // longest wait for a batch's stragglers (pump)

}  // namespace

EngineStore::EngineStore(engine::Engine& engine, EventFeed& feed) : engine_(engine), feed_(feed) {}

// The hold-ownership check: a channel's token may act on its own channel's holds only. A hold's
// channel never changes, so the state before the forming batch decides; a hold unknown here goes on
// to the core, which answers unknown_hold (or creates nothing: confirm/release/extend never create).
core::Code EngineStore::submit(Write& w) {
  if (!w.acting_channel.empty() && !w.hold_id.empty()) {
    const core::Inventory& inv = engine_.inventory();
    std::uint32_t hold = inv.find_hold(w.hold_id);
    if (hold != core::kNoIndex && inv.channel_name(inv.hold_channel(hold)) != w.acting_channel)
      return core::Code::forbidden;
  }
  if (!w.status.ok()) return w.status.code;
  if (batch_.size() >= w.queue_max) return core::Code::overloaded;
  batch_.push_back(engine::BatchItem{std::move(*w.cmd), w.now_ms, {}, 0});
  meta_.push_back(Meta{w.tag, w.want});
  return core::Code::ok;
}

// Pipelined group commit: the forming batch is handed to the engine when no other batch is in flight.
// The engine writes it and syncs it in its sync thread while the loop goes on reading and parsing
// (the next batch forms meanwhile); on_completion() applies it and answers once the engine's
// completion eventfd fires. In the other fsync modes it completes at once.
void EngineStore::pump() {
  if (engine_.in_flight() || batch_.empty()) return;
  // Gathering (as PostgreSQL's commit_delay): right after a batch is answered, its clients send their
  // next requests within some tens of microseconds. A batch handed over with only the first few of
  // them would make the rest wait for a second sync, so while the forming batch is under half the
  // last one, it waits up to kGatherUs for the others (the loop wakes up at wake_at_us()).
  // Only with a sync to share (FsyncMode::always); never beyond the queue bound.
  if (engine_.completion_fd() >= 0 && !draining_ && batch_.size() * 2 < last_batch_items_) {
    std::int64_t now = steady_us();
    if (gather_until_us_ == 0) gather_until_us_ = now + kGatherUs;
    if (now < gather_until_us_) return;
  }
  gather_until_us_ = 0;
  last_batch_items_ = batch_.size();
  flight_batch_.swap(batch_);
  flight_meta_.swap(meta_);
  batch_.clear();
  meta_.clear();
  flight_start_us_ = steady_us();
  delivered_ = 0;
  if (!engine_.begin(flight_batch_)) {  // refused at once (storage unavailable): outcomes are set
    for (std::size_t i = 0; i < flight_batch_.size(); ++i) deliver(flight_meta_[i], flight_batch_[i].outcome);
    flight_batch_.clear();
    flight_meta_.clear();
    return;
  }
  if (engine_.ready()) finish_batch();
}

void EngineStore::on_completion() {
  if (engine_.ready()) {
    finish_batch();
    pump();
  }
}

void EngineStore::complete_all() {
  if (!engine_.in_flight()) return;
  engine_.wait();
  finish_batch();
}

void EngineStore::finish_batch() {
  if (!engine_.in_flight()) return;
  events_.clear();
  engine_.finish(flight_batch_, &events_, this);
  // A refused batch (its sync failed) is applied nowhere: its items complete with their outcome now.
  for (std::size_t i = delivered_; i < flight_batch_.size(); ++i) deliver(flight_meta_[i], flight_batch_[i].outcome);
  std::size_t items = flight_batch_.size();
  // Alerts are derived here, while the inventory still matches the events; they are sent off the loop.
  if (observer_ && !events_.empty()) observer_(events_, engine_.inventory());
  flight_batch_.clear();
  flight_meta_.clear();
  sink_->batch_done(items, steady_us() - flight_start_us_, !events_.empty());
}

void EngineStore::applied(std::size_t index, const engine::BatchItem& item) {
  STOCKD_ASSERT(index == delivered_);
  deliver(flight_meta_[index], item.outcome);
}

// Completes one write with the view it asked for, rendered from the state right after it.
void EngineStore::deliver(const Meta& m, const core::Outcome& o) {
  ++delivered_;
  if (m.tag == kNoTag) return;
  WriteDone d;
  d.tag = m.tag;
  d.outcome = &o;
  if (!o.ok() || m.want == Want::none) {
    sink_->write_done(d);
    return;
  }
  const core::Inventory& inv = engine_.inventory();
  switch (m.want) {
    case Want::channel:
    case Want::ack: {
      core::ChannelView v = inv.channel(o.index);
      d.channel = &v;
      sink_->write_done(d);
      return;
    }
    case Want::sku: {
      core::SkuView v = inv.sku(o.index);
      d.sku = &v;
      sink_->write_done(d);
      return;
    }
    case Want::hold: {
      core::HoldView v = inv.hold(o.index);
      d.hold = &v;
      sink_->write_done(d);
      return;
    }
    case Want::batch:
      skus_.clear();
      if (o.batch) {
        // An ok row's SKU is always there (SKUs are never removed).
        for (const core::BatchRowResult& row : o.batch->rows)
          if (row.code == core::Code::ok) skus_.push_back(inv.sku(inv.find_sku(row.sku)));
      }
      d.batch_skus = skus_;
      sink_->write_done(d);
      return;
    case Want::none: break;
  }
  sink_->write_done(d);
}

void EngineStore::tick(std::int64_t now_ms) {
  // Housekeeping (periodic snapshots, segment preparation) runs between batches: finish the one in
  // flight first (at most one sync's wait).
  complete_all();
  engine_.maintain(now_ms);
  if (engine_.inventory().next_due_ms() <= now_ms) {  // holds to expire: a Tick joins the next batch
    batch_.push_back(engine::BatchItem{core::Tick{}, now_ms, {}, 0});
    meta_.push_back(Meta{kNoTag, Want::none});
  }
}

bool EngineStore::feed_has_after(std::string_view channel, std::uint64_t after) {
  if (channel.empty()) return feed_.last_seq() > after;
  const core::Inventory& inv = engine_.inventory();
  std::uint32_t ch = inv.find_channel(channel);
  if (ch == core::kNoIndex) return false;
  return inv.last_publication_seq(ch) > after && !inv.publications(ch, after, 1).empty();
}

bool EngineStore::channel_exists(std::string_view channel) {
  return engine_.inventory().find_channel(channel) != core::kNoIndex;
}

void EngineStore::read_done(const Read& r, ReadDone& d, const core::Outcome& o) {
  d.tag = r.tag;
  d.kind = r.kind;
  d.outcome = &o;
  sink_->read_done(d);
}

void EngineStore::read(const Read& r) {
  const core::Inventory& inv = engine_.inventory();
  ReadDone d;
  core::Outcome ok;
  auto unknown_sku = [&] { return failure(core::Code::unknown_sku, "unknown sku " + std::string(r.name)); };
  auto unknown_channel = [&](std::string_view c) {
    return failure(core::Code::unknown_channel, "unknown channel " + std::string(c));
  };
  switch (r.kind) {
    case ReadKind::sku: {
      std::uint32_t sku = inv.find_sku(r.name);
      if (sku == core::kNoIndex) return read_done(r, d, unknown_sku());
      core::SkuView v = inv.sku(sku);
      d.sku = &v;
      return read_done(r, d, ok);
    }
    case ReadKind::hold: {
      std::uint32_t hold = inv.find_hold(r.name);
      if (hold == core::kNoIndex)
        return read_done(r, d, failure(core::Code::unknown_hold, "unknown hold " + std::string(r.name)));
      if (!r.acting_channel.empty() && inv.channel_name(inv.hold_channel(hold)) != r.acting_channel)
        return read_done(r, d, failure(core::Code::forbidden, "hold " + std::string(r.name) + " belongs to another channel"));
      core::HoldView v = inv.hold(hold);
      d.hold = &v;
      return read_done(r, d, ok);
    }
    case ReadKind::channels:
      channels_.clear();
      for (std::size_t i = 0; i < inv.channel_count(); ++i) channels_.push_back(inv.channel(static_cast<std::uint32_t>(i)));
      d.channels = channels_;
      return read_done(r, d, ok);
    case ReadKind::availability: {
      std::uint32_t ch = inv.find_channel(r.name);
      if (ch == core::kNoIndex) return read_done(r, d, unknown_channel(r.name));
      if (r.skus.empty()) return read_done(r, d, failure(core::Code::invalid_request, "name at least one sku="));
      if (r.skus.size() > r.limit)
        return read_done(r, d, failure(core::Code::invalid_request, "at most 1000 skus per request"));
      available_.clear();
      std::unordered_set<std::string_view> seen;
      for (std::string_view name : r.skus) {
        if (r.skus.size() > 1 && !seen.insert(name).second) continue;
        std::uint32_t sku = inv.find_sku(name);
        available_.push_back({name, sku == core::kNoIndex ? std::nullopt : std::optional(inv.available(sku, ch))});
      }
      d.channel = inv.channel_name(ch);
      d.available = available_;
      return read_done(r, d, ok);
    }
    case ReadKind::avail: {
      std::uint32_t sku = inv.find_sku(r.name);
      if (sku == core::kNoIndex) return read_done(r, d, unknown_sku());
      if (r.channel.empty()) {
        d.count = inv.available_total(sku);
        return read_done(r, d, ok);
      }
      std::uint32_t ch = inv.find_channel(r.channel);
      if (ch == core::kNoIndex) return read_done(r, d, unknown_channel(r.channel));
      d.count = inv.available(sku, ch);
      return read_done(r, d, ok);
    }
    case ReadKind::sku_count:
      d.count = static_cast<std::int64_t>(inv.sku_count());
      return read_done(r, d, ok);
    case ReadKind::sku_list: {
      skus_.clear();
      std::size_t total = inv.sku_count();
      std::size_t end = r.offset >= total ? total : r.offset + std::min(r.limit, total - r.offset);
      for (std::size_t i = std::min(r.offset, total); i < end; ++i) skus_.push_back(inv.sku(static_cast<std::uint32_t>(i)));
      d.skus = skus_;
      d.total = total;
      return read_done(r, d, ok);
    }
    case ReadKind::events:
      json_.clear();
      feed_.render_page(r.after, r.limit, json_);
      d.json = json_;
      return read_done(r, d, ok);
    case ReadKind::publications: {
      std::uint32_t ch = inv.find_channel(r.name);
      if (ch == core::kNoIndex) return read_done(r, d, unknown_channel(r.name));
      std::vector<core::PublicationView> pubs = inv.publications(ch, r.after, r.limit);
      d.publications = pubs;
      d.next = pubs.empty() ? r.after : pubs.back().seq;
      return read_done(r, d, ok);
    }
    case ReadKind::movements: {
      if (inv.find_sku(r.name) == core::kNoIndex) return read_done(r, d, unknown_sku());
      if (core::Status st = engine_.movements(r.name, r.after, r.limit, &movements_); !st.ok())
        return read_done(r, d, failure(st.code, st.message));
      d.movements = movements_;
      d.next = movements_.empty() ? r.after : movements_.back().seq;
      return read_done(r, d, ok);
    }
    case ReadKind::snapshot: {
      complete_all();  // the snapshot is taken between batches: finish the one in flight
      if (core::Status s = engine_.snapshot(&d.lsn); !s.ok())
        return read_done(r, d, failure(core::Code::unavailable, "snapshot failed: " + s.message));
      return read_done(r, d, ok);
    }
    case ReadKind::reconcile: {
      // The embedded store has one copy of the truth: reconciling means checking that every SKU's
      // buckets, held totals and holds agree (the core's invariants). Cluster stores compare stores.
      drift_.clear();
      if (std::string problem = inv.check_invariants(); !problem.empty()) drift_.push_back(std::move(problem));
      d.skus_checked = inv.sku_count();
      d.drift = drift_;
      return read_done(r, d, ok);
    }
  }
  STOCKD_ASSERT(false);
}

void EngineStore::render_metrics(std::string& out) const {
  net::Prometheus p(out);
  core::Stats st = engine_.inventory().stats();
  p.family("stockd_holds", "gauge", "Holds by state (finished holds while remembered).");
  p.sample("stockd_holds", "state=\"held\"", std::uint64_t{st.holds_held});
  p.sample("stockd_holds", "state=\"confirmed\"", std::uint64_t{st.holds_confirmed});
  p.sample("stockd_holds", "state=\"released\"", std::uint64_t{st.holds_released});
  p.sample("stockd_holds", "state=\"expired\"", std::uint64_t{st.holds_expired});
  p.gauge("stockd_skus", "SKUs known.", static_cast<double>(st.skus));
  p.gauge("stockd_channels", "Channels known.", static_cast<double>(st.channels));
  std::vector<std::pair<std::string, std::int64_t>> exposed;
  const core::Inventory& inv = engine_.inventory();
  for (std::uint32_t c = 0; c < inv.channel_count(); ++c)
    if (core::ChannelView v = inv.channel(c); v.listing) exposed.emplace_back(std::string(v.name), v.exposed);
  render_channel_exposed(p, exposed);
  p.gauge("stockd_events_last_seq", "Sequence number of the newest event.",
          static_cast<double>(engine_.inventory().last_event_seq()));
  engine::MovementStoreStats mv = engine_.movement_stats();
  p.gauge("stockd_movements_last_seq", "Seq of the newest movement written.", static_cast<double>(mv.last_seq));
  p.gauge("stockd_movements_retained", "Movements in the history (GET /v1/movements).",
          static_cast<double>(mv.movements));
  p.gauge("stockd_movements_files", "Movement files in the data directory.", static_cast<double>(mv.files));
  p.gauge("stockd_movements_bytes", "Bytes of the movement files.", static_cast<double>(mv.bytes));
  p.gauge("stockd_movements_index_bytes", "Memory of the movements index (16 bytes per movement).",
          static_cast<double>(mv.index_bytes));
  p.counter("stockd_movements_files_removed_total", "Movement files removed by retention.",
            static_cast<double>(mv.files_removed));
  p.counter("stockd_movements_write_failures_total", "Failed writes of movement files.",
            static_cast<double>(mv.write_failures));
  p.gauge("stockd_storage_healthy", "1 when the engine accepts writes.", engine_.healthy() ? 1.0 : 0.0);
  render_engine_metrics(p, engine_.stats());
}

}  // namespace stockd::store
