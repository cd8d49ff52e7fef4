#include "core/json_writer.h"

#include <charconv>

namespace stockd::core::json {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i] (RFC 3629), or 0 if it is not valid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xc0) == 0x80; };
  unsigned char c = b(0);
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
    if (c == 0xed && b(1) >= 0xa0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xf0 && b(1) < 0x90) return 0;  // overlong
    if (c == 0xf4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

// Days since 1970-01-01 -> civil date (Howard Hinnant's days_from_civil inverse, proleptic Gregorian).
void civil_from_days(std::int64_t z, std::int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<std::int64_t>(yoe) + era * 400 + (*m <= 2);
}

void put_digits(char* p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}

}  // namespace

void append_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t run = i;
    while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) ++run;
    out.append(s.data() + i, run - i);
    i = run;
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xf];
    }
    ++i;
  }
  out += '"';
}

void append_key(std::string& out, std::string_view key) {
  append_string(out, key);
  out += ':';
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  out.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

void append_bool(std::string& out, bool v) { out += v ? "true" : "false"; }

void append_ratio_ppb(std::string& out, std::int64_t ppb) {
  constexpr std::int64_t kOne = 1'000'000'000;
  append_int(out, ppb / kOne);
  std::int64_t frac = ppb % kOne;
  if (frac == 0) return;
  char digits[9];
  put_digits(digits, static_cast<unsigned>(frac), 9);
  int len = 9;
  while (digits[len - 1] == '0') --len;
  out += '.';
  out.append(digits, static_cast<std::size_t>(len));
}

void format_rfc3339_ms(std::int64_t epoch_ms, char (&buf)[kRfc3339Bytes]) {
  constexpr std::int64_t kMsPerDay = 86'400'000;
  constexpr std::int64_t kMinMs = -62'167'219'200'000;  // 0000-01-01T00:00:00.000Z
  constexpr std::int64_t kMaxMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z
  if (epoch_ms < kMinMs) epoch_ms = kMinMs;
  if (epoch_ms > kMaxMs) epoch_ms = kMaxMs;
  std::int64_t days = epoch_ms / kMsPerDay;
  std::int64_t ms_of_day = epoch_ms % kMsPerDay;
  if (ms_of_day < 0) {
    ms_of_day += kMsPerDay;
    --days;
  }
  std::int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, &year, &month, &day);
  auto ms = static_cast<unsigned>(ms_of_day);
  put_digits(buf, static_cast<unsigned>(year), 4);
  buf[4] = '-';
  put_digits(buf + 5, month, 2);
  buf[7] = '-';
  put_digits(buf + 8, day, 2);
  buf[10] = 'T';
  put_digits(buf + 11, ms / 3'600'000, 2);
  buf[13] = ':';
  put_digits(buf + 14, ms / 60'000 % 60, 2);
  buf[16] = ':';
  put_digits(buf + 17, ms / 1000 % 60, 2);
  buf[19] = '.';
  put_digits(buf + 20, ms % 1000, 3);
  buf[23] = 'Z';
}

std::string rfc3339_ms(std::int64_t epoch_ms) {
  char buf[kRfc3339Bytes];
  format_rfc3339_ms(epoch_ms, buf);
  return std::string(buf, kRfc3339Bytes);
}

void append_time(std::string& out, std::int64_t epoch_ms) {
  char buf[kRfc3339Bytes];
  format_rfc3339_ms(epoch_ms, buf);
  out += '"';
  out.append(buf, kRfc3339Bytes);
  out += '"';
}

}  // namespace stockd::core::json
