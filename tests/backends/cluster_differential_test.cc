// The differential test: the cluster store (through its public API, cluster_store.h) against the
// embedded core as the reference. Random commands (differential_gen.h) go to both; after every step
// the test compares, and stops at the first difference with the seed, the step, the command and the
// last commands before it:
//   - the outcome: code; for insufficient_stock and limit_exceeded the SKU, requested and available;
//     created (new hold or replay), changed for adjustments (a ref replay), the hold's state;
//   - the write's reply: the hold (state, channel, lines, created/expires/finished times) or the SKU;
//   - every SKU, read back: on_hand, safety stock, held, available, shared free, max_per_hold,
//     low-stock threshold, preempt, each fence (spec, size, held), each open pool (units, size, held,
//     channels), each channel's available (the figures tests/sim's model compares) and the version
//     (below); an unknown SKU must be unknown to both;
//   - the hold the step named, read back; every held hold every kHeldHoldsEverySteps steps; every hold
//     ever used at the end, once every hold has expired and once every hold has been forgotten;
//   - one channel's availability answer (with a repeated and an unknown SKU), rotating over the
//     channels; the channel list every kChannelsEverySteps steps.
// Version: the core adds 1 per change of a SKU; the cluster's version (its home hash's `ver`) is
// compared for SKUs that were never split: it never goes down and it moves whenever the core's moves.
// It is not compared exactly: a sale (`confirm:true`) is two changes there (take, then consume) and a
// hold refused on a later line takes and gives back the earlier ones; a split SKU's home version
// moves with transfers and not with takes in its shards. STOCKD_DIFF_EXACT_VERSION=1 compares the
// steps exactly (for SKUs never split): it fails today, at the first sale or refused multi-line hold.
// Events: the cluster store emits outbox stream entries, not core events, and its API (cluster_store.h)
// shows neither; the events feed in cluster mode is compared with the core's by cluster_events_test.cc.
// The SKU version is the part of the change sequence the API shows.
//
// Pairs: two consecutive new holds whose order create_many keeps (pairable(): other ids, every line of
// both in one partition, no sale claiming first) go to the cluster together through create_many, the
// cluster adapter's path for the holds of many connections (one stockd_hold_create_many call), and
// are compared with the core applying them in order ("paired" in the coverage).
//
// Clock: the test's clock only moves forward (the core clamps time to the latest it saw; the cluster
// takes each node's clock as it is). Before a step the cluster is swept when the core has something
// due at that time (expiry, the end of a finished hold's or a ref's retention), and every
// kSweepEverySteps steps anyway, except for a "lazy" step: then the one hold due is expired by the
// command itself (the sweep comes after it, for retention ends that fell due with it). Holds never
// expire in the same millisecond (the generator sees to it): the cluster expires those in partition
// order, the core in slot order, and with safety stock short the order decides which bucket the
// units go back to (docs/allocation.md, "Units coming back").
//
// Runs (STOCKD_TEST_CLUSTER=host:port; ctest starts a cluster, see CMakeLists.txt):
//   default              seeds kDefaultSeeds, kDefaultSteps steps each, with and without split SKUs
//   STOCKD_DIFF_SEED=S   only seed S (a failure prints the line to paste)
//   STOCKD_DIFF_STEPS=N  N steps per seed (a long run: e.g. 20000)
//   STOCKD_DIFF_SEEDS=K  K seeds from STOCKD_DIFF_SEED (or 1): a long run over new ground
//   STOCKD_DIFF_TRACE=1  print every command and its outcomes
//   STOCKD_DIFF_WATCH=ID after every step, print hold ID as the cluster and the core have it
// Names carry the prefix d<seed><u|s><k>-, with k the first number whose SKU does not exist yet in the
// cluster: on a fresh cluster a replay gets the same names, so the same slots and shards.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <optional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cluster_store.h"
#include "core/inventory.h"
#include "differential_gen.h"
#include "live_cluster.h"

namespace stockd::backends {
namespace {

using difftest::Step;

constexpr std::int64_t kT0 = 1'700'000'000'000;
constexpr std::int64_t kRetentionMs = 300'000;  // short, so that holds and refs are forgotten during a run
constexpr std::uint64_t kDefaultSeeds[] = {1, 2, 3, 4, 5};
constexpr int kDefaultSteps = 400;
constexpr int kSweepEverySteps = 16;
constexpr int kHeldHoldsEverySteps = 10;
constexpr int kChannelsEverySteps = 25;
constexpr std::size_t kHistory = 12;  // commands shown before a failing one
constexpr std::int64_t kFinalJumpMs = 3600 * 1000;  // beyond every TTL the generator asks for (and "mini"'s 900 s)

std::int64_t env_int(const char* name, std::int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoll(v, nullptr, 10) : fallback;
}

std::string code(const core::Outcome& o) {
  return std::string(core::code_name(o.code)) + (o.message.empty() ? "" : " (" + o.message + ")");
}

// (label:code) -> how often; the default run must meet every case in kMustCover.
using Coverage = std::map<std::string, int>;
const char* const kMustCover[] = {
    "create:ok", "create:insufficient_stock", "create:limit_exceeded", "create:channel_frozen",
    "create:unknown_sku", "create:unknown_channel", "sale:ok", "replay:ok", "replay_sale_flag:idempotency_conflict",
    "replay_other_qty:idempotency_conflict", "replay_other_channel:idempotency_conflict",
    "replay_other_lines:idempotency_conflict", "confirm:ok", "confirm:invalid_state", "confirm:hold_expired",
    "confirm_partial:ok", "confirm_invalid:invalid_request", "release:ok", "release:invalid_state", "extend:ok",
    "extend:hold_expired", "extend:invalid_state", "lazy_confirm:hold_expired", "lazy_release:ok",
    "lazy_extend:hold_expired", "lazy_read:ok", "lazy_replay:ok", "adjust:ok", "adjust_below_held:invalid_state",
    "adjust_ref:ok", "adjust_ref_again:replay", "adjust_ref_other:idempotency_conflict", "allocation:ok",
    "close_pool:ok", "close_pool:invalid_request", "freeze:ok", "put_sku:ok", "put_sku_below_held:invalid_state",
    "read_hold:ok", "read_hold:unknown_hold", "jump_retention:ok", "paired", "batch:ok", "batch_atomic:ok",
    "batch_again:ok", "batch_atomic_again:ok", "batch_row:ok", "batch_row:precondition_failed",
    "batch_row:unknown_sku", "batch_row:invalid_state", "batch_failed"};

class Differential {
 public:
  Differential(ClusterStore& store, std::uint64_t seed, bool splits, std::string prefix, bool listings = false)
      : store_(store), seed_(seed), splits_(splits), listings_(listings), prefix_(std::move(prefix)),
        gen_(seed, splits, kT0, kRetentionMs, listings) {}

  // Runs `steps` steps and the final checks; "" or the first difference, ready to print.
  std::string run(int steps, Coverage* coverage);

 private:
  std::string setup();
  std::string one_step(int step, int last, Coverage* coverage, int* used);
  // Two new holds sent together through create_many (the cluster adapter's path for the holds of
  // many connections), compared with the core applying them in order; see pairable().
  std::string pair_step(int step, const Step& a, std::int64_t now_a, core::Outcome want_a, Step b, std::int64_t now_b,
                        Coverage* coverage);
  bool pairable(const Step& a, const Step& b) const;
  void count(const Step& s, const core::Outcome& want, Coverage* coverage);
  std::string final_checks();
  std::string outcome_problem(const Step& s, const core::Outcome& want, const core::Outcome& got, const StoreReply& reply);
  std::string batch_problem(const core::BatchAnswer& want, const core::Outcome& got, const StoreReply& reply);
  std::string skus_problem();
  std::string sku_problem(const std::string& sku, std::uint32_t idx, const SkuRecord& g);
  core::Outcome ack_cluster(const std::string& channel, std::int64_t now);
  std::string hold_problem(const std::string& id);
  std::string hold_view_problem(const std::string& id, const core::HoldView& v, const HoldRecord& g);
  std::string availability_problem(const std::string& channel);
  std::string channels_problem();
  void sweep(std::int64_t now);
  std::string failure(int step, const std::string& what, const std::string& problem) const;
  std::string p(std::string_view name) const { return prefix_ + std::string(name); }

  ClusterStore& store_;
  std::uint64_t seed_;
  bool splits_;
  bool listings_;
  // Compare each listed channel's exposed units over all SKUs: only while no other run's SKUs are in
  // the cluster (a listing exposes every SKU of the cluster): the first seed of a run on a fresh one.
  bool totals_ = false;
 public:
  void compare_totals() { totals_ = true; }
 private:
  std::string prefix_;
  difftest::Generator gen_;
  core::Inventory inv_;
  std::deque<std::string> history_;
  std::map<std::string, std::uint64_t> core_version_, cluster_version_;
  std::map<std::string, bool> ever_split_;
  std::int64_t check_now_ = 0;    // the time of the step whose results are compared (reads take it)
  std::optional<Step> pending_;  // generated ahead, not yet applied to the core nor run
  std::int64_t pending_now_ = 0;
};

std::string Differential::failure(int step, const std::string& what, const std::string& problem) const {
  std::string out = "seed " + std::to_string(seed_) + (splits_ ? " (split SKUs)" : "") + " step " + std::to_string(step) +
                    ", names prefixed " + prefix_ + ": " + what + "\n  " + problem + "\n  commands before it:";
  for (const std::string& h : history_) out += "\n    " + h;
  out += "\n  replay: STOCKD_DIFF_SEED=" + std::to_string(seed_) + " STOCKD_DIFF_STEPS=" + std::to_string(step + 1) +
         " cluster_differential_test --gtest_filter=*" + (listings_ ? "Listed" : splits_ ? "Split" : "Unsplit") +
         "* (on a fresh cluster: the same names and slots)";
  return out;
}

void Differential::sweep(std::int64_t now) {
  // A partition sweeps at most a batch of holds per call: repeat while it acts (bounded: other runs'
  // leftovers in the same cluster are acted on too).
  for (int i = 0; i < 8 && store_.sweep(now) > 0; ++i) {
  }
}

std::string Differential::setup() {
  const std::int64_t now = gen_.now_ms();
  check_now_ = now;
  const std::int64_t priorities[] = {1, 2, 3}, ttls[] = {30, 60, 120};
  inv_.apply(core::Configure{kRetentionMs, 100}, now, nullptr);
  for (std::size_t i = 0; i < 3; ++i) {
    core::PutChannel pc{difftest::kChannels[i], priorities[i], ttls[i], core::ChannelState::active};
    StoreReply r;
    if (!inv_.apply(pc, now, nullptr).ok()) return "core refused " + difftest::describe(pc);
    if (core::Outcome o = store_.apply(difftest::prefixed(pc, prefix_), now, &r); !o.ok()) return "cluster: " + code(o);
  }
  for (std::size_t i = 0; i < 3; ++i) {
    core::PutSku ps{difftest::kSkus[i], 50, 2, {}, {}};
    if (!inv_.apply(ps, now, nullptr).ok()) return "core refused " + difftest::describe(ps);
    if (splits_ && i < 2) ps.split = i == 0 ? 3 : 2;
    StoreReply r;
    if (core::Outcome o = store_.apply(difftest::prefixed(ps, prefix_), now, &r); !o.ok()) return "cluster: " + code(o);
  }
  return skus_problem();
}

std::string Differential::run(int steps, Coverage* coverage) {
  if (std::string problem = setup(); !problem.empty()) return failure(-1, "setup", problem);
  for (int step = 0; step < steps;) {
    int used = 1;
    if (std::string problem = one_step(step, steps, coverage, &used); !problem.empty()) return problem;
    step += used;
  }
  if (std::string problem = final_checks(); !problem.empty()) return failure(steps, "final checks", problem);
  return {};
}

std::string Differential::one_step(int step, int last, Coverage* coverage, int* used) {
  // A step generated ahead (the second of a pair that did not form) runs now, as if generated now: the
  // generator looked only at the core, which was then as it is now.
  const bool ahead = pending_.has_value();
  Step s = ahead ? *pending_ : gen_.next(inv_);
  const std::int64_t now = ahead ? pending_now_ : gen_.now_ms();
  pending_.reset();
  check_now_ = now;
  const bool is_read = s.kind == Step::Kind::read_hold;
  std::string what = (s.lazy ? "(lazy) " : "") + (is_read ? "read hold " + s.hold : difftest::describe(s.command)) +
                     " at +" + std::to_string(now - kT0) + " ms";
  if (std::getenv("STOCKD_DIFF_TRACE")) std::fprintf(stderr, "step %d: %s\n", step, what.c_str());
  if (!s.lazy && (inv_.next_due_ms() <= now || step % kSweepEverySteps == 0)) sweep(now);

  core::Outcome want = inv_.apply(is_read ? core::Command{core::Tick{}} : s.command, now, nullptr);
  // (Not with listings: the core exposes again after each hold of a pair, create_many after both.)
  if (!splits_ && !listings_ && step + 1 < last && std::holds_alternative<core::CreateHold>(s.command) && !s.lazy) {
    // The next step, generated now: a new hold too (pairable) goes with this one through create_many.
    Step b = gen_.next(inv_);
    const std::int64_t now_b = gen_.now_ms();
    const bool sweep_due = inv_.next_due_ms() <= now_b || (step + 1) % kSweepEverySteps == 0;
    if (!b.lazy && !sweep_due && pairable(s, b)) {
      *used = 2;
      return pair_step(step, s, now, std::move(want), std::move(b), now_b, coverage);
    }
    pending_ = std::move(b);  // the next call runs it
    pending_now_ = now_b;
  }
  core::Outcome got;
  StoreReply reply;
  if (is_read) {
    got = store_.get_hold(p(s.hold), now, &reply);
    want = core::Outcome{};
    if (inv_.find_hold(s.hold) == core::kNoIndex) want.code = core::Code::unknown_hold;
  } else if (const auto* ack = std::get_if<core::AckPublications>(&s.command)) {
    got = ack_cluster(ack->channel, now);
  } else if (!std::holds_alternative<core::Tick>(s.command)) {
    got = store_.apply(difftest::prefixed(s.command, prefix_), now, &reply);
  }
  // After a lazy step: finished holds and refs whose retention ended at `now` (the core forgot them).
  if (s.lazy) sweep(now);
  count(s, want, coverage);
  if (std::getenv("STOCKD_DIFF_TRACE"))
    std::fprintf(stderr, "  core %s | cluster %s\n", code(want).c_str(), code(got).c_str());
  if (const char* w = std::getenv("STOCKD_DIFF_WATCH")) {
    StoreReply r;
    core::Outcome o = store_.get_hold(p(w), now, &r);
    std::uint32_t h = inv_.find_hold(w);
    std::fprintf(stderr, "  watch %s: cluster %s fin %lld, core %s fin %lld\n", w, code(o).c_str(),
                 static_cast<long long>(r.hold.finished_at_ms - kT0), h == core::kNoIndex ? "none" : "known",
                 h == core::kNoIndex ? 0LL : static_cast<long long>(inv_.hold(h).finished_at_ms - kT0));
  }

  std::string problem = outcome_problem(s, want, got, reply);
  if (problem.empty()) problem = skus_problem();
  if (problem.empty() && !s.hold.empty()) problem = hold_problem(s.hold);
  if (problem.empty()) problem = availability_problem(difftest::kChannels[static_cast<std::size_t>(step) % difftest::kChannels.size()]);
  if (problem.empty() && step % kHeldHoldsEverySteps == 0)
    for (const std::string& id : gen_.hold_ids()) {
      std::uint32_t h = inv_.find_hold(id);
      if (h != core::kNoIndex && inv_.hold(h).state == core::HoldState::held) problem = hold_problem(id);
      if (!problem.empty()) break;
    }
  if (problem.empty() && step % kChannelsEverySteps == 0) problem = channels_problem();
  if (!problem.empty()) return failure(step, what, problem);
  history_.push_back("step " + std::to_string(step) + ": " + what + " -> " + code(want));
  if (history_.size() > kHistory) history_.pop_front();
  return {};
}

std::string Differential::outcome_problem(const Step& s, const core::Outcome& want, const core::Outcome& got,
                                          const StoreReply& reply) {
  if (std::holds_alternative<core::Tick>(s.command) && s.kind == Step::Kind::command) return {};
  if (got.code != want.code) return "outcome: core " + code(want) + ", cluster " + code(got);
  if (want.code == core::Code::insufficient_stock || want.code == core::Code::limit_exceeded) {
    if (got.detail_sku != p(want.detail_sku) || got.requested != want.requested || got.available != want.available)
      return "details: core " + want.detail_sku + " " + std::to_string(want.requested) + "/" + std::to_string(want.available) +
             ", cluster " + got.detail_sku + " " + std::to_string(got.requested) + "/" + std::to_string(got.available);
  }
  if (!want.ok() || s.kind == Step::Kind::read_hold) return {};
  if (std::holds_alternative<core::CreateHold>(s.command) && got.created != want.created)
    return "created: core " + std::to_string(want.created) + ", cluster " + std::to_string(got.created);
  if (std::holds_alternative<core::Adjust>(s.command) && got.changed != want.changed)
    return "changed (a ref replay changes nothing): core " + std::to_string(want.changed) + ", cluster " + std::to_string(got.changed);
  if (std::holds_alternative<core::StockBatch>(s.command)) return batch_problem(*want.batch, got, reply);
  if (reply.kind == StoreReply::Kind::hold) {
    if (got.hold_state != want.hold_state) return "outcome hold state differs";
    return hold_view_problem(s.hold, inv_.hold(inv_.find_hold(s.hold)), reply.hold);
  }
  if (reply.kind == StoreReply::Kind::sku) {
    std::string name = reply.sku.name.substr(std::min(prefix_.size(), reply.sku.name.size()));
    std::uint32_t idx = inv_.find_sku(name);
    if (idx == core::kNoIndex) return "the reply shows sku " + reply.sku.name + ", unknown to the core";
    if (std::string problem = sku_problem(name, idx, reply.sku); !problem.empty()) return "the write's reply: " + problem;
  }
  return {};
}

// A stock batch's answer: failed or not, and every row's code, message and actual; the views of the
// ok rows are the SKUs as the core has them now (after the batch, or now for a replay).
std::string Differential::batch_problem(const core::BatchAnswer& want, const core::Outcome& got,
                                        const StoreReply& reply) {
  if (got.batch == nullptr) return "batch: the cluster gave no answer";
  const core::BatchAnswer& g = *got.batch;
  if (g.failed != want.failed) return "batch failed: core " + std::to_string(want.failed) + ", cluster " + std::to_string(g.failed);
  if (g.rows.size() != want.rows.size()) return "batch rows: core " + std::to_string(want.rows.size()) + ", cluster " +
                                                std::to_string(g.rows.size());
  std::size_t ok = 0;
  for (std::size_t i = 0; i < want.rows.size(); ++i) {
    const core::BatchRowResult &w = want.rows[i], &c = g.rows[i];
    std::string message = c.message;
    for (std::size_t at; (at = message.find(prefix_)) != std::string::npos;) message.erase(at, prefix_.size());
    if (c.code != w.code || message != w.message || c.actual != w.actual)
      return "batch row " + std::to_string(i) + ": core " + std::string(core::code_name(w.code)) + " '" + w.message +
             "' actual " + std::to_string(w.actual) + ", cluster " + std::string(core::code_name(c.code)) + " '" + message +
             "' actual " + std::to_string(c.actual);
    if (w.code != core::Code::ok) continue;
    if (ok >= reply.batch_skus.size()) return "batch: fewer views than ok rows";
    std::uint32_t idx = inv_.find_sku(w.sku);
    if (idx == core::kNoIndex) return "batch row " + std::to_string(i) + ": ok, but the core has no sku " + w.sku;
    if (std::string problem = sku_problem(w.sku, idx, reply.batch_skus[ok]); !problem.empty())
      return "batch row " + std::to_string(i) + "'s view: " + problem;
    ++ok;
  }
  return {};
}

std::string Differential::skus_problem() {
  std::vector<std::string> names = difftest::kSkus;
  names.push_back(difftest::kUnknownSku);
  for (const std::string& sku : names) {
    StoreReply r;
    core::Outcome o = store_.get_sku(p(sku), check_now_, &r);
    std::uint32_t idx = inv_.find_sku(sku);
    if (idx == core::kNoIndex) {
      if (o.code != core::Code::unknown_sku) return "sku " + sku + " is unknown to the core, cluster: " + code(o);
      continue;
    }
    if (!o.ok()) return "sku " + sku + ": cluster " + code(o);
    if (std::string problem = sku_problem(sku, idx, r.sku); !problem.empty()) return problem;
    // The version (see the header): never down, and it moves whenever the core's moves.
    core::SkuView v = inv_.sku(idx);
    // Once split, a SKU may have lines in shards (whose changes do not touch home) until they end.
    bool& ever_split = ever_split_[sku];
    ever_split = ever_split || r.sku.split >= 2;
    if (!ever_split && cluster_version_.count(sku)) {
      if (r.sku.version < cluster_version_[sku]) return "sku " + sku + " version went down in the cluster";
      if (v.version != core_version_[sku] && r.sku.version == cluster_version_[sku])
        return "sku " + sku + " changed (core version " + std::to_string(core_version_[sku]) + " -> " +
               std::to_string(v.version) + ") but its cluster version stayed " + std::to_string(r.sku.version);
      if (std::getenv("STOCKD_DIFF_EXACT_VERSION") &&
          v.version - core_version_[sku] != r.sku.version - cluster_version_[sku])
        return "sku " + sku + " version: core " + std::to_string(core_version_[sku]) + " -> " + std::to_string(v.version) +
               ", cluster " + std::to_string(cluster_version_[sku]) + " -> " + std::to_string(r.sku.version);
    }
    core_version_[sku] = v.version;
    cluster_version_[sku] = r.sku.version;
  }
  return {};
}

std::string Differential::sku_problem(const std::string& sku, std::uint32_t idx, const SkuRecord& g) {
  core::SkuView v = inv_.sku(idx);
  auto num = [&](const std::string& what, std::int64_t core_v, std::int64_t cluster_v) -> std::string {
    if (core_v == cluster_v) return {};
    return "sku " + sku + " " + what + ": core " + std::to_string(core_v) + ", cluster " + std::to_string(cluster_v);
  };
  std::string buckets = "\n  core:    shared " + std::to_string(v.shared_free);
  for (const auto& f : v.fences) buckets += " fence " + std::string(f.channel) + " " + std::to_string(f.size) + "/" + std::to_string(f.held);
  for (const auto& pl : v.pools) buckets += " pool " + std::string(pl.name) + " " + std::to_string(pl.size) + "/" + std::to_string(pl.held);
  buckets += "\n  cluster: shared " + std::to_string(g.shared_free);
  for (const auto& f : g.fences) buckets += " fence " + f.channel + " " + std::to_string(f.size) + "/" + std::to_string(f.held);
  for (const auto& pl : g.pools) buckets += " pool " + pl.name + " " + std::to_string(pl.size) + "/" + std::to_string(pl.held);
  if (v.exposed > 0 || g.exposed > 0 || !g.exposures.empty()) {  // exposed/published per listed channel
    buckets += "\n  core exposures:   ";
    for (const auto& ca : v.channels)
      if (ca.published >= 0) buckets += " " + std::string(ca.channel) + " " + std::to_string(ca.exposed) + "/" + std::to_string(ca.published);
    buckets += "\n  cluster exposures:";
    for (const auto& e : g.exposures) buckets += " " + e.channel + " " + std::to_string(e.exposed) + "/" + std::to_string(e.published);
  }
  std::string bad;
  for (auto [what, a, b] : {std::tuple{"on_hand", v.on_hand, g.on_hand}, {"safety_stock", v.safety_stock, g.safety_stock},
                            {"held", v.held, g.held}, {"available", v.available, g.available},
                            {"shared_free", v.shared_free, g.shared_free}, {"max_per_hold", v.max_per_hold, g.max_per_hold},
                            {"low_stock_threshold", v.low_stock_threshold, g.low_stock_threshold},
                            {"threshold explicit", std::int64_t{v.low_stock_threshold_explicit}, std::int64_t{g.low_stock_threshold_explicit}},
                            {"preempt", std::int64_t{v.preempt}, std::int64_t{g.preempt}},
                            {"fence count", static_cast<std::int64_t>(v.fences.size()), static_cast<std::int64_t>(g.fences.size())},
                            {"pool count", static_cast<std::int64_t>(v.pools.size()), static_cast<std::int64_t>(g.pools.size())}})
    if (bad = num(what, a, b); !bad.empty()) return bad + buckets;
  for (const core::FenceView& f : v.fences) {
    const SkuRecord::Fence* gf = nullptr;
    for (const auto& x : g.fences)
      if (x.channel == p(f.channel)) gf = &x;
    if (!gf) return "sku " + sku + ": the cluster has no fence for " + std::string(f.channel) + buckets;
    std::string ch(f.channel);
    if ((bad = num("fence " + ch + " ratio_ppb", f.ratio_ppb, gf->ratio_ppb)).empty() &&
        (bad = num("fence " + ch + " units", f.units, gf->units)).empty() &&
        (bad = num("fence " + ch + " size", f.size, gf->size)).empty())
      bad = num("fence " + ch + " held", f.held, gf->held);
    if (!bad.empty()) return bad + buckets;
  }
  for (std::size_t i = 0; i < v.pools.size(); ++i) {
    const core::PoolView& pv = v.pools[i];
    const SkuRecord::Pool& gp = g.pools[i];
    std::string name(pv.name);
    if (gp.name != name) return "sku " + sku + " pool " + std::to_string(i) + ": core " + name + ", cluster " + gp.name + buckets;
    if ((bad = num("pool " + name + " units", pv.units, gp.units)).empty() &&
        (bad = num("pool " + name + " size", pv.size, gp.size)).empty())
      bad = num("pool " + name + " held", pv.held, gp.held);
    if (!bad.empty()) return bad + buckets;
    std::vector<std::string> core_ch, cluster_ch = gp.channels;
    for (std::string_view ch : pv.channels) core_ch.push_back(p(ch));
    if (core_ch != cluster_ch) return "sku " + sku + " pool " + name + " channels differ" + buckets;
  }
  for (const auto& ca : v.channels) {
    std::int64_t cluster_avail = -1;
    for (const auto& [name, a] : g.channels)
      if (name == p(ca.channel)) cluster_avail = a;
    if ((bad = num("available to " + std::string(ca.channel), ca.available, cluster_avail)).empty()) continue;
    return bad + buckets;
  }
  // Listed channels: what each is shown and what is set aside for it.
  if ((bad = num("exposed", v.exposed, g.exposed)).empty())
    for (const auto& ca : v.channels) {
      if (ca.published < 0) continue;  // a direct channel
      const SkuRecord::Exposure* ge = nullptr;
      for (const auto& e : g.exposures)
        if (e.channel == p(ca.channel)) ge = &e;
      if (!ge) return "sku " + sku + ": the cluster does not list " + std::string(ca.channel) + buckets;
      if (!(bad = num("published to " + std::string(ca.channel), ca.published, ge->published)).empty() ||
          !(bad = num("exposed to " + std::string(ca.channel), ca.exposed, ge->exposed)).empty())
        break;
    }
  if (!bad.empty()) return bad + buckets;
  return {};
}

// The cluster's side of an "ack" step (core::AckPublications with the channel's last seq): every SKU's
// latest publication to the channel acknowledged (the ledger would pass the same, read from PostgreSQL).
core::Outcome Differential::ack_cluster(const std::string& channel, std::int64_t now) {
  std::vector<ClusterStore::PublicationAck> acks;
  for (const std::string& sku : difftest::kSkus) {
    StoreReply r;
    if (store_.get_sku(p(sku), now, &r).code != core::Code::ok) continue;
    for (const auto& e : r.sku.exposures)
      if (e.channel == p(channel) && e.version > 0) acks.push_back({p(sku), e.version});
  }
  return store_.ack_exposures(p(channel), acks, now);
}

std::string Differential::hold_problem(const std::string& id) {
  StoreReply r;
  core::Outcome o = store_.get_hold(p(id), check_now_, &r);
  std::uint32_t h = inv_.find_hold(id);
  if (h == core::kNoIndex) {
    if (o.code == core::Code::unknown_hold) return {};
    return "hold " + id + " is unknown to the core; cluster: " + code(o) +
           (o.ok() ? " " + std::string(core::hold_state_name(r.hold.state)) : "");
  }
  if (!o.ok()) return "hold " + id + " is " + std::string(core::hold_state_name(inv_.hold(h).state)) + " in the core; cluster: " + code(o);
  return hold_view_problem(id, inv_.hold(h), r.hold);
}

std::string Differential::hold_view_problem(const std::string& id, const core::HoldView& v, const HoldRecord& g) {
  auto lines = [](const auto& ls, const std::string& prefix) {
    std::string s;
    for (const auto& l : ls) s += (s.empty() ? "" : ",") + std::string(l.sku).substr(prefix.size()) + ":" + std::to_string(l.qty);
    return s;
  };
  std::string core_lines = lines(v.lines, ""), cluster_lines = lines(g.lines, prefix_);
  std::string what;
  if (g.state != v.state) what = "state";
  else if (g.channel != p(v.channel)) what = "channel";
  else if (core_lines != cluster_lines) what = "lines";
  else if (g.created_at_ms != v.created_at_ms) what = "created_at";
  else if (g.expires_at_ms != v.expires_at_ms) what = "expires_at";
  else if (g.finished_at_ms != v.finished_at_ms) what = "finished_at";
  if (what.empty()) return {};
  auto text = [&](core::HoldState st, const std::string& ls, std::int64_t c, std::int64_t e, std::int64_t f) {
    return std::string(core::hold_state_name(st)) + " lines " + ls + " created +" + std::to_string(c - kT0) + " expires +" +
           std::to_string(e - kT0) + " finished " + (f ? "+" + std::to_string(f - kT0) : "-");
  };
  return "hold " + id + " " + what + " differs: core " +
         text(v.state, core_lines, v.created_at_ms, v.expires_at_ms, v.finished_at_ms) + "; cluster " +
         text(g.state, cluster_lines, g.created_at_ms, g.expires_at_ms, g.finished_at_ms);
}

std::string Differential::availability_problem(const std::string& channel) {
  std::vector<std::string> names{p("A"), p("B"), p("A"), p(difftest::kUnknownSku), p("C"), p("D")};
  std::vector<std::string_view> views(names.begin(), names.end());
  StoreReply r;
  core::Outcome o = store_.availability(p(channel), views, check_now_, &r);
  std::uint32_t ch = inv_.find_channel(channel);
  if (ch == core::kNoIndex)
    return o.code == core::Code::unknown_channel ? "" : "availability for " + channel + ", unknown to the core: cluster " + code(o);
  if (!o.ok()) return "availability for " + channel + ": cluster " + code(o);
  std::vector<std::pair<std::string, std::int64_t>> want;
  std::vector<std::string> unknown;
  for (const char* sku : {"A", "B", "Z", "C", "D"}) {
    std::uint32_t s = inv_.find_sku(sku);
    if (s == core::kNoIndex) unknown.push_back(p(sku));
    else want.emplace_back(p(sku), inv_.available(s, ch));
  }
  if (r.available == want && r.unknown == unknown) return {};
  auto text = [](const auto& a, const auto& u) {
    std::string s;
    for (const auto& [sku, n] : a) s += " " + sku + "=" + std::to_string(n);
    for (const auto& sku : u) s += " " + sku + "=unknown";
    return s;
  };
  return "availability for " + channel + ": core" + text(want, unknown) + "; cluster" + text(r.available, r.unknown);
}

std::string Differential::channels_problem() {
  StoreReply r;
  if (core::Outcome o = store_.list_channels(&r); !o.ok()) return "channels: cluster " + code(o);
  for (std::uint32_t c = 0; c < inv_.channel_count(); ++c) {
    core::ChannelView v = inv_.channel(c);
    const ChannelRecord* g = nullptr;
    for (const auto& x : r.channels)
      if (x.name == p(v.name)) g = &x;
    if (!g) return "channel " + std::string(v.name) + " is missing in the cluster";
    if (g->priority != v.priority || g->hold_ttl_s != v.hold_ttl_s || g->state != v.state)
      return "channel " + std::string(v.name) + " differs: core priority " + std::to_string(v.priority) + " ttl " +
             std::to_string(v.hold_ttl_s) + " " + std::string(core::channel_state_name(v.state)) + ", cluster priority " +
             std::to_string(g->priority) + " ttl " + std::to_string(g->hold_ttl_s) + " " +
             std::string(core::channel_state_name(g->state));
    // Listed channels: the listing, the frozen reason, and the units exposed over all SKUs (the
    // cluster's per-partition counters against the core's total).
    if (g->listing != v.listing || g->frozen_reason != v.frozen_reason)
      return "channel " + std::string(v.name) + ": listing or frozen reason differs";
    if (v.listing && totals_ && g->exposed != v.exposed)
      return "channel " + std::string(v.name) + " exposed in all: core " + std::to_string(v.exposed) + ", cluster " +
             std::to_string(g->exposed);
  }
  return {};
}

// Past every TTL (every hold expired), then past the retention (every hold and ref forgotten).
void Differential::count(const Step& s, const core::Outcome& want, Coverage* coverage) {
  std::string label = s.label + ":" + std::string(core::code_name(want.code));
  if (want.ok() && std::holds_alternative<core::Adjust>(s.command) && !want.changed) label = s.label + ":replay";
  ++(*coverage)[label];
  if (want.batch != nullptr) {
    for (const core::BatchRowResult& r : want.batch->rows) ++(*coverage)["batch_row:" + std::string(core::code_name(r.code))];
    if (want.batch->failed) ++(*coverage)["batch_failed"];
  }
}

// Two new holds whose order create_many keeps as the core's: other ids, every line of both in one
// partition (so their creates are one stockd_hold_create_many call, run in order), and neither a
// sale whose id lives in another partition (that one claims first, after the pipeline). Anything
// else the adapter may run in another order, which is as valid for two connections but not what a
// step-by-step oracle can check.
bool Differential::pairable(const Step& a, const Step& b) const {
  const auto* x = std::get_if<core::CreateHold>(&a.command);
  const auto* y = std::get_if<core::CreateHold>(&b.command);
  if (!x || !y || x->id == y->id || x->lines.empty() || y->lines.empty()) return false;
  const int home = partition_of(p(x->lines.front().sku));
  for (const core::CreateHold* h : {x, y}) {
    for (const core::HoldLine& l : h->lines)
      if (partition_of(p(l.sku)) != home) return false;
    if (h->confirm && partition_of(p(h->id)) != home) return false;
  }
  return true;
}

std::string Differential::pair_step(int step, const Step& a, std::int64_t now_a, core::Outcome want_a, Step b,
                                    std::int64_t now_b, Coverage* coverage) {
  std::string what = "pair: " + difftest::describe(a.command) + " at +" + std::to_string(now_a - kT0) + " ms, then " +
                     difftest::describe(b.command) + " at +" + std::to_string(now_b - kT0) + " ms";
  if (std::getenv("STOCKD_DIFF_TRACE")) std::fprintf(stderr, "step %d: %s\n", step, what.c_str());
  core::Outcome want_b = inv_.apply(b.command, now_b, nullptr);
  check_now_ = now_b;
  core::Command pa = difftest::prefixed(a.command, prefix_), pb = difftest::prefixed(b.command, prefix_);
  const core::CreateHold* holds[] = {&std::get<core::CreateHold>(pa), &std::get<core::CreateHold>(pb)};
  const std::int64_t nows[] = {now_a, now_b};
  core::Outcome got[2];
  StoreReply replies[2];
  store_.create_many(holds, nows, got, replies);
  count(a, want_a, coverage);
  count(b, want_b, coverage);
  ++(*coverage)["paired"];
  if (std::getenv("STOCKD_DIFF_TRACE"))
    std::fprintf(stderr, "  core %s, %s | cluster %s, %s\n", code(want_a).c_str(), code(want_b).c_str(),
                 code(got[0]).c_str(), code(got[1]).c_str());
  std::string problem = outcome_problem(a, want_a, got[0], replies[0]);
  if (problem.empty()) problem = outcome_problem(b, want_b, got[1], replies[1]);
  if (problem.empty()) problem = skus_problem();
  if (problem.empty()) problem = hold_problem(a.hold);
  if (problem.empty()) problem = hold_problem(b.hold);
  if (!problem.empty()) return failure(step, what, problem);
  history_.push_back("step " + std::to_string(step) + ": " + what + " -> " + code(want_a) + ", " + code(want_b));
  if (history_.size() > kHistory) history_.pop_front();
  return {};
}

std::string Differential::final_checks() {
  for (std::int64_t ahead_ms : {kFinalJumpMs, kRetentionMs}) {
    gen_.advance(ahead_ms);
    check_now_ = gen_.now_ms();
    sweep(gen_.now_ms());
    inv_.apply(core::Tick{}, gen_.now_ms(), nullptr);
    if (std::string problem = skus_problem(); !problem.empty()) return problem;
    for (const std::string& id : gen_.hold_ids())
      if (std::string problem = hold_problem(id); !problem.empty()) return problem;
  }
  return {};
}

// The run's prefix: d<seed><u|s><k>- with the first k whose SKU "A" the cluster does not know yet.
std::string fresh_prefix(ClusterStore& store, std::uint64_t seed, bool splits, bool listings) {
  for (int k = 0;; ++k) {
    std::string prefix = "d" + std::to_string(seed) + (listings ? "l" : splits ? "s" : "u") + std::to_string(k) + "-";
    StoreReply r;
    if (store.get_sku(prefix + "A", kT0, &r).code == core::Code::unknown_sku) return prefix;
  }
}

void run_seeds(bool splits, bool listings = false) {
  const char* cluster = std::getenv("STOCKD_TEST_CLUSTER");
  if (!cluster || !*cluster) {
    if (std::getenv("STOCKD_TEST_CLUSTER_REQUIRED")) FAIL() << "STOCKD_TEST_CLUSTER is not set";
    GTEST_SKIP() << "set STOCKD_TEST_CLUSTER=host:port to run the differential test";
  }
  std::vector<std::uint64_t> seeds(std::begin(kDefaultSeeds), std::end(kDefaultSeeds));
  const bool chosen = std::getenv("STOCKD_DIFF_SEED") != nullptr;
  if (chosen) {
    seeds.clear();
    auto first = static_cast<std::uint64_t>(env_int("STOCKD_DIFF_SEED", 1));
    for (std::int64_t i = 0; i < std::max<std::int64_t>(1, env_int("STOCKD_DIFF_SEEDS", 1)); ++i) seeds.push_back(first + i);
  }
  const int steps = static_cast<int>(env_int("STOCKD_DIFF_STEPS", kDefaultSteps));
  Coverage coverage;
  for (std::uint64_t seed : seeds) {
    ClusterStoreOptions opt;
    opt.seeds = {cluster};
    opt.wait_replicas = 1;
    opt.hold_retention_ms = kRetentionMs;
    if (listings) opt.channel_cache_ms = 0;  // (a channel no longer listed waits this long: none here)
    std::string error;
    auto store = ClusterStore::open(opt, ClusterStore::make_shared_state(), &error);
    ASSERT_NE(store, nullptr) << error;
    if (listings) {  // earlier runs' listed channels would expose this run's SKUs: direct again
      StoreReply lr;
      ASSERT_TRUE(store->list_channels(&lr).ok());
      for (const ChannelRecord& ch : lr.channels) {
        if (!ch.listing) continue;
        core::PutChannel unlist;
        unlist.channel = ch.name;
        unlist.clear_listing = true;
        StoreReply r;
        ASSERT_TRUE(store->apply(unlist, kT0, &r).ok()) << ch.name;
      }
    }
    std::string prefix = fresh_prefix(*store, seed, splits, listings);
    std::printf("differential: seed %llu%s, %d steps, names prefixed %s\n", static_cast<unsigned long long>(seed),
                splits ? " (split SKUs)" : "", steps, prefix.c_str());
    std::fflush(stdout);
    Differential d(*store, seed, splits, prefix, listings);
    if (listings && seed == seeds.front() && prefix.ends_with("0-")) d.compare_totals();
    std::string problem = d.run(steps, &coverage);
    ASSERT_TRUE(problem.empty()) << problem;
  }
  std::string table;
  for (const auto& [label, n] : coverage) table += " " + label + "=" + std::to_string(n);
  std::printf("differential coverage:%s\n", table.c_str());
  if (chosen || steps < kDefaultSteps) return;  // a replay covers what it covers
  if (listings) {
    for (const char* must : {"list:ok", "unlist:ok", "ack:ok", "sale:ok", "freeze:ok"})
      EXPECT_GT(coverage[must], 0) << "the default run never met " << must;
    return;
  }
  for (const char* must : kMustCover)
    // Pairs need unsplit SKUs (pairable); the cluster refuses stock batches on split SKUs (the
    // generator sends none in the split run).
    if (!(splits && (std::string_view(must) == "paired" || std::string_view(must).starts_with("batch")))) {
      EXPECT_GT(coverage[must], 0) << "the default run never met " << must;
    }
}

TEST(ClusterDifferential, UnsplitSkusBehaveLikeTheEmbeddedCore) { run_seeds(false); }

// Hot SKUs: the same runs with A and B split over shards (and re-split at random by PutSku): splitting
// changes where units sit, never how many (docs/cluster.md, "Hot SKUs").
TEST(ClusterDifferential, SplitSkusBehaveLikeTheEmbeddedCore) { run_seeds(true); }

// Listed channels (docs/cluster.md "Listed channels on the cluster store"): tmall and douyin listed
// and unlisted at random, douyin sometimes with a webhook, their publications acknowledged; every
// exposure and publication must match the core's. Channels are global to a cluster and a listing
// exposes every SKU, so ctest runs this on a cluster of its own (tests/backends/CMakeLists.txt).
TEST(ClusterDifferentialListed, ListedChannelsBehaveLikeTheEmbeddedCore) { run_seeds(false, true); }

// A node that took a listed channel's exposed units and died before it exposed the SKU again leaves
// the publication stale (more published than set aside): the SKU is in its partition's set of stale
// publications, and any node's full sweep publishes it again (docs/cluster.md "Listed channels on the
// cluster store"). The dead node is played by hand: stockd_take as a node sends it, and nothing after.
class ClusterDifferentialListedLive : public LiveCluster {};
TEST_F(ClusterDifferentialListedLive, AStalePublicationLeftByADeadNodeIsPublishedAgainByTheSweep) {
  opt_.channel_cache_ms = 0;
  connect("sw");
  if (IsSkipped() || HasFatalFailure()) return;
  ClusterStore* store = store_.get();
  ClusterClient* cc = cc_.get();
  const std::string& pre = prefix_;
  const std::int64_t now = kT0 + 1000;
  auto apply = [&](core::Command c) {
    StoreReply r;
    core::Outcome o = store->apply(c, now, &r);
    EXPECT_TRUE(o.ok()) << o.message;
    return r;
  };
  core::PutChannel mp;
  mp.channel = pre + "mp";
  mp.priority = 2;
  mp.listing = core::Listing{};  // 100 %
  apply(mp);
  core::PutSku x;
  x.sku = pre + "X";
  x.on_hand = 10;
  apply(x);
  auto exposure = [&]() {
    StoreReply r;
    EXPECT_TRUE(store->get_sku(x.sku, now, &r).ok());
    for (const auto& e : r.sku.exposures)
      if (e.channel == mp.channel) return e;
    return SkuRecord::Exposure{};
  };
  ASSERT_EQ(exposure().exposed, 10);
  ASSERT_EQ(exposure().published, 10);
  const std::int64_t version = exposure().version;

  const std::string t = "{p" + std::to_string(partition_of(x.sku)) + "}";
  std::vector<std::string> take{"FCALL", "stockd_take", "4", t + ":s:" + x.sku, t + ":l:h1:" + x.sku, t + ":out",
                                t + ":ls:" + x.sku, x.sku, "h1", mp.channel, "3", "-", std::to_string(now), "att1", "sh"};
  RedisReply r = cc->command(take[3], take);
  if (r.elements.at(0).str == "STALE") {  // the allocation version: ask with the one it names
    take[11] = r.elements.at(1).str;
    r = cc->command(take[3], take);
  }
  ASSERT_EQ(r.elements.at(0).str, "OK");
  // The node "died" here. What the view shows meanwhile never exceeds what is set aside.
  EXPECT_EQ(exposure().exposed, 7);
  EXPECT_EQ(exposure().published, 7);
  EXPECT_EQ(exposure().version, version);  // nothing was published again
  RedisReply member = cc->command(t, {"SISMEMBER", t + ":exd", x.sku});
  EXPECT_EQ(member.integer, 1);

  store->sweep(now + 1, false);
  EXPECT_EQ(exposure().version, version + 1);  // published again: 7, backed by 7
  EXPECT_EQ(exposure().published, 7);
  EXPECT_EQ(exposure().exposed, 7);
  member = cc->command(t, {"SISMEMBER", t + ":exd", x.sku});
  EXPECT_EQ(member.integer, 0);

  core::PutChannel direct;  // leave the cluster without this listing (other tests of this cluster)
  direct.channel = mp.channel;
  direct.clear_listing = true;
  apply(direct);
}

}  // namespace
}  // namespace stockd::backends
