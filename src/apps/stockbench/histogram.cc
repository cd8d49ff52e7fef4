#include "apps/stockbench/histogram.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

namespace stockbench {

std::size_t Histogram::index_of(std::uint64_t v) {
  if (v < kSubCount) return static_cast<std::size_t>(v);
  int msb = 63 - std::countl_zero(v);        // v in [2^msb, 2^(msb+1)), msb >= kSubBits
  int shift = msb - (kSubBits - 1);          // v >> shift in [kHalf, kSubCount)
  return static_cast<std::size_t>(shift) * kHalf + static_cast<std::size_t>(v >> shift);
}

std::uint64_t Histogram::highest_in_bucket(std::size_t index) {
  if (index < kSubCount) return index;
  std::size_t shift = index / kHalf - 1;
  std::uint64_t sub = index - shift * kHalf;  // in [kHalf, kSubCount)
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(std::uint64_t v) {
  ++counts_[index_of(v)];
  ++count_;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  sum_ += v;
}

void Histogram::merge(const Histogram& o) {
  for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
  count_ += o.count_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
  sum_ += o.sum_;
}

std::uint64_t Histogram::percentile(double p) const {
  assert(p >= 0 && p <= 100);
  if (count_ == 0) return 0;
  auto target = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  target = std::clamp<std::uint64_t>(target, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= target) return std::min(highest_in_bucket(i), max_);
  }
  return max_;
}

}  // namespace stockbench
