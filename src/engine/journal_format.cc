// Byte-level encoding and checking of segments, records and snapshot files (formats in engine.h).
#include "engine/journal_format.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/assert.h"
#include "core/codec.h"
#include "engine/engine.h"
#include "fmt/format.h"

namespace stockd::engine::format {
namespace {

std::uint32_t load32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
std::uint64_t load64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

bool parse_numbered(std::string_view name, std::string_view prefix, std::string_view suffix, std::uint64_t* n) {
  if (name.size() != prefix.size() + 20 + suffix.size()) return false;
  if (name.substr(0, prefix.size()) != prefix || name.substr(prefix.size() + 20) != suffix) return false;
  std::string_view digits = name.substr(prefix.size(), 20);
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  auto r = std::from_chars(digits.data(), digits.data() + digits.size(), *n);
  return r.ec == std::errc() && r.ptr == digits.data() + digits.size();
}

std::uint32_t record_crc(std::uint64_t lsn, std::string_view payload) {
  std::uint32_t c = crc32c(0, &lsn, 8);
  return crc32c(c, payload.data(), payload.size());
}

}  // namespace

std::string segment_name(std::uint64_t first_lsn) { return fmt::format("journal-{:020}.log", first_lsn); }
std::string snapshot_name(std::uint64_t lsn) { return fmt::format("snapshot-{:020}.snap", lsn); }
bool parse_segment_name(std::string_view name, std::uint64_t* first_lsn) {
  return parse_numbered(name, "journal-", ".log", first_lsn);
}
bool parse_snapshot_name(std::string_view name, std::uint64_t* lsn) {
  return parse_numbered(name, "snapshot-", ".snap", lsn);
}

void append_segment_header(std::string* out, std::uint64_t first_lsn) {
  out->append(kSegmentMagic);
  out->append(reinterpret_cast<const char*>(&first_lsn), 8);
}

bool parse_segment_header(std::string_view file, std::uint64_t* first_lsn, int* version) {
  if (file.size() < kSegmentHeaderBytes) return false;
  std::string_view magic = file.substr(0, 8);
  if (magic == kSegmentMagic) {
    *version = 2;
  } else if (magic == kSegmentMagicV1) {
    *version = 1;
  } else {
    return false;
  }
  *first_lsn = load64(file.data() + 8);
  return true;
}

void seal_record(std::string* out, std::size_t at, std::uint64_t lsn) {
  std::size_t payload_at = at + kRecordHeaderBytes;
  STOCKD_ASSERT(out->size() > payload_at && out->size() - payload_at <= kRecordPayloadMax);  // 0 is no record
  auto len = static_cast<std::uint32_t>(out->size() - payload_at);
  std::uint32_t crc = record_crc(lsn, std::string_view(out->data() + payload_at, len));
  char* h = out->data() + at;
  std::memcpy(h, &len, 4);
  std::memcpy(h + 4, &crc, 4);
  std::memcpy(h + 8, &lsn, 8);
}

Read read_record(std::string_view file, std::size_t offset, Record* out) {
  if (offset == file.size()) return Read::end;
  const char* h = file.data() + offset;
  std::size_t head = std::min(kRecordHeaderBytes, file.size() - offset);
  if (std::all_of(h, h + head, [](char c) { return c == 0; })) return Read::end;
  if (head < kRecordHeaderBytes) return Read::bad;
  std::uint32_t len = load32(h);
  if (len == 0 || len > kRecordPayloadMax || file.size() - offset - kRecordHeaderBytes < len) return Read::bad;
  std::uint64_t lsn = load64(h + 8);
  std::string_view payload(h + kRecordHeaderBytes, len);
  if (record_crc(lsn, payload) != load32(h + 4)) return Read::bad;
  out->lsn = lsn;
  out->payload = payload;
  out->next = offset + kRecordHeaderBytes + len;
  return Read::ok;
}

std::size_t nonzero_end(std::string_view file, std::size_t from) {
  std::size_t end = file.size();
  while (end > from && end % 8 != 0 && file[end - 1] == 0) --end;
  while (end >= from + 8 && load64(file.data() + end - 8) == 0) end -= 8;
  while (end > from && file[end - 1] == 0) --end;
  return end;
}

bool valid_record_after(std::string_view file, std::size_t from, std::uint64_t min_lsn) {
  Record r;
  for (std::size_t pos = from + 1; pos + kRecordHeaderBytes <= file.size(); ++pos) {
    // Zero-filled space (most of a preallocated segment) is skipped 5 bytes at a time: a record's
    // length is not 0, so none starts at pos .. pos+4 when the 8 bytes at pos are all zeros.
    if (load64(file.data() + pos) == 0) {
      pos += 4;
      continue;
    }
    std::uint64_t lsn = load64(file.data() + pos + 8);
    if (lsn < min_lsn || lsn - min_lsn > (1ull << 40)) continue;  // cheap filter before the checksum
    if (read_record(file, pos, &r) == Read::ok) return true;
  }
  return false;
}

void append_snapshot_header(std::string* out, std::uint64_t lsn, std::uint32_t body_crc, std::uint64_t body_bytes) {
  out->append(kSnapshotMagic);
  out->append(reinterpret_cast<const char*>(&lsn), 8);
  out->append(reinterpret_cast<const char*>(&body_crc), 4);
  out->append(reinterpret_cast<const char*>(&body_bytes), 8);
}

core::Status parse_snapshot(std::string_view file, std::uint64_t* lsn, std::string_view* inventory,
                            std::string_view* sink) {
  auto damaged = [](std::string why) { return core::Status::error(core::Code::unavailable, std::move(why)); };
  if (file.size() < kSnapshotHeaderBytes || file.substr(0, 8) != kSnapshotMagic) {
    return damaged(fmt::format("bad header ({} bytes)", file.size()));
  }
  *lsn = load64(file.data() + 8);
  std::uint32_t crc = load32(file.data() + 16);
  std::uint64_t body_bytes = load64(file.data() + 20);
  if (body_bytes != file.size() - kSnapshotHeaderBytes) {
    return damaged(
        fmt::format("body length {} but {} bytes follow the header", body_bytes, file.size() - kSnapshotHeaderBytes));
  }
  std::string_view body = file.substr(kSnapshotHeaderBytes);
  if (crc32c(0, body.data(), body.size()) != crc) return damaged("checksum mismatch");
  core::Reader r(body);
  *inventory = r.str(body.size());
  *sink = r.str(body.size());
  if (!r.ok() || !r.done()) return damaged("bad body framing");
  return {};
}

}  // namespace stockd::engine::format
