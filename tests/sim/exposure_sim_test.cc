// The simulation of listed channels: the core with three marketplaces and a direct channel, driven at
// random by a seed. Each marketplace is modelled as the real ones behave (docs/channels.md): it keeps
// its own counter per SKU, sets it from the publications it pulls (coalesced, in seq order), sells
// against it without asking, reports each sale to stockd (a sale from its channel), and acknowledges
// what it applied, late and in pages. The direct channel holds, sells and releases; stock is set and
// adjusted; rules change; channels freeze.
//
// What must hold after every step (independently of src/core's own arithmetic):
//   - every marketplace sale within its counter is accepted, unless an exposure_deficit event named
//     that (channel, SKU) since the marketplace last applied a publication for it (stock was adjusted
//     below what was exposed: the units are physically gone);
//   - a marketplace's counter never exceeds the units stockd set aside for it (no unit shown twice),
//     and held + exposed <= on_hand - safety_stock for every SKU (from the SKU view's figures);
//   - the core's check_invariants();
// and at the end: replaying the journal from the start, and loading a snapshot taken midway then
// replaying the rest, give the same state byte for byte.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/codec.h"
#include "core/inventory.h"

namespace stockd::core {
namespace {

constexpr int kSeeds = 8;
constexpr int kSteps = 20'000;
const char* const kMarkets[] = {"tmall", "jd", "douyin"};
const char* const kSkus[] = {"A", "B", "C", "D"};

struct Market {
  std::string name;
  std::map<std::string, std::int64_t> shown;  // the marketplace's own counters
  std::uint64_t applied = 0;                  // publications applied up to this seq
  std::uint64_t acked = 0;
  std::set<std::string> deficit;              // SKUs cut by exposure_deficit since last applied
  bool listed = true;
};

class ExposureSim {
 public:
  explicit ExposureSim(std::uint64_t seed) : rng_(seed) {}

  std::string run() {
    setup();
    for (int step = 0; step < kSteps; ++step) {
      now_ += pick(0, 200);
      if (std::string p = one_step(); !p.empty()) return "step " + std::to_string(step) + ": " + p;
      if (std::string p = check(); !p.empty()) return "step " + std::to_string(step) + ": " + p;
      if (step == kSteps / 2) {
        mid_.clear();
        inv_.save(mid_);
        mid_log_ = log_.size();
      }
    }
    return replay_problem();
  }

 private:
  std::int64_t pick(std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_); }

  Outcome apply(const Command& c) {
    Writer w;
    encode_command(now_, c, w);
    log_.push_back(w.buffer());
    events_.clear();
    Outcome o = inv_.apply(c, now_, &events_);
    for (const Event& e : events_)
      if (e.type == EventType::exposure_deficit)
        for (Market& m : markets_)
          if (inv_.find_channel(m.name) == e.channel) m.deficit.insert(std::string(inv_.sku_name(e.sku)));
    return o;
  }

  Outcome list(Market& m, std::int64_t priority) {
    PutChannel c;
    c.channel = m.name;
    c.priority = priority;
    c.listing = Listing{pick(20, 100), pick(0, 3), pick(0, 3) == 0 ? pick(0, 40) : -1, pick(0, 2)};
    return apply(c);
  }

  void setup() {
    apply(PutChannel{"app", 2, 60, ChannelState::active});
    for (const char* s : kSkus) apply(PutSku{s, pick(0, 100), pick(0, 5), std::nullopt, std::nullopt});
    std::int64_t priority = 1;
    for (const char* name : kMarkets) {
      markets_.push_back(Market{name, {}, 0, 0, {}, true});
      list(markets_.back(), priority += 1);
    }
  }

  // The marketplace pulls a page and applies it.
  void pull(Market& m) {
    std::uint32_t ch = inv_.find_channel(m.name);
    for (const PublicationView& p : inv_.publications(ch, m.applied, static_cast<std::size_t>(pick(1, 5)))) {
      m.shown[std::string(p.sku)] = p.quantity;
      m.deficit.erase(std::string(p.sku));
      m.applied = p.seq;
    }
  }

  std::string market_sale(Market& m) {
    const std::string sku = kSkus[pick(0, 3)];
    std::int64_t shown = m.shown[sku];
    if (shown <= 0) return {};
    std::int64_t q = pick(1, shown);
    Outcome o = apply(CreateHold{"m" + std::to_string(++ids_), m.name, {{sku, q}}, std::nullopt, true});
    if (o.ok()) {
      m.shown[sku] -= q;
      return {};
    }
    if (m.deficit.contains(sku)) return {};  // the units were adjusted away: a real failure to sell
    return m.name + " sold " + std::to_string(q) + " of " + sku + " that it was shown (" +
           std::to_string(shown) + "), refused: " + std::string(code_name(o.code));
  }

  std::string one_step() {
    Market& m = markets_[static_cast<std::size_t>(pick(0, 2))];
    std::int64_t r = pick(0, 99);
    const std::string sku = kSkus[pick(0, 3)];
    if (r < 20) {
      if (m.listed) pull(m);
    } else if (r < 30) {
      if (m.listed && m.applied > m.acked) {
        std::uint64_t seq = static_cast<std::uint64_t>(pick(static_cast<std::int64_t>(m.acked) + 1,
                                                            static_cast<std::int64_t>(m.applied)));
        if (Outcome o = apply(AckPublications{m.name, seq}); !o.ok()) return "ack refused: " + o.message;
        m.acked = seq;
      }
    } else if (r < 50) {
      if (m.listed) return market_sale(m);
    } else if (r < 65) {
      apply(CreateHold{"a" + std::to_string(++ids_), "app", {{sku, pick(1, 10)}}, pick(1, 5), pick(0, 3) == 0});
    } else if (r < 72) {
      if (ids_ > 0) apply(ReleaseHold{"a" + std::to_string(pick(1, ids_))});
    } else if (r < 80) {
      apply(Adjust{sku, pick(0, 1) ? pick(1, 30) : -pick(1, 10), "sim", ""});
    } else if (r < 84) {
      apply(PutSku{sku, pick(0, 120), pick(0, 8), std::nullopt, std::nullopt});
    } else if (r < 87) {
      if (m.listed) list(m, pick(1, 4));
    } else if (r < 89) {
      PutChannel c{m.name, std::nullopt, std::nullopt, pick(0, 1) ? ChannelState::frozen : ChannelState::active};
      if (pick(0, 1)) c.reason = FrozenReason::delivery_failing;
      apply(c);
    } else if (r < 90) {
      // The listing is removed (the marketplace stopped selling) or put back (everything is published).
      PutChannel c{m.name, std::nullopt, std::nullopt, std::nullopt};
      c.clear_listing = m.listed;
      if (!m.listed) c.listing = Listing{pick(20, 100), 0, -1, 0};
      apply(c);
      m.listed = !m.listed;
      m.shown.clear();
      m.deficit.clear();
      m.applied = m.acked = inv_.acked_publication_seq(inv_.find_channel(m.name));
    } else {
      apply(Tick{});
    }
    return {};
  }

  std::string check() {
    if (std::string broken = inv_.check_invariants(); !broken.empty()) return "check_invariants: " + broken;
    for (const char* name : kSkus) {
      SkuView v = inv_.sku(inv_.find_sku(name));
      if (v.exposed > 0 && v.held + v.exposed > v.on_hand - v.safety_stock)
        return std::string("sku ") + name + ": held + exposed > on_hand - safety_stock";
      for (const Market& m : markets_) {
        if (!m.listed) continue;
        auto shown = m.shown.find(name);
        if (shown == m.shown.end() || m.deficit.contains(name)) continue;
        for (const auto& c : v.channels)
          if (c.channel == m.name && shown->second > c.exposed)
            return m.name + " shows " + std::to_string(shown->second) + " of " + name + " but only " +
                   std::to_string(c.exposed) + " are set aside for it";
      }
    }
    return {};
  }

  std::string replay_problem() {
    Writer full;
    inv_.save(full);
    Inventory replayed;
    for (const std::string& rec : log_) {
      std::int64_t at = 0;
      Command c;
      if (!decode_command(rec, &at, &c)) return "a journal record does not decode";
      replayed.apply(c, at, nullptr);
    }
    Writer again;
    replayed.save(again);
    if (again.buffer() != full.buffer()) return "replay from the start differs";
    Inventory restored;
    if (!restored.load(mid_.buffer())) return "the midway snapshot does not load";
    for (std::size_t i = mid_log_; i < log_.size(); ++i) {
      std::int64_t at = 0;
      Command c;
      if (!decode_command(log_[i], &at, &c)) return "a journal record does not decode";
      restored.apply(c, at, nullptr);
    }
    Writer after;
    restored.save(after);
    if (after.buffer() != full.buffer()) return "snapshot + replay differs";
    return {};
  }

  std::mt19937_64 rng_;
  Inventory inv_;
  std::vector<Event> events_;
  std::vector<Market> markets_;
  std::vector<std::string> log_;
  Writer mid_;
  std::size_t mid_log_ = 0;
  std::int64_t now_ = 1'700'000'000'000;
  std::int64_t ids_ = 0;
};

class ExposureSimTest : public ::testing::TestWithParam<int> {};

TEST_P(ExposureSimTest, Seed) {
  std::uint64_t seed = static_cast<std::uint64_t>(GetParam()) * 7919 + 17;
  if (const char* s = std::getenv("STOCKD_SEED")) {
    if (GetParam() != 0) GTEST_SKIP() << "STOCKD_SEED runs one seed";
    seed = std::strtoull(s, nullptr, 10);
  }
  ExposureSim sim(seed);
  std::string problem = sim.run();
  EXPECT_EQ(problem, "") << "seed " << seed << " (rerun: STOCKD_SEED=" << seed << ")";
}

INSTANTIATE_TEST_SUITE_P(Seeds, ExposureSimTest, ::testing::Range(0, kSeeds));

}  // namespace
}  // namespace stockd::core
