#include "apps/stockctl/render.h"

#include "apps/stockctl/table.h"

namespace stockctl {
namespace {

using json = nlohmann::json;

std::string value(const json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

const json& member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

const json& array(const json& j, const char* key) {
  static const json kEmpty = json::array();
  const json& a = member(j, key);
  return a.is_array() ? a : kEmpty;
}

std::string allocation_text(const json& alloc) {
  std::string out;
  const json& fences = member(alloc, "fences");
  if (fences.is_object() && !fences.empty()) {
    Table t({"FENCE", "RATIO", "UNITS", "SIZE", "HELD"});
    for (const auto& [ch, f] : fences.items()) t.add({ch, cell(f, "ratio"), cell(f, "units"), cell(f, "size"), cell(f, "held")});
    out += "\n" + t.render();
  }
  const json& pools = member(alloc, "pools");
  if (pools.is_object() && !pools.empty()) {
    Table t({"POOL", "UNITS", "SIZE", "HELD", "CHANNELS"});
    for (const auto& [name, p] : pools.items()) {
      std::string chans;
      for (const auto& c : array(p, "channels")) {
        if (!chans.empty()) chans += ',';
        chans += value(c);
      }
      t.add({name, cell(p, "units"), cell(p, "size"), cell(p, "held"), chans});
    }
    out += "\n" + t.render();
  }
  if (alloc.is_object()) {
    std::vector<std::pair<std::string, std::string>> f{{"preempt", cell(alloc, "preempt")}};
    if (alloc.contains("shared")) f.emplace_back("shared", cell(alloc, "shared"));
    out += "\n" + render_fields(f);
  }
  return out;
}

std::string details(const json& e) {
  std::string out;
  for (const auto& [k, v] : e.items()) {
    if (k == "seq" || k == "type" || k == "at") continue;
    if (!out.empty()) out += ' ';
    out += k + "=" + value(v);
  }
  return out;
}

}  // namespace

std::string cell(const json& j, const char* key) { return value(member(j, key)); }

std::string render_sku(const json& s) {
  std::string out = render_fields({{"sku", cell(s, "sku")},
                                   {"on_hand", cell(s, "on_hand")},
                                   {"safety_stock", cell(s, "safety_stock")},
                                   {"held", cell(s, "held")},
                                   {"available", cell(s, "available")},
                                   {"max_per_hold", cell(s, "max_per_hold")},
                                   {"low_stock_threshold", cell(s, "low_stock_threshold")},
                                   {"version", cell(s, "version")}});
  const json& chans = member(s, "channels");
  if (chans.is_object() && !chans.empty()) {
    Table t({"CHANNEL", "AVAILABLE"});
    for (const auto& [ch, v] : chans.items()) t.add({ch, cell(v, "available")});
    out += "\n" + t.render();
  }
  const json& alloc = member(s, "allocation");
  if (!alloc.is_null()) out += allocation_text(alloc);
  return out;
}

std::string render_sku_list(const json& page) {
  Table t({"SKU", "ON_HAND", "SAFETY", "HELD", "AVAILABLE", "MAX_PER_HOLD", "VERSION"});
  for (const auto& s : array(page, "skus"))
    t.add({cell(s, "sku"), cell(s, "on_hand"), cell(s, "safety_stock"), cell(s, "held"), cell(s, "available"),
           cell(s, "max_per_hold"), cell(s, "version")});
  std::string out = t.render();
  if (page.contains("total")) out += "(" + std::to_string(t.rows()) + " of " + cell(page, "total") + " SKUs)\n";
  return out;
}

std::string render_channel(const json& c) {
  return render_fields({{"channel", cell(c, "channel")},
                        {"priority", cell(c, "priority")},
                        {"hold_ttl_s", cell(c, "hold_ttl_s")},
                        {"state", cell(c, "state")}});
}

std::string render_channel_list(const json& list) {
  Table t({"CHANNEL", "PRIORITY", "HOLD_TTL_S", "STATE"});
  for (const auto& c : array(list, "channels"))
    t.add({cell(c, "channel"), cell(c, "priority"), cell(c, "hold_ttl_s"), cell(c, "state")});
  return t.render();
}

std::string render_hold(const json& h) {
  std::vector<std::pair<std::string, std::string>> f{{"id", cell(h, "id")},
                                                     {"channel", cell(h, "channel")},
                                                     {"state", cell(h, "state")},
                                                     {"created_at", cell(h, "created_at")},
                                                     {"expires_at", cell(h, "expires_at")}};
  if (h.contains("finished_at")) f.emplace_back("finished_at", cell(h, "finished_at"));
  Table t({"SKU", "QTY"});
  for (const auto& l : array(h, "lines")) t.add({cell(l, "sku"), cell(l, "qty")});
  return render_fields(f) + "\n" + t.render();
}

std::string render_availability(const json& a) {
  std::string out = "channel: " + cell(a, "channel") + "\n\n";
  Table t({"SKU", "AVAILABLE"});
  const json& av = member(a, "available");
  if (av.is_object())
    for (const auto& [sku, n] : av.items()) t.add({sku, value(n)});
  out += t.render();
  const json& unknown = array(a, "unknown");
  if (!unknown.empty()) {
    out += "unknown:";
    for (const auto& u : unknown) {
      out += ' ';
      out += value(u);
    }
    out += "\n";
  }
  return out;
}

// Appends piece by piece: `"#" + std::string` (an insert at 0) trips GCC 12's -Wrestrict at -O3.
std::string render_event_line(const json& e) {
  std::string out = "#";
  for (const std::string& part : {cell(e, "seq"), cell(e, "at"), cell(e, "type")}) {
    out += part;
    out += ' ';
  }
  out += details(e);
  out += '\n';
  return out;
}

std::string render_events(const json& page) {
  Table t({"SEQ", "AT", "TYPE", "DETAILS"});
  for (const auto& e : array(page, "events")) t.add({cell(e, "seq"), cell(e, "at"), cell(e, "type"), details(e)});
  return t.render() + "next: " + cell(page, "next") + "\n";
}

std::string render_movements(const json& page) {
  Table t({"SEQ", "AT", "CAUSE", "ON_HAND", "HELD", "EXPOSED", "CHANNEL", "HOLD", "REF", "REASON"});
  for (const auto& m : array(page, "movements")) {
    t.add({cell(m, "seq"), cell(m, "at"), cell(m, "cause"), cell(m, "on_hand_delta"), cell(m, "held_delta"),
           cell(m, "exposed_delta"), cell(m, "channel"), cell(m, "hold"), cell(m, "ref"), cell(m, "reason")});
  }
  return t.render() + "next: " + cell(page, "next") + "\n";
}

std::string render_reconcile(const json& r) {
  std::string out = render_fields({{"ok", cell(r, "ok")}, {"skus_checked", cell(r, "skus_checked")}});
  for (const auto& d : array(r, "drift")) out += "drift: " + (d.is_string() ? d.get<std::string>() : d.dump()) + "\n";
  return out;
}

std::string render_snapshot(const json& r) {
  const json& s = member(r, "snapshot");
  if (s.is_object() && s.contains("lsn")) return "snapshot durable at lsn " + cell(s, "lsn") + "\n";
  return "snapshot durable\n";
}

}  // namespace stockctl
