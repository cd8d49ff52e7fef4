// histogram.h: a log-linear latency histogram in the manner of HdrHistogram.
//
// Debian 12 packages HdrHistogram only for Java and Go (no HdrHistogram_c), so this is the small
// part stockbench needs. Values (nanoseconds) below 2^kSubBits are counted exactly; above, each power
// of two [2^m, 2^(m+1)) is cut into 2^(kSubBits-1) equal buckets, so a reported percentile is at most
// 1/128 (0.8 %) above the true value: the same guarantee as an HDR histogram with 2 significant
// digits. Recording is an index computation and an increment: no allocation, no lock. One histogram
// per thread, merged at the end.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>

namespace stockbench {

class Histogram {
 public:
  static constexpr int kSubBits = 8;
  static constexpr std::uint64_t kSubCount = 1ULL << kSubBits;        // exact values below this
  static constexpr std::uint64_t kHalf = kSubCount / 2;                // buckets per power of two
  static constexpr std::size_t kBuckets = kSubCount + (64 - kSubBits) * kHalf;

  void record(std::uint64_t value);
  void merge(const Histogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t min() const { return count_ ? min_ : 0; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  // The smallest bucket bound that at least `percentile` % of the values are at or below (the
  // bucket's highest value, never above max()). 0 when empty. REQUIRES: 0 <= percentile <= 100.
  std::uint64_t percentile(double percentile) const;

  static std::size_t index_of(std::uint64_t value);
  static std::uint64_t highest_in_bucket(std::size_t index);

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace stockbench
