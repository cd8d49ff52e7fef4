// json_writer.h: stockd's one JSON writer: escaped strings, keys, integers, ratios, RFC 3339 times,
// appended to a std::string. Every JSON that stockd writes (API replies and bodies, event records, the
// ledger's batches for PostgreSQL) is put together from these pieces, so there is one string escaper.
// In core (pure: no I/O) so that both net and backends can use it. No allocation beyond the string's
// growth, no locale, no time zone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stockd::core::json {

// "s" with JSON escapes. Bytes that are not valid UTF-8 (overlong forms, surrogates, stray continuation
// bytes, truncated sequences) are written as \ufffd, so the output is always valid JSON and UTF-8.
void append_string(std::string& out, std::string_view s);
// "key": with the key escaped as above.
void append_key(std::string& out, std::string_view key);
void append_int(std::string& out, std::int64_t v);
void append_uint(std::string& out, std::uint64_t v);
void append_bool(std::string& out, bool v);
// A ratio given in parts per billion as the shortest exact decimal: 200000000 -> 0.2, 1e9 -> 1.
// REQUIRES: 0 <= ppb.
void append_ratio_ppb(std::string& out, std::int64_t ppb);

// Epoch milliseconds as RFC 3339 UTC with millisecond precision, "2026-11-25T05:13:20.123Z"
// (always kRfc3339Bytes characters, proleptic Gregorian calendar). Times before year 0000 or after
// year 9999 are clamped to 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z.
inline constexpr std::size_t kRfc3339Bytes = 24;
void format_rfc3339_ms(std::int64_t epoch_ms, char (&buf)[kRfc3339Bytes]);
std::string rfc3339_ms(std::int64_t epoch_ms);
// The same, quoted, appended.
void append_time(std::string& out, std::int64_t epoch_ms);

}  // namespace stockd::core::json
