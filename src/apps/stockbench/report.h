// report.h: the end of a run as text (for people) or JSON (--json, for scripts and bench/compare).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "apps/stockbench/options.h"
#include "apps/stockbench/setup.h"
#include "apps/stockbench/workload.h"

namespace stockbench {

struct Summary {
  const Options* opt = nullptr;
  std::string target;           // host:port the load went to
  double elapsed_s = 0;
  Stats stats;                  // merged
  // flash-sale
  std::int64_t sold = 0, expected_sold = 0;
  std::uint64_t rejected = 0;
  // every check that failed, in words; empty when the run is correct
  std::vector<std::string> failures;
  std::vector<std::string> notes;
  CheckResult invariants;
  bool checked = false;
};

// "812 us", "2.31 ms", "1.20 s" from nanoseconds.
std::string format_latency(std::uint64_t ns);
std::string render_text(const Summary& s);
nlohmann::json render_json(const Summary& s);
// The progress line printed each second.
std::string progress_line(double t_s, std::uint64_t done, std::uint64_t done_before, double interval_s,
                          std::uint64_t failed, std::uint64_t sold, const Options& opt);

}  // namespace stockbench
