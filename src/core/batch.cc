// Stock batches (POST /v1/stock/batches): many rows of "set on_hand" or "add delta", each optionally a
// compare-and-set on on_hand, in one command and so in one journal record.
//
// Two passes. The first (plan_stock_batch, batch.h: the rule both stores use) decides every row against
// the state as the rows before it leave it, without changing anything: a planned on_hand per SKU named
// so far stands in for the change. The second applies the rows that passed, in order, through
// set_stock() (the same code as PUT /v1/skus, so sizing, thresholds and availability events are the
// same), unless the batch is atomic and a row failed: then nothing is applied and the rows that passed
// report that the batch failed. A batch with a ref is remembered with its answer until the retention
// period has passed.
#include "core/batch.h"

#include <string>

#include "core/assert.h"
#include "core/inventory_state.h"

namespace stockd::core {
namespace {

// The verdict of one row against `on_hand` (`exists`: the SKU exists at this point of the batch).
// On success *next is the row's new on_hand.
void decide(const BatchRow& row, bool exists, std::int64_t on_hand, std::int64_t held, BatchRowResult* res,
            std::int64_t* next) {
  auto fail = [&](Code code, std::string message) {
    res->code = code;
    res->message = std::move(message);
  };
  if (!exists && (!row.set || row.expect_on_hand)) {
    return fail(Code::unknown_sku, "unknown sku " + row.sku);
  }
  if (row.expect_on_hand && *row.expect_on_hand != on_hand) {
    res->actual = on_hand;
    return fail(Code::precondition_failed, "expect_on_hand " + std::to_string(*row.expect_on_hand) +
                                               " but on_hand is " + std::to_string(on_hand));
  }
  // |value| <= 10^15 and on_hand <= 10^15 (validate_row, check_sku): the sum cannot overflow.
  std::int64_t after = row.set ? row.value : on_hand + row.value;
  if (after > limits::kOnHandMax) {
    return fail(Code::invalid_request, "on_hand would exceed " + std::to_string(limits::kOnHandMax));
  }
  if (after < held) {
    return fail(Code::invalid_state, "on_hand would be " + std::to_string(after) + ", below the " +
                                         std::to_string(held) + " units held");
  }
  *next = after;
}

}  // namespace

void plan_stock_batch(const StockBatch& c, const std::function<BatchFigures(std::string_view)>& lookup,
                      BatchAnswer* answer, BatchPlan* plan) {
  STOCKD_ASSERT(answer->rows.size() == c.rows.size());
  plan->reserve(plan->size() + c.rows.size());
  for (std::size_t i = 0; i < c.rows.size(); ++i) {
    const BatchRow& row = c.rows[i];
    BatchRowResult& res = answer->rows[i];
    if (res.code != Code::ok) continue;
    if (validate_row(row, i, &res.message) != Code::ok) {
      res.code = Code::invalid_request;
      continue;
    }
    auto [it, fresh] = plan->try_emplace(std::string_view(row.sku));
    BatchSkuPlan& p = it->second;
    if (fresh) {
      p.before = lookup(row.sku);
      p.on_hand = p.before.on_hand;
    }
    std::int64_t next = 0;
    decide(row, p.before.exists || p.passed, p.on_hand, p.before.held, &res, &next);
    if (res.code != Code::ok) continue;
    p.moved = p.moved || next != p.on_hand || !(p.before.exists || p.passed);
    p.on_hand = next;
    p.passed = true;
  }
}

bool fail_atomic_batch(const StockBatch& c, BatchAnswer* answer) {
  if (!c.atomic) return false;
  std::size_t first_failed = 0;
  while (first_failed < answer->rows.size() && answer->rows[first_failed].code == Code::ok) ++first_failed;
  if (first_failed == answer->rows.size()) return false;
  answer->failed = true;
  std::string why = "not applied: row " + std::to_string(first_failed) + " of this atomic batch failed";
  for (BatchRowResult& res : answer->rows) {
    if (res.code != Code::ok) continue;
    res.code = Code::invalid_state;
    res.message = why;
  }
  return true;
}

Outcome Inventory::State::stock_batch(const StockBatch& c) {
  Outcome out;
  if (!c.ref.empty()) {
    if (auto it = batch_refs.find(c.ref); it != batch_refs.end()) {
      out.batch = it->second;  // a replay: the first answer
      return out;
    }
  }
  auto answer = std::make_shared<BatchAnswer>();
  answer->ref = c.ref;
  answer->rows.resize(c.rows.size());
  for (std::size_t i = 0; i < c.rows.size(); ++i) answer->rows[i].sku = c.rows[i].sku;
  BatchPlan plan;
  plan_stock_batch(
      c,
      [&](std::string_view sku) {
        std::uint32_t idx = sku_index.find(sku);
        return idx == kNoIndex ? BatchFigures{} : BatchFigures{true, skus[idx].on_hand, skus[idx].held};
      },
      answer.get(), &plan);
  if (!fail_atomic_batch(c, answer.get())) {
    std::string_view reason = stock_reason_name(c.reason);
    for (std::size_t i = 0; i < c.rows.size(); ++i) {
      if (answer->rows[i].code != Code::ok) continue;
      const BatchRow& row = c.rows[i];
      std::uint32_t idx = sku_index.find(row.sku);
      std::int64_t next = row.set ? row.value : skus[idx].on_hand + row.value;  // idx known: decide()
      if (idx != kNoIndex && skus[idx].on_hand == next) continue;  // nothing changes: no event, no version
      PutSku set;
      set.sku = row.sku;
      set.on_hand = next;
      Outcome o = set_stock(set, MovementCause::batch, reason, c.ref);
      STOCKD_ASSERT(o.ok());  // decide() checked what set_stock() refuses (below held)
      out.changed = true;
    }
  }
  if (!c.ref.empty()) {
    batch_refs.emplace(c.ref, answer);
    batch_ref_log.push_back(RefRecord{now, c.ref});
    out.changed = true;
  }
  out.batch = std::move(answer);
  return out;
}

}  // namespace stockd::core
