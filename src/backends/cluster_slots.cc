// The slot side of the Redis Cluster client: the CRC16 of key_slot, seed URLs, CLUSTER SLOTS parsing
// (see cluster_slots.h and cluster_client.h).
#include "backends/cluster_slots.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <fmt/format.h>

namespace stockd::backends {
namespace {

constexpr std::string_view kScheme = "redis-cluster://";

constexpr std::array<std::uint16_t, 256> make_crc16_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    unsigned c = i << 8;
    for (int k = 0; k < 8; ++k) c = (c & 0x8000) ? (c << 1) ^ 0x1021 : c << 1;
    t[i] = static_cast<std::uint16_t>(c & 0xFFFF);
  }
  return t;
}
constexpr std::array<std::uint16_t, 256> kCrc16Table = make_crc16_table();

bool parse_port(std::string_view s, int* port) {
  if (s.empty() || s.size() > 5) return false;
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < 1 || value > 65535) return false;
  *port = value;
  return true;
}

// A node in a CLUSTER SLOTS entry: [ip, port, id, ...]. An empty or "?" ip means the queried host.
bool slots_node_addr(const RedisReply& node, const std::string& from, std::string* addr) {
  if (node.type != RedisReply::Type::array || node.elements.size() < 2) return false;
  const RedisReply& ip = node.elements[0];
  const RedisReply& port = node.elements[1];
  if (ip.type != RedisReply::Type::string || port.type != RedisReply::Type::integer) return false;
  if (port.integer < 1 || port.integer > 65535) return false;
  std::string host = ip.str.empty() || ip.str == "?" ? host_of(from) : ip.str;
  *addr = fmt::format("{}:{}", host, port.integer);
  return true;
}

bool add_slots_entry(const RedisReply& e, const std::string& from, SlotMap* map) {
  if (e.type != RedisReply::Type::array || e.elements.size() < 3) return false;
  const RedisReply& first = e.elements[0];
  const RedisReply& last = e.elements[1];
  if (first.type != RedisReply::Type::integer || last.type != RedisReply::Type::integer) return false;
  if (first.integer < 0 || first.integer > last.integer || last.integer >= kSlotCount) return false;
  std::string addr;
  if (!slots_node_addr(e.elements[2], from, &addr)) return false;
  auto it = std::find_if(map->masters.begin(), map->masters.end(), [&](const ClusterNode& n) { return n.addr == addr; });
  if (it == map->masters.end()) it = map->masters.insert(map->masters.end(), ClusterNode{addr, {}, {}});
  it->slots.emplace_back(static_cast<std::uint16_t>(first.integer), static_cast<std::uint16_t>(last.integer));
  for (std::size_t i = 3; i < e.elements.size(); ++i) {
    std::string replica;
    if (!slots_node_addr(e.elements[i], from, &replica)) return false;
    if (std::find(it->replicas.begin(), it->replicas.end(), replica) == it->replicas.end()) {
      it->replicas.push_back(std::move(replica));
    }
  }
  return true;
}

}  // namespace

std::uint16_t crc16(std::string_view s) {
  std::uint16_t crc = 0;
  for (unsigned char b : s) crc = static_cast<std::uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ b) & 0xFF]);
  return crc;
}

bool split_addr(std::string_view addr, std::string* host, int* port) {
  auto colon = addr.rfind(':');
  if (colon == std::string_view::npos || !parse_port(addr.substr(colon + 1), port)) return false;
  std::string_view h = addr.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return false;
  host->assign(h);
  return true;
}

std::string host_of(std::string_view addr) {
  auto colon = addr.rfind(':');
  return std::string(colon == std::string_view::npos ? addr : addr.substr(0, colon));
}

bool parse_cluster_slots(const RedisReply& reply, const std::string& from, SlotMap* map, std::string* error) {
  if (reply.type != RedisReply::Type::array) {
    *error = fmt::format("{}: CLUSTER SLOTS: {}", from, reply.is_error() ? reply.str : "not an array");
    return false;
  }
  for (const RedisReply& e : reply.elements) {
    if (!add_slots_entry(e, from, map)) {
      *error = fmt::format("{}: CLUSTER SLOTS: malformed entry", from);
      return false;
    }
  }
  if (map->masters.empty()) {
    *error = fmt::format("{}: CLUSTER SLOTS: no slot is assigned", from);
    return false;
  }
  for (ClusterNode& n : map->masters) std::sort(n.slots.begin(), n.slots.end());
  std::sort(map->masters.begin(), map->masters.end(),
            [](const ClusterNode& a, const ClusterNode& b) { return a.slots.front() < b.slots.front(); });
  for (std::size_t m = 0; m < map->masters.size(); ++m) {
    for (auto [first, last] : map->masters[m].slots) {
      std::fill(map->owner.begin() + first, map->owner.begin() + last + 1, static_cast<std::uint16_t>(m));
    }
  }
  return true;
}

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) & (kSlotCount - 1));
}

bool parse_cluster_url(std::string_view url, std::vector<std::string>* seeds, std::string* error) {
  if (url.substr(0, kScheme.size()) == kScheme) {
    url.remove_prefix(kScheme.size());
  } else if (url.find("://") != std::string_view::npos) {
    *error = fmt::format("unsupported scheme in '{}' (expected redis-cluster://host:port,...)", url);
    return false;
  }
  std::vector<std::string> out;
  while (true) {
    auto comma = url.find(',');
    std::string_view item = url.substr(0, comma);
    std::string host;
    int port = 0;
    if (!split_addr(item, &host, &port)) {
      *error = fmt::format("bad seed '{}': expected host:port with a port in 1..65535", item);
      return false;
    }
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    url.remove_prefix(comma + 1);
  }
  *seeds = std::move(out);
  return true;
}

}  // namespace stockd::backends
