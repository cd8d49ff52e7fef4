// core_test_util.h: a fixture that drives one Inventory with a settable clock and short helpers for
// the commands, so that each test reads as the rule it checks (numbers in, numbers out).
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "core/inventory.h"
#include "core/limits.h"

namespace stockd::core::testing {

inline constexpr std::int64_t kStartMs = 1'700'000'000'000;  // any positive epoch time
inline constexpr std::int64_t kHourMs = 3600LL * 1000;

struct Fence {
  std::string channel;
  double ratio = -1;  // or units
  std::int64_t units = -1;
};

class CoreTest : public ::testing::Test {
 protected:
  Inventory inv;
  std::vector<Event> events;  // events of the last run()
  std::int64_t now = kStartMs;

  Outcome run(const Command& c) {
    events.clear();
    Outcome out = inv.apply(c, now, &events);
    std::string broken = inv.check_invariants();
    EXPECT_EQ(broken, "") << "after command index " << c.index();
    return out;
  }

  Outcome channel(const std::string& name, std::int64_t priority = 100,
                  std::int64_t ttl_s = limits::kDefaultHoldTtlSeconds) {
    return run(PutChannel{name, priority, ttl_s, ChannelState::active});
  }
  Outcome freeze(const std::string& name, bool frozen = true) {
    return run(PutChannel{name, std::nullopt, std::nullopt, frozen ? ChannelState::frozen : ChannelState::active});
  }
  Outcome set(const std::string& sku, std::int64_t on_hand, std::optional<std::int64_t> safety = std::nullopt) {
    PutSku c;
    c.sku = sku;
    c.on_hand = on_hand;
    c.safety_stock = safety;
    return run(c);
  }
  Outcome safety(const std::string& sku, std::int64_t safety_stock) {
    PutSku c;
    c.sku = sku;
    c.safety_stock = safety_stock;
    return run(c);
  }
  Outcome adjust(const std::string& sku, std::int64_t delta, const std::string& ref = "",
                 const std::string& reason = "") {
    return run(Adjust{sku, delta, reason, ref});
  }
  Outcome allocate(const std::string& sku, std::vector<Fence> fences, std::vector<PoolSpec> pools = {},
                   bool preempt = false) {
    SetAllocation c;
    c.sku = sku;
    for (const Fence& f : fences) {
      FenceSpec spec;
      spec.channel = f.channel;
      if (f.ratio >= 0) spec.ratio_ppb = static_cast<std::int64_t>(f.ratio * 1e9 + 0.5);
      else spec.units = f.units;
      c.fences.push_back(spec);
    }
    c.pools = std::move(pools);
    c.preempt = preempt;
    return run(c);
  }
  Outcome hold(const std::string& id, const std::string& ch, std::vector<HoldLine> lines,
               std::optional<std::int64_t> ttl_s = std::nullopt, bool confirm = false) {
    return run(CreateHold{id, ch, std::move(lines), ttl_s, confirm});
  }
  Outcome sale(const std::string& id, const std::string& ch, std::vector<HoldLine> lines) {
    return hold(id, ch, std::move(lines), std::nullopt, true);
  }
  Outcome confirm(const std::string& id, std::optional<std::vector<HoldLine>> lines = std::nullopt) {
    return run(ConfirmHold{id, std::move(lines)});
  }
  Outcome release(const std::string& id) { return run(ReleaseHold{id}); }
  Outcome extend(const std::string& id, std::int64_t ttl_s) { return run(ExtendHold{id, ttl_s}); }
  Outcome tick() { return run(Tick{}); }
  void advance_ms(std::int64_t ms) { now += ms; }

  std::int64_t avail(const std::string& sku, const std::string& ch) const {
    return inv.available(inv.find_sku(sku), inv.find_channel(ch));
  }
  std::int64_t total(const std::string& sku) const { return inv.available_total(inv.find_sku(sku)); }
  SkuView view(const std::string& sku) const { return inv.sku(inv.find_sku(sku)); }
  HoldView hold_view(const std::string& id) const { return inv.hold(inv.find_hold(id)); }
  HoldState state_of(const std::string& id) const { return hold_view(id).state; }

  // Events of the last run() of one type.
  std::vector<Event> of_type(EventType t) const {
    std::vector<Event> out;
    for (const Event& e : events)
      if (e.type == t) out.push_back(e);
    return out;
  }
  // The availability event of the last run() for (sku, channel), if any.
  std::optional<std::int64_t> avail_event(const std::string& sku, const std::string& ch) const {
    for (const Event& e : events)
      if (e.type == EventType::availability && e.sku == inv.find_sku(sku) && e.channel == inv.find_channel(ch))
        return e.available;
    return std::nullopt;
  }
};

}  // namespace stockd::core::testing

namespace stockd::core {
// gtest prints enums through these (found by ADL).
inline void PrintTo(Code c, std::ostream* os) { *os << code_name(c); }
inline void PrintTo(HoldState s, std::ostream* os) { *os << hold_state_name(s); }
}  // namespace stockd::core
