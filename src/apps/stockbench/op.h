// op.h: one request of a benchmark, independent of the protocol, and how its answers are counted.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace stockbench {

enum class OpKind : std::uint8_t { hold, sale, confirm, release, auth };
inline constexpr std::size_t kOpKinds = 4;  // the kinds that are counted (auth is not)
inline constexpr std::array<std::string_view, kOpKinds> kOpKindNames{"hold", "sale", "confirm", "release"};

// What happens to a hold of the mixed workload once it is made.
enum class Fate : std::uint8_t { confirm, release, expire };

struct Op {
  OpKind kind = OpKind::hold;
  Fate fate = Fate::expire;
  std::string id;
  std::uint32_t channel = 0;  // index into Names::channels
  std::uint32_t sku = 0;      // index into Names::skus
  std::int64_t qty = 1;
  std::int64_t ttl_s = 60;
  std::int64_t t0_ns = 0;     // when it was sent (or, with --rate, when it should have been)
  std::uint64_t buyer = 0;    // flash-sale: the buyer's number (hold id <run>-buyer-<buyer>)
};

// Outcome codes: 0 is success, 1..15 the contract's error codes in its order (client/api_error.h),
// then errors outside the contract.
inline constexpr int kCodeOk = 0;
inline constexpr int kCodeProtocol = 16;  // -ERR ..., or an HTTP error without the contract's shape
inline constexpr int kCodeOther = 17;     // an error code the contract does not list
inline constexpr int kCodes = 18;

// "ok", "insufficient_stock", ..., "protocol_error", "other_error"
std::string_view code_name(int code);
// From the contract's lower-case code ("overloaded"); kCodeOther when unknown.
int code_from_name(std::string_view name);

}  // namespace stockbench
