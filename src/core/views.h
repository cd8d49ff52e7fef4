// views.h: read-only pictures of the state, for replies. String views point into the Inventory and
// stay valid until its next apply().
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/command.h"

namespace stockd::core {

struct ChannelView {
  std::uint32_t index = 0;
  std::string_view name;
  std::int64_t priority = 0;
  std::int64_t hold_ttl_s = 0;
  ChannelState state = ChannelState::active;
  FrozenReason frozen_reason = FrozenReason::none;  // none while active
  std::optional<Listing> listing;                   // set: a listed channel
  // The webhook with its secret: the delivery side signs with it; renderers must redact it.
  std::optional<Webhook> webhook;
  std::uint64_t last_publication_seq = 0;
  std::uint64_t acked_publication_seq = 0;
  std::uint64_t pending_publications = 0;  // unacknowledged (coalesced: at most one per SKU)
  std::int64_t exposed = 0;                // units exposed to the channel, all SKUs
};

// One coalesced, unacknowledged publication of a listed channel: "show `quantity` of `sku`".
struct PublicationView {
  std::string_view sku;
  std::int64_t quantity = 0;
  std::uint64_t seq = 0;
};

struct FenceView {
  std::string_view channel;
  std::int64_t ratio_ppb = -1;  // as configured (-1 when set in units)
  std::int64_t units = -1;
  std::int64_t size = 0;  // units assigned now: free + held from it
  std::int64_t held = 0;
};

struct PoolView {
  std::string_view name;
  std::int64_t units = 0;  // as configured
  std::vector<std::string_view> channels;
  std::int64_t size = 0;
  std::int64_t held = 0;
};

struct SkuView {
  std::uint32_t index = 0;
  std::string_view name;
  std::int64_t on_hand = 0;
  std::int64_t safety_stock = 0;
  std::int64_t held = 0;
  std::int64_t available = 0;  // max(0, on_hand - safety_stock - held - exposed)
  std::int64_t exposed = 0;    // units set aside for listed channels
  std::int64_t max_per_hold = 0;         // 0: no limit
  std::int64_t low_stock_threshold = 0;  // in force (explicit or 10 % of on_hand)
  bool low_stock_threshold_explicit = false;
  std::uint64_t version = 0;
  struct ChannelAvailable {
    std::string_view channel;
    std::int64_t available = 0;
    std::int64_t published = -1;  // listed channels: the quantity last published (-1: direct channel)
    std::int64_t exposed = 0;     // listed channels: units set aside now (> published until an ack)
  };
  std::vector<ChannelAvailable> channels;  // every channel, in index order
  std::vector<FenceView> fences;
  std::vector<PoolView> pools;
  std::int64_t shared_free = 0;
  bool preempt = false;
  std::int64_t split = 0;  // cluster store: shards of a hot SKU (shown when >= 2)
};

struct HoldLineView {
  std::string_view sku;
  std::int64_t qty = 0;
};

struct HoldView {
  std::uint32_t index = 0;
  std::string_view id;
  std::string_view channel;
  HoldState state = HoldState::held;
  std::vector<HoldLineView> lines;
  std::int64_t created_at_ms = 0;
  std::int64_t expires_at_ms = 0;
  std::int64_t finished_at_ms = 0;  // 0 while held
};

struct Stats {
  std::uint64_t skus = 0;
  std::uint64_t channels = 0;
  std::uint64_t holds_held = 0;
  std::uint64_t holds_confirmed = 0;  // remembered (within retention)
  std::uint64_t holds_released = 0;
  std::uint64_t holds_expired = 0;
  std::uint64_t adjustment_refs = 0;
};

}  // namespace stockd::core
