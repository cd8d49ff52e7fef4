// inventory.h: the domain as one deterministic state machine.
//
// Commands go in with the current time as an argument; an Outcome and Events come out. There is no
// I/O, no clock, no thread and no hidden global state: two Inventories fed the same (command, now_ms)
// sequence are identical, which is what the journal, snapshots and the simulation rely on.
//
// Time: apply() first clamps `now_ms` to the latest time it has seen (time never runs backwards inside
// the core), then expires due holds and forgets finished holds past retention, then applies the command.
// Callers that journal commands must journal the clamped time: use effective_now().
//
// REQUIRES: external synchronization (one writer). Views and events point into the Inventory and are
// valid until the next apply() or load().
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/codec.h"
#include "core/command.h"
#include "core/event.h"
#include "core/movement.h"
#include "core/status.h"
#include "core/views.h"

namespace stockd::core {

// What a StockBatch answered, row by row, kept for its ref (a replay returns it again, also after a
// restart: it is in snapshots and rebuilt by replaying the journal). The SKU views of ok rows are not
// kept: they are rendered from the SKUs as they are when the answer is sent.
struct BatchRowResult {
  std::string sku;
  Code code = Code::ok;
  std::string message;      // errors only
  std::int64_t actual = 0;  // precondition_failed: the on_hand found
};
struct BatchAnswer {
  std::string ref;
  bool failed = false;  // an atomic batch with a bad row: nothing applied (HTTP 409)
  std::vector<BatchRowResult> rows;
};

// A command's Status (code, message; ok()) plus what the command did.
struct Outcome : Status {
  bool created = false;        // CreateHold: a new hold (HTTP 201) rather than a replay (200)
  bool changed = false;        // the state changed (false for replays, rejections and no-op ticks)
  std::uint32_t index = kNoIndex;  // the channel, SKU or hold the command acted on
  HoldState hold_state = HoldState::held;
  // insufficient_stock and limit_exceeded: the first short line.
  std::string detail_sku;
  std::int64_t requested = 0;
  std::int64_t available = 0;
  // StockBatch: the answer (ok() is true; the rows carry their own codes). Shared with the core's ref
  // memory, immutable.
  std::shared_ptr<const BatchAnswer> batch;
  bool ok() const { return code == Code::ok; }
};

class Inventory {
 public:
  Inventory();
  ~Inventory();
  Inventory(Inventory&&) noexcept;
  Inventory& operator=(Inventory&&) noexcept;
  Inventory(const Inventory&) = delete;
  Inventory& operator=(const Inventory&) = delete;

  // Applies one command at `now_ms`; appends the events it caused to `events` (may be null).
  Outcome apply(const Command& cmd, std::int64_t now_ms, std::vector<Event>* events);

  // Where apply() appends the movements it causes (movement.h); null (the default): none are kept, but
  // their seqs are still counted, so the seqs do not depend on whether anyone listens. The caller owns
  // the vector and clears it; it stays set until changed.
  void set_movement_sink(std::vector<Movement>* sink);
  std::uint64_t last_movement_seq() const;

  // Optional hints for callers that apply commands in a batch (the engine): each starts memory loads
  // for what apply(cmd) will read and changes nothing, so no result ever depends on them. With the
  // tables far larger than the CPU caches, a hold costs a few dependent memory reads (index slot, then
  // row); issuing them for later commands while applying this one overlaps them. Call
  // prefetch_index() for the command about 2k places ahead and prefetch_rows() for the one k places
  // ahead (k = 4 is a good start); commands that name no SKU or hold are ignored.
  void prefetch_index(const Command& cmd) const;
  void prefetch_rows(const Command& cmd) const;

  // The time apply() would use for `now_ms`: max(now_ms, latest time seen).
  std::int64_t effective_now(std::int64_t now_ms) const;
  std::int64_t now_ms() const;
  // Earliest time at which a Tick would change something (expire or forget); INT64_MAX if never.
  std::int64_t next_due_ms() const;

  // Lookups: kNoIndex when unknown.
  std::uint32_t find_sku(std::string_view name) const;
  std::uint32_t find_channel(std::string_view name) const;
  std::uint32_t find_hold(std::string_view id) const;

  std::size_t channel_count() const;
  std::size_t sku_count() const;
  // The accessors below abort (STOCKD_ASSERT) on an index out of range.
  ChannelView channel(std::uint32_t index) const;  // REQUIRES: index < channel_count()
  SkuView sku(std::uint32_t index) const;  // REQUIRES: index < sku_count()
  std::string_view sku_name(std::uint32_t index) const;
  std::string_view channel_name(std::uint32_t index) const;
  HoldView hold(std::uint32_t index) const;  // REQUIRES: index from find_hold/Outcome/Event
  std::string_view hold_id(std::uint32_t index) const;
  std::uint32_t hold_channel(std::uint32_t index) const;
  // What `channel` could hold of `sku` right now (0 for a frozen channel).
  std::int64_t available(std::uint32_t sku, std::uint32_t channel) const;
  // max(0, on_hand - safety_stock - held).
  std::int64_t available_total(std::uint32_t sku) const;

  // Publications of a listed channel (docs/channels.md), for the pull route and the webhook delivery:
  // the unacknowledged ones with seq > after, in seq order, at most `limit`, coalesced (the latest
  // per SKU). Empty for a direct channel. REQUIRES: channel < channel_count().
  std::vector<PublicationView> publications(std::uint32_t channel, std::uint64_t after, std::size_t limit) const;
  std::uint64_t last_publication_seq(std::uint32_t channel) const;  // 0: none yet
  std::uint64_t acked_publication_seq(std::uint32_t channel) const;

  std::uint64_t last_event_seq() const;
  std::int64_t retention_ms() const;
  std::int64_t low_stock_permille() const;
  Stats stats() const;

  std::size_t batch_ref_count() const;  // StockBatch answers remembered for their ref

  // Snapshot encoding (versioned, kSnapshotFormatVersion). load() replaces *this only on success.
  void save(Writer& out) const;
  bool load(std::string_view data);

  // Checks every internal invariant (bucket sums, held totals, index maps, heap); returns the first
  // broken one or an empty string. Cheap enough for tests after every step, not for the hot path.
  std::string check_invariants() const;

  struct State;  // the tables; defined in inventory_state.h

 private:
  std::unique_ptr<State> s_;
};

}  // namespace stockd::core
