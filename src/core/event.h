// event.h: what the core reports about each change, for the events feed and alerts.
// Events name SKUs, channels and holds by index. REQUIRES: the caller renders (or copies) an event
// before the next Inventory::apply, because a forgotten hold's index is reused.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace stockd::core {

inline constexpr std::uint32_t kNoIndex = 0xffffffffu;

enum class EventType : std::uint8_t {
  availability = 0,    // sku, channel, available: a channel's available changed
  low_stock = 1,       // sku, available, threshold: available fell from >= threshold to < threshold
  hold_confirmed = 2,  // hold, channel
  hold_released = 3,   // hold, channel
  hold_expired = 4,    // hold, channel
  stock_adjusted = 5,  // sku, on_hand, delta, reason, ref (PUT sku: reason "set")
  channel_updated = 6, // channel: priority, ttl or state changed (availability of all its SKUs may change)
  // sku, channel, delta (units cut from the exposure, < 0), available (its exposure left), on_hand:
  // stock set or adjusted below what was exposed (docs/allocation.md, "Listed channels")
  exposure_deficit = 7,
  out_of_stock = 8,      // sku, available (0): the SKU's available fell from above 0 to 0
  channel_frozen = 9,    // channel, reason ("manual" | "delivery_failing"): an active channel was frozen
  delivery_failing = 10, // channel: deliveries to its webhook failed for freeze_after_s (it is frozen next)
};

std::string_view event_type_name(EventType t);

struct Event {
  std::uint64_t seq = 0;  // strictly increasing, from 1, survives snapshot and replay
  EventType type = EventType::availability;
  std::int64_t at_ms = 0;
  std::uint32_t sku = kNoIndex;
  std::uint32_t channel = kNoIndex;
  std::uint32_t hold = kNoIndex;
  std::int64_t available = 0;
  std::int64_t threshold = 0;
  std::int64_t on_hand = 0;
  std::int64_t delta = 0;
  std::string reason;  // stock_adjusted only
  std::string ref;     // stock_adjusted only
};

}  // namespace stockd::core
