// differential_gen.h: the random commands of the differential test (cluster_differential_test.cc),
// which applies them to the embedded core and to the cluster store and compares everything.
//
// Commands are in the core's names ("A", "app", "h12"); the test prefixes them for the cluster. The
// generator reads only the core (the reference): for one seed it always produces the same sequence,
// whatever the cluster answers, so a failure replays from its seed and step alone.
//
// Besides plain random commands it aims at the cases the issue named (issue 11, item 6): partial
// confirms (lines with quantities up to what is held, some lines left out, and invalid ones), hold
// replays (same request in another line order; other lines, channel or a sale flag: conflicts),
// max_per_hold, extends, finished holds confirmed and released again, clock jumps past TTLs and past
// the retention period, frozen channels, adjustment refs (replays and conflicts), stock batches (set
// and delta rows, compare-and-set, every row error, atomic or not, ref replays), allocations (fences
// by ratio and by units, pools, preempt, pool close), and "lazy" steps: a hold operation at a time
// when that hold is due and no other hold is, so the cluster must expire it on the way (no sweep
// first) exactly as the core's clock would.
//
// REQUIRES: the core passed to next() has applied every step before (the generator looks at its
// holds, channels and clock).
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/command.h"
#include "core/inventory.h"

namespace stockd::backends::difftest {

// Listing steps acknowledge everything a channel was published so far: core::AckPublications with
// the channel's last seq (the test's cluster side acknowledges every SKU's latest publication).
// The names the test starts with. "D" and "mini" appear during the run (a PutSku or PutChannel creates
// them); "Z" and "ghost" never exist.
inline const std::vector<std::string> kChannels{"app", "tmall", "douyin", "mini"};
inline const std::vector<std::string> kSkus{"A", "B", "C", "D"};
inline const std::string kUnknownSku = "Z";
inline const std::string kUnknownChannel = "ghost";

struct Step {
  enum class Kind : std::uint8_t { command, read_hold };
  Kind kind = Kind::command;
  core::Command command = core::Tick{};
  std::string hold;    // the hold the step names ("" when none): the test compares it afterwards
  bool lazy = false;   // the cluster gets no sweep before it: `hold` is due, and no other hold is
  std::string label;   // what kind of step, for the coverage counts ("confirm_partial", "jump", ...)
};

class Generator {
 public:
  // listings: channels tmall and douyin become listed (and direct again) at random, douyin with a
  // webhook, and "ack" steps acknowledge a listed channel's publications (docs/channels.md).
  Generator(std::uint64_t seed, bool splits, std::int64_t t0_ms, std::int64_t retention_ms, bool listings = false);

  // The next step; advances now_ms() (never backwards: the core clamps time, the cluster takes each
  // node's clock as it is, so the test keeps one clock that only moves forward).
  Step next(const core::Inventory& inv);

  std::int64_t now_ms() const { return now_; }
  void advance(std::int64_t ms) { now_ += ms; }
  // Every hold id used so far, in order of first use.
  const std::vector<std::string>& hold_ids() const { return ids_; }
  std::int64_t pick(std::int64_t lo, std::int64_t hi);
  template <typename T>
  const T& any(const std::vector<T>& v) { return v[static_cast<std::size_t>(pick(0, static_cast<std::int64_t>(v.size()) - 1))]; }

 private:
  Step put_sku(const core::Inventory& inv);
  Step adjust(const core::Inventory& inv);
  Step batch(const core::Inventory& inv);
  Step allocation();
  Step put_channel();
  Step ack(const core::Inventory& inv);
  Step create_hold(const core::Inventory& inv);
  Step replay_hold(const core::Inventory& inv);
  Step confirm(const core::Inventory& inv, bool partial, bool invalid);
  Step release_or_extend(const core::Inventory& inv, bool extend);
  Step lazy(const core::Inventory& inv);
  Step clock(std::int64_t lo_ms, std::int64_t hi_ms, const char* label);

  // A hold id: one the core holds now (held_weight in held_weight + 1), else one it still remembers
  // (3 in 4), else any id used before; "" when there is none.
  std::string some_hold(const core::Inventory& inv, int held_weight);
  std::vector<std::string> held_holds(const core::Inventory& inv) const;
  std::vector<core::HoldLine> hold_lines(const core::Inventory& inv, const std::string& id) const;
  // Moves now_ forward by a millisecond while a held hold already expires at now_ + ttl_ms: the
  // cluster expires holds of the same millisecond in partition order, the core in slot order, and with
  // safety stock short that order decides which bucket gets the units back (see the test's header).
  void avoid_expiry_tie(const core::Inventory& inv, std::int64_t ttl_ms);
  std::int64_t ttl_of(const core::Inventory& inv, const core::CreateHold& c) const;

  std::mt19937_64 rng_;
  bool splits_;
  bool listings_;
  std::int64_t now_;
  std::int64_t retention_ms_;
  int next_id_ = 0;
  int lazy_kind_ = 0;
  std::vector<std::string> ids_;
  std::map<std::string, core::CreateHold> requests_;  // the last request sent per hold id
  std::map<std::pair<std::string, std::string>, std::int64_t> ref_delta_;  // (sku, ref) -> last delta sent
  std::pair<std::string, std::string> last_ref_;                            // (sku, ref) of the latest
  int next_batch_ = 0;
  std::string last_batch_ref_;           // the latest stock batch's ref ("" none)
  std::int64_t last_batch_at_ = 0;       // and when it was sent
};

// One line of text per command, in the core's names, for failure messages and traces.
std::string describe(const core::Command& c);
// The command with every SKU, channel and hold name prefixed (pool names and refs are per SKU already).
core::Command prefixed(core::Command c, const std::string& prefix);

}  // namespace stockd::backends::difftest
