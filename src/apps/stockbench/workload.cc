#include "apps/stockbench/workload.h"

namespace stockbench {

void Stats::merge(const Stats& o) {
  for (std::size_t k = 0; k < kOpKinds; ++k)
    for (int c = 0; c < kCodes; ++c) counts[k][static_cast<std::size_t>(c)] += o.counts[k][static_cast<std::size_t>(c)];
  latency_ns.merge(o.latency_ns);
  send_lag_ns.merge(o.send_lag_ns);
  if (confirmed_units.size() < o.confirmed_units.size()) confirmed_units.resize(o.confirmed_units.size());
  for (std::size_t i = 0; i < o.confirmed_units.size(); ++i) confirmed_units[i] += o.confirmed_units[i];
  if (held_units.size() < o.held_units.size()) held_units.resize(o.held_units.size());
  for (std::size_t i = 0; i < o.held_units.size(); ++i) held_units[i] += o.held_units[i];
  held_buyers.insert(held_buyers.end(), o.held_buyers.begin(), o.held_buyers.end());
  reconnects += o.reconnects;
  unanswered += o.unanswered;
  retried_overloaded += o.retried_overloaded;
}

std::uint64_t Stats::total() const {
  std::uint64_t n = 0;
  for (const auto& k : counts)
    for (auto c : k) n += c;
  return n;
}

std::uint64_t Stats::with_code(int code) const {
  std::uint64_t n = 0;
  for (const auto& k : counts) n += k[static_cast<std::size_t>(code)];
  return n;
}

Workload::Workload(const Options& opt, const Names& names, RunShared& shared, std::uint32_t thread,
                   std::uint32_t conns)
    : opt_(opt), names_(names), shared_(shared), thread_(thread), queued_(conns), seq_(conns),
      rng_(0x5eed0000ULL + thread) {
  if (opt.mode == Mode::mixed) zipf_ = std::make_unique<Zipf>(static_cast<std::uint32_t>(names.skus.size()), opt.zipf_s);
}

Next Workload::next(std::uint32_t conn, Op* op) {
  if (!queued_[conn].empty()) {
    *op = std::move(queued_[conn].front());
    queued_[conn].pop_front();
    return Next::op;
  }
  if (shared_.release_buyers) return next_release(op);
  if (shared_.stop.load(std::memory_order_relaxed)) return Next::done;
  return opt_.mode == Mode::flash_sale ? next_flash(conn, op) : next_mixed(conn, op);
}

Next Workload::next_flash(std::uint32_t, Op* op) {
  std::uint64_t buyer = shared_.next_buyer.fetch_add(1, std::memory_order_relaxed);
  if (buyer >= opt_.requests) return Next::done;
  op->kind = opt_.sale ? OpKind::sale : OpKind::hold;
  op->id = opt_.run_id + "-buyer-" + std::to_string(buyer);
  op->buyer = buyer;
  op->channel = 0;
  op->sku = 0;
  op->qty = 1;
  op->ttl_s = 3600;
  return Next::op;
}

Next Workload::next_release(Op* op) {
  std::uint64_t k = shared_.next_release.fetch_add(1, std::memory_order_relaxed);
  if (k >= shared_.release_buyers->size()) return Next::done;
  op->kind = OpKind::release;
  op->buyer = (*shared_.release_buyers)[k];
  op->id = opt_.run_id + "-buyer-" + std::to_string(op->buyer);
  op->channel = 0;
  op->sku = 0;
  op->qty = 1;
  return Next::op;
}

Next Workload::next_mixed(std::uint32_t conn, Op* op) {
  if (opt_.requests > 0 && shared_.issued.fetch_add(1, std::memory_order_relaxed) >= opt_.requests) return Next::done;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  op->kind = OpKind::hold;
  op->id = opt_.run_id + "-" + std::to_string(thread_) + "-" + std::to_string(conn) + "-" + std::to_string(seq_[conn]++);
  op->channel = static_cast<std::uint32_t>(rng_() % names_.channels.size());
  op->sku = (*zipf_)(rng_);
  op->qty = 1 + static_cast<std::int64_t>(rng_() % static_cast<std::uint64_t>(opt_.qty_max));
  double f = u(rng_);
  op->fate = f < opt_.confirm_ratio ? Fate::confirm
             : f < opt_.confirm_ratio + opt_.release_ratio ? Fate::release
                                                           : Fate::expire;
  op->ttl_s = op->fate == Fate::expire ? opt_.expire_ttl_s : opt_.hold_ttl_s;
  return Next::op;
}

void Workload::done(std::uint32_t conn, const Op& op, int code, Stats& stats) {
  if (op.kind == OpKind::auth) return;
  ++stats.counts[static_cast<std::size_t>(op.kind)][static_cast<std::size_t>(code)];
  shared_.completed.fetch_add(1, std::memory_order_relaxed);
  if (code == code_from_name("overloaded")) {  // nothing was applied: the same request again
    ++stats.retried_overloaded;
    queued_[conn].push_back(op);
    return;
  }
  if (code != kCodeOk) {
    if (code != code_from_name("insufficient_stock")) shared_.failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (op.kind == OpKind::hold || op.kind == OpKind::sale) {
    if (opt_.mode == Mode::flash_sale) {
      shared_.sold.fetch_add(static_cast<std::uint64_t>(op.qty), std::memory_order_relaxed);
      if (stats.held_units.empty()) stats.held_units.resize(1);
      stats.held_units[0] += op.qty;
      if (op.kind == OpKind::hold) stats.held_buyers.push_back(op.buyer);
      return;
    }
    if (op.fate == Fate::expire) return;
    Op follow = op;
    follow.kind = op.fate == Fate::confirm ? OpKind::confirm : OpKind::release;
    queued_[conn].push_back(std::move(follow));
    return;
  }
  if (op.kind == OpKind::confirm) {
    if (stats.confirmed_units.size() < names_.skus.size()) stats.confirmed_units.resize(names_.skus.size());
    stats.confirmed_units[op.sku] += op.qty;
  }
}

}  // namespace stockbench
