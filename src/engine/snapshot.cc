// Snapshots: the whole state (Inventory::save, then EventSink::save) at one journal lsn.
// Written to <name>.tmp, synced, renamed, directory synced: a snapshot file either exists whole or
// not at all. Then what it makes obsolete is removed: snapshots older than the previous one, and
// segments holding only records the previous snapshot already covers. The previous snapshot and its
// journal stay as the fallback for a newest snapshot damaged later.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "engine/engine_impl.h"
#include "engine/journal_format.h"
#include "spdlog/spdlog.h"

namespace stockd::engine {

bool Engine::Impl::write_snapshot(std::uint64_t* out_lsn, std::string* error) {
  if (!healthy) {
    *error = "storage unavailable";
    ++st.snapshot_failures;
    return false;
  }
  const std::uint64_t lsn = last_lsn;
  *out_lsn = lsn;
  if (!snapshots.empty() && snapshots.back() == lsn && snapshot_lsn == lsn) return true;  // nothing new
  std::int64_t t0 = env->now_us();

  core::Writer inv_bytes;
  inv.save(inv_bytes);
  std::string sink_bytes;
  if (sink != nullptr) sink->save(&sink_bytes);
  core::Writer frame;  // varint length of the inventory part
  frame.varint(inv_bytes.buffer().size());
  core::Writer tail;  // varint length of the sink part, then the sink part
  tail.str(sink_bytes);
  std::uint32_t crc = crc32c(0, frame.buffer().data(), frame.buffer().size());
  crc = crc32c(crc, inv_bytes.buffer().data(), inv_bytes.buffer().size());
  crc = crc32c(crc, tail.buffer().data(), tail.buffer().size());
  std::string head;
  format::append_snapshot_header(&head, lsn, crc,
                                 frame.buffer().size() + inv_bytes.buffer().size() + tail.buffer().size());

  const std::string final_path = path(format::snapshot_name(lsn));
  const std::string tmp = final_path + ".tmp";
  const char* op = "open";
  std::unique_ptr<WritableFile> f;
  IoError e = env->open_writable(tmp, true, &f);
  if (e == 0) {
    op = "write";
    e = f->append(head);
    if (e == 0) e = f->append(frame.buffer());
    if (e == 0) e = f->append(inv_bytes.buffer());
    if (e == 0) e = f->append(tail.buffer());
    if (e == 0) op = "sync", e = f->sync();
    IoError ce = f->close();
    if (e == 0) op = "close", e = ce;
  }
  if (e == 0) op = "rename", e = env->rename_file(tmp, final_path);
  if (e == 0) op = "sync_dir", e = env->sync_dir(opt.data_dir);
  if (e != 0) {
    if (std::strcmp(op, "sync_dir") != 0) env->remove_file(tmp);
    *error = fmt::format("snapshot {} {}: {}", op, tmp, std::strerror(e));
    ++st.snapshot_failures;
    spdlog::error("event=snapshot_failed lsn={} op={} error=\"{}\"", lsn, op, std::strerror(e));
    return false;
  }
  snapshots.erase(std::remove(snapshots.begin(), snapshots.end(), lsn), snapshots.end());
  snapshots.push_back(lsn);
  std::sort(snapshots.begin(), snapshots.end());
  snapshot_lsn = lsn;
  st.snapshot_lsn = lsn;
  ++st.snapshots_written;
  st.snapshot_us = env->now_us() - t0;
  spdlog::info("event=snapshot lsn={} bytes={} duration_ms={}", lsn, head.size() + inv_bytes.buffer().size(),
               st.snapshot_us / 1000);
  remove_obsolete();
  return true;
}

void Engine::Impl::remove_obsolete() {
  // The fallback is the newest snapshot older than the newest one that was not found damaged.
  auto newest = std::find(snapshots.begin(), snapshots.end(), snapshot_lsn);
  if (newest == snapshots.end()) return;
  auto fallback = newest;
  while (fallback != snapshots.begin()) {
    --fallback;
    if (std::find(bad_snapshots.begin(), bad_snapshots.end(), *fallback) == bad_snapshots.end()) break;
  }
  if (fallback == newest || std::find(bad_snapshots.begin(), bad_snapshots.end(), *fallback) != bad_snapshots.end()) {
    return;  // no fallback yet: keep the whole journal
  }
  const std::uint64_t keep_from = *fallback;
  std::vector<std::uint64_t> kept;
  for (std::uint64_t s : snapshots) {
    if (s >= keep_from && std::find(bad_snapshots.begin(), bad_snapshots.end(), s) == bad_snapshots.end()) {
      kept.push_back(s);
      continue;
    }
    if (s > snapshot_lsn) {  // a damaged snapshot newer than the one in use: leave it for inspection
      kept.push_back(s);
      continue;
    }
    if (IoError e = env->remove_file(path(format::snapshot_name(s))); e != 0 && e != ENOENT) {
      spdlog::warn("event=remove_failed file={} error=\"{}\"", format::snapshot_name(s), std::strerror(e));
    }
  }
  snapshots = std::move(kept);
  // Segment i holds only records <= keep_from when segment i+1 starts at or before keep_from + 1.
  std::size_t n = 0;
  while (n + 1 < segments.size() && segments[n + 1].first_lsn <= keep_from + 1) ++n;
  for (std::size_t i = 0; i < n; ++i) {
    if (IoError e = env->remove_file(segments[i].path); e != 0 && e != ENOENT) {
      spdlog::warn("event=remove_failed file={} error=\"{}\"", segments[i].path, std::strerror(e));
    }
    st.journal_bytes -= segments[i].bytes;
  }
  segments.erase(segments.begin(), segments.begin() + static_cast<std::ptrdiff_t>(n));
  st.segments = segments.size();
}

}  // namespace stockd::engine
