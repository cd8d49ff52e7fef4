// limits.h: every named maximum of the contract and of the core, in one place.
// The parsers, the core and the tests all use these constants; none repeats a literal.
#pragma once
#include <cstddef>
#include <cstdint>

namespace stockd::limits {

inline constexpr std::size_t kIdLenMax = 128;             // SKU, channel, hold id, pool, ref
inline constexpr std::int64_t kQtyMin = 1;                // per hold line
inline constexpr std::int64_t kQtyMax = 1'000'000'000;    // per hold line
inline constexpr std::size_t kLinesPerHoldMax = 100;
inline constexpr std::int64_t kSplitMax = 16;  // shards of a hot SKU (cluster store)
// 10^15 for on_hand, safety_stock, low_stock_threshold, fence and pool units, and |adjustment delta|
// (docs/api.md, "Conventions"). Why 10^15: the cluster store keeps figures in Redis Lua numbers, doubles that
// are exact only up to 2^53 (about 9.007e15), so one limit serves both stores exactly; and 64 fences or
// pools of 10^15 plus the units held stay far from int64 overflow.
inline constexpr std::int64_t kOnHandMax = 1'000'000'000'000'000;  // 10^15
inline constexpr std::int64_t kDeltaMax = kOnHandMax;     // |adjustment delta|
inline constexpr std::int64_t kTtlSecondsMin = 1;
inline constexpr std::int64_t kTtlSecondsMax = 30LL * 24 * 3600;  // 30 days
inline constexpr std::int64_t kPriorityMin = 1;
inline constexpr std::int64_t kPriorityMax = 1'000'000;
inline constexpr std::size_t kChannelsMax = 1024;
inline constexpr std::size_t kFencesPerSkuMax = 64;
inline constexpr std::size_t kPoolsPerSkuMax = 64;
inline constexpr std::size_t kChannelsPerPoolMax = 64;
inline constexpr std::size_t kReasonLenMax = 256;         // adjustment reason, free text
inline constexpr std::size_t kBodyBytesMax = 1 << 20;     // HTTP body, 1 MiB
// POST /v1/stock/batches: rows per batch, and its own body limit (10,000 rows of up to ~400 bytes
// each: a 128-character SKU with on_hand and expect_on_hand of 16 digits is ~210 bytes compact).
inline constexpr std::size_t kBatchRowsMax = 10'000;
inline constexpr std::size_t kBatchBodyBytesMax = 4 << 20;  // 4 MiB
// A batch row's sku may be a bad identifier (a row error, not a bad batch), but not longer than this
// (the whole batch is invalid_request): what the journal and snapshots bound a row's sku with.
inline constexpr std::size_t kBatchSkuBytesMax = 1024;
inline constexpr std::int64_t kDefaultHoldTtlSeconds = 900;
inline constexpr std::size_t kUrlLenMax = 2048;           // webhook URL
inline constexpr std::size_t kSecretLenMax = 256;         // webhook secret
inline constexpr std::int64_t kFreezeAfterSecondsMax = 30LL * 24 * 3600;
inline constexpr std::int64_t kDefaultFreezeAfterSeconds = 60;
inline constexpr std::size_t kPublicationsPageMax = 10'000;  // publications per pull
inline constexpr std::int64_t kDefaultRetentionMs = 24LL * 3600 * 1000;  // finished holds, adjustment and batch refs
inline constexpr std::int64_t kDefaultLowStockPermille = 100;           // 10 % of on_hand

}  // namespace stockd::limits
