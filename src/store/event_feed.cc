#include "store/event_feed.h"

#include <algorithm>

#include "core/codec.h"
#include "core/limits.h"

namespace stockd::store {
namespace {
constexpr std::uint8_t kFeedFormatVersion = 1;
constexpr std::size_t kTextMax = 4096;
}  // namespace

void EventFeed::on_events(std::span<const core::Event> events, const core::Inventory& inv) {
  for (const core::Event& e : events) {
    ring_.push_back(net::make_event_record(e, inv));
    last_seq_ = std::max(last_seq_, e.seq);
    if (ring_.size() > retained_) ring_.pop_front();
  }
}

void EventFeed::save(std::string* out) const {
  core::Writer w;
  w.u8(kFeedFormatVersion);
  w.varint(last_seq_);
  w.varint(ring_.size());
  for (const net::EventRecord& r : ring_) {
    w.varint(r.seq);
    w.u8(static_cast<std::uint8_t>(r.type));
    w.svarint(r.at_ms);
    w.str(r.sku);
    w.str(r.channel);
    w.str(r.hold);
    w.svarint(r.available);
    w.svarint(r.threshold);
    w.svarint(r.on_hand);
    w.svarint(r.delta);
    w.str(r.reason);
    w.str(r.ref);
  }
  out->append(w.buffer());
}

bool EventFeed::load(std::string_view in) {
  core::Reader r(in);
  if (r.u8() != kFeedFormatVersion) return false;
  std::uint64_t last = r.varint();
  std::uint64_t n = r.varint();
  if (!r.ok() || n > in.size()) return false;
  std::deque<net::EventRecord> ring;
  std::uint64_t prev = 0;
  for (std::uint64_t i = 0; i < n && r.ok(); ++i) {
    net::EventRecord e;
    e.seq = r.varint();
    std::uint8_t type = r.u8();
    if (type > static_cast<std::uint8_t>(core::EventType::exposure_deficit)) return false;
    e.type = static_cast<core::EventType>(type);
    e.at_ms = r.svarint();
    e.sku = r.str(kTextMax);
    e.channel = r.str(kTextMax);
    e.hold = r.str(kTextMax);
    e.available = r.svarint();
    e.threshold = r.svarint();
    e.on_hand = r.svarint();
    e.delta = r.svarint();
    e.reason = r.str(kTextMax);
    e.ref = r.str(kTextMax);
    if (e.seq <= prev || e.seq > last) return false;
    prev = e.seq;
    ring.push_back(std::move(e));
  }
  if (!r.ok() || !r.done()) return false;
  while (ring.size() > retained_) ring.pop_front();
  ring_ = std::move(ring);
  last_seq_ = last;
  return true;
}

void EventFeed::render_page(std::uint64_t after, std::size_t limit, std::string& out) const {
  net::render_events_begin(out);
  std::uint64_t next = after;
  // Records are in seq order: binary search for the first one after `after`.
  auto it = std::upper_bound(ring_.begin(), ring_.end(), after,
                             [](std::uint64_t a, const net::EventRecord& e) { return a < e.seq; });
  std::size_t n = 0;
  for (; it != ring_.end() && n < limit; ++it, ++n) {
    if (n) out += ',';
    net::render_event(*it, out);
    next = it->seq;
  }
  net::render_events_end(next, out);
}

}  // namespace stockd::store
