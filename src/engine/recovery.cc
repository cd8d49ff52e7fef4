// open(): lock the data directory, load the newest valid snapshot, replay the journal after it.
//
// Rules (engine.h): the newest snapshot whose checksum holds and that loads; older ones when it is
// damaged; none only when the journal starts at lsn 1. Then every record after the snapshot, in lsn
// order, through the same Inventory::apply with the journaled time. Segment by segment:
//  - a record whose checksum, length or lsn is wrong is damage. In the last segment, when no good
//    record follows it, it is a torn write (crash mid-append): cut off and logged. Anywhere else it
//    refuses to open, naming file and offset, unless recover_truncate cuts the journal there.
//  - a segment starting at lsn F supersedes records >= F of the segment before it, and a bad tail
//    right before F is tolerated: the writer starts a new segment at F only after a storage fault,
//    when those records were never acknowledged (journal_writer.cc).
//  - a segment ending before the next one starts is a missing segment: refuse (or cut).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>

#include "engine/engine_impl.h"
#include "engine/journal_format.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What scanning one segment found.
struct Scan {
  bool header_ok = false;
  int version = 0;
  std::size_t end = 0;            // offset after the last good record
  std::uint64_t last_lsn = 0;     // last good lsn (first - 1 when none)
  std::size_t bad_at = SIZE_MAX;  // offset of the first bad record
  std::string why;
  bool superseded = false;  // stopped at a record the next segment replaces
};

// Applies decoded records in lsn order, kAhead records behind decoding, so that the core's prefetch
// hint for a later record's index slots (Inventory::prefetch_index) overlaps the memory reads of the
// one being applied. (prefetch_rows as well measured no better here: it reads the index slot itself,
// so it stalls where apply would.) Decoding reuses the ring's Commands: no allocation per record
// once their strings and vectors have grown.
class Replayer {
 public:
  Replayer(core::Inventory& inv, EventSink* sink, MovementStore* moves, std::uint64_t* replayed)
      : inv_(inv), sink_(sink), moves_(moves), replayed_(replayed), evs_(sink ? &events_ : nullptr) {}

  // The first failed write of regenerated movements (0: none).
  IoError movements_error() const { return moves_error_; }

  // Decodes the next record (false: it does not decode; nothing of it is applied) and applies the
  // oldest pending one when the ring is full.
  bool push(std::string_view payload) {
    Pending& p = ring_[decoded_ % kAhead];
    if (!core::decode_command(payload, &p.now_ms, &p.cmd)) return false;
    inv_.prefetch_index(p.cmd);
    ++decoded_;
    if (decoded_ - applied_ == kAhead) apply_next();
    return true;
  }

  void drain() {
    while (applied_ < decoded_) apply_next();
  }

 private:
  static constexpr std::size_t kAhead = 8;  // records decoded (index slots prefetched) ahead
  static constexpr std::size_t kMovementsFlushBytes = 1u << 20;  // regenerated movements per write
  struct Pending {
    core::Command cmd;
    std::int64_t now_ms = 0;
  };

  void apply_next() {
    Pending& p = ring_[applied_ % kAhead];
    if (evs_) evs_->clear();
    inv_.set_movement_sink(moves_ ? &movements_ : nullptr);  // the inventory may have been replaced by a load
    inv_.apply(p.cmd, p.now_ms, evs_);
    if (evs_ && !evs_->empty()) sink_->on_events(*evs_, inv_);
    if (!movements_.empty()) {  // only those past the files' last seq are kept (MovementStore::add)
      moves_->add(movements_, inv_);
      movements_.clear();
      if (moves_->unwritten_bytes() >= kMovementsFlushBytes && moves_error_ == 0) moves_error_ = moves_->flush();
    }
    ++*replayed_;
    ++applied_;
  }

  core::Inventory& inv_;
  EventSink* sink_;
  MovementStore* moves_;
  IoError moves_error_ = 0;
  std::vector<core::Movement> movements_;
  std::uint64_t* replayed_;
  std::array<Pending, kAhead> ring_;
  std::uint64_t decoded_ = 0, applied_ = 0;
  std::vector<core::Event> events_;
  std::vector<core::Event>* evs_;
};

}  // namespace

// The steps of one recover(), in order: list the directory, load the newest good snapshot, find the
// segment holding the record after it, replay every segment from there (cutting or refusing at
// damage), then continue the last segment or start a new one.
class Engine::Impl::Recovery {
 public:
  explicit Recovery(Impl& m) : m_(m), replay_(m.inv, m.sink, m.moves.get(), &m.st.replayed_records) {}

  core::Status run() {
    if (core::Status s = list_directory(); !s.ok()) return s;
    load_newest_snapshot();
    if (!have_snapshot_ && (seg_lsns_.empty() ? !snap_lsns_.empty() : seg_lsns_.front() != 1)) {
      return refuse(fmt::format(
          "no valid snapshot ({} damaged) and the journal does not start at lsn 1 (first segment: {})",
          snap_lsns_.size(), seg_lsns_.empty() ? "none" : format::segment_name(seg_lsns_.front())));
    }
    if (core::Status s = find_first_segment(); !s.ok()) return s;
    if (core::Status s = replay_segments(); !s.ok()) return s;
    if (core::Status s = finish_movements(); !s.ok()) return s;
    if (core::Status s = continue_last_segment(); !s.ok()) return s;
    m_.st.segments = m_.segments.size();
    return {};
  }

 private:
  // The data directory cannot be opened as it is (damage, a missing segment): the operator decides.
  static core::Status refuse(std::string message) {
    return core::Status::error(core::Code::unavailable, std::move(message));
  }

  std::string segment_path(std::size_t k) const { return m_.path(format::segment_name(seg_lsns_[k])); }

  // Sorts the directory's segments and snapshots; removes leftovers of an interrupted snapshot or of a
  // segment being zero-filled.
  core::Status list_directory() {
    std::vector<std::string> names;
    if (IoError e = m_.env->list_dir(m_.opt.data_dir, &names); e != 0) return io_status("list " + m_.opt.data_dir, e);
    for (const std::string& n : names) {
      std::uint64_t v = 0;
      if (format::parse_segment_name(n, &v)) {
        seg_lsns_.push_back(v);
      } else if (format::parse_snapshot_name(n, &v)) {
        snap_lsns_.push_back(v);
      } else if ((n.starts_with("snapshot-") && ends_with(n, ".tmp")) || n == format::kPreparedSegmentName) {
        m_.env->remove_file(m_.path(n));
      }
    }
    std::sort(seg_lsns_.begin(), seg_lsns_.end());
    std::sort(snap_lsns_.begin(), snap_lsns_.end());
    return {};
  }

  // Why the snapshot at `lsn` cannot be used (empty: it was loaded into the engine).
  std::string try_snapshot(std::uint64_t want_lsn) {
    std::string data;
    std::uint64_t lsn = 0;
    std::string_view inv_part, sink_part;
    if (IoError e = m_.env->read_file(m_.path(format::snapshot_name(want_lsn)), &data); e != 0) return std::strerror(e);
    if (core::Status s = format::parse_snapshot(data, &lsn, &inv_part, &sink_part); !s.ok()) return s.message;
    if (lsn != want_lsn) return fmt::format("header lsn {} differs from the file name", lsn);
    core::Inventory loaded;
    if (!loaded.load(inv_part)) return "inventory part does not load";
    if (m_.sink != nullptr && !sink_part.empty() && !m_.sink->load(sink_part)) return "event sink part does not load";
    m_.inv = std::move(loaded);
    return {};
  }

  // 1. The newest snapshot that is whole and loads; older ones when it is damaged.
  void load_newest_snapshot() {
    for (auto it = snap_lsns_.rbegin(); it != snap_lsns_.rend() && !have_snapshot_; ++it) {
      std::string why = try_snapshot(*it);
      if (why.empty()) {
        s_ = *it;
        have_snapshot_ = true;
        continue;
      }
      spdlog::error("event=snapshot_damaged file={} error=\"{}\" action=trying_an_older_one",
                    format::snapshot_name(*it), why);
      m_.bad_snapshots.push_back(*it);
      ++m_.st.snapshot_fallbacks;
    }
    m_.snapshots = snap_lsns_;
    m_.snapshot_lsn = s_;
    m_.st.snapshot_lsn = s_;
  }

  // 2. The segment holding record s+1; the ones before it are kept whole (older snapshots need them).
  core::Status find_first_segment() {
    while (first_seg_ + 1 < seg_lsns_.size() && seg_lsns_[first_seg_ + 1] <= s_ + 1) ++first_seg_;
    for (std::size_t i = 0; i < first_seg_; ++i) {
      std::uint64_t bytes = 0;
      m_.env->file_size(segment_path(i), &bytes);
      m_.segments.push_back(Segment{seg_lsns_[i], segment_path(i), bytes});
      m_.st.journal_bytes += bytes;
    }
    if (seg_lsns_.empty() || seg_lsns_[first_seg_] <= s_ + 1) return {};
    std::string why = fmt::format("the snapshot ends at lsn {} but the journal starts at lsn {}: a segment is missing",
                                  s_, seg_lsns_[first_seg_]);
    if (!m_.opt.recover_truncate) return refuse(fmt::format("{}: offset 0: {}", segment_path(first_seg_), why));
    spdlog::error("event=journal_truncated reason=\"{}\" dropped_segments={}", why, seg_lsns_.size() - first_seg_);
    for (std::size_t i = first_seg_; i < seg_lsns_.size(); ++i) m_.env->remove_file(segment_path(i));
    seg_lsns_.resize(first_seg_);
    m_.segments.clear();
    m_.st.journal_bytes = 0;
    return {};
  }

  // Reads one segment's records from `first` on, replaying those after the snapshot, and stops at the
  // first bad one or at the first the next segment replaces (lsn > limit).
  Scan scan(const std::string& file, std::uint64_t first, std::uint64_t limit) {
    Scan sc;
    std::uint64_t name_first = first;
    if (!format::parse_segment_header(file, &first, &sc.version) || first != name_first) {
      sc.bad_at = 0;
      sc.why = "bad segment header";
      sc.last_lsn = name_first - 1;
      return sc;
    }
    sc.header_ok = true;
    std::size_t pos = format::kSegmentHeaderBytes;
    std::uint64_t expect = first;
    format::Record rec;
    for (;;) {
      format::Read r = format::read_record(file, pos, &rec);
      if (r == format::Read::end) {
        // Zeros where the next record would start end the written part, unless a good record
        // follows them: then a header was wiped (damage), not left unwritten.
        if (pos < file.size() && format::valid_record_after(file, pos, expect)) {
          sc.bad_at = pos;
          sc.why = "zeroed record header with good records after it";
        }
        break;
      }
      if (r == format::Read::bad) {
        sc.bad_at = pos;
        sc.why = "bad record (length or checksum)";
        break;
      }
      if (rec.lsn != expect) {
        sc.bad_at = pos;
        sc.why = fmt::format("record lsn {} where {} was expected", rec.lsn, expect);
        break;
      }
      if (rec.lsn > limit) {
        sc.superseded = true;
        break;
      }
      if (rec.lsn > s_ && !replay_.push(rec.payload)) {
        sc.bad_at = pos;
        sc.why = fmt::format("record lsn {} does not decode", rec.lsn);
        break;
      }
      ++expect;
      pos = rec.next;
    }
    replay_.drain();  // everything before the stop is applied; nothing after it was decoded
    sc.end = pos;
    sc.last_lsn = expect - 1;
    return sc;
  }

  // Where segment k is damaged (SIZE_MAX: nowhere), with the reason in *why. A torn tail of the last
  // segment and a tail the next segment supersedes are not damage: they are logged and left behind.
  std::size_t damage_at(const Scan& sc, std::size_t k, const std::string& data, std::uint64_t limit,
                        std::string* why) {
    const bool is_last = k + 1 == seg_lsns_.size();
    const std::string p = segment_path(k);
    *why = sc.why;
    if (sc.bad_at != SIZE_MAX) {
      if (is_last && sc.header_ok && !format::valid_record_after(data, sc.bad_at, sc.last_lsn + 1)) {
        m_.st.torn_tail_bytes = std::max(format::nonzero_end(data, sc.bad_at), sc.bad_at + 1) - sc.bad_at;
        spdlog::warn("event=torn_tail_truncated file={} offset={} bytes={} last_lsn={}", p, sc.bad_at,
                     m_.st.torn_tail_bytes, sc.last_lsn);
        return SIZE_MAX;
      }
      if (!is_last && sc.header_ok && sc.last_lsn >= limit) {
        spdlog::info("event=superseded_tail file={} offset={} next_segment_lsn={}", p, sc.bad_at, limit + 1);
        return SIZE_MAX;
      }
      return sc.bad_at;
    }
    if (sc.superseded) {
      spdlog::info("event=superseded_records file={} from_lsn={} reason=storage_fault_recovery", p, limit + 1);
    } else if (!is_last && sc.last_lsn < limit) {
      *why = fmt::format("the segment ends at lsn {} but the next one starts at lsn {}: a segment is missing",
                         sc.last_lsn, limit + 1);
      return data.size();
    }
    return SIZE_MAX;
  }

  // Damage at `at` in segment k: refuse to open, or (recover_truncate) drop every later segment.
  // An error when open must fail; *whole_segment_gone when segment k itself was removed.
  core::Status cut_at(std::size_t k, std::size_t at, const std::string& why, std::size_t data_bytes, bool header_ok,
                      bool* whole_segment_gone) {
    const std::string p = segment_path(k);
    if (!m_.opt.recover_truncate) {
      return refuse(fmt::format("{}: offset {}: {} (journal corrupt; refusing to open; recover_truncate cuts it here)",
                                p, at, why));
    }
    spdlog::error("event=journal_truncated file={} offset={} reason=\"{}\" dropped_bytes={} dropped_segments={}", p,
                  at, why, data_bytes - at, seg_lsns_.size() - k - 1);
    for (std::size_t j = k + 1; j < seg_lsns_.size(); ++j) m_.env->remove_file(segment_path(j));
    seg_lsns_.resize(k + 1);
    *whole_segment_gone = !header_ok;
    if (!header_ok) {  // nothing of this segment is usable
      m_.env->remove_file(p);
      seg_lsns_.resize(k);
    }
    m_.env->sync_dir(m_.opt.data_dir);
    return {};
  }

  // Replays segments first_seg_.. in order; keeps the last one's bytes and scan for step 3.
  core::Status replay_segments() {
    std::uint64_t journal_end = s_;  // last lsn present in the journal (or the snapshot's)
    std::string data;
    for (std::size_t k = first_seg_; k < seg_lsns_.size(); ++k) {
      const std::string p = segment_path(k);
      const bool is_last = k + 1 == seg_lsns_.size();
      const std::uint64_t limit = is_last ? std::numeric_limits<std::uint64_t>::max() : seg_lsns_[k + 1] - 1;
      data.clear();  // one buffer for every segment: its pages are touched once, not once per segment
      if (IoError e = m_.env->read_file(p, &data); e != 0) return io_status("read " + p, e);
      Scan sc = scan(data, seg_lsns_[k], limit);
      std::string why;
      if (std::size_t at = damage_at(sc, k, data, limit, &why); at != SIZE_MAX) {
        bool gone = false;
        if (core::Status s = cut_at(k, at, why, data.size(), sc.header_ok, &gone); !s.ok()) return s;
        if (gone) break;
        sc.bad_at = at;
      }
      journal_end = std::max(journal_end, sc.last_lsn);
      m_.segments.push_back(Segment{seg_lsns_[k], p, sc.end});
      m_.st.journal_bytes += sc.end;
      if (k + 1 == seg_lsns_.size()) {
        last_data_.swap(data);
        last_scan_ = sc;
      }
    }
    m_.last_lsn = journal_end;
    m_.st.last_lsn = journal_end;
    return {};
  }

  // The movements replay regenerated are written; movements past the journal's end (FsyncMode::batch
  // or off: the movement file reached the disk, the journal record did not) are cut off.
  core::Status finish_movements() {
    MovementStore* mv = m_.moves.get();
    if (mv == nullptr) return {};
    IoError e = replay_.movements_error();
    if (e == 0) e = mv->flush();
    if (e != 0) return io_status("write regenerated movements", e);
    if (mv->last_seq() > m_.inv.last_movement_seq()) {
      if (IoError c = mv->cut_after(m_.inv.last_movement_seq()); c != 0) return io_status("cut movements", c);
    }
    return {};
  }

  // 3. Continue the last segment when it ends exactly at the last record (and is of the current
  // format), else start a new one. Whatever is not zero after its last record (a torn write, records
  // cut by recover_truncate) is zeroed and synced first: a stale record there must never line up
  // behind new ones.
  core::Status continue_last_segment() {
    if (m_.segments.empty() || m_.segments.back().first_lsn != seg_lsns_.back() || !last_scan_.header_ok ||
        last_scan_.version != 2 || last_scan_.last_lsn != m_.last_lsn) {
      return m_.start_segment(m_.last_lsn + 1, {});
    }
    Segment& seg = m_.segments.back();
    const std::size_t end = last_scan_.end;
    const std::uint64_t want = m_.opt.segment_bytes;
    std::unique_ptr<WritableFile> f;
    IoError e = m_.env->open_existing(seg.path, &f);
    std::size_t garbage_end = format::nonzero_end(last_data_, end);
    if (e == 0 && garbage_end > end) e = f->write_at(end, std::string(garbage_end - end, '\0'));
    if (e == 0 && last_data_.size() < want) e = f->allocate(want);
    if (e == 0 && m_.opt.fsync != FsyncMode::off && (garbage_end > end || last_data_.size() < want)) e = f->sync();
    if (e != 0) return io_status("reopen " + seg.path, e);
    m_.st.journal_bytes -= seg.bytes - end;
    seg.bytes = end;
    m_.file = std::move(f);
    m_.written_offset = m_.durable_offset = end;
    m_.last_sync_us = m_.env->now_us();
    return {};
  }

  Impl& m_;
  Replayer replay_;
  std::vector<std::uint64_t> seg_lsns_;   // segments on disk, by first lsn
  std::vector<std::uint64_t> snap_lsns_;  // snapshots on disk, by lsn
  std::uint64_t s_ = 0;                   // lsn of the loaded snapshot (0: none)
  bool have_snapshot_ = false;
  std::size_t first_seg_ = 0;  // index in seg_lsns_ of the segment holding record s_ + 1
  std::string last_data_;      // the last segment's bytes and scan, for continue_last_segment()
  Scan last_scan_;
};

core::Status Engine::Impl::recover() { return Recovery(*this).run(); }

core::Result<std::unique_ptr<Engine>> Engine::open(const Options& options, Env* env, EventSink* sink) {
  std::int64_t t0 = env->now_us();
  std::unique_ptr<Engine> engine(new Engine());
  Impl& m = *engine->impl_;
  m.opt = options;
  m.env = env;
  m.sink = sink;
  while (m.opt.data_dir.size() > 1 && m.opt.data_dir.back() == '/') m.opt.data_dir.pop_back();
  if (m.opt.data_dir.empty()) return core::Status::error(core::Code::invalid_request, "no data directory");
  if (IoError e = env->make_dir(m.opt.data_dir); e != 0) return io_status("create " + m.opt.data_dir, e);
  if (IoError e = env->lock_file(m.path("LOCK"), &m.lock_handle); e != 0) {
    m.lock_handle = -1;
    if (e != EWOULDBLOCK) return io_status("lock " + m.path("LOCK"), e);
    return core::Status::error(core::Code::unavailable,
                               fmt::format("{} is locked by another stockd (LOCK held)", m.opt.data_dir));
  }
  if (m.opt.movements) {
    auto moves = MovementStore::open(env, m.opt.data_dir, m.opt.movements_file_bytes);
    if (!moves.ok()) return moves.status();
    m.moves = std::move(moves.value());
  }
  if (core::Status s = m.recover(); !s.ok()) return s;  // the destructor releases the lock
  if (m.opt.fsync == FsyncMode::always) m.start_syncer();
  if (m.opt.fsync == FsyncMode::off) {
    spdlog::warn("event=fsync_off data_dir={} note=\"acknowledged writes can be lost in a crash of the machine\"",
                 m.opt.data_dir);
  }
  m.st.recovery_us = env->now_us() - t0;
  spdlog::info("event=engine_open data_dir={} snapshot_lsn={} last_lsn={} replayed={} segments={} recovery_ms={}",
               m.opt.data_dir, m.snapshot_lsn, m.last_lsn, m.st.replayed_records, m.segments.size(),
               m.st.recovery_us / 1000);
  return engine;
}

}  // namespace stockd::engine
