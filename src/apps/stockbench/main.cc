// stockbench: load generator and correctness checker for a running stockd. See docs/stockbench.md.
// Exit status: 0 the run was correct, 1 a check failed (oversold, undersold, invariant broken),
// 2 usage, 3 setup or connection failure.
#include <chrono>
#include <iostream>
#include <thread>

#include "apps/stockbench/driver.h"
#include "apps/stockbench/options.h"
#include "apps/stockbench/report.h"
#include "apps/stockbench/setup.h"

namespace stockbench {
namespace {

constexpr double kExpirySlackS = 1.5;  // docs/api.md: units return within one second of expires_at
constexpr std::uint32_t kCleanupPipeline = 16;

void check_flash_sale(const Options& o, Summary& s) {
  s.sold = s.stats.held_units.empty() ? 0 : s.stats.held_units[0];
  s.rejected = s.stats.with_code(code_from_name("insufficient_stock"));
  // Units exposed to a listed channel are not sold to the buyers (docs/channels.md): the hot SKU's
  // exposure at the end (never lowered during the run: a lower target waits for the channel's ack).
  std::int64_t exposed = 0;
  if (s.checked && !s.invariants.run_skus.empty()) exposed = s.invariants.run_skus[0].exposed;
  s.expected_sold = std::min<std::int64_t>(o.units - exposed, static_cast<std::int64_t>(o.requests));
  if (s.sold > o.units) s.failures.push_back("OVERSOLD: sold " + std::to_string(s.sold) + " of " + std::to_string(o.units));
  else if (s.sold != s.expected_sold)
    s.failures.push_back("sold " + std::to_string(s.sold) + " but expected exactly " + std::to_string(s.expected_sold));
  if (s.stats.unanswered > 0) s.failures.push_back(std::to_string(s.stats.unanswered) + " buyers got no answer");
  if (!s.checked || s.invariants.run_skus.empty()) return;
  const SkuRow& row = s.invariants.run_skus[0];
  if (row.sku.empty()) {
    s.failures.push_back("the hot SKU is missing from GET /v1/skus");
    return;
  }
  std::int64_t sold_on_server = row.held + (o.units - row.on_hand);
  if (sold_on_server != s.sold)
    s.failures.push_back(row.sku + ": held + (units - on_hand) = " + std::to_string(sold_on_server) +
                         " but the buyers were told " + std::to_string(s.sold));
  if (s.sold == o.units && row.available != 0)
    s.failures.push_back(row.sku + ": sold out but available is " + std::to_string(row.available));
}

// After every hold has ended (confirmed, released, or expired), each of the run's SKUs must hold
// nothing and have on_hand reduced by exactly what this run confirmed.
void check_mixed(const Options& o, Summary& s) {
  const Stats& st = s.stats;
  std::uint64_t unfinished = st.unanswered;
  for (int c = 1; c < kCodes; ++c) {
    if (c == code_from_name("overloaded")) continue;
    unfinished += st.counts[static_cast<std::size_t>(OpKind::confirm)][static_cast<std::size_t>(c)];
    unfinished += st.counts[static_cast<std::size_t>(OpKind::release)][static_cast<std::size_t>(c)];
  }
  for (int c = 1; c < kCodes; ++c)
    if (c != code_from_name("insufficient_stock") && c != code_from_name("overloaded"))
      unfinished += st.counts[static_cast<std::size_t>(OpKind::hold)][static_cast<std::size_t>(c)];
  if (unfinished > 0) {
    s.failures.push_back(std::to_string(unfinished) + " requests failed or got no answer");
    return;
  }
  for (std::size_t i = 0; i < s.invariants.run_skus.size(); ++i) {
    const SkuRow& row = s.invariants.run_skus[i];
    std::int64_t confirmed = i < st.confirmed_units.size() ? st.confirmed_units[i] : 0;
    if (row.sku.empty()) {
      s.failures.push_back("SKU #" + std::to_string(i) + " of this run is missing from GET /v1/skus");
      return;
    }
    if (row.held != 0)
      s.failures.push_back(row.sku + ": held " + std::to_string(row.held) + " after every hold ended");
    if (row.on_hand != o.on_hand - confirmed)
      s.failures.push_back(row.sku + ": on_hand " + std::to_string(row.on_hand) + " but " + std::to_string(o.on_hand) +
                           " minus the " + std::to_string(confirmed) + " units confirmed is " +
                           std::to_string(o.on_hand - confirmed));
    if (s.failures.size() > 20) return;
  }
}

// Releases the holds this flash-sale made, so that the hot SKU holds nothing once the run is over
// (instead of units held for 3600 s and a burst of expiry events an hour later). Not measured.
void cleanup_flash_sale(const Options& o, const Names& names, const stockd::client::Endpoint& target, Summary& s) {
  const std::vector<std::uint64_t>& buyers = s.stats.held_buyers;
  if (buyers.empty()) return;
  RunShared shared;
  shared.release_buyers = &buyers;
  Options c = o;
  c.rate = 0;
  c.pipeline = std::max(o.pipeline, kCleanupPipeline);
  DriverResult r = run_driver(c, names, target, shared);
  Stats st;
  for (const auto& t : r.per_thread) st.merge(t);
  std::uint64_t released = st.counts[static_cast<std::size_t>(OpKind::release)][kCodeOk];
  std::cerr << "cleanup: released " << released << " of " << buyers.size() << " holds in "
            << static_cast<double>(r.end_ns - r.start_ns) / 1e9 << " s\n";
  if (released != buyers.size())
    s.notes.push_back("cleanup released " + std::to_string(released) + " of " + std::to_string(buyers.size()) +
                      " holds" + (r.error.empty() ? "" : ": " + r.error) + " (the rest expire after 3600 s)");
}

int run(int argc, char** argv) {
  Options o;
  if (int rc = parse_options(argc, argv, &o, std::cout, std::cerr); rc >= 0) return rc;
  stockd::client::Endpoint api, target;
  std::string error;
  if (!stockd::client::parse_url(o.url, &api, &error) ||
      (o.protocol == Protocol::resp && !stockd::client::parse_host_port(o.resp, stockd::client::kDefaultRespPort, &target, &error))) {
    std::cerr << "stockbench: " << error << "\n";
    return 2;
  }
  if (o.protocol == Protocol::http) target = api;
  Names names;
  auto setup_start = std::chrono::steady_clock::now();
  if (!setup_run(o, api, &names, &error)) {
    std::cerr << "stockbench: setup failed: " << error << "\n";
    return 3;
  }
  std::cerr << "setup: " << names.channels.size() << " channels, " << names.skus.size() << " SKUs (namespace "
            << o.name_space << ", run id " << o.run_id << ") in " << std::chrono::duration<double>(std::chrono::steady_clock::now() - setup_start).count() << " s\n";

  RunShared shared;
  DriverResult result;
  std::int64_t start = now_ns();
  std::atomic<bool> finished{false};
  std::thread driver([&] {
    result = run_driver(o, names, target, shared);
    finished = true;
  });
  std::uint64_t before = 0;
  std::int64_t last = start;
  while (!finished) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::int64_t now = now_ns();
    if (o.duration_s > 0 && now - start >= static_cast<std::int64_t>(o.duration_s * 1e9)) shared.stop = true;
    if (now - last >= 1'000'000'000 && !finished) {
      std::uint64_t done = shared.completed.load();
      if (o.progress)
        std::cerr << progress_line(static_cast<double>(now - start) / 1e9, done, before,
                                   static_cast<double>(now - last) / 1e9, shared.failed.load(), shared.sold.load(), o)
                  << "\n";
      before = done;
      last = now;
    }
  }
  driver.join();
  if (!result.error.empty()) {
    std::cerr << "stockbench: " << result.error << "\n";
    return 3;
  }
  Summary s;
  s.opt = &o;
  s.target = target.host + ":" + std::to_string(target.port);
  // From the driver's own clock readings: this loop notices the end only at its next 100 ms tick, and
  // counting that made short runs report rates from elapsed times in steps of 0.1 s.
  s.elapsed_s = static_cast<double>(result.end_ns - result.start_ns) / 1e9;
  for (const auto& t : result.per_thread) s.stats.merge(t);
  if (o.rate > 0) {
    const Histogram& lag = s.stats.send_lag_ns;
    std::cerr << "client: requests written after their due time by p50 " << format_latency(lag.percentile(50))
              << ", p99 " << format_latency(lag.percentile(99)) << ", max " << format_latency(lag.max()) << "\n";
  }
  if (o.check) {
    if (o.mode == Mode::mixed) {
      double wait_s = static_cast<double>(o.expire_ttl_s) + kExpirySlackS;
      std::cerr << "waiting " << wait_s << " s for the holds left to expire\n";
      std::this_thread::sleep_for(std::chrono::duration<double>(wait_s));
    }
    s.invariants = check_invariants(o, api, names);
    s.checked = true;
    if (!s.invariants.error.empty()) s.failures.push_back("invariant check: " + s.invariants.error);
    for (const auto& v : s.invariants.violations) s.failures.push_back("invariant: " + v);
  }
  if (o.mode == Mode::flash_sale) check_flash_sale(o, s);
  else if (o.check) check_mixed(o, s);
  if (o.mode == Mode::flash_sale && o.cleanup) cleanup_flash_sale(o, names, target, s);
  if (o.json) std::cout << render_json(s).dump(2) << "\n";
  else std::cout << render_text(s);
  if (!s.failures.empty()) {
    std::cerr << "stockbench: FAILED\n";
    for (const auto& f : s.failures) std::cerr << "  " << f << "\n";
  }
  return s.failures.empty() ? 0 : 1;
}

}  // namespace
}  // namespace stockbench

int main(int argc, char** argv) { return stockbench::run(argc, argv); }
