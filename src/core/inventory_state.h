// inventory_state.h: the tables behind Inventory, shared by the files that implement it
// (inventory.cc: dispatch and queries; stock.cc: buckets, sizing, availability events, channels;
// sku.cc: SKUs, adjustments, allocation, pools; holds.cc: the hold lifecycle; inventory_codec.cc:
// snapshots; invariants.cc: self-checks).
//
// Buckets. A SKU's sellable units (on_hand - safety_stock) are split into buckets: one fence per
// fenced channel, one per event pool, and shared stock. Each bucket keeps `free` (units a hold may take
// now) and `held` (units holds took from it). A hold line remembers which buckets it drew from (its
// draws), so release and expiry give units back to the bucket they came from, and confirm consumes
// them there. Invariant: shared_free + sum(free of all buckets) == max(0, on_hand - safety - held).
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "core/event.h"
#include "core/expiry_heap.h"
#include "core/inventory.h"
#include "core/limits.h"
#include "core/name_index.h"

namespace stockd::core {

// A draw's bucket: kShared, or a fence (tag | channel index), or a pool (tag | pool slot).
inline constexpr std::uint32_t kShared = 0;
inline constexpr std::uint32_t kFenceTag = 0x40000000u;
inline constexpr std::uint32_t kPoolTag = 0x80000000u;
inline constexpr std::uint32_t kBucketKeyMask = 0x3fffffffu;

struct Fence {
  std::uint32_t channel = 0;
  std::int64_t ratio_ppb = -1;
  std::int64_t units = -1;
  std::int64_t free = 0;
  std::int64_t held = 0;
  bool active = true;  // false: removed from the allocation, kept only until its held units are gone
};

struct Pool {
  std::string name;
  std::int64_t units = 0;  // the pool's total for the event: sold + held + free never exceeds it
  std::vector<std::uint32_t> channels;
  std::int64_t free = 0;
  std::int64_t held = 0;
  std::int64_t sold = 0;
  bool open = true;
};

struct Allocation {
  std::vector<Fence> fences;
  std::vector<Pool> pools;  // slots are stable: a draw names its pool by slot
  bool preempt = false;
};


struct Draw {
  std::uint32_t bucket = kShared;
  std::int64_t qty = 0;
};

using DrawList = absl::InlinedVector<Draw, 1>;

// A listed channel's exposure on one SKU: units set aside for it, drawn from the buckets in its draw
// order like a hold without a TTL (the draws count in the buckets' `held`). See exposure.cc.
struct Exposure {
  std::uint32_t channel = 0;
  std::int64_t units = 0;       // set aside now (backed by stock)
  std::int64_t published = -1;  // the quantity last published; -1: never published
  std::uint64_t pub_seq = 0;    // that publication's seq (0: none)
  bool stale = false;           // a hold took exposed units: publish again even if the target is the same
  DrawList draws;               // one entry per bucket, adding up to `units`
};
using ExposureList = std::vector<Exposure>;

struct Sku {
  std::string name;
  std::int64_t on_hand = 0;
  std::int64_t safety = 0;
  std::int64_t held = 0;
  std::int64_t exposed = 0;  // sum of the exposures' units
  std::int64_t shared_free = 0;
  std::int64_t max_per_hold = 0;   // 0: no limit
  std::int64_t low_threshold = 0;  // in force
  bool threshold_explicit = false;
  std::uint64_t version = 0;
  std::unique_ptr<Allocation> alloc;  // null: everything is shared
  std::unique_ptr<ExposureList> expo;  // null: no exposure entry (no listed channel yet)
};

struct Channel {
  std::string name;
  std::int64_t priority = 100;
  std::int64_t ttl_s = 0;
  ChannelState state = ChannelState::active;
  FrozenReason frozen_reason = FrozenReason::none;  // none while active
  std::optional<Listing> listing;                   // set: a listed channel
  std::optional<Webhook> webhook;
  std::uint64_t pub_last = 0;   // seq of the channel's latest publication (strictly increasing, from 1)
  std::uint64_t pub_acked = 0;  // highest seq the channel acknowledged
  std::int64_t exposed = 0;     // units exposed to the channel, all SKUs
  std::map<std::uint64_t, std::uint32_t> pending;  // unacknowledged publications: seq -> SKU (latest per SKU)
};


struct Line {
  std::uint32_t sku = 0;
  std::uint16_t first_draw = 0;
  std::uint16_t n_draws = 0;
  std::int64_t qty = 0;
};

using LineList = absl::InlinedVector<Line, 1>;
using RequestedLines = std::vector<std::pair<std::uint32_t, std::int64_t>>;

struct Hold {
  std::string id;
  LineList lines;  // sorted by SKU name: the idempotency comparison is order-free
  DrawList draws;
  std::unique_ptr<RequestedLines> requested;  // the lines as created, once a partial confirm changed them
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t finished_at = 0;
  std::uint32_t channel = 0;
  HoldState state = HoldState::held;
  bool live = false;  // the slot is in use
};

struct Finished {
  std::int64_t at = 0;
  std::uint32_t hold = 0;
};

struct RefRecord {
  std::int64_t at = 0;
  std::string key;  // 4 bytes of SKU index, then the ref
};

struct NameOfRow {
  std::string_view operator()(const Channel& c) const { return c.name; }
  std::string_view operator()(const Sku& s) const { return s.name; }
  std::string_view operator()(const Hold& h) const { return h.id; }
};

// The hold slots, in chunks of kChunk: growing never moves a hold (no copy of millions of them, no
// doubled peak memory) and allocates once per kChunk holds. Slots past size() are pristine Hold{}.
class HoldTable {
 public:
  static constexpr std::size_t kChunk = 1024;

  std::size_t size() const { return size_; }
  Hold& operator[](std::size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const Hold& operator[](std::size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  Hold& emplace_back() {
    if (size_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<Hold[]>(kChunk));
    return (*this)[size_++];
  }
  void resize(std::size_t n) {
    for (std::size_t i = n; i < size_; ++i) (*this)[i] = Hold{};
    while (chunks_.size() * kChunk < n) chunks_.push_back(std::make_unique<Hold[]>(kChunk));
    size_ = n;
  }

  template <typename T, typename Table>
  class Iter {
   public:
    Iter(Table* t, std::size_t i) : t_(t), i_(i) {}
    T& operator*() const { return (*t_)[i_]; }
    Iter& operator++() {
      ++i_;
      return *this;
    }
    bool operator!=(const Iter& o) const { return i_ != o.i_; }

   private:
    Table* t_;
    std::size_t i_;
  };
  Iter<Hold, HoldTable> begin() { return {this, 0}; }
  Iter<Hold, HoldTable> end() { return {this, size_}; }
  Iter<const Hold, const HoldTable> begin() const { return {this, 0}; }
  Iter<const Hold, const HoldTable> end() const { return {this, size_}; }

 private:
  std::vector<std::unique_ptr<Hold[]>> chunks_;
  std::size_t size_ = 0;
};

// NOT movable in practice: the name indexes keep the addresses of the tables (Inventory owns its
// State through a pointer, and load() swaps pointers).
struct Inventory::State {
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  std::int64_t now = 0;
  std::uint64_t last_seq = 0;
  std::uint64_t last_movement_seq = 0;
  std::int64_t retention_ms = limits::kDefaultRetentionMs;
  std::int64_t low_stock_permille = limits::kDefaultLowStockPermille;

  std::vector<Channel> channels;
  std::vector<std::uint32_t> by_priority;  // channel indices, highest priority (smallest number) first
  std::vector<std::uint32_t> listed;       // the listed channels in by_priority order
  NameIndex<std::vector<Channel>, NameOfRow> channel_index{&channels};

  std::vector<Sku> skus;
  NameIndex<std::vector<Sku>, NameOfRow> sku_index{&skus};

  HoldTable holds;                         // slots
  std::vector<std::uint32_t> free_slots;   // reused last-in first-out
  NameIndex<HoldTable, NameOfRow> hold_index{&holds};
  ExpiryHeap expiry;
  std::deque<Finished> finished;           // in finished_at order: forgotten after retention
  std::uint64_t finished_count[4] = {0, 0, 0, 0};  // remembered finished holds, by HoldState

  absl::flat_hash_map<std::string, std::int64_t> refs;  // adjustment ref key -> delta
  std::deque<RefRecord> ref_log;                         // in time order: forgotten after retention
  // StockBatch answers by ref, forgotten after retention like adjustment refs (key: the ref).
  absl::flat_hash_map<std::string, std::shared_ptr<const BatchAnswer>> batch_refs;
  std::deque<RefRecord> batch_ref_log;

  std::vector<Event>* events = nullptr;  // sink of the apply() in progress
  std::vector<std::int64_t> scratch_avail;  // per-channel availability before a change
  std::vector<std::uint32_t> due;           // housekeep(): the holds expiring now, in order

  // inventory.cc
  void emit(Event e);
  Event& emit_new(EventType type);  // the same, built in place: fill in the fields at once
  Event discarded;                  // emit_new()'s target when there is no sink
  std::vector<Movement>* movements = nullptr;  // set_movement_sink()
  Movement discarded_movement;                 // move()'s target when there is no sink
  // Records one change of SKU `sku`'s figures; fill in channel, hold, ref and reason on the result.
  Movement& move(MovementCause cause, std::uint32_t sku, std::int64_t on_hand_delta, std::int64_t held_delta);
  void housekeep(Outcome& out);
  std::int64_t next_due() const;

  // stock.cc
  Outcome put_channel(const PutChannel& c);
  Outcome put_sku(const PutSku& c);
  // put_sku with the stock_adjusted event's reason and ref given (PUT /v1/skus: "set", none).
  Outcome set_stock(const PutSku& c, MovementCause cause, std::string_view reason, std::string_view ref);
  Outcome adjust(const Adjust& c);
  Outcome set_allocation(const SetAllocation& c);
  Outcome close_pool(const ClosePool& c);
  void rebuild_priority_order();
  void resize(Sku& s);
  std::int64_t avail(const Sku& s, std::uint32_t channel) const;
  std::int64_t total_free(const Sku& s) const;
  std::int64_t sellable(const Sku& s) const;  // max(0, on_hand - safety - held): low_stock, out_of_stock
  void capture(const Sku& s);  // remember per-channel availability and total before a change
  void publish(std::uint32_t sku, std::int64_t total_before, std::int64_t threshold_before);
  Fence* fence_of(Sku& s, std::uint32_t channel) const;  // null: no fence (active or not) for the channel
  const Fence* fence_of(const Sku& s, std::uint32_t channel) const {
    return fence_of(const_cast<Sku&>(s), channel);
  }
  Pool& pool_of(Sku& s, std::uint32_t bucket) const;
  // REQUIRES: qty > 0 and avail(s, channel) >= qty (asserted after the draws).
  void take(Sku& s, std::uint32_t channel, std::int64_t qty, DrawList& draws, std::uint16_t* n);
  // REQUIRES: `d` is (part of) a draw of a held hold on `s` (or of an exposure, with counter
  // &Sku::exposed): its bucket exists and holds d.qty.
  void give_back(Sku& s, const Draw& d, std::int64_t Sku::*counter = &Sku::held);
  std::int64_t bucket_avail(const Sku& s, std::uint32_t channel) const;  // avail() without state or exposure
  void draw_buckets(Sku& s, std::uint32_t channel, std::int64_t qty, DrawList& draws, std::uint16_t* n);
  void consume(Sku& s, const Draw& d);
  void check_sku(const Sku& s) const;  // aborts (STOCKD_ASSERT) when one of the SKU's invariants is broken
  std::int64_t check_buckets(const Sku& s) const;  // check_sku()'s part for a SKU with an allocation
  // The view of one SKU's allocation and the channels that the rules of allocation_policy.h read.
  struct AllocView {
    const State& st;
    const Sku& s;
    bool has_fence(std::uint32_t c) const {
      const Fence* f = st.fence_of(s, c);
      return f && f->active;
    }
    std::size_t pool_slots() const { return s.alloc ? s.alloc->pools.size() : 0; }
    bool pool_open(std::size_t slot) const { return s.alloc->pools[slot].open; }
    bool pool_lists(std::size_t slot, std::uint32_t c) const {
      const auto& chs = s.alloc->pools[slot].channels;
      return std::find(chs.begin(), chs.end(), c) != chs.end();
    }
    bool preempt() const { return s.alloc && s.alloc->preempt; }
    std::int64_t priority(std::uint32_t c) const { return st.channels[c].priority; }
    const std::vector<std::uint32_t>& by_priority() const { return st.by_priority; }
  };

  // batch.cc
  Outcome stock_batch(const StockBatch& c);

  // exposure.cc
  Exposure* exposure_of(Sku& s, std::uint32_t channel) const;
  const Exposure* exposure_of(const Sku& s, std::uint32_t channel) const;
  bool can_draw(const Sku& s, std::uint32_t channel, std::uint32_t bucket) const;
  bool expose(std::uint32_t sku);  // recomputes every listed channel's exposure of the SKU; true: changed
  void expose_all();               // expose() for every SKU (a channel rule changed)
  void take_exposed(Sku& s, std::uint32_t channel, std::int64_t& qty, DrawList& draws, std::uint16_t* n);
  void release_exposure(Sku& s, Exposure& e, std::int64_t qty);
  void publish_quantity(std::uint32_t sku, Exposure& e, std::int64_t qty);
  void moved_exposure(std::uint32_t sku, std::uint32_t channel, std::int64_t delta);
  void cover_deficit(std::uint32_t sku);  // after stock fell: cut exposures to what exists
  void drop_listing(std::uint32_t channel);
  Outcome ack_publications(const AckPublications& c);

  // holds.cc
  Outcome create_hold(const CreateHold& c);
  Outcome confirm_hold(const ConfirmHold& c);
  Outcome release_hold(const ReleaseHold& c);
  Outcome extend_hold(const ExtendHold& c);
  void finish(std::uint32_t h, HoldState state, EventType type);
  void forget(std::uint32_t h);
  std::uint32_t new_slot();
};

}  // namespace stockd::core
