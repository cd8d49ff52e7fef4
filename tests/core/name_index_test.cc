// NameIndex (open addressing, backward-shift erase) against std::unordered_map under random churn:
// every name indexed is found at its row, every name erased is gone, sizes agree.
#include "core/name_index.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace stockd::core {
namespace {

struct Row {
  std::string name;
};
struct NameOf {
  std::string_view operator()(const Row& r) const { return r.name; }
};

TEST(NameIndexTest, AgreesWithAMapUnderChurn) {
  std::vector<Row> rows;
  NameIndex<std::vector<Row>, NameOf> index(&rows);
  std::unordered_map<std::string, std::uint32_t> model;
  std::vector<std::uint32_t> free_rows;
  std::mt19937_64 rng(7);
  for (int step = 0; step < 200'000; ++step) {
    std::string name = "n" + std::to_string(rng() % 5'000);
    auto it = model.find(name);
    if (it == model.end()) {
      std::uint32_t row;
      if (!free_rows.empty()) {
        row = free_rows.back();
        free_rows.pop_back();
      } else {
        row = static_cast<std::uint32_t>(rows.size());
        rows.emplace_back();
      }
      rows[row].name = name;
      ASSERT_TRUE(index.insert(row));
      model.emplace(name, row);
    } else if (rng() % 2 == 0) {
      ASSERT_EQ(index.find(name), it->second);
      Row dup{name};
      rows.push_back(dup);
      EXPECT_FALSE(index.insert(static_cast<std::uint32_t>(rows.size() - 1))) << "a name is indexed once";
      rows.pop_back();
    } else {
      index.erase(it->second);
      rows[it->second].name.clear();
      free_rows.push_back(it->second);
      model.erase(it);
      ASSERT_EQ(index.find(name), kNoIndex);
    }
    ASSERT_EQ(index.size(), model.size());
    if (step % 10'000 == 0) {
      for (const auto& [n, row] : model) ASSERT_EQ(index.find(n), row) << n;
    }
  }
  for (const auto& [n, row] : model) ASSERT_EQ(index.find(n), row) << n;
  EXPECT_EQ(index.find("absent"), kNoIndex);
}

}  // namespace
}  // namespace stockd::core
