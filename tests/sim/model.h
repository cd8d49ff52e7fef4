// model.h: the reference model of the simulation: the rules of docs/allocation.md written again, as
// plainly as possible, without any code of src/core (only its command and enum types, which are the
// input language). Names instead of indexes wherever the rules speak of names, linear scans instead
// of indexes, no attention to speed. The simulation runs it beside the core and compares everything.
//
// The one piece of core layout the model copies on purpose is the hold slot (the index a hold gets):
// it is observable (Outcome::index, events) and it breaks ties between holds that expire in the same
// millisecond, so the model hands out slots the documented way (forgotten slots are reused, last
// forgotten first) and the simulation checks that the core does the same.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/command.h"
#include "core/event.h"
#include "core/status.h"

namespace stockd::sim {

using core::Code;
using core::EventType;
using core::HoldState;

struct MOutcome {
  Code code = Code::ok;
  bool created = false;
  bool changed = false;
  std::uint32_t index = core::kNoIndex;
  HoldState state = HoldState::held;
  std::string detail_sku;
  std::int64_t requested = 0;
  std::int64_t available = 0;
  // StockBatch: each row's (code, actual), and whether an atomic batch failed.
  std::vector<std::pair<Code, std::int64_t>> rows;
  bool batch_failed = false;
};

// A StockBatch answer kept for its ref.
struct MBatchAnswer {
  std::vector<std::pair<Code, std::int64_t>> rows;
  bool failed = false;
  std::int64_t at = 0;
};

// Events by name: the simulation turns the core's indexes into names to compare.
struct MEvent {
  EventType type = EventType::availability;
  std::int64_t at_ms = 0;
  std::string sku;
  std::string channel;
  std::uint32_t hold = core::kNoIndex;  // slot
  std::int64_t available = 0;
  std::int64_t threshold = 0;
  std::int64_t on_hand = 0;
  std::int64_t delta = 0;
  std::string reason;
  std::string ref;
  bool operator==(const MEvent&) const = default;
};

struct MChannel {
  std::string name;
  std::int64_t priority = 100;
  std::int64_t ttl_s = 900;
  bool frozen = false;
};

struct MFence {
  std::int64_t ratio_ppb = -1;
  std::int64_t units = -1;
  std::int64_t free = 0;
  std::int64_t held = 0;
  bool active = true;  // in the allocation; an inactive fence only waits for its held units
};

struct MPool {
  std::string name;
  std::int64_t units = 0;
  std::vector<int> channels;
  std::int64_t free = 0;
  std::int64_t held = 0;
  std::int64_t sold = 0;
  bool open = true;
};

struct MSku {
  std::string name;
  std::int64_t on_hand = 0;
  std::int64_t safety = 0;
  std::int64_t held = 0;
  std::int64_t shared = 0;
  std::int64_t max_per_hold = 0;
  std::int64_t threshold = 0;
  bool threshold_explicit = false;
  std::uint64_t version = 0;
  bool has_alloc = false;
  bool preempt = false;
  std::map<int, MFence> fences;  // by channel index
  std::vector<MPool> pools;      // by slot
  // Bookkeeping for the simulation's own checks (not part of the rules).
  __int128 received = 0;   // every unit ever put on hand (increases by set or adjust; 10^15 at a time)
  __int128 confirmed = 0;  // every unit ever sold
};

enum class Bucket { shared, fence, pool };

struct MDraw {
  Bucket bucket = Bucket::shared;
  int key = 0;  // channel index of a fence, slot of a pool
  std::int64_t qty = 0;
};

struct MLine {
  std::string sku;
  std::int64_t qty = 0;
  std::vector<MDraw> draws;
};

struct MHold {
  std::string id;
  int channel = 0;
  std::vector<MLine> lines;
  std::vector<core::HoldLine> requested;  // as created (what a replay is compared with)
  HoldState state = HoldState::held;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t finished_at = 0;
  std::uint32_t slot = 0;
};

class Model {
 public:
  MOutcome apply(const core::Command& cmd, std::int64_t now_ms, std::vector<MEvent>* events);

  // Queries, by name: nullopt / -1 when unknown.
  int channel_index(const std::string& name) const;
  int sku_index(const std::string& name) const;
  const MHold* hold(const std::string& id) const;
  std::int64_t available(int sku, int channel) const;
  std::int64_t total_free(const MSku& s) const;

  std::int64_t now = 0;
  std::uint64_t seq = 0;
  std::int64_t retention_ms = 24LL * 3600 * 1000;
  std::int64_t low_stock_permille = 100;
  std::vector<MChannel> channels;
  std::vector<MSku> skus;
  std::map<std::string, MHold> holds;
  std::deque<std::string> finished;  // ids of finished holds, in the order they finished
  std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, std::int64_t>> refs;  // (sku, ref) -> (delta, at)
  std::map<std::string, MBatchAnswer> batch_refs;  // StockBatch ref -> its answer
  std::vector<bool> slot_used;
  std::vector<std::uint32_t> free_slots;
  std::int64_t expired_units = 0;  // every unit given back by expiry

 private:
  // model_stock.cc
  MOutcome put_channel(const core::PutChannel& c);
  MOutcome put_sku(const core::PutSku& c);
  MOutcome adjust(const core::Adjust& c);
  MOutcome set_allocation(const core::SetAllocation& c);
  MOutcome close_pool(const core::ClosePool& c);
  MOutcome stock_batch(const core::StockBatch& c);
  void resize(MSku& s);
  void take(MSku& s, int channel, std::int64_t qty, std::vector<MDraw>& draws);
  void give_back(MSku& s, const MDraw& d);
  void consume(MSku& s, const MDraw& d);
  std::vector<std::int64_t> all_available(int sku) const;
  void publish(int sku, const std::vector<std::int64_t>& before, std::int64_t total_before,
               std::int64_t threshold_before);
  void emit(MEvent e);

  // model_holds.cc
  MOutcome create_hold(const core::CreateHold& c);
  MOutcome confirm_hold(const core::ConfirmHold& c);
  MOutcome release_hold(const core::ReleaseHold& c);
  MOutcome extend_hold(const core::ExtendHold& c);
  void finish(MHold& h, HoldState state);
  bool housekeep();
  std::uint32_t new_slot();

  std::vector<MEvent>* events_ = nullptr;
};

// The contract's syntax rules, written again: true when `cmd` is well formed.
bool model_valid(const core::Command& cmd);

}  // namespace stockd::sim
