// Commands -> the request bodies that decode back to them (api_json.h): for clients and for the
// round-trip tests and fuzzer. Fields left unset in the command are left out of the body.
#include <string>
#include <type_traits>
#include <variant>

#include "net/api_json.h"
#include "core/json_writer.h"

namespace stockd::net {
namespace {

using core::json::append_int;
using core::json::append_key;
using core::json::append_string;

// Writes "key":value pairs separated by commas.
struct Fields {
  std::string& out;
  bool first = true;
  void key(std::string_view k) {
    if (!first) out += ',';
    first = false;
    append_key(out, k);
  }
  void num(std::string_view k, std::int64_t v) {
    key(k);
    append_int(out, v);
  }
  void clearable(std::string_view k, std::int64_t v) {
    key(k);
    if (v == core::kClear) out += "null";
    else append_int(out, v);
  }
  void str(std::string_view k, std::string_view v) {
    key(k);
    append_string(out, v);
  }
};

void lines(std::string& out, const std::vector<core::HoldLine>& ls) {
  out += '[';
  for (std::size_t i = 0; i < ls.size(); ++i) {
    if (i) out += ',';
    Fields f{out};
    out += '{';
    f.str("sku", ls[i].sku);
    f.num("qty", ls[i].qty);
    out += '}';
  }
  out += ']';
}

void batch_rows(std::string& out, const std::vector<core::BatchRow>& rows) {
  out += '[';
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (i) out += ',';
    Fields f{out};
    out += '{';
    f.str("sku", rows[i].sku);
    f.num(rows[i].set ? "on_hand" : "delta", rows[i].value);
    if (rows[i].expect_on_hand) f.num("expect_on_hand", *rows[i].expect_on_hand);
    out += '}';
  }
  out += ']';
}

void allocation(Fields& f, const core::SetAllocation& a) {
  std::string& out = f.out;
  f.key("fences");
  out += '{';
  for (std::size_t i = 0; i < a.fences.size(); ++i) {
    if (i) out += ',';
    append_key(out, a.fences[i].channel);
    if (a.fences[i].ratio_ppb >= 0) {
      out += "{\"ratio\":";
      core::json::append_ratio_ppb(out, a.fences[i].ratio_ppb);
    } else {
      out += "{\"units\":";
      append_int(out, a.fences[i].units);
    }
    out += '}';
  }
  out += '}';
  f.key("pools");
  out += '{';
  for (std::size_t i = 0; i < a.pools.size(); ++i) {
    if (i) out += ',';
    append_key(out, a.pools[i].name);
    out += "{\"units\":";
    append_int(out, a.pools[i].units);
    out += ",\"channels\":[";
    for (std::size_t k = 0; k < a.pools[i].channels.size(); ++k) {
      if (k) out += ',';
      append_string(out, a.pools[i].channels[k]);
    }
    out += "]}";
  }
  out += '}';
  f.key("preempt");
  core::json::append_bool(out, a.preempt);
}

}  // namespace

void encode_command_body(const core::Command& cmd, std::string& out) {
  out += '{';
  Fields f{out};
  std::visit(
      [&](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, core::PutChannel>) {
          if (c.priority) f.num("priority", *c.priority);
          if (c.hold_ttl_s) f.num("hold_ttl_s", *c.hold_ttl_s);
          if (c.state) f.str("state", core::channel_state_name(*c.state));
          if (c.clear_listing) {
            f.key("listing");
            out += "null";
          } else if (c.listing) {
            f.key("listing");
            Fields l{out};
            out += '{';
            l.num("percent", c.listing->percent);
            l.num("buffer", c.listing->buffer);
            l.clearable("cap", c.listing->cap);
            l.num("min", c.listing->min);
            out += '}';
          }
          if (c.clear_webhook) {
            f.key("webhook");
            out += "null";
          } else if (c.webhook) {
            f.key("webhook");
            Fields w{out};
            out += '{';
            w.str("url", c.webhook->url);
            w.str("secret", c.webhook->secret);
            w.num("freeze_after_s", c.webhook->freeze_after_s);
            out += '}';
          }
        } else if constexpr (std::is_same_v<T, core::AckPublications>) {
          f.num("seq", static_cast<std::int64_t>(c.seq));
        } else if constexpr (std::is_same_v<T, core::PutSku>) {
          if (c.on_hand) f.num("on_hand", *c.on_hand);
          if (c.safety_stock) f.num("safety_stock", *c.safety_stock);
          if (c.max_per_hold) f.clearable("max_per_hold", *c.max_per_hold);
          if (c.low_stock_threshold) f.clearable("low_stock_threshold", *c.low_stock_threshold);
          if (c.split) f.num("split", *c.split);
        } else if constexpr (std::is_same_v<T, core::Adjust>) {
          f.num("delta", c.delta);
          if (!c.reason.empty()) f.str("reason", c.reason);
          if (!c.ref.empty()) f.str("ref", c.ref);
        } else if constexpr (std::is_same_v<T, core::SetAllocation>) {
          allocation(f, c);
        } else if constexpr (std::is_same_v<T, core::CreateHold>) {
          f.str("id", c.id);
          f.str("channel", c.channel);
          f.key("lines");
          lines(out, c.lines);
          if (c.ttl_s) f.num("ttl_s", *c.ttl_s);
          if (c.confirm) {
            f.key("confirm");
            out += "true";
          }
        } else if constexpr (std::is_same_v<T, core::ConfirmHold>) {
          if (c.lines) {
            f.key("lines");
            lines(out, *c.lines);
          }
        } else if constexpr (std::is_same_v<T, core::ExtendHold>) {
          f.num("ttl_s", c.ttl_s);
        } else if constexpr (std::is_same_v<T, core::StockBatch>) {
          if (!c.ref.empty()) f.str("ref", c.ref);
          f.str("reason", core::stock_reason_name(c.reason));
          if (c.atomic) {
            f.key("atomic");
            out += "true";
          }
          f.key("rows");
          batch_rows(out, c.rows);
        }
      },
      cmd);
  out += '}';
}

}  // namespace stockd::net
