// cluster_policy.h: the allocation policy of the cluster store, in C++: the rules of
// src/core/allocation_policy.h (the embedded core calls the same ones; docs/allocation.md is the
// rulebook) over the cluster's representation of channels and allocations. Redis Functions only
// execute what these functions decide:
//   - sizing_plan(): the order in which buckets are sized (fences by channel priority, then pools in
//     slot order); the Functions apply policy::fence_size and sized_free in that order, in the call
//     that changes on_hand (docs/cluster.md, "Policy in C++, mechanisms in Redis Functions");
//   - draw_order(): the buckets a channel draws from, in order (its fence, the open pools listing it,
//     shared, then with preempt the fences of lower-priority channels, lowest priority first);
//   - apply_allocation(): the new fence set and pool slots for PUT /v1/skus/{sku}/allocation
//     (policy::assign_pool_slots, policy::allocation_idle).
// Pure functions over plain data: no I/O.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/command.h"

namespace stockd::backends {

struct ChannelInfo {
  std::string name;
  std::int64_t priority = 100;
  std::int64_t hold_ttl_s = 900;
  core::ChannelState state = core::ChannelState::active;
  std::int64_t order = 0;  // creation order
  core::FrozenReason frozen_reason = core::FrozenReason::none;
  std::optional<core::Listing> listing;  // a listed channel (docs/channels.md)
  std::optional<core::Webhook> webhook;
};

// Channels in creation order, and lookups. by_priority: indexes by (priority, creation order);
// listed: the listed channels' indexes in that order.
struct ChannelTable {
  std::vector<ChannelInfo> channels;
  std::vector<std::size_t> by_priority;
  std::vector<std::size_t> listed;
  const ChannelInfo* find(std::string_view name) const;
  void rebuild();  // sorts channels by order and recomputes by_priority and listed
};

// A channel's listing as the channel record keeps it, "percent,buffer,cap,min" ("" none), and back.
std::string encode_listing(const std::optional<core::Listing>& l);
std::optional<core::Listing> decode_listing(std::string_view s);
// A webhook in the webhooks hash: "<freeze_after_s>|<secret length>|<secret><url>", and back.
std::string encode_webhook(const core::Webhook& w);
std::optional<core::Webhook> decode_webhook(std::string_view s);

// A SKU's allocation as stored in its hash (field cfg): fences (active ones), pool slots (open or
// closed), preempt. Encoded "<preempt 0|1>;f|<ch>|r<ppb>|u<units>;p|<name>|<units>|<open 0|1>|<ch>,<ch>".
struct AllocConfig {
  struct Fence {
    std::string channel;
    std::int64_t ratio_ppb = -1;
    std::int64_t units = -1;
  };
  struct Pool {
    std::string name;
    std::int64_t units = 0;
    bool open = true;
    std::vector<std::string> channels;
  };
  bool preempt = false;
  std::vector<Fence> fences;
  std::vector<Pool> pools;

  std::string encode() const;
  static bool decode(std::string_view s, AllocConfig* out);  // "" decodes to no allocation
  const Fence* fence_of(std::string_view channel) const;
};

std::string fence_bucket(std::string_view channel);  // "f:<channel>"
std::string pool_bucket(std::string_view pool);      // "p:<pool>"
inline constexpr std::string_view kSharedBucket = "sh";

// Comma-separated bucket ids in sizing order; when channels are listed, then "|" and the listed
// channels lowest priority first (the order in which a stock deficit cuts exposures: deficit_cuts).
std::string sizing_plan(const AllocConfig& cfg, const ChannelTable& channels);

// Buckets `channel` may draw from, in order. Empty when the channel is frozen or unknown; a frozen
// listed channel gets the one marker "~" (it may take only its exposure: stockd_take). A listed
// channel with a webhook gets the marker "@" first (its takes use free units before its exposure
// while its latest publication of the SKU is unacknowledged: stockd_take).
std::vector<std::string> draw_order(const AllocConfig& cfg, const ChannelTable& channels, std::string_view channel);
// The buckets of channel index c in draw order, frozen or not, without the marker (exposures).
std::vector<std::string> bucket_order(const AllocConfig& cfg, const ChannelTable& channels, std::size_t c);
// Whether channel index c may draw from bucket id b (the core's can_draw: shared, an open pool that
// lists it, its own fence or with preempt a lower-priority channel's, active or not).
bool may_draw_bucket(const AllocConfig& cfg, const ChannelTable& channels, std::size_t c, std::string_view b);

// The new allocation for a SetAllocation; `held_of(bucket)` gives the units held from a bucket now,
// `hidden_fence_held`: units are still held from a fence that the new allocation does not list.
// Pools whose slot is new or reused get a setting "n<units>" (sold starts at 0), others "<units>";
// fences "u<units>" or "r<ppb>". settings: (bucket, setting) pairs for every active fence and open pool.
template <typename HeldOf>
AllocConfig apply_allocation(const AllocConfig& old, const core::SetAllocation& c, HeldOf held_of,
                             bool hidden_fence_held, std::vector<std::pair<std::string, std::string>>* settings);

}  // namespace stockd::backends

#include "backends/cluster_policy_inl.h"
