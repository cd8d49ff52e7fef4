// event_record.h: an event of the feed (GET /v1/events) as plain data, renderable without the Inventory.
//
// core::Event names SKUs, channels and holds by index, and a forgotten hold's index is reused, so an
// event must be turned into names before the next Inventory::apply(). make_event_record does that once,
// when the event is produced; the record can then be kept (in the engine's event ring), copied and
// rendered at any time.
//
// JSON of each type (always "seq","type","at" first; "at" is RFC 3339 UTC with milliseconds):
//   availability     {"seq","type","at","sku","channel","available"}
//   low_stock        {"seq","type","at","sku","available","threshold"}
//   hold_confirmed, hold_released, hold_expired   {"seq","type","at","hold","channel"}
//   stock_adjusted   {"seq","type","at","sku","on_hand","delta","reason"[,"ref" when not empty]}
//   channel_updated  {"seq","type","at","channel"}
// Page: {"events":[...],"next":SEQ}.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "core/event.h"
#include "core/inventory.h"

namespace stockd::net {

struct EventRecord {
  std::uint64_t seq = 0;
  core::EventType type = core::EventType::availability;  // its name: core::event_type_name(type)
  std::int64_t at_ms = 0;
  std::string sku;      // empty when the event names no SKU
  std::string channel;  // empty when it names no channel
  std::string hold;     // hold id; empty when it names no hold
  std::int64_t available = 0;
  std::int64_t threshold = 0;
  std::int64_t on_hand = 0;
  std::int64_t delta = 0;
  std::string reason;
  std::string ref;
  bool operator==(const EventRecord&) const = default;
};

// REQUIRES: `e` came from inv.apply() and inv has not been applied to since. A hold event's channel is
// the event's channel or, when the event names none, the hold's.
EventRecord make_event_record(const core::Event& e, const core::Inventory& inv);

// Appends one event object (no separator).
void render_event(const EventRecord& r, std::string& out);

// Appends {"events":[...],"next":next}. For records kept in another container write the page as
// render_events_begin, render_event for each with ',' between them, render_events_end.
void render_events_page(std::span<const EventRecord> records, std::uint64_t next, std::string& out);
void render_events_begin(std::string& out);
void render_events_end(std::uint64_t next, std::string& out);

}  // namespace stockd::net
