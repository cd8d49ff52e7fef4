// command.h: every state change the core accepts, as plain data.
// A command carries no time: the caller passes `now_ms` to Inventory::apply, and the journal stores it
// beside the encoded command (codec.h), so replaying the journal reproduces the state exactly.
// Commands are validated by validate() (syntax: ids, ranges, limits) before they reach the core; the core
// validates again, so a command from any source is safe.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace stockd::core {

enum class ChannelState : std::uint8_t { active = 0, frozen = 1 };
enum class HoldState : std::uint8_t { held = 0, confirmed = 1, released = 2, expired = 3 };

std::string_view channel_state_name(ChannelState s);  // "active" | "frozen"
std::string_view hold_state_name(HoldState s);        // "held" | "confirmed" | "released" | "expired"

// Sentinel for optional int fields that clear a setting (e.g. max_per_hold back to "no limit").
inline constexpr std::int64_t kClear = -1;

// Why a channel is frozen. `manual`: by PUT /v1/channels (only a PUT undoes it). `delivery_failing`:
// by the webhook delivery after freeze_after_s of failures (its first success undoes it).
enum class FrozenReason : std::uint8_t { none = 0, manual = 1, delivery_failing = 2 };
std::string_view frozen_reason_name(FrozenReason r);  // "" | "manual" | "delivery_failing"

// A listed channel's publication rule (docs/allocation.md, "Listed channels"): the target quantity of
// a SKU is floor(percent * d / 100) - buffer, at most cap, 0 below min, never below 0, where d is what
// the channel could hold if it had no exposure.
struct Listing {
  std::int64_t percent = 100;  // 0..100
  std::int64_t buffer = 0;     // >= 0
  std::int64_t cap = -1;       // -1: no cap
  std::int64_t min = 0;        // >= 0
  bool operator==(const Listing&) const = default;
};

// Where pushed publications go (the delivery side reads it; the core only keeps it).
struct Webhook {
  std::string url;             // http:// or https://, at most limits::kUrlLenMax bytes
  std::string secret;          // HMAC-SHA256 key, at most limits::kSecretLenMax bytes
  std::int64_t freeze_after_s = 60;  // >= 1
  bool operator==(const Webhook&) const = default;
};

struct PutChannel {
  std::string channel;
  std::optional<std::int64_t> priority;    // new channel: 100
  std::optional<std::int64_t> hold_ttl_s;  // new channel: limits::kDefaultHoldTtlSeconds
  std::optional<ChannelState> state;       // new channel: active
  // Who changes the state (with `state` only). manual (or absent): as asked, and a freeze is marked
  // manual. delivery_failing: a freeze applies only to an active channel (a manual freeze stays manual),
  // an unfreeze only to a channel frozen for delivery_failing (never undoes a manual freeze).
  std::optional<FrozenReason> reason = std::nullopt;
  std::optional<Listing> listing = std::nullopt;  // set the listing (the channel becomes listed)
  bool clear_listing = false;      // "listing": null: the channel becomes direct
  std::optional<Webhook> webhook = std::nullopt;
  bool clear_webhook = false;      // "webhook": null
};

struct PutSku {
  std::string sku;
  std::optional<std::int64_t> on_hand;              // new SKU: 0
  std::optional<std::int64_t> safety_stock;         // new SKU: 0
  std::optional<std::int64_t> max_per_hold;         // kClear: no limit
  std::optional<std::int64_t> low_stock_threshold;  // kClear: 10 % of on_hand
  // Cluster store: the number of shards (slots) the SKU's shared stock is split over, 1 = not split
  // (docs/cluster.md, "Hot SKUs"). The embedded store has one slot: it validates and ignores it, and
  // the journal does not record it.
  std::optional<std::int64_t> split = std::nullopt;
};

struct Adjust {
  std::string sku;
  std::int64_t delta = 0;  // != 0
  std::string reason;      // free text, may be empty
  std::string ref;         // idempotency key per SKU; empty: none
};

struct FenceSpec {
  std::string channel;
  std::int64_t ratio_ppb = -1;  // ratio in parts per billion (0.2 -> 200'000'000), or -1
  std::int64_t units = -1;      // or units, exactly one of the two is >= 0
};

struct PoolSpec {
  std::string name;
  std::int64_t units = 0;
  std::vector<std::string> channels;
};

struct SetAllocation {
  std::string sku;
  std::vector<FenceSpec> fences;  // at most one per channel
  std::vector<PoolSpec> pools;    // pools not listed are closed
  bool preempt = false;
};

struct ClosePool {
  std::string sku;
  std::string pool;
};

struct HoldLine {
  std::string sku;
  std::int64_t qty = 0;
  bool operator==(const HoldLine&) const = default;
};

struct CreateHold {
  std::string id;
  std::string channel;
  std::vector<HoldLine> lines;
  std::optional<std::int64_t> ttl_s;  // default: the channel's hold_ttl_s
  bool confirm = false;               // reserve and confirm in one step
};

struct ConfirmHold {
  std::string id;
  std::optional<std::vector<HoldLine>> lines;  // partial confirm; the rest is released
};

struct ReleaseHold {
  std::string id;
};

struct ExtendHold {
  std::string id;
  std::int64_t ttl_s = 0;
};

// Expires due holds and forgets finished ones past retention. Any command does this first; Tick does
// only this, so expiry happens without requests.
struct Tick {};

// Settings that change what replay computes; journaled so that replay uses the values in force then.
struct Configure {
  std::int64_t retention_ms = 0;
  std::int64_t low_stock_permille = 0;
};

// The reasons a stock batch may give (the contract's list); journaled as their number.
enum class StockReason : std::uint8_t { received = 0, cycle_count, damaged, returned, correction, other };
inline constexpr int kStockReasonCount = 6;
std::string_view stock_reason_name(StockReason r);  // "received", "cycle_count", ...
// The reason named `name`; false when it is none of the contract's.
bool parse_stock_reason(std::string_view name, StockReason* out);

// One row of a stock batch: set on_hand to `value` (set) or add `value` to it (delta), optionally only
// when on_hand equals expect_on_hand. A row's own values (identifier, ranges) are checked by the core
// when the batch is applied (a bad row is a row error, not a bad batch), so validate() leaves them.
struct BatchRow {
  std::string sku;
  bool set = false;    // true: on_hand = value; false: on_hand += value
  std::int64_t value = 0;
  std::optional<std::int64_t> expect_on_hand;
  bool operator==(const BatchRow&) const = default;
};

// POST /v1/stock/batches (docs/api.md, "Stock batches"): up to kBatchRowsMax rows in ONE journal
// record. atomic: every row or none; otherwise each row alone. A non-empty ref makes it idempotent:
// the core remembers the answer (row outcomes) for the retention period and returns it again.
struct StockBatch {
  std::string ref;  // empty: not remembered
  StockReason reason = StockReason::other;
  bool atomic = false;
  std::vector<BatchRow> rows;
};

// A listed channel acknowledges that it shows every publication up to `seq`: lowered exposures up to
// there release their excess units. Idempotent; seq above the channel's last publication is refused.
struct AckPublications {
  std::string channel;
  std::uint64_t seq = 0;
};

// Appended only: the journal tag is the variant index + 1 (codec.cc).
using Command = std::variant<PutChannel, PutSku, Adjust, SetAllocation, ClosePool, CreateHold,
                             ConfirmHold, ReleaseHold, ExtendHold, Tick, Configure, StockBatch,
                             AckPublications>;

bool is_identifier(std::string_view s);  // 1..kIdLenMax of [A-Za-z0-9._:-]

// A batch row's own syntax (sku identifier, on_hand 0..10^15, |delta| <= 10^15, expect_on_hand
// 0..10^15): Code::ok, or Code::invalid_request with a message naming rows[index].
Code validate_row(const BatchRow& row, std::size_t index, std::string* message);

// Syntax check against the contract's limits. Returns Code::ok or Code::invalid_request with a message.
Code validate(const Command& cmd, std::string* message);

}  // namespace stockd::core
