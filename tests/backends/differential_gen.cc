// The differential test's command generator (differential_gen.h). Weights are per 1000 steps; the
// test's coverage check (cluster_differential_test.cc) fails when a default run misses a case.
#include "differential_gen.h"

#include <algorithm>
#include <limits>
#include <sstream>
#include <tuple>
#include <variant>

namespace stockd::backends::difftest {
namespace {

const std::vector<std::string> kPools{"live", "promo", "flash"};
const std::vector<std::string> kRefs{"R0", "R1", "R2", "R3", "R4"};

std::string lines_text(const std::vector<core::HoldLine>& lines) {
  std::string s;
  for (const auto& l : lines) s += (s.empty() ? "" : ",") + l.sku + ":" + std::to_string(l.qty);
  return s;
}

}  // namespace

Generator::Generator(std::uint64_t seed, bool splits, std::int64_t t0_ms, std::int64_t retention_ms, bool listings)
    : rng_(seed), splits_(splits), listings_(listings), now_(t0_ms), retention_ms_(retention_ms) {}

std::int64_t Generator::pick(std::int64_t lo, std::int64_t hi) {
  return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
}

Step Generator::next(const core::Inventory& inv) {
  now_ += pick(1, 300);
  if (listings_ && pick(0, 11) == 0) return ack(inv);
  std::int64_t r = pick(0, 999);
  if (r < 50) return put_sku(inv);
  if (r < 95 || (r < 120 && splits_)) return adjust(inv);  // (the cluster refuses batches on split SKUs)
  if (r < 120) return batch(inv);
  if (r < 175) return allocation();
  if (r < 195) {
    Step s;
    s.command = core::ClosePool{pick(0, 30) == 0 ? kUnknownSku : any(kSkus), any(kPools)};
    s.label = "close_pool";
    return s;
  }
  if (r < 225) return put_channel();
  if (r < 445) return create_hold(inv);
  if (r < 505) return replay_hold(inv);
  if (r < 565) return confirm(inv, false, false);
  if (r < 645) return confirm(inv, true, false);
  if (r < 665) return confirm(inv, true, true);
  if (r < 735) return release_or_extend(inv, false);
  if (r < 780) return release_or_extend(inv, true);
  if (r < 870) return lazy(inv);
  if (r < 890) {
    Step s;
    s.kind = Step::Kind::read_hold;
    s.hold = pick(0, 20) == 0 ? "nope" : some_hold(inv, 1);
    if (s.hold.empty()) s.hold = "nope";
    s.label = "read_hold";
    return s;
  }
  if (r < 960) return clock(0, 5'000, "tick");  // (an odd share: a lazy step without a held hold is a tick too)
  if (r < 994) return clock(20'000, 90'000, "jump");
  return clock(retention_ms_ / 2, retention_ms_ + 60'000, "jump_retention");
}

Step Generator::put_sku(const core::Inventory& inv) {
  Step s;
  s.label = "put_sku";
  core::PutSku p{any(kSkus), {}, {}, {}, {}};  // (never kUnknownSku: a PutSku creates it)
  if (pick(0, 2) > 0) p.on_hand = pick(0, 80);
  if (pick(0, 2) == 0) {  // below what is held, on a SKU that holds some: invalid_state
    for (const std::string& sku : kSkus) {
      std::uint32_t idx = inv.find_sku(sku);
      if (idx == core::kNoIndex || inv.sku(idx).held == 0) continue;
      p.sku = sku;
      p.on_hand = inv.sku(idx).held - pick(1, inv.sku(idx).held);
      s.label = "put_sku_below_held";
    }
  }
  if (!p.on_hand || pick(0, 2) == 0) p.safety_stock = pick(0, 8);
  if (std::int64_t m = pick(0, 9); m < 2) p.max_per_hold = pick(2, 10);
  else if (m < 4) p.max_per_hold = core::kClear;
  if (std::int64_t t = pick(0, 9); t < 2) p.low_stock_threshold = pick(0, 20);
  else if (t < 4) p.low_stock_threshold = core::kClear;  // the default again, from the on_hand of now
  if (splits_ && pick(0, 1)) p.split = pick(1, 4);
  s.command = p;
  return s;
}

Step Generator::adjust(const core::Inventory& inv) {
  Step s;
  s.label = "adjust";
  core::Adjust a{pick(0, 40) == 0 ? kUnknownSku : any(kSkus), 0, "test", ""};
  a.delta = pick(-12, 25);
  if (a.delta == 0) a.delta = 7;
  std::uint32_t idx = inv.find_sku(a.sku);
  if (idx != core::kNoIndex && pick(0, 7) == 0) {  // below what is held: invalid_state
    a.delta = inv.sku(idx).held - inv.sku(idx).on_hand - pick(1, 5);
    s.label = "adjust_below_held";
  } else if (pick(0, 9) < 6) {
    a.ref = any(kRefs);
    // Half the time the latest ref again (refs are forgotten after the retention period: a random
    // one would mostly be new again by then).
    if (!last_ref_.first.empty() && pick(0, 1)) std::tie(a.sku, a.ref) = last_ref_;
    last_ref_ = {a.sku, a.ref};
    auto it = ref_delta_.find({a.sku, a.ref});
    if (it != ref_delta_.end() && pick(0, 9) < 6) {
      a.delta = it->second;  // a replay (or, once the core forgot the ref, a new adjustment)
      s.label = "adjust_ref_again";
    } else {
      s.label = it != ref_delta_.end() ? "adjust_ref_other" : "adjust_ref";
    }
    ref_delta_[{a.sku, a.ref}] = a.delta;
  }
  s.command = a;
  return s;
}

// A stock batch of 1-4 rows: sets and deltas, some with expect_on_hand (right, or off by one), some
// below what is held, some on the unknown SKU (a delta: unknown_sku; never a set, which would make it),
// atomic or not; half of them repeat the previous batch's ref (with another body) while the core still
// remembers it: the first answer again.
Step Generator::batch(const core::Inventory& inv) {
  Step s;
  core::StockBatch b;
  b.reason = static_cast<core::StockReason>(pick(0, core::kStockReasonCount - 1));
  b.atomic = pick(0, 1) == 1;
  s.label = b.atomic ? "batch_atomic" : "batch";
  const int rows = static_cast<int>(pick(1, 4));
  for (int i = 0; i < rows; ++i) {
    core::BatchRow row;
    row.sku = any(kSkus);
    std::uint32_t idx = inv.find_sku(row.sku);
    const std::int64_t on_hand = idx != core::kNoIndex ? inv.sku(idx).on_hand : 0;
    const std::int64_t held = idx != core::kNoIndex ? inv.sku(idx).held : 0;
    row.set = pick(0, 1) == 1;
    if (pick(0, 12) == 0) {
      row.sku = kUnknownSku;
      row.set = false;
    }
    row.value = row.set ? pick(0, 80) : pick(-12, 25);
    if (held > 0 && pick(0, 5) == 0) row.value = row.set ? held - pick(1, held) : held - on_hand - pick(1, 5);
    if (pick(0, 2) == 0) row.expect_on_hand = on_hand + (pick(0, 3) == 0 ? 1 : 0);
    // With listings, one row per SKU: the core applies a SKU's rows one after another (a dip between
    // them cuts exposures), the cluster its net change once (docs/cluster.md "Listed channels").
    if (listings_ && std::any_of(b.rows.begin(), b.rows.end(), [&](const core::BatchRow& r) { return r.sku == row.sku; }))
      continue;
    b.rows.push_back(std::move(row));
  }
  if (!last_batch_ref_.empty() && now_ - last_batch_at_ < retention_ms_ / 2 && pick(0, 1)) {
    b.ref = last_batch_ref_;  // a replay: the first answer, whatever this body says
    s.label += "_again";
  } else if (pick(0, 4) > 0) {
    b.ref = "BR" + std::to_string(next_batch_++);
    last_batch_ref_ = b.ref;
    last_batch_at_ = now_;
  }
  s.command = std::move(b);
  return s;
}

Step Generator::allocation() {
  Step s;
  s.label = "allocation";
  core::SetAllocation a{pick(0, 11) == 0 ? kUnknownSku : any(kSkus), {}, {}, pick(0, 9) < 4};
  for (const std::string& ch : kChannels) {
    if (pick(0, 99) >= 35) continue;
    if (pick(0, 1)) a.fences.push_back({ch, pick(0, 600'000'000), -1});
    else a.fences.push_back({ch, -1, pick(0, 25)});
  }
  // An unknown channel, also together with an unknown SKU (which of the two is named first).
  if (pick(0, 40) == 0 || a.sku == kUnknownSku) a.fences.push_back({kUnknownChannel, -1, 3});
  for (const std::string& name : kPools) {
    if (pick(0, 99) >= 30) continue;
    core::PoolSpec p{name, pick(0, 20), {}};
    for (const std::string& ch : kChannels)
      if (pick(0, 2) == 0) p.channels.push_back(ch);
    if (p.channels.empty()) p.channels.push_back(any(kChannels));
    a.pools.push_back(std::move(p));
  }
  s.command = a;
  return s;
}

Step Generator::put_channel() {
  Step s;
  s.label = "put_channel";
  core::PutChannel c{any(kChannels), {}, {}, {}};
  if (pick(0, 1)) c.priority = pick(1, 4);
  if (pick(0, 2) == 0) c.hold_ttl_s = pick(5, 300);
  if (std::int64_t st = pick(0, 19); st < 3) {
    c.state = core::ChannelState::frozen;
    s.label = "freeze";
  } else if (st < 12) {
    c.state = core::ChannelState::active;
  }
  if (listings_ && (c.channel == "tmall" || c.channel == "douyin")) {
    if (std::int64_t l = pick(0, 9); l < 6) {
      core::Listing li;
      li.percent = pick(0, 3) == 0 ? 100 : pick(10, 100);
      li.buffer = pick(0, 2) == 0 ? pick(0, 3) : 0;
      li.cap = pick(0, 2) == 0 ? pick(3, 40) : -1;
      li.min = pick(0, 3) == 0 ? pick(1, 4) : 0;
      c.listing = li;
      s.label = "list";
    } else if (l < 7) {
      c.clear_listing = true;
      s.label = "unlist";
    }
    if (c.channel == "douyin" && pick(0, 1)) c.webhook = core::Webhook{"http://127.0.0.1:9/hook", "s", 60};
  }
  s.command = c;
  return s;
}

Step Generator::ack(const core::Inventory& inv) {
  Step s;
  s.label = "ack";
  const std::string& ch = pick(0, 1) ? kChannels[1] : kChannels[2];
  std::uint32_t idx = inv.find_channel(ch);
  std::uint64_t seq = idx == core::kNoIndex ? 0 : inv.channel(idx).last_publication_seq;
  s.command = core::AckPublications{ch, seq};
  return s;
}

std::int64_t Generator::ttl_of(const core::Inventory& inv, const core::CreateHold& c) const {
  if (c.ttl_s) return *c.ttl_s * 1000;
  std::uint32_t ch = inv.find_channel(c.channel);
  return ch == core::kNoIndex ? 0 : inv.channel(ch).hold_ttl_s * 1000;
}

Step Generator::create_hold(const core::Inventory& inv) {
  Step s;
  s.label = "create";
  core::CreateHold h{"h" + std::to_string(next_id_++), pick(0, 50) == 0 ? kUnknownChannel : any(kChannels), {}, {}, false};
  if (std::int64_t t = pick(0, 9); t < 5) h.ttl_s = pick(1, 120);
  else if (t < 7) h.ttl_s = pick(120, 600);  // (TTL < 600 s: kFinalJumpMs in the test)
  h.confirm = pick(0, 6) == 0;
  if (h.confirm) s.label = "sale";
  std::vector<std::string> names = kSkus;
  if (pick(0, 40) == 0) names.back() = kUnknownSku;
  std::shuffle(names.begin(), names.end(), rng_);
  for (std::int64_t i = 0, n = pick(1, 3); i < n; ++i) {
    std::int64_t band = pick(0, 99);
    h.lines.push_back({names[static_cast<std::size_t>(i)], band < 80 ? pick(1, 8) : band < 95 ? pick(9, 40) : pick(41, 120)});
  }
  avoid_expiry_tie(inv, ttl_of(inv, h));
  ids_.push_back(h.id);
  requests_[h.id] = h;
  s.hold = h.id;
  s.command = std::move(h);
  return s;
}

Step Generator::replay_hold(const core::Inventory& inv) {
  if (requests_.empty()) return create_hold(inv);
  Step s;
  std::int64_t v = pick(0, 99);
  std::string id = some_hold(inv, v >= 55 && v < 70 ? 20 : 2);
  if (!requests_.count(id)) id = any(ids_);
  core::CreateHold h = requests_.at(id);
  std::shuffle(h.lines.begin(), h.lines.end(), rng_);
  if (pick(0, 1)) h.ttl_s = pick(1, 120);  // the TTL is not part of the request's identity
  if (v < 55) {
    s.label = "replay";
  } else if (v < 70) {
    h.confirm = true;  // a sale with the id of a hold still held is another request
    s.label = "replay_sale_flag";
  } else if (v < 85) {
    h.lines.front().qty += 1;
    s.label = "replay_other_qty";
  } else if (v < 95) {
    h.channel = h.channel == "app" ? "tmall" : "app";
    s.label = "replay_other_channel";
  } else {
    if (h.lines.size() > 1) h.lines.pop_back();
    else h.lines.push_back({h.lines.front().sku == "A" ? "B" : "A", 1});
    s.label = "replay_other_lines";
  }
  // A replay of a hold the core no longer knows (rejected or forgotten) creates it: keep expiries apart,
  // and remember it as this id's request.
  if (inv.find_hold(id) == core::kNoIndex) {
    avoid_expiry_tie(inv, ttl_of(inv, h));
    requests_[id] = h;
  }
  s.hold = id;
  s.command = std::move(h);
  return s;
}

Step Generator::confirm(const core::Inventory& inv, bool partial, bool invalid) {
  // Invalid lines: on a held hold (invalid_request) or on a finished one (its state, lines unchecked).
  const bool on_held = !invalid || pick(0, 1);
  if (invalid && on_held && held_holds(inv).empty()) return create_hold(inv);
  std::string id = some_hold(inv, !invalid ? 3 : on_held ? 20 : 0);
  if (id.empty()) return create_hold(inv);
  Step s;
  s.hold = id;
  s.label = !partial ? "confirm" : invalid ? "confirm_invalid" : "confirm_partial";
  if (!partial) {
    s.command = core::ConfirmHold{id, std::nullopt};
    return s;
  }
  std::vector<core::HoldLine> held = hold_lines(inv, id);
  if (held.empty()) held = requests_.count(id) ? requests_.at(id).lines : std::vector<core::HoldLine>{{"A", 1}};
  std::vector<core::HoldLine> lines;
  for (const auto& l : held)
    if (pick(0, 9) < 6) lines.push_back({l.sku, pick(1, l.qty)});
  if (lines.empty()) {
    const auto& l = any(held);
    lines.push_back({l.sku, pick(1, l.qty)});
  }
  std::shuffle(lines.begin(), lines.end(), rng_);
  if (invalid) {
    if (pick(0, 1)) {
      lines.front().qty = 0;
      for (const auto& l : held)
        if (l.sku == lines.front().sku) lines.front().qty = l.qty + pick(1, 3);  // more than held
    } else {
      std::string other = kUnknownSku;
      for (const std::string& sku : kSkus)
        if (std::none_of(held.begin(), held.end(), [&](const auto& l) { return l.sku == sku; })) other = sku;
      lines.push_back({other, 1});  // a SKU the hold does not hold
    }
  }
  s.command = core::ConfirmHold{id, std::move(lines)};
  return s;
}

Step Generator::release_or_extend(const core::Inventory& inv, bool extend) {
  std::string id = some_hold(inv, 3);
  if (id.empty()) return create_hold(inv);
  Step s;
  s.hold = id;
  s.label = extend ? "extend" : "release";
  if (!extend) {
    s.command = core::ReleaseHold{id};
    return s;
  }
  std::int64_t ttl_s = pick(1, 120);
  avoid_expiry_tie(inv, ttl_s * 1000);
  s.command = core::ExtendHold{id, ttl_s};
  return s;
}

// The held hold that expires first, operated on at a time when it is due and no other hold is (finished
// holds and refs may reach the end of their retention then: the test sweeps after the step).
Step Generator::lazy(const core::Inventory& inv) {
  std::vector<std::string> held = held_holds(inv);
  std::string first;
  std::int64_t first_at = std::numeric_limits<std::int64_t>::max();
  std::int64_t other_at = std::numeric_limits<std::int64_t>::max();
  for (const std::string& id : held) {
    std::int64_t at = inv.hold(inv.find_hold(id)).expires_at_ms;
    if (at < first_at) {
      other_at = first_at;
      first_at = at;
      first = id;
    } else {
      other_at = std::min(other_at, at);
    }
  }
  if (first.empty() || first_at <= now_ || other_at <= first_at) return clock(0, 5'000, "tick");
  now_ = first_at + pick(0, std::min<std::int64_t>(400, other_at - first_at - 1));
  Step s;
  s.lazy = true;
  s.hold = first;
  switch (lazy_kind_++ % 5) {  // in turn: each kind as often
    case 0: s.command = core::ConfirmHold{first, std::nullopt}; s.label = "lazy_confirm"; break;
    case 1: s.command = core::ReleaseHold{first}; s.label = "lazy_release"; break;
    case 2: s.command = core::ExtendHold{first, pick(1, 60)}; s.label = "lazy_extend"; break;
    case 3: s.kind = Step::Kind::read_hold; s.label = "lazy_read"; break;
    default: {
      core::CreateHold h = requests_.at(first);
      std::reverse(h.lines.begin(), h.lines.end());
      s.command = std::move(h);
      s.label = "lazy_replay";
    }
  }
  return s;
}

Step Generator::clock(std::int64_t lo_ms, std::int64_t hi_ms, const char* label) {
  now_ += pick(lo_ms, hi_ms);
  Step s;
  s.label = label;
  return s;
}

std::vector<std::string> Generator::held_holds(const core::Inventory& inv) const {
  std::vector<std::string> out;
  for (const std::string& id : ids_) {
    std::uint32_t h = inv.find_hold(id);
    if (h != core::kNoIndex && inv.hold(h).state == core::HoldState::held) out.push_back(id);
  }
  return out;
}

std::string Generator::some_hold(const core::Inventory& inv, int held_weight) {
  if (ids_.empty()) return "";
  if (pick(0, held_weight) > 0) {
    std::vector<std::string> held = held_holds(inv);
    if (!held.empty()) return any(held);
  }
  if (pick(0, 3) > 0) {  // a finished hold the core still remembers
    std::vector<std::string> known;
    for (const std::string& id : ids_)
      if (inv.find_hold(id) != core::kNoIndex) known.push_back(id);
    if (!known.empty()) return any(known);
  }
  return any(ids_);
}

std::vector<core::HoldLine> Generator::hold_lines(const core::Inventory& inv, const std::string& id) const {
  std::vector<core::HoldLine> out;
  std::uint32_t h = inv.find_hold(id);
  if (h == core::kNoIndex) return out;
  for (const auto& l : inv.hold(h).lines) out.push_back({std::string(l.sku), l.qty});
  return out;
}

void Generator::avoid_expiry_tie(const core::Inventory& inv, std::int64_t ttl_ms) {
  std::vector<std::int64_t> taken;
  for (const std::string& id : held_holds(inv)) taken.push_back(inv.hold(inv.find_hold(id)).expires_at_ms);
  while (std::find(taken.begin(), taken.end(), now_ + ttl_ms) != taken.end()) ++now_;
}

std::string describe(const core::Command& cmd) {
  std::ostringstream os;
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        auto opt = [&](const char* name, const std::optional<std::int64_t>& v) {
          if (v) os << " " << name << "=" << *v;
        };
        if constexpr (std::is_same_v<T, core::PutChannel>) {
          os << "put_channel " << c.channel;
          opt("priority", c.priority);
          opt("ttl_s", c.hold_ttl_s);
          if (c.state) os << " state=" << core::channel_state_name(*c.state);
          if (c.listing)
            os << " listing=" << c.listing->percent << "%-" << c.listing->buffer << " cap " << c.listing->cap << " min "
               << c.listing->min;
          if (c.clear_listing) os << " listing=none";
          if (c.webhook) os << " webhook";
        } else if constexpr (std::is_same_v<T, core::PutSku>) {
          os << "put_sku " << c.sku;
          opt("on_hand", c.on_hand);
          opt("safety", c.safety_stock);
          opt("max_per_hold", c.max_per_hold);
          opt("threshold", c.low_stock_threshold);
          opt("split", c.split);
        } else if constexpr (std::is_same_v<T, core::Adjust>) {
          os << "adjust " << c.sku << " delta=" << c.delta << (c.ref.empty() ? "" : " ref=" + c.ref);
        } else if constexpr (std::is_same_v<T, core::SetAllocation>) {
          os << "allocation " << c.sku << (c.preempt ? " preempt" : "");
          for (const auto& f : c.fences)
            os << " fence " << f.channel << (f.units >= 0 ? " units=" + std::to_string(f.units) : " ppb=" + std::to_string(f.ratio_ppb));
          for (const auto& p : c.pools) {
            os << " pool " << p.name << " units=" << p.units << " for";
            for (const auto& ch : p.channels) os << " " << ch;
          }
        } else if constexpr (std::is_same_v<T, core::ClosePool>) {
          os << "close_pool " << c.sku << " " << c.pool;
        } else if constexpr (std::is_same_v<T, core::CreateHold>) {
          os << (c.confirm ? "sale " : "hold ") << c.id << " channel=" << c.channel << " lines=" << lines_text(c.lines);
          opt("ttl_s", c.ttl_s);
        } else if constexpr (std::is_same_v<T, core::ConfirmHold>) {
          os << "confirm " << c.id << (c.lines ? " lines=" + lines_text(*c.lines) : "");
        } else if constexpr (std::is_same_v<T, core::ReleaseHold>) {
          os << "release " << c.id;
        } else if constexpr (std::is_same_v<T, core::ExtendHold>) {
          os << "extend " << c.id << " ttl_s=" << c.ttl_s;
        } else if constexpr (std::is_same_v<T, core::StockBatch>) {
          os << "batch" << (c.atomic ? " atomic" : "") << (c.ref.empty() ? "" : " ref=" + c.ref) << " reason="
             << core::stock_reason_name(c.reason);
          for (const auto& r : c.rows) {
            os << " " << r.sku << (r.set ? "=" : (r.value >= 0 ? "+" : "")) << r.value;
            if (r.expect_on_hand) os << "?" << *r.expect_on_hand;
          }
        } else if constexpr (std::is_same_v<T, core::AckPublications>) {
          os << "ack " << c.channel << " seq=" << c.seq;
        } else if constexpr (std::is_same_v<T, core::Tick>) {
          os << "tick";
        } else {
          os << "command #" << core::Command(c).index();
        }
      },
      cmd);
  return os.str();
}

core::Command prefixed(core::Command c, const std::string& prefix) {
  auto p = [&](std::string& s) { s = prefix + s; };
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, core::PutSku> || std::is_same_v<T, core::Adjust> ||
                      std::is_same_v<T, core::ClosePool>) p(x.sku);
        if constexpr (std::is_same_v<T, core::PutChannel>) p(x.channel);
        if constexpr (std::is_same_v<T, core::SetAllocation>) {
          p(x.sku);
          for (auto& f : x.fences) p(f.channel);
          for (auto& pool : x.pools)
            for (auto& ch : pool.channels) p(ch);
        }
        if constexpr (std::is_same_v<T, core::CreateHold>) {
          p(x.id);
          p(x.channel);
          for (auto& l : x.lines) p(l.sku);
        }
        if constexpr (std::is_same_v<T, core::ConfirmHold>) {
          p(x.id);
          if (x.lines)
            for (auto& l : *x.lines) p(l.sku);
        }
        if constexpr (std::is_same_v<T, core::ReleaseHold> || std::is_same_v<T, core::ExtendHold>) p(x.id);
        if constexpr (std::is_same_v<T, core::StockBatch>) {
          if (!x.ref.empty()) p(x.ref);  // (the cluster keeps batch refs across runs: one per run)
          for (auto& r : x.rows) p(r.sku);
        }
      },
      c);
  return c;
}

}  // namespace stockd::backends::difftest
