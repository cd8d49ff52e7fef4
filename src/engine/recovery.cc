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
  Replayer(core::Inventory& inv, EventSink* sink, std::uint64_t* replayed)
      : inv_(inv), sink_(sink), replayed_(replayed), evs_(sink ? &events_ : nullptr) {}

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
  struct Pending {
    core::Command cmd;
    std::int64_t now_ms = 0;
  };

  void apply_next() {
    Pending& p = ring_[applied_ % kAhead];
    if (evs_) evs_->clear();
    inv_.apply(p.cmd, p.now_ms, evs_);
    if (evs_ && !evs_->empty()) sink_->on_events(*evs_, inv_);
    ++*replayed_;
    ++applied_;
  }

  core::Inventory& inv_;
  EventSink* sink_;
  std::uint64_t* replayed_;
  std::array<Pending, kAhead> ring_;
  std::uint64_t decoded_ = 0, applied_ = 0;
  std::vector<core::Event> events_;
  std::vector<core::Event>* evs_;
};

}  // namespace

bool Engine::Impl::recover(std::string* error) {
  std::vector<std::string> names;
  if (IoError e = env->list_dir(opt.data_dir, &names); e != 0) {
    *error = fmt::format("list {}: {}", opt.data_dir, std::strerror(e));
    return false;
  }
  std::vector<std::uint64_t> seg_lsns;
  std::vector<std::uint64_t> snap_lsns;
  for (const std::string& n : names) {
    std::uint64_t v = 0;
    if (format::parse_segment_name(n, &v)) {
      seg_lsns.push_back(v);
    } else if (format::parse_snapshot_name(n, &v)) {
      snap_lsns.push_back(v);
    } else if ((n.starts_with("snapshot-") && ends_with(n, ".tmp")) || n == format::kPreparedSegmentName) {
      env->remove_file(path(n));  // an interrupted snapshot, or a segment being zero-filled
    }
  }
  std::sort(seg_lsns.begin(), seg_lsns.end());
  std::sort(snap_lsns.begin(), snap_lsns.end());

  // 1. The newest snapshot that is whole and loads.
  std::uint64_t s = 0;
  bool have_snapshot = false;
  for (auto it = snap_lsns.rbegin(); it != snap_lsns.rend() && !have_snapshot; ++it) {
    std::string name = format::snapshot_name(*it);
    std::string data;
    std::string why;
    std::uint64_t lsn = 0;
    std::string_view inv_part, sink_part;
    if (IoError e = env->read_file(path(name), &data); e != 0) {
      why = std::strerror(e);
    } else if (!format::parse_snapshot(data, &lsn, &inv_part, &sink_part, &why)) {
    } else if (lsn != *it) {
      why = fmt::format("header lsn {} differs from the file name", lsn);
    } else {
      core::Inventory loaded;
      if (!loaded.load(inv_part)) {
        why = "inventory part does not load";
      } else if (sink != nullptr && !sink_part.empty() && !sink->load(sink_part)) {
        why = "event sink part does not load";
      } else {
        inv = std::move(loaded);
        s = lsn;
        have_snapshot = true;
        continue;
      }
    }
    spdlog::error("event=snapshot_damaged file={} error=\"{}\" action=trying_an_older_one", name, why);
    bad_snapshots.push_back(*it);
    ++st.snapshot_fallbacks;
  }
  snapshots = snap_lsns;
  snapshot_lsn = s;
  st.snapshot_lsn = s;
  if (!have_snapshot && (seg_lsns.empty() ? !snap_lsns.empty() : seg_lsns.front() != 1)) {
    *error = fmt::format("no valid snapshot ({} damaged) and the journal does not start at lsn 1 (first segment: {})",
                         snap_lsns.size(), seg_lsns.empty() ? "none" : format::segment_name(seg_lsns.front()));
    return false;
  }

  // 2. The segment holding record s+1 and every later one.
  std::size_t first_seg = 0;
  while (first_seg + 1 < seg_lsns.size() && seg_lsns[first_seg + 1] <= s + 1) ++first_seg;
  for (std::size_t i = 0; i < first_seg; ++i) {
    std::uint64_t bytes = 0;
    env->file_size(path(format::segment_name(seg_lsns[i])), &bytes);
    segments.push_back(Segment{seg_lsns[i], path(format::segment_name(seg_lsns[i])), bytes});
    st.journal_bytes += bytes;
  }
  if (!seg_lsns.empty() && seg_lsns[first_seg] > s + 1) {
    std::string why = fmt::format("the snapshot ends at lsn {} but the journal starts at lsn {}: a segment is missing",
                                  s, seg_lsns[first_seg]);
    if (!opt.recover_truncate) {
      *error = fmt::format("{}: offset 0: {}", path(format::segment_name(seg_lsns[first_seg])), why);
      return false;
    }
    spdlog::error("event=journal_truncated reason=\"{}\" dropped_segments={}", why, seg_lsns.size() - first_seg);
    for (std::size_t i = first_seg; i < seg_lsns.size(); ++i) env->remove_file(path(format::segment_name(seg_lsns[i])));
    seg_lsns.resize(first_seg);
    segments.clear();
    st.journal_bytes = 0;
  }

  Replayer replay(inv, sink, &st.replayed_records);
  const std::uint64_t snapshot_lsn = s;
  auto scan = [&](const std::string& file, std::uint64_t first, std::uint64_t limit) {
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
      if (rec.lsn > snapshot_lsn && !replay.push(rec.payload)) {
        sc.bad_at = pos;
        sc.why = fmt::format("record lsn {} does not decode", rec.lsn);
        break;
      }
      ++expect;
      pos = rec.next;
    }
    replay.drain();  // everything before the stop is applied; nothing after it was decoded
    sc.end = pos;
    sc.last_lsn = expect - 1;
    return sc;
  };

  std::uint64_t journal_end = s;  // last lsn present in the journal (or the snapshot's)
  std::string last_data;
  std::string data;
  Scan last_scan;
  for (std::size_t k = first_seg; k < seg_lsns.size(); ++k) {
    const std::string p = path(format::segment_name(seg_lsns[k]));
    const bool is_last = k + 1 == seg_lsns.size();
    const std::uint64_t limit = is_last ? std::numeric_limits<std::uint64_t>::max() : seg_lsns[k + 1] - 1;
    data.clear();  // one buffer for every segment: its pages are touched once, not once per segment
    if (IoError e = env->read_file(p, &data); e != 0) {
      *error = fmt::format("read {}: {}", p, std::strerror(e));
      return false;
    }
    Scan sc = scan(data, seg_lsns[k], limit);
    std::size_t damage_at = SIZE_MAX;
    std::string why = sc.why;
    if (sc.bad_at != SIZE_MAX) {
      if (is_last && sc.header_ok && !format::valid_record_after(data, sc.bad_at, sc.last_lsn + 1)) {
        st.torn_tail_bytes = std::max(format::nonzero_end(data, sc.bad_at), sc.bad_at + 1) - sc.bad_at;
        spdlog::warn("event=torn_tail_truncated file={} offset={} bytes={} last_lsn={}", p, sc.bad_at,
                     st.torn_tail_bytes, sc.last_lsn);
      } else if (!is_last && sc.header_ok && sc.last_lsn >= limit) {
        spdlog::info("event=superseded_tail file={} offset={} next_segment_lsn={}", p, sc.bad_at, limit + 1);
      } else {
        damage_at = sc.bad_at;
      }
    } else if (sc.superseded) {
      spdlog::info("event=superseded_records file={} from_lsn={} reason=storage_fault_recovery", p, limit + 1);
    } else if (!is_last && sc.last_lsn < limit) {
      damage_at = data.size();
      why = fmt::format("the segment ends at lsn {} but the next one starts at lsn {}: a segment is missing",
                        sc.last_lsn, limit + 1);
    }
    if (damage_at != SIZE_MAX) {
      if (!opt.recover_truncate) {
        *error = fmt::format("{}: offset {}: {} (journal corrupt; refusing to open; recover_truncate cuts it here)", p,
                             damage_at, why);
        return false;
      }
      spdlog::error("event=journal_truncated file={} offset={} reason=\"{}\" dropped_bytes={} dropped_segments={}", p,
                    damage_at, why, data.size() - damage_at, seg_lsns.size() - k - 1);
      for (std::size_t j = k + 1; j < seg_lsns.size(); ++j) env->remove_file(path(format::segment_name(seg_lsns[j])));
      seg_lsns.resize(k + 1);
      if (!sc.header_ok) {  // nothing of this segment is usable
        env->remove_file(p);
        seg_lsns.resize(k);
        env->sync_dir(opt.data_dir);
        break;
      }
      env->sync_dir(opt.data_dir);
      sc.bad_at = damage_at;
    }
    journal_end = std::max(journal_end, sc.last_lsn);
    segments.push_back(Segment{seg_lsns[k], p, sc.end});
    st.journal_bytes += sc.end;
    if (k + 1 == seg_lsns.size()) {
      last_data.swap(data);
      last_scan = sc;
    }
  }
  last_lsn = journal_end;
  st.last_lsn = last_lsn;

  // 3. Continue the last segment when it ends exactly at the last record (and is of the current
  // format), else start a new one. Whatever is not zero after its last record (a torn write, records
  // cut by recover_truncate) is zeroed and synced first: a stale record there must never line up
  // behind new ones.
  if (!segments.empty() && segments.back().first_lsn == seg_lsns.back() && last_scan.header_ok &&
      last_scan.version == 2 && last_scan.last_lsn == last_lsn) {
    Segment& seg = segments.back();
    std::unique_ptr<WritableFile> f;
    IoError e = env->open_existing(seg.path, &f);
    std::size_t garbage_end = format::nonzero_end(last_data, last_scan.end);
    if (e == 0 && garbage_end > last_scan.end) {
      e = f->write_at(last_scan.end, std::string(garbage_end - last_scan.end, '\0'));
    }
    if (e == 0 && last_data.size() < opt.segment_bytes) e = f->allocate(opt.segment_bytes);
    if (e == 0 && opt.fsync != FsyncMode::off && (garbage_end > last_scan.end || last_data.size() < opt.segment_bytes)) {
      e = f->sync();
    }
    if (e != 0) {
      *error = fmt::format("reopen {}: {}", seg.path, std::strerror(e));
      return false;
    }
    st.journal_bytes -= seg.bytes - last_scan.end;
    seg.bytes = last_scan.end;
    file = std::move(f);
    written_offset = durable_offset = last_scan.end;
    last_sync_us = env->now_us();
  } else if (!start_segment(last_lsn + 1, {}, error)) {
    return false;
  }
  st.segments = segments.size();
  return true;
}

std::unique_ptr<Engine> Engine::open(const Options& options, Env* env, std::string* error, EventSink* sink) {
  std::int64_t t0 = env->now_us();
  std::unique_ptr<Engine> engine(new Engine());
  Impl& m = *engine->impl_;
  m.opt = options;
  m.env = env;
  m.sink = sink;
  while (m.opt.data_dir.size() > 1 && m.opt.data_dir.back() == '/') m.opt.data_dir.pop_back();
  if (m.opt.data_dir.empty()) {
    *error = "no data directory";
    return nullptr;
  }
  if (IoError e = env->make_dir(m.opt.data_dir); e != 0) {
    *error = fmt::format("create {}: {}", m.opt.data_dir, std::strerror(e));
    return nullptr;
  }
  if (IoError e = env->lock_file(m.path("LOCK"), &m.lock_handle); e != 0) {
    m.lock_handle = -1;
    *error = e == EWOULDBLOCK ? fmt::format("{} is locked by another stockd (LOCK held)", m.opt.data_dir)
                              : fmt::format("lock {}: {}", m.path("LOCK"), std::strerror(e));
    return nullptr;
  }
  if (!m.recover(error)) return nullptr;  // the destructor releases the lock
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
