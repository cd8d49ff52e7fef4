#include "core/command.h"

#include <algorithm>
#include <string>

#include "core/field_name.h"
#include "core/limits.h"

namespace stockd::core {

std::string_view channel_state_name(ChannelState s) {
  return s == ChannelState::active ? "active" : "frozen";
}

std::string_view frozen_reason_name(FrozenReason r) {
  switch (r) {
    case FrozenReason::none: return "";
    case FrozenReason::manual: return "manual";
    case FrozenReason::delivery_failing: return "delivery_failing";
  }
  return "";
}

std::string_view hold_state_name(HoldState s) {
  switch (s) {
    case HoldState::held: return "held";
    case HoldState::confirmed: return "confirmed";
    case HoldState::released: return "released";
    case HoldState::expired: return "expired";
  }
  return "unknown";
}

namespace {
constexpr std::string_view kStockReasonNames[kStockReasonCount] = {"received", "cycle_count", "damaged",
                                                                   "returned", "correction",  "other"};
}  // namespace

std::string_view stock_reason_name(StockReason r) {
  auto i = static_cast<std::size_t>(r);
  return i < kStockReasonCount ? kStockReasonNames[i] : "other";
}

bool parse_stock_reason(std::string_view name, StockReason* out) {
  for (int i = 0; i < kStockReasonCount; ++i) {
    if (kStockReasonNames[i] == name) {
      *out = static_cast<StockReason>(i);
      return true;
    }
  }
  return false;
}

namespace {
// One table lookup per character (this runs for every id of every command, in the server and the core).
struct IdentifierChars {
  bool ok[256] = {};
  constexpr IdentifierChars() {
    for (int c = 0; c < 256; ++c)
      ok[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == ':' || c == '-';
  }
};
constexpr IdentifierChars kIdentifierChars;
}  // namespace

bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > limits::kIdLenMax) return false;
  bool ok = true;
  for (char c : s) ok &= kIdentifierChars.ok[static_cast<unsigned char>(c)];
  return ok;
}

std::string line_field(std::size_t index, std::string_view field) {
  std::string name = "lines[" + std::to_string(index) + "]";
  if (!field.empty()) name.append(".").append(field);
  return name;
}

namespace {

// Each check returns false and fills the message on the first violation.
struct Checker {
  std::string* message;
  bool fail(std::string text) {
    if (message) *message = std::move(text);
    return false;
  }
  bool id(std::string_view field, std::string_view value) {
    if (is_identifier(value)) return true;
    return fail(std::string(field) + " must be 1 to 128 characters of A-Z a-z 0-9 . _ : -");
  }
  bool range(std::string_view field, std::int64_t v, std::int64_t lo, std::int64_t hi) {
    if (v >= lo && v <= hi) return true;
    return fail(std::string(field) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  }
  bool lines(const std::vector<HoldLine>& lines) {
    if (lines.empty() || lines.size() > limits::kLinesPerHoldMax)
      return fail("lines must hold 1 to " + std::to_string(limits::kLinesPerHoldMax) + " entries");
    for (std::size_t i = 0; i < lines.size(); ++i) {
      // The field's name is built only for the message (this runs for every hold).
      if (!is_identifier(lines[i].sku)) return id(line_field(i, "sku"), lines[i].sku);
      if (lines[i].qty < limits::kQtyMin || lines[i].qty > limits::kQtyMax)
        return range(line_field(i, "qty"), lines[i].qty, limits::kQtyMin, limits::kQtyMax);
    }
    // Duplicate SKUs: pairwise for the usual few lines (no allocation on the hot path), sorted beyond.
    bool twice = false;
    if (lines.size() <= 16) {
      for (std::size_t i = 1; i < lines.size() && !twice; ++i)
        for (std::size_t j = 0; j < i && !twice; ++j) twice = lines[i].sku == lines[j].sku;
    } else {
      std::vector<std::string_view> skus;
      skus.reserve(lines.size());
      for (const auto& l : lines) skus.push_back(l.sku);
      std::sort(skus.begin(), skus.end());
      twice = std::adjacent_find(skus.begin(), skus.end()) != skus.end();
    }
    if (twice) return fail("lines name the same sku twice");
    return true;
  }

  bool operator()(const PutChannel& c) {
    if (!id("channel", c.channel)) return false;
    if (c.priority && !range("priority", *c.priority, limits::kPriorityMin, limits::kPriorityMax)) return false;
    if (c.hold_ttl_s && !range("hold_ttl_s", *c.hold_ttl_s, limits::kTtlSecondsMin, limits::kTtlSecondsMax))
      return false;
    if (c.reason && (!c.state || *c.reason == FrozenReason::none)) return fail("a reason goes with a state");
    if (c.listing && c.clear_listing) return fail("listing both set and cleared");
    if (c.webhook && c.clear_webhook) return fail("webhook both set and cleared");
    if (c.listing) {
      const Listing& l = *c.listing;
      if (!range("listing.percent", l.percent, 0, 100) || !range("listing.buffer", l.buffer, 0, limits::kOnHandMax) ||
          !range("listing.min", l.min, 0, limits::kOnHandMax))
        return false;
      if (l.cap != -1 && !range("listing.cap", l.cap, 0, limits::kOnHandMax)) return false;
    }
    if (c.webhook) {
      const Webhook& w = *c.webhook;
      std::string_view url = w.url;
      bool scheme = url.starts_with("http://") || url.starts_with("https://");
      std::size_t host_at = url.find("://") + 3;
      if (!scheme || url.size() <= host_at || url.size() > limits::kUrlLenMax)
        return fail("webhook.url must be an http:// or https:// URL of at most 2048 bytes");
      for (char ch : url)
        if (static_cast<unsigned char>(ch) <= ' ' || ch == 0x7f) return fail("webhook.url has a space or control byte");
      if (w.secret.empty() || w.secret.size() > limits::kSecretLenMax)
        return fail("webhook.secret must be 1 to 256 bytes");
      if (!range("webhook.freeze_after_s", w.freeze_after_s, 1, limits::kFreezeAfterSecondsMax)) return false;
    }
    return true;
  }
  bool operator()(const PutSku& c) {
    if (!id("sku", c.sku)) return false;
    if (c.on_hand && !range("on_hand", *c.on_hand, 0, limits::kOnHandMax)) return false;
    if (c.safety_stock && !range("safety_stock", *c.safety_stock, 0, limits::kOnHandMax)) return false;
    if (c.max_per_hold && *c.max_per_hold != kClear &&
        !range("max_per_hold", *c.max_per_hold, 0, limits::kQtyMax))
      return false;
    if (c.low_stock_threshold && *c.low_stock_threshold != kClear &&
        !range("low_stock_threshold", *c.low_stock_threshold, 0, limits::kOnHandMax))
      return false;
    if (c.split && !range("split", *c.split, 1, limits::kSplitMax)) return false;
    return true;
  }
  bool operator()(const Adjust& c) {
    if (!id("sku", c.sku)) return false;
    if (c.delta == 0) return fail("delta must not be 0");
    if (!range("delta", c.delta, -limits::kDeltaMax, limits::kDeltaMax)) return false;
    if (c.reason.size() > limits::kReasonLenMax) return fail("reason is longer than 256 bytes");
    if (!c.ref.empty() && !id("ref", c.ref)) return false;
    return true;
  }
  bool operator()(const SetAllocation& c) {
    if (!id("sku", c.sku)) return false;
    if (c.fences.size() > limits::kFencesPerSkuMax) return fail("too many fences");
    if (c.pools.size() > limits::kPoolsPerSkuMax) return fail("too many pools");
    std::vector<std::string_view> seen;
    for (const auto& f : c.fences) {
      if (!id("fences channel", f.channel)) return false;
      bool ratio = f.ratio_ppb >= 0, units = f.units >= 0;
      if (ratio == units) return fail("a fence needs exactly one of ratio or units");
      if (ratio && f.ratio_ppb > 1'000'000'000) return fail("fence ratio must be between 0 and 1");
      if (units && !range("fence units", f.units, 0, limits::kOnHandMax)) return false;
      seen.push_back(f.channel);
    }
    std::sort(seen.begin(), seen.end());
    if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) return fail("two fences for one channel");
    seen.clear();
    for (const auto& p : c.pools) {
      if (!id("pool name", p.name)) return false;
      if (!range("pool units", p.units, 0, limits::kOnHandMax)) return false;
      if (p.channels.empty() || p.channels.size() > limits::kChannelsPerPoolMax)
        return fail("a pool lists 1 to 64 channels");
      for (const auto& ch : p.channels)
        if (!id("pool channels", ch)) return false;
      seen.push_back(p.name);
    }
    std::sort(seen.begin(), seen.end());
    if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) return fail("two pools with one name");
    return true;
  }
  bool operator()(const ClosePool& c) { return id("sku", c.sku) && id("pool", c.pool); }
  bool operator()(const CreateHold& c) {
    if (!id("id", c.id) || !id("channel", c.channel) || !lines(c.lines)) return false;
    if (c.ttl_s && !range("ttl_s", *c.ttl_s, limits::kTtlSecondsMin, limits::kTtlSecondsMax)) return false;
    return true;
  }
  bool operator()(const ConfirmHold& c) {
    if (!id("id", c.id)) return false;
    return !c.lines || lines(*c.lines);
  }
  bool operator()(const ReleaseHold& c) { return id("id", c.id); }
  bool operator()(const ExtendHold& c) {
    return id("id", c.id) && range("ttl_s", c.ttl_s, limits::kTtlSecondsMin, limits::kTtlSecondsMax);
  }
  bool operator()(const Tick&) { return true; }
  bool operator()(const StockBatch& c) {
    if (c.rows.empty() || c.rows.size() > limits::kBatchRowsMax)
      return fail("rows must hold 1 to " + std::to_string(limits::kBatchRowsMax) + " entries");
    if (!c.ref.empty() && !id("ref", c.ref)) return false;
    if (static_cast<int>(c.reason) >= kStockReasonCount) return fail("unknown reason");
    for (std::size_t i = 0; i < c.rows.size(); ++i) {
      if (c.rows[i].sku.size() > limits::kBatchSkuBytesMax)
        return fail("rows[" + std::to_string(i) + "].sku is longer than 1024 bytes");
    }
    return true;
  }
  bool operator()(const AckPublications& c) { return id("channel", c.channel); }
  bool operator()(const Configure& c) {
    return range("retention_ms", c.retention_ms, 0, 365LL * 24 * 3600 * 1000) &&
           range("low_stock_permille", c.low_stock_permille, 0, 1000);
  }
};

}  // namespace

Code validate_row(const BatchRow& row, std::size_t index, std::string* message) {
  // The messages are built only for a bad row: this runs for every row of every batch.
  auto in_range = [](std::int64_t v, std::int64_t lo, std::int64_t hi) { return v >= lo && v <= hi; };
  bool id_ok = is_identifier(row.sku);
  bool value_ok = row.set ? in_range(row.value, 0, limits::kOnHandMax)
                          : in_range(row.value, -limits::kDeltaMax, limits::kDeltaMax);
  bool expect_ok = !row.expect_on_hand || in_range(*row.expect_on_hand, 0, limits::kOnHandMax);
  if (id_ok && value_ok && expect_ok) return Code::ok;
  Checker check{message};
  std::string at = "rows[" + std::to_string(index) + "].";
  if (!id_ok) check.id(at + "sku", row.sku);
  else if (!value_ok && row.set) check.range(at + "on_hand", row.value, 0, limits::kOnHandMax);
  else if (!value_ok) check.range(at + "delta", row.value, -limits::kDeltaMax, limits::kDeltaMax);
  else check.range(at + "expect_on_hand", *row.expect_on_hand, 0, limits::kOnHandMax);
  return Code::invalid_request;
}

Code validate(const Command& cmd, std::string* message) {
  Checker check{message};
  return std::visit(check, cmd) ? Code::ok : Code::invalid_request;
}

}  // namespace stockd::core
