// Snapshot encoding of the whole state. Everything that decides future behaviour is saved exactly,
// including slot layout and the free-slot and retention queues, so that "snapshot then replay" yields
// the same state, events and indexes as "replay from the start". The expiry heap is rebuilt: its order
// is a total order on (expires_at, hold index), so rebuilding cannot change what expires when.
#include <limits>

#include "core/inventory_state.h"

namespace stockd::core {
namespace {

constexpr std::size_t kStr = limits::kIdLenMax;
constexpr std::uint32_t kMagic = 0x4b434f53;  // "SOCK" little-endian: stockd core

}  // namespace

void Inventory::save(Writer& w) const {
  const State& s = *s_;
  w.u32(kMagic);
  w.u32(kSnapshotFormatVersion);
  w.svarint(s.now);
  w.varint(s.last_seq);
  w.varint(s.last_movement_seq);
  w.svarint(s.retention_ms);
  w.svarint(s.low_stock_permille);
  w.varint(s.channels.size());
  for (const Channel& c : s.channels) {
    w.str(c.name);
    w.svarint(c.priority);
    w.svarint(c.ttl_s);
    w.u8(static_cast<std::uint8_t>(c.state));
    w.u8(static_cast<std::uint8_t>(c.frozen_reason));
    w.u8(c.listing ? 1 : 0);
    if (c.listing)
      for (std::int64_t v : {c.listing->percent, c.listing->buffer, c.listing->cap, c.listing->min}) w.svarint(v);
    w.u8(c.webhook ? 1 : 0);
    if (c.webhook) {
      w.str(c.webhook->url);
      w.str(c.webhook->secret);
      w.svarint(c.webhook->freeze_after_s);
    }
    w.varint(c.pub_last);
    w.varint(c.pub_acked);
    w.svarint(c.exposed);
  }
  w.varint(s.skus.size());
  for (const Sku& k : s.skus) {
    w.str(k.name);
    for (std::int64_t v : {k.on_hand, k.safety, k.held, k.shared_free, k.max_per_hold, k.low_threshold})
      w.svarint(v);
    w.u8(k.threshold_explicit ? 1 : 0);
    w.varint(k.version);
    w.svarint(k.exposed);
    w.varint(k.expo ? k.expo->size() + 1 : 0);  // 0: no list, else its size + 1
    if (k.expo)
      for (const Exposure& e : *k.expo) {
        w.varint(e.channel);
        w.svarint(e.units);
        w.svarint(e.published);
        w.varint(e.pub_seq);
        w.u8(e.stale ? 1 : 0);
        w.varint(e.draws.size());
        for (const Draw& d : e.draws) {
          w.varint(d.bucket);
          w.svarint(d.qty);
        }
      }
    w.u8(k.alloc ? 1 : 0);
    if (!k.alloc) continue;
    w.u8(k.alloc->preempt ? 1 : 0);
    w.varint(k.alloc->fences.size());
    for (const Fence& f : k.alloc->fences) {
      w.varint(f.channel);
      for (std::int64_t v : {f.ratio_ppb, f.units, f.free, f.held}) w.svarint(v);
      w.u8(f.active ? 1 : 0);
    }
    w.varint(k.alloc->pools.size());
    for (const Pool& p : k.alloc->pools) {
      w.str(p.name);
      for (std::int64_t v : {p.units, p.free, p.held, p.sold}) w.svarint(v);
      w.u8(p.open ? 1 : 0);
      w.varint(p.channels.size());
      for (std::uint32_t c : p.channels) w.varint(c);
    }
  }
  w.varint(s.holds.size());
  for (const Hold& h : s.holds) {
    w.u8(h.live ? 1 : 0);
    if (!h.live) continue;
    w.str(h.id);
    w.varint(h.channel);
    w.u8(static_cast<std::uint8_t>(h.state));
    w.svarint(h.created_at);
    w.svarint(h.expires_at);
    w.svarint(h.finished_at);
    w.varint(h.lines.size());
    for (const Line& l : h.lines) {
      w.varint(l.sku);
      w.varint(l.first_draw);
      w.varint(l.n_draws);
      w.svarint(l.qty);
    }
    w.varint(h.draws.size());
    for (const Draw& d : h.draws) {
      w.varint(d.bucket);
      w.svarint(d.qty);
    }
    w.varint(h.requested ? h.requested->size() : 0);
    if (h.requested)
      for (const auto& [sku, qty] : *h.requested) {
        w.varint(sku);
        w.svarint(qty);
      }
  }
  w.varint(s.free_slots.size());
  for (std::uint32_t h : s.free_slots) w.varint(h);
  w.varint(s.finished.size());
  for (const Finished& f : s.finished) {
    w.svarint(f.at);
    w.varint(f.hold);
  }
  w.varint(s.ref_log.size());
  for (const RefRecord& r : s.ref_log) {
    w.svarint(r.at);
    w.str(r.key);
    w.svarint(s.refs.at(r.key));
  }
  w.varint(s.batch_ref_log.size());
  for (const RefRecord& r : s.batch_ref_log) {
    const BatchAnswer& a = *s.batch_refs.at(r.key);
    w.svarint(r.at);
    w.str(r.key);
    w.u8(a.failed ? 1 : 0);
    w.varint(a.rows.size());
    for (const BatchRowResult& row : a.rows) {
      w.str(row.sku);
      w.u8(static_cast<std::uint8_t>(row.code));
      w.str(row.message);
      w.svarint(row.actual);
    }
  }
}

namespace {

// The read_* functions below read into a fresh State; any inconsistency (index out of range, bad
// enum) fails the load. Each reads one part of the format, in the order save() writes them.
// `v1`: a format 1 snapshot (before listed channels, exposures, batch answers and movements): those
// parts are absent and start empty.
bool read_channels(Reader& r, Inventory::State& s, bool v1) {
  std::uint64_t n = r.varint();
  if (!r.ok() || n > limits::kChannelsMax) return false;
  s.channels.resize(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    Channel& c = s.channels[i];
    c.name = r.str(kStr);
    c.priority = r.svarint();
    c.ttl_s = r.svarint();
    std::uint8_t st = r.u8();
    if (st > 1) return false;
    c.state = static_cast<ChannelState>(st);
    s.channel_index.insert(i);
    if (v1) {
      if (c.state == ChannelState::frozen) c.frozen_reason = FrozenReason::manual;
      continue;
    }
    std::uint8_t why = r.u8();
    if (why > 2) return false;
    c.frozen_reason = static_cast<FrozenReason>(why);
    if (r.u8() == 1) {
      Listing& l = c.listing.emplace();
      for (std::int64_t* v : {&l.percent, &l.buffer, &l.cap, &l.min}) *v = r.svarint();
    }
    if (r.u8() == 1) {
      Webhook& h = c.webhook.emplace();
      h.url = r.str(limits::kUrlLenMax);
      h.secret = r.str(limits::kSecretLenMax);
      h.freeze_after_s = r.svarint();
    }
    c.pub_last = r.varint();
    c.pub_acked = r.varint();
    c.exposed = r.svarint();
  }
  return r.ok();
}

// One SKU's exposures (after its `version`); the channels' unacknowledged publications are rebuilt
// from them: exactly the exposures whose publication is newer than the channel's ack.
bool read_exposures(Reader& r, Inventory::State& s, std::uint32_t sku, Sku& k) {
  k.exposed = r.svarint();
  std::uint64_t n = r.varint();
  if (!r.ok() || n > s.channels.size() + 1) return false;
  if (n == 0) return true;
  k.expo = std::make_unique<ExposureList>(n - 1);
  for (Exposure& e : *k.expo) {
    e.channel = static_cast<std::uint32_t>(r.varint());
    e.units = r.svarint();
    e.published = r.svarint();
    e.pub_seq = r.varint();
    e.stale = r.u8() == 1;
    std::uint64_t nd = r.varint();
    if (!r.ok() || e.channel >= s.channels.size() || nd > r.remaining()) return false;
    for (std::uint64_t j = 0; j < nd; ++j) {
      Draw d;
      d.bucket = static_cast<std::uint32_t>(r.varint());
      d.qty = r.svarint();
      e.draws.push_back(d);
    }
    Channel& ch = s.channels[e.channel];
    if (e.pub_seq > ch.pub_acked && !ch.pending.emplace(e.pub_seq, sku).second) return false;
  }
  return r.ok();
}

// One SKU's allocation: fences, then pools (nch: the number of channels).
bool read_allocation(Reader& r, std::uint64_t nch, Allocation& a) {
  a.preempt = r.u8() == 1;
  std::uint64_t nf = r.varint();
  if (!r.ok() || nf > nch) return false;
  a.fences.resize(nf);
  for (Fence& f : a.fences) {
    f.channel = static_cast<std::uint32_t>(r.varint());
    for (std::int64_t* v : {&f.ratio_ppb, &f.units, &f.free, &f.held}) *v = r.svarint();
    f.active = r.u8() == 1;
    if (f.channel >= nch) return false;
  }
  std::uint64_t np = r.varint();
  if (!r.ok() || np > r.remaining()) return false;
  a.pools.resize(np);
  for (Pool& p : a.pools) {
    p.name = r.str(kStr);
    for (std::int64_t* v : {&p.units, &p.free, &p.held, &p.sold}) *v = r.svarint();
    p.open = r.u8() == 1;
    std::uint64_t nc = r.varint();
    if (!r.ok() || nc > limits::kChannelsPerPoolMax) return false;  // a channel may be listed twice
    p.channels.resize(nc);
    for (std::uint32_t& c : p.channels) {
      c = static_cast<std::uint32_t>(r.varint());
      if (c >= nch) return false;
    }
  }
  return true;
}

bool read_skus(Reader& r, Inventory::State& s, bool v1) {
  std::uint64_t n = r.varint();
  if (!r.ok() || n > r.remaining()) return false;
  s.skus.resize(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    Sku& k = s.skus[i];
    k.name = r.str(kStr);
    for (std::int64_t* v : {&k.on_hand, &k.safety, &k.held, &k.shared_free, &k.max_per_hold, &k.low_threshold})
      *v = r.svarint();
    k.threshold_explicit = r.u8() == 1;
    k.version = r.varint();
    s.sku_index.insert(i);
    if (!v1 && !read_exposures(r, s, i, k)) return false;
    if (r.u8() != 1) continue;
    k.alloc = std::make_unique<Allocation>();
    if (!read_allocation(r, s.channels.size(), *k.alloc)) return false;
  }
  return true;
}

// One live hold after its `live` byte: header, lines, draws, requested lines.
bool read_hold(Reader& r, const Inventory::State& s, Hold& h) {
  h.id = r.str(kStr);
  h.channel = static_cast<std::uint32_t>(r.varint());
  std::uint8_t st = r.u8();
  if (st > 3 || h.channel >= s.channels.size()) return false;
  h.state = static_cast<HoldState>(st);
  h.created_at = r.svarint();
  h.expires_at = r.svarint();
  h.finished_at = r.svarint();
  std::uint64_t nl = r.varint();
  if (!r.ok() || nl > limits::kLinesPerHoldMax) return false;
  for (std::uint64_t j = 0; j < nl; ++j) {
    Line l;
    l.sku = static_cast<std::uint32_t>(r.varint());
    l.first_draw = static_cast<std::uint16_t>(r.varint());
    l.n_draws = static_cast<std::uint16_t>(r.varint());
    l.qty = r.svarint();
    if (l.sku >= s.skus.size()) return false;
    h.lines.push_back(l);
  }
  std::uint64_t nd = r.varint();
  if (!r.ok() || nd > r.remaining()) return false;
  for (std::uint64_t j = 0; j < nd; ++j) {
    Draw d;
    d.bucket = static_cast<std::uint32_t>(r.varint());
    d.qty = r.svarint();
    h.draws.push_back(d);
  }
  for (const Line& l : h.lines)
    if (std::size_t(l.first_draw) + l.n_draws > h.draws.size()) return false;
  std::uint64_t nr = r.varint();
  if (!r.ok() || nr > limits::kLinesPerHoldMax) return false;
  if (nr > 0) {
    h.requested = std::make_unique<RequestedLines>();
    for (std::uint64_t j = 0; j < nr; ++j) {
      std::uint32_t sku = static_cast<std::uint32_t>(r.varint());
      std::int64_t qty = r.svarint();
      if (sku >= s.skus.size()) return false;
      h.requested->emplace_back(sku, qty);
    }
  }
  return true;
}

bool read_holds(Reader& r, Inventory::State& s) {
  std::uint64_t n = r.varint();
  if (!r.ok() || n > r.remaining() || n > std::numeric_limits<std::uint32_t>::max() - 1) return false;
  s.holds.resize(n);
  for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
    Hold& h = s.holds[i];
    h.live = r.u8() == 1;
    if (!h.live) continue;
    if (!read_hold(r, s, h)) return false;
    s.hold_index.insert(i);
    if (h.state == HoldState::held) s.expiry.push(i, h.expires_at);
  }
  return true;
}

// The free hold slots, the finished holds kept for retention, and the reference log.
bool read_slots_and_refs(Reader& r, Inventory::State& s) {
  std::uint64_t n = r.varint();
  if (!r.ok() || n > s.holds.size()) return false;
  for (std::uint64_t j = 0; j < n; ++j) {
    std::uint64_t h = r.varint();
    if (h >= s.holds.size() || s.holds[h].live) return false;
    s.free_slots.push_back(static_cast<std::uint32_t>(h));
  }
  n = r.varint();
  if (!r.ok() || n > s.holds.size()) return false;
  for (std::uint64_t j = 0; j < n; ++j) {
    Finished f;
    f.at = r.svarint();
    std::uint64_t h = r.varint();
    if (h >= s.holds.size() || !s.holds[h].live || s.holds[h].state == HoldState::held) return false;
    f.hold = static_cast<std::uint32_t>(h);
    s.finished.push_back(f);
    ++s.finished_count[static_cast<int>(s.holds[h].state)];
  }
  n = r.varint();
  if (!r.ok() || n > r.remaining()) return false;
  for (std::uint64_t j = 0; j < n && r.ok(); ++j) {
    RefRecord rec;
    rec.at = r.svarint();
    rec.key = std::string(r.str(kStr + 4));
    std::int64_t delta = r.svarint();
    s.refs.emplace(rec.key, delta);
    s.ref_log.push_back(std::move(rec));
  }
  return true;
}

// The StockBatch answers kept for their refs (format 2).
bool read_batch_refs(Reader& r, Inventory::State& s) {
  constexpr std::size_t kMessageMax = 4 * limits::kBatchSkuBytesMax;
  std::uint64_t n = r.varint();
  if (!r.ok() || n > r.remaining()) return false;
  for (std::uint64_t j = 0; j < n && r.ok(); ++j) {
    RefRecord rec;
    rec.at = r.svarint();
    rec.key = std::string(r.str(kStr));
    auto a = std::make_shared<BatchAnswer>();
    a->ref = rec.key;
    a->failed = r.u8() == 1;
    std::uint64_t rows = r.varint();
    if (!r.ok() || rows > limits::kBatchRowsMax) return false;
    a->rows.resize(rows);
    for (BatchRowResult& row : a->rows) {
      row.sku = std::string(r.str(limits::kBatchSkuBytesMax));
      std::uint8_t code = r.u8();
      if (code > static_cast<std::uint8_t>(Code::precondition_failed)) return false;
      row.code = static_cast<Code>(code);
      row.message = std::string(r.str(kMessageMax));
      row.actual = r.svarint();
    }
    if (!s.batch_refs.emplace(rec.key, std::move(a)).second) return false;
    s.batch_ref_log.push_back(std::move(rec));
  }
  return r.ok();
}

bool read_state(Reader& r, Inventory::State& s) {
  if (r.u32() != kMagic) return false;
  std::uint32_t version = r.u32();
  if (version != 1 && version != kSnapshotFormatVersion) return false;
  s.now = r.svarint();
  s.last_seq = r.varint();
  const bool v1 = version == 1;
  s.last_movement_seq = v1 ? 0 : r.varint();
  s.retention_ms = r.svarint();
  s.low_stock_permille = r.svarint();
  if (!read_channels(r, s, v1) || !read_skus(r, s, v1) || !read_holds(r, s) || !read_slots_and_refs(r, s)) return false;
  if (!v1 && !read_batch_refs(r, s)) return false;
  s.rebuild_priority_order();
  return r.ok() && r.done();
}

}  // namespace

bool Inventory::load(std::string_view data) {
  auto fresh = std::make_unique<State>();
  Reader r(data);
  if (!read_state(r, *fresh)) return false;
  fresh->movements = s_->movements;  // the sink is the caller's setting, not state
  Inventory candidate;
  candidate.s_ = std::move(fresh);
  if (!candidate.check_invariants().empty()) return false;
  *this = std::move(candidate);
  return true;
}

}  // namespace stockd::core
