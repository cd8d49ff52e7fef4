// names.h: the SKUs and channels a run works on (created by setup, named by the run id).
#pragma once
#include <string>
#include <vector>

namespace stockbench {

struct Names {
  std::vector<std::string> skus;
  std::vector<std::string> channels;
};

}  // namespace stockbench
