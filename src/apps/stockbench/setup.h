// setup.h: the HTTP API calls around a run: creating its channels and SKUs before, and the
// invariant check after (against GET /v1/skus, every page).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "apps/stockbench/names.h"
#include "apps/stockbench/options.h"
#include "client/endpoint.h"

namespace stockbench {

// Creates the run's channels and SKUs, or resets them when an earlier run of the same --namespace
// made them (flash-sale: one channel, one SKU with --units available; mixed: the channels, the SKUs
// with a fence for channel 0 and a pool for channel 1). The API cannot delete channels or SKUs, so
// fixed names keep repeated runs from piling them up. The hot SKU's on_hand is set to --units plus
// what is still held on it (an earlier run with --no-cleanup): on_hand cannot be set below held, and
// the flash-sale check (held + units - on_hand = sold) holds either way. Uses a few parallel
// keep-alive connections. False with *error naming the failed request.
bool setup_run(const Options& opt, const stockd::client::Endpoint& api, Names* names, std::string* error);

struct SkuRow {
  std::string sku;
  std::int64_t on_hand = 0, safety_stock = 0, held = 0, available = 0;
  std::int64_t exposed = 0;  // set aside for listed channels (0 when the server shows none)
};

struct CheckResult {
  std::uint64_t skus_checked = 0;
  std::vector<std::string> violations;  // each names the SKU, the rule and the figures
  std::vector<SkuRow> run_skus;         // the rows of this run's SKUs (in Names order; missing: sku "")
  std::string error;                    // the check could not be made
  bool ok() const { return error.empty() && violations.empty(); }
};

// Reads every SKU and checks held <= on_hand, 0 <= held, available = max(0, on_hand - safety - held).
CheckResult check_invariants(const Options& opt, const stockd::client::Endpoint& api, const Names& names);

// The contract's rule for the top-level available figure.
// max(0, on_hand - safety_stock - held - exposed): units exposed to listed channels are not available
// to the others (docs/channels.md).
std::int64_t expected_available(std::int64_t on_hand, std::int64_t safety_stock, std::int64_t held,
                                std::int64_t exposed);

}  // namespace stockbench
