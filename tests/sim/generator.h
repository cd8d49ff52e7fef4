// generator.h: random commands for the simulation, drawn from a seed so that any run can be replayed.
// The generator looks at the reference model (names that exist, holds that are held) to make commands
// that mostly hit something; a few are deliberately wrong (unknown names, malformed, conflicting).
// Each seed also picks a profile (how many SKUs and channels, how large the stock, how time moves), so
// different seeds stress different corners.
#pragma once
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/command.h"
#include "model.h"

namespace stockd::sim {

// splitmix64: tiny, fast, and the same on every platform (std distributions are not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [lo, hi].
  std::int64_t in(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  bool percent(int p) { return in(0, 99) < p; }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(in(0, static_cast<std::int64_t>(v.size()) - 1))];
  }

 private:
  std::uint64_t state_;
};

// The contract's limits (docs/api.md, "Conventions") a generated value can sit at. The numbers are written
// out in generator.cc, not read from limits.h: the simulation checks the code against the documents.
enum class Edge : std::uint8_t {
  on_hand,      // PutSku on_hand 10^15
  safety,       // PutSku safety_stock 10^15
  threshold,    // PutSku low_stock_threshold 10^15
  delta,        // Adjust |delta| 10^15
  on_hand_sum,  // Adjust taking on_hand to 10^15
  fence_units,  // SetAllocation fence units 10^15
  pool_units,   // SetAllocation pool units 10^15
  qty_max,      // hold line qty 10^9
  qty_min,      // hold line qty 1
  ttl_min,      // hold ttl_s 1
  ttl_max,      // hold, extend or channel ttl 30 days (2,592,000 s)
  id_len,       // hold id of 128 characters
  lines,        // hold of 100 lines
  priority,     // channel priority 1,000,000
};
inline constexpr int kEdgeKinds = 14;
const char* edge_name(Edge e);

// The last command sat at a limit: past == false, the limit itself or just inside it (validation must
// accept it); past == true, just beyond it (validation must refuse it).
struct EdgeMark {
  Edge kind;
  bool past;
};

struct Profile {
  int skus = 4;
  int channels_max = 8;
  std::int64_t stock_max = 60;
  std::int64_t qty_max = 15;
  int big_jump_percent = 2;      // time jumps of hours (retention, long expiries)
  bool retention_zero = false;   // Configure may set retention 0
  int edge_percent = 4;          // of the commands that have a limit: a value at or just past it
  bool wide = false;             // 100+ SKUs, so that holds of 100 lines can be created
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed);
  // The next command and the wall-clock time it is sent at (which may go backwards).
  std::pair<std::int64_t, core::Command> next(const Model& m);
  const Profile& profile() const { return profile_; }
  // Whether the command next() returned last sits at a limit, and which.
  const std::optional<EdgeMark>& edge() const { return edge_; }

 private:
  std::int64_t advance_clock();
  core::Command setup(const Model& m);
  core::Command new_hold(const Model& m);
  core::Command replay(const Model& m);
  core::Command confirm(const Model& m);
  core::Command release_or_extend(const Model& m, bool extend);
  core::Command adjust(const Model& m);
  core::Command stock_batch(const Model& m);
  core::Command put_sku(const Model& m);
  core::Command allocation(const Model& m);
  core::Command close_pool(const Model& m);
  core::Command put_channel(const Model& m);
  core::Command configure();
  core::Command malformed(const Model& m);
  core::Command unknown(const Model& m);
  std::string some_hold_id(const Model& m, bool prefer_held);
  std::string some_sku(const Model& m);
  std::string some_channel(const Model& m);
  bool at_edge() { return rng_.percent(profile_.edge_percent); }
  std::int64_t edge_high(Edge kind, std::int64_t max);  // max - [0, 2], or max + [1, 2] (past)
  std::int64_t edge_low(Edge kind, std::int64_t min);   // min, or min - 1 (past)
  void hold_edge(const Model& m, core::CreateHold& c);
  void adjust_edge(const Model& m, core::Adjust& c);

  Rng rng_;
  Profile profile_;
  std::int64_t wall_ms_ = 1'700'000'000'000;
  std::uint64_t next_id_ = 0;
  std::size_t setup_step_ = 0;
  std::deque<core::CreateHold> past_;  // recent hold requests, accepted or not (for replays)
  std::deque<core::Adjust> past_adjusts_;  // recent adjustments with a ref (for retries)
  std::deque<std::string> past_batch_refs_;  // recent batch refs (for replays)
  std::optional<EdgeMark> edge_;
};

// One line per command, for failure reports and traces.
std::string describe(const core::Command& cmd);

}  // namespace stockd::sim
