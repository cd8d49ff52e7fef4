// cluster_slots.h: the slot side of the Redis Cluster client (cluster_client.cc): the key -> slot
// function's CRC16, "host:port" parsing, and the slot map built from CLUSTER SLOTS. Pure functions
// over replies already read; no I/O. Internal to src/backends.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "backends/cluster_client.h"

namespace stockd::backends {

inline constexpr std::uint16_t kSlotCount = 16384;
inline constexpr std::uint16_t kNoOwner = 0xFFFF;

// CRC16/XMODEM (poly 0x1021, init 0, no reflection), the one the cluster spec names.
std::uint16_t crc16(std::string_view s);

// "host:port" (the last colon splits, so a bare IPv6 address works; "[v6]:port" too); port 1..65535.
bool split_addr(std::string_view addr, std::string* host, int* port);
std::string host_of(std::string_view addr);

// Which master serves each slot.
struct SlotMap {
  std::vector<ClusterNode> masters;  // by first slot
  std::vector<std::uint16_t> owner = std::vector<std::uint16_t>(kSlotCount, kNoOwner);  // index into masters
};

// Fills *map from a CLUSTER SLOTS reply of node `from` (whose host stands in for an empty or "?" ip).
bool parse_cluster_slots(const RedisReply& reply, const std::string& from, SlotMap* map, std::string* error);

}  // namespace stockd::backends
