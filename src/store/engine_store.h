// engine_store.h: the embedded store behind the Store interface (store.h): engine::Engine with its
// events feed, listed channels' publications and movements history.
//
// Writes: submit() appends to the forming batch; pump() hands it to the engine when no batch is in
// flight (Engine::begin) and finishes it at once when the engine is ready (fsync batch/off, or a sync
// that was already done); otherwise on_completion() finishes it when the engine's sync eventfd fires.
// This is the group commit of docs/architecture.md, unchanged: one batch in flight, the next one
// forming meanwhile, and gathering: right after a batch, while the forming batch is under half the
// last one, it waits up to kGatherUs for the stragglers (wake_at_us()). Each write completes from
// Engine::finish's per-item hook, right after that write was applied, so its reply shows the state
// right after it. Reads complete inside read(), from memory.
//
// REQUIRES: the engine, the feed and the observer outlive the store; one thread (the loop's).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "net/prometheus.h"
#include "store/event_feed.h"
#include "store/store.h"

namespace stockd::store {

// The engine's statistics as stockd_journal_* and stockd_snapshot_* metrics (GET /metrics).
void render_engine_metrics(net::Prometheus& p, const engine::EngineStats& s);

class EngineStore final : public Store, private engine::AppliedHook {
 public:
  EngineStore(engine::Engine& engine, EventFeed& feed);
  // Told after every applied batch with events, while the inventory still matches them (alerts).
  using EventsObserver = std::function<void(std::span<const core::Event>, const core::Inventory&)>;
  void set_events_observer(EventsObserver o) { observer_ = std::move(o); }
  const core::Inventory& inventory() const { return engine_.inventory(); }

  void start(Completions* sink) override { sink_ = sink; }
  Capabilities capabilities() const override { return Capabilities::all(); }
  core::Code submit(Write& w) override;
  std::size_t queued() const override { return batch_.size(); }
  void pump() override;
  int completion_fd() const override { return engine_.completion_fd(); }
  void on_completion() override;
  std::int64_t wake_at_us() const override { return gather_until_us_; }
  void complete_all() override;
  bool idle() const override { return !engine_.in_flight() && batch_.empty(); }
  void set_draining() override { draining_ = true; }
  void read(const Read& r) override;
  bool feed_has_after(std::string_view channel, std::uint64_t after) override;
  bool channel_exists(std::string_view channel) override;
  void tick(std::int64_t now_ms) override;
  bool healthy() override { return engine_.healthy(); }
  void render_metrics(std::string& out) const override;

 private:
  struct Meta {
    Tag tag;
    Want want;
  };
  void applied(std::size_t index, const engine::BatchItem& item) override;
  void deliver(const Meta& m, const core::Outcome& o);
  void finish_batch();
  void read_done(const Read& r, ReadDone& d, const core::Outcome& o);

  engine::Engine& engine_;
  EventFeed& feed_;
  Completions* sink_ = nullptr;
  EventsObserver observer_;
  bool draining_ = false;
  std::vector<engine::BatchItem> batch_;  // forming
  std::vector<Meta> meta_;
  std::vector<engine::BatchItem> flight_batch_;  // handed to the engine, waiting for its sync
  std::vector<Meta> flight_meta_;
  std::size_t delivered_ = 0;           // items of flight_batch_ completed so far
  std::int64_t flight_start_us_ = 0;
  std::size_t last_batch_items_ = 0;    // size of the last batch handed to the engine
  std::int64_t gather_until_us_ = 0;    // the forming batch waits for stragglers until then (0: not)
  std::vector<core::Event> events_;
  // Scratch of the views handed to completions (reused: no allocation once warm).
  std::vector<core::SkuView> skus_;
  std::vector<core::ChannelView> channels_;
  std::vector<Available> available_;
  std::vector<core::MovementRecord> movements_;
  std::vector<std::string> drift_;
  std::string json_;
};

}  // namespace stockd::store
