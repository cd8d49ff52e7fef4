// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of journal records and snapshots.
//
// Why it is written here: no Debian 12 package provides CRC-32C (abseil 20220623 predates absl/crc,
// zlib's crc32 is the IEEE polynomial). x86-64 CPUs with SSE4.2 compute it in hardware (the crc32
// instruction), eight bytes per instruction; the CPU is checked once at run time. Elsewhere a
// table-driven slicing-by-8 version does eight bytes per step with eight 1 KiB tables.
#include <array>
#include <cstdint>
#include <cstring>

#include "engine/engine.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace stockd::engine {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t[0][i] = c;
  }
  for (std::uint32_t i = 0; i < 256; ++i) {
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  }
  return t;
}

constexpr Tables kTables = make_tables();

std::uint32_t crc_sliced(std::uint32_t c, const unsigned char* p, std::size_t n) {
  while (n >= 8) {
    std::uint32_t lo;
    std::uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;  // little endian: the running crc folds into the first four bytes
    c = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^ kTables[4][lo >> 24] ^
        kTables[3][hi & 0xff] ^ kTables[2][(hi >> 8) & 0xff] ^ kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_hw(std::uint32_t c, const unsigned char* p, std::size_t n) {
  std::uint64_t c64 = c;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c64 = _mm_crc32_u64(c64, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c64);
  if (n >= 4) {  // the tail of a short record (a movement is ~40 bytes) in at most three steps
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    c32 = _mm_crc32_u32(c32, v);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    c32 = _mm_crc32_u16(c32, v);
    p += 2;
    n -= 2;
  }
  if (n > 0) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}

const bool kHaveHw = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
#if defined(__x86_64__)
  if (kHaveHw) return ~crc_hw(c, p, n);
#endif
  return ~crc_sliced(c, p, n);
}

std::uint32_t crc32c_portable(std::uint32_t crc, const void* data, std::size_t n) {
  return ~crc_sliced(~crc, static_cast<const unsigned char*>(data), n);
}

}  // namespace stockd::engine
