// Replies of the JSON API for both stores, written with core/json_writer.h: one pass, appending, no
// DOM. Names that come from the core are identifiers and need no escaping, but they still go through
// core::json::append_string (a run of plain bytes is one append), so a future change in what names may
// hold cannot break the output.
#include <algorithm>
#include <string>
#include <unordered_set>

#include "core/json_writer.h"
#include "net/api_json.h"

namespace stockd::net {
namespace {

using core::json::append_int;
using core::json::append_key;
using core::json::append_string;

void field(std::string& out, std::string_view key, std::int64_t v) {
  append_key(out, key);
  append_int(out, v);
}

void field(std::string& out, std::string_view key, std::string_view v) {
  append_key(out, key);
  append_string(out, v);
}

void error_head(std::string& out, std::string_view code, std::string_view message) {
  out += "{\"error\":{";
  field(out, "code", code);
  out += ',';
  field(out, "message", message);
  out += ",\"details\":{";
}

void allocation(std::string& out, const core::SkuView& v) {
  out += "\"allocation\":{\"fences\":{";
  for (std::size_t i = 0; i < v.fences.size(); ++i) {
    const core::FenceView& f = v.fences[i];
    if (i) out += ',';
    append_key(out, f.channel);
    out += '{';
    if (f.ratio_ppb >= 0) {
      append_key(out, "ratio");
      core::json::append_ratio_ppb(out, f.ratio_ppb);
    } else {
      field(out, "units", f.units);
    }
    out += ',';
    field(out, "size", f.size);
    out += ',';
    field(out, "held", f.held);
    out += '}';
  }
  out += "},\"pools\":{";
  for (std::size_t i = 0; i < v.pools.size(); ++i) {
    const core::PoolView& p = v.pools[i];
    if (i) out += ',';
    append_key(out, p.name);
    out += '{';
    field(out, "units", p.units);
    out += ",\"channels\":[";
    for (std::size_t k = 0; k < p.channels.size(); ++k) {
      if (k) out += ',';
      append_string(out, p.channels[k]);
    }
    out += "],";
    field(out, "size", p.size);
    out += ',';
    field(out, "held", p.held);
    out += '}';
  }
  out += "},\"preempt\":";
  core::json::append_bool(out, v.preempt);
  out += ',';
  field(out, "shared", v.shared_free);
  out += '}';
}

}  // namespace

void render_error(std::string& out, core::Code code, std::string_view message) {
  render_error_named(out, core::code_name(code), message);
}

void render_error_named(std::string& out, std::string_view code, std::string_view message) {
  error_head(out, code, message);
  out += "}}}";
}

void render_status(std::string& out, std::string_view status) {
  out += '{';
  field(out, "status", status);
  out += '}';
}

void render_snapshot(std::string& out, std::uint64_t lsn) {
  out += "{\"snapshot\":{\"lsn\":";
  core::json::append_uint(out, lsn);
  out += "}}";
}

void render_outcome_error(std::string& out, const core::Outcome& o) {
  std::string fallback;
  std::string_view message = o.message;
  if (message.empty()) {
    fallback = std::string(core::code_name(o.code));
    if (!o.detail_sku.empty()) fallback += " for sku " + o.detail_sku;
    message = fallback;
  }
  error_head(out, core::code_name(o.code), message);
  if (o.code == core::Code::insufficient_stock || o.code == core::Code::limit_exceeded) {
    field(out, "sku", o.detail_sku);
    out += ',';
    field(out, "requested", o.requested);
    out += ',';
    field(out, o.code == core::Code::insufficient_stock ? "available" : "max_per_hold", o.available);
  }
  out += "}}}";
}

void render_channel(std::string& out, const core::ChannelView& c) {
  out += '{';
  field(out, "channel", c.name);
  out += ',';
  field(out, "priority", c.priority);
  out += ',';
  field(out, "hold_ttl_s", c.hold_ttl_s);
  out += ',';
  field(out, "state", core::channel_state_name(c.state));
  out += ",\"frozen_reason\":";
  if (c.state == core::ChannelState::active) out += "null";
  else if (c.frozen_reason == core::FrozenReason::none) out += "\"manual\"";  // a store that keeps no reason
  else append_string(out, core::frozen_reason_name(c.frozen_reason));
  out += ",\"listing\":";
  if (c.listing) {
    out += '{';
    field(out, "percent", c.listing->percent);
    out += ',';
    field(out, "buffer", c.listing->buffer);
    out += ",\"cap\":";
    if (c.listing->cap >= 0) append_int(out, c.listing->cap);
    else out += "null";
    out += ',';
    field(out, "min", c.listing->min);
    out += ",\"last_publication_seq\":";
    core::json::append_uint(out, c.last_publication_seq);
    out += ",\"acked_seq\":";
    core::json::append_uint(out, c.acked_publication_seq);
    out += ",\"pending\":";
    core::json::append_uint(out, c.pending_publications);
    out += ',';
    field(out, "exposed", c.exposed);
    out += '}';
  } else {
    out += "null";
  }
  out += ",\"webhook\":";
  if (c.webhook) {
    out += '{';
    field(out, "url", c.webhook->url);
    out += ",\"secret\":\"***\",";  // never shown
    field(out, "freeze_after_s", c.webhook->freeze_after_s);
    out += '}';
  } else {
    out += "null";
  }
  out += '}';
}

void render_ack(std::string& out, const core::ChannelView& c) {
  out += '{';
  field(out, "channel", c.name);
  out += ",\"acked_seq\":";
  core::json::append_uint(out, c.acked_publication_seq);
  out += ",\"last_publication_seq\":";
  core::json::append_uint(out, c.last_publication_seq);
  out += '}';
}

void render_publications(std::string& out, std::span<const core::PublicationView> pubs, std::uint64_t next) {
  out += "{\"publications\":[";
  for (std::size_t i = 0; i < pubs.size(); ++i) {
    if (i) out += ',';
    out += '{';
    field(out, "sku", pubs[i].sku);
    out += ',';
    field(out, "quantity", pubs[i].quantity);
    out += ",\"seq\":";
    core::json::append_uint(out, pubs[i].seq);
    out += '}';
  }
  out += "],\"next\":";
  core::json::append_uint(out, next);
  out += '}';
}

void render_channel_list(std::string& out, std::span<const core::ChannelView> channels) {
  out += "{\"channels\":[";
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (i) out += ',';
    render_channel(out, channels[i]);
  }
  out += "]}";
}

void render_channel_list(std::string& out, const core::Inventory& inv) {
  std::vector<core::ChannelView> views;
  views.reserve(inv.channel_count());
  for (std::size_t i = 0; i < inv.channel_count(); ++i) views.push_back(inv.channel(static_cast<std::uint32_t>(i)));
  render_channel_list(out, views);
}

void render_sku(std::string& out, const core::SkuView& v) {
  out += '{';
  field(out, "sku", v.name);
  out += ',';
  field(out, "on_hand", v.on_hand);
  out += ',';
  field(out, "safety_stock", v.safety_stock);
  out += ',';
  field(out, "held", v.held);
  out += ',';
  field(out, "available", v.available);
  out += ',';
  field(out, "exposed", v.exposed);
  out += ",\"channels\":{";
  for (std::size_t i = 0; i < v.channels.size(); ++i) {
    if (i) out += ',';
    append_key(out, v.channels[i].channel);
    out += '{';
    field(out, "available", v.channels[i].available);
    if (v.channels[i].published >= 0) {
      out += ',';
      field(out, "published", v.channels[i].published);
      out += ',';
      field(out, "exposed", v.channels[i].exposed);
    }
    out += '}';
  }
  out += "},\"version\":";
  core::json::append_uint(out, v.version);
  out += ",\"max_per_hold\":";
  if (v.max_per_hold > 0) append_int(out, v.max_per_hold);
  else out += "null";
  out += ',';
  field(out, "low_stock_threshold", v.low_stock_threshold);
  if (v.split >= 2) {
    out += ',';
    field(out, "split", v.split);
  }
  out += ',';
  allocation(out, v);
  out += '}';
}

void render_sku_list(std::string& out, std::span<const core::SkuView> page, std::size_t total) {
  out += "{\"skus\":[";
  for (std::size_t i = 0; i < page.size(); ++i) {
    if (i) out += ',';
    render_sku(out, page[i]);
  }
  out += "],\"total\":";
  core::json::append_uint(out, total);
  out += '}';
}

void render_batch(std::string& out, const core::BatchAnswer& answer, std::span<const core::SkuView> ok_skus) {
  out += "{\"ref\":";
  if (answer.ref.empty()) out += "null";
  else append_string(out, answer.ref);
  out += ",\"results\":[";
  std::size_t next_ok = 0;
  for (std::size_t i = 0; i < answer.rows.size(); ++i) {
    const core::BatchRowResult& row = answer.rows[i];
    if (i) out += ',';
    out += '{';
    field(out, "sku", row.sku);
    if (row.code == core::Code::ok && next_ok < ok_skus.size()) {
      out += ",\"ok\":true,\"sku_view\":";
      render_sku(out, ok_skus[next_ok++]);
    } else {
      out += ",\"ok\":false,";
      std::string err;
      error_head(err, core::code_name(row.code), row.message);
      if (row.code == core::Code::precondition_failed) field(err, "actual", row.actual);
      err += "}}}";
      out.append(err, 1, err.size() - 2);  // "error":{...} without the outer braces
    }
    out += '}';
  }
  out += "]}";
}

void render_sku_list(std::string& out, const core::Inventory& inv, std::size_t offset, std::size_t limit) {
  out += "{\"skus\":[";
  std::size_t total = inv.sku_count();
  std::size_t end = offset >= total ? total : offset + std::min(limit, total - offset);
  for (std::size_t i = std::min(offset, total); i < end; ++i) {
    if (i != offset) out += ',';
    render_sku(out, inv.sku(static_cast<std::uint32_t>(i)));
  }
  out += "],\"total\":";
  core::json::append_uint(out, total);
  out += '}';
}

void render_hold(std::string& out, const core::HoldView& h) {
  out += '{';
  field(out, "id", h.id);
  out += ',';
  field(out, "channel", h.channel);
  out += ',';
  field(out, "state", core::hold_state_name(h.state));
  out += ",\"lines\":[";
  for (std::size_t i = 0; i < h.lines.size(); ++i) {
    if (i) out += ',';
    out += '{';
    field(out, "sku", h.lines[i].sku);
    out += ',';
    field(out, "qty", h.lines[i].qty);
    out += '}';
  }
  out += "],\"expires_at\":";
  core::json::append_time(out, h.expires_at_ms);
  out += ",\"created_at\":";
  core::json::append_time(out, h.created_at_ms);
  if (h.state != core::HoldState::held) {
    out += ",\"finished_at\":";
    core::json::append_time(out, h.finished_at_ms);
  }
  out += '}';
}

void render_availability(std::string& out, const core::Inventory& inv, std::uint32_t channel,
                         const std::vector<std::string_view>& skus) {
  std::unordered_set<std::string_view> seen;
  std::vector<AskedSku> asked;
  asked.reserve(skus.size());
  for (std::string_view name : skus) {
    if (skus.size() > 1 && !seen.insert(name).second) continue;
    std::uint32_t sku = inv.find_sku(name);
    asked.push_back({name, sku == core::kNoIndex ? std::nullopt : std::optional(inv.available(sku, channel))});
  }
  render_availability(out, inv.channel_name(channel), asked);
}

void render_availability(std::string& out, std::string_view channel, std::span<const AskedSku> asked) {
  out += '{';
  field(out, "channel", channel);
  out += ",\"available\":{";
  bool first = true;
  for (const AskedSku& a : asked) {
    if (!a.available) continue;
    if (!first) out += ',';
    first = false;
    field(out, a.name, *a.available);
  }
  out += '}';
  first = true;
  for (const AskedSku& a : asked) {
    if (a.available) continue;
    out += first ? ",\"unknown\":[" : ",";
    first = false;
    append_string(out, a.name);
  }
  if (!first) out += ']';
  out += '}';
}

void render_reconcile(std::string& out, std::size_t sku_count, std::string_view problem) {
  std::vector<std::string> drift;
  if (!problem.empty()) drift.emplace_back(problem);
  render_reconcile(out, sku_count, drift);
}

void render_reconcile(std::string& out, std::size_t skus_checked, std::span<const std::string> drift) {
  out += "{\"ok\":";
  core::json::append_bool(out, drift.empty());
  out += ",\"skus_checked\":";
  core::json::append_uint(out, skus_checked);
  out += ",\"drift\":[";
  for (std::size_t i = 0; i < drift.size(); ++i) {
    if (i) out += ',';
    append_string(out, drift[i]);
  }
  out += "]}";
}

}  // namespace stockd::net
