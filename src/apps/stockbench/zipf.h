// zipf.h: Zipf-distributed ranks 0..n-1 (rank r drawn with probability proportional to 1/(r+1)^s),
// by binary search in a precomputed CDF: O(n) memory once, O(log n) per draw.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace stockbench {

class Zipf {
 public:
  // REQUIRES: n >= 1, s >= 0 (s = 0 is uniform).
  Zipf(std::uint32_t n, double s) : cdf_(n) {
    double sum = 0;
    for (std::uint32_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i) + 1.0, s));
    for (auto& c : cdf_) c /= sum;
    cdf_.back() = 1.0;
  }
  template <class Rng>
  std::uint32_t operator()(Rng& rng) const {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    return static_cast<std::uint32_t>(std::upper_bound(cdf_.begin(), cdf_.end() - 1, u) - cdf_.begin());
  }
  double probability(std::uint32_t rank) const { return cdf_[rank] - (rank ? cdf_[rank - 1] : 0.0); }

 private:
  std::vector<double> cdf_;
};

}  // namespace stockbench
