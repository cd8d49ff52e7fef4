// Request bodies -> core commands. nlohmann::json parses (it validates UTF-8 and the grammar); the field
// walk below is strict: every field of an object is looked at, so an unknown one is found, and every
// value's type is checked before it is read, so nothing in the walk can throw. The parser's own
// exceptions are caught here. Two things nlohmann does not refuse are checked separately: nesting
// depth (a cheap scan before parsing) and a field repeated in one object (nlohmann keeps the last one
// silently; a SAX pass of its own looks for a key repeated in one object).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/field_name.h"
#include "core/limits.h"
#include "net/api_json.h"
#include "net/net_limits.h"

namespace stockd::net {
namespace {

using core::Code;
using nlohmann::json;

const std::string kIdRule =
    " must be 1 to " + std::to_string(limits::kIdLenMax) + " characters of A-Z a-z 0-9 . _ : -";

struct Ctx {
  std::string* error;
  Code fail(std::string message) {
    if (error) *error = std::move(message);
    return Code::invalid_request;
  }
};

// Client text quoted in a message, cut to kEchoBytesMax.
std::string echo(std::string_view s) {
  if (s.size() <= kEchoBytesMax) return std::string(s);
  return std::string(s.substr(0, kEchoBytesMax)) + "...";
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return " must be an integer between " + std::to_string(lo) + " and " + std::to_string(hi);
}

bool blank(std::string_view body) {
  return std::all_of(body.begin(), body.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

bool depth_ok(std::string_view body) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kJsonDepthMax) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return true;
}

// Finds a field named twice in one object (nlohmann keeps the last one silently), in a SAX pass of its
// own. Linear: a parser callback would do the same in one pass, but nlohmann's callback parser scans the
// enclosing array at the end of every object (for discarded values), quadratic in a batch's rows.
struct RepeatedKeys : nlohmann::json_sax<json> {
  std::vector<std::vector<std::string>> open;  // per open object: its keys so far (objects are small)
  bool repeated = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    std::vector<std::string>& keys = open.back();
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) repeated = true;
    keys.push_back(k);
    return !repeated;
  }
  bool end_object() override {
    open.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

Code parse_object(std::string_view body, bool required, json* doc, Ctx& ctx) {
  if (blank(body)) {
    if (required) return ctx.fail("the request needs a JSON object body");
    *doc = json::object();
    return Code::ok;
  }
  if (!depth_ok(body))
    return ctx.fail("the JSON body nests deeper than " + std::to_string(kJsonDepthMax) + " levels");
  try {
    *doc = json::parse(body.begin(), body.end(), nullptr, true, false);
  } catch (const json::parse_error& e) {
    return ctx.fail("malformed JSON at byte " + std::to_string(e.byte));
  } catch (...) {
    return ctx.fail("malformed JSON");
  }
  RepeatedKeys check;
  try {
    json::sax_parse(body.begin(), body.end(), &check, json::input_format_t::json, true, false);
  } catch (...) {
    return ctx.fail("malformed JSON");
  }
  if (check.repeated) return ctx.fail("a JSON object in the body names a field twice");
  if (!doc->is_object()) return ctx.fail("the request body must be a JSON object");
  return Code::ok;
}

Code unknown(const std::string& name, Ctx& ctx) { return ctx.fail("unknown field \"" + echo(name) + "\""); }

Code get_int(const json& v, const std::string& name, std::int64_t lo, std::int64_t hi, std::int64_t* out, Ctx& ctx) {
  std::int64_t x = 0;
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return ctx.fail(name + range_text(lo, hi));
    x = static_cast<std::int64_t>(u);
  } else if (v.is_number_integer()) {
    x = v.get<std::int64_t>();
  } else {
    return ctx.fail(name + range_text(lo, hi));
  }
  if (x < lo || x > hi) return ctx.fail(name + range_text(lo, hi));
  *out = x;
  return Code::ok;
}

Code get_id(const json& v, const std::string& name, std::string* out, Ctx& ctx) {
  if (!v.is_string() || !core::is_identifier(v.get_ref<const std::string&>())) return ctx.fail(name + kIdRule);
  *out = v.get_ref<const std::string&>();
  return Code::ok;
}

Code get_bool(const json& v, const std::string& name, bool* out, Ctx& ctx) {
  if (!v.is_boolean()) return ctx.fail(name + " must be true or false");
  *out = v.get<bool>();
  return Code::ok;
}

Code check_path_id(std::string_view value, const char* what, Ctx& ctx) {
  if (core::is_identifier(value)) return Code::ok;
  return ctx.fail(std::string(what) + " in the path" + kIdRule);
}

// A decoded command also passes the core's own syntax check; its message names the field too.
Code finish(core::Command&& cmd, core::Command* out, Ctx& ctx) {
  std::string message;
  if (core::validate(cmd, &message) != Code::ok) return ctx.fail(std::move(message));
  *out = std::move(cmd);
  return Code::ok;
}

Code get_lines(const json& v, const std::string& name, std::vector<core::HoldLine>* out, Ctx& ctx) {
  if (!v.is_array()) return ctx.fail(name + " must be an array of {\"sku\",\"qty\"}");
  if (v.empty() || v.size() > limits::kLinesPerHoldMax)
    return ctx.fail(name + " must hold 1 to " + std::to_string(limits::kLinesPerHoldMax) + " lines");
  out->clear();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string at = core::line_field(i);
    const json& line = v[i];
    if (!line.is_object()) return ctx.fail(at + " must be an object {\"sku\",\"qty\"}");
    core::HoldLine l;
    bool have_sku = false, have_qty = false;
    for (const auto& [k, f] : line.items()) {
      Code c = Code::ok;
      if (k == "sku") c = get_id(f, core::line_field(i, "sku"), &l.sku, ctx), have_sku = true;
      else if (k == "qty") c = get_int(f, core::line_field(i, "qty"), limits::kQtyMin, limits::kQtyMax, &l.qty, ctx), have_qty = true;
      else c = unknown(core::line_field(i, k), ctx);
      if (c != Code::ok) return c;
    }
    if (!have_sku || !have_qty) return ctx.fail(at + " needs both sku and qty");
    out->push_back(std::move(l));
  }
  std::vector<std::string_view> skus;
  for (const auto& l : *out) skus.push_back(l.sku);
  std::sort(skus.begin(), skus.end());
  auto dup = std::adjacent_find(skus.begin(), skus.end());
  if (dup != skus.end()) return ctx.fail(name + " name sku \"" + std::string(*dup) + "\" twice");
  return Code::ok;
}

Code get_fence(const std::string& channel, const json& v, core::FenceSpec* f, Ctx& ctx) {
  const std::string at = "fences." + echo(channel);
  if (!core::is_identifier(channel)) return ctx.fail("fences: channel name \"" + echo(channel) + "\"" + kIdRule);
  if (!v.is_object()) return ctx.fail(at + " must be {\"ratio\":0..1} or {\"units\":N}");
  f->channel = channel;
  for (const auto& [k, x] : v.items()) {
    Code c = Code::ok;
    if (k == "ratio") {
      double r = x.is_number() ? x.get<double>() : -1;
      if (!(r >= 0 && r <= 1)) return ctx.fail(at + ".ratio must be a number between 0 and 1");
      f->ratio_ppb = std::llround(r * 1e9);
    } else if (k == "units") {
      c = get_int(x, at + ".units", 0, limits::kOnHandMax, &f->units, ctx);
    } else {
      c = unknown(at + "." + k, ctx);
    }
    if (c != Code::ok) return c;
  }
  if ((f->ratio_ppb >= 0) == (f->units >= 0)) return ctx.fail(at + " needs exactly one of ratio or units");
  return Code::ok;
}

Code get_pool(const std::string& name, const json& v, core::PoolSpec* p, Ctx& ctx) {
  const std::string at = "pools." + echo(name);
  if (!core::is_identifier(name)) return ctx.fail("pools: pool name \"" + echo(name) + "\"" + kIdRule);
  if (!v.is_object()) return ctx.fail(at + " must be {\"units\":N,\"channels\":[...]}");
  p->name = name;
  bool have_units = false, have_channels = false;
  for (const auto& [k, x] : v.items()) {
    Code c = Code::ok;
    if (k == "units") {
      c = get_int(x, at + ".units", 0, limits::kOnHandMax, &p->units, ctx);
      have_units = true;
    } else if (k == "channels") {
      if (!x.is_array() || x.empty() || x.size() > limits::kChannelsPerPoolMax)
        return ctx.fail(at + ".channels must be an array of 1 to " + std::to_string(limits::kChannelsPerPoolMax) +
                        " channel names");
      for (std::size_t i = 0; i < x.size() && c == Code::ok; ++i) {
        p->channels.emplace_back();
        c = get_id(x[i], at + ".channels[" + std::to_string(i) + "]", &p->channels.back(), ctx);
      }
      have_channels = true;
    } else {
      c = unknown(at + "." + k, ctx);
    }
    if (c != Code::ok) return c;
  }
  if (!have_units || !have_channels) return ctx.fail(at + " needs units and channels");
  std::vector<std::string_view> names(p->channels.begin(), p->channels.end());
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) != names.end())
    return ctx.fail(at + ".channels names a channel twice");
  return Code::ok;
}


// "listing":{"percent":100,"buffer":0,"cap":null,"min":0}: every field optional (those defaults).
Code get_listing(const json& v, core::Listing* l, Ctx& ctx) {
  if (!v.is_object()) return ctx.fail("listing must be null or {\"percent\",\"buffer\",\"cap\",\"min\"}");
  for (const auto& [k, x] : v.items()) {
    Code c = Code::ok;
    if (k == "percent") c = get_int(x, "listing.percent", 0, 100, &l->percent, ctx);
    else if (k == "buffer") c = get_int(x, "listing.buffer", 0, limits::kOnHandMax, &l->buffer, ctx);
    else if (k == "min") c = get_int(x, "listing.min", 0, limits::kOnHandMax, &l->min, ctx);
    else if (k == "cap" && x.is_null()) l->cap = -1;
    else if (k == "cap") c = get_int(x, "listing.cap", 0, limits::kOnHandMax, &l->cap, ctx);
    else c = unknown("listing." + k, ctx);
    if (c != Code::ok) return c;
  }
  return Code::ok;
}

// "webhook":{"url":"http://...","secret":"...","freeze_after_s":60}: url and secret required.
Code get_webhook(const json& v, core::Webhook* w, Ctx& ctx) {
  if (!v.is_object()) return ctx.fail("webhook must be null or {\"url\",\"secret\",\"freeze_after_s\"}");
  bool have_url = false, have_secret = false;
  for (const auto& [k, x] : v.items()) {
    Code c = Code::ok;
    if ((k == "url" || k == "secret") && !x.is_string()) {
      c = ctx.fail("webhook." + k + " must be a string");
    } else if (k == "url") {
      w->url = x.get_ref<const std::string&>();
      have_url = true;
    } else if (k == "secret") {
      w->secret = x.get_ref<const std::string&>();
      have_secret = true;
    } else if (k == "freeze_after_s") {
      c = get_int(x, "webhook.freeze_after_s", 1, limits::kFreezeAfterSecondsMax, &w->freeze_after_s, ctx);
    } else {
      c = unknown("webhook." + k, ctx);
    }
    if (c != Code::ok) return c;
  }
  if (!have_url || !have_secret) return ctx.fail("webhook needs url and secret");
  return Code::ok;
}

// The decoders proper: Code::ok, or Code::invalid_request with the message in *error.

Code put_channel_code(std::string_view channel, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(channel, "channel", ctx) != Code::ok || parse_object(body, true, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::PutChannel cmd;
  cmd.channel = channel;
  for (const auto& [k, v] : doc.items()) {
    std::int64_t x = 0;
    Code c = Code::ok;
    if (k == "priority") {
      if ((c = get_int(v, k, limits::kPriorityMin, limits::kPriorityMax, &x, ctx)) == Code::ok) cmd.priority = x;
    } else if (k == "hold_ttl_s") {
      if ((c = get_int(v, k, limits::kTtlSecondsMin, limits::kTtlSecondsMax, &x, ctx)) == Code::ok) cmd.hold_ttl_s = x;
    } else if (k == "state") {
      if (v == "active") cmd.state = core::ChannelState::active;
      else if (v == "frozen") cmd.state = core::ChannelState::frozen;
      else c = ctx.fail("state must be \"active\" or \"frozen\"");
    } else if (k == "listing") {
      if (v.is_null()) cmd.clear_listing = true;
      else c = get_listing(v, &cmd.listing.emplace(), ctx);
    } else if (k == "webhook") {
      if (v.is_null()) cmd.clear_webhook = true;
      else c = get_webhook(v, &cmd.webhook.emplace(), ctx);
    } else {
      c = unknown(k, ctx);
    }
    if (c != Code::ok) return c;
  }
  return finish(std::move(cmd), out, ctx);
}

Code put_sku_code(std::string_view sku, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(sku, "sku", ctx) != Code::ok || parse_object(body, true, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::PutSku cmd;
  cmd.sku = sku;
  for (const auto& [k, v] : doc.items()) {
    std::int64_t x = 0;
    Code c = Code::ok;
    if (k == "on_hand") {
      if ((c = get_int(v, k, 0, limits::kOnHandMax, &x, ctx)) == Code::ok) cmd.on_hand = x;
    } else if (k == "safety_stock") {
      if ((c = get_int(v, k, 0, limits::kOnHandMax, &x, ctx)) == Code::ok) cmd.safety_stock = x;
    } else if (k == "max_per_hold") {
      if (v.is_null()) cmd.max_per_hold = core::kClear;
      else if ((c = get_int(v, k, 0, limits::kQtyMax, &x, ctx)) == Code::ok) cmd.max_per_hold = x == 0 ? core::kClear : x;
    } else if (k == "low_stock_threshold") {
      if (v.is_null()) cmd.low_stock_threshold = core::kClear;
      else if ((c = get_int(v, k, 0, limits::kOnHandMax, &x, ctx)) == Code::ok) cmd.low_stock_threshold = x;
    } else if (k == "split") {
      if ((c = get_int(v, k, 1, limits::kSplitMax, &x, ctx)) == Code::ok) cmd.split = x;
    } else {
      c = unknown(k, ctx);
    }
    if (c != Code::ok) return c;
  }
  return finish(std::move(cmd), out, ctx);
}

Code adjust_code(std::string_view sku, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(sku, "sku", ctx) != Code::ok || parse_object(body, true, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::Adjust cmd;
  cmd.sku = sku;
  bool have_delta = false;
  for (const auto& [k, v] : doc.items()) {
    Code c = Code::ok;
    if (k == "delta") {
      c = get_int(v, k, -limits::kDeltaMax, limits::kDeltaMax, &cmd.delta, ctx);
      if (c == Code::ok && cmd.delta == 0) c = ctx.fail("delta must not be 0");
      have_delta = true;
    } else if (k == "reason") {
      if (!v.is_string() || v.get_ref<const std::string&>().size() > limits::kReasonLenMax)
        c = ctx.fail("reason must be a string of at most " + std::to_string(limits::kReasonLenMax) + " bytes");
      else cmd.reason = v.get<std::string>();
    } else if (k == "ref") {
      c = get_id(v, k, &cmd.ref, ctx);
    } else {
      c = unknown(k, ctx);
    }
    if (c != Code::ok) return c;
  }
  if (!have_delta) return ctx.fail("delta is required");
  return finish(std::move(cmd), out, ctx);
}

Code set_allocation_code(std::string_view sku, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(sku, "sku", ctx) != Code::ok || parse_object(body, true, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::SetAllocation cmd;
  cmd.sku = sku;
  for (const auto& [k, v] : doc.items()) {
    Code c = Code::ok;
    if (k == "fences") {
      if (!v.is_object() || v.size() > limits::kFencesPerSkuMax)
        return ctx.fail("fences must be an object of at most " + std::to_string(limits::kFencesPerSkuMax) +
                        " channel: {\"ratio\"} or {\"units\"} entries");
      for (const auto& [ch, spec] : v.items()) {
        cmd.fences.emplace_back();
        if ((c = get_fence(ch, spec, &cmd.fences.back(), ctx)) != Code::ok) return c;
      }
    } else if (k == "pools") {
      if (!v.is_object() || v.size() > limits::kPoolsPerSkuMax)
        return ctx.fail("pools must be an object of at most " + std::to_string(limits::kPoolsPerSkuMax) +
                        " name: {\"units\",\"channels\"} entries");
      for (const auto& [name, spec] : v.items()) {
        cmd.pools.emplace_back();
        if ((c = get_pool(name, spec, &cmd.pools.back(), ctx)) != Code::ok) return c;
      }
    } else if (k == "preempt") {
      c = get_bool(v, k, &cmd.preempt, ctx);
    } else {
      c = unknown(k, ctx);
    }
    if (c != Code::ok) return c;
  }
  return finish(std::move(cmd), out, ctx);
}

Code create_hold_code(std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (parse_object(body, true, &doc, ctx) != Code::ok) return Code::invalid_request;
  core::CreateHold cmd;
  bool have_id = false, have_channel = false, have_lines = false;
  for (const auto& [k, v] : doc.items()) {
    Code c = Code::ok;
    std::int64_t x = 0;
    if (k == "id") c = get_id(v, k, &cmd.id, ctx), have_id = true;
    else if (k == "channel") c = get_id(v, k, &cmd.channel, ctx), have_channel = true;
    else if (k == "lines") c = get_lines(v, k, &cmd.lines, ctx), have_lines = true;
    else if (k == "confirm") c = get_bool(v, k, &cmd.confirm, ctx);
    else if (k == "ttl_s") {
      if ((c = get_int(v, k, limits::kTtlSecondsMin, limits::kTtlSecondsMax, &x, ctx)) == Code::ok) cmd.ttl_s = x;
    } else {
      c = unknown(k, ctx);
    }
    if (c != Code::ok) return c;
  }
  if (!have_id) return ctx.fail("id is required");
  if (!have_channel) return ctx.fail("channel is required");
  if (!have_lines) return ctx.fail("lines is required");
  return finish(std::move(cmd), out, ctx);
}

Code confirm_code(std::string_view id, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(id, "hold id", ctx) != Code::ok || parse_object(body, false, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::ConfirmHold cmd;
  cmd.id = id;
  for (const auto& [k, v] : doc.items()) {
    if (k != "lines") return unknown(k, ctx);
    cmd.lines.emplace();
    if (get_lines(v, k, &*cmd.lines, ctx) != Code::ok) return Code::invalid_request;
  }
  return finish(std::move(cmd), out, ctx);
}

Code release_code(std::string_view id, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(id, "hold id", ctx) != Code::ok || parse_object(body, false, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  if (!doc.empty()) return unknown(doc.begin().key(), ctx);
  return finish(core::ReleaseHold{std::string(id)}, out, ctx);
}

Code ack_code(std::string_view channel, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(channel, "channel", ctx) != Code::ok || parse_object(body, true, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::AckPublications cmd;
  cmd.channel = channel;
  bool have_seq = false;
  for (const auto& [k, v] : doc.items()) {
    if (k != "seq") return unknown(k, ctx);
    std::int64_t seq = 0;
    if (get_int(v, k, 0, std::numeric_limits<std::int64_t>::max(), &seq, ctx) != Code::ok) return Code::invalid_request;
    cmd.seq = static_cast<std::uint64_t>(seq);
    have_seq = true;
  }
  if (!have_seq) return ctx.fail("seq is required");
  return finish(std::move(cmd), out, ctx);
}

Code extend_code(std::string_view id, std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (check_path_id(id, "hold id", ctx) != Code::ok || parse_object(body, true, &doc, ctx) != Code::ok)
    return Code::invalid_request;
  core::ExtendHold cmd;
  cmd.id = id;
  bool have_ttl = false;
  for (const auto& [k, v] : doc.items()) {
    if (k != "ttl_s") return unknown(k, ctx);
    if (get_int(v, k, limits::kTtlSecondsMin, limits::kTtlSecondsMax, &cmd.ttl_s, ctx) != Code::ok)
      return Code::invalid_request;
    have_ttl = true;
  }
  if (!have_ttl) return ctx.fail("ttl_s is required");
  return finish(std::move(cmd), out, ctx);
}

// One row of a stock batch. Its shape (an object, a string sku of at most kBatchSkuBytesMax bytes,
// exactly one of on_hand and delta, integers) is the body's; its values (identifier, ranges) are the
// row's own and checked by the core (a row error).
Code get_batch_row(const json& v, std::size_t i, core::BatchRow* row, Ctx& ctx) {
  const std::string at = "rows[" + std::to_string(i) + "]";
  if (!v.is_object()) return ctx.fail(at + " must be an object");
  constexpr std::int64_t kAny = std::numeric_limits<std::int64_t>::max();
  bool have_sku = false, have_value = false;
  for (const auto& [k, f] : v.items()) {
    Code c = Code::ok;
    std::int64_t x = 0;
    if (k == "sku") {
      if (!f.is_string() || f.get_ref<const std::string&>().size() > limits::kBatchSkuBytesMax)
        c = ctx.fail(at + ".sku must be a string of at most " + std::to_string(limits::kBatchSkuBytesMax) + " bytes");
      else row->sku = f.get_ref<const std::string&>();
      have_sku = true;
    } else if (k == "on_hand" || k == "delta") {
      if (have_value) return ctx.fail(at + " must have exactly one of on_hand and delta");
      if ((c = get_int(f, at + "." + k, -kAny, kAny, &x, ctx)) == Code::ok) {
        row->set = k == "on_hand";
        row->value = x;
      }
      have_value = true;
    } else if (k == "expect_on_hand") {
      if ((c = get_int(f, at + "." + k, -kAny, kAny, &x, ctx)) == Code::ok) row->expect_on_hand = x;
    } else {
      c = ctx.fail(at + ": unknown field \"" + echo(k) + "\"");
    }
    if (c != Code::ok) return c;
  }
  if (!have_sku) return ctx.fail(at + ".sku is required");
  if (!have_value) return ctx.fail(at + " must have exactly one of on_hand and delta");
  return Code::ok;
}

Code stock_batch_code(std::string_view body, core::Command* out, std::string* error) {
  Ctx ctx{error};
  json doc;
  if (parse_object(body, true, &doc, ctx) != Code::ok) return Code::invalid_request;
  core::StockBatch cmd;
  bool have_reason = false, have_rows = false;
  for (const auto& [k, v] : doc.items()) {
    Code c = Code::ok;
    if (k == "ref") {
      c = get_id(v, k, &cmd.ref, ctx);
    } else if (k == "reason") {
      if (!v.is_string() || !core::parse_stock_reason(v.get_ref<const std::string&>(), &cmd.reason))
        c = ctx.fail("reason must be one of received, cycle_count, damaged, returned, correction, other");
      have_reason = true;
    } else if (k == "atomic") {
      c = get_bool(v, k, &cmd.atomic, ctx);
    } else if (k == "rows") {
      if (!v.is_array() || v.empty() || v.size() > limits::kBatchRowsMax)
        return ctx.fail("rows must be an array of 1 to " + std::to_string(limits::kBatchRowsMax) + " rows");
      cmd.rows.resize(v.size());
      for (std::size_t i = 0; i < v.size() && c == Code::ok; ++i) c = get_batch_row(v[i], i, &cmd.rows[i], ctx);
      have_rows = true;
    } else {
      c = unknown(k, ctx);
    }
    if (c != Code::ok) return c;
  }
  if (!have_reason) return ctx.fail("reason is required");
  if (!have_rows) return ctx.fail("rows is required");
  return finish(std::move(cmd), out, ctx);
}

// Runs one decoder with its message buffer: the Status the public decoders return.
template <class F>
core::Status status_of(F decode) {
  std::string error;
  Code c = decode(&error);
  if (c == Code::ok) return {};
  return core::Status::error(c, std::move(error));
}

}  // namespace

core::Status decode_put_channel(std::string_view channel, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return put_channel_code(channel, body, out, e); });
}

core::Status decode_put_sku(std::string_view sku, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return put_sku_code(sku, body, out, e); });
}

core::Status decode_adjust(std::string_view sku, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return adjust_code(sku, body, out, e); });
}

core::Status decode_set_allocation(std::string_view sku, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return set_allocation_code(sku, body, out, e); });
}

core::Status decode_create_hold(std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return create_hold_code(body, out, e); });
}

core::Status decode_confirm(std::string_view id, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return confirm_code(id, body, out, e); });
}

core::Status decode_release(std::string_view id, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return release_code(id, body, out, e); });
}

core::Status decode_ack_publications(std::string_view channel, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return ack_code(channel, body, out, e); });
}

core::Status decode_extend(std::string_view id, std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return extend_code(id, body, out, e); });
}

core::Status decode_stock_batch(std::string_view body, core::Command* out) {
  return status_of([&](std::string* e) { return stock_batch_code(body, out, e); });
}

}  // namespace stockd::net
