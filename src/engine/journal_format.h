// journal_format.h: the on-disk formats of the journal and of snapshots (see engine.h), as pure
// functions over bytes so that recovery, the writer and the tests share one definition.
//
// Segment:  "STKDJNL2" | u64 first lsn | record* | zeros to the end of the file
//           (version 2: created at its full size, zero-filled, before it is needed; records are
//           overwritten into it. "STKDJNL1" segments, which end at their last record, are still
//           read, never written to.)
// Record:   u32 payload length | u32 crc32c(lsn bytes + payload) | u64 lsn | payload
//           A record header that is all zeros (or zeros up to the end of the file) at a record
//           boundary is the end of the written part; length 0 is never a record.
// Snapshot: "STKDSNP1" | u64 lsn | u32 crc32c(body) | u64 body length | body
//           body = varint length + Inventory::save() bytes, varint length + EventSink::save() bytes
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace stockd::engine::format {

inline constexpr std::string_view kSegmentMagic = "STKDJNL2";
inline constexpr std::string_view kSegmentMagicV1 = "STKDJNL1";
inline constexpr std::string_view kSnapshotMagic = "STKDSNP1";
inline constexpr std::size_t kSegmentHeaderBytes = 16;
inline constexpr std::size_t kRecordHeaderBytes = 16;
inline constexpr std::size_t kSnapshotHeaderBytes = 28;
// No command encodes to more than a few hundred KiB (limits.h); anything longer is damage.
inline constexpr std::uint32_t kRecordPayloadMax = 16u << 20;

// The next segment while it is being zero-filled; renamed to its segment name when it is started.
inline constexpr std::string_view kPreparedSegmentName = "journal-prepared.tmp";

std::string segment_name(std::uint64_t first_lsn);  // journal-<20 digits>.log
std::string snapshot_name(std::uint64_t lsn);       // snapshot-<20 digits>.snap
bool parse_segment_name(std::string_view name, std::uint64_t* first_lsn);
bool parse_snapshot_name(std::string_view name, std::uint64_t* lsn);

void append_segment_header(std::string* out, std::uint64_t first_lsn);
// *version: 1 or 2 (see above).
bool parse_segment_header(std::string_view file, std::uint64_t* first_lsn, int* version);

// Writes the 16-byte header of the record whose payload is out[at + 16, out.size()).
void seal_record(std::string* out, std::size_t at, std::uint64_t lsn);

enum class Read : std::uint8_t { ok, end, bad };
struct Record {
  std::uint64_t lsn = 0;
  std::string_view payload;
  std::size_t next = 0;  // offset of the following record
};
// Reads the record at `offset` of a segment file. end: offset == file.size(), or the header there is
// all zeros (zeros to the end of the file when less than a header is left). bad: a header that does
// not fit, a length of 0 or over kRecordPayloadMax or past the end, or a checksum mismatch.
Read read_record(std::string_view file, std::size_t offset, Record* out);
// The offset just past the last non-zero byte at or after `from` (`from` when there is none).
std::size_t nonzero_end(std::string_view file, std::size_t from);
// True when a well-formed record with lsn >= min_lsn starts anywhere after `from`: a bad record with
// good ones after it is damage in the middle, not a torn tail.
bool valid_record_after(std::string_view file, std::size_t from, std::uint64_t min_lsn);

// Snapshot file: header + the two body parts. encode appends the header; the caller appends the
// body pieces (they can be large, so they are not copied into one buffer).
void append_snapshot_header(std::string* out, std::uint64_t lsn, std::uint32_t body_crc, std::uint64_t body_bytes);
// Checks magic, length and checksum; on success fills lsn and the two body parts (views into file).
// An error (Code::unavailable, saying what is wrong) when the file is not a whole snapshot.
core::Status parse_snapshot(std::string_view file, std::uint64_t* lsn, std::string_view* inventory,
                            std::string_view* sink);

}  // namespace stockd::engine::format
