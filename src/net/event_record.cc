#include "net/event_record.h"

#include "core/json_writer.h"

namespace stockd::net {
namespace {

void str(std::string& out, std::string_view key, std::string_view v) {
  out += ',';
  core::json::append_key(out, key);
  core::json::append_string(out, v);
}

void num(std::string& out, std::string_view key, std::int64_t v) {
  out += ',';
  core::json::append_key(out, key);
  core::json::append_int(out, v);
}

}  // namespace

EventRecord make_event_record(const core::Event& e, const core::Inventory& inv) {
  EventRecord r;
  r.seq = e.seq;
  r.type = e.type;
  r.at_ms = e.at_ms;
  if (e.sku != core::kNoIndex) r.sku = inv.sku_name(e.sku);
  if (e.hold != core::kNoIndex) {
    r.hold = inv.hold_id(e.hold);
    r.channel = inv.channel_name(e.channel != core::kNoIndex ? e.channel : inv.hold_channel(e.hold));
  } else if (e.channel != core::kNoIndex) {
    r.channel = inv.channel_name(e.channel);
  }
  r.available = e.available;
  r.threshold = e.threshold;
  r.on_hand = e.on_hand;
  r.delta = e.delta;
  r.reason = e.reason;
  r.ref = e.ref;
  return r;
}

void render_event(const EventRecord& r, std::string& out) {
  out += "{\"seq\":";
  core::json::append_uint(out, r.seq);
  str(out, "type", core::event_type_name(r.type));
  out += ",\"at\":";
  core::json::append_time(out, r.at_ms);
  switch (r.type) {
    case core::EventType::availability:
      str(out, "sku", r.sku);
      str(out, "channel", r.channel);
      num(out, "available", r.available);
      break;
    case core::EventType::low_stock:
      str(out, "sku", r.sku);
      num(out, "available", r.available);
      num(out, "threshold", r.threshold);
      break;
    case core::EventType::hold_confirmed:
    case core::EventType::hold_released:
    case core::EventType::hold_expired:
      str(out, "hold", r.hold);
      str(out, "channel", r.channel);
      break;
    case core::EventType::stock_adjusted:
      str(out, "sku", r.sku);
      num(out, "on_hand", r.on_hand);
      num(out, "delta", r.delta);
      str(out, "reason", r.reason);
      if (!r.ref.empty()) str(out, "ref", r.ref);
      break;
    case core::EventType::channel_updated:
      str(out, "channel", r.channel);
      break;
    case core::EventType::exposure_deficit:
      str(out, "sku", r.sku);
      str(out, "channel", r.channel);
      num(out, "on_hand", r.on_hand);
      num(out, "exposed", r.available);   // the channel's exposure left after the cut
      num(out, "deficit", -r.delta);      // units it lost (published but no longer backed)
      break;
    case core::EventType::out_of_stock:
      str(out, "sku", r.sku);
      num(out, "available", r.available);
      break;
    case core::EventType::channel_frozen:
      str(out, "channel", r.channel);
      str(out, "reason", r.reason);
      break;
    case core::EventType::delivery_failing:
      str(out, "channel", r.channel);
      break;
    default:  // a type added to the core later: everything it might carry
      if (!r.sku.empty()) str(out, "sku", r.sku);
      if (!r.channel.empty()) str(out, "channel", r.channel);
      if (!r.hold.empty()) str(out, "hold", r.hold);
      num(out, "available", r.available);
      break;
  }
  out += '}';
}

void render_events_begin(std::string& out) { out += "{\"events\":["; }

void render_events_end(std::uint64_t next, std::string& out) {
  out += "],\"next\":";
  core::json::append_uint(out, next);
  out += '}';
}

void render_events_page(std::span<const EventRecord> records, std::uint64_t next, std::string& out) {
  render_events_begin(out);
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i) out += ',';
    render_event(records[i], out);
  }
  render_events_end(next, out);
}

}  // namespace stockd::net
