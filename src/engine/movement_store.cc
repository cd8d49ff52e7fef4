// The movements history's files and index (movement_store.h). Why the files are not synced per batch:
// they are derived data. The journal holds every command until a snapshot covers it, and replay
// regenerates the same movements with the same seqs (the core counts them), so what a crash or a power
// loss takes from the tail of a movement file comes back at open; the engine syncs the files before
// each snapshot, which is the only moment the journal stops being able to regenerate them.
#include "engine/movement_store.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/assert.h"
#include "core/codec.h"
#include "engine/engine.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {
namespace {
constexpr std::size_t kNameMax = 256;  // any stored name or text field; far above the contract's limits
// A page reads records that lie within this many bytes of each other with one pread.
constexpr std::uint64_t kReadSpanMax = 64u << 10;
// A file stops taking movements once its first is this old (see flush()).
constexpr std::int64_t kFileAgeMaxMs = 24LL * 3600 * 1000;
constexpr std::uint32_t kNoSlot = 0xffffffffu;
constexpr std::size_t kVarintBytesMax = 10;
constexpr std::size_t kUnwrittenInitialBytes = 64u << 10;
// A SKU's index list starts with room for this many entries: most SKUs of a large catalog move a few
// times a day, and growing 1 -> 2 -> 4 costs a malloc, a copy and a free per movement (measured: ~290
// instructions per movement on engine_bench's 100,000 SKUs). 64 bytes per SKU that has moved.
constexpr std::size_t kListEntriesMin = 4;

// One record's fields as views: add() encodes straight from the core's names, without copying them
// into a MovementRecord first. at_ms comes already encoded (svarint, at_ms_bytes of at_ms_varint).
struct Fields {
  std::uint64_t seq;
  const char* at_ms_varint;  // kVarintBytesMax readable bytes
  std::size_t at_ms_bytes;
  core::MovementCause cause;
  std::int64_t on_hand_delta, held_delta, exposed_delta;
  std::string_view sku, channel, hold, ref, reason;
};

// The most bytes put_record() writes for f: header, five numbers and five string lengths as varints,
// the cause, the strings.
std::size_t record_bytes_max(const Fields& f) {
  return MovementStore::kRecordHeaderBytes + 10 * kVarintBytesMax + 1 + f.sku.size() + f.channel.size() +
         f.hold.size() + f.ref.size() + f.reason.size();
}

// The encodings of core::Writer (codec.h), written through a pointer into room made beforehand.
// Inlined into put_record(): a call each would cost more than the few bytes each writes.
#define STOCKD_INLINE inline __attribute__((always_inline))
STOCKD_INLINE char* put_varint(char* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
STOCKD_INLINE char* put_svarint(char* p, std::int64_t v) {
  return put_varint(p, (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
}
// Names are short (ids of a few to a few dozen bytes): copied inline with fixed-size moves, which
// overlap for lengths between the sizes (no call to memcpy for each of a record's five strings).
STOCKD_INLINE char* put_str(char* p, std::string_view s) {
  p = put_varint(p, s.size());
  const char* from = s.data();
  std::size_t n = s.size();
  if (n >= 8 && n <= 16) {
    std::memcpy(p, from, 8);
    std::memcpy(p + n - 8, from + n - 8, 8);
  } else if (n >= 4 && n < 8) {
    std::memcpy(p, from, 4);
    std::memcpy(p + n - 4, from + n - 4, 4);
  } else if (n > 0 && n < 4) {
    p[0] = from[0];
    p[n / 2] = from[n / 2];
    p[n - 1] = from[n - 1];
  } else if (n > 16) {
    std::memcpy(p, from, n);
  }
  return p + n;
}

// Writes header + payload (movement_store.h) at p, which has room for record_bytes_max(f); returns
// the end of the record.
STOCKD_INLINE char* put_record(char* p, const Fields& f) {
  char* const payload = p + MovementStore::kRecordHeaderBytes;
  char* q = put_varint(payload, f.seq);
  std::memcpy(q, f.at_ms_varint, kVarintBytesMax);  // room for it is reserved: a fixed-size move
  q += f.at_ms_bytes;
  *q++ = static_cast<char>(f.cause);
  q = put_svarint(q, f.on_hand_delta);
  q = put_svarint(q, f.held_delta);
  q = put_svarint(q, f.exposed_delta);
  q = put_str(q, f.sku);
  q = put_str(q, f.channel);
  q = put_str(q, f.hold);
  q = put_str(q, f.ref);
  q = put_str(q, f.reason);
  auto len = static_cast<std::uint32_t>(q - payload);
  std::uint32_t crc = crc32c(0, payload, len);
  std::memcpy(p, &len, 4);
  std::memcpy(p + 4, &crc, 4);
  return q;
}
#undef STOCKD_INLINE
template <typename T>
void append(std::vector<T>& list, const T& e) {
  if (list.size() == list.capacity()) list.reserve(std::max(kListEntriesMin, 2 * list.capacity()));
  list.push_back(e);
}
}  // namespace

char* MovementStore::Buffer::room(std::size_t n) {
  if (capacity - size < n) {
    std::size_t grown = std::max({capacity * 2, size + n, kUnwrittenInitialBytes});
    std::unique_ptr<char[]> bigger(new char[grown]);
    if (size > 0) std::memcpy(bigger.get(), data.get(), size);
    data = std::move(bigger);
    capacity = grown;
  }
  return data.get() + size;
}

MovementStore::MovementStore(Env* env, std::string dir, std::uint64_t file_bytes)
    : env_(env), dir_(std::move(dir)), file_bytes_(std::max<std::uint64_t>(file_bytes, 4096)) {}

std::string MovementStore::file_name(std::uint64_t first_seq) { return fmt::format("movements-{:020}.mov", first_seq); }

bool MovementStore::parse_file_name(std::string_view n, std::uint64_t* first_seq) {
  constexpr std::string_view kPre = "movements-", kSuf = ".mov";
  if (n.size() != kPre.size() + 20 + kSuf.size() || !n.starts_with(kPre) || !n.ends_with(kSuf)) return false;
  std::uint64_t v = 0;
  for (char ch : n.substr(kPre.size(), 20)) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  *first_seq = v;
  return true;
}

void MovementStore::encode(const MovementRecord& r, std::string* out) {
  char at_ms[kVarintBytesMax] = {};
  auto at_ms_bytes = static_cast<std::size_t>(put_svarint(at_ms, r.at_ms) - at_ms);
  Fields f{r.seq, at_ms, at_ms_bytes, r.cause, r.on_hand_delta, r.held_delta, r.exposed_delta,
           r.sku, r.channel, r.hold, r.ref, r.reason};
  std::size_t at = out->size();
  out->resize(at + record_bytes_max(f));
  char* end = put_record(out->data() + at, f);
  out->resize(static_cast<std::size_t>(end - out->data()));
}

bool MovementStore::decode(std::string_view data, std::size_t pos, MovementRecord* r, std::size_t* next) {
  if (pos > data.size() || data.size() - pos < kRecordHeaderBytes) return false;
  std::uint32_t len = 0, crc = 0;
  std::memcpy(&len, data.data() + pos, 4);
  std::memcpy(&crc, data.data() + pos + 4, 4);
  if (len == 0 || len > data.size() - pos - kRecordHeaderBytes) return false;
  std::string_view payload = data.substr(pos + kRecordHeaderBytes, len);
  if (crc32c(0, payload.data(), payload.size()) != crc) return false;
  core::Reader rd(payload);
  r->seq = rd.varint();
  r->at_ms = rd.svarint();
  std::uint8_t cause = rd.u8();
  r->on_hand_delta = rd.svarint();
  r->held_delta = rd.svarint();
  r->exposed_delta = rd.svarint();
  for (std::string* s : {&r->sku, &r->channel, &r->hold, &r->ref, &r->reason}) s->assign(rd.str(kNameMax));
  if (!rd.ok() || !rd.done() || cause > core::kMovementCauseMax || r->seq == 0) return false;
  r->cause = static_cast<core::MovementCause>(cause);
  *next = pos + kRecordHeaderBytes + len;
  return true;
}

std::uint32_t MovementStore::slot(std::string_view sku) {
  if (auto it = slot_of_.find(absl::string_view(sku.data(), sku.size())); it != slot_of_.end()) return it->second;
  auto s = static_cast<std::uint32_t>(lists_.size());
  lists_.emplace_back();
  slot_of_.emplace(std::string(sku), s);
  return s;
}

core::Result<std::unique_ptr<MovementStore>> MovementStore::open(Env* env, const std::string& dir,
                                                                 std::uint64_t file_bytes) {
  std::unique_ptr<MovementStore> m(new MovementStore(env, dir, file_bytes));
  std::vector<std::string> names;
  if (IoError e = env->list_dir(dir, &names); e != 0) return io_status("list " + dir, e);
  for (const std::string& n : names) {
    std::uint64_t first = 0;
    if (parse_file_name(n, &first)) m->files_.push_back(File{first, 0, 0, 0, dir + "/" + n, 0});
  }
  std::sort(m->files_.begin(), m->files_.end(), [](const File& a, const File& b) { return a.first_seq < b.first_seq; });
  for (std::size_t k = 0; k < m->files_.size(); ++k) {
    if (core::Status s = m->load_file(k); !s.ok()) return s;
  }
  // Empty files (a rotation that wrote nothing) hold nothing to serve; the last one would be reused.
  std::erase_if(m->files_, [&](const File& f) {
    if (f.last_seq != 0) return false;
    env->remove_file(f.path);
    return true;
  });
  if (!m->files_.empty()) {  // continue the last file
    if (IoError e = env->open_writable(m->files_.back().path, false, &m->out_); e != 0) {
      return io_status("open " + m->files_.back().path, e);
    }
  }
  return m;
}

// Reads file k and indexes its records. A bad record (torn write, damage) ends the file there: it is
// cut at it (logged). Later files are still read: after a failed append the writer goes on in a new
// file starting at the first movement it could not write, so a torn tail in an older file is followed
// by the same movements, whole, in the next one. Replay regenerates what the journal still holds.
core::Status MovementStore::load_file(std::size_t k) {
  File& f = files_[k];
  if (k > 0 && f.first_seq <= last_seq_) {
    // Written after a failed append: this file holds again what the older one has from first_seq on
    // (the older one may hold some of those records whole, before its torn tail). This one wins.
    spdlog::info("event=movements_superseded file={} from_seq={}", files_[k - 1].path, f.first_seq);
    File& prev = files_[k - 1];
    for (auto& list : lists_) {
      auto it = std::lower_bound(list.begin(), list.end(), f.first_seq,
                                 [](const Entry& e, std::uint64_t s) { return e.seq < s; });
      if (it != list.end()) prev.bytes = std::min<std::uint64_t>(prev.bytes, it->offset);
      entries_ -= list.end() - it;
      list.erase(it, list.end());
    }
    last_seq_ = f.first_seq - 1;
    prev.last_seq = std::min(prev.last_seq, last_seq_);
  }
  std::string data;
  if (IoError e = env_->read_file(f.path, &data); e != 0) return io_status("read " + f.path, e);
  std::size_t pos = 0;
  bool header_ok = data.size() >= kMagic.size() && std::string_view(data).substr(0, kMagic.size()) == kMagic;
  if (header_ok) pos = kMagic.size();
  MovementRecord r;
  std::size_t next = 0;
  while (header_ok && pos < data.size() && decode(data, pos, &r, &next)) {
    if (r.seq <= last_seq_ || (f.last_seq == 0 && r.seq < f.first_seq)) break;  // out of order: damage
    std::uint32_t s = slot(r.sku);
    append(lists_[s], Entry{r.seq, static_cast<std::uint32_t>(pos), static_cast<std::uint32_t>(next - pos)});
    ++entries_;
    last_seq_ = f.last_seq = r.seq;
    if (f.last_seq == r.seq && pos == kMagic.size()) f.oldest_at_ms = r.at_ms;
    f.newest_at_ms = std::max(f.newest_at_ms, r.at_ms);
    pos = next;
  }
  f.bytes = pos;
  if (pos == data.size()) return {};
  st_.torn_bytes += data.size() - pos;
  spdlog::warn("event=movements_tail_cut file={} offset={} bytes={} last_seq={}", f.path, pos, data.size() - pos,
               last_seq_);
  if (!header_ok) {
    env_->remove_file(f.path);
    f.last_seq = 0;  // dropped from files_ by open() with the other empty files
    return {};
  }
  std::unique_ptr<WritableFile> w;
  IoError e = env_->open_existing(f.path, &w);
  if (e == 0) e = w->truncate(pos);
  if (e == 0) e = w->sync();
  if (w) w->close();
  if (e != 0) return io_status("cut " + f.path, e);
  return {};
}

void MovementStore::add(std::span<const core::Movement> moves, const core::Inventory& inv) {
  for (const core::Movement& m : moves) {
    std::uint64_t expected = pending_.empty() ? last_seq_ + 1 : pending_.back().entry.seq + 1;
    if (m.seq < expected) continue;  // already stored
    if (m.seq != expected && (last_seq_ != 0 || !pending_.empty())) {
      spdlog::warn("event=movements_gap expected_seq={} seq={}", expected, m.seq);
    }
    if (at_ms_varint_bytes_ == 0 || m.at_ms != at_ms_cached_) {
      at_ms_cached_ = m.at_ms;
      at_ms_varint_bytes_ = static_cast<std::size_t>(put_svarint(at_ms_varint_, m.at_ms) - at_ms_varint_);
    }
    Fields f{m.seq, at_ms_varint_, at_ms_varint_bytes_, m.cause, m.on_hand_delta, m.held_delta, m.exposed_delta,
             inv.sku_name(m.sku), m.channel == core::kNoIndex ? std::string_view() : inv.channel_name(m.channel),
             m.hold == core::kNoIndex ? std::string_view() : inv.hold_id(m.hold), m.ref, m.reason};
    // The core's SKU indexes are stable (SKUs are never removed), so the list of a SKU is found by
    // its index after the first time, without hashing its name.
    if (m.sku >= slot_by_index_.size()) slot_by_index_.resize(m.sku + 1, kNoSlot);
    std::uint32_t& sku_slot = slot_by_index_[m.sku];
    if (sku_slot == kNoSlot) sku_slot = slot(f.sku);
    std::size_t at = unwritten_.size;
    char* end = put_record(unwritten_.room(record_bytes_max(f)), f);
    unwritten_.size = static_cast<std::size_t>(end - unwritten_.data.get());
    if (pending_.empty()) pending_first_ = m.seq, pending_oldest_at_ = m.at_ms;
    pending_.push_back(Pending{sku_slot, Entry{m.seq, static_cast<std::uint32_t>(at),
                                                  static_cast<std::uint32_t>(unwritten_.size - at)}});
    pending_newest_at_ = std::max(pending_newest_at_, m.at_ms);
  }
}

IoError MovementStore::start_file(std::uint64_t first_seq) {
  File f{first_seq, 0, 0, 0, dir_ + "/" + file_name(first_seq), 0};
  std::unique_ptr<WritableFile> w;
  IoError e = env_->open_writable(f.path, true, &w);
  if (e == 0) e = w->append(kMagic);
  if (e != 0) {
    if (w) w->close();
    env_->remove_file(f.path);
    return e;
  }
  f.bytes = kMagic.size();
  if (!files_.empty() && files_.back().last_seq == 0) files_.pop_back();  // an empty file of a failed start
  files_.push_back(std::move(f));
  out_ = std::move(w);
  unsynced_dir_ = true;
  return 0;
}

IoError MovementStore::flush() {
  if (unwritten_.size == 0) return 0;
  // A file is finished when full or a day old, so that compaction can remove history of a quiet store.
  bool full = !files_.empty() && files_.back().last_seq != 0 &&
              (files_.back().bytes + unwritten_.size > file_bytes_ ||
               pending_newest_at_ - files_.back().oldest_at_ms >= kFileAgeMaxMs);
  if (out_ && full) {
    // The finished file is synced once, now, so only the last file ever needs syncing later.
    IoError e = out_->sync();
    out_->close();
    out_.reset();
    if (e != 0) {
      ++st_.write_failures;
      return e;
    }
  }
  if (!out_) {
    if (IoError e = start_file(pending_first_); e != 0) {
      ++st_.write_failures;
      return e;
    }
  }
  File& f = files_.back();
  STOCKD_ASSERT(f.bytes + unwritten_.size < (1ull << 32));  // offsets are 32 bits: files stay far smaller
  if (IoError e = out_->append(unwritten_.view()); e != 0) {
    // A short write may have left a prefix: this file is abandoned (its torn tail is cut at the next
    // open) and the records go into a new file at the next flush.
    // Its records before this one still need the sync before the next snapshot: it is kept open.
    ++st_.write_failures;
    abandoned_.push_back(std::move(out_));
    return e;
  }
  // The lists are those of random SKUs (cache misses): their headers and ends are loaded ahead.
  constexpr std::size_t kHeadAhead = 8, kEndAhead = 4;
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (i + kHeadAhead < pending_.size()) __builtin_prefetch(&lists_[pending_[i + kHeadAhead].slot]);
    if (i + kEndAhead < pending_.size()) {
      const std::vector<Entry>& ahead = lists_[pending_[i + kEndAhead].slot];
      __builtin_prefetch(ahead.data() + ahead.size(), 1);
    }
    Entry e = pending_[i].entry;
    e.offset += static_cast<std::uint32_t>(f.bytes);
    append(lists_[pending_[i].slot], e);
  }
  entries_ += pending_.size();
  f.bytes += unwritten_.size;
  unsynced_bytes_ += unwritten_.size;
  if (f.last_seq == 0) f.oldest_at_ms = pending_oldest_at_;
  f.last_seq = last_seq_ = pending_.back().entry.seq;
  f.newest_at_ms = std::max(f.newest_at_ms, pending_newest_at_);
  unwritten_.size = 0;
  pending_.clear();
  pending_newest_at_ = 0;
  return 0;
}

IoError MovementStore::sync() {
  if (sync_failed_) return EIO;
  while (!abandoned_.empty()) {
    if (IoError e = abandoned_.back()->sync(); e != 0) {
      sync_failed_ = true;
      spdlog::error("event=storage_fault op=movements_sync file=abandoned error=\"{}\" "
                    "action=no_more_snapshots_until_restart", std::strerror(e));
      return e;
    }
    abandoned_.back()->close();
    abandoned_.pop_back();
  }
  if (out_) {
    if (IoError e = out_->sync(); e != 0) {
      // After a failed fsync the kernel may have dropped pages of this file while marking them clean,
      // so no later sync can vouch for it (PostgreSQL's "fsyncgate"): the journal must keep them.
      sync_failed_ = true;
      spdlog::error("event=storage_fault op=movements_sync file={} error=\"{}\" "
                    "action=no_more_snapshots_until_restart (the restart regenerates the movements from the journal)",
                    files_.back().path, std::strerror(e));
      return e;
    }
  }
  if (unsynced_dir_) {
    if (IoError e = env_->sync_dir(dir_); e != 0) return e;
    unsynced_dir_ = false;
  }
  unsynced_bytes_ = 0;
  return 0;
}

IoError MovementStore::cut_after(std::uint64_t seq) {
  STOCKD_ASSERT(unwritten_.size == 0);
  if (seq >= last_seq_) return 0;
  spdlog::warn("event=movements_cut after_seq={} last_seq={} reason=journal_ends_earlier", seq, last_seq_);
  if (out_) out_->close();
  out_.reset();
  while (!files_.empty() && files_.back().first_seq > seq) {
    env_->remove_file(files_.back().path);
    files_.pop_back();
  }
  for (auto& list : lists_) {
    auto it = std::upper_bound(list.begin(), list.end(), seq, [](std::uint64_t s, const Entry& e) { return s < e.seq; });
    entries_ -= list.end() - it;
    if (!files_.empty() && it != list.end() && file_of(it->seq) == &files_.back()) {
      files_.back().bytes = std::min<std::uint64_t>(files_.back().bytes, it->offset);
    }
    list.erase(it, list.end());
  }
  last_seq_ = seq;
  if (files_.empty()) return env_->sync_dir(dir_);
  File& f = files_.back();
  f.last_seq = std::min(f.last_seq, seq);
  std::unique_ptr<WritableFile> w;
  IoError e = env_->open_existing(f.path, &w);
  if (e == 0) e = w->truncate(f.bytes);
  if (e == 0) e = w->sync();
  if (w) w->close();
  if (e == 0) e = env_->sync_dir(dir_);
  return e;
}

std::size_t MovementStore::compact(std::int64_t now_ms, std::int64_t retention_ms) {
  std::size_t removed = 0;
  while (files_.size() > 1 && files_.front().newest_at_ms <= now_ms - retention_ms) {
    const File& f = files_.front();
    if (IoError e = env_->remove_file(f.path); e != 0 && e != ENOENT) {
      spdlog::warn("event=movements_compaction_failed file={} error=\"{}\"", f.path, std::strerror(e));
      break;
    }
    for (auto& list : lists_) {
      auto it = std::upper_bound(list.begin(), list.end(), f.last_seq,
                                 [](std::uint64_t s, const Entry& e) { return s < e.seq; });
      entries_ -= it - list.begin();
      list.erase(list.begin(), it);
    }
    spdlog::info("event=movements_file_removed file={} last_seq={} newest_at_ms={}", f.path, f.last_seq, f.newest_at_ms);
    files_.erase(files_.begin());
    ++removed;
    ++st_.files_removed;
  }
  if (removed > 0) env_->sync_dir(dir_);
  return removed;
}

const MovementStore::File* MovementStore::file_of(std::uint64_t seq) const {
  auto it = std::upper_bound(files_.begin(), files_.end(), seq,
                             [](std::uint64_t s, const File& f) { return s < f.first_seq; });
  if (it == files_.begin()) return nullptr;
  return &*(it - 1);
}

IoError MovementStore::page(std::string_view sku, std::uint64_t after, std::size_t limit,
                            std::vector<MovementRecord>* out) const {
  out->clear();
  auto found = slot_of_.find(absl::string_view(sku.data(), sku.size()));
  if (found == slot_of_.end() || limit == 0) return 0;
  const std::vector<Entry>& list = lists_[found->second];
  auto it = std::upper_bound(list.begin(), list.end(), after, [](std::uint64_t s, const Entry& e) { return s < e.seq; });
  auto end = it + static_cast<std::ptrdiff_t>(std::min<std::size_t>(limit, list.end() - it));
  std::string buf;
  while (it != end) {
    // One read for a run of records of one file that lie within kReadSpanMax of the first.
    const File* f = file_of(it->seq);
    STOCKD_ASSERT(f != nullptr);
    std::uint64_t from = it->offset, to = it->offset + it->length;
    auto run_end = it + 1;
    while (run_end != end && file_of(run_end->seq) == f && run_end->offset + run_end->length - from <= kReadSpanMax) {
      to = run_end->offset + run_end->length;
      ++run_end;
    }
    if (IoError e = env_->read_at(f->path, from, to - from, &buf); e != 0) return e;
    for (; it != run_end; ++it) {
      MovementRecord& r = out->emplace_back();
      std::size_t next = 0;
      if (!decode(buf, it->offset - from, &r, &next) || r.seq != it->seq) return EIO;
    }
  }
  return 0;
}

MovementStoreStats MovementStore::stats() const {
  st_.last_seq = last_seq_;
  st_.movements = entries_;
  st_.files = files_.size();
  st_.bytes = 0;
  for (const File& f : files_) st_.bytes += f.bytes;
  st_.index_bytes = 0;
  for (const auto& list : lists_) st_.index_bytes += list.capacity() * sizeof(Entry);
  return st_;
}

}  // namespace stockd::engine
