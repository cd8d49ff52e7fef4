// movement_json.h: the JSON of GET /v1/movements (docs/api.md, "Movements").
//
// Page: {"movements":[...],"next":SEQ}. Every movement has every key, always in this order:
//   {"seq","at","sku","on_hand_delta","held_delta","exposed_delta","cause","ref","reason","channel","hold"}
// "at" is RFC 3339 UTC with milliseconds (as the events feed's). ref, reason, channel and hold are
// null when the movement has none (the contract lists them as keys of every movement, so the shape
// is fixed; a client tells "none" from a value without probing for the key).
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "core/movement.h"

namespace stockd::net {

void render_movement(const core::MovementRecord& r, std::string& out);
// `next`: the seq of the last movement of the page, or the request's `after` when the page is empty.
void render_movements_page(std::span<const core::MovementRecord> records, std::uint64_t next, std::string& out);

}  // namespace stockd::net
