// codec.h: the binary encodings shared by the journal and snapshots.
// Format: little-endian fixed ints, LEB128 varints (zigzag for signed), strings as varint length + bytes.
// A journal record payload is: u8 kCommandFormatVersion, varint now_ms, u8 command tag, fields.
// Decoding never trusts its input: every read is bounds-checked and a bad record yields false.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/command.h"

namespace stockd::core {

// 2: PutChannel carries reason, listing and webhook (version 1 records are still read).
inline constexpr std::uint8_t kCommandFormatVersion = 2;
// 2: listed channels, exposures and publications; the StockBatch answers kept for their refs; the
//    movement seq (after the event seq). Version 1 snapshots still load.
inline constexpr std::uint32_t kSnapshotFormatVersion = 2;

class Writer {
 public:
  void u8(std::uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) { raw(&v, 4); }
  void u64(std::uint64_t v) { raw(&v, 8); }
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      buf_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    buf_.push_back(static_cast<char>(v));
  }
  void svarint(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  void str(std::string_view s) {
    varint(s.size());
    buf_.append(s);
  }
  void raw(const void* p, std::size_t n) { buf_.append(static_cast<const char*>(p), n); }
  std::string& buffer() { return buf_; }
  const std::string& buffer() const { return buf_; }
  void clear() { buf_.clear(); }

 private:
  std::string buf_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return pos_ == in_.size(); }
  std::size_t remaining() const { return in_.size() - pos_; }
  std::uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint32_t u32() { std::uint32_t v = 0; copy(&v, 4); return v; }
  std::uint64_t u64() { std::uint64_t v = 0; copy(&v, 8); return v; }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      auto b = static_cast<std::uint8_t>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  std::int64_t svarint() {
    std::uint64_t u = varint();
    return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  // Bounded: a string longer than `max_len` or than the input fails the reader.
  std::string_view str(std::size_t max_len) {
    std::uint64_t n = varint();
    if (n > max_len || !need(n)) { ok_ = false; return {}; }
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  void fail() { ok_ = false; }

 private:
  bool need(std::uint64_t n) {
    if (!ok_ || in_.size() - pos_ < n) { ok_ = false; return false; }
    return true;
  }
  void copy(void* p, std::size_t n) {
    if (!need(n)) return;
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view in_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

// Appends the record payload for (now_ms, cmd).
void encode_command(std::int64_t now_ms, const Command& cmd, Writer& out);
// Decodes a whole payload; false on any malformation (unknown version or tag, bad lengths, trailing bytes),
// and then *cmd is valid but unspecified. When *cmd already holds the alternative being decoded, its
// strings and vectors are reused (no allocation per record in replay).
bool decode_command(std::string_view payload, std::int64_t* now_ms, Command* cmd);

}  // namespace stockd::core
