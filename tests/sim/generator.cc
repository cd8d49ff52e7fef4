// The simulation's command mix. Weights are chosen so that every rule is hit often: holds dominate,
// stock and allocation change often enough that fences and pools are resized under live holds, time
// jumps both ways, and a few percent of commands are wrong on purpose.
#include "generator.h"

#include <algorithm>
#include <iterator>
#include <sstream>
#include <variant>

namespace stockd::sim {
namespace {

const std::vector<std::string> kPools = {"live", "flash", "ev0", "ev1", "ev2"};
const std::vector<std::int64_t> kRatios = {0, 100'000'000, 250'000'000, 333'333'333, 500'000'000, 1'000'000'000};
const std::vector<std::int64_t> kPriorities = {1, 2, 3, 3, 5, 8};

// The contract's limits as docs/api.md states them ("Conventions"), deliberately not limits.h's constants.
constexpr std::int64_t kFigureMax = 1'000'000'000'000'000;  // on_hand, safety, threshold, units, |delta|
constexpr std::int64_t kQtyMax = 1'000'000'000;
constexpr std::int64_t kTtlMax = 2'592'000;  // 30 days
constexpr std::int64_t kPriorityMax = 1'000'000;
constexpr std::size_t kIdMax = 128;
constexpr std::size_t kLinesMax = 100;

// prefix + n. (Not `"h" + std::to_string(n)`: GCC 12 at -O3 warns falsely on it, -Werror=restrict.)
std::string numbered(const char* prefix, std::uint64_t n) { return std::string(prefix).append(std::to_string(n)); }

}  // namespace

Generator::Generator(std::uint64_t seed) : rng_(seed) {
  profile_.skus = static_cast<int>(rng_.in(1, 6));
  profile_.channels_max = static_cast<int>(rng_.in(2, 12));
  profile_.stock_max = rng_.percent(20) ? rng_.in(500, 5000) : rng_.in(5, 80);
  profile_.qty_max = std::max<std::int64_t>(2, profile_.stock_max / rng_.in(2, 8));
  profile_.big_jump_percent = static_cast<int>(rng_.in(0, 3));
  profile_.retention_zero = rng_.percent(25);
  profile_.edge_percent = static_cast<int>(rng_.in(2, 6));
  // One seed in 16 (so one of the default suite's) has 100+ SKUs with ample stock, so that holds of
  // 100 lines can be created; its every step checks 100+ SKUs, so it runs ~4x longer than the others.
  profile_.wide = seed % 16 == 5;
  if (profile_.wide) {  // small holds of ample stock: most SKUs can be held at any time
    profile_.skus = static_cast<int>(rng_.in(120, 130));
    profile_.stock_max = rng_.in(1000, 5000);
    profile_.qty_max = 4;
  }
}

const char* edge_name(Edge e) {
  static const char* const kNames[kEdgeKinds] = {"on_hand",    "safety_stock", "low_stock_threshold", "delta",
                                                 "on_hand+delta", "fence units", "pool units",        "qty 1e9",
                                                 "qty 1",      "ttl 1 s",      "ttl 30 days",         "id of 128",
                                                 "100 lines",  "priority 1e6"};
  return kNames[static_cast<int>(e)];
}

std::int64_t Generator::edge_high(Edge kind, std::int64_t max) {
  bool past = rng_.percent(50);
  edge_ = EdgeMark{kind, past};
  return past ? max + rng_.in(1, 2) : max - rng_.in(0, 2);
}

std::int64_t Generator::edge_low(Edge kind, std::int64_t min) {
  bool past = rng_.percent(50);
  edge_ = EdgeMark{kind, past};
  return past ? min - 1 : min;
}

std::int64_t Generator::advance_clock() {
  int r = static_cast<int>(rng_.in(0, 99));
  if (r < 60) wall_ms_ += rng_.in(0, 2000);
  else if (r < 75) wall_ms_ += 0;
  else if (r < 88) wall_ms_ += rng_.in(1, 120) * 1000;
  else if (r < 95) wall_ms_ += rng_.in(1, 60) * 60'000;
  else if (r < 95 + profile_.big_jump_percent) wall_ms_ += rng_.in(1, 30) * 3'600'000;
  else wall_ms_ -= rng_.in(1, 3'600'000);  // the clock goes back (another node, NTP step)
  return wall_ms_;
}

std::string Generator::some_sku(const Model& m) {
  if (m.skus.empty() || rng_.percent(1)) return "sku-nope";
  return rng_.pick(m.skus).name;
}

std::string Generator::some_channel(const Model& m) {
  if (m.channels.empty() || rng_.percent(1)) return "ch-nope";
  return rng_.pick(m.channels).name;
}

std::string Generator::some_hold_id(const Model& m, bool prefer_held) {
  if (m.holds.empty() || rng_.percent(3)) return past_.empty() ? "h-nope" : past_[rng_.in(0, past_.size() - 1)].id;
  std::vector<std::string> held, any;
  for (const auto& [id, h] : m.holds) {
    any.push_back(id);
    if (h.state == HoldState::held) held.push_back(id);
  }
  if (prefer_held && !held.empty() && rng_.percent(80)) return rng_.pick(held);
  return rng_.pick(any);
}

// The first commands create the channels and SKUs of the profile.
core::Command Generator::setup(const Model& m) {
  ++setup_step_;
  if (m.channels.size() < 2) {
    std::string name = numbered("ch", m.channels.size());
    return core::PutChannel{name, rng_.pick(kPriorities), rng_.in(1, 900), core::ChannelState::active};
  }
  core::PutSku s;
  s.sku = numbered("sku", m.skus.size());
  s.on_hand = rng_.in(0, profile_.stock_max);
  return s;
}

core::Command Generator::new_hold(const Model& m) {
  core::CreateHold c;
  c.id = numbered("h", next_id_++);
  c.channel = some_channel(m);
  std::vector<std::string> active;
  for (const MChannel& ch : m.channels)
    if (!ch.frozen) active.push_back(ch.name);
  if (!active.empty() && rng_.percent(90)) c.channel = rng_.pick(active);
  int n = rng_.percent(60) ? 1 : rng_.percent(60) ? 2 : static_cast<int>(rng_.in(3, 4));
  for (int i = 0; i < n; ++i) {
    std::string sku = some_sku(m);
    bool dup = std::any_of(c.lines.begin(), c.lines.end(), [&](const core::HoldLine& l) { return l.sku == sku; });
    if (dup) continue;
    std::int64_t qty = rng_.percent(70) ? rng_.in(1, 4)
                       : rng_.percent(85) || profile_.wide ? rng_.in(1, profile_.qty_max)
                                                           : rng_.in(1, profile_.stock_max);
    c.lines.push_back({sku, qty});
  }
  if (!rng_.percent(40)) c.ttl_s = rng_.percent(95) ? rng_.in(1, 600) : rng_.in(3600, 86'400);
  if (at_edge()) hold_edge(m, c);
  c.confirm = rng_.percent(10);
  past_.push_back(c);
  if (past_.size() > 4096) past_.pop_front();
  return c;
}

// One limit of a hold request: a line's qty, the TTL, the id's length or the number of lines.
void Generator::hold_edge(const Model& m, core::CreateHold& c) {
  switch (rng_.in(0, 5)) {
    case 0: c.lines[0].qty = edge_high(Edge::qty_max, kQtyMax); break;
    case 1: c.lines[0].qty = edge_low(Edge::qty_min, 1); break;
    case 2: c.ttl_s = edge_low(Edge::ttl_min, 1); break;
    case 3: c.ttl_s = edge_high(Edge::ttl_max, kTtlMax); break;
    case 4: {
      // "h<n>" stays a unique prefix; the padding brings the id to the limit (or one past it).
      bool past = rng_.percent(50);
      edge_ = EdgeMark{Edge::id_len, past};
      c.id.resize(past ? kIdMax + 1 : kIdMax - static_cast<std::size_t>(rng_.in(0, 1)), '-');
      break;
    }
    default: {
      // One unit of every SKU the channel can hold now, then of the others (a wide profile has 100
      // and more, so such a hold can be created), then of names that do not exist.
      bool past = rng_.percent(50);
      edge_ = EdgeMark{Edge::lines, past};
      std::size_t n = past ? kLinesMax + 1 : kLinesMax;
      int ch = -1, ch_free = -1;  // the active channel that can hold the most SKUs
      for (std::size_t k = 0; k < m.channels.size(); ++k) {
        if (m.channels[k].frozen) continue;
        int free = 0;
        for (std::size_t i = 0; i < m.skus.size(); ++i) free += m.available(static_cast<int>(i), static_cast<int>(k)) > 0;
        if (free > ch_free) {
          ch = static_cast<int>(k);
          ch_free = free;
        }
      }
      if (ch >= 0) c.channel = m.channels[ch].name;
      c.lines.clear();
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t i = 0; i < m.skus.size() && c.lines.size() < n; ++i) {
          bool free = ch >= 0 && m.available(static_cast<int>(i), ch) > 0;
          if (free == (pass == 0)) c.lines.push_back({m.skus[i].name, 1});
        }
      for (std::uint64_t i = 0; c.lines.size() < n; ++i) c.lines.push_back({numbered("sku-x", i), 1});
      break;
    }
  }
}

core::Command Generator::replay(const Model& m) {
  if (past_.empty()) return new_hold(m);
  core::CreateHold c = past_[rng_.in(0, past_.size() - 1)];
  if (!m.holds.empty() && rng_.percent(80)) {
    // Mostly a hold the core still remembers, in whatever state it is now.
    auto it = m.holds.begin();
    std::advance(it, rng_.in(0, static_cast<std::int64_t>(m.holds.size()) - 1));
    c = core::CreateHold{it->first, m.channels[it->second.channel].name, it->second.requested, std::nullopt, false};
  }
  std::reverse(c.lines.begin(), c.lines.end());  // order does not matter
  if (rng_.percent(70)) return c;
  int how = static_cast<int>(rng_.in(0, 2));
  if (how == 0) c.lines[rng_.in(0, c.lines.size() - 1)].qty += 1;
  else if (how == 1) c.channel = some_channel(m);
  else if (c.lines.size() > 1) c.lines.pop_back();
  else c.lines[0].qty += 2;
  return c;
}

core::Command Generator::confirm(const Model& m) {
  core::ConfirmHold c;
  c.id = some_hold_id(m, true);
  const MHold* h = m.hold(c.id);
  if (!h || h->state != HoldState::held || h->lines.empty() || rng_.percent(70)) return c;
  c.lines.emplace();
  for (const MLine& l : h->lines)
    if (c.lines->empty() || rng_.percent(50)) c.lines->push_back({l.sku, rng_.in(1, l.qty)});
  int r = static_cast<int>(rng_.in(0, 99));
  if (r < 4) c.lines->front().qty += h->lines.front().qty;  // more than held: invalid_request
  else if (r < 7 && c.lines->size() == h->lines.size()) c.lines->push_back({"sku-not-in-hold", 1});
  return c;
}

core::Command Generator::release_or_extend(const Model& m, bool extend) {
  if (extend) {
    core::ExtendHold c{some_hold_id(m, true), rng_.percent(90) ? rng_.in(1, 600) : rng_.in(1, 86'400)};
    // (An id from past_ may be one past its own limit: then the TTL's edge would not be judged alone.)
    if (c.id.size() <= kIdMax && at_edge())
      c.ttl_s = rng_.percent(50) ? edge_high(Edge::ttl_max, kTtlMax) : edge_low(Edge::ttl_min, 1);
    return c;
  }
  return core::ReleaseHold{some_hold_id(m, true)};
}

core::Command Generator::adjust(const Model& m) {
  // Now and then the very same adjustment again: a retry, answered without applying it twice.
  if (!past_adjusts_.empty() && rng_.percent(10)) return past_adjusts_[rng_.in(0, past_adjusts_.size() - 1)];
  core::Adjust c;
  c.sku = some_sku(m);
  std::int64_t half = std::max<std::int64_t>(1, profile_.stock_max / 2);
  c.delta = rng_.percent(60) ? rng_.in(1, half) : -rng_.in(1, half);
  if (rng_.percent(50)) c.ref = numbered("r", rng_.in(0, 5));
  c.reason = rng_.percent(50) ? "receipt" : "";
  if (at_edge()) adjust_edge(m, c);
  if (!c.ref.empty()) past_adjusts_.push_back(c);
  if (past_adjusts_.size() > 8) past_adjusts_.pop_front();  // recent: its ref is likely still remembered
  return c;
}

// |delta| at 10^15, or a delta that takes the SKU's on_hand to 10^15 (or just past it).
void Generator::adjust_edge(const Model& m, core::Adjust& c) {
  int s = m.sku_index(c.sku);
  if (s >= 0 && rng_.percent(50)) {
    bool past = rng_.percent(50);
    edge_ = EdgeMark{Edge::on_hand_sum, past};
    std::int64_t target = past ? kFigureMax + rng_.in(1, 2) : kFigureMax - rng_.in(0, 2);
    c.delta = target - m.skus[s].on_hand;
    if (c.delta == 0) c.delta = -1;
    return;
  }
  c.delta = edge_high(Edge::delta, kFigureMax);
  if (rng_.percent(50)) c.delta = -c.delta;
}

// A batch of 1 to 6 rows: sets and deltas on existing SKUs (a few on unknown ones, a few creating the
// profile's next SKU), compare-and-set mostly right and sometimes off by one, a bad row now and then;
// atomic half the time, with a ref (new, or one used before: a replay) half the time.
core::Command Generator::stock_batch(const Model& m) {
  core::StockBatch c;
  if (!past_batch_refs_.empty() && rng_.percent(25)) {
    // Half the replays repeat the latest ref, which is still remembered unless retention is 0.
    c.ref = rng_.percent(50) ? past_batch_refs_.back()
                             : past_batch_refs_[rng_.in(0, static_cast<std::int64_t>(past_batch_refs_.size()) - 1)];
  } else if (rng_.percent(50)) {
    c.ref = numbered("b", next_id_++);
    past_batch_refs_.push_back(c.ref);
    if (past_batch_refs_.size() > 8) past_batch_refs_.pop_front();  // recent: likely still remembered
  }
  c.reason = static_cast<core::StockReason>(rng_.in(0, core::kStockReasonCount - 1));
  c.atomic = rng_.percent(50);
  std::int64_t rows = rng_.in(1, 6), half = std::max<std::int64_t>(1, profile_.stock_max / 2);
  for (std::int64_t i = 0; i < rows; ++i) {
    core::BatchRow r;
    r.set = rng_.percent(50);
    r.sku = some_sku(m);
    if (r.set && r.sku == "sku-nope") r.sku = numbered("sku", m.skus.size());  // creates the next SKU
    int idx = m.sku_index(r.sku);
    r.value = r.set ? rng_.in(0, profile_.stock_max) : rng_.in(-half, half);
    if (rng_.percent(40)) {
      std::int64_t now = idx >= 0 ? m.skus[idx].on_hand : 0;
      r.expect_on_hand = rng_.percent(80) ? now : now + 1;
    }
    if (rng_.percent(3)) r.value = r.set ? -1 : 1'000'000'000'000'001;  // a bad row: invalid_request
    if (rng_.percent(2)) r.sku = "bad sku";
    if (rng_.percent(4)) {  // a delta on a SKU that does not exist: unknown_sku
      r.sku = "sku-nope";
      r.set = false;
      r.value = 1;
    }
    c.rows.push_back(std::move(r));
  }
  return c;
}

core::Command Generator::put_sku(const Model& m) {
  core::PutSku c;
  // A new SKU of the profile or an existing one; never some_sku()'s "sku-nope", which this would create.
  c.sku = m.skus.size() < static_cast<std::size_t>(profile_.skus) && rng_.percent(30)
              ? numbered("sku", m.skus.size())
              : rng_.pick(m.skus).name;
  if (rng_.percent(70)) c.on_hand = rng_.in(0, profile_.stock_max);
  if (rng_.percent(30)) c.safety_stock = rng_.in(0, std::max<std::int64_t>(1, profile_.stock_max / 4));
  if (rng_.percent(4)) c.max_per_hold = rng_.percent(50) ? core::kClear : rng_.in(2, profile_.qty_max);
  if (rng_.percent(10)) c.low_stock_threshold = rng_.percent(30) ? core::kClear : rng_.in(0, profile_.stock_max / 2);
  if (at_edge()) {
    switch (rng_.in(0, 2)) {
      case 0: c.on_hand = edge_high(Edge::on_hand, kFigureMax); break;
      case 1: c.safety_stock = edge_high(Edge::safety, kFigureMax); break;
      default: c.low_stock_threshold = edge_high(Edge::threshold, kFigureMax); break;
    }
  }
  return c;
}

core::Command Generator::allocation(const Model& m) {
  core::SetAllocation c;
  c.sku = some_sku(m);
  for (const MChannel& ch : m.channels) {
    if (!rng_.percent(30)) continue;
    core::FenceSpec f;
    f.channel = ch.name;
    if (rng_.percent(50)) f.ratio_ppb = rng_.percent(80) ? rng_.pick(kRatios) : rng_.in(0, 1'000'000'000);
    else f.units = rng_.in(0, std::max<std::int64_t>(1, profile_.stock_max / 3));
    c.fences.push_back(f);
  }
  int pools = static_cast<int>(rng_.in(0, 3));
  for (int i = 0; i < pools; ++i) {
    core::PoolSpec p;
    p.name = rng_.pick(kPools);
    if (std::any_of(c.pools.begin(), c.pools.end(), [&](const core::PoolSpec& q) { return q.name == p.name; })) continue;
    p.units = rng_.in(0, std::max<std::int64_t>(1, profile_.stock_max / 2));
    int n = static_cast<int>(rng_.in(1, 3));
    for (int j = 0; j < n; ++j) p.channels.push_back(some_channel(m));
    c.pools.push_back(p);
  }
  c.preempt = rng_.percent(50);
  if (at_edge()) {
    if (!c.fences.empty() && rng_.percent(50)) {
      c.fences[0].ratio_ppb = -1;
      c.fences[0].units = edge_high(Edge::fence_units, kFigureMax);
    } else {
      if (c.pools.empty()) c.pools.push_back(core::PoolSpec{rng_.pick(kPools), 0, {some_channel(m)}});
      c.pools[0].units = edge_high(Edge::pool_units, kFigureMax);
    }
  }
  return c;
}

core::Command Generator::close_pool(const Model& m) {
  core::ClosePool c;
  c.sku = some_sku(m);
  c.pool = rng_.pick(kPools);
  int s = m.sku_index(c.sku);
  if (s >= 0 && rng_.percent(80))
    for (const MPool& p : m.skus[s].pools)
      if (p.open) c.pool = p.name;
  return c;
}

core::Command Generator::put_channel(const Model& m) {
  if (m.channels.size() < static_cast<std::size_t>(profile_.channels_max) && rng_.percent(40))
    return core::PutChannel{numbered("ch", m.channels.size()), rng_.pick(kPriorities), rng_.in(1, 900),
                            core::ChannelState::active};
  core::PutChannel c;
  // An existing channel: some_channel()'s "ch-nope" would be created here, and from then on no command
  // of the run could name an unknown channel.
  c.channel = rng_.pick(m.channels).name;
  int r = static_cast<int>(rng_.in(0, 99));
  int idx = m.channel_index(c.channel);
  bool frozen = idx >= 0 && m.channels[idx].frozen;
  if (r < 50) c.state = frozen || rng_.percent(70) ? core::ChannelState::active : core::ChannelState::frozen;
  else if (r < 80) c.priority = rng_.pick(kPriorities);
  else c.hold_ttl_s = rng_.in(1, 900);
  if (at_edge()) {
    if (rng_.percent(50)) c.priority = edge_high(Edge::priority, kPriorityMax);
    else c.hold_ttl_s = edge_high(Edge::ttl_max, kTtlMax);
  }
  return c;
}

core::Command Generator::configure() {
  core::Configure c;
  int r = static_cast<int>(rng_.in(0, 99));
  c.retention_ms = r < 60 ? 24LL * 3'600'000 : r < 80 ? 3'600'000 : r < 95 || !profile_.retention_zero ? 600'000 : 0;
  c.low_stock_permille = rng_.pick(std::vector<std::int64_t>{100, 100, 0, 250, 1000});
  return c;
}

core::Command Generator::malformed(const Model& m) {
  switch (rng_.in(0, 7)) {
    case 0: return core::CreateHold{"h-bad", some_channel(m), {{some_sku(m), 0}}, std::nullopt, false};
    case 1: {
      std::string s = some_sku(m);
      return core::CreateHold{"h-dup", some_channel(m), {{s, 1}, {s, 2}}, std::nullopt, false};
    }
    case 2: return core::CreateHold{"bad id", some_channel(m), {{some_sku(m), 1}}, std::nullopt, false};
    case 3: return core::CreateHold{"h-ttl", some_channel(m), {{some_sku(m), 1}}, 0, false};
    case 4: return core::Adjust{some_sku(m), 0, "", ""};
    case 5: return core::PutChannel{some_channel(m), 0, std::nullopt, std::nullopt};
    case 6: return core::ExtendHold{some_hold_id(m, true), 0};
    default: return core::ConfirmHold{some_hold_id(m, true), std::vector<core::HoldLine>{}};
  }
}

core::Command Generator::unknown(const Model& m) {
  switch (rng_.in(0, 5)) {
    case 0: return core::CreateHold{numbered("h-u", next_id_++), "ch-nope", {{some_sku(m), 1}}, std::nullopt, false};
    case 1: return core::CreateHold{numbered("h-u", next_id_++), some_channel(m), {{"sku-nope", 1}}, std::nullopt, false};
    case 2: return core::ConfirmHold{"h-nope", std::nullopt};
    case 3: return core::ReleaseHold{"h-nope"};
    case 4: return core::Adjust{"sku-nope", 1, "", ""};
    default: return core::ClosePool{"sku-nope", "live"};
  }
}

std::pair<std::int64_t, core::Command> Generator::next(const Model& m) {
  edge_.reset();
  std::int64_t at = advance_clock();
  if (m.channels.size() < 2 || m.skus.empty()) return {at, setup(m)};
  int r = static_cast<int>(rng_.in(0, 999));
  if (r < 340) return {at, new_hold(m)};
  if (r < 360) return {at, stock_batch(m)};
  if (r < 420) return {at, replay(m)};
  if (r < 540) return {at, confirm(m)};
  if (r < 630) return {at, release_or_extend(m, false)};
  if (r < 670) return {at, release_or_extend(m, true)};
  if (r < 735) return {at, adjust(m)};
  if (r < 785) return {at, put_sku(m)};
  if (r < 830) return {at, allocation(m)};
  if (r < 850) return {at, close_pool(m)};
  if (r < 880) return {at, put_channel(m)};
  if (r < 890) return {at, configure()};
  if (r < 940) return {at, core::Tick{}};
  if (r < 975) return {at, malformed(m)};
  return {at, unknown(m)};
}

namespace {

void lines_to(std::ostringstream& os, const std::vector<core::HoldLine>& lines) {
  os << "[";
  for (const auto& l : lines) os << " " << l.sku << "x" << l.qty;
  os << " ]";
}

template <typename T>
void opt_to(std::ostringstream& os, const char* name, const std::optional<T>& v) {
  if (v) os << " " << name << "=" << static_cast<std::int64_t>(*v);
}

struct Describe {
  std::ostringstream& os;
  void operator()(const core::PutChannel& c) {
    os << "PutChannel " << c.channel;
    opt_to(os, "priority", c.priority);
    opt_to(os, "ttl_s", c.hold_ttl_s);
    if (c.state) os << " state=" << core::channel_state_name(*c.state);
  }
  void operator()(const core::PutSku& c) {
    os << "PutSku " << c.sku;
    opt_to(os, "on_hand", c.on_hand);
    opt_to(os, "safety", c.safety_stock);
    opt_to(os, "max_per_hold", c.max_per_hold);
    opt_to(os, "threshold", c.low_stock_threshold);
  }
  void operator()(const core::Adjust& c) { os << "Adjust " << c.sku << " " << c.delta << " ref=" << c.ref; }
  void operator()(const core::SetAllocation& c) {
    os << "SetAllocation " << c.sku << " preempt=" << c.preempt << " fences:";
    for (const auto& f : c.fences) os << " " << f.channel << (f.units >= 0 ? "=u" : "=ppb") << (f.units >= 0 ? f.units : f.ratio_ppb);
    os << " pools:";
    for (const auto& p : c.pools) {
      os << " " << p.name << "=" << p.units << "{";
      for (const auto& ch : p.channels) os << ch << ",";
      os << "}";
    }
  }
  void operator()(const core::ClosePool& c) { os << "ClosePool " << c.sku << " " << c.pool; }
  void operator()(const core::CreateHold& c) {
    os << "CreateHold " << c.id << " " << c.channel << " ";
    lines_to(os, c.lines);
    opt_to(os, "ttl_s", c.ttl_s);
    if (c.confirm) os << " confirm";
  }
  void operator()(const core::ConfirmHold& c) {
    os << "ConfirmHold " << c.id;
    if (c.lines) lines_to(os, *c.lines);
  }
  void operator()(const core::ReleaseHold& c) { os << "ReleaseHold " << c.id; }
  void operator()(const core::ExtendHold& c) { os << "ExtendHold " << c.id << " ttl_s=" << c.ttl_s; }
  void operator()(const core::Tick&) { os << "Tick"; }
  void operator()(const core::AckPublications& c) { os << "AckPublications " << c.channel << " seq=" << c.seq; }
  void operator()(const core::Configure& c) {
    os << "Configure retention_ms=" << c.retention_ms << " permille=" << c.low_stock_permille;
  }
  void operator()(const core::StockBatch& c) {
    os << "StockBatch ref=" << c.ref << " " << core::stock_reason_name(c.reason) << (c.atomic ? " atomic" : "")
       << " [";
    for (const auto& r : c.rows) {
      os << " " << r.sku << (r.set ? "=" : (r.value >= 0 ? "+" : "")) << r.value;
      if (r.expect_on_hand) os << "@" << *r.expect_on_hand;
    }
    os << " ]";
  }
};

}  // namespace

std::string describe(const core::Command& cmd) {
  std::ostringstream os;
  std::visit(Describe{os}, cmd);
  return os.str();
}

}  // namespace stockd::sim
