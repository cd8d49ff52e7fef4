// batch.h: the rows of a stock batch (POST /v1/stock/batches) decided against the SKUs' figures: the
// one rule both stores use. The embedded core decides and applies in Inventory::apply (batch.cc); the
// cluster store reads the figures from Redis, decides here, and has its functions check that the
// figures it decided on still hold while they lock and apply the planned changes (docs/cluster.md
// "Stock batches"). Pure: no clock, no I/O.
//
// A row fails with:
//   invalid_request      its own syntax (validate_row), or on_hand would pass 10^15
//   unknown_sku          a delta or an expect_on_hand on a SKU that does not exist
//   precondition_failed  expect_on_hand differs from on_hand (actual: the on_hand found)
//   invalid_state        on_hand would fall below what is held (negative included, as adjustments)
// A row is decided against the state as the rows before it leave it: a SKU named twice sees its first
// row's result, a SKU created by a set row exists for the rows after it.
#pragma once
#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "core/command.h"
#include "core/inventory.h"

namespace stockd::core {

// A SKU's figures before the batch.
struct BatchFigures {
  bool exists = false;
  std::int64_t on_hand = 0;
  std::int64_t held = 0;
};

// What the batch's passed rows do to one SKU.
struct BatchSkuPlan {
  BatchFigures before;       // as looked up
  std::int64_t on_hand = 0;  // after its passed rows
  bool passed = false;       // at least one of its rows passed
  bool moved = false;        // a passed row changed on_hand (rows may cancel out: it still changed)
};

// Keys view the names in the StockBatch's rows: the plan lives no longer than the command.
using BatchPlan = absl::flat_hash_map<std::string_view, BatchSkuPlan>;

// Decides every row of `c` whose result in *answer is still ok (answer->rows has one entry per row,
// its sku set; a row the caller failed already is left as it is and changes nothing), looking each
// SKU's figures up once with `lookup`. *plan gets every SKU of a row that reached decide().
void plan_stock_batch(const StockBatch& c, const std::function<BatchFigures(std::string_view)>& lookup,
                      BatchAnswer* answer, BatchPlan* plan);

// An atomic batch with a failed row applies nothing: marks answer->failed and every row that passed
// itself "not applied" (invalid_state). False (and no change) when no row failed or !c.atomic.
bool fail_atomic_batch(const StockBatch& c, BatchAnswer* answer);

}  // namespace stockd::core
