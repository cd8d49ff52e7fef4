// names.h: the SKUs and channels a run works on (created or reused by setup, named by --namespace).
#pragma once
#include <string>
#include <vector>

namespace stockbench {

struct Names {
  std::vector<std::string> skus;
  std::vector<std::string> channels;
};

}  // namespace stockbench
