// generator.h: random commands for the simulation, drawn from a seed so that any run can be replayed.
// The generator looks at the reference model (names that exist, holds that are held) to make commands
// that mostly hit something; a few are deliberately wrong (unknown names, malformed, conflicting).
// Each seed also picks a profile (how many SKUs and channels, how large the stock, how time moves), so
// different seeds stress different corners.
#pragma once
#include <cstdint>
#include <deque>
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

struct Profile {
  int skus = 4;
  int channels_max = 8;
  std::int64_t stock_max = 60;
  std::int64_t qty_max = 15;
  int big_jump_percent = 2;      // time jumps of hours (retention, long expiries)
  bool retention_zero = false;   // Configure may set retention 0
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed);
  // The next command and the wall-clock time it is sent at (which may go backwards).
  std::pair<std::int64_t, core::Command> next(const Model& m);
  const Profile& profile() const { return profile_; }

 private:
  std::int64_t advance_clock();
  core::Command setup(const Model& m);
  core::Command new_hold(const Model& m);
  core::Command replay(const Model& m);
  core::Command confirm(const Model& m);
  core::Command release_or_extend(const Model& m, bool extend);
  core::Command adjust(const Model& m);
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

  Rng rng_;
  Profile profile_;
  std::int64_t wall_ms_ = 1'700'000'000'000;
  std::uint64_t next_id_ = 0;
  std::size_t setup_step_ = 0;
  std::deque<core::CreateHold> past_;  // recent hold requests, accepted or not (for replays)
};

// One line per command, for failure reports and traces.
std::string describe(const core::Command& cmd);

}  // namespace stockd::sim
