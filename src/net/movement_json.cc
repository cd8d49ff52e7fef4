#include "net/movement_json.h"

#include "core/json_writer.h"

namespace stockd::net {
namespace {

void num(std::string& out, std::string_view key, std::int64_t v) {
  out += ',';
  core::json::append_key(out, key);
  core::json::append_int(out, v);
}

void str_or_null(std::string& out, std::string_view key, std::string_view v) {
  out += ',';
  core::json::append_key(out, key);
  if (v.empty()) out += "null";
  else core::json::append_string(out, v);
}

}  // namespace

void render_movement(const core::MovementRecord& r, std::string& out) {
  out += "{\"seq\":";
  core::json::append_uint(out, r.seq);
  out += ",\"at\":";
  core::json::append_time(out, r.at_ms);
  out += ',';
  core::json::append_key(out, "sku");
  core::json::append_string(out, r.sku);
  num(out, "on_hand_delta", r.on_hand_delta);
  num(out, "held_delta", r.held_delta);
  num(out, "exposed_delta", r.exposed_delta);
  out += ',';
  core::json::append_key(out, "cause");
  core::json::append_string(out, core::movement_cause_name(r.cause));
  str_or_null(out, "ref", r.ref);
  str_or_null(out, "reason", r.reason);
  str_or_null(out, "channel", r.channel);
  str_or_null(out, "hold", r.hold);
  out += '}';
}

void render_movements_page(std::span<const core::MovementRecord> records, std::uint64_t next, std::string& out) {
  out += "{\"movements\":[";
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i > 0) out += ',';
    render_movement(records[i], out);
  }
  out += "],\"next\":";
  core::json::append_uint(out, next);
  out += '}';
}

}  // namespace stockd::net
