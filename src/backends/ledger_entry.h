// ledger_entry.h: one outbox stream entry (outbox.h) parsed and checked for the ledger writer, and the
// JSON text in which a batch of them is handed to PostgreSQL as ONE statement parameter.
//
// The check is strict where PostgreSQL would otherwise fail the whole batch (a number that is not a
// 64-bit integer, a time outside timestamptz's range, text that is not UTF-8 or holds a NUL) and
// lenient about vocabulary (an unknown `kind` or `st` is recorded as it is), so that a newer cluster
// store's entries still reach the ledger. A missing field is malformed; extra fields are ignored.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace stockd::backends {

// 9999-12-31T23:59:59.999Z: the last epoch ms PostgreSQL's timestamptz and our JSON both carry exactly.
inline constexpr std::int64_t kEpochMsMax = 253'402'300'799'999;

struct SkuChange {
  std::string sku, kind, ref, reason;
  std::int64_t version = 0, delta_on_hand = 0, delta_held = 0, at_ms = 0;
  std::int64_t on_hand = 0, safety_stock = 0, held = 0;
  // For the events feed (outbox.h): absent (has_buckets false) in entries of an older library.
  bool has_buckets = false;
  std::string frees, cfg;  // "b=n;b=n"; the allocation
  std::int64_t low_stock_threshold = -1, base_on_hand = 0;  // lst (-1: none), base
  std::string channel;  // ch: the hold's channel for hold kinds (empty: none, or an older library)
  // parts (library version 7): the takes of the same SKU that came before this one in the same call
  // (outbox.h), each a change of its own: (sku, version) names it, kind and figures are this entry's.
  struct Part {
    std::int64_t version = 0, delta_held = 0, at_ms = 0;
    std::string ref, channel;
  };
  std::vector<Part> parts;
};

struct HoldChange {
  std::string id, channel, state;
  std::vector<std::pair<std::string, std::int64_t>> lines;  // (sku, qty)
  std::int64_t created_at_ms = 0, expires_at_ms = 0, finished_at_ms = 0;  // finished 0: not finished
  std::int64_t version = 0;
  // more (library version 7): the other holds a hold_create_many call made "held" before this one
  // (outbox.h); each is a hold change of its own, state held, finished 0, more empty.
  std::vector<HoldChange> more;
};

struct ChannelChange {
  std::string channel, state;
  std::int64_t priority = 0, hold_ttl_s = 0, at_ms = 0;
  bool listed = false;  // lst (library version 9): 1 while the channel is listed; absent or 0: direct
  std::string frozen_reason;  // why (library version 9): manual | delivery_failing; empty: none said
};

// A publication of a listed channel (t=pub, library version 9): "show `quantity` of `sku`", the
// `version`-th publication of that (channel, SKU) pair. The ledger numbers it per channel (seq).
struct PubChange {
  std::string channel, sku;
  std::int64_t quantity = 0, version = 0, at_ms = 0;
};

// Stock fell below held + exposed and a listed channel's exposure of the SKU was cut (t=dfc, library
// version 9): `cut` units, `left` remain exposed, the SKU's on_hand after. The exposure_deficit event.
struct DeficitChange {
  std::string sku, channel;
  std::int64_t cut = 0, left = 0, on_hand = 0, at_ms = 0;
};

using OutboxChange = std::variant<SkuChange, HoldChange, ChannelChange, PubChange, DeficitChange>;
using StreamFields = std::vector<std::pair<std::string, std::string>>;

// False and *error (what is wrong, with the field) when the entry is malformed.
bool parse_outbox_entry(const StreamFields& fields, OutboxChange* out, std::string* error);

// True if `s` is valid UTF-8 without NUL bytes (what a PostgreSQL text value and a JSON string take).
bool valid_text(std::string_view s);

// The JSON arrays the apply statement reads with json_to_recordset (field names as in outbox.h).
std::string sku_changes_json(const std::vector<const SkuChange*>& changes);
std::string hold_changes_json(const std::vector<const HoldChange*>& changes);
std::string channel_changes_json(const std::vector<const ChannelChange*>& changes);
std::string pub_changes_json(const std::vector<const PubChange*>& changes);

}  // namespace stockd::backends
