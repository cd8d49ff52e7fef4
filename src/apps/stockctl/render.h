// render.h: stockctl's human-readable views of the contract's JSON replies. Each takes the parsed
// reply and returns text ending in a newline. Fields a reply lacks print as "-", so a newer server
// with more fields or an older one with fewer still renders.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace stockctl {

// A JSON value as a table cell: strings bare, null or missing "-", numbers and bools as JSON.
std::string cell(const nlohmann::json& j, const char* key);

std::string render_sku(const nlohmann::json& sku);
std::string render_sku_list(const nlohmann::json& page);  // {"skus":[...],"total":N}
std::string render_channel(const nlohmann::json& channel);
std::string render_channel_list(const nlohmann::json& list);  // {"channels":[...]}
std::string render_hold(const nlohmann::json& hold);
std::string render_availability(const nlohmann::json& a);
// One event as one line: "#12 2026-11-25T05:13:20.123Z availability sku=A channel=app available=7"
std::string render_event_line(const nlohmann::json& event);
std::string render_events(const nlohmann::json& page);  // table, then "next: N"
// {"movements":[...],"next":N}: a table (deltas signed, absent fields "-"), then "next: N"
std::string render_movements(const nlohmann::json& page);
std::string render_reconcile(const nlohmann::json& r);
std::string render_snapshot(const nlohmann::json& r);

}  // namespace stockctl
